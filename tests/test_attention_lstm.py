"""Attention LSTM cells of Zhang et al. 2018 (Eq. 1-6) and the AttentionLSTM sequence layer."""

import keras
import numpy as np
import pytest

from keras_audioattn.layers import (
    AttentionLSTM,
    MultimodalAttentionLSTMCell,
    SemanticAttentionLSTMCell,
    TemporalAttentionLSTMCell,
)
from keras_audioattn.layers.attention_lstm import make_cell
from tests.helpers import run_layer_test

M, N, A, K = 5, 6, 3, 4  # input size, units, attention size, clusters (small on purpose)


def _sigm(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _randomize(layer, rng, scale=0.6):
    """Random values for every weight (biases included), so no term of an equation hides at 0."""
    for w in layer.weights:
        w.assign(rng.normal(scale=scale, size=tuple(w.shape)).astype("float32"))
    return {w.name: keras.ops.convert_to_numpy(w).astype(np.float64) for w in layer.weights}


def _blocks(w, names):
    """The Eq. 1 linear maps stored side by side in kernel / recurrent_kernel / bias."""
    out = {}
    for j, name in enumerate(names):
        sl = slice(j * N, (j + 1) * N)
        out[name] = (w["kernel"][:, sl], w["recurrent_kernel"][:, sl], w["bias"][sl])
    return out


def _linear(block, x, h):
    wx, wh, b = block
    return x @ wx + h @ wh + b  # L_{M+N,N}(x, h)


def reference_step(variant, w, x, h, c):
    """One step of Eq. 1 (vanilla), Eq. 4 (TA), Eq. 6 (SA) or both (TA+SA), written from the paper.

    Returns (h_t, c_t, g_t or None). x: (B, M); h, c: (B, N); float64.
    """
    temporal = variant in ("ta", "ta_sa")
    semantic = variant in ("sa", "ta_sa")
    if variant == "vanilla":  # Keras LSTMCell stores the blocks as i, f, c, o
        names = ("i", "f", "c", "o")
    else:
        names = (() if temporal else ("i", "f")) + ("o",) + (() if semantic else ("c",))
    blk = _blocks(w, names)
    o = _sigm(_linear(blk["o"], x, h))
    g = None
    if temporal:
        wix, wfx = w["gate_kernel_x"][:, :A], w["gate_kernel_x"][:, A:]
        wih, wfh = w["gate_kernel_h"][:, :A], w["gate_kernel_h"][:, A:]
        # Eq. 4, row vectors: x_t W_{.,x} W_{.,h}^T h_{t-1}^T, one scalar per example.
        bil_i = np.einsum("bm,mn,bn->b", x, wix @ wih.T, h)[:, None]
        bil_f = np.einsum("bm,mn,bn->b", x, wfx @ wfh.T, h)[:, None]
        i = _sigm(bil_i + w["gate_bias"][0])
        f = _sigm(bil_f + w["gate_bias"][1])
        a_i, a_f = w["attention_coefficients"]
        g = np.einsum("bm,mn,bn->b", x, a_i * wix @ wih.T + a_f * wfx @ wfh.T, h)
    else:
        i = _sigm(_linear(blk["i"], x, h))
        f = _sigm(_linear(blk["f"], x, h))
    if semantic:
        r = x @ w["cluster_kernel"] + h @ w["cluster_recurrent_kernel"] + w["cluster_bias"]  # r_t
        alpha = _softmax(r, axis=-1)  # alpha_{k,t}
        d = alpha @ w["codebook"]  # d~_t = sum_k alpha_k d_k (Eq. 5)
        content = x @ w["memory_kernel"] - d  # x_t W_x - d~_t
    else:
        content = np.tanh(_linear(blk["c"], x, h))
    c_new = f * c + i * content
    h_new = o * np.tanh(c_new)
    return h_new, c_new, g


def _reference_sequence(variant, w, x, mask):
    """Eq. 1-6 over a padded batch: v = sum_t softmax_t(g_t) h_t over valid steps (or the last h)."""
    batch, steps, _ = x.shape
    vs, alphas = [], []
    for b in range(batch):
        valid = int(mask[b].sum())
        h = np.zeros((1, N))
        c = np.zeros((1, N))
        hs, gs = [], []
        for t in range(valid):  # padding is at the end
            h, c, g = reference_step(variant, w, x[b, t][None], h, c)
            hs.append(h[0])
            gs.append(None if g is None else g[0])
        if gs[0] is None:
            vs.append(hs[-1])
            continue
        alpha = np.zeros(steps)
        alpha[:valid] = _softmax(np.array(gs))  # Eq. 3
        vs.append((alpha[:valid, None] * np.array(hs)).sum(0))  # Eq. 2
        alphas.append(alpha)
    return np.array(vs), (np.array(alphas) if alphas else None)


def _paper_counts():
    m, n, a, k = 64, 128, 64, 128
    vanilla = 4 * (n * (m + n) + n)  # L_{M+N,4N} of Eq. 1
    scalar_gates = 2 * (m * a + n * a) + 2 + 2  # W_{i,x}, W_{i,h}, W_{f,x}, W_{f,h}; 2 biases; a_i, a_f
    semantic = (k * (m + n) + k) + m * n + k * n  # L_{M+N,K}, W_x, codebook
    return {
        "vanilla": vanilla,
        "ta": 2 * (n * (m + n) + n) + scalar_gates,  # o and content of Eq. 1
        "sa": 3 * (n * (m + n) + n) + semantic,  # i, f, o of Eq. 1
        "ta_sa": (n * (m + n) + n) + scalar_gates + semantic,  # o of Eq. 1
    }


# --- basics -----------------------------------------------------------------------------------


@pytest.mark.parametrize("variant,attention", [("ta", True), ("sa", False), ("ta_sa", False), ("vanilla", False)])
def test_layer_standard_checks(variant, attention, tmp_path):
    x = np.random.default_rng(5).normal(size=(2, 5, M)).astype("float32")
    expected = [(2, N), (2, 5)] if attention else (2, N)
    run_layer_test(AttentionLSTM, {"cell": make_cell(variant, N, attention_size=A, num_clusters=K),
                                   "return_attention": attention},
                   x, expected_output_shape=expected, tmp_path=tmp_path, run_training_step=False, atol=1e-5)


@pytest.mark.parametrize("cell_cls", [TemporalAttentionLSTMCell, SemanticAttentionLSTMCell,
                                      MultimodalAttentionLSTMCell])
def test_cells_run_inside_keras_rnn(cell_cls):
    cell = cell_cls(N)
    out, h, c = keras.layers.RNN(cell, return_sequences=True, return_state=True)(np.ones((2, 4, M), "float32"))
    assert tuple(out.shape) == (2, 4, cell.output_size)
    assert tuple(h.shape) == tuple(c.shape) == (2, N)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="units"):
        TemporalAttentionLSTMCell(0)
    with pytest.raises(ValueError, match="attention_size"):
        TemporalAttentionLSTMCell(4, attention_size=-1)
    with pytest.raises(ValueError, match="num_clusters"):
        SemanticAttentionLSTMCell(4, num_clusters=0)
    with pytest.raises(ValueError, match="temporal attention"):
        AttentionLSTM(SemanticAttentionLSTMCell(4), return_attention=True)
    with pytest.raises(ValueError, match="cell"):
        AttentionLSTM("lstm")
    with pytest.raises(ValueError, match="variant"):
        make_cell("gru")
    with pytest.raises(ValueError, match=r"\(batch, time, features\)"):
        AttentionLSTM(TemporalAttentionLSTMCell(4))(np.zeros((2, 3), "float32"))


