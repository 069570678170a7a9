"""What the layers with a hand-written backward pass share (Conv1D, BatchNormalization of this package)."""

from __future__ import annotations

import keras
from keras import ops


#: A model's ``custom_gradients`` setting: its hand-written-backward layers get ``"auto"``, their
#: own forced setting (``"always"``) or ``"native"`` (``"never"``); see :func:`layer_gradient`.
CUSTOM_GRADIENTS = ("auto", "always", "never")


def layer_gradient(custom_gradients, forced):
    """A layer's ``gradient`` argument for a model's ``custom_gradients``; ``forced``: the layer's name for "on"."""
    return {"auto": "auto", "always": forced, "never": "native"}[custom_gradients]


def as_tensor(value):
    """A tensor (``ops.convert_to_tensor`` returns a Keras variable unchanged; ``ops.copy`` reads it).

    ``ops.custom_gradient`` functions take tensors, not variables: TF's would otherwise want a
    gradient per captured variable.
    """
    return ops.copy(value) if isinstance(value, keras.Variable) else ops.convert_to_tensor(value)


def upstream_gradient(args, upstream):
    """The upstream gradient of a ``grad(*args, upstream=None)``: TF passes it positionally, JAX / torch by keyword."""
    return args[0] if upstream is None else upstream


def hand_written_backward(gradient):
    """Whether a layer's ``gradient`` setting selects its hand-written backward on the current backend.

    ``"native"``: never; ``"auto"``: on TensorFlow only (where it was measured faster; slower on
    JAX and torch, docs/benchmarks.md); any other setting (``"matmul"``, ``"closed_form"``): always.
    """
    if gradient == "native":
        return False
    return gradient != "auto" or keras.backend.backend() == "tensorflow"
