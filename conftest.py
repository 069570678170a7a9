"""Root pytest set-up, loaded for tests/ and notebooks/ alike (the notebooks read AUDIOATTN_SMALL)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Notebooks read this to run in their small configuration when executed by the test suite.
os.environ.setdefault("AUDIOATTN_SMALL", "1")
