"""Deprecated path: ``audioattn distill`` lives in :mod:`keras_audioattn.cli.distill`."""

from keras_audioattn.cli.common import json_dict as _json_dict  # noqa: F401  (the old private name)
from keras_audioattn.cli.distill import add_parser, run

__all__ = ["add_parser", "run"]
