"""Training-step speed of the paper models on each Keras backend, side by side in one run.

    python bench/backend_speed.py                       # every model, every installed backend
    python bench/backend_speed.py --models asc teacher --backends tensorflow jax --steps 5
    python bench/backend_speed.py --scale paper         # the papers' batch and clip sizes (slow)

Each backend runs in its own subprocess (Keras fixes the backend at import); per model it
builds the model, compiles it (Adam, the task's loss), runs ``--warmup`` ``train_on_batch``
steps and reports the median of ``--steps`` timed steps, in examples per second. Backends are
run one after the other for each model, so that a change in the machine's load hits all
backends of a model alike; the ratios to TensorFlow in the same run are the figures to quote
(absolute figures depend on the machine and on what else runs on it). Float32, random data.

Writes ``bench/results/backend_speed.json`` (``--out``) and prints a table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BACKENDS = ("tensorflow", "jax", "torch")

# (preset, sample rate, seconds, channels, batch) at two scales: "small" finishes in minutes on
# a shared 2-core machine; "paper" is each paper's batch and clip length.
MODELS = {
    "asc": {"preset": "jung2020-baseline-asc", "builder": "asc", "loss": "categorical_crossentropy",
            "small": (48000, 1.0, 2, 8), "paper": (48000, 5.0, 2, 24)},
    "teacher": {"preset": "chang2020-teacher", "loss": "binary_crossentropy",
                "small": (16000, 2.0, 1, 8), "paper": (16000, 10.0, 1, 32)},
    "2apae": {"preset": "deshmukh2020-2apae", "loss": "binary_crossentropy",
              "small": (32000, 2.0, 1, 4), "paper": (32000, 10.0, 1, 8)},
    "cab_cnn": {"preset": "lu2020-cab-cnn-5s", "loss": "categorical_crossentropy",
                "small": (16000, 5.0, 1, 8), "paper": (16000, 5.0, 1, 32)},
    "student": {"preset": "chang2020-student-lstm16", "loss": "binary_crossentropy",
                "small": (16000, 2.0, 1, 8), "paper": (16000, 10.0, 1, 32)},
    "zhang": {"preset": "zhang2018-ta-sa", "loss": "categorical_crossentropy",
              "small": (16000, 1.0, 1, 8), "paper": (22050, 2.0, 1, 32)},
}


def _build(name, scale):
    import numpy as np

    from keras_audioattn import presets

    spec = MODELS[name]
    rate, seconds, channels, batch = spec[scale]
    samples = int(rate * seconds)
    rng = np.random.default_rng(0)
    if spec.get("builder") == "asc":
        from keras_audioattn.models import RawWaveformASC

        model = RawWaveformASC(num_classes=10, num_channels=channels, num_samples=samples, sample_rate=rate)
        x = rng.normal(size=(batch, samples, channels)).astype("float32") * 0.1
        y = np.eye(10, dtype="float32")[rng.integers(0, 10, batch)]
        return model, x, y
    config = presets.model_config(spec["preset"], for_training=True, sample_rate=rate)
    if "num_samples" in config:  # the fixed-length families (PresetFamily.fixed_length)
        config["num_samples"] = samples
    for key in ("max_seconds",):
        if key in config:
            config[key] = seconds
    model = presets.model_class(spec["preset"])(**config)
    x = rng.normal(size=(batch, samples)).astype("float32") * 0.1
    if getattr(model, "length_input", False):
        x = [x, np.full((batch,), samples, "int32")]
    out = model(x[:1] if not isinstance(x, list) else [v[:1] for v in x], training=False)
    classes = (out["scores"] if isinstance(out, dict) else out).shape[-1]
    if spec["loss"] == "categorical_crossentropy":
        y = np.eye(classes, dtype="float32")[rng.integers(0, classes, batch)]
    else:
        y = (rng.random((batch, classes)) < 0.3).astype("float32")
    if isinstance(out, dict):
        y = {"scores": y}
    return model, x, y


def worker(names, scale, warmup, steps, out_path):
    import keras

    results = {"backend": keras.backend.backend(), "models": {}}
    for name in names:
        try:
            model, x, y = _build(name, scale)
            model.compile(optimizer="adam", loss=MODELS[name]["loss"])
            times = time_train_steps(model, x, y, warmup, steps)
            batch = len(x[0] if isinstance(x, list) else x)
            results["models"][name] = {"median_step_s": statistics.median(times), "steps_s": times,
                                       "examples_per_s": batch / statistics.median(times), "batch": batch,
                                       "params": int(model.count_params())}
        except Exception as error:  # reported in the table
            results["models"][name] = {"error": f"{type(error).__name__}: {str(error)[:300]}"}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(results, f)


def time_train_steps(model, x, y, warmup, steps):
    """Seconds of each of ``steps`` ``train_on_batch`` calls after ``warmup`` untimed ones (tracing,
    allocations); the speed benches report their median."""
    for _ in range(warmup):
        model.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return times


def write_report(out, result, lines):
    """Prints the table ``lines`` and, with ``out``, writes ``result`` as JSON there and the table beside it (.txt)."""
    from keras_audioattn.files import write_text

    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        write_text(out, json.dumps(result, indent=1) + "\n")
        write_text(os.path.splitext(out)[0] + ".txt", text)


def cpu_model():
    """The CPU's model name (/proc/cpuinfo), for the reports of the speed benches."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--scale", default="small", choices=("small", "paper"))
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "backend_speed.json"))
    parser.add_argument("--worker", nargs=2, metavar=("MODEL", "RESULT_JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker([args.worker[0]], args.scale, args.warmup, args.steps, args.worker[1])
        return 0
    backends = [b for b in args.backends if importlib.util.find_spec(b if b != "tensorflow" else "tensorflow")]
    table = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            table[name] = {}
            for backend in backends:
                path = os.path.join(tmp, f"{name}_{backend}.json")
                env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
                           PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
                env.setdefault("JAX_PLATFORMS", "cpu")
                cmd = [sys.executable, os.path.abspath(__file__), "--scale", args.scale, "--warmup", str(args.warmup),
                       "--steps", str(args.steps), "--worker", name, path]
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
                if proc.returncode or not os.path.isfile(path):
                    table[name][backend] = {"error": proc.stderr[-300:]}
                else:
                    with open(path, encoding="utf-8") as f:
                        table[name][backend] = json.load(f)["models"][name]
                print(name, backend, table[name][backend].get("examples_per_s", table[name][backend].get("error")),
                      flush=True)
    report = {"cpu": cpu_model(), "cores": os.cpu_count(), "scale": args.scale, "warmup": args.warmup,
              "steps": args.steps, "configs": {n: MODELS[n][args.scale] for n in args.models}, "results": table}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp_out = args.out + ".tmp"
    with open(tmp_out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    os.replace(tmp_out, args.out)
    print(f"\n{report['cpu']}, {report['cores']} cores, scale {args.scale} (rate, seconds, channels, batch)")
    print(f"{'model':10s} {'config':24s} " + " ".join(f"{b:>18s}" for b in backends))
    for name, row in table.items():
        base = row.get("tensorflow", {}).get("examples_per_s")
        cells = []
        for b in backends:
            r = row[b]
            if "examples_per_s" not in r:
                cells.append(f"{'error':>18s}")
            elif base:
                cells.append(f"{r['examples_per_s']:8.2f} ({r['examples_per_s'] / base:4.2f}x)")
            else:
                cells.append(f"{r['examples_per_s']:18.2f}")
        print(f"{name:10s} {str(MODELS[name][args.scale]):24s} " + " ".join(f"{c:>18s}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
