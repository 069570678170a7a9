"""RawWaveformASC (Jung et al. 2020, Table 1), on the kit's template: basics -> saving -> presets ->
paper fidelity (Table 1 defaults, shapes and parameter count, the residual block against a
hand-written NumPy forward pass, the BatchNorm momentum, the SVM back end). Its LiteRT export is
tested with the tag-conditioned model (tests/test_tag_conditioned_asc.py)."""

import numpy as np
import pytest

import keras

from keras_audioattn import preset_registry
from keras_audioattn.models import RawWaveformASC, compare_back_ends, extract_codes, fit_code_svm
from keras_audioattn.models.raw_waveform_asc import DEFAULT_PARAMETER_COUNT
from tests import kit
from tests.helpers import assert_overfits, run_model_test

#: The ASC network of the family's tiny configuration (``jung2020-tiny``), with a last block of
#: 12 filters: a channel change, so the three-tap shortcut is built
#: (test_channel_change_uses_a_three_tap_shortcut_and_mono_input); 3 scenes at 16 kHz.
SMALL = dict(preset_registry.get_family("jung2020").tiny["asc"], num_classes=3, sample_rate=16000,
             block_filters=(8, 8, 12))


def small(**kwargs):
    return RawWaveformASC(**{**SMALL, **kwargs})


# --- basics -----------------------------------------------------------------------------------


def test_round_trip_and_gradients(tmp_path):
    model = small()
    x = np.random.default_rng(1).normal(size=(2, 600, 2)).astype("float32")
    loaded = run_model_test(model, x, tmp_path)
    assert isinstance(loaded, RawWaveformASC) and loaded.get_config() == model.get_config()


