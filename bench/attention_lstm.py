"""Training throughput of the Zhang et al. 2018 attention-LSTM classifier variants at paper size.

Paper size (§3.1-3.2): 1 s clips, log-mel 1024/220 with 64 bands (196 frames at 44.1 kHz),
one LSTM layer of 128 units, attention size 64, 128 clusters, DNN 128 x 128 x C, Adam 1e-3,
L2 1e-4. Each variant runs in its own subprocess (clean peak-memory figure): build, compile,
``warmup`` training steps (tracing), then ``steps`` timed ``train_on_batch`` calls on random
input. Inference is timed as batch-1 ``predict_on_batch`` calls.

    .venv/bin/python bench/attention_lstm.py                 # all four, waveform input, batch 64
    .venv/bin/python bench/attention_lstm.py --input features --json out.json

Prints one line per variant: examples/s, wall and CPU seconds per step, batch-1 inference time,
peak RSS, parameters. On a shared machine compare CPU s/step: wall time depends on other load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

VARIANTS = ("vanilla", "ta", "sa", "ta_sa")


def _one(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import resource

    import keras
    import numpy as np

    from keras_audioattn.models import AttentionLSTMClassifier

    keras.utils.set_random_seed(0)
    waveform = args.input == "waveform"
    model = AttentionLSTMClassifier(args.num_classes, variant=args.variant, sample_rate=args.sample_rate,
                                    include_front_end=waveform)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                  jit_compile=args.jit_compile)
    rng = np.random.default_rng(0)
    if waveform:
        x = (0.1 * rng.normal(size=(args.batch_size, args.sample_rate))).astype("float32")
    else:
        frames = 1 + (args.sample_rate - 1024) // 220
        x = rng.normal(size=(args.batch_size, frames, 64)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, args.num_classes, args.batch_size), args.num_classes)
    start = time.perf_counter()
    for _ in range(args.warmup):
        model.train_on_batch(x, y)
    warmup_s = time.perf_counter() - start
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        model.train_on_batch(x, y)
    step_s = (time.perf_counter() - start) / args.steps
    # CPU seconds of this process per step: less sensitive than wall time to other processes.
    step_cpu_s = (time.process_time() - cpu_start) / args.steps
    one = x[:1]
    model.predict_on_batch(one)
    start = time.perf_counter()
    for _ in range(args.infer_steps):
        model.predict_on_batch(one)
    infer_s = (time.perf_counter() - start) / args.infer_steps
    result = {
        "variant": args.variant,
        "input": args.input,
        "batch_size": args.batch_size,
        "frames": int(model.get_layer("log_mel").num_frames(args.sample_rate)) if waveform else int(x.shape[1]),
        "params": int(model.count_params()),
        "lstm_params": int(model.get_layer("attention_lstm").count_params()),
        "warmup_s": warmup_s,
        "train_step_s": step_s,
        "train_examples_per_s": args.batch_size / step_s,
        "train_step_cpu_s": step_cpu_s,
        "infer_batch1_s": infer_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }
    print("RESULT " + json.dumps(result), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--input", choices=("waveform", "features"), default="waveform")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--sample-rate", type=int, default=44100)
    parser.add_argument("--num-classes", type=int, default=15)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--infer-steps", type=int, default=20)
    parser.add_argument("--jit-compile", default="auto", type=lambda s: {"true": True, "false": False}.get(s, s))
    parser.add_argument("--json", help="write all results to this file")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variant:
        _one(args)
        return
    results = []
    for variant in args.variants:
        cmd = [sys.executable, os.path.abspath(__file__), "--variant", variant, "--input", args.input,
               "--batch-size", str(args.batch_size), "--sample-rate", str(args.sample_rate),
               "--num-classes", str(args.num_classes), "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--infer-steps", str(args.infer_steps), "--jit-compile", str(args.jit_compile).lower()]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        result = json.loads([line for line in out.splitlines() if line.startswith("RESULT ")][-1][7:])
        results.append(result)
        print(f"{variant:8s} {result['train_examples_per_s']:8.1f} ex/s  {result['train_step_s']:.3f} s/step "
              f"(batch {args.batch_size}; {result['train_step_cpu_s']:.3f} CPU s/step)  infer b1 {1000 * result['infer_batch1_s']:.1f} ms  "
              f"peak RSS {result['peak_rss_mb']:.0f} MB  params {result['params']} "
              f"(LSTM {result['lstm_params']})", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load": os.getloadavg(), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
