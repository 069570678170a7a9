"""``ChannelMean``: the stereo -> mono mix in front of the tagger of :class:`TagConditionedASC` (Jung et al. 2020)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_audioattn")
class ChannelMean(keras.layers.Layer):
    """``(batch, samples, channels)`` -> ``(batch, samples)``: the mean of the channels (stereo -> mono).

    Example:
      >>> ChannelMean()(np.ones((2, 100, 2), "float32")).shape   # (2, 100)
    """

    def call(self, x):
        return ops.mean(x, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])


__all__ = ["ChannelMean"]
