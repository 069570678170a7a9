"""Pooling layers of Deshmukh et al. 2020 (two-step attention and the Table IV baselines).

The maths is checked against small NumPy references of the equations on the layers' own weights.
"""

import numpy as np
import pytest

import keras

from keras_audioattn.layers import (
    POOLING_LAYERS,
    GlobalAttentionPooling,
    GlobalWeightedRankPooling,
    TimeFrequencyAveragePooling,
    TimeFrequencyMaxPooling,
    TwoStepAttentionPooling,
    get_pooling,
)
from tests.helpers import run_layer_test


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _depthwise_same(x, kernel, bias):
    """(b, t, k) * (taps, k, 1) 'same' cross-correlation along t, per class."""
    taps = kernel.shape[0]
    pad = taps // 2
    xp = np.pad(x, ((0, 0), (pad, pad), (0, 0)))
    out = np.zeros_like(x)
    for j in range(taps):
        out += xp[:, j:j + x.shape[1], :] * kernel[j, :, 0]
    return out + bias


def two_step_reference(z, layer):
    """Eq. 8-15 in the authors' code formulation, or literally (``formulation="equations"``)."""
    z = z.astype(np.float64)
    f = z.shape[2]
    w = {v.name: keras.ops.convert_to_numpy(v).astype(np.float64) for v in layer.weights}
    kernel, bias = w["mel_kernel"], w["mel_bias"]
    a1 = np.einsum("btfk,fg->btkg", z, kernel[:, :f]) + bias[:f]      # attention branch
    c1 = np.einsum("btfk,fg->btkg", z, kernel[:, f:]) + bias[f:]      # classification branch
    a2_k, a2_b = w["time_attention_kernel"], w["time_attention_bias"]
    c2_k, c2_b = w["time_classification_kernel"], w["time_classification_bias"]
    if layer.formulation == "code":
        w1 = _softmax(a1, -1)
        v1 = (_sigmoid(c1) * w1).sum(-1)
        a2, c2 = _depthwise_same(v1, a2_k, a2_b), _depthwise_same(v1, c2_k, c2_b)
        w2 = _softmax(a2, 1)
        p2 = _sigmoid(c2)
        pooled = v1
    else:
        w1 = _softmax(_sigmoid(a1), -1)                                 # Eq. 8, 10
        v1 = (c1 * w1).sum(-1)                                          # Eq. 9, 11
        a2, c2 = _depthwise_same(v1, a2_k, a2_b), _depthwise_same(v1, c2_k, c2_b)
        w2 = _softmax(_sigmoid(a2), 1)                                  # Eq. 12, 14
        p2 = c2                                                         # Eq. 13
        pooled = np.clip(v1, 0, 1)
    clip = (p2 * w2).sum(1)                                             # Eq. 15
    return {"clip": np.clip(clip, 0, 1), "frame": np.clip(p2, 0, 1), "frequency_pooled": pooled,
            "frequency_attention": np.transpose(w1, (0, 1, 3, 2)), "time_attention": w2}


def _randomise(layer, seed=0):
    rng = np.random.default_rng(seed)
    for v in layer.weights:
        v.assign(rng.normal(0, 0.7, v.shape).astype("float32"))


@pytest.mark.filterwarnings("ignore:You are using a softmax over axis")  # frames=1 is deliberate
@pytest.mark.parametrize("formulation", ["code", "equations"])
@pytest.mark.parametrize("frames", [1, 7, 13])
def test_two_step_matches_numpy_reference(formulation, frames):
    rng = np.random.default_rng(frames)
    z = rng.normal(0, 2, (2, frames, 6, 3)).astype("float32")
    layer = TwoStepAttentionPooling(return_attention=True, time_kernel_size=3, formulation=formulation)
    layer.build(z.shape)
    _randomise(layer, frames)
    got = {k: keras.ops.convert_to_numpy(v) for k, v in layer(z).items()}
    want = two_step_reference(z, layer)
    assert set(got) == set(want)
    for key in want:
        assert got[key].shape == want[key].shape, key
        np.testing.assert_allclose(got[key], want[key], atol=2e-5, rtol=1e-4, err_msg=key)


def test_two_step_one_model_any_length_and_in_unit_interval():
    layer = TwoStepAttentionPooling(return_attention=True, time_kernel_size=5)
    inputs = keras.Input((None, 8, 4))
    model = keras.Model(inputs, layer(inputs))
    _randomise(layer, 3)
    rng = np.random.default_rng(0)
    for frames in (2, 31, 311):
        z = rng.normal(0, 30, (3, frames, 8, 4)).astype("float32")  # large logits: saturated sigmoids
        out = {k: keras.ops.convert_to_numpy(v) for k, v in model(z).items()}
        assert out["clip"].shape == (3, 4) and out["frame"].shape == (3, frames, 4)
        assert out["frequency_attention"].shape == (3, frames, 8, 4)
        for key in ("clip", "frame"):
            assert np.all(np.isfinite(out[key])) and out[key].min() >= 0 and out[key].max() <= 1, key
        np.testing.assert_allclose(out["frequency_attention"].sum(2), 1, atol=1e-5)
        np.testing.assert_allclose(out["time_attention"].sum(1), 1, atol=1e-5)


