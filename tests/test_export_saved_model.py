"""export.to_saved_model: TF Serving layout, saved_model_cli show/run, a fresh process without the package."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import export
from tests.export_models import LABELS, NUM_SAMPLES, SAMPLE_RATE, tiny_cnn_lstm_model, tiny_conv_model, waveforms

FRESH_PROCESS = r"""
import json, sys
import numpy as np
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
fn = loaded.signatures["serving_default"]
out = fn(waveform=tf.constant(np.load(sys.argv[2])))
np.savez(sys.argv[3], **{k: v.numpy() for k, v in out.items()})
leaked = [m for m in sys.modules if m.split(".")[0] in ("keras_audioattn", "export", "tf_keras")]
print(json.dumps({"leaked": leaked, "inputs": sorted(fn.structured_input_signature[1])}))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(0)
    # A model with dict outputs {"clip", "frame"} and a recurrent layer: scores_key defaults to "clip".
    model = tiny_cnn_lstm_model(dict_outputs=True)
    base = tmp_path_factory.mktemp("serving") / "tagger"
    path = export.to_saved_model(model, base, LABELS, SAMPLE_RATE)
    return model, str(base), path


def test_layout_and_assets(exported):
    model, base, path = exported
    assert path == os.path.join(base, "1")
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert os.path.isdir(os.path.join(path, "variables"))
    with open(os.path.join(path, "assets", "labels.txt"), encoding="utf-8") as f:
        assert f.read().splitlines() == LABELS
    with open(os.path.join(path, "assets", "audioattn_export.json"), encoding="utf-8") as f:
        info = json.load(f)
    assert info["sample_rate"] == SAMPLE_RATE and info["outputs"] == ["frame", "scores"]


def test_saved_model_cli_and_fresh_process(exported, tmp_path):
    model, _, path = exported
    x = waveforms(3, seed=11)
    np.save(tmp_path / "x.npy", x)
    cli = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    # The three processes run side by side (each pays the TensorFlow import).
    procs = {
        "show": subprocess.Popen(cli + ["show", "--dir", path, "--tag_set", "serve", "--signature_def",
                                        "serving_default"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=env),
        "run": subprocess.Popen(cli + ["run", "--dir", path, "--tag_set", "serve", "--signature_def",
                                       "serving_default", "--inputs", f"waveform={tmp_path / 'x.npy'}",
                                       "--outdir", str(tmp_path / "cli_out")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env),
        "fresh": subprocess.Popen([sys.executable, "-c", FRESH_PROCESS, path, str(tmp_path / "x.npy"),
                                   str(tmp_path / "fresh.npz")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env, cwd=str(tmp_path)),
    }
    outs = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{name}: {stderr[-2000:]}"
        outs[name] = stdout

    show = outs["show"]
    assert "inputs['waveform']" in show and "DT_FLOAT" in show and "(-1, 8000)" in show
    assert "outputs['scores']" in show and "outputs['frame']" in show

    want = model(x, training=False)
    cli_scores = np.load(tmp_path / "cli_out" / "scores.npy")
    np.testing.assert_allclose(cli_scores, np.asarray(want["clip"]), atol=1e-5)

    report = json.loads(outs["fresh"].strip().splitlines()[-1])
    assert report["leaked"] == [] and report["inputs"] == ["waveform"]
    fresh = np.load(tmp_path / "fresh.npz")
    np.testing.assert_allclose(fresh["scores"], np.asarray(want["clip"]), atol=1e-5)
    np.testing.assert_allclose(fresh["frame"], np.asarray(want["frame"]), atol=1e-5)


def test_errors(exported, tmp_path):
    model, base, _ = exported
    with pytest.raises(FileExistsError, match="overwrite"):
        export.to_saved_model(model, base, LABELS, SAMPLE_RATE)
    with pytest.raises(ValueError, match="version"):
        export.to_saved_model(model, tmp_path / "m", LABELS, SAMPLE_RATE, version=0)
    with pytest.raises(ValueError, match="scores_key"):
        export.to_saved_model(model, tmp_path / "m", LABELS, SAMPLE_RATE, scores_key="nope")
    with pytest.raises(ValueError, match="2 labels"):
        export.to_saved_model(tiny_conv_model(), tmp_path / "n", LABELS[:2], SAMPLE_RATE)
    features = keras.Input((100, 16))  # (frames, mel bins): a feature input (stereo waveforms export)
    with pytest.raises(ValueError, match="not a waveform"):
        export.to_saved_model(keras.Model(features, features), tmp_path / "o", LABELS, SAMPLE_RATE)


def test_sed_frame_scores_signature_hop_and_frame_tflite(tmp_path):
    """Issue 16: the 2APAE model's per-frame scores as a second SavedModel signature and as a
    frame-output .tflite, with frame times from the front end's hop."""
    import tensorflow as tf

    from keras_audioattn import presets
    from keras_audioattn.metrics import frame_scores_to_events

    model = presets.build_model("deshmukh2020-2apae", num_classes=3, small=True, for_training=True, sample_rate=8000)
    path = export.to_saved_model(model, tmp_path / "sed", labels=["a", "b", "c"], sample_rate=8000)
    info = json.load(open(os.path.join(path, "assets", "audioattn_export.json")))
    hop = model.get_layer("log_mel").frame_step / 8000
    assert info["signatures"] == ["serving_default", "frame_scores"] and info["frame_hop_seconds"] == hop
    wave = np.random.default_rng(0).standard_normal((1, 16000)).astype("float32") * 0.1
    frames = tf.saved_model.load(path).signatures["frame_scores"](waveform=tf.constant(wave))["frame_scores"].numpy()
    want = np.asarray(model(wave)["frame_scores"])
    np.testing.assert_allclose(frames, want, atol=1e-5)
    events = frame_scores_to_events(frames[0], info["frame_hop_seconds"], threshold=float(np.median(frames)),
                                    class_names=["a", "b", "c"])
    assert events and all(0 <= on < off <= frames.shape[1] * hop + 1e-9 for on, off, _ in events)

    tflite = export.to_tflite(export.frame_scores_model(model), tmp_path / "frames.tflite", "float32",
                              sample_rate=8000, num_samples=16000, metadata=False)
    got = export.run_tflite(tflite, wave)["scores"]
    assert got.shape == want.shape == (1, (16000 - 256) // 128 + 1, 3)
    np.testing.assert_allclose(got, want, atol=1e-4)
    with pytest.raises(ValueError, match="no output 'frame_scores'"):
        export.frame_scores_model(tiny_conv_model())
