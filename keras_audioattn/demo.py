"""Old path of ``make demo``: the demo is :mod:`keras_audioattn.cli.demo` (it runs the CLI and the
exporter). ``python -m keras_audioattn.demo`` still works."""

import sys

from keras_audioattn.cli.demo import FULL, MARKER, SMALL, main, run  # noqa: F401

__all__ = ["FULL", "MARKER", "SMALL", "main", "run"]

if __name__ == "__main__":
    sys.exit(main())
