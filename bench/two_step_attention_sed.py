"""Training-step time and peak memory of 2APAE (TwoStepAttentionSED), Keras 3 / TensorFlow.

Paper configuration: batch 24, 311 x 64 log-mel, 41 classes, encoder (32, 64, 128, 256), decoder
on, alpha = 0.001, Adam 1e-3 (Sec. IV-D). DESIGN.md's figures for the authors' PyTorch code on
this kind of machine (2 cores, float32): 1.44 training examples/s at batch 24, 11.7 GB peak,
3.96 examples/s inference at batch 1.

Each configuration runs in a fresh process (peak RSS is per process):

    .venv/bin/python bench/two_step_attention_sed.py --config paper --steps 3
    .venv/bin/python bench/two_step_attention_sed.py --config reduced --steps 5
    .venv/bin/python bench/two_step_attention_sed.py --config paper --jit-compile --steps 3

Prints one JSON line: seconds per training step (median over ``--steps`` steps after
``--warmup`` steps), training examples/s, the process CPU seconds per step (a load-independent
figure: on a machine shared with other jobs the wall time is inflated, the CPU time much less),
inference examples/s at batch 1, peak RSS (process maximum resident set, TensorFlow runtime
included), parameter count, and the machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CONFIGS = {
    "paper": dict(batch=24, frames=311, mel=64, classes=41, filters=(32, 64, 128, 256)),
    "reduced": dict(batch=8, frames=100, mel=64, classes=41, filters=(16, 32, 64, 128)),
    "tiny": dict(batch=4, frames=32, mel=16, classes=5, filters=(4, 8)),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="reduced")
    parser.add_argument("--batch", type=int, default=None, help="override the configuration's batch size")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--jit-compile", action="store_true", help="XLA-compile the train step")
    parser.add_argument("--no-decoder", action="store_true")
    parser.add_argument("--inference-runs", type=int, default=3)
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from keras_audioattn.models import TwoStepAttentionSED

    import tensorflow as tf

    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    cfg = dict(CONFIGS[args.config])
    if args.batch:
        cfg["batch"] = args.batch
    keras.utils.set_random_seed(0)
    model = TwoStepAttentionSED(cfg["classes"], encoder_filters=cfg["filters"], num_mel_bins=cfg["mel"],
                                num_frames=cfg["frames"], decoder=not args.no_decoder, return_attention=False)
    model.compile(keras.optimizers.Adam(1e-3), jit_compile=bool(args.jit_compile))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(cfg["batch"], cfg["frames"], cfg["mel"])).astype("float32")
    y = (rng.random((cfg["batch"], cfg["classes"])) < 0.07).astype("float32")

    t0 = time.perf_counter()
    for _ in range(args.warmup):
        model.train_on_batch(x, y)
    warmup_s = time.perf_counter() - t0
    times, cpu = [], []
    for _ in range(args.steps):
        t, c = time.perf_counter(), time.process_time()
        loss = model.train_on_batch(x, y)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    step = statistics.median(times)
    step_cpu = statistics.median(cpu)

    one = x[:1]
    model.predict_on_batch(one)
    t = time.perf_counter()
    for _ in range(args.inference_runs):
        model.predict_on_batch(one)
    infer_s = (time.perf_counter() - t) / args.inference_runs

    result = {
        "config": args.config, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()},
        "decoder": not args.no_decoder, "jit_compile": bool(args.jit_compile),
        "params": int(model.count_params()),
        "warmup_s": round(warmup_s, 2), "step_s_median": round(step, 3), "step_s_all": [round(t, 3) for t in times],
        "train_examples_per_s": round(cfg["batch"] / step, 3),
        # CPU seconds of this process per step (all threads): on a shared machine wall time
        # depends on the other jobs; cpu / threads is the wall time an idle machine would need
        # if both threads stayed busy.
        "step_cpu_s_median": round(step_cpu, 3), "threads": threads,
        "train_examples_per_cpu_s_x_threads": round(cfg["batch"] * threads / step_cpu, 3),
        "inference_batch1_examples_per_s": round(1.0 / infer_s, 3),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2, 2),
        "loss": float(np.asarray(loss).ravel()[0]),
        "loadavg_1_5_15": [round(v, 2) for v in os.getloadavg()], "cpus": os.cpu_count(),
        "keras": keras.__version__, "backend": keras.backend.backend(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
