"""Old path of the Jung et al. 2020 tag layers: see :mod:`keras_audioattn.models.jung2020.tag_attention_layer`."""

from keras_audioattn.models.jung2020.tag_attention_layer import (CONCAT_MODES, TagConcatenation,
                                                                TagMultiHeadAttention, TagTransform)

__all__ = ["CONCAT_MODES", "TagConcatenation", "TagMultiHeadAttention", "TagTransform"]
