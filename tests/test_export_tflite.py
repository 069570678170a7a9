"""export.to_tflite: every mode on a tiny conv model and a tiny Keras 3 CNN-LSTM, the checks, metadata.

Conversions are shared through module fixtures (each costs ~1-4 s on 2 cores).
"""

import os

import keras
import numpy as np
import pytest

import export
from export.checks import ExportCheckError, run_tflite, tflite_tensor_types
from export.common import check_signals
from tests.export_models import (LABELS, NUM_SAMPLES, SAMPLE_RATE, tiny_cnn_lstm_model, tiny_conv_model,
                                 waveforms)

MODES = ("float32", "float16", "dynamic", "int8")


@pytest.fixture(scope="module")
def calibration():
    return waveforms(8, seed=1)


def _export_all(model, tmp, calibration):
    x = waveforms(2, seed=3)
    model.scores_before_export = (x, np.asarray(model(x, training=False)))
    paths = {}
    for mode in MODES:
        paths[mode] = export.to_tflite(model, os.path.join(tmp, f"{model.name}_{mode}.tflite"), mode,
                                       representative_data=calibration, labels=LABELS)
    return paths


@pytest.fixture(scope="module")
def conv(tmp_path_factory, calibration):
    keras.utils.set_random_seed(0)
    model = tiny_conv_model()
    return model, _export_all(model, str(tmp_path_factory.mktemp("conv")), calibration)


@pytest.fixture(scope="module")
def lstm(tmp_path_factory, calibration):
    keras.utils.set_random_seed(0)
    model = tiny_cnn_lstm_model()
    return model, _export_all(model, str(tmp_path_factory.mktemp("lstm")), calibration)


def _keras_scores(model, x):
    return np.asarray(model(x, training=False))


@pytest.mark.parametrize("which", ["conv", "lstm"])
@pytest.mark.parametrize("mode", MODES)
def test_each_mode_matches_keras(which, mode, request):
    model, paths = request.getfixturevalue(which)
    path = paths[mode]
    ops = export.assert_builtin_only(path)
    assert "WHILE" not in ops
    if which == "lstm":
        # The Keras 3 LSTM became TFLite's fused op through the tf_keras twin, in every mode.
        assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops
    x = waveforms(3, seed=7)  # clips never seen in calibration
    got = run_tflite(path, x)["scores"]
    want = _keras_scores(model, x)
    assert got.shape == want.shape == (3, len(LABELS))
    np.testing.assert_allclose(got, want, atol=export.TOLERANCES[mode])
    if mode == "float32":
        np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("which", ["conv", "lstm"])
def test_int8_is_integer_after_float_front_end(which, request):
    model, paths = request.getfixturevalue(which)
    types = tflite_tensor_types(paths["int8"])
    ops = [op for op, _ in types]
    q = ops.index("QUANTIZE")
    # The log-mel front end runs in float32 before the single QUANTIZE ...
    assert {"RFFT2D", "LOG"} <= set(ops[:q])
    assert all(dtype.startswith("float") or dtype == "complex64" for _, dtype in types[:q])
    # ... then every compute op of the network produces int8 up to one DEQUANTIZE, after which
    # only the output layer (last dense + sigmoid) runs in float (head="float", the default).
    d = len(ops) - 1 - ops[::-1].index("DEQUANTIZE")
    assert types[d + 1:] == [("FULLY_CONNECTED", "float32"), ("LOGISTIC", "float32")], types[d:]
    network = [(op, dtype) for op, dtype in types[q + 1:d]]
    assert network and all(dtype == "int8" for _, dtype in network), network
    if which == "lstm":
        assert ("UNIDIRECTIONAL_SEQUENCE_LSTM", "int8") in network
    if which == "lstm":  # the conv model's few weights are smaller than the float log-mel constants
        sizes = {mode: os.path.getsize(p) for mode, p in paths.items()}
        assert sizes["int8"] < sizes["float32"] and sizes["dynamic"] < sizes["float32"], sizes
        assert sizes["float16"] < sizes["float32"], sizes


