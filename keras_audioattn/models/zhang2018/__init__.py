"""Zhang, Zhang & Wu (Interspeech 2018): attention LSTMs for acoustic scene classification.

* ``attention_lstm_layer.py``: the TA / SA / TA+SA cells and :class:`AttentionLSTM` (Eq. 1-6).
* ``attention_lstm_classifier_model.py``: :class:`AttentionLSTMClassifier` (§3), recording scores.
* ``zhang2018_presets.py``: Table 1's models on LITIS Rouen and DCASE 2016 (registered presets).
"""
from keras_audioattn.models.zhang2018.attention_lstm_layer import (  # noqa: F401
    AttentionLSTM,
    MultimodalAttentionLSTMCell,
    SemanticAttentionLSTMCell,
    TemporalAttentionLSTMCell,
    make_cell,
)
from keras_audioattn.models.zhang2018.attention_lstm_classifier_model import (  # noqa: F401
    VARIANTS,
    AttentionLSTMClassifier,
    predict_recording,
    split_into_clips,
)
from keras_audioattn.models.zhang2018 import zhang2018_presets  # noqa: F401  (registers the presets)

__all__ = ["AttentionLSTM", "AttentionLSTMClassifier", "MultimodalAttentionLSTMCell", "SemanticAttentionLSTMCell",
           "TemporalAttentionLSTMCell", "VARIANTS", "make_cell", "predict_recording", "split_into_clips"]
