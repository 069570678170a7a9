"""Raw-waveform ResNet for acoustic scene classification: the baseline of Jung et al. 2020 (Table 1).

Graph (defaults = Table 1 and §4.2; pre-emphasis coefficient and shortcut from the same group's
public code, DESIGN.md)::

    waveform (batch, samples, 2) stereo @ 48 kHz   [or (batch, samples) with num_channels=1]
      -> PreEmphasis 0.97 (each channel)
      -> strided conv: Conv1D(128, kernel 12, stride 12, valid) -> BN -> LeakyReLU(0.3)
      -> 7 x residual block:
           Conv1D(128, 3, same) -> BN -> LeakyReLU -> Conv1D(128, 3, same) -> BN
           (+ shortcut: identity, or Conv1D(out, 3, same) when the channel count changes)
           -> LeakyReLU -> MaxPool1D(3)                       = the frame-level feature map
      -> GlobalAveragePooling || GlobalMaxPooling (256) -> code Dense(64), linear
      -> output Dense(num_classes, softmax)

Paper input (479 999, 2) -> strided conv (39 999, 128) -> blocks (18, 128), as in Table 1
(``floor`` at every pooling). The code (64-d) feeds the paper's SVM back end
(:func:`keras_audioattn.models.jung2020.code_svm.fit_code_svm`).

Parameters of the default model (``RawWaveformASC()``, 10 classes, stereo): **715 978**
(712 138 trainable: strided conv 3 072 + BN 256, residual blocks 7 x 98 816, code 16 448, output
650; plus 3 840 BatchNorm moving statistics) -- checked in ``tests/test_raw_waveform_asc.py``. Table 6 of the
paper gives 676 k for its best *tag-conditioned* system; Table 1 as written (seven 128-filter
blocks) already has more than that (see ``docs/jung2020.md``).

Choices where the paper is silent: BatchNorm momentum 0.9 (the authors' PyTorch default; see
``bn_momentum``); convolutions that feed a BatchNorm have no bias (the BN shift replaces it); "same" padding in the residual convolutions (Table 1's lengths need it); the
shortcut joins before the final LeakyReLU (DESIGN.md).
"""

from __future__ import annotations

import keras

from keras_audioattn import preset_registry
from keras_audioattn.layers import closed_form_batch_norm, matmul_gradient_conv
from keras_audioattn.layers.custom_gradients import CUSTOM_GRADIENTS, layer_gradient
from keras_audioattn.layers.front_ends import PreEmphasis
from keras_audioattn.models.base import AudioModel, classproperty
from keras_audioattn.validation import int_sequence, number, one_of, optional, positive_int

_PKG = "keras_audioattn"
_OWNER = "RawWaveformASC"
PAPER_BLOCK_FILTERS = (128,) * 7
DEFAULT_PARAMETER_COUNT = 715_978  # RawWaveformASC().count_params()
#: The family whose presets hold a RawWaveformASC (their ``asc`` configuration).
JUNG2020_FAMILY = "jung2020"


def jung2020_presets():
    """``{name: Preset}`` of the tag-conditioned ASC presets (family ``jung2020``)."""
    return {name: p for name, p in preset_registry.presets().items() if p.family == JUNG2020_FAMILY}


def jung2020_model_config(preset, owner):
    """The constructor arguments of ``jung2020`` preset ``preset`` (``{"asc": {...}, "tagger": {...}, ...}``).

    Raises:
      ValueError: an unknown preset, or one of another family (the message lists the valid ones).
    """
    entry = preset_registry.get(preset)
    if entry.family != JUNG2020_FAMILY:
        raise ValueError(f"{owner}.from_preset: preset {preset!r} is not a Jung et al. 2020 ASC preset; "
                         f"choose from {sorted(jung2020_presets())}")
    return entry.model_config()


