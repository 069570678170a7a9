"""ClassifierAttentionBlock (Lu et al. 2020, Fig. 2 / §4): maths against NumPy and against the
one-classifier-at-a-time formulation, masking, serialisation, gradients, errors."""

import numpy as np
import pytest

import keras

from keras_audioattn.layers import ClassifierAttentionBlock
from tests.helpers import assert_gradients_reach_all_weights, run_layer_test


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def acb_reference(a, layer):
    """The ACB equations in NumPy, one time step and one classifier at a time (float64).

    c_{t,i} = softmax(W3_i relu(W2_i relu(W1_i a_t + b1_i) + b2_i) + b3_i)
    alpha_t = softmax(V3 relu(V2 relu(V1 a_t + d1) + d2) + d3)
    c_t     = sum_i alpha_{t,i} c_{t,i}
    """
    np_ = keras.ops.convert_to_numpy
    ck = [np_(k).astype(np.float64) for k in layer.classifier_kernels]
    cb = [np_(b).astype(np.float64) for b in layer.classifier_biases]
    ak = [np_(k).astype(np.float64) for k in layer.attention_kernels]
    ab = [np_(b).astype(np.float64) for b in layer.attention_biases]
    b, t, _ = a.shape
    n, m = layer.num_classifiers, layer.num_classes
    c = np.zeros((b, t, m))
    alpha = np.zeros((b, t, n))
    for bi in range(b):
        for ti in range(t):
            x = a[bi, ti].astype(np.float64)
            h = x
            for j, (k, bias) in enumerate(zip(ak, ab)):
                h = h @ k + bias
                if j < len(ak) - 1:
                    h = np.maximum(h, 0)
            alpha[bi, ti] = _softmax(h)
            for i in range(n):
                h = x
                for j, (k, bias) in enumerate(zip(ck, cb)):
                    h = h @ k[i] + bias[i]
                    if j < len(ck) - 1:
                        h = np.maximum(h, 0)
                c[bi, ti] += alpha[bi, ti, i] * _softmax(h)
    return c, alpha


def _layer_and_input(seed=0, **kwargs):
    kwargs = {"num_classes": 3, "num_classifiers": 5, "classifier_units": (8, 4), "attention_units": (16, 8),
              "return_attention": True, "bias_initializer": "random_normal", **kwargs}
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(2, 7, 6)).astype("float32")
    layer = ClassifierAttentionBlock(**kwargs)
    layer.build(a.shape)
    return layer, a


# --- basics -----------------------------------------------------------------------------------


def test_layer_round_trip_gradients_and_fit(tmp_path):
    a = np.random.default_rng(3).normal(size=(2, 5, 6)).astype("float32")
    run_layer_test(ClassifierAttentionBlock,
                   {"num_classes": 3, "num_classifiers": 4, "classifier_units": (8, 4), "attention_units": (12, 6)},
                   a, expected_output_shape=(2, 5, 3), tmp_path=tmp_path)
    run_layer_test(ClassifierAttentionBlock,
                   {"num_classes": 2, "num_classifiers": 3, "classifier_units": (4,), "attention_units": (5,),
                    "return_attention": True},
                   a, expected_output_shape=[(2, 5, 2), (2, 5, 3)], tmp_path=tmp_path, run_training_step=False)


def test_gradients_reach_every_classifier():
    layer, a = _layer_and_input(seed=4, return_attention=False)
    assert_gradients_reach_all_weights(layer, a, loss_fn=lambda c: -keras.ops.sum(keras.ops.log(c[..., 0])))
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = -tf.reduce_sum(tf.math.log(layer(a)[..., 0]))
    grad = tape.gradient(loss, layer.classifier_kernels[-1].value).numpy()
    assert np.all(np.abs(grad).reshape(grad.shape[0], -1).max(axis=1) > 0)  # each of the n classifiers


