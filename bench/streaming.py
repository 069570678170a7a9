"""Streaming benchmark: stateful int8 CNN-LSTM student vs the offline model and the 10 s clip file.

Model: ``CNNLSTMStudent`` LSTM 16 (Chang et al. 2020, Table 1: 16 kHz, 20-mel log-mel, conv 32
5x5 stride 2, LSTM, dense sigmoid; ``--readout`` last state, or mean / max over the LSTM's states),
any input length, fitted with plain BCE for ``--epochs`` on
``--train-clips`` random ``--crop`` s crops of the built-in "events" corpus (10 s recordings,
strong labels; a crop is labelled with the events that overlap it by >= 0.25 s). Held out:
``--eval`` 10 s recordings of another seed.

Measured:

1. streamed vs offline, for each chunk in ``--chunks`` (ms): ``export.to_streaming_tflite``
   (int8, state inside the file), every held-out recording streamed chunk by chunk; max and
   median over recordings of max |streamed - Keras offline| after the last chunk; top-1 agreement.
   Also float32 (100 ms) and int8 with external state (100 ms).
2. cost: CPU ms per ``invoke`` of one 100 ms chunk (1 thread, calling thread's CPU time, median
   over all chunks of ``--timing-clips`` recordings) beside the 10 s clip .tflite (``to_tflite``
   int8, the same weights) timed in the same run; bytes of both files; RSS growth (VmRSS, KB) of a
   fresh process that has imported LiteRT, from before loading the file to after 20 invokes
   (interpreter, its arena and the file).
3. detection latency: per held-out event (onset, class), the delay from the onset to the first
   100 ms chunk whose streamed score for that class is >= ``--threshold`` (the stream is reset at
   each recording's start), vs 10 s windows (MediaPipe-style non-overlapping windows: a window's
   decision is known at its end, so the delay is 10 s - onset when the window's score is above the
   threshold). Median delay over detected events, and the fraction detected.

    python bench/streaming.py --out bench/results/streaming.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

_RSS_SCRIPT = r"""
import sys, numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
def rss():
    return int([l for l in open("/proc/self/status") if l.startswith("VmRSS")][0].split()[1])
