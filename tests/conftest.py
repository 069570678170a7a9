"""Shared pytest set-up: quiet TensorFlow, deterministic seeds, small-configuration mode."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Notebooks read this to run in their small configuration when executed by the test suite.
os.environ.setdefault("AUDIOATTN_SMALL", "1")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_everything():
    import keras

    keras.utils.set_random_seed(1234)
    yield
