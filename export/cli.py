"""Deprecated path: ``audioattn export`` lives in :mod:`keras_audioattn.cli.export` (the CLI is
the one part of ``keras_audioattn`` that imports ``export``; ``export`` never imports the CLI
but for this old path)."""

from keras_audioattn.cli.export import LABEL_FILES, add_parser, run

__all__ = ["LABEL_FILES", "add_parser", "run"]
