"""Moved to :mod:`keras_audioattn.models.zhang2018.attention_lstm_layer` (this path stays importable)."""
from keras_audioattn.models.zhang2018.attention_lstm_layer import (  # noqa: F401
    AttentionLSTM,
    MultimodalAttentionLSTMCell,
    SemanticAttentionLSTMCell,
    TemporalAttentionLSTMCell,
    make_cell,
)