def test_mask_from_a_masking_layer_propagates():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 6, M)).astype("float32")
    x[1, 4:] = 0.0
    inputs = keras.Input((None, M))
    outputs = AttentionLSTM(TemporalAttentionLSTMCell(N, attention_size=A), return_attention=True)(
        keras.layers.Masking(0.0)(inputs))
    _, alpha = keras.Model(inputs, outputs)(x)
    alpha = keras.ops.convert_to_numpy(alpha)
    assert np.all(alpha[1, 4:] == 0.0)
    np.testing.assert_allclose(alpha.sum(1), 1.0, atol=1e-6)


def test_go_backwards_aligns_attention_with_input_time():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 6, M)).astype("float32")
    forward = AttentionLSTM(TemporalAttentionLSTMCell(N, attention_size=A), return_attention=True)
    backward = AttentionLSTM(TemporalAttentionLSTMCell(N, attention_size=A), return_attention=True,
                             go_backwards=True)
    forward(x)
    backward(x)
    backward.set_weights(forward.get_weights())
    v_f, a_f = (keras.ops.convert_to_numpy(t) for t in forward(x[:, ::-1]))
    v_b, a_b = (keras.ops.convert_to_numpy(t) for t in backward(x))
    np.testing.assert_allclose(v_b, v_f, atol=1e-5)
    np.testing.assert_allclose(a_b, a_f[:, ::-1], atol=1e-6)


