"""audio_layers.Conv1D, .Conv2D and .BatchNormalization: Keras' forward pass, a hand-written backward.

The maths: the kernel-gradient taps against a NumPy loop over (example, time), and every
gradient against the backend's own autodiff of ``keras.layers.Conv1D`` /
``keras.layers.BatchNormalization`` on the same weights (the reference the custom backward must
equal). Then the kit's layer checks, the fall-backs, and RawWaveformASC with and without them.
(JAX and torch run both layers, gradient forced on, in the backend matrix: ``custom_gradient_layers``
in ``tests/backend_cases.py``.)
"""

import numpy as np
import pytest

import keras
from keras import ops

from keras_audioattn import layers as audio_layers
from keras_audioattn.layers import closed_form_batch_norm
from keras_audioattn.layers.matmul_gradient_conv import (
    _shifted_product,
    conv1d_same_matmul_gradient,
    conv2d_same_patch_gradient,
)
from keras_audioattn.models import RawWaveformASC, VGGishTeacher
from tests import kit


def _gradients(layer, x, upstream, training=None):
    """Output and d(sum(output * upstream)) / d(x, every trainable weight) on the TensorFlow backend."""
    import tensorflow as tf

    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x) if training is None else layer(x, training=training)
        loss = tf.reduce_sum(y * upstream)
    grads = tape.gradient(loss, [x] + [w.value for w in layer.trainable_weights])
    return [np.asarray(y)] + [np.asarray(g) for g in grads]


def _assert_all_close(want, got, rtol):
    for i, (a, b) in enumerate(zip(want, got)):
        scale = max(float(np.max(np.abs(a))), 1e-6)
        assert np.max(np.abs(a - b)) <= rtol * scale, f"item {i}: max |diff| {np.max(np.abs(a - b))} vs {scale}"


