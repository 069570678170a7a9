"""The ``audioattn`` command line.

Each sub-command lives in its own module that defines ``add_parser(subparsers)``; the module
registers a parser whose ``func`` default is called with the parsed arguments. (Importing
``keras_audioattn`` imports TensorFlow, to register the package's Keras objects.)
"""

from __future__ import annotations

import argparse
import importlib
import sys

from keras_audioattn.version import __version__

# Modules that contribute sub-commands (each has ``add_parser(subparsers)``).
COMMAND_MODULES = [
    "keras_audioattn.data.make_data_cli",
    "export.cli",
    "keras_audioattn.distill_cli",
    "keras_audioattn.train_cli",
    "keras_audioattn.stream_cli",
]


class UsageError(Exception):
    """A problem with how a command was called; printed without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audioattn",
        description="Attention-based audio models: data, training, distillation and export.",
    )
    parser.add_argument("--version", action="version", version=f"audioattn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if getattr(args, "backend", None):  # Keras is imported already: rerun under that backend
            from keras_audioattn import backends

            code = backends.relaunch(args.backend, list(sys.argv[1:] if argv is None else argv))
            if code is not None:
                return int(code)
        result = args.func(args)
    except KeyboardInterrupt:
        print(f"audioattn {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001  (mapped to one line; unknown errors re-raised)
        code = _exit_code(error)
        if code is None:
            raise
        print(f"audioattn {args.command}: error: {_message(error)}", file=sys.stderr)
        return code
    return int(result or 0)


def _exit_code(error):
    """Exit status of an error printed as one line (None: an unexpected error, traceback kept)."""
    from keras_audioattn.files import NonFiniteWeightsError

    if isinstance(error, NonFiniteWeightsError):
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


def _message(error):
    if type(error).__module__.startswith("tensorflow"):
        return _decode_error()
    if isinstance(error, OSError) and error.filename and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error)


if __name__ == "__main__":
    sys.exit(main())
