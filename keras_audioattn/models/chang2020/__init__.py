"""Chang et al. 2020, "Intra-utterance similarity preserving knowledge distillation for audio tagging".

One role per file: ``vggish_teacher_model.py`` (:class:`VGGishTeacher`, Sec. 4.1),
``cnn_lstm_student_model.py`` (:class:`CNNLSTMStudent`, Table 1), the layers
``clipped_lstm_layer.py`` (:class:`ClippedLSTM`), ``sequence_readout_layer.py``,
``time_max_pooling_layer.py``, and ``chang2020_presets.py`` (the registered presets). The
distillation losses (IUSP, SP, KD) are shared: :mod:`keras_audioattn.losses`,
:mod:`keras_audioattn.distillation`.
"""

from keras_audioattn.models.chang2020.clipped_lstm_layer import ClippedLSTM, ClippedLSTMCell
from keras_audioattn.models.chang2020.sequence_readout_layer import READOUTS, SequenceReadout
from keras_audioattn.models.chang2020.time_max_pooling_layer import TimeMaxPooling
from keras_audioattn.models.chang2020.vggish_teacher_model import PAPER_BLOCKS, POOLINGS, VGGishTeacher
from keras_audioattn.models.chang2020.cnn_lstm_student_model import LSTM_SIZES, TABLE2_MEL_BINS, CNNLSTMStudent
from keras_audioattn.models.chang2020 import chang2020_presets  # noqa: F401  (registers the presets)
from keras_audioattn.models.chang2020.chang2020_presets import PRESETS

__all__ = ["CNNLSTMStudent", "ClippedLSTM", "ClippedLSTMCell", "LSTM_SIZES", "PAPER_BLOCKS", "POOLINGS", "PRESETS",
           "READOUTS", "SequenceReadout", "TABLE2_MEL_BINS", "TimeMaxPooling", "VGGishTeacher"]
