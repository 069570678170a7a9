"""VGGish-style teacher of Chang et al. 2020 (IUSP distillation), Sec. 4.1.

The paper's teacher is the second-place DCASE 2019 Task 5 system (Kim 2019): the first six
convolution layers of VGGish, then a classifier. As resolved from that system's public code
(DESIGN.md): 3 x 3 convs with ReLU and no batch norm, 64 -> pool -> 128 -> pool -> 256, 256 ->
pool -> 512, 512, then max over time, dense 2048 -> 128 -> 8 sigmoid; input 16 kHz, 64-mel
log-mel, 25 ms window / 10 ms step (998 frames for 10 s;
``LogMelSpectrogram.from_preset("chang2020_teacher")``).

Choices (see ``docs/chang2020.md``):

* Convs use ``padding="same"`` and pools are 2 x 2 / stride 2 over ``(time, mel)``, as in VGGish.
* Head (``pooling="time"``, the default and the paper preset): the system's
  ``model_architecture.py`` takes the max over time only (``torch.max(out, dim=2)``), flattens
  ``mel' x 512 = 8 x 512 = 4096`` features and applies dense 2048 -> 128 -> classes: 13 153 672
  parameters with 8 classes (convs 4 499 712, fc1 8 390 656, fc2 262 272, output 1 032).
  ``pooling="time_freq"`` (the earlier choice here) max-pools over time and mel
  (``GlobalMaxPooling2D``): 512 features, 5 813 640 parameters.
* Table 2 gives the teacher 3.96 M parameters and 14.7 GFLOPs. Neither head reproduces 3.96 M:
  the six VGGish convs alone hold 4.50 M, so no head on top of them can total 3.96 M; a count
  that skips the largest conv (2.36 M) or one layer of the head does not land there either. The
  FLOPs do fit the conv stack: on 998 x 64 the convs take 8.25 G multiply-accumulates (16.5
  GFLOPs counted as 2 per MAC; 14.7 G is within the spread of counting conventions). We follow
  the code the paper names, not Table 2's parameter count.
* ``normalize_inputs=True`` standardises each mel band with ``BatchNormalization`` (not in the
  paper or the system, which feeds the log-mel of VGGish's extractor directly); off in the preset.

Hint layers (Sec. 4.4: "the outputs after the Max Pooling layers"): ``pool1``, ``pool2``,
``pool3`` ``(batch, time', mel', channels)``, and ``time_max`` ``(batch, mel', 512)``
(``pooling="time"``) or ``global_max`` ``(batch, 512)`` (``pooling="time_freq"``).
"""

from __future__ import annotations

import keras
from keras import ops

from keras_audioattn.models._common import log_mel_input, positive_int

_PKG = "keras_audioattn"
PAPER_BLOCKS = ((64,), (128,), (256, 256), (512, 512))
POOLINGS = ("time", "time_freq")

PAPER_PRESETS = {
    "chang2020-teacher": {
        "model": {"num_classes": 8, "blocks": [list(b) for b in PAPER_BLOCKS], "dense_units": [2048, 128],
                  "num_mel_bins": 64, "sample_rate": 16000, "clip_duration": 10.0, "pooling": "time",
                  "normalize_inputs": False},
        # The paper received trained teacher weights from Kim; the training recipe here (Adam 1e-4,
        # early stopping on validation micro-AUPRC) is ours, not the paper's.
        "training": {"optimizer": "adam", "learning_rate": 1e-4, "batch_size": 32, "epochs": 100,
                     "loss": "binary_crossentropy", "early_stopping_patience": 10,
                     "metrics": ["dcase2019_task5_auprc_micro"]},
        "data": {"sample_rate": 16000, "duration": 10.0, "multi_label": True},
        "paper": "Chang et al. 2020, Sec. 4.1-4.2, Table 2 (teacher: Kim 2019, DCASE 2019 Task 5)",
    },
}


def _positive_int(value, name):
    return positive_int(value, name, "VGGishTeacher")


@keras.saving.register_keras_serializable(package=_PKG)
class TimeMaxPooling(keras.layers.Layer):
    """Max over the time axis of a ``(batch, time, freq, channels)`` map -> ``(batch, freq, channels)``.

    The DCASE 2019 Task 5 second-place head (``torch.max(out, dim=2)`` on ``(b, c, t, f)``);
    TFLite ``REDUCE_MAX``.
    """

    def call(self, inputs):
        return ops.max(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[2:])


