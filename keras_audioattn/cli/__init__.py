"""The ``audioattn`` command line: one ``main`` and one thin module per command.

Each command module defines ``add_parser(subparsers)``; it registers a parser whose ``func``
default is called with the parsed arguments. Errors the library raises name its arguments;
:mod:`keras_audioattn.cli.common` maps them to the flags of the command that ran. This package is
the only part of ``keras_audioattn`` that imports ``export`` (in :mod:`~keras_audioattn.cli.export`,
:mod:`~keras_audioattn.cli.stream` and :mod:`~keras_audioattn.cli.demo`, ``make demo``). (Importing ``keras_audioattn`` imports TensorFlow, to
register the package's Keras objects.)
"""

from __future__ import annotations

import argparse
import importlib
import sys

from keras_audioattn import backends
from keras_audioattn.cli.common import UsageError, exit_code, message
from keras_audioattn.version import __version__

# Modules that contribute sub-commands (each has ``add_parser(subparsers)``), in --help order.
COMMAND_MODULES = [
    "keras_audioattn.cli.make_data",
    "keras_audioattn.cli.export",
    "keras_audioattn.cli.distill",
    "keras_audioattn.cli.presets",
    "keras_audioattn.cli.train",
    "keras_audioattn.cli.evaluate",
    "keras_audioattn.cli.predict",
    "keras_audioattn.cli.stream",
]


def build_parser() -> argparse.ArgumentParser:
    """The ``audioattn`` parser with every command of :data:`COMMAND_MODULES`."""
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
    """Runs ``audioattn`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if getattr(args, "backend", None):  # Keras is imported already: rerun under that backend
            code = backends.relaunch(args.backend, list(sys.argv[1:] if argv is None else argv))
            if code is not None:
                return int(code)
        result = args.func(args)
    except KeyboardInterrupt:
        print(f"audioattn {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001  (mapped to one line; unknown errors re-raised)
        code = exit_code(error)
        if code is None:
            raise
        print(f"audioattn {args.command}: error: {message(error, args.command)}", file=sys.stderr)
        return code
    return int(result or 0)


__all__ = ["COMMAND_MODULES", "UsageError", "build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
