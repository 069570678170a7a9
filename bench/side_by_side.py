"""Training speed of the Keras paper models against the authors' PyTorch code, side by side in one run.

For each paper model that has a public reference implementation, this times the Keras model
and, when the authors' code is present in a folder you name (``--reference-dir``; the package
never vendors it), their PyTorch model in the same run, one right after the other, and writes
examples/s of both and the ratio Keras / reference (issue 18's goal: >= 1.1x).

* ``asc``: Jung et al. 2020, raw-waveform ASC (Table 1); batch 24, stereo 240 000 samples;
  reference ``Jungjee/dcase2019specialistkd`` (the harness imports ``g_model_CNN_c.py``).
* ``asc_code_widths``: the same reference against ``RawWaveformASC`` in the widths of the authors'
  code (64-filter first blocks, a 128-d code), which Table 1 does not have: the like-for-like row.
* ``teacher``: Chang et al. 2020, VGGish teacher, all trainable; batch 32, 998 x 64 log-mel;
  reference ``bongjun/dcase2019-task5`` (``model_architecture.py``).
* ``2apae``: Deshmukh et al. 2020, 2APAE with decoder; batch 8, 311 x 64 log-mel; reference
  ``soham97/MTL_Weakly_labelled_audio_data`` (``models.py``, ``model_utils.py``, ``models_extension.py``).

Usage::

    # Keras only (no reference code at hand)
    python bench/side_by_side.py --steps 3
    # side by side: the authors' code extracted under REF (see docs/benchmarks.md), the timing
    # harness time_reference.py given by path
    python bench/side_by_side.py --reference-dir REF --harness path/to/time_reference.py --steps 3
    # a smoke run of the plumbing: tiny Keras shapes, < 1 min without --reference-dir
    python bench/side_by_side.py --small

``REF`` holds one folder per repository, named either by the short name (``jungjee``,
``dcase5``, ``mtl``) or by the repository's name (``dcase2019specialistkd``, ``dcase2019-task5``,
``MTL_Weakly_labelled_audio_data``), with the files above in it.

Measurement (both sides alike): float32, random data, the paper's batch and input shape,
``--warmup`` untimed steps, then ``--steps`` timed single steps; the figure is the median step
(examples/s = batch / median seconds). Keras: ``model.train_on_batch`` in a subprocess with
``KERAS_BACKEND=--backend``. Reference: the harness (``--harness``, run as a subprocess, never
copied into this project) with the plan ``<model>:train:<batch>:1:<steps>:<warmup>`` — 1 step
per repeat, ``--steps`` repeats, median — and ``--threads`` (``torch.set_num_threads``). The
Keras side gets the same thread count (TensorFlow intra-op threads; ``torch.set_num_threads`` on
the torch backend; JAX/XLA keeps its default, recorded as such). Both processes run with the same
glibc malloc settings (``--malloc-threshold``: ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_``, so large tensors come from the heap and are not unmapped and
page-faulted in again every step; 0 keeps glibc's defaults). Optimizers and losses follow each
side's training recipe (reference: the harness's; Keras: Adam with the reference's learning rate,
AMSGrad for the ASC as in its yaml, the task's loss); the optimizer update is a small part of a step.

What a ratio means: both sides run in the same run on the same machine, so a change in the
machine's load hits both roughly alike; absolute examples/s depend on the machine and on what
else runs on it. The load average before and after each model is recorded. The models are each
side's own definition: the authors' ASC code has 64-filter first blocks and a final 1x1 conv where
Table 1 (and ``RawWaveformASC``) has 128 filters throughout, so the two do not cost the same FLOPs
(recorded: parameters of both sides).

Writes ``--out`` (default ``bench/results/side_by_side.json``, ``side_by_side_small.json`` with
``--small``) and the table beside it (``.txt``), both atomically (``keras_audioattn.files``).
Environment defaults: ``AUDIOATTN_REFERENCE_DIR``, ``AUDIOATTN_REFERENCE_HARNESS``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)  # the repository: keras_audioattn and bench.backend_speed

from bench.backend_speed import cpu_model, time_train_steps  # noqa: E402  (light: standard library only at import)
BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_MALLOC_THRESHOLD = 16 * 2 ** 30  # 16 GiB: every tensor of these models stays on the heap

# Per model: the harness's model key and folder argument, the files it imports, the paper's
# batch and input shape (issue 18's table), the Keras optimizer's learning rate (the
# reference's), and a tiny shape for --small (Keras side only: the harness's shapes are fixed).
MODELS = {
    "asc": {
        "title": "raw-waveform ASC (Jung et al. 2020), stereo 240 000 samples",
        "reference": "rawcnn_240k", "ref_arg": "--jungjee-dir",
        "folders": ("jungjee", "dcase2019specialistkd"), "files": ("g_model_CNN_c.py",),
        "batch": 24, "shape": (240000, 2), "lr": 1e-4, "amsgrad": True,
        "small": {"batch": 2, "shape": (26244, 2)},
    },
    "teacher": {
        "title": "VGGish teacher (Chang et al. 2020), all trainable, 998 x 64 log-mel",
        "reference": "vggish_t5_full", "ref_arg": "--dcase5-dir",
        "folders": ("dcase5", "dcase2019-task5"), "files": ("model_architecture.py",),
        "batch": 32, "shape": (998, 64), "lr": 1e-4, "amsgrad": False,
        "small": {"batch": 2, "shape": (96, 64)},
    },
    "2apae": {
        "title": "2APAE (Deshmukh et al. 2020), decoder on, 311 x 64 log-mel",
        "reference": "2apae", "ref_arg": "--mtl-dir",
        "folders": ("mtl", "MTL_Weakly_labelled_audio_data"),
        "files": ("models.py", "model_utils.py", "models_extension.py"),
        "batch": 8, "shape": (311, 64), "lr": 1e-3, "amsgrad": False,
        "small": {"batch": 2, "shape": (32, 16)},
    },
}
# The same reference against RawWaveformASC in the widths of the authors' code
# (g1-train_model_baseline.yaml: blocks 128-64-64, 64-64-64, 64-128-128, 128 x 4; a 128-d code);
# only their final 1 x 1 conv + BN at 27 frames has no counterpart: like for like.
MODELS["asc_code_widths"] = {
    **MODELS["asc"],
    "title": "raw-waveform ASC in the authors' code widths (64-filter first blocks, 128-d code)",
    "keras_config": {"block_filters": (64, 64, 128, 128, 128, 128, 128), "code_dim": 128},
}
SMALL_REFERENCE = {"batch": 1, "warmup": 0, "steps": 1}  # the harness's fixed shapes, one step


# --------------------------------------------------------------------------------------------
# Keras side (runs in a subprocess: Keras fixes its backend at import)
# --------------------------------------------------------------------------------------------
def _keras_model(name, small, jit_compile="auto"):
    import keras
    import numpy as np

    spec = MODELS[name]
    batch, shape = (spec["small"]["batch"], spec["small"]["shape"]) if small else (spec["batch"], spec["shape"])
    rng = np.random.default_rng(0)
    if name in ("asc", "asc_code_widths"):
        from keras_audioattn.models import RawWaveformASC

        model = RawWaveformASC(num_classes=10, num_channels=shape[1], num_samples=shape[0], sample_rate=48000,
                               **spec.get("keras_config", {}))
        x = (0.1 * rng.normal(size=(batch,) + shape)).astype("float32")
        y = np.eye(10, dtype="float32")[rng.integers(0, 10, batch)]
        loss = "categorical_crossentropy"
    elif name == "teacher":
        from keras_audioattn.models import VGGishTeacher

        model = VGGishTeacher(num_classes=8, num_mel_bins=shape[1], include_front_end=False)
        x = rng.normal(size=(batch,) + shape).astype("float32")
        y = (rng.random((batch, 8)) < 0.3).astype("float32")
        loss = "binary_crossentropy"
    else:
        from keras_audioattn.models import TwoStepAttentionSED

        classes, filters = (5, (4, 8)) if small else (41, (32, 64, 128, 256))
        model = TwoStepAttentionSED(classes, encoder_filters=filters, num_mel_bins=shape[1], num_frames=shape[0],
                                    decoder=True, return_attention=False)
        x = rng.normal(size=(batch,) + shape).astype("float32")
        y = (rng.random((batch, classes)) < 0.1).astype("float32")
        loss = None  # the model's own loss: BCE + alpha * reconstruction MSE (alpha = 0.001)
    optimizer = keras.optimizers.Adam(spec["lr"], amsgrad=spec["amsgrad"])
    losses = {"loss": loss} if loss else {}
    model.compile(optimizer=optimizer, jit_compile=jit_compile, **losses)
    return model, x, y, batch, shape


def _set_threads(threads):
    """Gives the Keras backend the reference's thread count; returns what was set."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        return {"tensorflow_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                "tensorflow_inter_op": tf.config.threading.get_inter_op_parallelism_threads() or "default"}
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
        return {"torch_num_threads": torch.get_num_threads()}
    return {"xla": "default (not set: XLA's CPU thread pool has no runtime setting)"}


