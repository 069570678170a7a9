"""Streaming file size and per-chunk cost against the chunk length (LSTM-16 int8 student).

Model: ``CNNLSTMStudent`` LSTM ``--units`` (Chang et al. 2020, Table 1: 20-mel log-mel, conv 32
5x5 stride 2, LSTM, dense sigmoid), any input length, seeded and *untrained* (size and cost do not
depend on the weights' values). Calibration: ``--calibration`` 2 s "events" recordings (seed 0).

For each chunk in ``--chunks`` (ms), each readout in ``--readouts`` and each LSTM loop in
``--loops`` (``"while"``: one TFLite WHILE loop, the default; ``"unrolled"``: one copy of the
cell per LSTM step, the exporter before issue 16):
``export.to_streaming_tflite(..., quantization="int8", state=--state, lstm_cell=--lstm-cell,
lstm_loop=...)``
(checked as every export is), and per file: bytes, bytes of its constant buffers, number of
buffers, tensors and operators (all subgraphs). Cost: the calling thread's CPU ms per ``push`` of
one chunk (LiteRT, 1 thread) on ``--timing-seconds`` of noise, ``--rounds`` times; the files of
one chunk length are pushed chunk by chunk in turn (interleaved, so that files compared with each
other see the same machine load): median and p90 per file, and for each WHILE file the median of
its per-chunk ratios to the unrolled file of the same readout and chunk. ``--also LABEL=PATH``
adds existing streaming files (e.g. written by an older exporter) to the timing.

    python bench/streaming_size.py --out bench/results/streaming_size.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))


def file_anatomy(path):
    """Bytes, constant-buffer bytes, buffers, tensors and operators of a .tflite (all subgraphs)."""
    from ai_edge_litert import schema_py_generated as schema

    with open(path, "rb") as f:
        data = f.read()
    model = schema.Model.GetRootAs(data, 0)
    buffers = [model.Buffers(i) for i in range(model.BuffersLength())]
    constant = sum(b.DataLength() + int(b.Size()) for b in buffers)
    graphs = [model.Subgraphs(i) for i in range(model.SubgraphsLength())]
    return {"bytes": len(data), "constant_bytes": int(constant),
            "buffers": sum(1 for b in buffers if b.DataLength() or b.Size()),
            "tensors": sum(g.TensorsLength() for g in graphs),
            "operators": sum(g.OperatorsLength() for g in graphs)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=16)
    parser.add_argument("--chunks", type=int, nargs="*", default=[20, 100, 1000], help="chunk lengths, ms")
    parser.add_argument("--readouts", nargs="+", default=["last"], choices=["last", "mean", "max"])
    parser.add_argument("--loops", nargs="+", default=["while", "unrolled"], choices=["while", "unrolled"])
    parser.add_argument("--state", default="internal", choices=["internal", "external"])
    parser.add_argument("--lstm-cell", default="float", choices=["float", "int8"])
    parser.add_argument("--calibration", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timing-seconds", type=float, default=4.0, help="audio per round and file")
    parser.add_argument("--also", nargs="*", default=[], metavar="LABEL=PATH")
    parser.add_argument("--keep", default=None, help="folder to keep the written files in")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    import export
    from export.streaming import StreamingRunner
    from keras_audioattn.data.synthetic import synthesize
    from keras_audioattn.models import CNNLSTMStudent

    data = synthesize("events", args.calibration, seed=0, duration=2.0)
    calibration = [np.asarray(w, np.float32) for w in data.waveforms]
    folder = args.keep or tempfile.mkdtemp(prefix="bench_streaming_size_")
    os.makedirs(folder, exist_ok=True)
    files, rows = {}, []
    for readout in args.readouts:
        keras.utils.set_random_seed(0)
        model = CNNLSTMStudent(num_classes=len(data.class_names), lstm_units=args.units, readout=readout)
        for ms in args.chunks:
            for loop in args.loops:
                label = f"{readout}_{loop}_{ms}ms"
                path = os.path.join(folder, f"stream_{label}_int8_{args.state}.tflite")
                export.to_streaming_tflite(model, path, ms / 1000.0, "int8", calibration, state=args.state,
                                           lstm_cell=args.lstm_cell, lstm_loop=loop, check_seconds=2.0,
                                           overwrite=True)
                files[label] = path
                rows.append({"file": label, "chunk_ms": ms, "readout": readout, "lstm_loop": loop,
                             **file_anatomy(path)})
                print(json.dumps(rows[-1]), flush=True)
    for spec in args.also:
        label, path = spec.split("=", 1)
        files[label] = path
        rows.append({"file": label, **file_anatomy(path)})
        print(json.dumps(rows[-1]), flush=True)

    rng = np.random.default_rng(1)
    audio = (0.1 * rng.standard_normal(int(args.timing_seconds * 16000))).astype(np.float32)
    times = {label: [] for label in files}
    runners = {label: StreamingRunner(path) for label, path in files.items()}
    groups = {}
    for label, runner in runners.items():
        groups.setdefault(runner.chunk_samples, []).append(label)
    for _ in range(args.rounds):
        for n, labels in groups.items():
            for runner in runners.values():
                runner.reset()
            chunks = [audio[i:i + n] for i in range(0, len(audio) - n + 1, n)]
            # Chunk by chunk, every file of this chunk length in turn (rotating who goes first):
            # files compared with each other see the same load.
            for j, chunk in enumerate(chunks):
                for label in labels[j % len(labels):] + labels[:j % len(labels)]:
                    start = time.thread_time()
                    runners[label].push(chunk)
                    times[label].append((time.thread_time() - start) * 1000.0)
    for row in rows:
        t = times[row["file"]]
        row["chunk_cpu_ms_median"] = float(np.median(t))
        row["chunk_cpu_ms_p90"] = float(np.percentile(t, 90))
        row["chunks_timed"] = len(t)
        print(json.dumps({k: row[k] for k in ("file", "bytes", "chunk_cpu_ms_median")}), flush=True)
    ratios = {}
    for row in rows:  # each WHILE file against the unrolled one of the same readout and chunk
        twin = row["file"].replace("_while_", "_unrolled_")
        if "_while_" in row["file"] and twin in times:
            ratio = np.asarray(times[row["file"]]) / np.asarray(times[twin])
            ratios[row["file"] + "/unrolled"] = {"median_of_per_chunk_ratios": float(np.median(ratio)),
                                                 "ratio_of_medians": row["chunk_cpu_ms_median"]
                                                 / float(np.median(times[twin]))}
            print(json.dumps({row["file"] + "/unrolled": ratios[row["file"] + "/unrolled"]}), flush=True)
    results = {"args": vars(args), "files": rows, "ratios": ratios, "load_average": os.getloadavg()}
    if args.out:
        from keras_audioattn.files import write_json  # atomic (temporary file + rename)

        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        write_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
