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


def _log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def _logsumexp(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def _time_logits_reference(v1, layer, w):
    """Step-2 logits (b, t, k) for each ``time_mixing``, from the layer's weights."""
    k = v1.shape[-1]
    a_k, a_b = w["time_attention_kernel"], w["time_attention_bias"]
    c_k, c_b = w["time_classification_kernel"], w["time_classification_bias"]
    if layer.time_mixing == "conv":
        return _depthwise_same(v1, a_k, a_b), _depthwise_same(v1, c_k, c_b)
    if layer.time_mixing == "dense":  # nn.Linear on the time axis of (b, k, t)
        vt = np.transpose(v1, (0, 2, 1))
        return (np.transpose(vt @ a_k + a_b, (0, 2, 1)), np.transpose(vt @ c_k + c_b, (0, 2, 1)))
    assert layer.time_mixing in ("context", "context_both")
    mean = v1.mean(1, keepdims=True)
    std = np.sqrt(v1.var(1, keepdims=True) + 1e-6)
    feats = [v1, (v1 - mean) / std, np.broadcast_to(mean, v1.shape), np.broadcast_to(v1.max(1, keepdims=True), v1.shape)]
    def mixed(kernel, bias):
        total = 0.0
        for c, feat in enumerate(feats):  # channel c of class j is column 4 j + c
            total = total + _depthwise_same(feat, kernel[:, c::4, :], 0.0)
        return total + bias
    cla = _depthwise_same(v1, c_k, c_b) if layer.time_mixing == "context" else mixed(c_k, c_b)
    return mixed(a_k, a_b), cla


def two_step_reference(z, layer):
    """Eq. 8-15 in the authors' code formulation, or literally (``formulation="equations"``)."""
    z = z.astype(np.float64)
    f = z.shape[2]
    w = {v.name: keras.ops.convert_to_numpy(v).astype(np.float64) for v in layer.weights}
    kernel, bias = w["mel_kernel"], w["mel_bias"]
    a1 = np.einsum("btfk,fg->btkg", z, kernel[:, :f]) + bias[:f]      # attention branch
    c1 = np.einsum("btfk,fg->btkg", z, kernel[:, f:]) + bias[f:]      # classification branch
    if layer.formulation == "code":
        w1 = _softmax(a1, -1)
        v1 = (_sigmoid(c1) * w1).sum(-1)
    else:
        w1 = _softmax(_sigmoid(a1), -1)                                 # Eq. 8, 10
        v1 = (c1 * w1).sum(-1)                                          # Eq. 9, 11
    u = v1
    if layer.time_input_norm:  # BatchNorm at inference: moving statistics
        u = (v1 - w["moving_mean"]) / np.sqrt(w["moving_variance"] + 1e-6) * w["gamma"] + w["beta"]
    a2, c2 = _time_logits_reference(u, layer, w)
    if layer.formulation == "code":
        w2 = _softmax(a2, 1)
        p2 = _sigmoid(c2)
        pooled = v1
    else:
        w2 = _softmax(_sigmoid(a2), 1)                                  # Eq. 12, 14
        p2 = c2                                                         # Eq. 13
        pooled = np.clip(v1, 0, 1)
    clip = (p2 * w2).sum(1)                                             # Eq. 15
    out = {"clip": np.clip(clip, 0, 1), "frame": np.clip(p2, 0, 1), "frequency_pooled": pooled,
           "frequency_attention": np.transpose(w1, (0, 1, 3, 2)), "time_attention": w2}
    if layer.formulation == "code":  # exact log-odds of the (unclipped) clip probability
        log_w = np.log(w2)
        out["clip_logit"] = _logsumexp(log_w + _log_sigmoid(c2), 1) - _logsumexp(log_w + _log_sigmoid(-c2), 1)
    return out


def _randomise(layer, seed=0):
    rng = np.random.default_rng(seed)
    for v in layer.weights:
        value = rng.normal(0, 0.7, v.shape)
        if "variance" in v.name:
            value = np.abs(value) + 0.1
        v.assign(value.astype("float32"))


def _authors_dual_stage_attention(class_x, fc):
    """NumPy transcription of the authors' ``DualStageAttention.forward`` (models.py), PyTorch
    layouts: ``class_x`` (batch, classes, time, mel); ``fc[name] = (weight (out, in), bias)``;
    ``nn.Linear(x) = x @ weight.T + bias``."""
    lin = lambda x, name: x @ fc[name][0].T + fc[name][1]  # noqa: E731
    mel_probs = _sigmoid(lin(class_x, "fc_mel_prob"))
    mel_attw = _softmax(lin(class_x, "fc_mel_att"), -1)
    mel_x = (mel_probs * mel_attw).sum(-1)                          # (batch, classes, time)
    time_probs = _sigmoid(lin(mel_x, "fc_time_prob"))
    time_attw = _softmax(lin(mel_x, "fc_time_att"), -1)
    time_x = np.clip((time_probs * time_attw).sum(-1), 0, 1)        # (batch, classes)
    return mel_attw, time_attw, mel_x, time_x


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


# --- basics -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(POOLING_LAYERS))
def test_layer_contract_round_trip_and_gradients(name, tmp_path):
    z = np.random.default_rng(4).normal(0, 1, (2, 6, 5, 3)).astype("float32")
    cls = POOLING_LAYERS[name]
    expected = {"clip": (2, 3), "frame": (2, 6, 3)}
    if name == "two_step":
        expected["clip_logit"] = (2, 3)
    run_layer_test(cls, {"return_attention": False}, z, expected_output_shape=expected, tmp_path=tmp_path,
                   run_training_step=name in ("two_step", "attention"))


@pytest.mark.parametrize("kwargs", [dict(time_mixing="dense", num_frames=6, time_input_norm=False),
                                    dict(time_mixing="dilated", dilations=(1, 2)),
                                    dict(time_mixing="conv", time_input_norm=False)])
def test_two_step_time_mixings_round_trip_and_gradients(kwargs, tmp_path):
    z = np.random.default_rng(4).normal(0, 1, (2, 6, 5, 3)).astype("float32")
    expected = {"clip": (2, 3), "frame": (2, 6, 3), "clip_logit": (2, 3)}
    run_layer_test(TwoStepAttentionPooling, dict(return_attention=False, **kwargs), z,
                   expected_output_shape=expected, tmp_path=tmp_path, run_training_step=True)


def test_bad_input_and_arguments_raise_value_error():
    with pytest.raises(ValueError, match="time, mel, classes"):
        TwoStepAttentionPooling()(np.zeros((2, 5, 3), "float32"))
    with pytest.raises(ValueError, match="time_kernel_size"):
        TwoStepAttentionPooling(time_kernel_size=2)
    with pytest.raises(ValueError, match="formulation"):
        TwoStepAttentionPooling(formulation="paper")
    with pytest.raises(ValueError, match="time_mixing"):
        TwoStepAttentionPooling(time_mixing="lstm")
    with pytest.raises(ValueError, match="`r` must be"):
        GlobalWeightedRankPooling(r=1.5)
    with pytest.raises(ValueError, match="unknown pooling"):
        get_pooling("median")
    with pytest.raises(ValueError, match="mel and class axes"):
        TwoStepAttentionPooling().build((None, None, None, 3))


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


# --- paper fidelity ---------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:You are using a softmax over axis")  # frames=1 is deliberate
@pytest.mark.parametrize("formulation", ["code", "equations"])
@pytest.mark.parametrize("frames", [1, 7, 13])
@pytest.mark.parametrize("time_mixing,norm", [("conv", False), ("context", True), ("context_both", False)])
def test_two_step_matches_numpy_reference(formulation, frames, time_mixing, norm):
    rng = np.random.default_rng(frames)
    z = rng.normal(0, 2, (2, frames, 6, 3)).astype("float32")
    layer = TwoStepAttentionPooling(return_attention=True, time_kernel_size=3, formulation=formulation,
                                    time_mixing=time_mixing, time_input_norm=norm)
    layer.build(z.shape)
    _randomise(layer, frames)
    got = {k: keras.ops.convert_to_numpy(v) for k, v in layer(z).items()}
    want = two_step_reference(z, layer)
    assert set(got) == set(want)
    for key in want:
        assert got[key].shape == want[key].shape, key
        np.testing.assert_allclose(got[key], want[key], atol=2e-5, rtol=1e-4, err_msg=key)


def test_two_step_clip_is_an_attention_weighted_average_of_frame_probabilities():
    """Code formulation: clip = sum_t frame_t * w2_t, so it lies between the frame extremes."""
    layer = TwoStepAttentionPooling(return_attention=True)
    z = np.random.default_rng(1).normal(0, 1, (2, 9, 4, 3)).astype("float32")
    layer.build(z.shape)
    _randomise(layer, 1)
    out = {k: keras.ops.convert_to_numpy(v) for k, v in layer(z).items()}
    np.testing.assert_allclose(out["clip"], (out["frame"] * out["time_attention"]).sum(1), atol=1e-6)
    assert np.all(out["clip"] >= out["frame"].min(1) - 1e-6) and np.all(out["clip"] <= out["frame"].max(1) + 1e-6)


def test_dense_time_mixing_is_the_authors_layer():
    """time_mixing="dense": one nn.Linear(T, T) per branch over time, shared by the classes
    (DESIGN.md: 194 064 parameters for T = 311), checked against a transcription of their code."""
    frames, mel, classes = 9, 5, 3
    layer = TwoStepAttentionPooling(return_attention=True, time_mixing="dense", num_frames=frames,
                                    time_input_norm=False)
    z = np.random.default_rng(4).normal(0, 2, (2, frames, mel, classes)).astype("float32")
    layer.build(z.shape)
    _randomise(layer, 4)
    got = {k: keras.ops.convert_to_numpy(v) for k, v in layer(z).items()}
    w = {v.name: keras.ops.convert_to_numpy(v).astype(np.float64) for v in layer.weights}
    fc = {"fc_mel_att": (w["mel_kernel"][:, :mel].T, w["mel_bias"][:mel]),
          "fc_mel_prob": (w["mel_kernel"][:, mel:].T, w["mel_bias"][mel:]),
          "fc_time_att": (w["time_attention_kernel"].T, w["time_attention_bias"]),
          "fc_time_prob": (w["time_classification_kernel"].T, w["time_classification_bias"])}
    mel_attw, time_attw, mel_x, time_x = _authors_dual_stage_attention(
        np.transpose(z, (0, 3, 1, 2)).astype(np.float64), fc)
    np.testing.assert_allclose(got["clip"], time_x, atol=1e-5)
    np.testing.assert_allclose(got["time_attention"], np.transpose(time_attw, (0, 2, 1)), atol=1e-5)
    np.testing.assert_allclose(got["frequency_pooled"], np.transpose(mel_x, (0, 2, 1)), atol=1e-5)
    np.testing.assert_allclose(got["frequency_attention"], np.transpose(mel_attw, (0, 2, 3, 1)), atol=1e-5)
    # Parameter count of the authors' step 2 at 311 frames.
    paper = TwoStepAttentionPooling(time_mixing="dense", num_frames=311, time_input_norm=False)
    paper.build((None, 311, 64, 41))
    step2 = sum(int(np.prod(v.shape)) for v in paper.weights if v.name.startswith("time_"))
    assert step2 == 194_064
    with pytest.raises(ValueError, match="num_frames"):
        TwoStepAttentionPooling(time_mixing="dense")
    with pytest.raises(ValueError, match="311 frames"):
        TwoStepAttentionPooling(time_mixing="dense", num_frames=311).build((None, 100, 64, 41))


@pytest.mark.parametrize("time_mixing", ["context", "dense", "conv"])
def test_time_attention_sees_far_frames(time_mixing):
    """Whole-clip context: the time attention at the last frame changes when the first frame
    changes (60 frames apart), for the default ("context") and the authors' ("dense") mixing. The
    3-tap "conv" mixing (the default before issue 19) cannot see it (only float rounding moves)."""
    frames = 61
    layer = TwoStepAttentionPooling(return_attention=True, time_mixing=time_mixing, num_frames=frames,
                                    dilations=(1, 2, 4, 8, 16, 32))
    z = np.random.default_rng(5).normal(0, 1, (1, frames, 4, 2)).astype("float32")
    layer.build(z.shape)  # the default initialisation
    far = z.copy()
    far[:, 0] += 3.0
    # The logit at the last frame (softmax weights all move when any frame moves).
    def last_logit(x):
        zt = keras.ops.convert_to_numpy(layer(x)["time_attention"]).astype(np.float64)
        return np.log(zt[0, -1]) - np.log(zt[0, -2])
    change = np.max(np.abs(last_logit(far) - last_logit(z)))
    if time_mixing == "conv":
        assert change < 1e-5, change
    else:
        assert change > 1e-3, change


def test_clip_logit_is_exact_where_the_probability_saturates():
    layer = TwoStepAttentionPooling(time_input_norm=False)
    z = np.random.default_rng(6).normal(0, 1, (2, 7, 4, 3)).astype("float32")
    layer.build(z.shape)
    _randomise(layer, 6)
    out = {k: keras.ops.convert_to_numpy(v) for k, v in layer(z).items()}
    p = out["clip"].astype(np.float64)
    np.testing.assert_allclose(out["clip_logit"], np.log(p / (1 - p)), atol=1e-4)
    layer.time_classification_bias.assign(np.full((3,), 40.0, "float32"))   # sigmoid(40) == 1 in float32
    out = {k: keras.ops.convert_to_numpy(v) for k, v in layer(z).items()}
    assert np.all(out["clip"] >= 1.0 - 1e-6)
    assert np.all(np.isfinite(out["clip_logit"])) and np.all(out["clip_logit"] > 30)


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