@pytest.mark.parametrize("kwargs, message", [
    ({"num_classes": 0}, "num_classes"),
    ({"num_classes": 3, "num_classifiers": 2.5}, "num_classifiers"),
    ({"num_classes": 3, "classifier_units": (8, -1)}, "classifier_units"),
    ({"num_classes": 3, "attention_units": "big"}, "attention_units"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ClassifierAttentionBlock(**kwargs)


def test_bad_input_rank():
    layer = ClassifierAttentionBlock(3)
    with pytest.raises(ValueError, match="batch, time, features"):
        layer(np.zeros((1, 2, 3, 4), "float32"))


def test_two_dimensional_input_is_one_step():
    layer, a = _layer_and_input(seed=5)
    c2, alpha2 = layer(a[:, 0])
    c3, alpha3 = layer(a[:, :1])
    np.testing.assert_allclose(np.asarray(c2), np.asarray(c3)[:, 0], atol=1e-7)
    assert tuple(alpha2.shape) == (2, 5)


# --- paper fidelity ---------------------------------------------------------------------------


def test_matches_numpy_reference_of_the_equations():
    layer, a = _layer_and_input()
    c, alpha = layer(a)
    c_ref, alpha_ref = acb_reference(a, layer)
    np.testing.assert_allclose(np.asarray(c), c_ref, atol=1e-5)
    np.testing.assert_allclose(np.asarray(alpha), alpha_ref, atol=1e-5)
    np.testing.assert_allclose(np.asarray(alpha).sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(c).sum(-1), 1.0, atol=1e-5)  # a mixture of distributions


def test_batched_equals_separate_dense_classifiers():
    """All n classifiers at once (stacked kernels, einsum) == n separate Keras Dense stacks."""
    layer, a = _layer_and_input(seed=1, classifier_units=(8, 4))
    np_ = keras.ops.convert_to_numpy
    probs = np.asarray(layer.classifier_probabilities(a))
    assert probs.shape == (2, 7, 5, 3)
    for i in range(layer.num_classifiers):
        stack = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(4, activation="relu"),
                                  keras.layers.Dense(3, activation="softmax")])
        weights = []
        for k, b in zip(layer.classifier_kernels, layer.classifier_biases):
            weights += [np_(k)[i], np_(b)[i]]
        stack.set_weights(weights)
        one = np.asarray(stack(a.reshape(-1, 6))).reshape(2, 7, 3)
        np.testing.assert_allclose(probs[:, :, i], one, atol=1e-6)
    attention = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(5, activation="softmax")])
    attention.set_weights([np_(w) for pair in zip(layer.attention_kernels, layer.attention_biases) for w in pair])
    alpha = np.asarray(attention(a.reshape(-1, 6))).reshape(2, 7, 5)
    np.testing.assert_allclose(np.asarray(layer(a)[1]), alpha, atol=1e-6)
    combined = (alpha[..., None] * probs).sum(2)
    np.testing.assert_allclose(np.asarray(layer(a)[0]), combined, atol=1e-6)


def test_per_classifier_initialisation_uses_dense_fans():
    layer = ClassifierAttentionBlock(3, num_classifiers=40)
    layer.build((None, None, 128))
    k0 = keras.ops.convert_to_numpy(layer.classifier_kernels[0])
    limit = np.sqrt(6.0 / (128 + 8))  # Glorot of one Dense(128 -> 8)
    assert np.abs(k0).max() <= limit
    assert np.abs(k0).max() > 0.9 * limit
    assert not np.allclose(k0[0], k0[1])  # classifiers start different


def test_mask_zeroes_padded_steps_and_keeps_valid_ones():
    layer, a = _layer_and_input(seed=2)
    mask = np.array([[True] * 7, [True] * 4 + [False] * 3])
    c, alpha = layer(a, mask=mask)
    c_full, alpha_full = layer(a)
    np.testing.assert_allclose(np.asarray(c)[mask], np.asarray(c_full)[mask], atol=1e-7)
    assert np.all(np.asarray(c)[~mask] == 0) and np.all(np.asarray(alpha)[~mask] == 0)
    # Keras mask propagation through a Masking layer reaches the block.
    inp = keras.Input((7, 6))
    out = layer(keras.layers.Masking(0.0)(inp))
    model = keras.Model(inp, out)
    padded = a.copy()
    padded[1, 4:] = 0.0
    c_mask = np.asarray(model(padded)[0])
    assert np.all(c_mask[1, 4:] == 0)
    np.testing.assert_allclose(c_mask[1, :4], np.asarray(c_full)[1, :4], atol=1e-6)
