"""Tag layers of Jung et al. 2020: TagMultiHeadAttention against a NumPy reference of Eq. (1)-(2),
TagConcatenation's three §3.1 variants (shapes, parameter counts, values), TagTransform,
serialisation, gradients and errors."""

import numpy as np
import pytest

import keras

from keras_audioattn.layers import CONCAT_MODES, TagConcatenation, TagMultiHeadAttention, TagTransform
from tests.helpers import run_layer_test

_np = keras.ops.convert_to_numpy


def _leaky(x, slope=0.3):
    return np.where(x >= 0, x, slope * x)


def _transform_reference(tags, transform):
    h = tags.astype(np.float64)
    for dense in transform.dense_layers:
        h = _leaky(h @ _np(dense.kernel).astype(np.float64) + _np(dense.bias), transform.negative_slope)
    return h


def mha_reference(feature_map, tags, layer):
    """Eq. (1)-(2) in NumPy, one example / head / time step at a time (float64).

    am = W g(T) + b; am = [am_1 .. am_h], am_k = softmax(am_k); M'_{k,t} = M_{k,t} * am_k.
    """
    h = layer.num_heads
    b, t, f = feature_map.shape
    g = _transform_reference(tags, layer.transform)
    logits = g @ _np(layer.projection.kernel).astype(np.float64) + _np(layer.projection.bias)
    am = np.zeros((b, f))
    out = np.zeros((b, t, f))
    size = f // h
    for bi in range(b):
        for k in range(h):
            part = logits[bi, k * size:(k + 1) * size]
            e = np.exp(part - part.max())
            am[bi, k * size:(k + 1) * size] = e / e.sum()
        for ti in range(t):
            for k in range(h):
                sl = slice(k * size, (k + 1) * size)
                out[bi, ti, sl] = feature_map[bi, ti, sl] * am[bi, sl]
    return out, am


def _data(seed=0, b=3, t=5, f=12, c=7):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(b, t, f)).astype("float32"), rng.random((b, c)).astype("float32")


# --- basics -----------------------------------------------------------------------------------


def test_layers_round_trip_gradients_and_fit(tmp_path):
    m, tags = _data(seed=4, f=8)
    run_layer_test(TagMultiHeadAttention, {"num_heads": 2, "num_transform_layers": 1, "transform_units": 6},
                   [m, tags], expected_output_shape=(3, 5, 8), tmp_path=tmp_path)
    run_layer_test(TagMultiHeadAttention, {"num_heads": 4, "num_transform_layers": 0, "return_attention": True},
                   [m, tags], expected_output_shape=[(3, 5, 8), (3, 8)], tmp_path=tmp_path, run_training_step=False)
    x = np.random.default_rng(5).normal(size=(3, 10)).astype("float32")
    for mode, shape in (("transform_before", (3, 4)), ("transform_after", (3, 4)), ("code", (3, 17))):
        run_layer_test(TagConcatenation, {"mode": mode, "num_transform_layers": 2, "code_dim": 4,
                                          "transform_units": 5}, [x, tags], expected_output_shape=shape,
                       tmp_path=tmp_path)
    run_layer_test(TagTransform, {"num_layers": 2, "units": 3}, tags, expected_output_shape=(3, 3),
                   tmp_path=tmp_path)


def test_bad_inputs_and_arguments():
    m, tags = _data(f=12)
    with pytest.raises(ValueError, match="mode"):
        TagConcatenation("nope")
    with pytest.raises(ValueError, match="num_heads"):
        TagMultiHeadAttention(0)
    with pytest.raises(ValueError, match="num_transform_layers"):
        TagMultiHeadAttention(2, -1)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        TagMultiHeadAttention(5)([m, tags])
    with pytest.raises(ValueError, match=r"\(batch, time, filters\)"):
        TagMultiHeadAttention(2)([m[:, 0], tags])
    with pytest.raises(ValueError, match="tag vector"):
        TagMultiHeadAttention(2)([m, tags[:, :, None]])
    with pytest.raises(ValueError, match=r"\[x, tags\]|inputs"):
        TagMultiHeadAttention(2)(m)
    with pytest.raises(ValueError, match=r"x must have shape"):
        TagConcatenation("code")([m, tags])
    with pytest.raises(ValueError):
        TagTransform(1, activation="no_such_activation")


def test_transform_layer():
    tags = np.random.default_rng(3).random((2, 5)).astype("float32")
    layer = TagTransform(2, 4, kernel_initializer="random_normal")
    np.testing.assert_allclose(_np(layer(tags)), _transform_reference(tags, layer), atol=1e-6)
    np.testing.assert_array_equal(_np(TagTransform(0)(tags)), tags)
    relu = TagTransform(1, 3, activation="relu")
    assert np.all(_np(relu(tags)) >= 0)


# --- paper fidelity ---------------------------------------------------------------------------