def test_two_step_clip_is_an_attention_weighted_average_of_frame_probabilities():
    """Code formulation: clip = sum_t frame_t * w2_t, so it lies between the frame extremes."""
    layer = TwoStepAttentionPooling(return_attention=True)
    z = np.random.default_rng(1).normal(0, 1, (2, 9, 4, 3)).astype("float32")
    layer.build(z.shape)
    _randomise(layer, 1)
    out = {k: keras.ops.convert_to_numpy(v) for k, v in layer(z).items()}
    np.testing.assert_allclose(out["clip"], (out["frame"] * out["time_attention"]).sum(1), atol=1e-6)
    assert np.all(out["clip"] >= out["frame"].min(1) - 1e-6) and np.all(out["clip"] <= out["frame"].max(1) + 1e-6)


def _baseline_reference(name, z, layer):
    p = _sigmoid(z.astype(np.float64))
    b, t, f, k = p.shape
    if name == "max":
        return p.reshape(b, -1, k).max(1), p.max(2)
    if name == "average":
        return p.reshape(b, -1, k).mean(1), p.mean(2)
    if name == "gwrp":
        def gwrp(x):  # x: (..., n), rank along the last axis
            ranked = -np.sort(-x, axis=-1)
            weights = layer.r ** np.arange(x.shape[-1])
            return (ranked * weights).sum(-1) / weights.sum()
        return gwrp(np.moveaxis(p.reshape(b, -1, k), 1, -1)), gwrp(np.moveaxis(p, 2, -1))
    # attention: 1x1 maps classes -> classes, softmax over the T-F plane (clip) / mel bins (frame)
    kernel, bias = (keras.ops.convert_to_numpy(v).astype(np.float64) for v in layer.weights)
    y = z.astype(np.float64) @ kernel + bias
    a, c = y[..., :k], _sigmoid(y[..., k:])
    w_clip = _softmax(a.reshape(b, -1, k), 1)
    clip = (w_clip * c.reshape(b, -1, k)).sum(1)
    frame = (_softmax(a, 2) * c).sum(2)
    return clip, frame


@pytest.mark.parametrize("name,kwargs", [("max", {}), ("average", {}), ("gwrp", {"r": 0.9}),
                                         ("attention", {})])
def test_baselines_match_numpy_reference(name, kwargs):
    z = np.random.default_rng(2).normal(0, 3, (2, 11, 5, 3)).astype("float32")
    layer = get_pooling(name, **kwargs)
    layer.build(z.shape)
    if layer.weights:
        _randomise(layer, 5)
    out = layer(z)
    clip, frame = _baseline_reference(name, z, layer)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out["clip"]), clip, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out["frame"]), frame, atol=1e-5)


def test_gwrp_limits_are_max_and_average():
    z = np.random.default_rng(3).normal(0, 2, (2, 6, 4, 3)).astype("float32")
    for r, other in ((0.0, TimeFrequencyMaxPooling()), (1.0, TimeFrequencyAveragePooling())):
        got, want = GlobalWeightedRankPooling(r=r)(z), other(z)
        for key in ("clip", "frame"):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(got[key]),
                                       keras.ops.convert_to_numpy(want[key]), atol=1e-6)


def test_attention_pooling_stays_finite_when_one_frame_dominates():
    layer = GlobalAttentionPooling(return_attention=True)
    z = np.zeros((1, 5, 3, 2), "float32")
    z[0, 2] = 200.0  # frame 2's attention logits dwarf the others: exp underflow elsewhere
    layer.build(z.shape)
    layer.kernel.assign(np.eye(2, 4, dtype="float32") * 5)
    out = {k: keras.ops.convert_to_numpy(v) for k, v in layer(z).items()}
    for v in out.values():
        assert np.all(np.isfinite(v))
    np.testing.assert_allclose(out["attention"].sum((1, 2)), 1, atol=1e-5)


@pytest.mark.parametrize("name", sorted(POOLING_LAYERS))
def test_layer_contract_round_trip_and_gradients(name, tmp_path):
    z = np.random.default_rng(4).normal(0, 1, (2, 6, 5, 3)).astype("float32")
    cls = POOLING_LAYERS[name]
    expected = {"clip": (2, 3), "frame": (2, 6, 3)}
    run_layer_test(cls, {"return_attention": False}, z, expected_output_shape=expected, tmp_path=tmp_path,
                   run_training_step=name in ("two_step", "attention"))


def test_bad_input_and_arguments_raise_value_error():
    with pytest.raises(ValueError, match="time, mel, classes"):
        TwoStepAttentionPooling()(np.zeros((2, 5, 3), "float32"))
    with pytest.raises(ValueError, match="time_kernel_size"):
        TwoStepAttentionPooling(time_kernel_size=2)
    with pytest.raises(ValueError, match="formulation"):
        TwoStepAttentionPooling(formulation="paper")
    with pytest.raises(ValueError, match="r must be"):
        GlobalWeightedRankPooling(r=1.5)
    with pytest.raises(ValueError, match="unknown pooling"):
        get_pooling("median")
    with pytest.raises(ValueError, match="mel and class axes"):
        TwoStepAttentionPooling().build((None, None, None, 3))
