"""Old path of the Chang et al. 2020 student: see :mod:`keras_audioattn.models.chang2020`."""

from keras_audioattn.models.chang2020.chang2020_presets import paper_presets
from keras_audioattn.models.chang2020.cnn_lstm_student_model import (LSTM_SIZES, READOUTS, TABLE2_MEL_BINS,
                                                                     CNNLSTMStudent, SequenceReadout)

#: Plain-dict views of the typed presets (keras_audioattn.models.chang2020.chang2020_presets).
PAPER_PRESETS = paper_presets("chang2020-student")

__all__ = ["CNNLSTMStudent", "LSTM_SIZES", "PAPER_PRESETS", "READOUTS", "SequenceReadout", "TABLE2_MEL_BINS"]
