"""SpecAugment time and frequency masking (Park et al. 2019, §2), the tagger augmentation of Jung et al. 2020.

Jung et al. 2020 (§4.2) train their audio tagger "with augmentations including SpecAugment [27]
and slicing" and give no parameters. :class:`SpecAugment` implements the two masking policies of
the SpecAugment paper on a ``(batch, frames, bins)`` spectrogram:

* frequency masking, ``num_freq_masks`` times: ``f ~ U{0, ..., F}``, ``f0 ~ U{0, ..., ν - f}``,
  bins ``[f0, f0 + f)`` set to ``mask_value``;
* time masking, ``num_time_masks`` times: ``t ~ U{0, ..., min(T, floor(p τ))}``,
  ``t0 ~ U{0, ..., τ - t}``, frames ``[t0, t0 + t)`` set to ``mask_value``,

with ν bins and τ frames of the clip. Defaults: the SpecAugment paper's LD policy (Park et al.
2019, Table 1: F = 27, m_F = 2, T = 100, p = 1.0, m_T = 2; quoted from the published table, the
paper is not in ``shared/papers``), the policy of its best LibriSpeech results. Jung et al. do
not give the tagger's values (nor does this package have Akiyama & Sato's report). Time warping (W) is not
implemented: Park et al. report it as the least influential part and the most expensive.

Masks are drawn independently per example (and per mask; masks may overlap). ``mask_value=0``
after a per-band standardisation is the paper's "set to the mean" (its §2: the log-mel is
normalised to zero mean). Widths are capped at the clip's own size (a short clip is never
indexed out of range). Only active with ``training=True``; at inference the layer is the
identity (and exports as no op). Random draws come from a ``keras.random.SeedGenerator``
(``seed``), so the layer runs on the TensorFlow, JAX and torch backends.

Example::

    x = keras.layers.BatchNormalization()(log_mel)          # (batch, frames, 128), standardised
    x = SpecAugment()(x)                                    # LD policy, training only
"""

from __future__ import annotations

import keras
from keras import ops

_PKG = "keras_audioattn"


def _non_negative_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"SpecAugment: {name} must be a non-negative integer, got {value!r}")
    return value


