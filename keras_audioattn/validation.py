"""Argument checks shared by every layer, model, preset and training function.

Each check returns the cleaned value or raises ``ValueError`` with one message shape:
``"<owner>: `<name>` must be <what>, got <value>."`` (``owner`` is the class or function that
received the argument; the CLI maps argument names to its flags, see ``keras_audioattn.cli``).
Arguments of the training workflow that get a bad value raise :class:`ArgumentError` (a
ValueError naming the argument; the CLI renders it with its flag). This module imports only
NumPy so that every other module can use it.

Example:
  >>> positive_int(3, "num_classes", "CABCNN")
  3
  >>> positive_int(0, "num_classes", "CABCNN")
  Traceback (most recent call last):
  ValueError: CABCNN: `num_classes` must be a positive integer, got 0.
"""

from __future__ import annotations

import difflib
import math
import re

import numpy as np


class ArgumentError(ValueError):
    """A bad value of a named argument. ``str()``: ``"<argument> <problem>"``.

    The library names *arguments* (``learning_rate``); the command line renders the same error
    with its *flags* (``--learning-rate``, :func:`keras_audioattn.cli.common.message`).

    Attributes:
      argument: the argument's Python name (``"learning_rate"``).
      problem: what is wrong, without the name (``"must be > 0, got 0"``); other arguments it
        mentions are written ``name=value`` / ``name=True`` (a switch) / ```name``` (the
        argument itself), and listed in ``mentions``.
      arguments: ``(argument, *mentions)`` (the CLI replaces each with its flag).
      leading: ``False``: the message is ``problem`` alone (it mentions ``argument`` itself).

    Example::

        raise ArgumentError("epochs", "must be >= 1, got 0")
        ArgumentError("out", "runs/a exists: pass resume=True or overwrite=True", mentions=("resume", "overwrite"))
    """

    def __init__(self, argument, problem, mentions=(), leading=True):
        self.argument, self.problem, self.leading = argument, problem, leading
        self.arguments = (argument, *mentions)
        super().__init__(self.render(argument))

    def render(self, name, flag_of=None):
        """The message with ``name`` (e.g. the CLI's flag) for the argument, and each mentioned
        argument through ``flag_of`` (None: in the library's ``name=value`` form)."""
        text = self.problem if not self.leading else (
            f"{name}{'' if self.problem.startswith(':') else ' '}{self.problem}")
        return text if flag_of is None else render_arguments(text, self.arguments, flag_of)


class MissingFileArgument(ArgumentError, FileNotFoundError):
    """A path argument that names no file (a FileNotFoundError too)."""


class ExistingFileArgument(ArgumentError, FileExistsError):
    """A path argument that names something that must not exist yet (a FileExistsError too)."""


def render_arguments(text, arguments, flag_of):
    """``text`` with each argument of ``arguments`` as ``flag_of(name)``: ``name=True`` (a
    switch) -> the flag, ``name=value`` -> ``flag value``, ```name``` -> the flag.

    Example: ``render_arguments("pass resume=True", ["resume"], lambda a: "--" + a) == "pass --resume"``.
    """
    for argument in arguments:
        name = re.escape(argument)
        text = re.sub(rf"`{name}`", lambda _: flag_of(argument), text)
        text = re.sub(rf"\b{name}=True\b", lambda _: flag_of(argument), text)
        text = re.sub(rf"\b{name}=", lambda _: flag_of(argument) + " ", text)
    return text


def as_argument_error(error, argument, mentions=()):
    """``error`` (a ValueError / FileExistsError / FileNotFoundError whose message starts with
    ``argument``, e.g. from :mod:`keras_audioattn.files` called with ``what=argument``) as the
    ArgumentError of the same kind naming ``argument``."""
    text = str(error)
    problem = text[len(argument):] if text.startswith(argument) else f": {text}"
    problem = problem[1:] if problem.startswith(" ") else problem
    kind = (ExistingFileArgument if isinstance(error, FileExistsError) else
            MissingFileArgument if isinstance(error, FileNotFoundError) else ArgumentError)
    return kind(argument, problem, mentions)


