"""BatchNormalization whose training-mode backward pass is the closed-form gradient (same maths, fewer passes).

Why: Keras 3 normalizes with ``ops.moments`` + ``ops.batch_normalization``, and on TensorFlow the
gradient of that graph is built op by op: about a dozen full passes over the activation (Mul,
Sum, Tile, Mean, SquaredDifference, Sub, AddN), where PyTorch and TF's own fused kernel need a
few. On the raw-waveform ASC (batch 24, 20 000 frames x 128 channels after the strided conv) one
BatchNorm took 320 ms forward + backward against 207 ms for the closed form below (AMD EPYC,
2 threads; docs/benchmarks.md).

With ``x_hat = (x - mean) * r``, ``r = 1 / sqrt(var + eps)`` and the batch statistics over the
``n`` positions of each channel (Ioffe & Szegedy 2015, §3)::

    d_beta  = sum g                     d_gamma = sum g * x_hat
    d_x     = gamma * r * (g - (d_beta + x_hat * d_gamma) / n)

The forward pass is Keras' formula (batch mean and ``mean((x - mean)^2)``, then
``ops.batch_normalization``) with the two channel sums of the statistics as the same (1, n) x
(n, C) products (:func:`channel_moments`; against ``ops.moments`` an estimated 70-90 ms of a
2.2 s ASC step from per-op timings, whole-step A/Bs 1.01x and 1.10x; docs/benchmarks.md).
Outputs, moving statistics and gradients agree with ``keras.layers.BatchNormalization`` to
float32 rounding, about 1e-5 relative (``tests/test_custom_gradient_layers.py``), not bit for bit.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_audioattn.layers.custom_gradients import as_tensor, hand_written_backward, upstream_gradient
from keras_audioattn.validation import one_of

_PKG = "keras_audioattn"
BATCH_NORM_GRADIENTS = ("auto", "closed_form", "native")


def _channel_sum(x, axis):
    """Sum over every axis but ``axis``; channels last: a (1, n) x (n, channels) product, about 2x faster on TF."""
    ndim = len(x.shape)
    axis = axis % ndim
    if axis != ndim - 1:
        return ops.sum(x, axis=tuple(a for a in range(ndim) if a != axis))
    flat = ops.reshape(x, (-1, x.shape[-1]))
    return ops.matmul(ops.ones((1, ops.shape(flat)[0]), x.dtype), flat)[0]


def channel_moments(x, axis):
    """Batch mean and biased variance of each channel over every axis but ``axis``.

    The variance is ``mean((x - mean)^2)``, the two-pass formula of TensorFlow's and JAX's
    ``ops.moments`` (torch's computes ``E[x^2] - E[x]^2``). The two sums are :func:`_channel_sum`
    products instead of reductions: float32 rounding in another order (relative error against
    float64 6e-5 for the mean, 7e-5 for the variance, against 2e-5 and 3e-5 for ``ops.moments``),
    60 -> 35-40 ms at 24 x 20 000 x 128 on TensorFlow (AMD EPYC, 2 threads; docs/benchmarks.md).

    Args:
      x: tensor of any rank.
      axis: the channel axis (negative counts from the end).

    Returns:
      ``(mean, variance)``, each of shape ``(x.shape[axis],)``.
    """
    count = ops.cast(ops.size(x) // ops.shape(x)[axis], x.dtype)
    broadcast = [1] * len(x.shape)
    broadcast[axis] = -1
    mean = _channel_sum(x, axis) / count
    variance = _channel_sum(ops.square(x - ops.reshape(mean, broadcast)), axis) / count
    return mean, variance


def batch_normalization_closed_form_gradient(x, mean, variance, gamma, beta, axis, epsilon):
    """``ops.batch_normalization(x, mean, variance, axis, beta, gamma, epsilon)`` with the closed-form gradient.

    ``mean`` and ``variance`` must be the batch statistics of ``x`` over every axis but ``axis``
    (the gradient with respect to ``x`` includes their dependence on ``x``; they get none of their own).
    """
    ndim = len(x.shape)
    axis = axis % ndim
    broadcast = [1] * ndim
    broadcast[axis] = -1

    def channel(v):
        return ops.reshape(v, broadcast)

    def channel_sum(v):
        return _channel_sum(v, axis)

    @ops.custom_gradient
    def normalize(x, mean, variance, gamma, beta):
        def grad(*args, upstream=None):
            g = upstream_gradient(args, upstream)
            count = ops.cast(ops.size(g) // ops.shape(g)[axis], g.dtype)
            inverse_std = ops.rsqrt(variance + epsilon)
            centred = x - channel(mean)
            d_beta = channel_sum(g)
            d_gamma = channel_sum(g * centred) * inverse_std
            # d_x = gamma r (g - (d_beta + x_hat d_gamma) / n), x_hat = centred r: six full-size passes
            d_x = channel(gamma * inverse_std) * (
                g - (centred * channel(inverse_std * d_gamma / count) + channel(d_beta / count)))
            return d_x, ops.zeros_like(mean), ops.zeros_like(variance), d_gamma, d_beta

        y = ops.batch_normalization(x, mean, variance, axis=axis, offset=beta, scale=gamma, epsilon=epsilon)
        return y, grad

    return normalize(*(as_tensor(v) for v in (x, mean, variance, gamma, beta)))


@keras.saving.register_keras_serializable(package=_PKG)
class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` with the closed-form training gradient where it applies (drop-in).

    It keeps Keras' class name on purpose: a ``.keras`` file addresses each layer's weights by its
    class name, so models saved with ``keras.layers.BatchNormalization`` load into one built with
    this layer (``tests/test_saved_before_redesign.py``).

    Weights, config (plus ``gradient``), inference and the moving-statistics update are
    ``BatchNormalization``'s. The closed form applies in training mode to a trainable layer with
    ``center`` and ``scale``, no mask, no renorm and no synchronized statistics; anything else runs
    ``BatchNormalization.call``.

    Args:
      gradient: ``"auto"`` (default: the closed form on the TensorFlow backend, where it was
        measured faster; the backend's own gradient elsewhere), ``"closed_form"`` (every
        backend) or ``"native"`` (never).
      **kwargs: as ``keras.layers.BatchNormalization``.

    Example:
      >>> bn = BatchNormalization(momentum=0.9)
      >>> bn(keras.ops.ones((2, 10, 4)), training=True).shape
      (2, 10, 4)
    """

    def __init__(self, gradient="auto", **kwargs):
        super().__init__(**kwargs)
        self.gradient = one_of(gradient, "gradient", BATCH_NORM_GRADIENTS, type(self).__name__)

    def uses_closed_form_gradient(self, training=True, mask=None):
        """Whether a call with ``training`` and ``mask`` takes the closed-form path (on the current backend)."""
        return bool(hand_written_backward(self.gradient) and training and self.trainable and mask is None
                    and self.center and self.scale and not self.renorm and not self.synchronized)

    def call(self, inputs, training=None, mask=None):
        if not self.uses_closed_form_gradient(training, mask):
            return super().call(inputs, training=training, mask=mask)
        compute_dtype = keras.backend.result_type(inputs.dtype, "float32")  # as Keras: statistics in float32
        inputs = ops.cast(inputs, compute_dtype)
        mean, variance = channel_moments(ops.stop_gradient(inputs), self.axis)
        self.moving_mean.assign(ops.cast(self.moving_mean, compute_dtype) * self.momentum
                                + mean * (1.0 - self.momentum))
        self.moving_variance.assign(ops.cast(self.moving_variance, compute_dtype) * self.momentum
                                    + variance * (1.0 - self.momentum))
        outputs = batch_normalization_closed_form_gradient(
            inputs, mean, variance, ops.cast(self.gamma, compute_dtype), ops.cast(self.beta, compute_dtype),
            self.axis, self.epsilon)
        return ops.cast(outputs, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "gradient": self.gradient}
