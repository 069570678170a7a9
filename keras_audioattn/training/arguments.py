"""Argument checks of the training driver: errors name the *argument* (``learning_rate``).

The command line maps argument names to its flags (``--learning-rate``) in one place
(:mod:`keras_audioattn.cli.common`), so the library and the CLI say the same thing in their
own vocabulary. :class:`ArgumentError` lives in :mod:`keras_audioattn.validation` (imported here
under its old path).
"""

from __future__ import annotations

import math

import numpy as np

from keras_audioattn.validation import ArgumentError, ExistingFileArgument, MissingFileArgument  # noqa: F401  (old path)


#: Upper bounds of the numeric arguments (beyond them a value is a typo, not a setting).
MAX_DURATION_S = 3600.0

MAX_SAMPLE_RATE = 384_000


def _check_number(name, value, kind=float, low=None, high=None, low_open=False):
    """Raises ArgumentError naming ``name`` when ``value`` (None: not given) is out of range."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentError(name, f"must be a number, got {value!r}")
    if kind is int and int(value) != value:
        raise ArgumentError(name, f"must be an integer, got {value!r}")
    if not math.isfinite(float(value)):
        raise ArgumentError(name, f"must be finite, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ArgumentError(name, f"must be {'>' if low_open else '>='} {low:g}, got {value!r}")
    if high is not None and value > high:
        raise ArgumentError(name, f"must be <= {high:g}, got {value!r}")


check_number = _check_number  # public name (commands check their own numeric flags with it)


def check_numeric_arguments(epochs=None, batch_size=None, learning_rate=None, patience=None, mixup_alpha=None,
                            sample_rate=None, duration=None, seed=None):
    """Raises ArgumentError naming an out-of-range numeric argument of ``train``."""
    _check_number("epochs", epochs, int, low=1)
    _check_number("batch_size", batch_size, int, low=1)
    _check_number("learning_rate", learning_rate, low=0, low_open=True)
    _check_number("patience", patience, int, low=0)
    _check_number("mixup_alpha", mixup_alpha, low=0)
    _check_number("sample_rate", sample_rate, int, low=1, high=MAX_SAMPLE_RATE)
    _check_number("duration", duration, low=0, low_open=True, high=MAX_DURATION_S)
    _check_number("seed", seed, int, low=0)


__all__ = ["ArgumentError", "ExistingFileArgument", "MAX_DURATION_S", "MAX_SAMPLE_RATE", "MissingFileArgument", "check_number",
           "check_numeric_arguments"]
