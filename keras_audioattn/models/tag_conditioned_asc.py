"""Old path of the Jung et al. 2020 tag-conditioned ASC: see :mod:`keras_audioattn.models.jung2020`."""

from keras_audioattn.models.jung2020.jung2020_presets import paper_presets, tag_asc_training_recipe
from keras_audioattn.models.jung2020.tag_conditioned_asc_model import (
    AUTHORS_BASELINE_PARAMETERS, BEST_SYSTEM_NARROW_PARAMETER_COUNT, BEST_SYSTEM_PARAMETER_COUNT, CONCAT_MODES,
    NARROW_TRANSFORM_UNITS, PAPER_BEST_SYSTEM_PARAMETERS, PAPER_TAG_LAYER_INCREMENT, ChannelMean, TagConditionedASC,
    mixup_batch, tag_conditioned_asc_for_training)

#: Plain-dict views of the typed presets (keras_audioattn.models.jung2020.jung2020_presets).
PAPER_PRESETS = paper_presets("jung2020")

__all__ = ["AUTHORS_BASELINE_PARAMETERS", "BEST_SYSTEM_NARROW_PARAMETER_COUNT", "BEST_SYSTEM_PARAMETER_COUNT",
           "CONCAT_MODES", "ChannelMean", "NARROW_TRANSFORM_UNITS", "PAPER_BEST_SYSTEM_PARAMETERS", "PAPER_PRESETS",
           "PAPER_TAG_LAYER_INCREMENT", "TagConditionedASC", "mixup_batch", "tag_asc_training_recipe",
           "tag_conditioned_asc_for_training"]
