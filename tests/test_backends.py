"""Every model and layer on the JAX and PyTorch backends of Keras 3, checked against TensorFlow.

The test process runs on the TensorFlow backend (Keras fixes its backend at import). For each
case of ``tests/backend_cases.py`` it saves the model as ``.keras`` with inputs and TensorFlow
outputs; ``tests/backend_worker.py`` then runs under ``KERAS_BACKEND=jax`` / ``=torch`` in a
subprocess and checks, per case: the file loads there with TensorFlow's outputs within 1e-5,
``from_config`` builds it afresh, one ``fit`` step moves every trainable weight, and a
``.keras`` round trip on that backend gives identical outputs; every metric and loss gives
TensorFlow's value. The cross-backend workflow:
a small preset trained on JAX (or torch), saved, loaded here and exported to an int8 .tflite
and a SavedModel, whose checks must pass.

A backend whose package is missing is skipped (``pip install -e ".[jax]"`` / ``".[torch]"``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests import backend_cases

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "tests", "backend_worker.py")
ATOL = 1e-5
BACKEND_PACKAGES = {"jax": "jax", "torch": "torch"}

# Three groups of about equal cost (JAX's compile dominates), so that xdist spreads them.
MODELS_A = ["zhang_attention_lstm_classifier", "lu_cab_cnn", "deshmukh_two_step_attention_sed", "chang_vggish_teacher"]
MODELS_B = ["chang_cnn_lstm_student", "jung_raw_waveform_asc", "jung_tag_conditioned_asc",
            "jung_tag_conditioned_asc_full"]
LAYERS = [n for n in backend_cases.CASES if n not in MODELS_A + MODELS_B]
GROUPS = {"models_a": MODELS_A, "models_b": MODELS_B, "layers": LAYERS}


def _need(backend):
    if importlib.util.find_spec(BACKEND_PACKAGES[backend]) is None:
        pytest.skip(f"{backend} is not installed (pip install -e \".[{backend}]\")")


def _save_reference(name, folder):
    """Builds case ``name`` here (TensorFlow), saves ``name.keras`` and ``name.npz``."""
    builder, trains = backend_cases.CASES[name]
    keras.utils.set_random_seed(7)
    model, inputs = builder(folder)
    arrays = inputs if isinstance(inputs, list) else [inputs]
    outputs = model(inputs, training=False)
    if isinstance(outputs, dict):
        flat = {str(k): v for k, v in outputs.items()}
    elif isinstance(outputs, (list, tuple)):
        flat = {str(i): v for i, v in enumerate(outputs)}
    else:
        flat = {"0": outputs}
    path = os.path.join(folder, f"{name}.keras")
    model.save(path)
    np.savez(os.path.join(folder, f"{name}.npz"),
             **{f"input_{i}": np.asarray(a) for i, a in enumerate(arrays)},
             **{f"output_{k}": keras.ops.convert_to_numpy(v) for k, v in flat.items()})
    return {"name": name, "model": path, "data": os.path.join(folder, f"{name}.npz"), "trains": trains}


def _save_function_references(folder):
    """The metrics and losses of the package evaluated here (TensorFlow) on fixed arrays."""
    import importlib

    cases = []
    for name, (module, cls, config, kind, y_true, y_pred) in backend_cases.functions().items():
        obj = getattr(importlib.import_module(module), cls)(**config)
        if kind == "metric":
            obj.update_state(y_true, y_pred)
            value = obj.result()
        else:
            value = obj(y_true, y_pred)
        path = os.path.join(folder, f"{name}.npz")
        np.savez(path, y_true=y_true, y_pred=y_pred, expected=keras.ops.convert_to_numpy(value))
        cases.append({"name": name, "kind": kind, "module": module, "class": cls, "config": config, "data": path})
    return cases


_REFERENCES = {}


def _references(group, tmp_path_factory):
    """The group's TensorFlow references, built once per test process."""
    if group not in _REFERENCES:
        folder = str(tmp_path_factory.mktemp(f"tf_{group}"))
        _REFERENCES[group] = [_save_reference(name, folder) for name in GROUPS[group]]
        if group == "layers":  # the metrics and losses ride with the layers (no compile: cheap)
            _REFERENCES[group] += _save_function_references(folder)
    return _REFERENCES[group]


