"""The shared helpers catch the defects they exist for (so that a passing layer test means something)."""

import keras
import numpy as np
import pytest

from tests.helpers import assert_gradients_reach_all_weights, run_layer_test


def test_run_layer_test_passes_on_dense(tmp_path):
    run_layer_test(keras.layers.Dense, {"units": 3}, np.ones((2, 4), "float32"), (2, 3), tmp_path=tmp_path)


def test_gradient_check_catches_dead_weight():
    # Zero kernels in both layers: the first kernel gets a zero gradient, which must be reported.
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, kernel_initializer="zeros"),
                              keras.layers.Dense(1, kernel_initializer="zeros")])
    with pytest.raises(AssertionError, match="zero gradient"):
        assert_gradients_reach_all_weights(model, np.ones((2, 4), "float32"))