def _versions():
    import keras

    versions = {"keras": keras.__version__, "backend": keras.backend.backend()}
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[versions["backend"]]
    versions[module] = __import__(module).__version__
    import keras_audioattn

    versions["keras_audioattn"] = keras_audioattn.__version__
    return versions


def keras_worker(name, small, warmup, steps, threads, out_path, jit_compile="auto"):
    import keras

    keras.utils.set_random_seed(0)
    thread_settings = _set_threads(threads)
    model, x, y, batch, shape = _keras_model(name, small, jit_compile)
    times = time_train_steps(model, x, y, warmup, steps)
    step = statistics.median(times)
    result = {"batch": batch, "input_shape": list(shape), "warmup": warmup, "steps": steps,
              "step_s": times, "median_step_s": step, "examples_per_s": batch / step,
              "params": int(model.count_params()),
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "threads": thread_settings, "versions": _versions(), "jit_compile": jit_compile,
              "jit_compiled": bool(getattr(model, "jit_compile", False))}
    with open(out_path, "w", encoding="utf-8") as f:  # a temporary file of the parent's
        json.dump(result, f)


# --------------------------------------------------------------------------------------------
# parent: runs both sides for each model, one after the other
# --------------------------------------------------------------------------------------------
def _load():
    return [round(v, 2) for v in os.getloadavg()]


