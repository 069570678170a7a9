import sys

from keras_audioattn.cli import main

sys.exit(main())
