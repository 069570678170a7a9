"""Conv1D and Conv2D whose backward passes are convolutions and matrix products (same maths, faster on TF's CPU).

Why: on TensorFlow's CPU kernels (oneDNN) the *backward* of a stride-1 "same" Conv1D is far slower
than its forward. Profiled on one training step of the Jung et al. 2020 raw-waveform ASC (batch 24,
240 000 stereo samples, AMD EPYC, 2 threads): the first residual conv (24 x 20 000 x 128 -> 128)
takes 103 ms forward but 729 ms for its kernel gradient and 210-581 ms for its input gradient;
the convolution gradients were 48 % of the step's op time (``docs/benchmarks.md``, "Where the
ASC's training step goes"). Both gradients have exact expressions in operations that run at the
forward's speed:

* input gradient: ``dx = conv_same(g, flip_time(W)^T)`` -- a forward "same" convolution of the
  upstream gradient ``g`` with the time-reversed, in/out-transposed kernel (odd kernel sizes, so
  the "same" padding is symmetric);
* kernel gradient, tap ``j`` (time offset ``s = j - (k - 1) // 2``):
  ``dW[j] = sum_{b, t} x[b, t + s]^T g[b, t]`` -- one matrix product of the batch-and-time
  flattened ``x`` and ``g`` shifted by ``s`` rows, without the rows that the flat shift pairs
  across examples (:func:`_shifted_product`).

The 2-D case (:class:`Conv2D`) is narrower: TF's 2-D backward runs near its forward's speed
except for the *kernel* gradient of a layer with few input channels. In one training step of
the Chang et al. 2020 VGGish teacher (batch 32, 998 x 64 log-mel, one input channel), the first
conv's kernel gradient took 236 ms for 2.4 GFLOP, while the 256 -> 256 conv's took 475 ms for
150 GFLOP (``docs/benchmarks.md``, "The VGGish teacher's step"). There the kernel gradient is one
matrix product of the input's patches (im2col: ``(positions, kh * kw * channels)``) with the
upstream gradient ``(positions, filters)``; the input gradient stays the backend's own
transposed convolution. The patch matrix is built only where it is no larger than the layer's
output (``kh * kw * channels <= filters``), so it costs less memory than the activation the
step keeps anyway. Per-tap products for wide layers were measured too, and were slower than
TF's own kernel gradient (same section), so wide layers keep it.

The forward pass is ``keras.ops.conv`` unchanged, so outputs are bit-identical to
``keras.layers.Conv1D`` / ``Conv2D``; gradients agree to float32 rounding (tested against the
native gradient in ``tests/test_custom_gradient_layers.py``).
"""

from __future__ import annotations

import keras
from keras import ops

from keras_audioattn.layers.custom_gradients import as_tensor, hand_written_backward, upstream_gradient
from keras_audioattn.validation import one_of

_PKG = "keras_audioattn"
GRADIENTS = ("auto", "matmul", "native")


def _shifted_product(x, g, shift):
    """``sum_{b, t} x[b, t + shift]^T g[b, t]`` over ``0 <= t + shift < time`` -> ``(channels, filters)``.

    ``x`` (batch, time, channels) and ``g`` (batch, time, filters) have the same ``time``. The flat
    rows ``(i + shift, i)`` are paired in one product; the pairs that cross from one example into
    the next are taken out: by a second, small product for ``|shift| = 1`` (one row per example
    boundary, and ``time >= 1`` always), by zeroing those rows of ``g`` for larger shifts (which
    stays exact when ``time < |shift|``, where a pair can cross more than one boundary).
    """
    channels, filters = x.shape[-1], g.shape[-1]
    flat_x, flat_g = ops.reshape(x, (-1, channels)), ops.reshape(g, (-1, filters))
    if shift == 0:
        return ops.matmul(ops.transpose(flat_x), flat_g)
    r = abs(shift)
    xs, gs = (flat_x[r:], flat_g[:-r]) if shift > 0 else (flat_x[:-r], flat_g[r:])
    if r > 1:
        time = ops.shape(x)[1]
        t = ops.arange(ops.shape(gs)[0]) % time if shift > 0 else (ops.arange(ops.shape(gs)[0]) + r) % time
        inside = (t < time - r) if shift > 0 else (t >= r)
        return ops.matmul(ops.transpose(xs), gs * ops.cast(inside, gs.dtype)[:, None])
    whole = ops.matmul(ops.transpose(xs), gs)
    if shift > 0:  # g[b, time - 1] was paired with x[b + 1, 0]
        crossing = ops.matmul(ops.transpose(x[1:, 0]), g[:-1, -1])
    else:  # g[b, 0] was paired with x[b - 1, time - 1]
        crossing = ops.matmul(ops.transpose(x[:-1, -1]), g[1:, 0])
    return whole - crossing


