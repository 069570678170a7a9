"""GFLOP/s of a training step of the paper models, against this machine's float32 matmul limit (issue 18).

For the models without a public reference implementation (CAB-CNN, the attention LSTMs, the
CNN-LSTM student; the raw-waveform ASC rides along for comparison with
``bench/side_by_side.py``), at the papers' batch and clip sizes of ``bench/backend_speed.py``
(``--scale paper``):

* **FLOPs of one training step** (forward, loss, backward; not the optimizer update): counted by
  ``torch.utils.flop_counter.FlopCounterMode`` while the Keras model runs one step on the torch
  backend (in a subprocess). That backend executes every matrix product and convolution as a
  torch op, recurrent steps included (Keras' torch LSTM is a Python loop), so the count is exact
  for matmuls and convolutions -- the operations that "FLOPs" means here, as in the harness that
  counts the authors' models; elementwise work is not counted.
* **Seconds per step**: the median of ``--steps`` ``train_on_batch`` calls after ``--warmup``,
  on the backend the docs recommend on CPU (TensorFlow, in another subprocess), with TensorFlow
  intra-op threads ``--threads``.
* **The matmul limit**: the best of ``--matmul-runs`` float32 ``tf.matmul`` of two 2048 x 2048
  matrices in the same TensorFlow process and thread setting (2 * 2048^3 FLOPs each).

    python bench/model_flops.py --out bench/results/model_flops.json
    python bench/model_flops.py --scale small          # a check of the plumbing (about a minute)

Needs torch for the count (``pip install torch``, a CPU build: see docs/backends.md). Writes
``--out`` and a ``.txt`` table beside it atomically (``keras_audioattn.files``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from bench.backend_speed import MODELS, cpu_model, write_report  # noqa: E402

DEFAULT_MODELS = ("cab_cnn", "zhang", "student", "asc")
MATMUL_N = 2048


def _loss(name):
    import keras

    return keras.losses.get(MODELS[name]["loss"])


def count_worker(names, scale, out_path):
    """Torch backend: FLOPs of one forward + loss + backward per model."""
    import keras
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from bench.backend_speed import _build

    result = {}
    for name in names:
        keras.utils.set_random_seed(0)
        model, x, y = _build(name, scale)
        inputs = [keras.ops.convert_to_tensor(v) for v in x] if isinstance(x, list) else keras.ops.convert_to_tensor(x)
        target = y["scores"] if isinstance(y, dict) else y
        counter = FlopCounterMode(display=False)
        with counter:
            out = model(inputs, training=True)
            scores = out["scores"] if isinstance(out, dict) else out
            loss = keras.ops.mean(_loss(name)(keras.ops.convert_to_tensor(target), scores))
            loss.backward()
        result[name] = {"train_flops_per_step": int(counter.get_total_flops()),
                        "batch": int(len(x[0] if isinstance(x, list) else x)), "params": int(model.count_params()),
                        "torch": torch.__version__}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(result, f)


def time_worker(names, scale, warmup, steps, threads, matmul_runs, out_path):
    """TensorFlow backend: median train_on_batch seconds per model, and the matmul limit."""
    import statistics
    import time

    import keras
    import numpy as np
    import tensorflow as tf

    from bench.backend_speed import _build, time_train_steps

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    a = tf.constant(np.random.default_rng(0).normal(size=(MATMUL_N, MATMUL_N)).astype("float32"))
    product = tf.function(lambda a: tf.matmul(a, a))
    product(a).numpy()
    best = []
    for _ in range(matmul_runs):
        start = time.perf_counter()
        product(a).numpy()
        best.append(time.perf_counter() - start)
    result = {"matmul_gflop_per_s": 2 * MATMUL_N ** 3 / min(best) / 1e9, "matmul_runs_s": best,
              "tensorflow": tf.__version__, "keras": keras.__version__, "threads": threads, "models": {}}
    for name in names:
        keras.utils.set_random_seed(0)
        model, x, y = _build(name, scale)
        model.compile(optimizer="adam", loss=MODELS[name]["loss"])
        times = time_train_steps(model, x, y, warmup, steps)
        result["models"][name] = {"step_s": times, "median_step_s": statistics.median(times)}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(result, f)


def _run(backend, args, tmp, tag):
    path = os.path.join(tmp, f"{tag}.json")
    env = dict(os.environ, KERAS_BACKEND=backend)
    command = [sys.executable, os.path.abspath(__file__), "--worker", tag, "--worker-out", path, "--scale", args.scale,
               "--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(args.threads),
               "--matmul-runs", str(args.matmul_runs), "--models", *args.models]
    subprocess.run(command, env=env, check=True)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), choices=list(MODELS))
    parser.add_argument("--scale", default="paper", choices=("paper", "small"))
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--matmul-runs", type=int, default=8)
    parser.add_argument("--out", default=None)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "count":
        return count_worker(args.models, args.scale, args.worker_out)
    if args.worker == "time":
        return time_worker(args.models, args.scale, args.warmup, args.steps, args.threads, args.matmul_runs,
                           args.worker_out)


    load_before = [round(v, 2) for v in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        counts = _run("torch", args, tmp, "count")
        timing = _run("tensorflow", args, tmp, "time")
    limit = timing["matmul_gflop_per_s"]
    rows = {}
    for name in args.models:
        flops, step = counts[name]["train_flops_per_step"], timing["models"][name]["median_step_s"]
        rows[name] = {**counts[name], **timing["models"][name], "preset": MODELS[name].get("preset"),
                      "input": dict(zip(("sample_rate", "seconds", "channels", "batch"), MODELS[name][args.scale])),
                      "train_gflop_per_s": flops / step / 1e9, "fraction_of_matmul_limit": flops / step / 1e9 / limit}
    result = {"cpu": cpu_model(), "scale": args.scale, "threads": args.threads, "load_before": load_before,
              "load_after": [round(v, 2) for v in os.getloadavg()], "matmul_gflop_per_s": limit,
              "versions": {"tensorflow": timing["tensorflow"], "keras": timing["keras"],
                           "torch (count)": next(iter(counts.values()))["torch"]},
              "models": rows}
    lines = [f"# {result['cpu']}; TF {timing['tensorflow']}, {args.threads} threads; scale {args.scale}; "
             f"float32 matmul limit {limit:.0f} GFLOP/s ({MATMUL_N}^3, best of {args.matmul_runs}); "
             f"load {load_before} -> {result['load_after']}", "",
             "| model (preset) | batch | train GFLOP / step (matmul + conv) | median step s [min-max] | GFLOP/s | "
             "of the matmul limit |", "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} ({r['preset'] or 'RawWaveformASC()'}) | {r['batch']} | "
                     f"{r['train_flops_per_step'] / 1e9:.1f} | {r['median_step_s']:.3f} "
                     f"[{min(r['step_s']):.3f}-{max(r['step_s']):.3f}] | {r['train_gflop_per_s']:.0f} | "
                     f"{100 * r['fraction_of_matmul_limit']:.0f} % |")
    write_report(args.out, result, lines)


if __name__ == "__main__":
    main()
