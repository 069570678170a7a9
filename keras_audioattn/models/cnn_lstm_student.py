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
* The LSTM's last hidden state feeds the dense layer (``return_sequences=False``).
* ``normalize_inputs=True`` standardises each mel band with ``BatchNormalization`` before the
  conv (raw log-mel values, about -14..+5, train poorly at the paper's learning rate of 1e-4);
  it folds into a multiply-add at export. Not in the paper: ``normalize_inputs=False`` removes it.

Hint layers for SP / IUSP (Sec. 4.4; the student has two intermediate outputs): ``"conv"``
``(batch, time', freq', 32)`` -- the one the paper's final setups use for both SP and IUSP --
and ``"lstm"``, the last hidden state ``(batch, units)``. The LSTM hint has no time axis, so it
serves SP only; IUSP on it raises a ``ValueError`` (returning the whole sequence would need an
extra slicing layer after the LSTM, which the export twin does not mirror).
"""

from __future__ import annotations

import keras

from keras_audioattn.layers.clipped_lstm import ClippedLSTM
from keras_audioattn.models._common import log_mel_input, positive_int

_PKG = "keras_audioattn"
LSTM_SIZES = (128, 64, 32, 16)

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
                  "clip_duration": 10.0},
        "training": dict(_TRAINING),
        "data": dict(_DATA),
        "paper": f"Chang et al. 2020, Table 1 (LSTM {units}), Sec. 4.2-4.4",
    }
    for units in LSTM_SIZES
}


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
      cell_clip: ``None`` (the paper's plain LSTM) or a bound on the LSTM cell state
        (:class:`~keras_audioattn.layers.ClippedLSTM`, e.g. 10): train with the clip that TFLite's
        int8 LSTM kernel imposes (its int16 cell state spans about ±16) when the student is to be
        deployed as a full-int8 file; see ``docs/chang2020.md`` for the measured difference.
      name: model name.

    Call: ``(batch, samples)`` -> ``(batch, num_classes)`` tag probabilities.
    Layers by name: ``log_mel``, ``feature_norm``, ``conv`` (hint), ``lstm`` (hint),
    ``predictions``.
    """

    def __init__(self, num_classes=8, lstm_units=128, num_mel_bins=20, conv_filters=32, kernel_size=5,
                 strides=2, padding="valid", classifier_activation="sigmoid", include_top=True,
                 include_front_end=True, sample_rate=16000, clip_duration=None, front_end=None,
                 normalize_inputs=True, cell_clip=None, name="cnn_lstm_student", **kwargs):
        if include_top:
            num_classes = _positive_int(num_classes, "num_classes")
        lstm_units = _positive_int(lstm_units, "lstm_units")
        num_mel_bins = _positive_int(num_mel_bins, "num_mel_bins")
        conv_filters = _positive_int(conv_filters, "conv_filters")
        kernel_size = _positive_int(kernel_size, "kernel_size")
        strides = _positive_int(strides, "strides")
        sample_rate = _positive_int(sample_rate, "sample_rate")
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
            x = keras.layers.LSTM(lstm_units, name="lstm")(x)
        else:
            x = ClippedLSTM(lstm_units, cell_clip=float(cell_clip), name="lstm")(x)
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
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