def _reference_folder(reference_dir, name):
    """The folder under ``reference_dir`` holding model ``name``'s files; ValueError naming what is missing."""
    spec = MODELS[name]
    tried = [os.path.join(reference_dir, folder) for folder in spec["folders"]]
    for folder in tried:
        if all(os.path.isfile(os.path.join(folder, f)) for f in spec["files"]):
            return folder
    raise ValueError(f"--reference-dir {reference_dir}: no folder with {', '.join(spec['files'])} for model "
                     f"'{name}' (looked in {' and '.join(tried)}); extract them from the authors' repository "
                     f"as docs/benchmarks.md shows, or leave '{name}' out of --models")


def _tail(text, n=600):
    return text.strip()[-n:]


def _env(args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
    if args.malloc_threshold:
        env["MALLOC_MMAP_THRESHOLD_"] = str(args.malloc_threshold)
        env["MALLOC_TRIM_THRESHOLD_"] = str(args.malloc_threshold)
    return env


def run_keras(args, name, tmp):
    path = os.path.join(tmp, f"keras_{name}.json")
    env = _env(args)
    env["KERAS_BACKEND"] = args.backend
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH", "")) if p)
    warmup = 1 if args.small else args.warmup
    steps = 1 if args.small else args.steps
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, path, "--warmup", str(warmup),
           "--steps", str(steps), "--threads", str(args.threads), "--jit-compile", args.jit_compile] + (
        ["--small"] if args.small else [])
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode or not os.path.isfile(path):
        return {"error": f"exit {proc.returncode}: {_tail(proc.stderr)}"}
    with open(path, encoding="utf-8") as f:
        result = json.load(f)
    result["wall_s"] = round(time.perf_counter() - start, 1)
    return result


