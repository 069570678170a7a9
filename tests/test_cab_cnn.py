"""CAB-CNN (Lu et al. 2020), on the kit's template: basics -> saving -> LiteRT -> presets -> paper
fidelity (Table 2 defaults and parameter count, the equations, padded == alone, the paper's batch
truncation)."""

import math

import numpy as np
import pytest

import keras

from keras_audioattn.data.batching import crop_to_seconds, pad_waveforms, padded_dataset, truncate_to_shortest
from keras_audioattn.models import CABCNN, cab_cnn_training_recipe
from keras_audioattn.models.cab_cnn import DEFAULT_PARAMETER_COUNT, PAPER_PRESETS
from tests import kit
from tests.test_classifier_attention import acb_reference

SR = 16000


def small(num_classes=3, **kwargs):
    """The family's tiny configuration (the ``lu2020-tiny`` preset: 4 / 4 / 4 / 8 filters, 4
    classifiers), at 16 kHz and without the preset's 5 s cut (these clips are shorter anyway)."""
    return CABCNN.from_preset("lu2020-tiny", **{"num_classes": num_classes, "sample_rate": SR, "max_seconds": None,
                                               **kwargs})


def _clip(n, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    return (np.sin(2 * np.pi * (200 + 300 * seed) * t) * (0.2 + rng.random()) + 0.3 * rng.normal(size=n)).astype(
        "float32")


# --- basics -----------------------------------------------------------------------------------


def test_round_trip_and_gradients(tmp_path):
    model = small()
    assert [w.name for w in model.feature_model().weights] != [w.name for w in model.weights]  # no top
    batch, lengths = pad_waveforms([_clip(6000, 1), _clip(4800, 2)])
    loaded = kit.run_model_test(model, [batch, lengths], tmp_path)
    assert isinstance(loaded, CABCNN)
    assert loaded.get_config() == model.get_config()


@pytest.mark.parametrize("kwargs, message", [
    ({"num_classes": 0}, "num_classes"),
    ({"num_classes": 3, "sample_rate": 16000.0}, "sample_rate"),
    ({"num_classes": 3, "max_seconds": -1}, "max_seconds"),
    ({"num_classes": 3, "conv_kernel_sizes": (4, 4)}, "conv_kernel_sizes"),
    ({"num_classes": 3, "dropout_rates": (0.1, 0.1, 1.5, 0.0)}, "dropout_rates"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CABCNN(**kwargs)


def test_unknown_argument_dtype_and_output_name():
    with pytest.raises(TypeError, match="unknown argument `bogus`"):
        CABCNN(3, bogus=1)
    with pytest.raises(TypeError, match=r"did you mean `max_seconds`"):
        CABCNN(3, max_second=5)
    model = small(dtype="mixed_float16", length_input=False)
    config = model.get_config()
    assert config["dtype"]["config"]["name"] == "mixed_float16"
    assert model.get_layer("conv_0").dtype_policy.name == "mixed_float16"
    assert CABCNN.from_config(config).get_layer("conv_0").dtype_policy.name == "mixed_float16"
    # The output is "scores" now; files saved before called it "average" (a weightless layer).
    assert model.output_names == ["scores"] and CABCNN.deprecated_outputs == {"average": "scores"}
    assert np.asarray(model(np.zeros((1, 4000), "float32"))).dtype == np.float32


def test_overfits_a_tiny_batch():
    # Waveform-only variant: a smaller graph to trace (the masked path gets its gradients checked
    # in test_round_trip_and_gradients).
    keras.utils.set_random_seed(0)
    model = small(num_classes=2, dropout_rates=(0.0, 0.0, 0.0, 0.0), length_input=False)
    batch = np.stack([_clip(2400, i) for i in range(4)])
    y = keras.utils.to_categorical([0, 1, 0, 1], 2)
    model.compile(optimizer=keras.optimizers.Adam(3e-2), loss="categorical_crossentropy")
    # train_on_batch: one traced step reused, far cheaper than 30 fit() epochs.
    losses = [float(model.train_on_batch(batch, y)) for _ in range(30)]
    assert losses[-1] < 0.2 * losses[0], f"did not overfit: {losses[0]:.3f} -> {losses[-1]:.3f}"
    assert np.argmax(np.asarray(model(batch, training=True)), -1).tolist() == [0, 1, 0, 1]


# --- saving -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def export_model():
    keras.utils.set_random_seed(3)
    model = small(length_input=False, num_samples=8000)
    bn = model.get_layer("batch_norm")
    bn.moving_variance.assign(np.full(8, 0.5, "float32"))
    return model


def test_saved_model_serves_the_keras_scores(export_model, tmp_path):
    export = pytest.importorskip("export")
    import tensorflow as tf

    clips = np.stack([_clip(8000, i) for i in range(2)])
    path = export.to_saved_model(export_model, str(tmp_path / "sm"), labels=["a", "b", "c"], sample_rate=SR)
    served = tf.saved_model.load(path).signatures["serving_default"]
    out = served(waveform=tf.constant(clips))["scores"].numpy()
    np.testing.assert_allclose(out, np.asarray(export_model(clips)), atol=1e-5)


# --- LiteRT -----------------------------------------------------------------------------------


@pytest.mark.parametrize("quantization", ["float32", "float16", "int8"])
def test_litert_export(export_model, quantization, tmp_path):
    """float16 covers silence too: its file rounds the z-normalisation's epsilon (1e-10) to 0, which
    made a silent clip 0 * inf = NaN before IntervalMaxPooling selected 0 for a constant clip."""
    clips = np.stack([_clip(8000, i) for i in range(6)])
    report = kit.run_litert_export_test(export_model, clips, quantization, tmp_path, labels=["a", "b", "c"],
                                        sample_rate=SR)
    if quantization == "float32":
        assert report["max_abs_error"] <= 1e-4
    elif quantization == "float16":
        assert report["max_abs_error"] <= 2e-2
    else:  # tighter than the exporter's int8 tolerance (0.15): softmax scores within 0.1
        assert report["max_abs_error"] < 0.1
        assert report["ops"] & {"CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL"}


# --- presets ----------------------------------------------------------------------------------


def test_training_recipe_and_presets():
    recipe = cab_cnn_training_recipe()
    assert isinstance(recipe["compile"]["optimizer"], keras.optimizers.Adam)
    assert isinstance(recipe["compile"]["loss"], keras.losses.CategoricalCrossentropy)
    assert recipe["fit"]["batch_size"] == 128
    (stop,) = recipe["fit"]["callbacks"]
    assert isinstance(stop, keras.callbacks.EarlyStopping) and stop.patience == 15
    assert sorted(PAPER_PRESETS) == ["lu2020-cab-cnn-10s", "lu2020-cab-cnn-30s", "lu2020-cab-cnn-5s",
                                     "lu2020-cab-cnn-60s"]
    preset = PAPER_PRESETS["lu2020-cab-cnn-10s"]
    assert preset["training"]["batch_size"] == 128 and preset["training"]["early_stopping_patience"] == 15
    model = CABCNN.from_preset("lu2020-cab-cnn-5s", conv_filters=(2, 2, 2, 2), num_classifiers=2,
                               classifier_units=(2,), attention_units=(2,))
    assert model.max_seconds == 5 and model.num_classes == 3
    with pytest.raises(ValueError, match="unknown preset"):
        CABCNN.from_preset("nope")


@pytest.mark.parametrize("name", kit.presets_of("lu2020"))
def test_presets(name):
    # The forward pass of each distinct tiny configuration runs in tests/test_preset_kit.py.
    model = kit.run_preset_test(name, forward=False)
    assert isinstance(model, CABCNN) and name in CABCNN.presets


# --- paper fidelity ---------------------------------------------------------------------------


def test_default_is_table_2_and_parameter_count():
    model = CABCNN(3)
    assert model.count_params() == DEFAULT_PARAMETER_COUNT == 134_112
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 133_856
    convs = [model.get_layer(f"conv_{i}") for i in range(4)]
    assert [c.filters for c in convs] == [16, 32, 32, 128]
    assert [c.kernel_size[0] for c in convs] == [4, 4, 10, 10]
    assert all(c.padding == "same" and c.activation.__name__ == "relu" for c in convs)
    pools = [model.get_layer(f"pool_{i}") for i in range(4)]
    assert [(p.pool_size[0], p.strides[0]) for p in pools] == [(4, 2), (4, 2), (10, 5), (10, 5)]
    assert [model.get_layer(f"dropout_{i}").rate for i in range(3)] == [0.15, 0.15, 0.1]
    acb = model.get_layer("classifier_attention")
    assert (acb.num_classifiers, acb.classifier_units, acb.attention_units) == (40, (8, 4), (160, 80))
    front = model.get_layer("interval_max")
    assert (front.sample_rate, front.target_rate, front.normalize) == (16000, 4000, True)
    assert [i.name for i in model.inputs] == ["waveform", "lengths"]


def test_steps_and_scores_follow_the_equations():
    """Output steps = ceil chain of Table 2; scores = mean_t of the ACB (NumPy reference) on ``a``."""
    model = small(length_input=False)
    x = np.stack([_clip(8000, 0), _clip(8000, 1)])
    a = np.asarray(model.feature_model()(x))
    steps = 8000 // 4
    for s in (2, 2, 5, 5):
        steps = math.ceil(steps / s)
    assert a.shape == (2, steps, 8)
    c_ref, alpha_ref = acb_reference(a, model.get_layer("classifier_attention"))
    np.testing.assert_allclose(np.asarray(model(x)), c_ref.mean(1), atol=1e-5)
    scores, alpha = model.attention_model()(x)
    np.testing.assert_allclose(np.asarray(alpha), alpha_ref, atol=1e-5)


def test_pooling_matches_keras_same_when_aligned():
    """Our fixed-alignment 'same' pooling equals keras MaxPooling1D('same') when TF pads the same."""
    model = small(length_input=False)
    x = np.random.default_rng(0).random((2, 50, 3)).astype("float32")  # 50 % 5 == 0: TF pads 2 left
    pad, pool = model.get_layer("pool_pad_2"), model.get_layer("pool_2")
    ours = np.asarray(pool(pad(x)))
    theirs = np.asarray(keras.layers.MaxPooling1D(10, 5, padding="same")(x))
    np.testing.assert_array_equal(ours, theirs)


@pytest.fixture(scope="module")
def trained_like():
    """A small model with non-trivial BatchNorm statistics (as after training)."""
    keras.utils.set_random_seed(7)
    model = small()
    bn = model.get_layer("batch_norm")
    rng = np.random.default_rng(0)
    bn.moving_mean.assign(rng.normal(size=8).astype("float32"))
    bn.moving_variance.assign((0.5 + rng.random(8)).astype("float32"))
    return model


@pytest.mark.parametrize("length", [3203, 5600, 8000])
def test_padded_clip_scores_as_the_clip_alone(trained_like, length):
    model = trained_like
    clip = _clip(length, 3)
    other = _clip(9001, 4) * 5.0  # a louder, longer neighbour sets the padded length
    batch, lengths = pad_waveforms([clip, other])
    padded_scores = np.asarray(model([batch, lengths]))
    alone = np.asarray(model([clip[None], np.array([length], "int32")]))
    np.testing.assert_allclose(padded_scores[0], alone[0], atol=2e-6)
    # The waveform-only copy (what is exported) gives the same score on the clip alone.
    np.testing.assert_allclose(np.asarray(model.without_length_input()(clip[None])), alone, atol=2e-6)
    # Padding really is ignored: without the lengths the padded clip scores differently.
    unmasked = np.asarray(model.without_length_input()(batch))[0]
    assert np.abs(unmasked - alone[0]).max() > 1e-4


def test_batchnorm_training_moments_ignore_padding():
    model = small(dropout_rates=(0.0, 0.0, 0.0, 0.0))
    clip = _clip(4321, 5)
    padded = np.pad(clip, (0, 3000))[None]
    n = np.array([len(clip)], "int32")
    a = np.asarray(model([padded, n], training=True))
    b = np.asarray(model([clip[None], n], training=True))
    np.testing.assert_allclose(a, b, atol=2e-6)


def test_max_seconds_uses_the_first_seconds_only():
    model = small(max_seconds=0.25, length_input=False)
    base = CABCNN.from_config({**model.get_config(), "max_seconds": None})
    base.set_weights(model.get_weights())
    x = _clip(8000, 6)[None]
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(base(x[:, :4000])), atol=1e-6)
    with_len = CABCNN.from_config({**model.get_config(), "length_input": True})
    with_len.set_weights(model.get_weights())
    np.testing.assert_allclose(np.asarray(with_len([x, np.array([8000], "int32")])), np.asarray(model(x)),
                               atol=1e-6)


def test_truncate_to_shortest_and_crop():
    import tensorflow as tf

    clips = [_clip(n, i) for i, n in enumerate([900, 500, 700, 1200, 300])]
    targets = np.eye(3)[[0, 1, 2, 0, 1]]
    ds = padded_dataset(clips, targets, batch_size=3)
    (w, n), y = next(iter(ds))
    assert w.shape == (3, 900) and list(n.numpy()) == [900, 500, 700]
    np.testing.assert_array_equal(w.numpy()[1, :500], clips[1])
    np.testing.assert_array_equal(w.numpy()[1, 500:], 0)
    cut = list(truncate_to_shortest(ds))
    (w, n), y = cut[0]
    assert w.shape == (3, 500) and list(n.numpy()) == [500] * 3
    np.testing.assert_array_equal(w.numpy()[2], clips[2][:500])
    (w, n), _ = cut[1]
    assert w.shape == (2, 300)
    plain = tf.data.Dataset.from_tensors((tf.zeros((2, 10)), tf.constant([10, 4])))
    w, n = next(iter(truncate_to_shortest(plain)))
    assert w.shape == (2, 4) and list(n.numpy()) == [4, 4]
    w, n = next(iter(crop_to_seconds(plain, 6 / SR, SR)))
    assert w.shape == (2, 6) and list(n.numpy()) == [6, 4]
    with pytest.raises(ValueError, match="elements"):
        truncate_to_shortest(tf.data.Dataset.from_tensors(tf.zeros((2, 10))))
    with pytest.raises(ValueError, match="1-D"):
        pad_waveforms([np.zeros((2, 3))])
