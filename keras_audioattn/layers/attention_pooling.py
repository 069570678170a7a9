"""Moved to :mod:`keras_audioattn.models.deshmukh2020.attention_pooling_layer` (this path stays importable)."""
from keras_audioattn.models.deshmukh2020.attention_pooling_layer import *  # noqa: F401,F403  (its __all__)
from keras_audioattn.models.deshmukh2020.attention_pooling_layer import TIME_MIXINGS  # noqa: F401
