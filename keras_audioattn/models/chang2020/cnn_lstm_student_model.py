"""CNN-LSTM student of Chang et al. 2020 (IUSP distillation), Table 1.

Waveform (16 kHz) -> log-mel, 25 ms window / 10 ms step, 20 bins
(``LogMelSpectrogram.from_preset("chang2020_student")``; Sec. 4.2) -> one Conv2D, 32 filters,
5 x 5, stride 2 -> one LSTM (128, 64, 32 or 16 units) -> one fully connected layer with a
sigmoid per tag (Table 1). Only standard Keras layers (``Conv2D``, ``Reshape``, ``LSTM``,
``Dense``) follow the front end, so that ``export.to_tflite`` can replace the LSTM by a
``tf_keras`` twin that TFLite fuses into ``UNIDIRECTIONAL_SEQUENCE_LSTM`` (full int8).

Choices where Table 1 is silent (see ``docs/chang2020.md``):

* Conv2D padding ``"valid"`` and ReLU activation; the conv runs over ``(time, mel)`` and its
  ``(freq', 32)`` outputs per step are flattened into the LSTM input (20 mel -> 8 x 32 = 256).
* ``readout="last"`` (default): the LSTM's last hidden state feeds the dense layer, the plain
  reading of Table 1. ``readout="mean"`` / ``"max"`` pool the LSTM's hidden states over all
  steps (:class:`SequenceReadout`); on 10 s clips (497 LSTM steps) the last state must carry
  every event to the end, which the measurements in ``docs/chang2020.md`` compare.
* ``sequence_outputs=True`` makes the layer named ``"lstm"`` return its whole sequence
  ``(batch, steps, units)`` (the readout then takes the last step), so that the LSTM-layer hint
  of Sec. 4.4 has a time axis for IUSP. ``readout != "last"`` implies it.
* ``normalize_inputs=True`` standardises each mel band with ``BatchNormalization`` before the
  conv; it folds into a multiply-add at export. Not in the paper: off by default and in the
  presets (measured in ``docs/chang2020.md``).
* Table 2 vs Sec. 4.2: the text gives the student 20 mel bins; Table 2's parameter counts
  (0.742 / 0.355 / 0.173 / 0.086 M) and FLOPs need an LSTM input of about 1312 = 41 x 32, i.e.
  about 85 mel bins into the 5 x 5 / stride-2 conv (85 bins: 739 656 / 353 864 / 173 256 /
  86 024 parameters). The ``chang2020-student-lstm*`` presets follow the text (20);
  ``chang2020-table2-lstm*`` follow Table 2 (85).

Hint layers for SP / IUSP (Sec. 4.4; the student has two intermediate outputs): ``"conv"``
``(batch, time', freq', 32)`` -- the one the paper's final setups use for both SP and IUSP --
and ``"lstm"``: the last hidden state ``(batch, units)``, or with ``sequence_outputs=True`` (or a
pooled readout) the hidden sequence ``(batch, steps, units)``, which IUSP treats as
``(batch, time, 1, units)``.

Example:
  >>> student = CNNLSTMStudent.from_preset("chang2020-student-lstm16")
  >>> student(np.zeros((1, 160000), "float32")).shape       # (1, 8)
"""

from __future__ import annotations

import keras

from keras_audioattn.models._common import log_mel_input
from keras_audioattn.models.base import AudioModel, seconds_as_samples, scores_head
from keras_audioattn.models.chang2020.clipped_lstm_layer import ClippedLSTM
from keras_audioattn.models.chang2020.sequence_readout_layer import READOUTS, SequenceReadout
from keras_audioattn.validation import one_of, optional, positive_int, positive_number

_PKG = "keras_audioattn"
_OWNER = "CNNLSTMStudent"
LSTM_SIZES = (128, 64, 32, 16)
TABLE2_MEL_BINS = 85  # what Table 2's parameter / FLOP counts imply (the text says 20)


