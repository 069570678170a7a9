"""Moved to :mod:`keras_audioattn.models.deshmukh2020` (this path stays importable)."""
from keras_audioattn.models.deshmukh2020.two_step_attention_sed_model import (  # noqa: F401
    FRONT_END_PRESETS, PAPER_PRESETS, POOLING_LAYERS, FeatureStandardization, TwoStepAttentionSED)
