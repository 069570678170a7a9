"""Moved to :mod:`keras_audioattn.models.zhang2018` (this path stays importable)."""
from keras_audioattn.models.zhang2018.attention_lstm_classifier_model import (  # noqa: F401
    VARIANTS,
    AttentionLSTMClassifier,
    predict_recording,
    split_into_clips,
)
from keras_audioattn.models.zhang2018.zhang2018_presets import legacy_presets as _legacy_presets

#: The paper presets as plain dicts (read-only view of the registry; see ``zhang2018_presets``).
PAPER_PRESETS = _legacy_presets()


def from_preset(name, **overrides):
    """Deprecated: use ``AttentionLSTMClassifier.from_preset(name, **overrides)``."""
    return AttentionLSTMClassifier.from_preset(name, **overrides)


__all__ = ["AttentionLSTMClassifier", "PAPER_PRESETS", "from_preset", "predict_recording", "split_into_clips",
           "VARIANTS"]