def _odd_kernel(kernel, spatial, function):
    """ValueError naming ``function`` unless the ``spatial`` kernel sizes are odd (symmetric "same" padding)."""
    if any(size % 2 != 1 for size in kernel.shape[:spatial]):
        raise ValueError(f"{function}: the kernel size must be odd (symmetric 'same' padding); "
                         f"got a kernel of shape {tuple(kernel.shape)}")


def _plain_same_conv(layer):
    """Whether ``layer`` (Conv1D / Conv2D) selects its hand-written backward and is a case it covers.

    That is stride 1, dilation 1, one group, ``padding="same"``, odd kernel sizes and channels last.
    """
    rank = len(layer.kernel_size)
    return (hand_written_backward(layer.gradient) and layer.padding == "same" and tuple(layer.strides) == (1,) * rank
            and tuple(layer.dilation_rate) == (1,) * rank and layer.groups == 1
            and all(size % 2 == 1 for size in layer.kernel_size) and layer.data_format == "channels_last")


def _bias_and_activation(layer, outputs):
    """What ``keras.layers.ConvND.call`` does after the convolution (channels last)."""
    if layer.use_bias:
        outputs = ops.add(outputs, ops.reshape(layer.bias, (1,) * (len(outputs.shape) - 1) + (layer.filters,)))
    return outputs if layer.activation is None else layer.activation(outputs)


def conv1d_same_matmul_gradient(x, kernel):
    """``keras.ops.conv(x, kernel, padding="same")`` (stride 1, channels last, odd kernel) with the gradient above.

    Args:
      x: ``(batch, time, channels)``.
      kernel: ``(kernel_size, channels, filters)``, ``kernel_size`` odd.

    Returns:
      ``(batch, time, filters)``, identical to ``keras.ops.conv(x, kernel, padding="same")``.
    """
    size = kernel.shape[0]
    _odd_kernel(kernel, 1, "conv1d_same_matmul_gradient")

    @ops.custom_gradient
    def conv(x, kernel):
        def grad(*args, upstream=None):
            g = upstream_gradient(args, upstream)
            reversed_kernel = ops.transpose(ops.flip(kernel, axis=0), (0, 2, 1))
            dx = ops.conv(g, reversed_kernel, strides=1, padding="same")
            half = (size - 1) // 2
            dkernel = ops.stack([_shifted_product(x, g, j - half) for j in range(size)])
            return dx, dkernel

        return ops.conv(x, kernel, strides=1, padding="same"), grad

    return conv(as_tensor(x), as_tensor(kernel))


