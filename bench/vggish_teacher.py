"""Training-step time and peak memory of the IUSP teacher (VGGishTeacher, paper configuration).

DESIGN.md's figures for the DCASE 2019 Task 5 teacher in PyTorch on this kind of machine
(2 cores, float32, batch 32, 998 x 64 log-mel): 12.3 training examples/s with the first four
convolutions frozen, 7.3 with everything trainable, 2.3-3.4 GB peak, 17.1 examples/s
inference at batch 1. Here the model takes the log-mel (``include_front_end=False``) so that
the comparison is network against network.

    .venv/bin/python bench/vggish_teacher.py [--batch 32] [--steps 3] [--frozen-convs 4]

Prints one JSON line: median seconds per ``train_on_batch`` step after one warm-up step,
examples/s, inference examples/s at batch 1, peak RSS (process maximum), parameters.
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--frames", type=int, default=998)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--frozen-convs", type=int, default=0, help="freeze the first N conv layers")
    parser.add_argument("--inference-runs", type=int, default=5)
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from keras_audioattn.models import VGGishTeacher

    keras.utils.set_random_seed(0)
    model = VGGishTeacher(num_classes=8, include_front_end=False)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    for layer in convs[:args.frozen_convs]:
        layer.trainable = False
    model.compile(keras.optimizers.Adam(1e-4), loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch, args.frames, 64)).astype("float32")
    y = (rng.random((args.batch, 8)) < 0.3).astype("float32")
    model.train_on_batch(x, y)  # warm-up (tracing)
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    step = statistics.median(times)
    model.predict_on_batch(x[:1])
    start = time.perf_counter()
    for _ in range(args.inference_runs):
        model.predict_on_batch(x[:1])
    infer_s = (time.perf_counter() - start) / args.inference_runs
    result = {
        "batch": args.batch, "frames": args.frames, "frozen_convs": args.frozen_convs,
        "params": int(model.count_params()), "trainable_params": int(sum(np.prod(w.shape) for w in
                                                                          model.trainable_weights)),
        "step_s_median": round(step, 3), "step_s_all": [round(t, 3) for t in times],
        "train_examples_per_s": round(args.batch / step, 2),
        "inference_batch1_examples_per_s": round(1.0 / infer_s, 2),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2, 2),
        "loadavg_1_5_15": [round(v, 2) for v in os.getloadavg()],
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
