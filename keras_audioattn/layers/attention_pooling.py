"""Moved to :mod:`keras_audioattn.models.deshmukh2020.attention_pooling_layer` (this path stays importable)."""
from keras_audioattn.models.deshmukh2020.attention_pooling_layer import (  # noqa: F401
    POOLING_LAYERS,
    TIME_MIXINGS,
    GlobalAttentionPooling,
    GlobalWeightedRankPooling,
    TimeFrequencyAveragePooling,
    TimeFrequencyMaxPooling,
    TwoStepAttentionPooling,
    get_pooling,
)
