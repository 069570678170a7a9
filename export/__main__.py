"""``python -m export ...`` is ``audioattn export ...``."""

import sys

from keras_audioattn.cli import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
