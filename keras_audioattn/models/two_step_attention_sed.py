"""Moved to :mod:`keras_audioattn.models.deshmukh2020` (this path stays importable)."""
from keras_audioattn.layers.front_ends import FRONT_END_PRESETS  # noqa: F401
from keras_audioattn.models.deshmukh2020.attention_pooling_layer import POOLING_LAYERS  # noqa: F401
from keras_audioattn.models.deshmukh2020.deshmukh2020_presets import legacy_presets as _legacy_presets
from keras_audioattn.models.deshmukh2020.feature_standardization_layer import FeatureStandardization  # noqa: F401
from keras_audioattn.models.deshmukh2020.two_step_attention_sed_model import TwoStepAttentionSED  # noqa: F401

#: The paper presets as plain dicts (read-only view of the registry; see ``deshmukh2020_presets``).
PAPER_PRESETS = _legacy_presets()

__all__ = ["PAPER_PRESETS", "FeatureStandardization", "TwoStepAttentionSED"]