def _scores_and_gradients(model, x, y, loss_function):
    """A model's training-mode scores and the gradient of ``loss_function`` for every trainable variable (TF)."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        scores = model(x, training=True)
        loss = loss_function(y, scores)
    return [np.asarray(scores)] + [np.asarray(g) for g in tape.gradient(loss, model.trainable_variables)]


def _assert_same_as_native(native, custom, x, upstream, rng, scale=1.0):
    """Random weights in both layers; the forward pass bit-identical, the gradients within 1e-5."""
    native.build(x.shape)
    custom.build(x.shape)
    custom.set_weights([w + scale * rng.normal(size=w.shape).astype("float32") for w in native.get_weights()])
    native.set_weights(custom.get_weights())
    assert custom.uses_matmul_gradient()
    want, got = _gradients(native, x, upstream), _gradients(custom, x, upstream)
    np.testing.assert_array_equal(got[0], want[0])  # the forward pass is Keras' own
    _assert_all_close(want[1:], got[1:], rtol=1e-5)


@pytest.mark.parametrize("shift", [-3, -2, -1, 0, 1, 2, 3])
@pytest.mark.parametrize("time", [1, 2, 7])
def test_kernel_gradient_taps_match_a_numpy_loop(shift, time):
    rng = np.random.default_rng(abs(shift) + 10 * time)
    x, g = rng.normal(size=(3, time, 4)), rng.normal(size=(3, time, 5))
    want = np.zeros((4, 5))
    for b in range(3):
        for t in range(time):
            if 0 <= t + shift < time:
                want += np.outer(x[b, t + shift], g[b, t])
    got = np.asarray(_shifted_product(ops.convert_to_tensor(x, "float32"), ops.convert_to_tensor(g, "float32"),
                                      shift))
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("kernel_size, time", [(1, 6), (3, 1), (3, 9), (5, 2), (5, 9)])
def test_conv_output_is_conv1d_and_gradients_match_autodiff(kernel_size, time):
    rng = np.random.default_rng(kernel_size * 100 + time)
    x = rng.normal(size=(3, time, 4)).astype("float32")
    upstream = rng.normal(size=(3, time, 6)).astype("float32")
    native = keras.layers.Conv1D(6, kernel_size, padding="same", activation="tanh")
    custom = audio_layers.Conv1D(6, kernel_size, padding="same", activation="tanh", gradient="matmul")
    _assert_same_as_native(native, custom, x, upstream, rng)


def test_even_kernel_is_refused_by_the_function():
    with pytest.raises(ValueError, match="odd"):
        conv1d_same_matmul_gradient(ops.zeros((1, 4, 2)), ops.zeros((2, 2, 3)))


@pytest.mark.parametrize("options", [{"strides": 2}, {"dilation_rate": 2}, {"padding": "valid"},
                                     {"padding": "causal"}, {"kernel_size": 4}, {"gradient": "native"}])
def test_conv_falls_back_to_conv1d_outside_its_case(options):
    options = {"kernel_size": 3, "padding": "same", **options}
    layer = audio_layers.Conv1D(5, **options)
    assert not layer.uses_matmul_gradient()
    x = np.random.default_rng(0).normal(size=(2, 12, 3)).astype("float32")
    native = keras.layers.Conv1D(5, **{k: v for k, v in options.items() if k != "gradient"})
    native.build(x.shape)
    layer.build(x.shape)
    layer.set_weights(native.get_weights())
    np.testing.assert_array_equal(np.asarray(layer(x)), np.asarray(native(x)))


def test_auto_uses_the_matmul_gradient_on_tensorflow_only():
    layer = audio_layers.Conv1D(4, 3, padding="same")
    assert layer.gradient == "auto" and layer.uses_matmul_gradient() == (keras.backend.backend() == "tensorflow")
    with pytest.raises(ValueError, match="gradient"):
        audio_layers.Conv1D(4, 3, gradient="fast")


def test_conv_layer_kit(tmp_path):
    x = np.random.default_rng(1).normal(size=(2, 10, 3)).astype("float32")
    kit.run_layer_test(audio_layers.Conv1D, {"filters": 4, "kernel_size": 3, "padding": "same", "gradient": "matmul"},
                       x, (2, 10, 4), tmp_path=tmp_path)


@pytest.mark.parametrize("shape, axis", [((4, 9, 5), -1), ((3, 5, 4, 6), 1)])
def test_batch_norm_matches_keras_in_training(shape, axis):
    rng = np.random.default_rng(len(shape))
    x = (2.0 + 3.0 * rng.normal(size=shape)).astype("float32")
    upstream = rng.normal(size=shape).astype("float32")
    native = keras.layers.BatchNormalization(axis=axis, momentum=0.9)
    custom = audio_layers.BatchNormalization(axis=axis, momentum=0.9, gradient="closed_form")
    native.build(shape)
    custom.build(shape)
    weights = [w + rng.normal(size=w.shape).astype("float32") ** 2 for w in native.get_weights()]
    native.set_weights(weights)
    custom.set_weights(weights)
    assert custom.uses_closed_form_gradient(training=True)
    want = _gradients(native, x, upstream, training=True)
    got = _gradients(custom, x, upstream, training=True)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)  # Keras' formula, other summation order
    _assert_all_close(want[1:], got[1:], rtol=1e-5)
    for a, b in zip(native.non_trainable_weights, custom.non_trainable_weights):  # moving statistics
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5)
        assert not np.allclose(np.asarray(b), np.asarray(weights[2 if "mean" in b.name else 3]))  # updated


@pytest.mark.parametrize("shape, axis", [((3, 50, 4), -1), ((2, 5, 6, 3), -1), ((4, 3, 7), 1)])
def test_channel_moments_is_the_two_pass_formula_of_numpy(shape, axis):
    x = (5.0 + 2.0 * np.random.default_rng(sum(shape)).normal(size=shape)).astype("float32")
    mean, variance = closed_form_batch_norm.channel_moments(x, axis)
    axes = tuple(a for a in range(len(shape)) if a != axis % len(shape))
    x64 = x.astype("float64")
    np.testing.assert_allclose(np.asarray(mean), x64.mean(axis=axes), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(variance), x64.var(axis=axes), rtol=1e-5)


def test_batch_norm_falls_back_outside_training_and_with_options():
    x = np.random.default_rng(3).normal(size=(2, 6, 3)).astype("float32")
    layer = audio_layers.BatchNormalization(gradient="closed_form")
    assert not layer.uses_closed_form_gradient(training=False)
    assert not layer.uses_closed_form_gradient(training=True, mask=np.ones((2, 6), bool))
    assert not audio_layers.BatchNormalization(center=False, gradient="closed_form").uses_closed_form_gradient()
    assert not audio_layers.BatchNormalization(gradient="native").uses_closed_form_gradient()
    native = keras.layers.BatchNormalization()
    native.build(x.shape)
    layer.build(x.shape)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), np.asarray(native(x, training=False)))
    with pytest.raises(ValueError, match="gradient"):
        audio_layers.BatchNormalization(gradient="fused")


def test_batch_norm_layer_kit(tmp_path):
    x = np.random.default_rng(2).normal(size=(4, 7, 3)).astype("float32")
    kit.run_layer_test(audio_layers.BatchNormalization, {"gradient": "closed_form"}, x, (4, 7, 3), tmp_path=tmp_path)


def test_raw_waveform_asc_is_the_same_model_with_and_without_custom_gradients():
    config = dict(num_classes=3, code_dim=6, sample_rate=16000, first_filters=8, first_kernel=4,
                  block_filters=(8, 12), num_samples=400)
    keras.utils.set_random_seed(3)
    custom, native = RawWaveformASC(custom_gradients="always", **config), RawWaveformASC(custom_gradients="never",
                                                                                           **config)
    native.set_weights(custom.get_weights())
    assert sum(isinstance(layer, audio_layers.Conv1D) and layer.uses_matmul_gradient()
               for layer in custom.layers) == 5  # 2 + 2 block convs and the 8 -> 12 shortcut
    assert not any(getattr(layer, "uses_matmul_gradient", lambda: False)() for layer in native.layers)
    x = np.random.default_rng(4).normal(size=(3, 400, 2)).astype("float32")
    y = np.eye(3, dtype="float32")[[0, 1, 2]]
    results = [_scores_and_gradients(model, x, y, keras.losses.categorical_crossentropy) for model in (custom, native)]
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5, atol=1e-6)
    _assert_all_close(results[1][1:], results[0][1:], rtol=1e-4)
    with pytest.raises(ValueError, match="custom_gradients"):
        RawWaveformASC(custom_gradients="yes")


# --- Conv2D: the patch-matrix kernel gradient ---------------------------------------------------
def test_conv2d_kernel_gradient_is_the_patch_sum_of_a_numpy_loop():
    import tensorflow as tf

    rng = np.random.default_rng(7)
    x, g = rng.normal(size=(2, 5, 4, 2)), rng.normal(size=(2, 5, 4, 3))
    kernel = rng.normal(size=(3, 5, 2, 3))
    padded = np.pad(x, [(0, 0), (1, 1), (2, 2), (0, 0)])
    want = np.zeros(kernel.shape)
    for b in range(2):
        for h in range(5):
            for w in range(4):
                want += padded[b, h:h + 3, w:w + 5, :, None] * g[b, h, w]
    kernel_t = tf.constant(kernel, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(kernel_t)
        y = conv2d_same_patch_gradient(tf.constant(x, tf.float32), kernel_t)
        loss = tf.reduce_sum(y * g.astype("float32"))
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, kernel_t)), want, atol=1e-4)


@pytest.mark.parametrize("kernel_size, shape, use_bias", [((3, 3), (3, 7, 5, 1), True), ((1, 1), (2, 4, 3, 2), True),
                                                         ((3, 5), (2, 6, 4, 2), False), ((5, 3), (2, 1, 2, 1), True),
                                                         ((3, 3), (1, 1, 1, 2), True)])
def test_conv2d_output_is_conv2d_and_gradients_match_autodiff(kernel_size, shape, use_bias):
    rng = np.random.default_rng(sum(shape))
    x = rng.normal(size=shape).astype("float32")
    upstream = rng.normal(size=shape[:3] + (30,)).astype("float32")
    options = dict(padding="same", activation="relu", use_bias=use_bias)
    native = keras.layers.Conv2D(30, kernel_size, **options)
    custom = audio_layers.Conv2D(30, kernel_size, gradient="matmul", **options)
    _assert_same_as_native(native, custom, x, upstream, rng, scale=0.1)


def test_even_conv2d_kernel_is_refused_by_the_function():
    with pytest.raises(ValueError, match="odd"):
        conv2d_same_patch_gradient(ops.zeros((1, 4, 4, 1)), ops.zeros((2, 3, 1, 3)))


@pytest.mark.parametrize("options, channels", [({}, 4), ({"strides": 2}, 1), ({"dilation_rate": 2}, 1),
                                               ({"padding": "valid"}, 1), ({"kernel_size": 4}, 1),
                                               ({"gradient": "native"}, 1)])
def test_conv2d_falls_back_to_conv2d_outside_its_case(options, channels):
    options = {"kernel_size": 3, "padding": "same", **options}
    layer = audio_layers.Conv2D(12, **options)  # 4 channels: 3 x 3 x 4 = 36 patch values > 12 filters
    x = np.random.default_rng(0).normal(size=(2, 8, 6, channels)).astype("float32")
    native = keras.layers.Conv2D(12, **{k: v for k, v in options.items() if k != "gradient"})
    native.build(x.shape)
    layer.build(x.shape)
    assert not layer.uses_matmul_gradient()
    layer.set_weights(native.get_weights())
    np.testing.assert_array_equal(np.asarray(layer(x)), np.asarray(native(x)))


def test_conv2d_auto_uses_the_patch_gradient_on_tensorflow_only():
    layer = audio_layers.Conv2D(16, 3, padding="same")
    assert not layer.uses_matmul_gradient()  # not built: the input channels decide
    layer.build((None, 8, 8, 1))
    assert layer.uses_matmul_gradient() == (keras.backend.backend() == "tensorflow")
    with pytest.raises(ValueError, match="gradient"):
        audio_layers.Conv2D(4, 3, gradient="fast")


def test_conv2d_layer_kit(tmp_path):
    x = np.random.default_rng(1).normal(size=(2, 6, 5, 1)).astype("float32")
    kit.run_layer_test(audio_layers.Conv2D, {"filters": 9, "kernel_size": 3, "padding": "same", "gradient": "matmul"},
                       x, (2, 6, 5, 9), tmp_path=tmp_path)


def test_vggish_teacher_is_the_same_model_with_and_without_custom_gradients():
    config = dict(num_classes=3, blocks=((16,), (16, 24)), dense_units=(8,), num_mel_bins=8, include_front_end=False)
    keras.utils.set_random_seed(5)
    custom, native = VGGishTeacher(custom_gradients="always", **config), VGGishTeacher(custom_gradients="never",
                                                                                         **config)
    native.set_weights(custom.get_weights())
    assert [layer.name for layer in custom.layers if getattr(layer, "uses_matmul_gradient", lambda: False)()] == [
        "conv1"]  # 9 x 1 <= 16 filters; conv2_1 (9 x 16 > 16) and conv2_2 keep Conv2D's gradient
    assert not any(getattr(layer, "uses_matmul_gradient", lambda: False)() for layer in native.layers)
    x = np.random.default_rng(6).normal(size=(2, 12, 8)).astype("float32")
    y = np.eye(3, dtype="float32")[[0, 2]]
    results = [_scores_and_gradients(model, x, y, keras.losses.binary_crossentropy) for model in (custom, native)]
    np.testing.assert_array_equal(results[0][0], results[1][0])
    _assert_all_close(results[1][1:], results[0][1:], rtol=1e-5)
    assert VGGishTeacher.from_config(custom.get_config()).get_config()["custom_gradients"] == "always"
    with pytest.raises(ValueError, match="custom_gradients"):
        VGGishTeacher(custom_gradients="yes", **config)
