"""``SequenceReadout``: how the CNN-LSTM student of Chang et al. 2020 reads its LSTM (Table 1 + options)."""

from __future__ import annotations

import keras
from keras import ops

from keras_audioattn.validation import one_of

READOUTS = ("last", "mean", "max")


@keras.saving.register_keras_serializable(package="keras_audioattn")
class SequenceReadout(keras.layers.Layer):
    """``(batch, steps, units)`` -> ``(batch, units)``: the last step, or the mean / max over steps.

    Args:
      mode: ``"last"`` (TFLite ``STRIDED_SLICE``), ``"mean"`` (``MEAN``) or ``"max"``
        (``REDUCE_MAX``).

    Example:
      >>> SequenceReadout("mean")(np.ones((2, 5, 3), "float32")).shape   # (2, 3)
    """

    def __init__(self, mode="last", **kwargs):
        super().__init__(**kwargs)
        self.mode = one_of(mode, "mode", READOUTS, "SequenceReadout")

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


__all__ = ["READOUTS", "SequenceReadout"]
