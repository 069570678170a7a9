"""What every ``audioattn`` command shares: the usage error, JSON arguments, and the one mapping
from library argument names (``learning_rate``) to command-line flags (``--learning-rate``).

The library (:mod:`keras_audioattn.training`, ...) raises
:class:`~keras_audioattn.training.arguments.ArgumentError` naming the *argument*; :func:`message`
renders it with the *flag* of the command that ran. A flag is ``--`` + the argument with dashes
(``batch_size`` -> ``--batch-size``) unless :data:`ARGUMENT_FLAGS` / :data:`COMMAND_FLAGS` say
otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from keras_audioattn.files import NonFiniteWeightsError
from keras_audioattn.validation import ArgumentError, render_arguments


class UsageError(Exception):
    """A problem with how a command was called; printed without a traceback."""


class CommandFailed(Exception):
    """The command's result failed its own check (e.g. an exported file); printed without a
    traceback, exit status 1. ``arguments``: library argument names the message mentions."""

    def __init__(self, message, arguments=()):
        super().__init__(message)
        self.arguments = tuple(arguments)


#: Library argument -> flag, where the flag is not ``--`` + the name with dashes.
ARGUMENT_FLAGS = {
    "overrides": "--config-overrides",
    "distillation_setup": "--setup",
    "model_dir": "--model",
    "data_manifest": "--data",
    "json_path": "--json",
    "tagger_model": "--tagger",
    "out_dir": "--out",
}

#: Per command, where one command calls an argument differently from the others.
COMMAND_FLAGS = {
    "distill": {"overrides": "--student-config"},
}


def flag(argument, command=None):
    """The flag of library argument ``argument`` in ``command`` (``"learning_rate"`` -> ``"--learning-rate"``)."""
    named = COMMAND_FLAGS.get(command, {}).get(argument) or ARGUMENT_FLAGS.get(argument)
    return named or "--" + argument.replace("_", "-")


@contextlib.contextmanager
def arguments_as(names):
    """Inside the block, ArgumentErrors of the arguments in ``names`` (library name -> this
    command's name) are raised under the command's name; e.g. ``audioattn distill`` trains its
    teacher with ``{"learning_rate": "teacher_learning_rate"}`` (flag ``--teacher-learning-rate``)."""
    try:
        yield
    except ArgumentError as error:
        if error.argument in names:
            error.argument = names[error.argument]
            error.arguments = (error.argument, *error.arguments[1:])
        raise


def message(error, command=None):
    """One line for ``error`` in the vocabulary of ``command``'s flags."""
    if isinstance(error, ArgumentError):
        return error.render(flag(error.argument, command), lambda a: flag(a, command))
    # "learning_rate=0.1" -> "--learning-rate 0.1", "resume=True" -> "--resume"
    return render_arguments(_plain_message(error), getattr(error, "arguments", ()), lambda a: flag(a, command))


def exit_code(error):
    """Exit status of an error printed as one line (None: an unexpected error, traceback kept)."""
    if isinstance(error, (NonFiniteWeightsError, CommandFailed)):
        return 1
    if isinstance(error, (UsageError, ValueError, FileNotFoundError, FileExistsError, IsADirectoryError,
                          NotADirectoryError, PermissionError)):
        return 2
    if type(error).__module__.startswith("tensorflow") and _decode_error() is not None:
        return 2  # a bad clip met while decoding inside tf.data
    if isinstance(error, OSError):
        return 1  # e.g. a full disk: the message names the file
    return None


def _decode_error():
    module = sys.modules.get("keras_audioattn.data.manifest")
    return getattr(module, "LAST_DECODE_ERROR", None)


def _plain_message(error):
    if type(error).__module__.startswith("tensorflow"):
        return _decode_error()
    if isinstance(error, OSError) and error.filename and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error)


def json_dict(text):
    """argparse type: a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r} ({error})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


__all__ = ["ARGUMENT_FLAGS", "COMMAND_FLAGS", "CommandFailed", "UsageError", "arguments_as", "exit_code", "flag", "json_dict",
           "message"]
