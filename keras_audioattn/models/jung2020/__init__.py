"""Jung et al. 2020, "Acoustic scene classification using audio tagging".

One role per file: ``raw_waveform_asc_model.py`` (:class:`RawWaveformASC`, Table 1),
``audio_tagger_model.py`` (:class:`AudioTagger`, the tag source, §2.2),
``tag_conditioned_asc_model.py`` (:class:`TagConditionedASC`, §3, Fig. 2), the layers
``tag_attention_layer.py`` (§3.1-3.2), ``mel_time_pooling_layer.py``, ``channel_mean_layer.py``,
``code_svm.py`` (the SVM back end of §2.1) and ``jung2020_presets.py`` (the registered presets).
SpecAugment is shared: :mod:`keras_audioattn.layers.spec_augment`.
"""

from keras_audioattn.models.jung2020.tag_attention_layer import (CONCAT_MODES, TagConcatenation,
                                                                TagMultiHeadAttention, TagTransform)
from keras_audioattn.models.jung2020.mel_time_pooling_layer import MelTimePooling
from keras_audioattn.models.jung2020.channel_mean_layer import ChannelMean
from keras_audioattn.models.jung2020.raw_waveform_asc_model import RawWaveformASC
from keras_audioattn.models.jung2020.audio_tagger_model import AudioTagger
from keras_audioattn.models.jung2020.tag_conditioned_asc_model import (TagConditionedASC, mixup_batch,
                                                                      tag_conditioned_asc_for_training)
from keras_audioattn.models.jung2020.code_svm import compare_back_ends, extract_codes, fit_code_svm, svm_back_end
from keras_audioattn.models.jung2020.jung2020_presets import PRESETS, tag_asc_training_recipe

__all__ = ["AudioTagger", "CONCAT_MODES", "ChannelMean", "MelTimePooling", "PRESETS", "RawWaveformASC",
           "TagConcatenation", "TagConditionedASC", "TagMultiHeadAttention", "TagTransform", "compare_back_ends",
           "extract_codes", "fit_code_svm", "mixup_batch", "svm_back_end", "tag_asc_training_recipe",
           "tag_conditioned_asc_for_training"]