@pytest.mark.parametrize("heads, layers", [(1, 0), (2, 1), (4, 2), (6, 3)])
def test_multi_head_attention_matches_numpy_reference(heads, layers):
    m, tags = _data()
    layer = TagMultiHeadAttention(heads, layers, transform_units=9, return_attention=True,
                                  kernel_initializer="random_normal")
    out, am = layer([m, tags])
    out_ref, am_ref = mha_reference(m, tags, layer)
    np.testing.assert_allclose(_np(am), am_ref, atol=1e-6)
    np.testing.assert_allclose(_np(out), out_ref, atol=1e-6)
    # Softmax within each head: every head's weights sum to 1, across the whole map they sum to h.
    np.testing.assert_allclose(_np(am).reshape(3, heads, -1).sum(-1), 1.0, atol=1e-6)
    # Same weights at every time step: M' / M is constant over time.
    ratio = _np(out) / m
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:, :1], ratio.shape), rtol=1e-5, atol=1e-6)
    assert len(layer.transform.dense_layers) == layers


def test_multi_head_softmax_differs_from_one_softmax_over_all_filters():
    m, tags = _data(seed=1)
    two = TagMultiHeadAttention(2, 1, transform_units=6, return_attention=True)
    two([m, tags])
    one = TagMultiHeadAttention(1, 1, transform_units=6, return_attention=True)
    one([m, tags])
    one.set_weights(two.get_weights())
    am2, am1 = _np(two([m, tags])[1]), _np(one([m, tags])[1])
    assert np.abs(am1 - am2).max() > 1e-3
    np.testing.assert_allclose(am1.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(am2.sum(-1), 2.0, atol=1e-6)


def test_multi_head_parameter_count():
    m, tags = _data(f=12, c=7)
    for layers in (0, 1, 3):
        layer = TagMultiHeadAttention(4, layers, transform_units=9)
        layer([m, tags])
        units_in = 7 if layers == 0 else 9
        expected = (7 * 9 + 9) * min(layers, 1) + max(layers - 1, 0) * (9 * 9 + 9) + units_in * 12 + 12
        assert layer.count_params() == expected
    # Paper configuration of Table 3's best on Table 1's 128 filters and 80 tags: 1 layer, 2 heads.
    paper = TagMultiHeadAttention()
    paper([np.zeros((1, 18, 128), "float32"), np.zeros((1, 80), "float32")])
    assert (paper.num_heads, paper.num_transform_layers, paper.transform_units) == (2, 1, 128)
    assert paper.count_params() == (80 * 128 + 128) + (128 * 128 + 128) == 26_880


@pytest.mark.parametrize("mode", CONCAT_MODES)
def test_concatenation_modes_shapes_parameters_and_values(mode):
    rng = np.random.default_rng(2)
    d, c, code_dim, units, n = 10, 7, 5, 6, 3
    x = rng.normal(size=(4, d)).astype("float32")
    tags = rng.random((4, c)).astype("float32")
    layer = TagConcatenation(mode, num_transform_layers=n, code_dim=code_dim, transform_units=units,
                             kernel_initializer="random_normal")
    out = _np(layer([x, tags]))
    if mode == "code":
        assert out.shape == (4, d + c) and layer.count_params() == 0
        np.testing.assert_array_equal(out, np.concatenate([x, tags], -1))
        return
    assert out.shape == (4, code_dim)
    if mode == "transform_after":
        assert layer.count_params() == (d + c + 1) * code_dim
        joined = np.concatenate([x, tags], -1)
    else:
        assert layer.count_params() == (c + 1) * units + (n - 1) * (units + 1) * units + (d + units + 1) * code_dim
        joined = np.concatenate([x, _transform_reference(tags, layer.transform)], -1)
    ref = joined @ _np(layer.code_layer.kernel) + _np(layer.code_layer.bias)
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_concatenation_paper_configuration():
    """Table 2's best: 3 layers before concatenating with GAP||GMP (256) of 128 filters, code 64."""
    layer = TagConcatenation()
    assert (layer.mode, layer.num_transform_layers, layer.code_dim) == ("transform_before", 3, 64)
    out = layer([np.zeros((2, 256), "float32"), np.zeros((2, 80), "float32")])
    assert tuple(out.shape) == (2, 64)
    assert layer.count_params() == (80 * 128 + 128) + 2 * (128 * 128 + 128) + (256 + 128 + 1) * 64 == 68_032
    # transform_before with 0 layers is transform_after.
    zero = TagConcatenation("transform_before", 0, code_dim=4)
    after = TagConcatenation("transform_after", code_dim=4)
    x, t = np.ones((1, 6), "float32"), np.ones((1, 3), "float32")
    zero([x, t])
    after([x, t])
    assert zero.count_params() == after.count_params() == (6 + 3 + 1) * 4