@pytest.mark.parametrize("kwargs, message", [
    ({"num_classes": 0}, "num_classes"),
    ({"block_filters": ()}, "block_filters"),
    ({"num_channels": 0}, "num_channels"),
    ({"pre_emphasis": 2.0}, "pre_emphasis"),
    ({"num_samples": 100}, "num_samples"),
    ({"classifier_activation": "relu"}, "classifier_activation"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RawWaveformASC(**kwargs)


def test_wrong_channel_count_is_rejected():
    model = small()
    with pytest.raises(ValueError):
        model(np.zeros((1, 600, 3), "float32"))
    with pytest.raises(ValueError):
        model(np.zeros((1, 600), "float32"))


def test_model_contract_unknown_argument_dtype_and_presets():
    """AudioModel contract: an unknown argument is refused, the config holds the dtype, and the
    ASC network of every ``jung2020`` preset is reachable through ``presets`` / ``from_preset``."""
    with pytest.raises(TypeError, match="unknown argument `bogus`"):
        small(bogus=1)
    config = small().get_config()
    assert config["dtype"]["config"]["name"] == "float32" and config["block_filters"] == [8, 8, 12]
    assert RawWaveformASC.from_config(config).count_params() == small().count_params()
    assert {"jung2020-baseline", "jung2020-tag-asc"} <= set(RawWaveformASC.presets)
    with pytest.raises(ValueError, match="not a Jung et al. 2020 ASC preset"):
        RawWaveformASC.from_preset("jung2020-tagger")


def test_channel_change_uses_a_three_tap_shortcut_and_mono_input():
    model = small(num_channels=1)
    assert tuple(model.inputs[0].shape) == (None, None)
    sc = model.get_layer("block_2_shortcut")
    assert (sc.filters, sc.kernel_size) == (12, (3,))
    with pytest.raises(ValueError):
        model.get_layer("block_1_shortcut")
    out = model(np.zeros((2, 500), "float32"))
    assert tuple(out.shape) == (2, 3)
    top = small(include_top=False)
    assert tuple(top.output.shape) == (None, 6)
    logits = small(classifier_activation=None)
    assert logits.get_layer("scores").activation.__name__ == "linear"


# --- presets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", kit.presets_of("jung2020"))
def test_presets_reach_the_asc_network(name):
    # The whole tag-conditioned presets run in tests/test_preset_kit.py and test_tag_conditioned_asc.py.
    model = RawWaveformASC.from_preset(name, **{k: v for k, v in SMALL.items() if k != "num_classes"})
    assert isinstance(model, RawWaveformASC) and name in RawWaveformASC.presets


# --- paper fidelity ---------------------------------------------------------------------------


def test_defaults_are_table_1_and_parameter_count():
    model = RawWaveformASC()
    assert model.count_params() == DEFAULT_PARAMETER_COUNT == 715_978
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 712_138
    assert tuple(model.inputs[0].shape) == (None, None, 2)
    assert model.get_layer("pre_emphasis").coefficient == 0.97
    conv = model.get_layer("strided_conv")
    assert (conv.filters, conv.kernel_size, conv.strides, conv.padding) == (128, (12,), (12,), "valid")
    assert model.get_layer("strided_lrelu").negative_slope == pytest.approx(0.3)
    for i in range(7):
        for j in range(2):
            c = model.get_layer(f"block_{i}_conv_{j}")
            assert (c.filters, c.kernel_size, c.padding) == (128, (3,), "same")
        assert model.get_layer(f"block_{i}_pool").pool_size == (3,)
    with pytest.raises(ValueError):
        model.get_layer("block_7_conv_0")
    assert model.get_layer("code").units == 64 and model.get_layer("code").activation.__name__ == "linear"
    assert model.get_layer("scores").units == 10
    assert model.sample_rate == 48000


def test_table_1_output_shapes():
    """(479 999, 2) -> strided conv (39 999, 128) -> blocks (18, 128) -> 256 -> 64 -> 10."""
    model = RawWaveformASC(num_samples=479_999)
    assert tuple(model.get_layer("strided_lrelu").output.shape) == (None, 39_999, 128)
    assert tuple(model.feature_model().output.shape) == (None, 18, 128)
    assert model.num_frames(479_999) == 18
    assert tuple(model.get_layer("pool_concat").output.shape) == (None, 256)
    assert tuple(model.code_model().output.shape) == (None, 64)
    assert tuple(model.output.shape) == (None, 10)


def _np_forward(model, x):
    """Table 1 in NumPy for a model with identity shortcuts (inference mode, float64)."""
    def g(name):
        return [keras.ops.convert_to_numpy(w).astype(np.float64) for w in model.get_layer(name).weights]

    slope = model.negative_slope

    def lrelu(v):
        return np.where(v >= 0, v, slope * v)

    def bn(v, name):
        gamma, beta, mean, var = g(name)
        return gamma * (v - mean) / np.sqrt(var + model.get_layer(name).epsilon) + beta

    def conv_same(v, kernel):
        k = kernel.shape[0]
        pad = np.pad(v, ((0, 0), ((k - 1) // 2, k // 2), (0, 0)))
        return sum(pad[:, i:i + v.shape[1]] @ kernel[i] for i in range(k))

    x = x.astype(np.float64)
    y = x.copy()
    y[:, 1:] = x[:, 1:] - model.pre_emphasis * x[:, :-1]
    k = model.first_kernel
    frames = y.shape[1] // k
    (kernel,) = g("strided_conv")
    v = y[:, :frames * k].reshape(len(y), frames, k * y.shape[2]) @ kernel.reshape(-1, kernel.shape[-1])
    v = lrelu(bn(v, "strided_bn"))
    for i in range(len(model.block_filters)):
        h = lrelu(bn(conv_same(v, g(f"block_{i}_conv_0")[0]), f"block_{i}_bn_0"))
        h = bn(conv_same(h, g(f"block_{i}_conv_1")[0]), f"block_{i}_bn_1")
        v = lrelu(h + v)
        n = v.shape[1] // model.pool_size
        v = v[:, :n * model.pool_size].reshape(len(v), n, model.pool_size, -1).max(2)
    pooled = np.concatenate([v.mean(1), v.max(1)], -1)
    kc, bc = g("code")
    code = pooled @ kc + bc
    ks, bs = g("scores")
    logits = code @ ks + bs
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return v, code, e / e.sum(-1, keepdims=True)


def test_forward_pass_matches_numpy_table_1():
    model = small(block_filters=(8, 8))
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([1 + 0.1 * rng.normal(size=n), 0.1 * rng.normal(size=n), 0.1 * rng.normal(size=n),
                               0.5 + rng.random(n)])
    x = rng.normal(size=(2, 400, 2)).astype("float32")
    features, code, scores = _np_forward(model, x)
    out = model.multi_output_model()(x)
    np.testing.assert_allclose(np.asarray(out["features"]), features, atol=1e-4)
    np.testing.assert_allclose(np.asarray(out["code"]), code, atol=1e-4)
    np.testing.assert_allclose(np.asarray(out["scores"]), scores, atol=1e-5)
    np.testing.assert_allclose(np.asarray(model(x)), scores, atol=1e-5)


def test_batchnorm_momentum_lets_inference_statistics_catch_up_on_quiet_waveforms():
    """The authors' PyTorch BatchNorm momentum (0.1, Keras 0.9) is the default. On raw audio at
    typical levels the strided conv's outputs have a variance far below the moving variance's start
    value 1: with Keras' 0.99 it is still orders of magnitude too large after 100 steps, and the
    model classifies at chance in inference mode after a short training (docs/jung2020.md)."""
    model = small()
    assert all(layer.momentum == 0.9 for layer in model.layers
               if isinstance(layer, keras.layers.BatchNormalization))
    assert model.get_config()["bn_momentum"] == 0.9 and small(bn_momentum=0.99).bn_momentum == 0.99
    x = (0.02 * np.random.default_rng(0).normal(size=(8, 2400, 2))).astype("float32")
    y = keras.utils.to_categorical(np.arange(8) % 3, 3)
    ratios = {}
    for momentum in (0.9, 0.99):
        keras.utils.set_random_seed(0)
        model = small(bn_momentum=momentum)
        model.compile(optimizer=keras.optimizers.SGD(0.0), loss="categorical_crossentropy")  # statistics only
        model.fit(x, y, batch_size=8, epochs=100, verbose=0)
        conv = keras.Model(model.inputs, model.get_layer("strided_conv").output)
        actual = np.asarray(conv(x)).reshape(-1, 8).var(0)
        ratios[momentum] = float(np.median(np.asarray(model.get_layer("strided_bn").moving_variance) / actual))
    assert ratios[0.9] < 1.5 and ratios[0.99] > 50, ratios
    with pytest.raises(ValueError, match="bn_momentum"):
        small(bn_momentum=1.0)


def test_overfits_a_tiny_batch_and_svm_back_end():
    keras.utils.set_random_seed(0)
    model = small(num_classes=2)
    rng = np.random.default_rng(2)
    t = np.arange(800) / 16000
    x = np.stack([np.stack([np.sin(2 * np.pi * (300 + 2000 * (i % 2)) * t)] * 2, -1) + 0.1 * rng.normal(size=(800, 2))
                  for i in range(6)]).astype("float32")
    y = keras.utils.to_categorical([0, 1] * 3, 2)
    assert_overfits(model, x, y, epochs=40, loss="categorical_crossentropy")
    codes = extract_codes(model, x)
    assert codes.shape == (6, 6)
    svm = fit_code_svm(model, x, y, kernel="rbf")
    result = compare_back_ends(model, svm, x, y)
    assert set(result) == {"softmax", "svm"} and result["softmax"] == 1.0 and result["svm"] == 1.0
    sigmoid = fit_code_svm(model, x, y.argmax(1), kernel="sigmoid", codes=codes)
    assert sigmoid.predict(codes).shape == (6,)
    with pytest.raises(ValueError, match="kernel"):
        fit_code_svm(model, x, y, kernel="linear")