@keras.saving.register_keras_serializable(package=_PKG)
class SpecAugment(keras.layers.Layer):
    """Time and frequency masking of ``(batch, frames, bins)`` spectrograms in training only.

    Args:
      freq_mask_param: F, the largest frequency-mask width in bins (27).
      num_freq_masks: m_F (2).
      time_mask_param: T, the largest time-mask width in frames (100).
      num_time_masks: m_T (2).
      time_mask_ratio: p, the largest time-mask width as a fraction of the clip's frames (1.0:
        no bound beyond T; Park et al.'s Switchboard policies use 0.2).
      mask_value: value written into masked cells (0.0: the mean of a standardised log-mel).
      seed: seed of the layer's ``SeedGenerator`` (None: random).

    Input / output shape: ``(batch, frames, bins)``, any number of frames.
    """

    def __init__(self, freq_mask_param=27, num_freq_masks=2, time_mask_param=100, num_time_masks=2,
                 time_mask_ratio=1.0, mask_value=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.freq_mask_param = _non_negative_int(freq_mask_param, "freq_mask_param")
        self.num_freq_masks = _non_negative_int(num_freq_masks, "num_freq_masks")
        self.time_mask_param = _non_negative_int(time_mask_param, "time_mask_param")
        self.num_time_masks = _non_negative_int(num_time_masks, "num_time_masks")
        if isinstance(time_mask_ratio, bool) or not isinstance(time_mask_ratio, (int, float)) \
                or not 0.0 <= time_mask_ratio <= 1.0:
            raise ValueError(f"SpecAugment: time_mask_ratio must be in [0, 1], got {time_mask_ratio!r}")
        self.time_mask_ratio = float(time_mask_ratio)
        self.mask_value = float(mask_value)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = False

    def _draw(self, batch, size, count, max_width):
        """``(start, width)`` of ``count`` masks per example, each ``(batch, count)`` int32, with
        ``width ~ U{0..max_width}`` and ``start ~ U{0..size - width}``."""
        shape = (batch, count)
        u_width = keras.random.uniform(shape, seed=self.seed_generator)
        u_start = keras.random.uniform(shape, seed=self.seed_generator)
        max_width = ops.cast(max_width, "float32")
        width = ops.minimum(ops.floor(u_width * (max_width + 1.0)), max_width)
        room = ops.cast(size, "float32") - width
        start = ops.minimum(ops.floor(u_start * (room + 1.0)), room)
        return ops.cast(start, "int32"), ops.cast(width, "int32")

    def sample_masks(self, batch, frames, bins):
        """The masks one training call would draw: ``{"freq": (start, width), "time": (start, width)}``,
        each ``(batch, m)`` int32 (advances the seed generator like a call does)."""
        out = {}
        frames_f = ops.cast(frames, "float32")
        max_t = ops.minimum(ops.minimum(float(self.time_mask_param), ops.floor(self.time_mask_ratio * frames_f)),
                            frames_f)
        max_f = ops.minimum(float(self.freq_mask_param), ops.cast(bins, "float32"))
        if self.num_freq_masks:
            out["freq"] = self._draw(batch, bins, self.num_freq_masks, max_f)
        if self.num_time_masks:
            out["time"] = self._draw(batch, frames, self.num_time_masks, max_t)
        return out

    @staticmethod
    def _band_mask(size, start, width):
        """``(batch, size)`` bool: True inside any of the ``m`` intervals ``[start, start + width)``."""
        index = ops.arange(size, dtype="int32")[None, None, :]
        start, width = start[:, :, None], width[:, :, None]
        inside = ops.logical_and(index >= start, index < start + width)
        return ops.any(inside, axis=1)

    def apply_masks(self, inputs, masks):
        """``inputs`` with the cells of ``masks`` (from :meth:`sample_masks`) set to ``mask_value``."""
        shape = ops.shape(inputs)
        masked = ops.zeros((shape[0], shape[1], shape[2]), dtype="bool")
        if "freq" in masks:
            masked = ops.logical_or(masked, self._band_mask(shape[2], *masks["freq"])[:, None, :])
        if "time" in masks:
            masked = ops.logical_or(masked, self._band_mask(shape[1], *masks["time"])[:, :, None])
        return ops.where(masked, ops.cast(self.mask_value, inputs.dtype), inputs)

    def call(self, inputs, training=None):
        if not training or (self.num_freq_masks == 0 and self.num_time_masks == 0):
            return inputs
        shape = ops.shape(inputs)
        return self.apply_masks(inputs, self.sample_masks(shape[0], shape[1], shape[2]))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(freq_mask_param=self.freq_mask_param, num_freq_masks=self.num_freq_masks,
                      time_mask_param=self.time_mask_param, num_time_masks=self.num_time_masks,
                      time_mask_ratio=self.time_mask_ratio, mask_value=self.mask_value, seed=self.seed)
        return config


#: Park et al. 2019, Table 1 (time warping W omitted): the LD policy is the layer's default.
SPEC_AUGMENT_POLICIES = {
    "LB": dict(freq_mask_param=27, num_freq_masks=1, time_mask_param=100, num_time_masks=1, time_mask_ratio=1.0),
    "LD": dict(freq_mask_param=27, num_freq_masks=2, time_mask_param=100, num_time_masks=2, time_mask_ratio=1.0),
    "SM": dict(freq_mask_param=15, num_freq_masks=2, time_mask_param=70, num_time_masks=2, time_mask_ratio=0.2),
    "SS": dict(freq_mask_param=27, num_freq_masks=2, time_mask_param=70, num_time_masks=2, time_mask_ratio=0.2),
}
