"""AudioModel (the model base), the validation module and the typed preset registry."""

import warnings

import keras
import numpy as np
import pytest

from keras_audioattn import preset_registry, validation
from keras_audioattn.models.base import AudioModel


@keras.saving.register_keras_serializable(package="keras_audioattn_tests")
class _Tiny(AudioModel):
    deprecated_arguments = {"num_tags": "num_classes",
                            "clip_duration": ("num_samples", lambda v, a: int(round(v * a.get("sample_rate", 16000))))}

    def __init__(self, num_classes, sample_rate=16000, num_samples=None, units=(4,), name="tiny", **kwargs):
        waveform = keras.Input((num_samples,), name="waveform")
        x = keras.layers.Reshape((-1, 1))(waveform)
        x = keras.layers.Dense(units[0], name="hidden")(x)
        x = keras.layers.GlobalAveragePooling1D()(x)
        scores = keras.layers.Dense(num_classes, name="scores", dtype="float32")(x)
        super().__init__(inputs=waveform, outputs=scores, name=name, **kwargs)


def test_config_holds_arguments_with_defaults_and_dtype(tmp_path):
    model = _Tiny(3, units=(5,))
    config = model.get_config()
    assert {k: config[k] for k in ("num_classes", "sample_rate", "num_samples", "units")} == {
        "num_classes": 3, "sample_rate": 16000, "num_samples": None, "units": [5]}
    assert config["dtype"]["config"]["name"] == "float32" and config["name"] == "tiny"
    x = np.random.default_rng(0).standard_normal((2, 50)).astype("float32")
    clone = _Tiny.from_config(config)
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone(x), model(x))
    model.save(tmp_path / "m.keras")
    np.testing.assert_array_equal(keras.saving.load_model(tmp_path / "m.keras")(x), model(x))


@keras.saving.register_keras_serializable(package="keras_audioattn_tests")
class _WithNetwork(_Tiny):
    def __init__(self, num_classes, helper=None, mode="a", name="with_network", **kwargs):
        super().__init__(num_classes, name=name, **kwargs)
        self.mode = mode.upper()  # a resolved option: the subclass's own value wins


def test_arguments_become_attributes_unless_the_subclass_sets_them():
    model = _Tiny(3, units=(5,), num_samples=40)
    assert (model.num_classes, model.sample_rate, model.num_samples, tuple(model.units)) == (3, 16000, 40, (5,))
    helper = keras.layers.Dense(2)
    other = _WithNetwork(2, helper=helper, mode="b")
    assert other.mode == "B" and other.get_config()["mode"] == "b"
    # A layer given as an argument is not attached (Keras would count its weights as the model's).
    assert not hasattr(other, "helper") and len(other.weights) == len(_Tiny(2).weights)
    assert other.clip_duration is None and _Tiny(2, num_samples=8000).clip_duration == 0.5  # deprecated property


def test_unknown_argument_is_rejected_with_a_close_match():
    with pytest.raises(TypeError, match=r"unknown argument `unit` \(did you mean `units`\?\)"):
        _Tiny(3, unit=(2,))
    with pytest.raises(TypeError, match="unknown argument `bogus`"):
        _Tiny(3, bogus=1)


def test_deprecated_aliases_warn_and_convert():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = _Tiny(num_tags=2, clip_duration=0.5, sample_rate=8000)
    messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert any("`num_tags` is deprecated, use `num_classes`" in m for m in messages), messages
    assert model.get_config()["num_samples"] == 4000 and model.get_config()["num_classes"] == 2
    with pytest.raises(TypeError, match="pass only `num_classes`"):
        _Tiny(num_tags=2, num_classes=2)


def test_dtype_reaches_the_layers_and_the_global_policy_is_restored():
    before = keras.config.dtype_policy().name
    model = _Tiny(3, dtype="mixed_bfloat16")
    assert model.get_layer("hidden").dtype_policy.name == "mixed_bfloat16"
    assert model.get_layer("scores").dtype_policy.name == "float32"  # pinned output layer
    assert keras.config.dtype_policy().name == before
    clone = _Tiny.from_config(model.get_config())
    assert clone.get_layer("hidden").dtype_policy.name == "mixed_bfloat16"


def test_from_preset_reads_the_registry(monkeypatch):
    # A private copy of the registry: the test's presets must not leak into other tests.
    monkeypatch.setattr(preset_registry, "_FAMILIES", dict(preset_registry._FAMILIES))
    monkeypatch.setattr(preset_registry, "_PRESETS", dict(preset_registry._PRESETS))
    family = preset_registry.PresetFamily("tests-tiny-family", _Tiny, task="multi_label", tiny={"units": (2,)},
                                          tiny_of="tests-tiny-a")
    preset_registry.register_family(family)
    preset_registry.register_preset(preset_registry.Preset(
        "tests-tiny-a", "tests-tiny-family", model={"num_classes": 4},
        recipe=preset_registry.TrainingRecipe(learning_rate=1e-4, evaluate=["average_precision_micro"]),
        data=preset_registry.DataSettings(sample_rate=16000, duration=1.0, multi_label=True), paper="test"))
    assert set(_Tiny.presets) == {"tests-tiny-a", "tests-tiny-family-tiny"}
    model = _Tiny.from_preset("tests-tiny-a", units=(3,))
    assert model.get_config()["num_classes"] == 4 and model.get_config()["units"] == [3]
    assert _Tiny.from_preset("tests-tiny-family-tiny").get_config()["units"] == [2]
    preset_registry.register_preset(preset_registry.Preset(
        "tests-tiny-fixed", "tests-tiny-family", model={"num_classes": 4, "num_samples": 800},
        recipe=preset_registry.TrainingRecipe(), data=preset_registry.DataSettings(sample_rate=16000)))
    with pytest.warns(DeprecationWarning):  # the old name overrides the preset's value under the new name
        assert _Tiny.from_preset("tests-tiny-fixed", clip_duration=0.1).get_config()["num_samples"] == 1600
    view = preset_registry.get("tests-tiny-a").as_dict()
    assert view["training"]["learning_rate"] == 1e-4 and view["monitor"] == ["val_loss", "min"]
    with pytest.raises(ValueError, match="did you mean tests-tiny-a"):
        _Tiny.from_preset("tests-tiny-b")


@pytest.mark.parametrize("check, value, message", [
    (lambda v: validation.positive_int(v, "units", "X"), 0, "X: `units` must be a positive integer, got 0."),
    (lambda v: validation.positive_int(v, "units", "X"), True, "must be a positive integer, got True"),
    (lambda v: validation.probability(v, "dropout", "X"), 1.0, "`dropout` must be < 1"),
    (lambda v: validation.one_of(v, "mode", ("a", "b"), "X"), "c", "must be one of ('a', 'b'), got 'c'"),
    (lambda v: validation.int_sequence(v, "filters", "X", length=2), [1], "must have 2 entries"),
    (lambda v: validation.number(v, "rate", "X", low=0, low_open=True), float("nan"), "must be finite"),
])
def test_validation_messages_name_owner_argument_and_value(check, value, message):
    with pytest.raises(ValueError) as error:
        check(value)
    assert message in str(error.value)