def run_reference(args, name, tmp):
    spec = MODELS[name]
    folder = _reference_folder(args.reference_dir, name)
    path = os.path.join(tmp, f"reference_{name}.json")
    if args.small:
        batch, warmup, steps = SMALL_REFERENCE["batch"], SMALL_REFERENCE["warmup"], SMALL_REFERENCE["steps"]
    else:
        batch, warmup, steps = spec["batch"], args.warmup, args.steps
    plan = f"{spec['reference']}:train:{batch}:1:{steps}:{warmup}"
    if not args.small:  # parameters and FLOPs per example (torch.utils.flop_counter), one example
        plan = f"{spec['reference']}:flops,{plan}"
    cmd = [sys.executable, args.harness, spec["ref_arg"], folder, "--threads", str(args.threads), "--plan", plan,
           "--json-out", path]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=_env(args), capture_output=True, text=True)
    if proc.returncode or not os.path.isfile(path):
        return {"error": f"exit {proc.returncode}: {_tail(proc.stderr)}", "command": cmd}
    with open(path, encoding="utf-8") as f:
        entries = json.load(f)
    result = next(e for e in entries if e["phase"] == "train")
    for entry in entries:
        if entry["phase"] == "flops":
            result.update(params=entry["params"], trainable_params=entry["trainable"],
                          forward_flops_per_example=entry["fwd_flops"], train_flops_per_example=entry["train_flops"])
            result["train_gflop_per_s"] = entry["train_flops"] * result["ex_per_s"] / 1e9
    result.update(wall_s=round(time.perf_counter() - start, 1), command=cmd, folder=folder)
    return result


def _check_args(parser, args):
    if args.steps < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--steps and --threads must be >= 1, --warmup >= 0")
    if args.malloc_threshold < 0:
        parser.error("--malloc-threshold must be >= 0 (0 keeps glibc's defaults)")
    if args.reference_dir:
        if not os.path.isdir(args.reference_dir):
            parser.error(f"--reference-dir {args.reference_dir} is not a folder")
        if not args.harness:
            parser.error("--reference-dir needs --harness PATH (time_reference.py, the timing harness of the "
                         "authors' code; or set AUDIOATTN_REFERENCE_HARNESS)")
        if not os.path.isfile(args.harness):
            parser.error(f"--harness {args.harness} is not a file")
        for name in args.models:
            try:
                _reference_folder(args.reference_dir, name)
            except ValueError as error:
                parser.error(str(error))


def _fmt(value, pattern):
    return pattern % value if isinstance(value, (int, float)) else "-"


_SMOKE_NOTE = ("SMOKE RUN (--small): Keras at the tiny shapes shown, the reference (if run) at the harness's "
               "paper shapes, batch 1, one step; no ratio")


def _spread(median, low, high):
    if not isinstance(median, (int, float)):
        return "-"
    return "%.2f [%.2f-%.2f]" % (median, low, high) if isinstance(low, (int, float)) else "%.2f" % median


def _keras_range(result):
    steps = result.get("step_s") or []
    return (result["batch"] / max(steps), result["batch"] / min(steps)) if steps else (None, None)


