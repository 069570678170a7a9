"""Moved to :mod:`keras_audioattn.models.lu2020` (this path stays importable)."""
from keras_audioattn.models.lu2020.cab_cnn_model import (  # noqa: F401
    CABCNN,
    DEFAULT_PARAMETER_COUNT,
    LengthMask,
    ValidStepAverage,
)
from keras_audioattn.models.lu2020.lu2020_presets import cab_cnn_training_recipe  # noqa: F401
from keras_audioattn.models.lu2020.lu2020_presets import legacy_presets as _legacy_presets

#: The paper presets as plain dicts (read-only view of the registry; see ``lu2020_presets``).
PAPER_PRESETS = _legacy_presets()

__all__ = ["CABCNN", "DEFAULT_PARAMETER_COUNT", "LengthMask", "PAPER_PRESETS", "ValidStepAverage",
           "cab_cnn_training_recipe"]
