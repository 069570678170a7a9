"""Jung et al. 2020 speed at the paper configuration: training throughput and inference time.

* ``train``: examples/s of ``model.train_on_batch`` at batch 24 on stereo 240 000-sample crops
  (5 s at 48 kHz; the setting of DESIGN.md's speed table, where the authors' PyTorch baseline
  trains at 19.0 examples/s on this kind of machine), Adam + categorical cross-entropy, for
  ``RawWaveformASC()`` (Table 1, the baseline) and the paper's best system
  ``TagConditionedASC.from_preset("jung2020-tag-asc")`` (Table 5: shared 3 transform layers,
  4 heads, with the default 80-tag ``AudioTagger`` frozen inside: its forward pass is part of
  every step).
* ``infer``: milliseconds per clip at batch 1 on a full 10 s stereo clip (479 999 samples,
  Table 1's input), the model called inside one ``tf.function`` (reference: 73.7 examples/s,
  i.e. 13.6 ms, for the authors' baseline).

Each figure is the median of ``--steps`` (``--repeats``) timed calls after one warm-up call; peak
RSS of the process is reported at the end.

    .venv/bin/python bench/jung2020_tag_asc.py [--batch 24] [--samples 240000] [--steps 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def _median_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _build(system):
    from keras_audioattn.models import RawWaveformASC, TagConditionedASC

    if system == "baseline":
        return RawWaveformASC()
    return TagConditionedASC.from_preset("jung2020-tag-asc")


def bench_train(system, batch, samples, steps):
    import keras

    from keras_audioattn.models import tag_asc_training_recipe

    keras.utils.set_random_seed(0)
    model = _build(system)
    rng = np.random.default_rng(0)
    x = (0.1 * rng.normal(size=(batch, samples, 2))).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 10, batch), 10)
    if system == "baseline":
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
        target = y
    else:
        model.compile(**tag_asc_training_recipe()["compile"])
        target = {"scores": y}
    step = _median_time(lambda: model.train_on_batch(x, target), steps)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return {"system": system, "batch": batch, "samples": samples, "step_s": step, "examples_per_s": batch / step,
            "params": model.count_params(), "trainable_params": trainable}


def bench_infer(system, samples, repeats):
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = _build(system)
    clip = (0.1 * np.random.default_rng(1).normal(size=(1, samples, 2))).astype("float32")
    fn = tf.function(lambda w: model(w, training=False))

    def run():
        out = fn(clip)
        return [t.numpy() for t in (out.values() if isinstance(out, dict) else [out])]

    ms = 1e3 * _median_time(run, repeats)
    return {"system": system, "samples": samples, "keras_ms": ms, "examples_per_s": 1e3 / ms}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--samples", type=int, default=240_000)
    parser.add_argument("--infer-samples", type=int, default=479_999)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--systems", nargs="+", default=["baseline", "tag-asc"], choices=["baseline", "tag-asc"])
    parser.add_argument("--skip-infer", action="store_true")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    import tensorflow as tf

    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
              "load_before": os.getloadavg(), "tf": tf.__version__, "train": [], "infer": []}
    for system in args.systems:
        if not args.skip_train:
            r = bench_train(system, args.batch, args.samples, args.steps)
            report["train"].append(r)
            print(f"train {system:>8}: batch {args.batch} x ({args.samples}, 2): {r['step_s']:.2f} s/step, "
                  f"{r['examples_per_s']:.1f} examples/s ({r['params']:,} params, "
                  f"{r['trainable_params']:,} trainable)", flush=True)
        if not args.skip_infer:
            r = bench_infer(system, args.infer_samples, args.repeats)
            report["infer"].append(r)
            print(f"infer {system:>8}: batch 1 x ({args.infer_samples}, 2): {r['keras_ms']:.1f} ms "
                  f"({r['examples_per_s']:.1f} examples/s)", flush=True)
    report["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report["load_after"] = os.getloadavg()
    print(f"peak RSS {report['peak_rss_mib']:.0f} MiB; load {report['load_before']} -> {report['load_after']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