@keras.saving.register_keras_serializable(package=_PKG)
class VGGishTeacher(keras.Model):
    """VGGish-style tagger: the teacher of Chang et al. 2020 (Sec. 4.1, Table 2).

    Args:
      num_classes: number of tags (8).
      blocks: conv filters per block; each block's 3 x 3 ReLU convs are followed by a 2 x 2 max
        pool except the last block, which is followed by the global max (``((64,), (128,),
        (256, 256), (512, 512))``, VGGish's first six conv layers).
      dense_units: hidden ReLU layers after the global max (``(2048, 128)``).
      num_mel_bins: mel bins (64).
      classifier_activation: output activation (``"sigmoid"``).
      include_top: ``False`` returns the last hidden dense output (the 128-d embedding).
      include_front_end: ``True``: waveform input ``(batch, samples)``; ``False``: log-mel
        ``(batch, frames, num_mel_bins)``.
      sample_rate: Hz (16000). clip_duration: seconds (``None``: any length).
      front_end: overrides for ``LogMelSpectrogram.from_preset("chang2020_teacher", ...)``.
      normalize_inputs: per-mel-band ``BatchNormalization`` on the log-mel (not in the paper;
        off by default and in the preset).
      pooling: ``"time"`` (the system's head: max over time, flatten ``mel' x channels``) or
        ``"time_freq"`` (max over time and mel: ``channels`` features).
      name: model name.

    Call: ``(batch, samples)`` -> ``(batch, num_classes)`` tag probabilities. Layers by name:
    ``log_mel``, ``feature_norm``, ``conv1`` (``conv3_1``, ``conv3_2``, ... when a block has
    several convs), ``pool1``..``pool{n-1}``, ``time_max`` + ``flatten`` or ``global_max``,
    ``fc1``, ``fc2``, ``predictions``.

    Example:
      >>> teacher = VGGishTeacher.from_preset("chang2020-teacher")   # 13 153 672 parameters
      >>> teacher(np.zeros((1, 160000), "float32")).shape            # (1, 8)
    """

    def __init__(self, num_classes=8, blocks=PAPER_BLOCKS, dense_units=(2048, 128), num_mel_bins=64,
                 classifier_activation="sigmoid", include_top=True, include_front_end=True,
                 sample_rate=16000, clip_duration=None, front_end=None, normalize_inputs=False,
                 pooling="time", name="vggish_teacher", **kwargs):
        if include_top:
            num_classes = _positive_int(num_classes, "num_classes")
        blocks = [[_positive_int(f, "blocks filters") for f in block] for block in blocks]
        if not blocks or any(not block for block in blocks):
            raise ValueError(f"`blocks` must be a non-empty list of non-empty filter lists, got {blocks!r}.")
        dense_units = [_positive_int(u, "dense_units") for u in dense_units]
        num_mel_bins = _positive_int(num_mel_bins, "num_mel_bins")
        sample_rate = _positive_int(sample_rate, "sample_rate")
        if pooling not in POOLINGS:
            raise ValueError(f"VGGishTeacher: `pooling` must be one of {POOLINGS}, got {pooling!r}.")
        if num_mel_bins < 2 ** (len(blocks) - 1):
            raise ValueError(f"num_mel_bins={num_mel_bins} is too small for {len(blocks) - 1} 2x2 poolings.")
        inputs, x = log_mel_input("chang2020_teacher", include_front_end, sample_rate, num_mel_bins, clip_duration,
                                  front_end, normalize_inputs)
        front_end = dict(front_end or {})
        x = keras.layers.Reshape((-1, num_mel_bins, 1), name="add_channel")(x)
        for i, block in enumerate(blocks, start=1):
            for j, filters in enumerate(block, start=1):
                conv_name = f"conv{i}" if len(block) == 1 else f"conv{i}_{j}"
                x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=conv_name)(x)
            if i < len(blocks):
                x = keras.layers.MaxPooling2D(2, strides=2, name=f"pool{i}")(x)
        if pooling == "time":
            x = TimeMaxPooling(name="time_max")(x)
            x = keras.layers.Flatten(name="flatten")(x)
        else:
            x = keras.layers.GlobalMaxPooling2D(name="global_max")(x)
        for k, units in enumerate(dense_units, start=1):
            x = keras.layers.Dense(units, activation="relu", name=f"fc{k}")(x)
        if include_top:
            x = keras.layers.Dense(num_classes, activation=classifier_activation, dtype="float32",  # mixed precision
                                   name="predictions")(x)
        super().__init__(inputs=inputs, outputs=x, name=name, **kwargs)

        self.num_classes = num_classes if include_top else None
        self.blocks = [list(b) for b in blocks]
        self.dense_units = list(dense_units)
        self.num_mel_bins = num_mel_bins
        self.classifier_activation = classifier_activation
        self.include_top = bool(include_top)
        self.include_front_end = bool(include_front_end)
        self.sample_rate = sample_rate
        self.clip_duration = None if clip_duration is None else float(clip_duration)
        self.front_end = front_end
        self.normalize_inputs = bool(normalize_inputs)
        self.pooling = pooling

    @classmethod
    def from_preset(cls, name="chang2020-teacher", **overrides):
        """Builds a configuration from :data:`PAPER_PRESETS` (keyword arguments override)."""
        if name not in PAPER_PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PAPER_PRESETS)}")
        return cls(**{**PAPER_PRESETS[name]["model"], **overrides})

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "blocks": [list(b) for b in self.blocks],
            "dense_units": list(self.dense_units),
            "num_mel_bins": self.num_mel_bins,
            "classifier_activation": self.classifier_activation,
            "include_top": self.include_top,
            "include_front_end": self.include_front_end,
            "sample_rate": self.sample_rate,
            "clip_duration": self.clip_duration,
            "front_end": dict(self.front_end),
            "normalize_inputs": self.normalize_inputs,
            "pooling": self.pooling,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
