"""An LSTM whose cell state is clipped every step, as TFLite's fused LSTM does with ``cell_clip``.

Why: TFLite's full-integer LSTM kernel holds the cell state in int16 with a power-of-two scale
of at most 2^-11, i.e. within about ±16. A Keras LSTM never bounds its cell state, and trained
students integrate evidence into it: measured on CNN-LSTM students (Chang et al. 2020, LSTM 64,
2 s synthetic tagging clips, 30 epochs) the cell reached |c| = 86-97 on every test clip, and
the int8 file lost 0.09 micro-AUPRC against Keras (0.686 vs 0.772). Training with the clip the
deployed kernel applies removes that mismatch (``docs/export.md``, ``docs/chang2020.md``).

``ClippedLSTM(units, cell_clip=10.0, ...)`` is ``keras.layers.LSTM`` with, at every step,
``c_t = clip(f_t * c_{t-1} + i_t * g_t, -cell_clip, cell_clip)`` and ``h_t = o_t * tanh(c_t)``:
exactly the fused TFLite op with ``cell_clip`` set (``export.to_tflite`` writes the layer's value
into the op). cuDNN has no clip, so the layer never uses it.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_audioattn.validation import positive_number


@keras.saving.register_keras_serializable(package="keras_audioattn")
class ClippedLSTMCell(keras.layers.LSTMCell):
    """``keras.layers.LSTMCell`` whose new cell state is clipped to ``[-cell_clip, cell_clip]``."""

    def __init__(self, units, cell_clip=10.0, **kwargs):
        super().__init__(units, **kwargs)
        self.cell_clip = positive_number(cell_clip, "cell_clip", "ClippedLSTMCell")

    def _compute_carry_and_output(self, x, h_tm1, c_tm1):
        c, o = super()._compute_carry_and_output(x, h_tm1, c_tm1)
        return ops.clip(c, -self.cell_clip, self.cell_clip), o

    def _compute_carry_and_output_fused(self, z, c_tm1):
        c, o = super()._compute_carry_and_output_fused(z, c_tm1)
        return ops.clip(c, -self.cell_clip, self.cell_clip), o

    def get_config(self):
        return {**super().get_config(), "cell_clip": self.cell_clip}


@keras.saving.register_keras_serializable(package="keras_audioattn")
class ClippedLSTM(keras.layers.LSTM):
    """``keras.layers.LSTM`` with the cell state clipped to ``±cell_clip`` each step (see module doc).

    Input ``(batch, time, features)``; output ``(batch, units)`` or ``(batch, time, units)``
    with ``return_sequences=True``, as ``keras.layers.LSTM``.
    """

    def __init__(self, units, cell_clip=10.0, **kwargs):
        kwargs["use_cudnn"] = False  # cuDNN's kernel cannot clip the cell state
        super().__init__(units, **kwargs)
        config = self.cell.get_config()
        self.cell = ClippedLSTMCell(cell_clip=cell_clip, **config)
        self.cell_clip = self.cell.cell_clip

    def get_config(self):
        config = super().get_config()
        config.pop("use_cudnn", None)
        return {**config, "cell_clip": self.cell_clip}


__all__ = ["ClippedLSTM", "ClippedLSTMCell"]
