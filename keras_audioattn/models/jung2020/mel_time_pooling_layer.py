"""``MelTimePooling``: the global pooling of the tag source :class:`AudioTagger` (Jung et al. 2020, §2.2)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_audioattn")
class MelTimePooling(keras.layers.Layer):
    """``(batch, time, mel, channels)`` -> mean over mel -> ``max_t + mean_t`` -> ``(batch, channels)``.

    Example:
      >>> MelTimePooling()(np.ones((2, 8, 4, 3), "float32")).shape   # (2, 3)
    """

    def call(self, x):
        x = ops.mean(x, axis=2)
        return ops.max(x, axis=1) + ops.mean(x, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


__all__ = ["MelTimePooling"]
