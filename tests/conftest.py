"""Shared test fixtures: deterministic seeds (environment set-up: the root conftest.py)."""

import pytest


@pytest.fixture(autouse=True)
def _seed_everything():
    import keras

    keras.utils.set_random_seed(1234)
    yield