@keras.saving.register_keras_serializable(package=_PKG)
class RawWaveformASC(AudioModel):
    """Raw-waveform ResNet ASC (Jung et al. 2020, Table 1): waveform -> code (64) -> scene scores.

    Inputs: ``waveform`` float32 ``(batch, samples, num_channels)`` for ``num_channels >= 2``
    (paper: stereo), ``(batch, samples)`` for ``num_channels=1`` (the form the ``export`` package
    takes). ``samples`` is ``num_samples`` or any length (None) of at least
    ``first_kernel * pool_size ** len(block_filters)`` samples (26 244 for the defaults).

    Outputs: ``scores (batch, num_classes)`` (softmax probabilities; ``classifier_activation=None``
    gives logits). ``include_top=False`` outputs the 64-d ``code`` instead. Every instance also
    exposes :meth:`feature_model` (waveform -> frame-level feature map ``(batch, frames,
    block_filters[-1])``, the map the tag attention attends), :meth:`code_model` and
    :meth:`multi_output_model` (``{"scores", "code", "features"}``).

    Args:
      num_classes: scene classes (paper: 10, DCASE 2019 Task 1-a).
      code_dim: size of the linear code layer (paper: 64).
      num_channels: input channels (paper: 2).
      num_samples: fixed input length or None (paper: 479 999 = 10 s at 48 kHz, minus one).
      sample_rate: Hz, recorded for export (paper: 48 000).
      pre_emphasis: coefficient (0.97), or None to skip the filter.
      first_filters / first_kernel: the strided conv, stride = kernel (128, 12).
      block_filters: filters of each residual block (Table 1: seven blocks of 128).
      kernel_size / pool_size: residual convs and max pooling (3, 3).
      negative_slope: LeakyReLU slope (0.3).
      include_top: False -> the code is the output.
      classifier_activation: "softmax" (default) or None (logits).
      bn_momentum: momentum of the BatchNorm moving statistics (0.9: the authors' PyTorch
        ``BatchNorm1d`` default, momentum 0.1 in PyTorch's convention; Keras' default is 0.99).
        It matters on raw waveforms: the strided conv's outputs have a variance of ~1e-4 on
        -35..-18 dBFS audio, while the moving variance starts at 1, so with 0.99 it is still ~0.5
        after 64 steps and the model is at chance in inference mode after short trainings
        (measured, docs/jung2020.md); with 0.9 the start value is gone after ~100 steps.
      custom_gradients: ``"auto"`` (default) | ``"always"`` | ``"never"``: whether the residual
        convolutions and the BatchNorms compute their backward pass by hand
        (:class:`keras_audioattn.layers.Conv1D`: a forward convolution and matrix
        products; :class:`keras_audioattn.layers.BatchNormalization`: the
        closed-form gradient). Forward pass, weights and maths are ``Conv1D``'s and
        ``BatchNormalization``'s either way. ``"auto"`` uses them on the TensorFlow backend, where
        they made a training step faster (docs/benchmarks.md, "Where the ASC's training step
        goes"), and the backend's own gradients on JAX and torch.
    """

    def __init__(self, num_classes=10, code_dim=64, num_channels=2, num_samples=None, sample_rate=48000,
                 pre_emphasis=0.97, first_filters=128, first_kernel=12, block_filters=PAPER_BLOCK_FILTERS,
                 kernel_size=3, pool_size=3, negative_slope=0.3, include_top=True,
                 classifier_activation="softmax", bn_momentum=0.9, custom_gradients="auto", name="raw_waveform_asc",
                 **kwargs):
        for value, argument in ((num_classes, "num_classes"), (code_dim, "code_dim"), (num_channels, "num_channels"),
                                (sample_rate, "sample_rate"), (first_filters, "first_filters"),
                                (first_kernel, "first_kernel"), (kernel_size, "kernel_size"),
                                (pool_size, "pool_size")):
            positive_int(value, argument, _OWNER)
        block_filters = int_sequence(block_filters, "block_filters", _OWNER)
        optional(number, pre_emphasis, "pre_emphasis", _OWNER, low=-1.0, high=1.0)
        number(bn_momentum, "bn_momentum", _OWNER, low=0.0, high=1.0, high_open=True)
        one_of(classifier_activation, "classifier_activation", ("softmax", None), _OWNER)
        one_of(custom_gradients, "custom_gradients", CUSTOM_GRADIENTS, _OWNER)
        min_samples = first_kernel * pool_size ** len(block_filters)
        num_samples = optional(positive_int, num_samples, "num_samples", _OWNER)
        if num_samples is not None and num_samples < min_samples:
            raise ValueError(f"{_OWNER}: `num_samples`={num_samples} is shorter than the "
                             f"{min_samples} samples one output frame needs.")

        shape = (num_samples,) if num_channels == 1 else (num_samples, num_channels)
        waveform = keras.Input(shape=shape, dtype="float32", name="waveform")
        x = waveform
        if pre_emphasis is not None:
            x = PreEmphasis(float(pre_emphasis), name="pre_emphasis")(x)
        if num_channels == 1:
            x = keras.layers.Reshape((-1, 1), name="add_channel")(x)

        def lrelu(name):
            return keras.layers.LeakyReLU(negative_slope=negative_slope, name=name)

        # Conv1D "same" and BatchNorm; only their backward pass differs (custom_gradients)
        conv_gradient = layer_gradient(custom_gradients, "matmul")
        bn_gradient = layer_gradient(custom_gradients, "closed_form")

        def conv(filters, **options):
            return matmul_gradient_conv.Conv1D(filters, kernel_size, padding="same", gradient=conv_gradient, **options)

        def batch_norm(name):
            return closed_form_batch_norm.BatchNormalization(momentum=bn_momentum, gradient=bn_gradient, name=name)

        x = keras.layers.Conv1D(first_filters, first_kernel, strides=first_kernel, padding="valid", use_bias=False,
                                name="strided_conv")(x)
        x = batch_norm("strided_bn")(x)
        x = lrelu("strided_lrelu")(x)
        channels = first_filters
        for i, filters in enumerate(block_filters):
            p = f"block_{i}"
            y = conv(filters, use_bias=False, name=f"{p}_conv_0")(x)
            y = batch_norm(f"{p}_bn_0")(y)
            y = lrelu(f"{p}_lrelu_0")(y)
            y = conv(filters, use_bias=False, name=f"{p}_conv_1")(y)
            y = batch_norm(f"{p}_bn_1")(y)
            shortcut = x
            if filters != channels:
                shortcut = conv(filters, name=f"{p}_shortcut")(x)
            x = keras.layers.Add(name=f"{p}_add")([y, shortcut])
            x = lrelu(f"{p}_lrelu_1")(x)
            x = keras.layers.MaxPooling1D(pool_size, name=f"{p}_pool")(x)
            channels = filters
        features = x
        pooled = keras.layers.Concatenate(name="pool_concat")([
            keras.layers.GlobalAveragePooling1D(name="global_avg")(features),
            keras.layers.GlobalMaxPooling1D(name="global_max")(features)])
        code = keras.layers.Dense(code_dim, name="code")(pooled)
        scores = keras.layers.Dense(num_classes, activation=classifier_activation, name="scores")(code)
        super().__init__(inputs=waveform, outputs=scores if include_top else code, name=name, **kwargs)
        self._features, self._pooled, self._code, self._scores = features, pooled, code, scores
        self.pre_emphasis = None if pre_emphasis is None else float(pre_emphasis)
        self.min_samples = min_samples

    @property
    def feature_dim(self):
        """Filters of the frame-level feature map (the attention's ``f``)."""
        return self.block_filters[-1]

    def num_frames(self, num_samples):
        """Frames of the feature map for ``num_samples`` input samples (Table 1: 479 999 -> 18)."""
        n = int(num_samples) // self.first_kernel
        for _ in self.block_filters:
            n //= self.pool_size
        return n

    def feature_model(self):
        """Waveform -> frame-level feature map ``(batch, frames, filters)`` (shares the weights)."""
        return keras.Model(self.inputs[0], self._features, name=f"{self.name}_features")

    def code_model(self):
        """Waveform -> code ``(batch, code_dim)`` (shares the weights)."""
        return keras.Model(self.inputs[0], self._code, name=f"{self.name}_code")

    def multi_output_model(self):
        """Waveform -> ``{"scores", "code", "features"}`` (shares the weights)."""
        return keras.Model(self.inputs[0], {"scores": self._scores, "code": self._code, "features": self._features},
                           name=f"{self.name}_outputs")

    @classproperty
    def presets(cls):  # noqa: N805  (a class property)
        """The ``jung2020`` presets: each holds a RawWaveformASC configuration (its ``asc``)."""
        return jung2020_presets()

    @classmethod
    def from_preset(cls, preset="jung2020-baseline", **overrides):
        """The ASC network of ``jung2020`` preset ``preset`` (keyword arguments override its ``asc``).

        Example: ``RawWaveformASC.from_preset("jung2020-baseline", num_classes=3)``.
        """
        return cls(**{**jung2020_model_config(preset, cls.__name__)["asc"], **overrides})


__all__ = ["DEFAULT_PARAMETER_COUNT", "PAPER_BLOCK_FILTERS", "RawWaveformASC"]