def _prefix(owner):
    return f"{owner}: " if owner else ""


def _is_int(value):
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def _is_number(value):
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def positive_int(value, name, owner=None):
    """``int(value)`` for an integer >= 1."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{_prefix(owner)}`{name}` must be a positive integer, got {value!r}.")
    return int(value)


def non_negative_int(value, name, owner=None):
    """``int(value)`` for an integer >= 0."""
    if not _is_int(value) or value < 0:
        raise ValueError(f"{_prefix(owner)}`{name}` must be a non-negative integer, got {value!r}.")
    return int(value)


def optional(check, value, *args, **kwargs):
    """``None`` for ``None``, else ``check(value, *args, **kwargs)``."""
    return None if value is None else check(value, *args, **kwargs)


def number(value, name, owner=None, low=None, high=None, low_open=False, high_open=False, integer=False):
    """A finite number within ``[low, high]`` (``low_open`` / ``high_open`` exclude the bound).

    Returns ``int`` when ``integer`` (the value must then be integral), else ``float``.
    """
    what = "an integer" if integer else "a number"
    if not _is_number(value):
        raise ValueError(f"{_prefix(owner)}`{name}` must be {what}, got {value!r}.")
    if integer and int(value) != value:
        raise ValueError(f"{_prefix(owner)}`{name}` must be an integer, got {value!r}.")
    if not math.isfinite(float(value)):
        raise ValueError(f"{_prefix(owner)}`{name}` must be finite, got {value!r}.")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{_prefix(owner)}`{name}` must be {'>' if low_open else '>='} {low:g}, got {value!r}.")
    if high is not None and (value >= high if high_open else value > high):
        raise ValueError(f"{_prefix(owner)}`{name}` must be {'<' if high_open else '<='} {high:g}, got {value!r}.")
    return int(value) if integer else float(value)


def positive_number(value, name, owner=None):
    """A finite float > 0."""
    return number(value, name, owner, low=0.0, low_open=True)


def probability(value, name, owner=None, inclusive_high=False):
    """A float in ``[0, 1)`` (``[0, 1]`` with ``inclusive_high``), e.g. a dropout rate."""
    return number(value, name, owner, low=0.0, high=1.0, high_open=not inclusive_high)


def one_of(value, name, choices, owner=None):
    """``value`` when it is one of ``choices`` (the message lists them)."""
    if value not in tuple(choices):
        raise ValueError(f"{_prefix(owner)}`{name}` must be one of {tuple(choices)}, got {value!r}.")
    return value


def int_sequence(value, name, owner=None, length=None, low=1, allow_empty=False):
    """A tuple of integers >= ``low`` (of ``length`` items when given) from a list or tuple."""
    if not isinstance(value, (list, tuple)) or any(not _is_int(v) or v < low for v in value) or (
            not value and not allow_empty):
        bound = "positive integers" if low == 1 else f"integers >= {low}"
        raise ValueError(f"{_prefix(owner)}`{name}` must be a list of {bound}, got {value!r}.")
    if length is not None and len(value) != length:
        raise ValueError(f"{_prefix(owner)}`{name}` must have {length} entries, got {len(value)} ({value!r}).")
    return tuple(int(v) for v in value)


def unknown_arguments(owner, given, allowed):
    """Raises ``TypeError`` naming every name of ``given`` that is not in ``allowed``, with close matches."""
    unknown = [name for name in given if name not in allowed]
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(allowed), n=1, cutoff=0.6)
        hints.append(f"`{name}`" + (f" (did you mean `{close[0]}`?)" if close else ""))
    raise TypeError(f"{owner}: unknown argument{'s' if len(unknown) > 1 else ''} {', '.join(hints)}; "
                    f"valid arguments: {', '.join(sorted(allowed))}.")


__all__ = ["ArgumentError", "ExistingFileArgument", "MissingFileArgument", "as_argument_error", "render_arguments",
           "int_sequence", "non_negative_int", "number", "one_of", "optional", "positive_int",
           "positive_number", "probability", "unknown_arguments"]
