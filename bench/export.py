"""Export benchmark: per TFLite mode, file size, LiteRT latency per 10 s clip (1 thread), agreement.

Models: ``CNNLSTMStudent`` (Chang et al. 2020, Table 1) at the paper configuration (16 kHz,
10 s clips, 20-mel front end) for the given LSTM sizes, briefly fitted on the built-in synthetic
tagging set so that its scores are not all ~0.5. For every mode the script converts with
``export.to_tflite`` (which runs its own checks), then measures:

* size of the .tflite in bytes;
* LiteRT latency: median of ``--repeats`` invokes of one 10 s clip, ``num_threads=1``
  (default delegates off, as in ``export.run_tflite``), as wall time and as the calling
  thread's CPU time (robust when other processes load the machine); once with LiteRT's builtin
  kernels only and once with its default XNNPACK delegate;
* agreement with Keras on ``--eval`` held-out synthetic clips: max and mean |TFLite - Keras|
  of the scores, and the fraction of (clip, tag) decisions at 0.5 that agree.

int8 is measured three times: front end and output layer kept in float32 (the defaults), the
output layer quantized too, and the front end quantized too.

    .venv/bin/python bench/export.py --units 16 128 --out bench_results/export.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# This file is named export.py: drop bench/ from the path so `import export` finds the package.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, nargs="+", default=[16, 128])
    parser.add_argument("--calibration", type=int, default=32, help="calibration clips")
    parser.add_argument("--eval", type=int, default=16, help="held-out clips for agreement")
    parser.add_argument("--train-epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default=None, help="write the results as JSON")
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    import export
    from export.checks import interpreter
    from keras_audioattn.data.synthetic import synthesize
    from keras_audioattn.models.cnn_lstm_student import CNNLSTMStudent

    keras.utils.set_random_seed(0)
    train = synthesize("tagging", args.calibration, seed=0, sample_rate=16000, duration=10.0)
    held = synthesize("tagging", args.eval, seed=1, sample_rate=16000, duration=10.0)
    x_train, y_train = np.asarray(train.waveforms, np.float32), np.asarray(train.targets, np.float32)
    x_eval = np.asarray(held.waveforms, np.float32)

    def latency(path, xnnpack=False):
        if xnnpack:
            from ai_edge_litert.interpreter import Interpreter

            it = Interpreter(model_path=path, num_threads=1)  # default delegates: XNNPACK
        else:
            it = interpreter(path, num_threads=1)
        it.allocate_tensors()
        index = it.get_input_details()[0]["index"]
        wall, cpu = [], []
        for _ in range(args.repeats):
            it.reset_all_variables()
            it.set_tensor(index, x_eval[:1])
            start, start_cpu = time.perf_counter(), time.thread_time()
            it.invoke()
            # With num_threads=1 LiteRT runs on the calling thread: its CPU time is the cost of
            # the clip even when other processes share the cores (wall time is not).
            cpu.append(time.thread_time() - start_cpu)
            wall.append(time.perf_counter() - start)
        return statistics.median(wall) * 1e3, statistics.median(cpu) * 1e3

    results = {"machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                           "loadavg_start": os.getloadavg()}, "models": []}
    tmp = tempfile.mkdtemp(prefix="bench_export_")
    for units in args.units:
        model = CNNLSTMStudent(num_classes=y_train.shape[1], lstm_units=units, num_samples=160_000)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
        model.fit(x_train, y_train, epochs=args.train_epochs, batch_size=8, verbose=0)
        want = np.asarray(model.predict(x_eval, batch_size=4, verbose=0))
        entry = {"model": f"CNNLSTMStudent(lstm_units={units})", "params": model.count_params(), "modes": []}
        print(f"== LSTM {units}: {model.count_params()} parameters")
        # (mode, front end, output layer): int8 files are measured with each part float or int8.
        variants = [("float32", "float", "float"), ("float16", "float", "float"), ("dynamic", "float", "float"),
                    ("int8", "float", "float"), ("int8", "float", "int8"), ("int8", "int8", "int8")]
        for mode, front_end, head in variants:
            label = mode if mode != "int8" else f"int8 (front end {front_end}, head {head})"
            path = os.path.join(tmp, f"lstm{units}_{mode}_{front_end}_{head}.tflite")
            start = time.perf_counter()
            # The int8 front-end variant is measured, not gated: the check would reject it.
            export.to_tflite(model, path, mode, representative_data=x_train, labels=list(train.class_names),
                             front_end=front_end, head=head, check=front_end == "float")
            convert_s = time.perf_counter() - start
            got = export.run_tflite(path, x_eval)["scores"]
            err = np.abs(got - want)
            wall_ms, cpu_ms = latency(path)
            xnn_wall_ms, xnn_cpu_ms = latency(path, xnnpack=True)
            row = {"mode": label, "size_bytes": os.path.getsize(path), "convert_s": round(convert_s, 1),
                   "latency_ms_per_10s_clip": round(wall_ms, 2), "cpu_ms_per_10s_clip": round(cpu_ms, 2),
                   "xnnpack_latency_ms": round(xnn_wall_ms, 2), "xnnpack_cpu_ms": round(xnn_cpu_ms, 2),
                   "max_abs_diff": float(err.max()), "mean_abs_diff": float(err.mean()),
                   "decision_agreement": float(np.mean((got > 0.5) == (want > 0.5)))}
            entry["modes"].append(row)
            print(json.dumps(row))
        results["models"].append(entry)
    results["machine"]["loadavg_end"] = os.getloadavg()
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
