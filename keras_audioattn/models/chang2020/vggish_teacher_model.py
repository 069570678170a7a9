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

from keras_audioattn.layers import matmul_gradient_conv
from keras_audioattn.layers.custom_gradients import CUSTOM_GRADIENTS, layer_gradient
from keras_audioattn.models._common import log_mel_input
from keras_audioattn.models.base import AudioModel, seconds_as_samples, scores_head
from keras_audioattn.models.chang2020.time_max_pooling_layer import TimeMaxPooling
from keras_audioattn.validation import int_sequence, one_of, positive_int

_PKG = "keras_audioattn"
_OWNER = "VGGishTeacher"
PAPER_BLOCKS = ((64,), (128,), (256, 256), (512, 512))
POOLINGS = ("time", "time_freq")


@keras.saving.register_keras_serializable(package=_PKG)
class VGGishTeacher(AudioModel):
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
      sample_rate: Hz (16000).
      num_samples: fixed input length in samples (``None``: any length). The paper's 10 s clips
        are the presets' data settings (``duration``); ``audioattn train`` fixes ``num_samples``
        from them. Deprecated alias: ``clip_duration`` (seconds, converted at ``sample_rate``).
      front_end: overrides for ``LogMelSpectrogram.from_preset("chang2020_teacher", ...)``.
      normalize_inputs: per-mel-band ``BatchNormalization`` on the log-mel (not in the paper;
        off by default and in the preset).
      pooling: ``"time"`` (the system's head: max over time, flatten ``mel' x channels``) or
        ``"time_freq"`` (max over time and mel: ``channels`` features).
      custom_gradients: ``"auto"`` (default) | ``"always"`` | ``"never"``: whether the convs
        with few input channels (``conv1``: 9 x 1 patch values for 64 filters) compute their
        kernel gradient as one patch-matrix product
        (:class:`keras_audioattn.layers.Conv2D`); the wider convs keep the backend's own
        gradient either way. Forward pass, weights and maths are ``Conv2D``'s. ``"auto"`` uses it
        on the TensorFlow backend, where it made a training step faster (docs/benchmarks.md,
        "The VGGish teacher's step"), and the backend's own gradient on JAX and torch.
      name: model name.

    Call: ``waveform (batch, samples)`` -> ``scores (batch, num_classes)`` tag probabilities.
    Layers by name: ``log_mel``, ``feature_norm``, ``conv1`` (``conv3_1``, ``conv3_2``, ... when a
    block has several convs), ``pool1``..``pool{n-1}``, ``time_max`` + ``flatten`` or
    ``global_max``, ``fc1``, ``fc2``, ``predictions`` (the output Dense) and ``scores`` (a
    weightless identity that names the output).

    Example:
      >>> teacher = VGGishTeacher.from_preset("chang2020-teacher")   # 13 153 672 parameters
      >>> teacher(np.zeros((1, 160000), "float32")).shape            # (1, 8)
    """

    deprecated_arguments = {"clip_duration": ("num_samples", seconds_as_samples(16000))}
    deprecated_outputs = {"predictions": "scores"}

    def __init__(self, num_classes=8, blocks=PAPER_BLOCKS, dense_units=(2048, 128), num_mel_bins=64,
                 classifier_activation="sigmoid", include_top=True, include_front_end=True,
                 sample_rate=16000, num_samples=None, front_end=None, normalize_inputs=False,
                 pooling="time", custom_gradients="auto", name="vggish_teacher", **kwargs):
        if include_top:
            num_classes = positive_int(num_classes, "num_classes", _OWNER)
        if not isinstance(blocks, (list, tuple)) or not blocks:
            raise ValueError(f"{_OWNER}: `blocks` must be a non-empty list of non-empty filter lists, got {blocks!r}.")
        blocks = [list(int_sequence(block, "blocks", _OWNER)) for block in blocks]
        dense_units = list(int_sequence(dense_units, "dense_units", _OWNER, allow_empty=True))
        one_of(pooling, "pooling", POOLINGS, _OWNER)
        one_of(custom_gradients, "custom_gradients", CUSTOM_GRADIENTS, _OWNER)
        conv_gradient = layer_gradient(custom_gradients, "matmul")
        inputs, x = log_mel_input("chang2020_teacher", include_front_end, sample_rate, num_mel_bins, num_samples,
                                  front_end, normalize_inputs, owner=_OWNER)
        if num_mel_bins < 2 ** (len(blocks) - 1):
            raise ValueError(f"{_OWNER}: `num_mel_bins`={num_mel_bins} is too small for {len(blocks) - 1} "
                             "2x2 poolings.")
        front_end = dict(front_end or {})
        x = keras.layers.Reshape((-1, num_mel_bins, 1), name="add_channel")(x)
        for i, block in enumerate(blocks, start=1):
            for j, filters in enumerate(block, start=1):
                conv_name = f"conv{i}" if len(block) == 1 else f"conv{i}_{j}"
                x = matmul_gradient_conv.Conv2D(filters, 3, padding="same", activation="relu", gradient=conv_gradient,
                                                name=conv_name)(x)
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
            x = scores_head(x, num_classes, classifier_activation)
        super().__init__(inputs=inputs, outputs=x, name=name, **kwargs)
        self.front_end = front_end  # the dict form of the argument ({} for None)
        self.num_classes = num_classes if include_top else None  # no classifier, no classes


__all__ = ["PAPER_BLOCKS", "POOLINGS", "TimeMaxPooling", "VGGishTeacher"]