def test_int8_head_option_quantizes_the_output_layer(conv, calibration, tmp_path):
    model, _ = conv
    path = export.to_tflite(model, tmp_path / "int8_head.tflite", "int8", representative_data=calibration,
                            labels=LABELS, head="int8")
    types = tflite_tensor_types(path)
    assert types[-1][0] == "DEQUANTIZE" and types[-2] == ("LOGISTIC", "int8"), types[-3:]
    with pytest.raises(ValueError, match="head"):
        export.to_tflite(model, tmp_path / "bad.tflite", "int8", representative_data=calibration, head="int4")


def test_recheck_on_silence_noise_tone(lstm):
    model, paths = lstm
    report = export.check_tflite(paths["int8"], model, "int8", sample_rate=SAMPLE_RATE)
    assert set(report["max_abs_error"]) == {"silence", "noise", "tone"}
    assert max(report["max_abs_error"].values()) <= report["tolerance"]
    scores = run_tflite(paths["int8"], np.stack(list(check_signals(NUM_SAMPLES, SAMPLE_RATE).values())))["scores"]
    assert np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores <= 1))


def test_check_detects_a_wrong_file(conv, lstm):
    """The check is not a rubber stamp: the conv model's file does not pass for different weights."""
    model, paths = conv
    other = keras.models.clone_model(model)
    weights = [w + 0.5 for w in model.get_weights()]
    other.set_weights(weights)
    with pytest.raises(ExportCheckError, match="max abs difference"):
        export.check_tflite(paths["float32"], other, "float32", sample_rate=SAMPLE_RATE)


def test_lstm_twin_leaves_model_untouched(lstm):
    """After four exports through tf_keras twins the Keras model is exactly what it was."""
    model, _ = lstm
    layer = next(layer for layer in model.layers if isinstance(layer, keras.layers.LSTM))
    assert "call" not in layer.__dict__
    x, before = model.scores_before_export
    np.testing.assert_array_equal(_keras_scores(model, x), before)


def _lstm_cell_clips(path):
    from tensorflow.lite.python import schema_py_generated as fb

    model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(open(path, "rb").read(), 0))
    lstm = fb.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    return [op.builtinOptions.cellClip for g in model.subgraphs for op in g.operators
            if max(model.operatorCodes[op.opcodeIndex].builtinCode,
                   model.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode) == lstm]


def test_float_lstm_does_not_clip_cell_state(tmp_path):
    """The converter's LSTM fusion writes cell_clip=10; Keras does not clip. Hand-set weights make
    the cell climb to ~30 and fall by 20: Keras ends at c=+10 (h=+1), a clipped cell at -10 (h=-1)."""
    waveform = keras.Input((100,))
    layer = keras.layers.LSTM(1)
    model = keras.Model(waveform, layer(keras.layers.Reshape((50, 2))(waveform)))
    # Small non-zero weights everywhere: the converter mishandles all-zero gate matrices.
    rng = np.random.default_rng(0)
    kernel = rng.uniform(-0.05, 0.05, (2, 4)).astype("float32")
    kernel[0, 2] = 10.0  # candidate g = tanh(10 x0) = +-1; biases of 10 keep i, f, o near 1
    bias = np.array([10, 10, 0, 10], "float32") + rng.uniform(-0.05, 0.05, 4).astype("float32")
    layer.set_weights([kernel, rng.uniform(-0.05, 0.05, (1, 4)).astype("float32"), bias])
    x = np.zeros((1, 100), "float32")
    x[0, 0::2] = np.concatenate([np.ones(30), -np.ones(20)])
    path = export.to_tflite(model, tmp_path / "clip.tflite")
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in export.tflite_ops(path)
    want = np.asarray(model(x))
    assert want[0, 0] > 0.99
    np.testing.assert_allclose(run_tflite(path, x)["scores"], want, atol=1e-4)