def run_worker(backend, plan, folder, timeout=1800):
    """Runs ``tests/backend_worker.py`` under ``KERAS_BACKEND=backend``; returns its results.

    The timeout is generous: JAX's compiles take most of a group's time, and many times longer
    when other jobs share the cores."""
    plan_path = os.path.join(folder, f"plan_{backend}.json")
    results_path = os.path.join(folder, f"results_{backend}.json")
    with open(plan_path, "w", encoding="utf-8") as f:
        json.dump(plan, f)
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    env.setdefault("JAX_PLATFORMS", "cpu")
    proc = subprocess.run([sys.executable, WORKER, plan_path, results_path], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0 and os.path.isfile(results_path), (
        f"{backend} worker failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    with open(results_path, encoding="utf-8") as f:
        results = json.load(f)
    assert results["backend"] == backend
    return results


@pytest.mark.parametrize("group", sorted(GROUPS))
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_case_matches_tensorflow(backend, group, tmp_path, tmp_path_factory):
    _need(backend)
    cases = _references(group, tmp_path_factory)
    results = run_worker(backend, {"atol": ATOL, "cases": cases}, str(tmp_path))
    assert sorted(results["cases"]) == sorted(c["name"] for c in cases)
    failed = {n: r for n, r in results["cases"].items() if not r["ok"]}
    report = "\n\n".join(f"{n}: {r['error']}\n{r['traceback']}" for n, r in failed.items())
    assert not failed, f"{len(failed)} of {len(cases)} cases fail on {backend}:\n{report}"
    for name, entry in results["cases"].items():
        if name not in backend_cases.CASES:
            assert entry["checks"] == ["value"], (name, entry["checks"])
            continue
        expected = ["load", "build", "fit", "round_trip"] if backend_cases.CASES[name][1] else [
            "load", "build", "round_trip"]
        assert entry["checks"] == expected, (name, entry["checks"])


def _workflow_data(seed=0):
    """Labelled 1 s clips at 8 kHz: class 0 a tone, class 1 loud noise, class 2 a low hum."""
    from tests.export_models import NUM_SAMPLES, SAMPLE_RATE

    rng = np.random.default_rng(seed)
    t = np.arange(NUM_SAMPLES) / SAMPLE_RATE
    x, y = [], []
    for i in range(16):
        labels = rng.random(3) < 0.5
        clip = rng.standard_normal(NUM_SAMPLES) * (0.3 if labels[1] else 0.02)
        if labels[0]:
            clip += 0.4 * np.sin(2 * np.pi * 1500 * t)
        if labels[2]:
            clip += 0.4 * np.sin(2 * np.pi * 120 * t)
        x.append(clip)
        y.append(labels)
    return np.asarray(x, "float32"), np.asarray(y, "float32")


# The student (an LSTM: Keras's torch backend loops in Python on the CPU) on JAX, the teacher
# (convolutions) on torch: the deployable model and the big one, both ways to a device.
WORKFLOWS = {"jax": "chang2020-student-lstm16", "torch": "chang2020-teacher"}


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_train_on_backend_export_under_tensorflow(backend, tmp_path):
    import export
    from tests.export_models import LABELS, SAMPLE_RATE

    _need(backend)
    x, y = _workflow_data()
    data = str(tmp_path / "clips.npz")
    np.savez(data, x=x, y=y, x_check=x[:4])
    saved = str(tmp_path / f"trained_on_{backend}.keras")
    spec = {"preset": WORKFLOWS[backend], "sample_rate": SAMPLE_RATE, "data": data, "epochs": 3, "batch_size": 8,
            "loss": "binary_crossentropy", "save": saved}
    results = run_worker(backend, {"cases": [], "workflow": spec}, str(tmp_path))
    flow = results["workflow"]
    assert flow["ok"], f"training on {backend} failed: {flow.get('error')}\n{flow.get('traceback')}"
    assert flow["losses"][-1] < flow["losses"][0], flow["losses"]

    model = keras.saving.load_model(saved, compile=False)  # trained on `backend`, loaded under TensorFlow
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x[:4], training=False)),
                               np.load(saved + ".scores.npy"), atol=ATOL, rtol=ATOL)
    path = export.to_tflite(model, tmp_path / "model_int8.tflite", "int8", representative_data=x,
                            labels=LABELS, sample_rate=SAMPLE_RATE)
    # to_tflite already ran its checks; check_tflite raises on any failure and reports the errors.
    report = export.check_tflite(path, model, "int8", sample_rate=SAMPLE_RATE, waveforms=list(x[:4]))
    assert report["max_abs_error"] and max(report["max_abs_error"].values()) <= report["tolerance"], report
    serving = export.to_saved_model(model, str(tmp_path / "serving"), LABELS, SAMPLE_RATE)
    assert os.path.isfile(os.path.join(serving, "saved_model.pb"))


def test_train_cli_backend_jax_then_evaluate_and_export_under_tensorflow(tmp_path, capsys):
    """``audioattn train --backend jax`` (relaunched under JAX), then ``evaluate`` and ``export`` here."""
    from keras_audioattn.cli import main
    from keras_audioattn.data.synthetic import write_synthetic_corpus

    _need("jax")
    corpus = write_synthetic_corpus("tagging", tmp_path / "tagging", 16, sample_rate=8000, duration=0.5).parent
    run = tmp_path / "run"
    args = ["train", "--backend", "jax", "--preset", "chang2020-teacher", "--train", str(corpus / "train.csv"),
            "--val", str(corpus / "validation.csv"), "--out", str(run), "--small", "--sample-rate", "8000",
            "--epochs", "2", "--batch-size", "4", "--verbose", "0"]
    assert main(args) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["backend"] == "jax" and config["completed"] and config["epochs_completed"] == 2
    assert keras.backend.backend() == "tensorflow"  # this process stayed on TensorFlow
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run), "--data", str(corpus / "test.csv")]) == 0
    report = json.loads((run / "evaluation.json").read_text())
    assert 0.0 <= report["metrics"]["dcase2019_task5_auprc_micro"] <= 1.0
    assert main(["export", "--model", str(run), "--tflite", str(tmp_path / "model.tflite"), "--quantization",
                 "int8", "--representative", str(corpus / "train.csv"),
                 "--saved-model", str(tmp_path / "serving")]) == 0
    assert os.path.isfile(tmp_path / "model.tflite") and os.path.isfile(tmp_path / "serving" / "1" / "saved_model.pb")


def test_tensorflow_only_options_name_the_flag(tmp_path, capsys):
    """``--strategy mirrored`` on JAX is a usage error naming the flag, before any data is read;
    an unknown backend is refused by the parser."""
    from keras_audioattn import backends
    from keras_audioattn.cli import main

    with pytest.raises(ValueError, match=r"strategy mirrored needs the TensorFlow backend"):
        backends.check_training_options("mirrored", backend="jax")
    assert backends.check_training_options("default", backend="jax") == "jax"
    with pytest.raises(SystemExit):
        main(["train", "--backend", "mxnet", "--preset", "x", "--train", "t.csv", "--out", str(tmp_path)])
    assert "invalid choice: 'mxnet'" in capsys.readouterr().err
