"""Deshmukh, Raj & Singh (2020): 2APAE, multi-task weakly labelled sound event detection.

* ``attention_pooling_layer.py``: :class:`TwoStepAttentionPooling` (Eq. 8-15) and Table IV's
  pooling baselines (GMP, GAP, GWRP, attention pooling), :data:`POOLING_LAYERS`.
* ``feature_standardization_layer.py``: :class:`FeatureStandardization` (the per-bin scaler).
* ``two_step_attention_sed_model.py``: :class:`TwoStepAttentionSED` (Tables I-III, Eq. 7/17).
* ``deshmukh2020_presets.py``: the paper's system, Table IV / V rows (registered presets).
"""
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
from keras_audioattn.models.deshmukh2020.feature_standardization_layer import FeatureStandardization  # noqa: F401
from keras_audioattn.models.deshmukh2020.two_step_attention_sed_model import TwoStepAttentionSED  # noqa: F401
from keras_audioattn.models.deshmukh2020 import deshmukh2020_presets  # noqa: F401  (registers the presets)

__all__ = ["FeatureStandardization", "GlobalAttentionPooling", "GlobalWeightedRankPooling", "POOLING_LAYERS",
           "TIME_MIXINGS", "TimeFrequencyAveragePooling", "TimeFrequencyMaxPooling", "TwoStepAttentionPooling",
           "TwoStepAttentionSED", "get_pooling"]
