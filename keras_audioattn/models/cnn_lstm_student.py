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
from keras import ops

from keras_audioattn.layers.clipped_lstm import ClippedLSTM
from keras_audioattn.models._common import log_mel_input, positive_int

_PKG = "keras_audioattn"
LSTM_SIZES = (128, 64, 32, 16)
READOUTS = ("last", "mean", "max")
TABLE2_MEL_BINS = 85  # what Table 2's parameter / FLOP counts imply (the text says 20)

_TRAINING = {"optimizer": "adam", "learning_rate": 1e-4, "batch_size": 32, "epochs": 300,
             "loss": "bce+kd+sp+iusp", "early_stopping_patience": 20,
             "metrics": ["dcase2019_task5_auprc_micro"]}
_DATA = {"sample_rate": 16000, "duration": 10.0, "multi_label": True}

# Sec. 4.3: Adam 1e-4, 300 epochs, early stopping after 20 epochs without validation AUPRC gain;
# the batch size is not given (32 chosen). The "loss" entry names a distillation setup
# (keras_audioattn.distillation.SETUPS).
PAPER_PRESETS = {
    f"chang2020-student-lstm{units}": {
        "model": {"num_classes": 8, "lstm_units": units, "num_mel_bins": 20, "sample_rate": 16000,
                  "clip_duration": 10.0, "normalize_inputs": False, "readout": "last"},
        "training": dict(_TRAINING),
        "data": dict(_DATA),
        "paper": f"Chang et al. 2020, Table 1 (LSTM {units}), Sec. 4.2-4.4",
    }
    for units in LSTM_SIZES
}
# Table 2's counts: 85 mel bins into the conv (see the module docstring); otherwise as above.
PAPER_PRESETS.update({
    f"chang2020-table2-lstm{units}": {
        "model": {**PAPER_PRESETS[f"chang2020-student-lstm{units}"]["model"], "num_mel_bins": TABLE2_MEL_BINS},
        "training": dict(_TRAINING),
        "data": dict(_DATA),
        "paper": f"Chang et al. 2020, Table 2 (LSTM {units}: parameters and FLOPs imply ~85 mel bins)",
    }
    for units in LSTM_SIZES
})


