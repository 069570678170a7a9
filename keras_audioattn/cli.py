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
    except (UsageError, ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"audioattn {args.command}: error: {error}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
