"""Old path of the Jung et al. 2020 tag source: see :mod:`keras_audioattn.models.jung2020`."""

from keras_audioattn.models.jung2020.audio_tagger_model import (DEFAULT_BLOCK_FILTERS, DEFAULT_PARAMETER_COUNT_80_TAGS,
                                                               FRONT_END_PRESETS, SPEC_AUGMENT_POLICIES, AudioTagger,
                                                               MelTimePooling)
from keras_audioattn.models.jung2020.jung2020_presets import TAGGER_SPEC_AUGMENT, paper_presets

#: Plain-dict views of the typed presets (keras_audioattn.models.jung2020.jung2020_presets).
PAPER_PRESETS = paper_presets("jung2020-tagger")


def audio_tagger_for_training(num_classes=80, sample_rate=48000, **config):
    """``AudioTagger(num_classes=num_classes, ...)``: the builder of the ``jung2020-tagger`` preset
    before issue 17, kept for older code (the family builds :class:`AudioTagger` itself now)."""
    return AudioTagger(num_classes=num_classes, sample_rate=sample_rate, **config)

__all__ = ["AudioTagger", "DEFAULT_BLOCK_FILTERS", "DEFAULT_PARAMETER_COUNT_80_TAGS", "FRONT_END_PRESETS",
           "MelTimePooling", "PAPER_PRESETS", "SPEC_AUGMENT_POLICIES", "TAGGER_SPEC_AUGMENT",
           "audio_tagger_for_training"]
