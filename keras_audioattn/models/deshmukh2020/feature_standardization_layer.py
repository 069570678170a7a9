"""Feature standardisation of Deshmukh et al. (2020): the authors' per-mel-bin scaler (Sec. IV-D).

The log-mel that the 2APAE network sees, and that its decoder reconstructs, is z-scored per mel
bin with statistics fitted on the training folds (the authors' ``StandardScaler``).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_audioattn.validation import one_of, positive_number

MODES = ("dataset", "per_clip")


@keras.saving.register_keras_serializable(package="keras_audioattn")
class FeatureStandardization(keras.layers.Layer):
    """Z-scores a log-mel ``(batch, time, mel)`` per mel bin; same shape out.

    ``mode="dataset"``: ``(x - mean) / std`` with per-bin statistics held as non-trainable
    weights (saved with the model), set from training data by :meth:`adapt` -- the authors'
    scaler, fitted on the training folds. Before ``adapt`` the statistics are 0 and 1 (identity).
    ``mode="per_clip"``: each clip is standardised with its own per-bin mean and std over time
    (no statistics to fit; useful when the level of the recordings varies).

    Example::

        norm = FeatureStandardization("dataset")
        norm.adapt(train_log_mels)            # (examples, time, mel) or a list of (time, mel)
        z = norm(log_mel)                     # (batch, time, mel), per-bin zero mean, unit std
    """

    def __init__(self, mode="dataset", epsilon=1e-6, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.mode = one_of(mode, "mode", MODES, "FeatureStandardization")
        self.epsilon = positive_number(epsilon, "epsilon", "FeatureStandardization")

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"FeatureStandardization expects (batch, time, mel) with a known mel axis; "
                             f"got {tuple(input_shape)}")
        if self.mode == "dataset":
            self.mean = self.add_weight(name="mean", shape=(input_shape[-1],), initializer="zeros",
                                        trainable=False)
            self.std = self.add_weight(name="std", shape=(input_shape[-1],), initializer="ones",
                                       trainable=False)
        self.built = True

    def adapt(self, data):
        """Sets the per-bin mean/std from ``data`` ``(examples, time, mel)`` (a NumPy array or a
        list of ``(time, mel)`` arrays of any lengths)."""
        if self.mode != "dataset":
            raise ValueError("FeatureStandardization.adapt applies to mode='dataset' only")
        frames = np.concatenate([np.asarray(d, np.float64).reshape(-1, np.shape(d)[-1]) for d in data], axis=0)
        if not self.built:
            self.build((None, None, frames.shape[-1]))
        if frames.shape[-1] != self.mean.shape[0]:
            raise ValueError(f"FeatureStandardization.adapt: data has {frames.shape[-1]} mel bins, "
                             f"the layer {self.mean.shape[0]}")
        self.mean.assign(frames.mean(axis=0).astype("float32"))
        self.std.assign(np.maximum(frames.std(axis=0), self.epsilon).astype("float32"))

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "dataset":
            return (x - self.mean) / self.std
        mean = ops.mean(x, axis=1, keepdims=True)
        std = ops.sqrt(ops.var(x, axis=1, keepdims=True) + self.epsilon ** 2)
        return (x - mean) / std

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode, epsilon=self.epsilon)
        return config


__all__ = ["FeatureStandardization", "MODES"]