def test_clipped_lstm_exports_its_clip(tmp_path):
    """ClippedLSTM(cell_clip=10) on the weights above: Keras clips (ends at h = -1) and so does
    the .tflite, whose fused op carries cell_clip=10; the plain LSTM's file has no clip (h = +1)."""
    from keras_audioattn.layers import ClippedLSTM

    waveform = keras.Input((100,))
    layer = ClippedLSTM(1, cell_clip=10.0)
    model = keras.Model(waveform, layer(keras.layers.Reshape((50, 2))(waveform)))
    rng = np.random.default_rng(0)
    kernel = rng.uniform(-0.05, 0.05, (2, 4)).astype("float32")
    kernel[0, 2] = 10.0
    bias = np.array([10, 10, 0, 10], "float32") + rng.uniform(-0.05, 0.05, 4).astype("float32")
    layer.set_weights([kernel, rng.uniform(-0.05, 0.05, (1, 4)).astype("float32"), bias])
    x = np.zeros((1, 100), "float32")
    x[0, 0::2] = np.concatenate([np.ones(30), -np.ones(20)])
    path = export.to_tflite(model, tmp_path / "clipped.tflite")
    assert _lstm_cell_clips(path) == [10.0]
    want = np.asarray(model(x))
    assert want[0, 0] < -0.99
    np.testing.assert_allclose(run_tflite(path, x)["scores"], want, atol=1e-4)


@pytest.mark.parametrize("mode", MODES)
def test_no_lstm_file_keeps_the_converters_cell_clip(lstm, mode):
    """int8 too: its int16 cell state saturates at its calibrated power-of-two range; the extra
    clip at 10 cut trained students' cells (measured: max |int8 - Keras| 0.17 -> 0.02, docs/export.md)."""
    _, paths = lstm
    assert _lstm_cell_clips(paths[mode]) == [0.0]


def test_metadata_read_back(conv, lstm):
    for _, paths in (conv, lstm):
        meta = export.read_metadata(paths["int8"])
        assert meta["sample_rate"] == SAMPLE_RATE and meta["channels"] == 1
        assert meta["labels"] == LABELS


def test_mediapipe_audio_classifier_loads_and_classifies(lstm):
    pytest.importorskip("mediapipe")
    from mediapipe.tasks.python import audio
    from mediapipe.tasks.python.components.containers import audio_data
    from mediapipe.tasks.python.core.base_options import BaseOptions

    model, paths = lstm
    options = audio.AudioClassifierOptions(base_options=BaseOptions(model_asset_path=paths["int8"]),
                                           max_results=len(LABELS))
    clip = waveforms(2, seed=5)[1]
    with audio.AudioClassifier.create_from_options(options) as classifier:
        result = classifier.classify(audio_data.AudioData.create_from_array(clip, SAMPLE_RATE))
    categories = {c.category_name: c.score for c in result[0].classifications[0].categories}
    assert set(categories) == set(LABELS)
    litert = run_tflite(paths["int8"], clip[None])["scores"][0]
    np.testing.assert_allclose([categories[name] for name in LABELS], litert, atol=1e-6)


def test_errors(tmp_path, conv, calibration):
    model, paths = conv
    with pytest.raises(FileExistsError, match="overwrite"):
        export.to_tflite(model, paths["float32"])
    with pytest.raises(ValueError, match="representative_data"):
        export.to_tflite(model, tmp_path / "a.tflite", "int8")
    with pytest.raises(ValueError, match="quantization"):
        export.to_tflite(model, tmp_path / "a.tflite", "int4")
    features = keras.Input((20, 16))
    no_waveform = keras.Model(features, keras.layers.Dense(2)(keras.layers.Flatten()(features)))
    with pytest.raises(ValueError, match="Wrap a feature-input model"):
        export.to_tflite(no_waveform, tmp_path / "b.tflite")
    wave = keras.Input((NUM_SAMPLES,))
    gru = keras.Model(wave, keras.layers.GRU(2)(keras.layers.Reshape((-1, 80))(wave)))
    with pytest.raises(ValueError, match="WHILE"):
        export.to_tflite(gru, tmp_path / "c.tflite", "int8", representative_data=calibration)
    with pytest.raises(ValueError, match="labels"):
        export.to_tflite(model, tmp_path / "d.tflite", labels=["only_one"], sample_rate=SAMPLE_RATE)
    assert not os.path.exists(tmp_path / "a.tflite")