@keras.saving.register_keras_serializable(package=_PKG)
class CNNLSTMStudent(AudioModel):
    """CNN-LSTM audio tagger used as the student in Chang et al. 2020 (Table 1, Table 2).

    Args:
      num_classes: number of tags (8 coarse DCASE 2019 Task 5 classes).
      lstm_units: LSTM hidden size (paper: 128, 64, 32 or 16).
      num_mel_bins: mel bins of the front end (20, Sec. 4.2).
      conv_filters, kernel_size, strides: the CNN layer (32, 5, 2; Table 1).
      padding: Conv2D padding (``"valid"``; Table 1 does not say).
      classifier_activation: output activation (``"sigmoid"``; ``None`` for logits).
      include_top: ``False`` returns the LSTM output ``(batch, lstm_units)`` (the embedding).
      include_front_end: ``True``: input is a float32 waveform ``(batch, samples)``; ``False``:
        a log-mel sequence ``(batch, frames, num_mel_bins)``.
      sample_rate: Hz of the waveform input (16000).
      num_samples: fixed input length in samples (``None``: any length). The paper's 10 s clips
        (998 frames, 497 LSTM steps at 16 kHz) are the presets' data settings (``duration``);
        ``audioattn train`` fixes ``num_samples`` from them. Deprecated alias: ``clip_duration``
        (seconds, converted at ``sample_rate``).
      front_end: overrides for ``LogMelSpectrogram.from_preset("chang2020_student", ...)``.
      normalize_inputs: per-mel-band ``BatchNormalization`` before the conv (not in the paper).
      readout: ``"last"`` (last LSTM state), ``"mean"`` or ``"max"`` over the LSTM's states.
      sequence_outputs: ``True``: the ``"lstm"`` layer returns ``(batch, steps, units)`` (a hint
        with a time axis for IUSP); implied by ``readout != "last"``.
      cell_clip: ``None`` (the paper's plain LSTM) or a bound on the LSTM cell state
        (:class:`~keras_audioattn.layers.ClippedLSTM`, e.g. 10): train with the clip that TFLite's
        int8 LSTM kernel imposes (its int16 cell state spans about ±16) when the student is to be
        deployed as a full-int8 file; see ``docs/chang2020.md`` for the measured difference.
      name: model name.

    Call: ``waveform (batch, samples)`` -> ``scores (batch, num_classes)`` tag probabilities.
    Layers by name: ``log_mel``, ``feature_norm``, ``conv`` (hint), ``lstm`` (hint),
    ``readout`` (with sequence outputs), ``predictions`` (the output Dense) and ``scores`` (a
    weightless identity that names the output).
    """

    deprecated_arguments = {"clip_duration": ("num_samples", seconds_as_samples(16000))}
    deprecated_outputs = {"predictions": "scores"}

    def __init__(self, num_classes=8, lstm_units=128, num_mel_bins=20, conv_filters=32, kernel_size=5,
                 strides=2, padding="valid", classifier_activation="sigmoid", include_top=True,
                 include_front_end=True, sample_rate=16000, num_samples=None, front_end=None,
                 normalize_inputs=False, cell_clip=None, readout="last", sequence_outputs=False,
                 name="cnn_lstm_student", **kwargs):
        if include_top:
            num_classes = positive_int(num_classes, "num_classes", _OWNER)
        lstm_units = positive_int(lstm_units, "lstm_units", _OWNER)
        conv_filters = positive_int(conv_filters, "conv_filters", _OWNER)
        kernel_size = positive_int(kernel_size, "kernel_size", _OWNER)
        strides = positive_int(strides, "strides", _OWNER)
        cell_clip = optional(positive_number, cell_clip, "cell_clip", _OWNER)
        one_of(readout, "readout", READOUTS, _OWNER)
        one_of(padding, "padding", ("valid", "same"), _OWNER)
        sequences = bool(sequence_outputs) or readout != "last"
        inputs, x = log_mel_input("chang2020_student", include_front_end, sample_rate, num_mel_bins, num_samples,
                                  front_end, normalize_inputs, owner=_OWNER)
        if padding == "valid" and num_mel_bins < kernel_size:
            raise ValueError(f"{_OWNER}: `num_mel_bins`={num_mel_bins} is smaller than the {kernel_size}x{kernel_size} "
                             "kernel with padding='valid'.")
        front_end = dict(front_end or {})
        x = keras.layers.Reshape((-1, num_mel_bins, 1), name="add_channel")(x)
        x = keras.layers.Conv2D(conv_filters, kernel_size, strides=strides, padding=padding,
                                activation="relu", name="conv")(x)
        freq = (num_mel_bins - kernel_size) // strides + 1 if padding == "valid" else -(-num_mel_bins // strides)
        x = keras.layers.Reshape((-1, freq * conv_filters), name="flatten_freq")(x)
        if cell_clip is None:
            x = keras.layers.LSTM(lstm_units, return_sequences=sequences, name="lstm")(x)
        else:
            x = ClippedLSTM(lstm_units, cell_clip=cell_clip, return_sequences=sequences, name="lstm")(x)
        if sequences:
            x = SequenceReadout(readout, name="readout")(x)
        if include_top:
            x = scores_head(x, num_classes, classifier_activation)
        super().__init__(inputs=inputs, outputs=x, name=name, **kwargs)
        self.front_end = front_end  # the dict form of the argument ({} for None)
        self.num_classes = num_classes if include_top else None  # no classifier, no classes


__all__ = ["CNNLSTMStudent", "LSTM_SIZES", "READOUTS", "SequenceReadout", "TABLE2_MEL_BINS"]