@keras.saving.register_keras_serializable(package=_PKG)
class Conv1D(keras.layers.Conv1D):
    """``keras.layers.Conv1D`` with the matmul backward pass of this module where it applies: a drop-in replacement.

    It keeps Keras' class name on purpose: a ``.keras`` file addresses each layer's weights by its
    class name (``layers/conv1d_3/...``), so a model saved with ``keras.layers.Conv1D`` loads into
    one built with this layer, and the other way round (``tests/test_saved_before_redesign.py``).

    The forward pass, weights and config are those of ``Conv1D`` (plus ``gradient``). The custom
    backward applies to stride 1, dilation 1, one group, ``padding="same"``, an odd kernel and
    ``channels_last``; any other configuration uses ``Conv1D``'s own gradient.

    Args:
      filters, kernel_size, **kwargs: as ``keras.layers.Conv1D``.
      gradient: ``"auto"`` (default: the matmul gradient on the TensorFlow backend, where it was
        measured faster, the backend's own elsewhere), ``"matmul"`` (every backend) or
        ``"native"`` (never).

    Example:
      >>> conv = Conv1D(128, 3, padding="same", use_bias=False)
      >>> conv(keras.ops.zeros((2, 100, 64))).shape
      (2, 100, 128)
    """

    def __init__(self, filters, kernel_size, gradient="auto", **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self.gradient = one_of(gradient, "gradient", GRADIENTS, type(self).__name__)

    def uses_matmul_gradient(self):
        """Whether this layer's backward pass is the matmul one (on the current backend)."""
        return _plain_same_conv(self)

    def call(self, inputs):
        if not self.uses_matmul_gradient():
            return super().call(inputs)
        return _bias_and_activation(self, conv1d_same_matmul_gradient(inputs, self.kernel))

    def get_config(self):
        return {**super().get_config(), "gradient": self.gradient}


def conv2d_same_patch_gradient(x, kernel):
    """``keras.ops.conv(x, kernel, padding="same")`` (2-D, stride 1, odd kernel) with a patch-matrix kernel gradient.

    Backward: ``dx`` is ``keras.ops.conv_transpose(g, kernel, padding="same")`` (the backend's own
    input gradient); ``dkernel = patches(x)^T g`` with ``patches(x)[(b, h, w), (i, j, c)] =
    x_padded[b, h + i, w + j, c]``, one matrix product.

    Args:
      x: ``(batch, height, width, channels)``.
      kernel: ``(kh, kw, channels, filters)``, ``kh`` and ``kw`` odd.

    Returns:
      ``(batch, height, width, filters)``, identical to ``keras.ops.conv(x, kernel, padding="same")``.
    """
    kh, kw, channels, filters = kernel.shape
    _odd_kernel(kernel, 2, "conv2d_same_patch_gradient")

    @ops.custom_gradient
    def conv(x, kernel):
        def grad(*args, upstream=None):
            g = upstream_gradient(args, upstream)
            dx = ops.conv_transpose(g, kernel, strides=1, padding="same")
            height, width = ops.shape(x)[1], ops.shape(x)[2]
            padded = ops.pad(x, [[0, 0], [(kh - 1) // 2] * 2, [(kw - 1) // 2] * 2, [0, 0]])
            patches = ops.stack([padded[:, i:i + height, j:j + width, :] for i in range(kh) for j in range(kw)],
                                axis=-2)
            patches = ops.reshape(patches, (-1, kh * kw * channels))
            dkernel = ops.matmul(ops.transpose(patches), ops.reshape(g, (-1, filters)))
            return dx, ops.reshape(dkernel, (kh, kw, channels, filters))

        return ops.conv(x, kernel, strides=1, padding="same"), grad

    return conv(as_tensor(x), as_tensor(kernel))


@keras.saving.register_keras_serializable(package=_PKG)
class Conv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` with this module's patch-matrix kernel gradient where it applies: a drop-in.

    Like :class:`Conv1D` it keeps Keras' class name, so ``.keras`` files saved with
    ``keras.layers.Conv2D`` load into models built with it, and the other way round.

    The custom backward applies to stride 1, dilation 1, one group, ``padding="same"``, odd
    kernel sizes, ``channels_last`` and few input channels: ``kh * kw * channels <= filters``
    (the patch matrix is then no larger than the layer's output). Any other configuration, a
    wide layer included, uses ``Conv2D``'s own gradient, which was measured as fast or faster
    there.

    Args:
      filters, kernel_size, **kwargs: as ``keras.layers.Conv2D``.
      gradient: ``"auto"`` (default: the patch gradient on the TensorFlow backend, where it was
        measured faster, the backend's own elsewhere), ``"matmul"`` (every backend) or
        ``"native"`` (never).

    Example:
      >>> conv = Conv2D(64, 3, padding="same", activation="relu")
      >>> conv(keras.ops.zeros((2, 100, 64, 1))).shape
      (2, 100, 64, 64)
    """

    def __init__(self, filters, kernel_size, gradient="auto", **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self.gradient = one_of(gradient, "gradient", GRADIENTS, type(self).__name__)

    def uses_matmul_gradient(self, input_channels=None):
        """Whether the backward pass is the patch one (on this backend; ``input_channels``: the built input's)."""
        if input_channels is None:
            input_channels = self.kernel.shape[2] if self.built else None
        kh, kw = self.kernel_size
        return _plain_same_conv(self) and input_channels is not None and kh * kw * input_channels <= self.filters

    def call(self, inputs):
        if not self.uses_matmul_gradient(inputs.shape[-1]):
            return super().call(inputs)
        return _bias_and_activation(self, conv2d_same_patch_gradient(inputs, self.kernel))

    def get_config(self):
        return {**super().get_config(), "gradient": self.gradient}
