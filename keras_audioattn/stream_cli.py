"""Deprecated path: ``audioattn stream`` lives in :mod:`keras_audioattn.cli.stream`."""

from keras_audioattn.cli.stream import add_parser, run

__all__ = ["add_parser", "run"]
