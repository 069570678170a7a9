"""Deprecated path: ``audioattn make-data`` lives in :mod:`keras_audioattn.cli.make_data`.

(The data package does not depend on the CLI: only this old path, kept for earlier imports,
points there.)
"""

from keras_audioattn.cli.make_data import add_parser, run

__all__ = ["add_parser", "run"]
