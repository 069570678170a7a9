"""The shared test helpers' old names, kept importable: everything lives in :mod:`tests.kit`.

``run_layer_test`` / ``run_model_test`` / ``assert_overfits`` / the assertion helpers are the kit's;
``run_tflite`` / ``tflite_op_names`` / ``assert_tflite_builtin_only`` are the kit's thin views of
:mod:`export.checks` (the package's one LiteRT runner and one "builtin ops" rule).
"""

from tests.kit import (  # noqa: F401
    _as_list,
    _to_numpy_tree,
    _wrap_layer,
    assert_config_round_trip,
    assert_fit_step,
    assert_gradients_reach_all_weights,
    assert_keras_round_trip,
    assert_outputs_close,
    assert_overfits,
    assert_tflite_builtin_only,
    run_layer_test,
    run_litert_export_test,
    run_model_saving_test,
    run_model_test,
    run_preset_test,
    run_tflite,
    tflite_op_names,
)

__all__ = [
    "assert_config_round_trip", "assert_fit_step", "assert_gradients_reach_all_weights", "assert_keras_round_trip",
    "assert_outputs_close", "assert_overfits", "assert_tflite_builtin_only", "run_layer_test",
    "run_litert_export_test", "run_model_saving_test", "run_model_test", "run_preset_test", "run_tflite",
    "tflite_op_names",
]
