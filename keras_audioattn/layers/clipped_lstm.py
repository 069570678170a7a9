"""Old path of :class:`ClippedLSTM`: see :mod:`keras_audioattn.models.chang2020.clipped_lstm_layer`."""

from keras_audioattn.models.chang2020.clipped_lstm_layer import ClippedLSTM, ClippedLSTMCell

__all__ = ["ClippedLSTM", "ClippedLSTMCell"]
