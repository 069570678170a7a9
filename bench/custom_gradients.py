"""A model's training step with and without its hand-written backward passes, variants alternating.

``--model asc``: RawWaveformASC, ``custom_gradients="never"`` (Keras' Conv1D and
BatchNormalization gradients) against ``"always"`` (:class:`keras_audioattn.layers.Conv1D`,
:class:`keras_audioattn.layers.BatchNormalization`) and, to split the two, the convolutions alone
(``conv_only``: matmul convs, Keras BatchNorms) and the batch statistics alone
(``keras_moments``: ``"always"``, but the BatchNorms' batch statistics by ``ops.moments``
instead of :func:`~keras_audioattn.layers.closed_form_batch_norm.channel_moments`, the layer's
forward pass before 2026-12-03); the paper's batch and input (24 x 240 000 x 2,
10 classes, Adam with AMSGrad at 1e-4, categorical cross-entropy).
``--model teacher``: VGGishTeacher, ``"never"`` against ``"always"``
(:class:`keras_audioattn.layers.Conv2D`'s patch-matrix kernel gradient in ``conv1``); batch 32 x
998 x 64 log-mel, 8 tags, Adam at 1e-4, binary cross-entropy (``bench/side_by_side.py``'s row).

Same weights in every variant, float32, ``--threads`` (TensorFlow intra-op threads; torch's on
that backend; XLA's default on JAX), the Keras backend of ``KERAS_BACKEND``, the glibc malloc
thresholds of ``bench/side_by_side.py``. Each variant runs in its own process (a fresh heap:
three models of this size in one process slowed each other), the variants alternating,
``--repeats`` processes each: ``--warmup`` steps, then ``--steps`` timed ``train_on_batch`` calls.
``--variants`` picks some (the first is the baseline of the speed-ups; default: every
variant but ``keras_moments``, ``never`` first). Reported: the median step over a variant's
processes, examples/s, the speed-up against the baseline, peak RSS, and the first step's loss
(same seed, weights and data: the same maths gives the same loss).

    python bench/custom_gradients.py --model asc --repeats 3 --out bench/results/asc_custom_gradients.json
    python bench/custom_gradients.py --model teacher --repeats 4 --out bench/results/teacher_custom_gradients.json
    python bench/custom_gradients.py --model asc --variants keras_moments always --repeats 4 --steps 4 \
        --out bench/results/asc_channel_moments.json

Writes ``--out`` and a ``.txt`` table beside it atomically.
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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from bench.backend_speed import cpu_model, write_report  # noqa: E402

VARIANTS = {"asc": ("never", "conv_only", "always", "keras_moments"), "teacher": ("never", "always")}
DEFAULT_VARIANTS = {"asc": ("never", "conv_only", "always"), "teacher": ("never", "always")}
# (batch, input shape) at the paper's size and --small
SHAPES = {"asc": ((24, (240000, 2)), (2, (26244, 2))), "teacher": ((32, (998, 64)), (2, (96, 64)))}


def _model(name, variant, shape, small):
    import keras
    from keras_audioattn import layers as audio_layers
    from keras_audioattn.models import RawWaveformASC, VGGishTeacher

    keras.utils.set_random_seed(0)  # the same initial weights in every variant
    if name == "teacher":
        model = VGGishTeacher(num_classes=8, num_mel_bins=shape[1], include_front_end=False, custom_gradients=variant)
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="binary_crossentropy")
        return model
    samples = shape[0]
    extra = dict(first_filters=16, block_filters=(16, 16, 24)) if small else {}
    model = RawWaveformASC(num_classes=10, num_samples=samples, custom_gradients="never" if variant == "never"
                           else "always", **extra)
    if variant == "conv_only":
        for layer in model.layers:
            if isinstance(layer, audio_layers.BatchNormalization):
                layer.gradient = "native"
    if variant == "keras_moments":  # this process only: the statistics by the backend's reductions
        from keras_audioattn.layers import closed_form_batch_norm

        def keras_moments(x, axis):
            axis = axis % len(x.shape)
            return keras.ops.moments(x, axes=tuple(a for a in range(len(x.shape)) if a != axis))

        closed_form_batch_norm.channel_moments = keras_moments
    model.compile(optimizer=keras.optimizers.Adam(1e-4, amsgrad=True), loss="categorical_crossentropy")
    return model


def _data(name, batch, shape):
    import numpy as np

    rng = np.random.default_rng(0)
    if name == "teacher":
        return (rng.normal(size=(batch,) + shape).astype("float32"),
                (rng.random((batch, 8)) < 0.3).astype("float32"))
    return ((0.1 * rng.normal(size=(batch,) + shape)).astype("float32"),
            np.eye(10, dtype="float32")[rng.integers(0, 10, batch)])


def worker(name, variant, batch, shape, small, warmup, steps, threads):
    """One variant in this process: seconds of ``steps`` ``train_on_batch`` calls after ``warmup``, first loss."""
    from bench.backend_speed import time_train_steps
    from bench.side_by_side import _set_threads

    thread_settings = _set_threads(threads)  # TF intra-op / torch threads; XLA keeps its default
    x, y = _data(name, batch, shape)
    model = _model(name, variant, shape, small)
    first_loss = float(model.train_on_batch(x, y))
    times = time_train_steps(model, x, y, max(warmup - 1, 0), steps)
    import keras

    return {"step_s": times, "first_step_loss": first_loss, "backend": keras.backend.backend(),
            "thread_settings": thread_settings,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=tuple(VARIANTS), default="asc")
    parser.add_argument("--variants", nargs="+", default=None,
                        help="variants to run, the first the baseline (default: %s)" % DEFAULT_VARIANTS)
    parser.add_argument("--repeats", type=int, default=2, help="processes per variant, variants alternating")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--malloc-threshold", type=int, default=16 * 2 ** 30)
    parser.add_argument("--small", action="store_true", help="tiny shapes: a check of the plumbing")
    parser.add_argument("--out", default=None)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    batch, shape = SHAPES[args.model][1 if args.small else 0]
    variants = tuple(args.variants or DEFAULT_VARIANTS[args.model])
    unknown = [v for v in variants if v not in VARIANTS[args.model]]
    if unknown or len(set(variants)) != len(variants):
        parser.error(f"--variants {' '.join(variants)}: each once, from {', '.join(VARIANTS[args.model])} "
                     f"for --model {args.model}")
    if args.worker:
        result = worker(args.model, args.worker, batch, shape, args.small, args.warmup, args.steps, args.threads)
        with open(args.out, "w", encoding="utf-8") as f:  # the parent's temporary file
            json.dump(result, f)
        return

    env = dict(os.environ)
    if args.malloc_threshold:
        env.update(MALLOC_MMAP_THRESHOLD_=str(args.malloc_threshold), MALLOC_TRIM_THRESHOLD_=str(args.malloc_threshold))
    runs = {v: [] for v in variants}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for variant in variants:
                path = os.path.join(tmp, f"{variant}_{repeat}.json")
                command = [sys.executable, os.path.abspath(__file__), "--model", args.model, "--worker", variant,
                           "--out", path,
                           "--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(args.threads)]
                subprocess.run(command + (["--small"] if args.small else []), env=env, check=True)
                with open(path, encoding="utf-8") as f:
                    runs[variant].append(json.load(f))
                print(variant, repeat, [round(t, 3) for t in runs[variant][-1]["step_s"]], flush=True)
    import tensorflow as tf

    result = {
        "cpu": cpu_model(), "threads": args.threads, "malloc_threshold": args.malloc_threshold,
        "model": args.model, "batch": batch, "input_shape": list(shape), "repeats": args.repeats,
        "steps": args.steps, "warmup": args.warmup,
        "small": args.small, "tensorflow": tf.__version__, "backend": runs[variants[0]][0]["backend"],
        "baseline": variants[0],
        "load_before": [round(v, 2) for v in load_before], "load_after": [round(v, 2) for v in os.getloadavg()],
        "variants": {},
    }
    baseline = statistics.median(t for r in runs[variants[0]] for t in r["step_s"])
    for variant, rs in runs.items():
        steps = [t for r in rs for t in r["step_s"]]
        median = statistics.median(steps)
        result["variants"][variant] = {
            "runs": rs, "median_step_s": median, "examples_per_s": batch / median,
            "speedup_vs_baseline": baseline / median,
            "first_step_loss": [r["first_step_loss"] for r in rs], "peak_rss_mb": max(r["peak_rss_mb"] for r in rs)}
    lines = [f"# {result['cpu']}, {args.threads} threads, Keras backend {result['backend']} (TF {tf.__version__}); "
             f"{args.model}, batch {batch} x {' x '.join(map(str, shape))}; "
             f"{args.repeats} processes per variant (alternating), {args.warmup} warm-up + {args.steps} timed steps "
             f"each; load {result['load_before']} -> {result['load_after']}", "",
             f"| variant | median step s [min-max] | examples/s | speed-up vs {variants[0]} | peak RSS MB | "
             "first-step loss |", "|---|---|---|---|---|---|"]
    for v, r in result["variants"].items():
        steps = [t for run in r["runs"] for t in run["step_s"]]
        lines.append(f"| {v} | {r['median_step_s']:.3f} [{min(steps):.3f}-{max(steps):.3f}] | "
                     f"{r['examples_per_s']:.2f} | {r['speedup_vs_baseline']:.2f}x | {r['peak_rss_mb']:.0f} | "
                     f"{r['first_step_loss'][0]:.6f} |")
    write_report(args.out, result, lines)


if __name__ == "__main__":
    main()
