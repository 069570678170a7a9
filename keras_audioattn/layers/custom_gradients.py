"""What the layers with a hand-written backward pass share (Conv1D, BatchNormalization of this package)."""

from __future__ import annotations

import keras
from keras import ops


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