# --- paper fidelity ---------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["vanilla", "ta", "sa", "ta_sa"])
def test_one_step_matches_numpy_reference_of_the_paper(variant):
    rng = np.random.default_rng(0)
    cell = make_cell(variant, N, attention_size=A, num_clusters=K)
    cell.build((None, M))
    w = _randomize(cell, rng)
    x = rng.normal(size=(3, M))
    h = rng.normal(scale=0.8, size=(3, N))
    c = rng.normal(size=(3, N))
    out, (h_t, c_t) = cell(x.astype("float32"), [h.astype("float32"), c.astype("float32")])
    want_h, want_c, want_g = reference_step(variant, w, x, h, c)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(h_t), want_h, atol=2e-5, rtol=1e-4)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(c_t), want_c, atol=2e-5, rtol=1e-4)
    out = keras.ops.convert_to_numpy(out)
    np.testing.assert_allclose(out[:, :N], want_h, atol=2e-5, rtol=1e-4)
    if want_g is None:
        assert out.shape == (3, N)
    else:
        assert out.shape == (3, N + 1)
        np.testing.assert_allclose(out[:, N], want_g, atol=2e-5, rtol=1e-4)
    if variant in ("ta", "ta_sa"):
        # Eq. 4's gates are scalars: the TA cells hold no per-unit i/f weights.
        assert cell.kernel.shape[-1] == (1 if variant == "ta_sa" else 2) * N


@pytest.mark.parametrize("variant", ["vanilla", "ta", "sa", "ta_sa"])
def test_sequence_layer_matches_reference_with_padding(variant):
    rng = np.random.default_rng(1)
    emits = variant in ("ta", "ta_sa")
    layer = AttentionLSTM(make_cell(variant, N, attention_size=A, num_clusters=K), return_attention=emits)
    x = rng.normal(size=(3, 7, M))
    mask = np.ones((3, 7), bool)
    mask[0, 4:] = False
    mask[2, 6:] = False
    layer(x.astype("float32"))
    w = _randomize(layer.cell, rng, scale=0.4)
    got = layer(x.astype("float32"), mask=mask)
    want_v, want_alpha = _reference_sequence(variant, w, x, mask)
    if emits:
        v, alpha = (keras.ops.convert_to_numpy(t) for t in got)
        np.testing.assert_allclose(alpha, want_alpha, atol=2e-5, rtol=1e-4)
    else:
        v = keras.ops.convert_to_numpy(got)
    np.testing.assert_allclose(v, want_v, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("cell_cls", [TemporalAttentionLSTMCell, MultimodalAttentionLSTMCell])
def test_attention_sums_to_one_and_ignores_padding(cell_cls):
    rng = np.random.default_rng(2)
    layer = AttentionLSTM(cell_cls(N, attention_size=A), return_attention=True)
    x = rng.normal(size=(2, 9, M)).astype("float32")
    mask = np.ones((2, 9), bool)
    mask[0, 5:] = False
    v, alpha = (keras.ops.convert_to_numpy(t) for t in layer(x, mask=mask))
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0, atol=1e-6)
    assert np.all(alpha[0, 5:] == 0.0)
    assert np.all(alpha[mask] > 0.0)
    # Whatever the padded frames hold, nothing changes.
    x2 = x.copy()
    x2[0, 5:] = rng.normal(scale=50.0, size=(4, M))
    v2, alpha2 = (keras.ops.convert_to_numpy(t) for t in layer(x2, mask=mask))
    np.testing.assert_allclose(v2, v, atol=1e-6)
    np.testing.assert_allclose(alpha2, alpha, atol=1e-7)
    # Padding the clip with frames that are masked gives the same result as the unpadded clip.
    v3, alpha3 = (keras.ops.convert_to_numpy(t) for t in layer(x[:1, :5]))
    np.testing.assert_allclose(v3, v[:1], atol=1e-5)
    np.testing.assert_allclose(alpha3, alpha[:1, :5], atol=1e-6)
    # A fully masked row gives zero attention and a zero embedding, not NaN.
    empty = np.zeros((1, 9), bool)
    v4, alpha4 = (keras.ops.convert_to_numpy(t) for t in layer(x[:1], mask=empty))
    assert np.all(alpha4 == 0.0) and np.all(v4 == 0.0)


def test_parameter_counts_at_paper_size():
    want = _paper_counts()
    got = {}
    for variant in want:
        layer = AttentionLSTM(make_cell(variant, 128, attention_size=64, num_clusters=128))
        layer.build((None, None, 64))
        got[variant] = layer.count_params()
    assert got == want
    assert got == {"vanilla": 98816, "ta": 73988, "sa": 123392, "ta_sa": 98564}
    # The i/f gates themselves shrink by half (2N(M+N) -> 2A(M+N)); the whole cell by a quarter.
    assert 0.74 < got["ta"] / got["vanilla"] < 0.76
