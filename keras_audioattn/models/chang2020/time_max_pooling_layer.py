"""``TimeMaxPooling``: the head of the VGGish-style teacher of Chang et al. 2020 (Sec. 4.1)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_audioattn")
class TimeMaxPooling(keras.layers.Layer):
    """Max over the time axis of a ``(batch, time, freq, channels)`` map -> ``(batch, freq, channels)``.

    The DCASE 2019 Task 5 second-place head (``torch.max(out, dim=2)`` on ``(b, c, t, f)``);
    TFLite ``REDUCE_MAX``.

    Example:
      >>> TimeMaxPooling()(np.zeros((2, 10, 8, 4), "float32")).shape   # (2, 8, 4)
    """

    def call(self, inputs):
        return ops.max(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[2:])


__all__ = ["TimeMaxPooling"]
