"""Moved to :mod:`keras_audioattn.models.lu2020` (this path stays importable)."""
from keras_audioattn.models.lu2020.cab_cnn_model import *  # noqa: F401,F403
from keras_audioattn.models.lu2020.cab_cnn_model import (  # noqa: F401
    CABCNN, DEFAULT_PARAMETER_COUNT, LengthMask, PAPER_PRESETS, ValidStepAverage, cab_cnn_training_recipe)