def format_table(report):
    lines = [f"# {report['cpu']}, {report['cores']} cores; Keras backend {report['backend']}; "
             f"threads {report['threads']}; malloc {report['malloc_env'] or 'glibc defaults'}",
             f"# versions {report['versions']}",
             f"# load average before {report['load_before']}, after {report['load_after']}",
             f"# {_SMOKE_NOTE if report['small'] else 'paper batch and shape'}"
             f"; warm-up {report['warmup']}, median of {report['steps']} steps",
             "",
             "| model | batch, input | reference ex/s [min-max] | Keras ex/s [min-max] | Keras / reference "
             "| peak RSS MB (ref / Keras) | params (ref / Keras) |",
             "|---|---|---|---|---|---|---|"]
    for name, row in report["results"].items():
        keras_r, ref = row["keras"], row.get("reference") or {}
        shape = "x".join(str(s) for s in keras_r.get("input_shape", MODELS[name]["shape"]))
        lines.append("| %s | %s, %s | %s | %s | %s | %s / %s | %s / %s |" % (
            name, keras_r.get("batch", MODELS[name]["batch"]), shape,
            _spread(ref.get("ex_per_s"), ref.get("ex_per_s_min"), ref.get("ex_per_s_max")) if ref else "not run",
            _spread(keras_r.get("examples_per_s"), *_keras_range(keras_r)) if "error" not in keras_r else "error",
            _fmt(row.get("ratio"), "%.2fx"), _fmt(ref.get("peak_rss_mb"), "%.0f"),
            _fmt(keras_r.get("peak_rss_mb"), "%.0f"), _fmt(ref.get("params"), "%d"), _fmt(keras_r.get("params"), "%d")))
        for side in ("reference", "keras"):
            if isinstance(row.get(side), dict) and "error" in row[side]:
                lines.append(f"#   {name} {side} failed: {row[side]['error']}")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--backend", default="tensorflow", choices=BACKENDS, help="Keras backend of the Keras side")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per side (the median is reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (tracing, allocations)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads / TF intra-op threads")
    parser.add_argument("--malloc-threshold", type=int, default=DEFAULT_MALLOC_THRESHOLD, metavar="BYTES",
                        help="MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ of both sides (0: glibc defaults)")
    parser.add_argument("--reference-dir", default=os.environ.get("AUDIOATTN_REFERENCE_DIR"),
                        help="folder with the authors' code, one subfolder per repository")
    parser.add_argument("--harness", default=os.environ.get("AUDIOATTN_REFERENCE_HARNESS"),
                        help="path of time_reference.py (run as a subprocess)")
    parser.add_argument("--small", action="store_true", help="smoke run: tiny Keras shapes, one step, no ratio")
    parser.add_argument("--jit-compile", default="auto", choices=("auto", "true", "false"),
                        help="Keras compile(jit_compile=...): auto = Keras' choice (no XLA for TF on a CPU-only "
                             "machine; XLA on JAX); true = XLA on TF too")
    parser.add_argument("--out", help="JSON report (default bench/results/side_by_side[_small].json; .txt beside)")
    parser.add_argument("--worker", nargs=2, metavar=("MODEL", "RESULT_JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
        keras_worker(args.worker[0], args.small, args.warmup, args.steps, args.threads, args.worker[1], jit)
        return 0
    _check_args(parser, args)
    out = args.out or os.path.join(HERE, "results", "side_by_side_small.json" if args.small else "side_by_side.json")
    if not os.path.isdir(os.path.dirname(os.path.abspath(out))):
        parser.error(f"--out {out}: the folder {os.path.dirname(os.path.abspath(out))} does not exist")

    malloc_env = ({"MALLOC_MMAP_THRESHOLD_": args.malloc_threshold, "MALLOC_TRIM_THRESHOLD_": args.malloc_threshold}
                  if args.malloc_threshold else {})
    report = {"cpu": cpu_model(), "cores": os.cpu_count(), "backend": args.backend, "jit_compile": args.jit_compile,
              "threads": args.threads,
              "malloc_env": malloc_env, "small": args.small, "warmup": 1 if args.small else args.warmup,
              "steps": 1 if args.small else args.steps, "reference_dir": args.reference_dir,
              "harness": args.harness, "load_before": _load(), "results": {}}
    if args.small and args.reference_dir:
        report["reference_small"] = dict(SMALL_REFERENCE, note="the harness's input shapes are fixed (paper sizes)")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            row = {"title": MODELS[name]["title"], "load_before": _load()}
            row["keras"] = run_keras(args, name, tmp)
            print(f"{name} keras/{args.backend}: {row['keras'].get('examples_per_s', row['keras'].get('error'))}",
                  flush=True)
            if args.reference_dir:
                row["reference"] = run_reference(args, name, tmp)
                print(f"{name} reference: {row['reference'].get('ex_per_s', row['reference'].get('error'))}",
                      flush=True)
            k, r = row["keras"].get("examples_per_s"), (row.get("reference") or {}).get("ex_per_s")
            row["ratio"] = k / r if (k and r and not args.small) else None
            row["load_after"] = _load()
            report["results"][name] = row
    report["load_after"] = _load()
    versions = {}
    for row in report["results"].values():
        versions.update(row["keras"].get("versions", {}))
        if row.get("reference", {}).get("torch"):
            versions["reference_torch"] = row["reference"]["torch"]
    report["versions"] = versions

    from keras_audioattn.files import write_json, write_text

    text = format_table(report)
    write_json(out, report)
    write_text(os.path.splitext(out)[0] + ".txt", text)
    print(text)
    failed = [n for n, row in report["results"].items()
              if "error" in row["keras"] or "error" in (row.get("reference") or {})]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