@keras.saving.register_keras_serializable(package=_PKG)
class SequenceReadout(keras.layers.Layer):
    """``(batch, steps, units)`` -> ``(batch, units)``: the last step, or the mean / max over steps.

    Args:
      mode: ``"last"`` (TFLite ``STRIDED_SLICE``), ``"mean"`` (``MEAN``) or ``"max"``
        (``REDUCE_MAX``).
    """

    def __init__(self, mode="last", **kwargs):
        super().__init__(**kwargs)
        if mode not in READOUTS:
            raise ValueError(f"SequenceReadout: `mode` must be one of {READOUTS}, got {mode!r}.")
        self.mode = mode

    def call(self, inputs):
        if self.mode == "last":
            return inputs[:, -1, :]
        if self.mode == "mean":
            return ops.mean(inputs, axis=1)
        return ops.max(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def _positive_int(value, name):
    return positive_int(value, name, "CNNLSTMStudent")


@keras.saving.register_keras_serializable(package=_PKG)
class CNNLSTMStudent(keras.Model):
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
      clip_duration: seconds per clip (``None``: any length; the presets use 10 s, which gives
        998 frames and 497 LSTM steps).
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

    Call: ``(batch, samples)`` -> ``(batch, num_classes)`` tag probabilities.
    Layers by name: ``log_mel``, ``feature_norm``, ``conv`` (hint), ``lstm`` (hint),
    ``readout`` (with sequence outputs), ``predictions``.
    """

    def __init__(self, num_classes=8, lstm_units=128, num_mel_bins=20, conv_filters=32, kernel_size=5,
                 strides=2, padding="valid", classifier_activation="sigmoid", include_top=True,
                 include_front_end=True, sample_rate=16000, clip_duration=None, front_end=None,
                 normalize_inputs=False, cell_clip=None, readout="last", sequence_outputs=False,
                 name="cnn_lstm_student", **kwargs):
        if include_top:
            num_classes = _positive_int(num_classes, "num_classes")
        lstm_units = _positive_int(lstm_units, "lstm_units")
        num_mel_bins = _positive_int(num_mel_bins, "num_mel_bins")
        conv_filters = _positive_int(conv_filters, "conv_filters")
        kernel_size = _positive_int(kernel_size, "kernel_size")
        strides = _positive_int(strides, "strides")
        sample_rate = _positive_int(sample_rate, "sample_rate")
        if readout not in READOUTS:
            raise ValueError(f"CNNLSTMStudent: `readout` must be one of {READOUTS}, got {readout!r}.")
        sequences = bool(sequence_outputs) or readout != "last"
        if padding not in ("valid", "same"):
            raise ValueError(f"`padding` must be 'valid' or 'same', got {padding!r}.")
        if padding == "valid" and num_mel_bins < kernel_size:
            raise ValueError(f"num_mel_bins={num_mel_bins} is smaller than the {kernel_size}x{kernel_size} "
                             "kernel with padding='valid'.")
        inputs, x = log_mel_input("chang2020_student", include_front_end, sample_rate, num_mel_bins, clip_duration,
                                  front_end, normalize_inputs)
        front_end = dict(front_end or {})
        x = keras.layers.Reshape((-1, num_mel_bins, 1), name="add_channel")(x)
        x = keras.layers.Conv2D(conv_filters, kernel_size, strides=strides, padding=padding,
                                activation="relu", name="conv")(x)
        freq = (num_mel_bins - kernel_size) // strides + 1 if padding == "valid" else -(-num_mel_bins // strides)
        x = keras.layers.Reshape((-1, freq * conv_filters), name="flatten_freq")(x)
        if cell_clip is None:
            x = keras.layers.LSTM(lstm_units, return_sequences=sequences, name="lstm")(x)
        else:
            x = ClippedLSTM(lstm_units, cell_clip=float(cell_clip), return_sequences=sequences, name="lstm")(x)
        if sequences:
            x = SequenceReadout(readout, name="readout")(x)
        if include_top:
            x = keras.layers.Dense(num_classes, activation=classifier_activation, dtype="float32",  # mixed precision
                                   name="predictions")(x)
        super().__init__(inputs=inputs, outputs=x, name=name, **kwargs)

        self.num_classes = num_classes if include_top else None
        self.lstm_units = lstm_units
        self.num_mel_bins = num_mel_bins
        self.conv_filters = conv_filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding
        self.classifier_activation = classifier_activation
        self.include_top = bool(include_top)
        self.include_front_end = bool(include_front_end)
        self.sample_rate = sample_rate
        self.clip_duration = None if clip_duration is None else float(clip_duration)
        self.front_end = front_end
        self.normalize_inputs = bool(normalize_inputs)
        self.cell_clip = None if cell_clip is None else float(cell_clip)
        self.readout = readout
        self.sequence_outputs = bool(sequence_outputs)

    @classmethod
    def from_preset(cls, name, **overrides):
        """Builds a paper configuration from :data:`PAPER_PRESETS` (keyword arguments override)."""
        if name not in PAPER_PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PAPER_PRESETS)}")
        return cls(**{**PAPER_PRESETS[name]["model"], **overrides})

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "lstm_units": self.lstm_units,
            "num_mel_bins": self.num_mel_bins,
            "conv_filters": self.conv_filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "classifier_activation": self.classifier_activation,
            "include_top": self.include_top,
            "include_front_end": self.include_front_end,
            "sample_rate": self.sample_rate,
            "clip_duration": self.clip_duration,
            "front_end": dict(self.front_end),
            "normalize_inputs": self.normalize_inputs,
            "cell_clip": self.cell_clip,
            "readout": self.readout,
            "sequence_outputs": self.sequence_outputs,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
