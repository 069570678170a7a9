"""The test kit catches the defects it exists for (so that a passing model test means something)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from export import checks
from tests import helpers, kit
from tests.export_models import NUM_SAMPLES, SAMPLE_RATE, tiny_conv_model, waveforms
from tests.helpers import assert_gradients_reach_all_weights, run_layer_test


def test_run_layer_test_passes_on_dense(tmp_path):
    run_layer_test(keras.layers.Dense, {"units": 3}, np.ones((2, 4), "float32"), (2, 3), tmp_path=tmp_path)


def test_gradient_check_catches_dead_weight():
    # Zero kernels in both layers: the first kernel gets a zero gradient, which must be reported.
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, kernel_initializer="zeros"),
                              keras.layers.Dense(1, kernel_initializer="zeros")])
    with pytest.raises(AssertionError, match="zero gradient"):
        assert_gradients_reach_all_weights(model, np.ones((2, 4), "float32"))


def test_helpers_names_are_the_kits():
    for name in ("run_layer_test", "run_model_test", "assert_overfits", "run_tflite", "tflite_op_names",
                 "assert_tflite_builtin_only", "assert_gradients_reach_all_weights"):
        assert getattr(helpers, name) is getattr(kit, name), name


def _two_output_model():
    x = keras.Input((6,), name="waveform")
    h = keras.layers.Dense(4, activation="tanh", name="hidden")(x)
    return keras.Model(x, {"scores": keras.layers.Dense(3, activation="sigmoid", name="scores")(h),
                           "embedding": h})


def test_run_model_test_on_a_dict_output_model_keeps_the_weights(tmp_path):
    model = _two_output_model()
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    before = [np.array(w) for w in model.get_weights()]
    loaded = kit.run_model_test(model, x, tmp_path)
    assert isinstance(loaded, keras.Model)
    # The fit step ran on the reloaded copy: the model under test is unchanged.
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_fit_step_catches_a_model_that_does_not_train():
    model = _two_output_model()
    x = np.ones((2, 6), "float32")
    with pytest.raises(AssertionError, match="changed no weight"):
        kit.assert_fit_step(model, x, optimizer=keras.optimizers.SGD(0.0))


def test_saving_test_catches_an_unregistered_subclass(tmp_path):
    class Unregistered(keras.Model):  # a subclass with no register_keras_serializable
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Unregistered()
    x = np.ones((2, 3), "float32")
    model(x)
    with pytest.raises(Exception):
        kit.run_model_saving_test(model, x, tmp_path)


def _convert(fn, custom_ops=False):
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    if custom_ops:
        converter.allow_custom_ops = True
    else:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    return converter.convert()


@tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32)])
def _cumprod(x):
    return tf.math.cumprod(x, axis=1, exclusive=True, reverse=True)  # no builtin kernel for these options


def test_builtin_rule_catches_flex_and_custom_ops_of_any_name():
    """The one rule (export.checks.non_builtin_ops) reads the operator codes: a Flex op and a
    custom op whose custom code is a plain TF name (which an op-name prefix rule such as
    ``Flex*`` / ``CUSTOM`` / ``Tf*`` lets through) are both non-builtin."""
    flex = _convert(_cumprod)
    assert checks.non_builtin_ops(flex) == ["FlexCumprod"]
    custom = _convert(_cumprod, custom_ops=True)
    assert checks.non_builtin_ops(custom) == ["Cumprod"]
    for tflite in (flex, custom):
        with pytest.raises(checks.ExportCheckError, match="non-builtin ops"):
            checks.assert_builtin_only(tflite)
        with pytest.raises(AssertionError, match="non-builtin ops"):
            kit.assert_tflite_builtin_only(tflite)


def test_runner_resizes_dynamic_inputs_and_runs_multi_input_files():
    @tf.function(input_signature=[tf.TensorSpec([1, None], tf.float32), tf.TensorSpec([1, 1], tf.float32)])
    def scaled_sum(x, gain):
        return tf.reduce_sum(x, axis=1, keepdims=True) * gain, tf.reduce_max(x, axis=1, keepdims=True)

    converter = tf.lite.TFLiteConverter.from_concrete_functions([scaled_sum.get_concrete_function()], scaled_sum)
    tflite = converter.convert()
    assert not checks.non_builtin_ops(tflite)
    for length in (5, 12):
        x = np.arange(length, dtype="float32")[None]
        outputs = kit.run_tflite(tflite, [x, np.array([[2.0]], "float32")])
        assert sorted(float(o.ravel()[0]) for o in outputs) == sorted([2.0 * x.sum(), x.max()])


@pytest.mark.parametrize("quantization", ["float32", "int8"])
def test_run_litert_export_test_on_a_tiny_model(quantization, tmp_path):
    model = tiny_conv_model()
    report = kit.run_litert_export_test(model, waveforms(6), quantization, tmp_path, sample_rate=SAMPLE_RATE)
    assert report["max_abs_error"] <= report["tolerance"]
    assert "QUANTIZE" in report["ops"] if quantization == "int8" else "QUANTIZE" not in report["ops"]


def test_run_litert_export_test_wants_data_of_the_exported_length(tmp_path):
    with pytest.raises(Exception):
        kit.run_litert_export_test(tiny_conv_model(), waveforms(2)[:, : NUM_SAMPLES // 2], "float32", tmp_path,
                                   sample_rate=SAMPLE_RATE)


def _one_preset_per_family():
    import keras_audioattn.models  # noqa: F401  (the paper folders register their families)
    from keras_audioattn import preset_registry

    # One family exercises the kit function; tests/test_preset_kit.py runs it over every preset.
    return [kit.presets_of(family)[0] for family in preset_registry.families() if family == "lu2020"]


@pytest.mark.parametrize("name", _one_preset_per_family())
def test_run_preset_test_one_preset_per_family(name, tmp_path):
    model = kit.run_preset_test(name, tmp_path=tmp_path)
    assert model.count_params() < 50_000


def test_run_preset_test_checks_the_paper_parameter_count(tmp_path):
    from keras_audioattn import presets

    name = "lu2020-cab-cnn-10s"
    count = presets.build_model(name).count_params()
    kit.run_preset_test(name, expected_params=count)
    with pytest.raises(AssertionError, match="parameters"):
        kit.run_preset_test(name, expected_params=count + 1)


def test_every_large_entry_names_an_existing_test():
    """``LARGE_TESTS`` (tests/conftest.py) does not rot: each file exists, each test is defined in it."""
    import ast
    import os

    from tests.conftest import LARGE_TESTS, _is_large

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for entry in LARGE_TESTS:
        path, _, test = entry.partition("::")
        assert os.path.isfile(os.path.join(root, path)), f"LARGE_TESTS: no file {path}"
        if test:
            with open(os.path.join(root, path)) as f:
                names = {n.name for n in ast.walk(ast.parse(f.read())) if isinstance(n, ast.FunctionDef)}
            assert test.split("::")[-1] in names, f"LARGE_TESTS: {path} defines no {test}"
            assert _is_large(f"{entry}[a-param]") and not _is_large(f"{entry}_other")
        else:
            assert _is_large(f"{path}::anything")