base = rss()
it = Interpreter(model_path=sys.argv[1], num_threads=1,
                 experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
it.allocate_tensors()
runner = it.get_signature_runner("serving_default")
n = int(runner.get_input_details()["waveform"]["shape"][-1])
extra = {k: np.zeros(v["shape"], np.float32) for k, v in runner.get_input_details().items() if k != "waveform"}
for _ in range(20):
    runner(waveform=np.zeros((1, n), np.float32), **extra)
print(rss() - base)
"""


def _crops(data, count, crop, rng):
    rate = data.sample_rate
    n = int(crop * rate)
    x, y = [], []
    for _ in range(count):
        i = int(rng.integers(len(data.waveforms)))
        start = int(rng.integers(0, data.waveforms[i].shape[0] - n + 1))
        t0, t1 = start / rate, (start + n) / rate
        target = [0.0] * len(data.class_names)
        for onset, offset, label in data.events[i]:
            if min(offset, t1) - max(onset, t0) >= 0.25:
                target[data.class_names.index(label)] = 1.0
        x.append(data.waveforms[i][start:start + n])
        y.append(target)
    import numpy as np

    return np.stack(x).astype(np.float32), np.asarray(y, np.float32)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=16)
    parser.add_argument("--train-clips", type=int, default=48, help="10 s training recordings")
    parser.add_argument("--crops", type=int, default=384, help="training crops drawn from them")
    parser.add_argument("--crop", type=float, default=2.0)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--eval", type=int, default=32, help="held-out 10 s recordings")
    parser.add_argument("--calibration", type=int, default=16)
    parser.add_argument("--chunks", type=int, nargs="+", default=[20, 100, 1000], help="chunk lengths, ms")
    parser.add_argument("--timing-clips", type=int, default=4)
    parser.add_argument("--clip-repeats", type=int, default=20)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--detection-only", action="store_true",
                        help="only the 100 ms int8 file and the detection-latency section")
    parser.add_argument("--no-extra", action="store_true",
                        help="skip the float32 and external-state 100 ms variants")
    parser.add_argument("--lstm-cell", default="float", choices=["int8", "float"],
                        help="to_streaming_tflite(lstm_cell=...) for the int8 files")
    parser.add_argument("--readout", default="last", choices=["last", "mean", "max"],
                        help="CNNLSTMStudent(readout=...): the LSTM's last state or its mean / max over time")
    parser.add_argument("--lstm-loop", default="auto", choices=["auto", "while", "unrolled"],
                        help="to_streaming_tflite(lstm_loop=...)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    import export
    from export.streaming import StreamingRunner
    from keras_audioattn.data.synthetic import synthesize
    from keras_audioattn.models.cnn_lstm_student import CNNLSTMStudent

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    train = synthesize("events", args.train_clips, seed=0, duration=10.0)
    held = synthesize("events", args.eval, seed=1, duration=10.0)
    x, y = _crops(train, args.crops, args.crop, rng)
    x_eval = np.asarray(held.waveforms, np.float32)
    classes = train.class_names
    model = CNNLSTMStudent(num_classes=len(classes), lstm_units=args.units, readout=args.readout)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    start = time.perf_counter()
    model.fit(x, y, batch_size=16, epochs=args.epochs, verbose=0)
    results = {"args": vars(args), "train_seconds": time.perf_counter() - start, "classes": classes,
               "load_average": os.getloadavg()}
    offline = np.asarray(model.predict(x_eval, batch_size=8, verbose=0))
    held_targets = np.asarray(held.targets, np.float32)
    try:
        from sklearn.metrics import average_precision_score

        results["offline_micro_ap"] = float(average_precision_score(held_targets.ravel(), offline.ravel()))
        results["prior_micro_ap"] = float(held_targets.mean())
    except ImportError:
        pass
    print(json.dumps({k: results.get(k) for k in ("train_seconds", "offline_micro_ap", "prior_micro_ap")}), flush=True)
    calibration = list(x[: args.calibration])
    rate = train.sample_rate

    tmp = tempfile.mkdtemp(prefix="bench_streaming_")
    variants = [(ms, "int8", "internal") for ms in (args.chunks if not args.detection_only else [100])]
    if not args.no_extra and not args.detection_only:
        variants += [(100, "float32", "internal"), (100, "int8", "external")]
    results["streamed_vs_offline"] = []
    files = {}
    for ms, quant, state in variants:
        path = os.path.join(tmp, f"stream_{ms}ms_{quant}_{state}.tflite")
        t0 = time.perf_counter()
        export.to_streaming_tflite(model, path, ms / 1000.0, quant, calibration, labels=classes, state=state,
                                   check_seconds=10.0, lstm_cell=args.lstm_cell, lstm_loop=args.lstm_loop)
        export_s = time.perf_counter() - t0
        files[(ms, quant, state)] = path
        runner = StreamingRunner(path)
        final = np.stack([runner.stream(w)[-1] for w in x_eval])
        per_clip = np.max(np.abs(final - offline), axis=1)
        row = {"chunk_ms": ms, "quantization": quant, "state": state, "bytes": os.path.getsize(path),
               "max_abs_diff": float(per_clip.max()), "median_clip_max_abs_diff": float(np.median(per_clip)),
               "top1_agree": float(np.mean(final.argmax(1) == offline.argmax(1))),
               "decisions_agree": float(np.mean((final >= 0.5) == (offline >= 0.5))), "export_seconds": export_s}
        results["streamed_vs_offline"].append(row)
        print(json.dumps(row), flush=True)

    stream_path = files[(100, "int8", "internal")]
    if not args.detection_only:
        _cost(args, results, model, classes, calibration, x_eval, rate, tmp, stream_path)
    _detection(args, results, held, classes, offline, x_eval, stream_path)
    if args.out:
        from keras_audioattn.files import write_json  # atomic (temporary file + rename)

        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        write_json(args.out, results)
    return results


def _cost(args, results, model, classes, calibration, x_eval, rate, tmp, stream_path):
    """Streaming 100 ms int8 (internal) vs the 10 s clip file of the same weights, same run."""
    import numpy as np

    import export
    from export.checks import interpreter
    from export.streaming import time_chunks
    from keras_audioattn.models.cnn_lstm_student import CNNLSTMStudent

    clip_path = os.path.join(tmp, "clip_int8.tflite")
    clip_model = CNNLSTMStudent(num_classes=len(classes), lstm_units=args.units, readout=args.readout,
                                num_samples=10 * rate)
    clip_model.set_weights(model.get_weights())
    export.to_tflite(clip_model, clip_path, "int8", calibration + [w for w in x_eval[:0]], labels=classes,
                     num_samples=10 * rate)
    chunks = [c for w in x_eval[: args.timing_clips] for c in np.split(w, len(w) // 1600)]
    it = interpreter(clip_path, num_threads=1)
    it.allocate_tensors()
    index = it.get_input_details()[0]["index"]
    clip_cpu, chunk_cpu = [], []
    for r in range(args.clip_repeats):  # interleaved: both see the same machine load
        it.reset_all_variables()
        it.set_tensor(index, x_eval[r % len(x_eval)][None])
        t0 = time.thread_time()
        it.invoke()
        clip_cpu.append((time.thread_time() - t0) * 1000)
        median, _ = time_chunks(stream_path, chunks[:100])
        chunk_cpu.append(median)
    stream_median, stream_p90 = time_chunks(stream_path, chunks)

    def rss(path):
        out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, path], capture_output=True, text=True, check=True)
        return int(out.stdout.strip().splitlines()[-1])

    results["cost"] = {
        "stream_chunk_cpu_ms_median": stream_median, "stream_chunk_cpu_ms_p90": stream_p90,
        "stream_chunk_cpu_ms_interleaved_median": float(np.median(chunk_cpu)),
        "clip_cpu_ms_median": float(np.median(clip_cpu)),
        "stream_cpu_ms_per_10s": float(np.median(chunk_cpu)) * 100,
        "ratio_stream_10s_over_clip": float(np.median(chunk_cpu)) * 100 / float(np.median(clip_cpu)),
        "stream_bytes": os.path.getsize(stream_path), "clip_bytes": os.path.getsize(clip_path),
        "stream_peak_rss_kb": rss(stream_path), "clip_peak_rss_kb": rss(clip_path),
        "load_average": os.getloadavg(),
    }
    print(json.dumps(results["cost"]), flush=True)



def _detection(args, results, held, classes, offline, x_eval, stream_path):
    """Detection latency on the events corpus: streamed 100 ms vs 10 s windows.

    Thresholds: ``--threshold`` and "median": the median offline score of the held-out
    (recording, class) pairs that hold the class (the point where the offline model detects half
    of them), so that a weakly trained student still yields delays to compare."""
    import numpy as np

    from export.streaming import StreamingRunner

    runner = StreamingRunner(stream_path)
    streamed = [runner.stream(w) for w in x_eval]  # (100, classes) each: after chunk j, audio [0, (j+1) 0.1 s)
    targets = np.asarray(held.targets) > 0
    thresholds = {"fixed": args.threshold, "median": float(np.median(offline[targets]))}
    results["detection"] = {}
    for key, threshold in thresholds.items():
        stream_delays, window_delays, n_events = [], [], 0
        for i, scores in enumerate(streamed):
            ends = (np.arange(len(scores)) + 1) * 0.1
            for onset, _, label in held.events[i]:
                k = classes.index(label)
                n_events += 1
                hit = np.flatnonzero((ends > onset) & (scores[:, k] >= threshold))
                if hit.size:
                    stream_delays.append(float(ends[hit[0]] - onset))
                if offline[i, k] >= threshold:
                    window_delays.append(10.0 - onset)
        results["detection"][key] = {
            "events": n_events, "threshold": threshold,
            "stream_detected": len(stream_delays) / max(n_events, 1),
            "stream_median_delay_s": float(np.median(stream_delays)) if stream_delays else None,
            "window_detected": len(window_delays) / max(n_events, 1),
            "window_median_delay_s": float(np.median(window_delays)) if window_delays else None,
        }
        print(json.dumps(results["detection"][key]), flush=True)


if __name__ == "__main__":
    main()
