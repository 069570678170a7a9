"""AttentionLSTMClassifier (Zhang et al. 2018, §3), on the kit's template: basics -> saving ->
LiteRT -> presets -> paper fidelity (the paper configuration, temporal attention over a clip,
recording-level scores from half-overlapping clips)."""

import os

import keras
import numpy as np
import pytest

from keras_audioattn import preset_registry
from keras_audioattn.models import AttentionLSTMClassifier, predict_recording
from keras_audioattn.models.attention_lstm_classifier import PAPER_PRESETS, from_preset, split_into_clips
from tests import kit
from tests.helpers import assert_overfits, assert_tflite_builtin_only, run_model_test, run_tflite

SR = 8000
#: Clip length of these tests: 0.256 s, 15 frames of the tiny front end (1 + (2048 - 256) // 128),
#: a short recurrence to trace.
CLIP = 2048
TINY_FRAMES = 1 + (CLIP - 256) // 128


def small(num_classes=3, **kwargs):
    """The family's tiny configuration (``zhang2018-tiny``: 8 units, 4 clusters, 16 mel bins, a
    256-sample STFT, hop 128), on ``CLIP``-sample clips at 8 kHz."""
    return AttentionLSTMClassifier.from_preset("zhang2018-tiny", **{"num_classes": num_classes, "sample_rate": SR,
                                                                   "num_samples": CLIP, **kwargs})


def small_log_mel(num_classes=3, **kwargs):
    """The tiny configuration on a 6-bin log-mel input (no front end): a small recurrence to trace."""
    return small(num_classes, **{"include_front_end": False, "num_mel_bins": 6, **kwargs})


def _waves(n, samples=CLIP, seed=0):
    return (0.1 * np.random.default_rng(seed).normal(size=(n, samples))).astype("float32")


# --- basics -----------------------------------------------------------------------------------


def test_waveform_model_standard_checks(tmp_path):
    model = small(variant="ta_sa")
    assert model.input_shape == (None, CLIP)
    assert model.output_shape == (None, 3)
    x = _waves(2)
    run_model_test(model, x, tmp_path)
    probs = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)


# TA+SA is covered with the waveform front end above, TA by the attention test below; every
# cell's own .keras round trip is in test_attention_lstm.py.
@pytest.mark.parametrize("variant", ["vanilla", "sa"])
def test_variants_on_log_mel_input(variant, tmp_path):
    model = small_log_mel(variant=variant, dropout=0.5)
    x = np.random.default_rng(1).normal(size=(2, 7, 6)).astype("float32")
    run_model_test(model, x, tmp_path)
    assert model.get_layer("attention_lstm").emits_attention == (variant in ("ta", "ta_sa"))


def test_l2_on_kernels_and_embedding_output():
    model = small_log_mel(variant="ta")
    # LSTM input + recurrent kernels, TA bilinear kernels (x and h), hidden dense, output dense.
    assert len(model.losses) == 6
    assert len(small(variant="ta", l2=0.0).losses) == 0
    embedder = small(None, include_top=False)
    assert embedder.output_shape == (None, 8)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="variant"):
        AttentionLSTMClassifier(3, variant="gru")
    with pytest.raises(ValueError, match="num_classes"):
        AttentionLSTMClassifier(0)
    with pytest.raises(ValueError, match="dropout"):
        AttentionLSTMClassifier(3, dropout=1.5)
    with pytest.raises(ValueError, match="shorter than one STFT frame"):
        AttentionLSTMClassifier(3, sample_rate=SR, num_samples=400)
    with pytest.raises(ValueError, match="preset"):
        from_preset("zhang2019")
    with pytest.raises(TypeError, match="unknown argument `bogus`"):
        AttentionLSTMClassifier(3, bogus=1)
    with pytest.raises(ValueError, match="num_samples"):
        AttentionLSTMClassifier(3, num_samples=0)


def test_config_has_dtype_and_the_deprecated_clip_duration_converts():
    import warnings

    model = small()
    config = model.get_config()
    assert config["dtype"]["config"]["name"] == "float32" and config["num_samples"] == CLIP
    assert "clip_duration" not in config and model.clip_duration == CLIP / SR and model.clip_samples == CLIP
    assert model.output_names == ["scores"]
    tiny = preset_registry.get("zhang2018-tiny").model_config(num_classes=3, sample_rate=SR)
    tiny.pop("num_samples", None)  # given as the deprecated clip_duration below
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = AttentionLSTMClassifier(**tiny, clip_duration=CLIP / SR)
    assert any("`clip_duration` is deprecated, use `num_samples`" in str(w.message) for w in caught
               if issubclass(w.category, DeprecationWarning))
    assert old.input_shape == (None, CLIP) and old.get_config() == {**config, "name": old.name}


def test_tiny_model_overfits_a_tiny_batch():
    x = np.random.default_rng(2).normal(size=(4, 8, 6)).astype("float32")
    y = keras.utils.to_categorical([0, 1, 2, 1], 3)
    model = AttentionLSTMClassifier(3, variant="ta_sa", include_front_end=False, num_mel_bins=6, l2=0.0,
                                    dropout=0.0,  # the class default is the paper's DCASE 2016 0.5
                                    units=16, attention_size=4, num_clusters=4, hidden_units=(16,))
    # 40 Adam steps on the same 4 examples, run as 4 epochs of 10 identical batches: every
    # epoch of `fit` costs fixed overhead, the steps themselves are cheap.
    assert_overfits(model, np.tile(x, (10, 1, 1)), np.tile(y, (10, 1)), epochs=4, batch_size=4,
                    max_final_ratio=0.1, loss="categorical_crossentropy")


