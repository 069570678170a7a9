"""Subprocess half of the backend matrix (``tests/test_backends.py``); run under a KERAS_BACKEND.

    KERAS_BACKEND=jax python tests/backend_worker.py PLAN.json RESULTS.json

Keras fixes its backend at import, so each non-TensorFlow backend is checked in its own
process; one process checks many cases to pay the import once. ``PLAN.json``::

    {"atol": 1e-5, "cases": [{"name": ..., "model": "x.keras", "data": "x.npz", "trains": true,
                               "save_trained": "x.jax.keras" or null}, ...]}

Each ``.keras`` was saved on the TensorFlow backend; ``x.npz`` holds its inputs (``input_0``,
``input_1``, ...) and its TensorFlow outputs (``output_<key>``) in inference mode. Per case:

1. ``load``: the TF-saved ``.keras`` loads here and gives TF's outputs (same weights) within
   ``atol`` (absolute and relative).
2. ``build``: ``from_config`` builds the model afresh on this backend; with the loaded weights it
   gives the loaded model's outputs.
3. ``fit`` (``trains``): one ``model.fit`` step (Adam with a tiny epsilon, MSE to zeros on every
   output) gives a finite loss and moves every trainable weight: a weight that does not move
   got an exactly-zero gradient.
4. ``round_trip``: the trained model saved as ``.keras`` on this backend and reloaded gives
   identical outputs (``save_trained``: also kept at that path, for the TensorFlow side).

A case with ``"kind": "metric"`` or ``"loss"`` (``module``, ``class``, ``config``; ``data`` with
``y_true``, ``y_pred``, ``expected``) checks a metric or loss of the package instead.

``"workflow"`` (optional): train a preset's small model here (:func:`run_workflow`), for the
TensorFlow side to load and export.

``RESULTS.json``: ``{"backend": ..., "cases": {name: {"ok": bool, "error": str, "seconds": wall,
"cpu_seconds": this process's CPU time}}}``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback

import numpy as np


def _inputs(data):
    keys = sorted((k for k in data.files if k.startswith("input_")), key=lambda k: int(k.split("_")[1]))
    arrays = [data[k] for k in keys]
    return arrays[0] if len(arrays) == 1 else arrays


def _flat(outputs):
    import keras

    if isinstance(outputs, dict):
        return {str(k): keras.ops.convert_to_numpy(v) for k, v in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return {str(i): keras.ops.convert_to_numpy(v) for i, v in enumerate(outputs)}
    return {"0": keras.ops.convert_to_numpy(outputs)}


def _compare(want, got, atol, rtol, what):
    if sorted(want) != sorted(got):
        raise AssertionError(f"{what}: output keys {sorted(got)} != {sorted(want)}")
    for key in want:
        a, b = np.asarray(want[key]), np.asarray(got[key])
        if a.shape != b.shape:
            raise AssertionError(f"{what}[{key}]: shape {b.shape} != {a.shape}")
        err = np.abs(a.astype("float64") - b.astype("float64"))
        bound = atol + rtol * np.abs(a.astype("float64"))
        if not np.all(np.isfinite(b)) or np.any(err > bound):
            raise AssertionError(f"{what}[{key}]: max |diff| {float(err.max()):.3g} (bound {atol} + {rtol}*|x|)")


def check_function(case, atol):
    """A metric (two ``update_state`` halves, ``result``, ``reset_state``) or a loss of the package,
    built from ``config`` here, against the value TensorFlow computed on the same arrays."""
    import importlib

    import keras

    data = np.load(case["data"])
    y_true, y_pred = data["y_true"], data["y_pred"]
    obj = getattr(importlib.import_module(case["module"]), case["class"])(**case["config"])
    if case["kind"] == "metric":
        half = len(y_true) // 2
        obj.update_state(y_true[:half], y_pred[:half])
        obj.update_state(y_true[half:], y_pred[half:])
        got = {"0": keras.ops.convert_to_numpy(obj.result())}
        obj.reset_state()
        obj.update_state(y_true, y_pred)
        _compare(got, {"0": keras.ops.convert_to_numpy(obj.result())}, 1e-6, 1e-6, "after reset_state")
    else:
        got = {"0": keras.ops.convert_to_numpy(obj(y_true, y_pred))}
    _compare({"0": data["expected"]}, got, atol, atol, f"{case['class']} here vs TF")
    return ["value"]


def check_case(case, atol, work):
    import keras

    if case.get("kind") in ("metric", "loss"):
        return check_function(case, atol)

    data = np.load(case["data"])
    x = _inputs(data)
    want = {k[len("output_"):]: data[k] for k in data.files if k.startswith("output_")}
    done, clock = [], [time.perf_counter()]

    def mark(check):  # the check passed; its seconds go to the results (where a group's time goes)
        done.append(check)
        case.setdefault("check_seconds", {})[check] = round(time.perf_counter() - clock[0], 2)
        clock[0] = time.perf_counter()

    loaded = keras.saving.load_model(case["model"], compile=False)
    reference = _flat(loaded(x, training=False))
    _compare(want, reference, atol, atol, "TF-saved model loaded here vs TF")
    mark("load")

    fresh = loaded.__class__.from_config(loaded.get_config())
    if not fresh.built:
        fresh(x, training=False)
    fresh.set_weights(loaded.get_weights())
    _compare(reference, _flat(fresh(x, training=False)), 1e-6, 1e-6, "from_config rebuild vs loaded")
    mark("build")

    if case["trains"]:
        before = [keras.ops.convert_to_numpy(w) for w in fresh.trainable_weights]
        if not before:
            raise AssertionError("expected trainable weights, found none")
        fresh.compile(optimizer=keras.optimizers.Adam(1e-3, epsilon=1e-12), loss="mse")
        structure = loaded.output if isinstance(loaded.output, dict) else None
        targets = {k: np.zeros_like(reference[k]) for k in structure} if structure else (
            [np.zeros_like(reference[k]) for k in sorted(reference, key=int)] if len(reference) > 1
            else np.zeros_like(reference["0"]))
        batch = len(x[0] if isinstance(x, list) else x)
        history = fresh.fit(x, targets, batch_size=batch, epochs=1, verbose=0, shuffle=False)
        loss = history.history["loss"][-1]
        if not np.isfinite(loss):
            raise AssertionError(f"fit step: non-finite loss {loss}")
        stuck = [w.path for w, b in zip(fresh.trainable_weights, before)
                 if np.array_equal(keras.ops.convert_to_numpy(w), b)]
        if stuck:
            raise AssertionError(f"fit step: no gradient reached {stuck}")
        mark("fit")

    path = case.get("save_trained") or os.path.join(work, f"{case['name']}.keras")
    expected = _flat(fresh(x, training=False))
    fresh.save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    _compare(expected, _flat(reloaded(x, training=False)), 1e-6, 1e-6, ".keras round trip on this backend")
    mark("round_trip")
    return done


def run_workflow(spec):
    """A user's training run on this backend: a preset's small model fitted for a few epochs on
    labelled clips, saved as ``.keras`` (``spec["save"]``) with its outputs on ``x_check``."""
    import keras

    from keras_audioattn import presets

    keras.utils.set_random_seed(int(spec.get("seed", 0)))
    data = np.load(spec["data"])
    config = presets.model_config(spec["preset"], num_classes=int(data["y"].shape[-1]), small=True,
                                  for_training=True, sample_rate=int(spec["sample_rate"]))
    if "clip_duration" in config:  # fixed-length models: the clips' length
        config["clip_duration"] = data["x"].shape[1] / int(spec["sample_rate"])
    model = presets.model_class(spec["preset"])(**config)
    model.compile(optimizer=keras.optimizers.Adam(float(spec.get("learning_rate", 1e-2))), loss=spec["loss"])
    history = model.fit(data["x"], data["y"], batch_size=int(spec["batch_size"]), epochs=int(spec["epochs"]),
                        verbose=0, shuffle=False)
    losses = [float(v) for v in history.history["loss"]]
    if not all(np.isfinite(losses)):
        raise AssertionError(f"non-finite training loss: {losses}")
    model.save(spec["save"])
    scores = keras.ops.convert_to_numpy(model(data["x_check"], training=False))
    np.save(spec["save"] + ".scores.npy", scores)
    return {"losses": losses}


def main(argv):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    plan_path, results_path = argv
    with open(plan_path, encoding="utf-8") as f:
        plan = json.load(f)
    start, cpu = time.perf_counter(), time.process_time()
    import keras

    import keras_audioattn  # noqa: F401  (registers the package's layers and models)

    results = {"backend": keras.backend.backend(), "import_seconds": round(time.perf_counter() - start, 2),
               "import_cpu_seconds": round(time.process_time() - cpu, 2),
               "cases": {}}
    keras.utils.set_random_seed(0)
    with tempfile.TemporaryDirectory() as work:
        for case in plan["cases"]:
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                done = check_case(case, float(plan.get("atol", 1e-5)), work)
                entry = {"ok": True, "checks": done, "check_seconds": case.get("check_seconds", {})}
            except Exception as error:  # reported per case by the test
                entry = {"ok": False, "error": f"{type(error).__name__}: {error}",
                         "traceback": traceback.format_exc(limit=8)}
            entry["seconds"] = round(time.perf_counter() - t0, 2)
            entry["cpu_seconds"] = round(time.process_time() - c0, 2)
            results["cases"][case["name"]] = entry
        if plan.get("workflow"):
            t0 = time.perf_counter()
            try:
                entry = {"ok": True, **run_workflow(plan["workflow"])}
            except Exception as error:
                entry = {"ok": False, "error": f"{type(error).__name__}: {error}",
                         "traceback": traceback.format_exc(limit=8)}
            entry["seconds"] = round(time.perf_counter() - t0, 2)
            results["workflow"] = entry
    tmp = results_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    os.replace(tmp, results_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
