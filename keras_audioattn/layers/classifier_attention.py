"""Moved to :mod:`keras_audioattn.models.lu2020.classifier_attention_layer` (this path stays importable)."""
from keras_audioattn.models.lu2020.classifier_attention_layer import ClassifierAttentionBlock  # noqa: F401