# --- saving -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import export

    keras.utils.set_random_seed(7)
    model = small(variant="ta_sa")
    out = tmp_path_factory.mktemp("zhang_export")
    labels = ["bus", "park", "office"]
    saved = export.to_saved_model(model, str(out / "saved_model"), labels=labels, sample_rate=SR)
    tflite = {q: export.to_tflite(model, str(out / f"zhang_{q}.tflite"), quantization=q, labels=labels)
              for q in ("float32", "dynamic")}
    return model, saved, tflite


def test_saved_model_export_matches_keras(exported):
    import tensorflow as tf

    model, saved, _ = exported
    x = _waves(2, seed=4)
    serve = tf.saved_model.load(saved).signatures["serving_default"]
    got = serve(waveform=tf.constant(x))["scores"].numpy()
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(model(x)), atol=1e-5)


# --- LiteRT -----------------------------------------------------------------------------------


@pytest.mark.parametrize("quantization,atol", [("float32", 1e-4), ("dynamic", 0.05)])
def test_tflite_export_builtin_ops_and_matches_keras(exported, quantization, atol):
    model, _, tflite = exported
    ops = assert_tflite_builtin_only(tflite[quantization])
    assert "WHILE" in ops  # the recurrence stays a loop (fixed batch 1), not unrolled
    x = _waves(1, seed=5)
    got = run_tflite(tflite[quantization], x)[0]
    np.testing.assert_allclose(got.reshape(1, -1), keras.ops.convert_to_numpy(model(x)), atol=atol)
    assert os.path.getsize(tflite[quantization]) > 0


# --- presets ----------------------------------------------------------------------------------


def test_paper_presets_and_defaults():
    assert set(PAPER_PRESETS) == {f"zhang2018-{v}{d}" for v in ("ta-sa", "ta", "sa", "vanilla")
                                  for d in ("", "-dcase2016")}
    for preset in PAPER_PRESETS.values():
        assert set(preset) == {"model", "training", "data", "paper"}
        assert preset["training"]["optimizer"] == "adam" and preset["training"]["learning_rate"] == 1e-3
        assert preset["training"]["epochs"] == 100 and preset["model"]["l2"] == 1e-4
    assert PAPER_PRESETS["zhang2018-ta-sa-dcase2016"]["model"]["dropout"] == 0.5
    model = from_preset("zhang2018-ta-sa")  # LITIS Rouen: 22.05 kHz, 19 classes
    assert model.input_shape == (None, None)  # any length: the 1 s clips are the data's duration
    assert model.get_config() == AttentionLSTMClassifier.from_preset("zhang2018-ta-sa").get_config()
    assert model.output_shape == (None, 19)
    assert model.get_layer("log_mel").compute_output_shape((None, 22050)) == (None, 96, 64)
    assert model.get_layer("attention_lstm").count_params() == 98564
    default = AttentionLSTMClassifier(15)
    # Defaults: the paper's DCASE 2016 setting (§3.2), one hidden layer of 128, no input BatchNorm.
    assert default.variant == "ta_sa" and default.units == 128 and default.hidden_units == (128,)
    assert default.sample_rate == 44100 and default.dropout == 0.5 and not default.normalize_inputs


@pytest.mark.parametrize("name", kit.presets_of("zhang2018"))
def test_presets(name):
    # The forward pass of each distinct tiny configuration runs in tests/test_preset_kit.py.
    model = kit.run_preset_test(name, forward=False)
    assert isinstance(model, AttentionLSTMClassifier) and name in AttentionLSTMClassifier.presets


# --- paper fidelity ---------------------------------------------------------------------------


def test_attention_weights_of_a_clip():
    model = small(variant="ta")
    alpha = keras.ops.convert_to_numpy(model.attention_weights(_waves(2)))
    assert alpha.shape == (2, TINY_FRAMES)
    np.testing.assert_allclose(alpha.sum(-1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="no temporal attention"):
        small(variant="sa").attention_weights(_waves(1))


def test_split_into_clips_covers_the_recording():
    w = np.arange(10, dtype="float32")
    clips = split_into_clips(w, 4, 2)
    np.testing.assert_array_equal(clips, [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9]])
    clips = split_into_clips(np.arange(11, dtype="float32"), 4, 2)
    np.testing.assert_array_equal(clips[-1], [7, 8, 9, 10])  # tail clip aligned with the end
    assert clips.shape == (5, 4)
    np.testing.assert_array_equal(split_into_clips(np.ones(3, "float32"), 4, 2), [[1, 1, 1, 0]])
    with pytest.raises(ValueError, match="1-D"):
        split_into_clips(np.zeros((2, 4)), 4, 2)


def test_predict_recording_averages_half_overlapping_clips():
    model = small(variant="ta_sa")
    recording = _waves(1, samples=12800, seed=3)[0]  # 1.6 s; clips of CLIP = 2048 every 1024
    got = model.predict_recording(recording)
    starts = list(range(0, 10241, 1024)) + [12800 - CLIP]  # the tail clip aligned with the end
    want = keras.ops.convert_to_numpy(model(np.stack([recording[s:s + CLIP] for s in starts]))).mean(axis=0)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert got.shape == (3,)
    several = predict_recording(model, [recording, recording[:1000]], sample_rate=SR)
    assert several.shape == (2, 3)
    np.testing.assert_allclose(several[0], got, atol=1e-5)
    short = keras.ops.convert_to_numpy(model(np.pad(recording[:1000], (0, CLIP - 1000))[None]))[0]
    np.testing.assert_allclose(several[1], short, atol=1e-5)
    with pytest.raises(ValueError, match="sample rate"):
        model.predict_recording(recording, sample_rate=16000)
    with pytest.raises(ValueError, match="overlap"):
        model.predict_recording(recording, overlap=1.0)
