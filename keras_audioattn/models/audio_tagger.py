"""Old path of the Jung et al. 2020 tag source: see :mod:`keras_audioattn.models.jung2020`."""

from keras_audioattn.models.jung2020.audio_tagger_model import (DEFAULT_BLOCK_FILTERS, DEFAULT_PARAMETER_COUNT_80_TAGS,
                                                               FRONT_END_PRESETS, SPEC_AUGMENT_POLICIES, AudioTagger,
                                                               MelTimePooling, audio_tagger_for_training)
from keras_audioattn.models.jung2020.jung2020_presets import TAGGER_SPEC_AUGMENT, paper_presets

#: Plain-dict views of the typed presets (keras_audioattn.models.jung2020.jung2020_presets).
PAPER_PRESETS = paper_presets("jung2020-tagger")

__all__ = ["AudioTagger", "DEFAULT_BLOCK_FILTERS", "DEFAULT_PARAMETER_COUNT_80_TAGS", "FRONT_END_PRESETS",
           "MelTimePooling", "PAPER_PRESETS", "SPEC_AUGMENT_POLICIES", "TAGGER_SPEC_AUGMENT",
           "audio_tagger_for_training"]
