"""CAB-CNN (Lu et al. 2020) speed at the paper configuration: training throughput and per-clip inference.

* ``train``: examples/s of ``model.train_on_batch`` for the default model (Table 2, 3 classes,
  134 112 parameters), batch 128 (§4), clips of ``--seconds`` at 16 kHz, Adam + categorical
  cross-entropy; two batching modes: ``padded`` (lengths input, clip lengths drawn uniformly in
  [50 %, 100 %] of the batch length) and ``truncated`` (the paper's cut to the shortest clip:
  waveform-only model, every clip full length).
* ``infer``: milliseconds per clip at batch 1 -- Keras (the model called inside one
  ``tf.function``), and the exported ``.tflite`` float32 and int8 in ``ai_edge_litert``
  (1 thread, the on-device case).

Each figure is the median of timed calls after a warm-up call. Peak RSS of the process is
reported at the end (``resource.getrusage``).

    .venv/bin/python bench/cab_cnn.py [--seconds 10 30] [--batch 128] [--steps 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo's export/

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

SR = 16000


def _median_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_train(seconds, batch, steps, mode):
    import keras

    from keras_audioattn.models import CABCNN, cab_cnn_training_recipe

    keras.utils.set_random_seed(0)
    n = int(seconds * SR)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, n)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 3, batch), 3)
    if mode == "padded":
        model = CABCNN(3)
        lengths = rng.integers(n // 2, n + 1, batch).astype("int32")
        lengths[0] = n
        inputs = [x, lengths]
    else:
        model = CABCNN(3, length_input=False)
        inputs = x
    recipe = cab_cnn_training_recipe()
    model.compile(**recipe["compile"])
    step = _median_time(lambda: model.train_on_batch(inputs, y), steps)
    return {"mode": mode, "seconds": seconds, "batch": batch, "step_s": step, "examples_per_s": batch / step,
            "params": model.count_params()}


def bench_infer(seconds, repeats):
    import keras
    import tensorflow as tf

    import export
    from export.checks import interpreter

    from keras_audioattn.models import CABCNN

    keras.utils.set_random_seed(0)
    n = int(seconds * SR)
    model = CABCNN(3, length_input=False, num_samples=n)
    clip = np.random.default_rng(1).normal(size=(1, n)).astype("float32")
    fn = tf.function(lambda w: model(w, training=False))
    out = {"seconds": seconds, "keras_ms": 1e3 * _median_time(lambda: fn(clip).numpy(), repeats)}
    calib = np.random.default_rng(2).normal(size=(8, n)).astype("float32")
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("float32", "int8"):
            path = export.to_tflite(model, os.path.join(tmp, f"m_{mode}.tflite"), quantization=mode,
                                    representative_data=calib, sample_rate=SR, metadata=False)
            it = interpreter(path, num_threads=1)
            it.allocate_tensors()
            inp, outp = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]

            def run():
                it.set_tensor(inp, clip)
                it.invoke()
                return it.get_tensor(outp)

            out[f"litert_{mode}_ms"] = 1e3 * _median_time(run, repeats)
            out[f"litert_{mode}_kib"] = os.path.getsize(path) / 1024
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[10.0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--modes", nargs="+", default=["padded", "truncated"])
    parser.add_argument("--skip-infer", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    import tensorflow as tf

    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
              "load_before": os.getloadavg(), "tf": tf.__version__, "train": [], "infer": []}
    for seconds in args.seconds:
        for mode in args.modes:
            r = bench_train(seconds, args.batch, args.steps, mode)
            report["train"].append(r)
            print(f"train {mode:>9} {seconds:5.1f} s clips, batch {args.batch}: {r['step_s']:.2f} s/step, "
                  f"{r['examples_per_s']:.1f} examples/s ({r['params']:,} params)", flush=True)
        if not args.skip_infer:
            r = bench_infer(seconds, args.repeats)
            report["infer"].append(r)
            print(f"infer {seconds:5.1f} s clip, batch 1: keras {r['keras_ms']:.1f} ms, LiteRT float32 "
                  f"{r['litert_float32_ms']:.1f} ms ({r['litert_float32_kib']:.0f} KiB), int8 "
                  f"{r['litert_int8_ms']:.1f} ms ({r['litert_int8_kib']:.0f} KiB)", flush=True)
    report["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report["load_after"] = os.getloadavg()
    print(f"peak RSS {report['peak_rss_mib']:.0f} MiB; load {report['load_before']} -> {report['load_after']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
