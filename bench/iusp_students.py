"""Benchmark of the Chang et al. 2020 CNN-LSTM students (LSTM 128/64/32/16) as TFLite files.

For each LSTM size: parameters and analytic multiply-accumulates (vs Table 2), .tflite size in
float32 / dynamic-range / full int8 (``export.to_tflite``), LiteRT latency per 10 s clip with
one thread, and DCASE 2019 Task 5 micro-AUPRC of the Keras model, the float32 .tflite and the
int8 .tflite on a held-out part of the built-in synthetic tagging set.

``--duration`` sets the clip length the students are trained and scored on; ``--latency-duration``
the input length of the files whose size and latency are reported (the same weights). On the
synthetic set, students trained on 10 s clips stay near the chance level in this budget (their
last LSTM state must remember events over 497 steps), so agreement of *trained* students is
measured on shorter clips.

The students are trained here with ``Distiller`` (default setup ``bce``: plain supervised
training, so the figures are about quantization, not about distillation; ``--setup`` and a
small teacher (``--teacher-blocks``) give any of the five setups).

    python bench/iusp_students.py --out /tmp/iusp_bench            # prints a Markdown table
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Run as a script, bench/ comes first on sys.path and bench/export.py would shadow the export package.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [os.path.dirname(_HERE)] + [p for p in sys.path if os.path.abspath(p or ".") != _HERE]


def student_macs(units, frames=998, mel=20, filters=32, k=5, s=2, classes=8):
    """Multiply-accumulates per clip (conv + LSTM gates + dense), the count behind 'FLOPs'."""
    t = (frames - k) // s + 1
    f = (mel - k) // s + 1
    conv = t * f * filters * k * k
    lstm = t * 4 * units * (f * filters + units)
    return conv + lstm + units * classes


def teacher_macs(frames=998, mel=64, blocks=((64,), (128,), (256, 256), (512, 512)), dense=(2048, 128), classes=8):
    total, c_in, t, f = 0, 1, frames, mel
    for i, block in enumerate(blocks):
        for c_out in block:
            total += t * f * 9 * c_in * c_out
            c_in = c_out
        if i < len(blocks) - 1:
            t, f = t // 2, f // 2
    for units in list(dense) + [classes]:
        total += c_in * units
        c_in = units
    return total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/iusp_bench")
    parser.add_argument("--units", type=int, nargs="+", default=[128, 64, 32, 16])
    parser.add_argument("--num-clips", type=int, default=200, help="synthetic tagging clips")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds per clip for training and the AUPRC figures (default 10)")
    parser.add_argument("--latency-duration", type=float, default=10.0,
                        help="input seconds of the .tflite files whose size and latency are reported")
    parser.add_argument("--test-fraction", type=float, default=0.25)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--setup", default="bce")
    parser.add_argument("--cell-clip", type=float, default=None,
                        help="train the students with ClippedLSTM(cell_clip) (TFLite's int8 LSTM range)")
    parser.add_argument("--teacher-blocks", default="[[16], [32], [64]]", help="JSON, for setups with KD")
    parser.add_argument("--latency-runs", type=int, default=20)
    parser.add_argument("--calibration-clips", type=int, default=32)
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    import export
    from export.checks import interpreter, run_tflite
    from keras_audioattn.distillation import Distiller
    from keras_audioattn.data.synthetic import synthesize
    from keras_audioattn.metrics import dcase2019_task5_auprc
    from keras_audioattn.models import CNNLSTMStudent, VGGishTeacher

    os.makedirs(args.out, exist_ok=True)
    keras.utils.set_random_seed(0)
    data = synthesize("tagging", args.num_clips, seed=11, duration=args.duration)
    x = np.asarray(data.waveforms, np.float32)
    y = np.asarray(data.targets, np.float32)
    n_test = int(round(len(x) * args.test_fraction))
    x_train, y_train, x_test, y_test = x[n_test:], y[n_test:], x[:n_test], y[:n_test]
    labels = list(data.class_names)

    teacher = VGGishTeacher(num_classes=len(labels), blocks=json.loads(args.teacher_blocks), dense_units=[64],
                            num_samples=round(args.duration * 16000))
    if args.setup != "bce":
        teacher.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
        teacher.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=0)

    # A scorer that gives every clip the training set's tag frequencies: the chance level.
    prior_auprc = float(dcase2019_task5_auprc(y_test, np.tile(y_train.mean(0), (len(y_test), 1)), average="micro"))
    rows = []
    for units in args.units:
        start = time.perf_counter()
        student = CNNLSTMStudent(num_classes=len(labels), lstm_units=units, num_samples=round(args.duration * 16000),
                                 cell_clip=args.cell_clip, name=f"cnn_lstm_student_{units}")
        distiller = Distiller.from_setup(args.setup, teacher, student)
        distiller.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
        distiller.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
        train_s = time.perf_counter() - start
        keras_scores = np.asarray(student.predict(x_test, batch_size=16, verbose=0))
        row = {"units": units, "params": int(student.count_params()), "macs": student_macs(units),
               "prior_auprc": prior_auprc,
               "train_s": round(train_s, 1),
               "auprc_keras": float(dcase2019_task5_auprc(y_test, keras_scores, average="micro"))}
        # Size and latency: the same weights behind a --latency-duration input (the weights do not
        # depend on the clip length; the .tflite's framing and LSTM loop length do).
        deployed = student
        if args.latency_duration != args.duration:
            deployed = CNNLSTMStudent(num_classes=len(labels), lstm_units=units,
                                      num_samples=round(args.latency_duration * 16000),
                                      cell_clip=args.cell_clip, name=f"cnn_lstm_student_{units}_deployed")
            deployed.set_weights(student.get_weights())
        long_clip = np.resize(x_test[0], int(16000 * args.latency_duration))[None].astype(np.float32)
        for mode in ("float32", "dynamic", "int8"):
            path = os.path.join(args.out, f"student_lstm{units}_{mode}.tflite")
            export.to_tflite(student, path, quantization=mode, labels=labels, sample_rate=16000,
                             representative_data=x_train[:args.calibration_clips], overwrite=True)
            if mode != "dynamic":
                scores = run_tflite(path, x_test, num_threads=1)["scores"]
                row[f"auprc_{mode}"] = float(dcase2019_task5_auprc(y_test, scores, average="micro"))
                row[f"max_abs_diff_{mode}"] = float(np.max(np.abs(scores - keras_scores)))
                row[f"p90_clip_max_diff_{mode}"] = float(np.quantile(np.abs(scores - keras_scores).max(1), 0.9))
            if deployed is not student:
                path = os.path.join(args.out, f"student_lstm{units}_{mode}_{args.latency_duration:g}s.tflite")
                export.to_tflite(deployed, path, quantization=mode, labels=labels, sample_rate=16000,
                                 representative_data=[np.resize(w, long_clip.shape[1]) for w in
                                                      x_train[:args.calibration_clips]], overwrite=True)
            row[f"size_{mode}"] = os.path.getsize(path)
            it = interpreter(path, num_threads=1)
            it.allocate_tensors()
            inp = it.get_input_details()[0]["index"]
            for _ in range(3):
                it.reset_all_variables()
                it.set_tensor(inp, long_clip)
                it.invoke()
            times = []
            for _ in range(args.latency_runs):
                it.reset_all_variables()
                it.set_tensor(inp, long_clip)
                t0 = time.perf_counter()
                it.invoke()
                times.append(time.perf_counter() - t0)
            row[f"latency_ms_{mode}"] = 1e3 * float(np.median(times))
        rows.append(row)
        print(json.dumps(row), flush=True)

    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"args": vars(args), "rows": rows, "teacher_macs": teacher_macs(),
                   "uptime": os.popen("uptime").read().strip()}, f, indent=2)
    print(f"\nteacher (paper configuration): {teacher_macs() / 1e9:.2f} GMAC per 10 s clip")
    print(f"(AUPRC on {args.duration:g} s clips; sizes and latencies of {args.latency_duration:g} s-input files; "
          f"chance-level AUPRC {prior_auprc:.3f})")
    print("| LSTM | params | GMAC/10 s | float32 KB | dynamic KB | int8 KB | ms float32 | ms dynamic | ms int8 "
          "| AUPRC Keras | AUPRC float32 | AUPRC int8 | max abs diff int8 | p90 clip max diff int8 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['units']} | {r['params']:,} | {r['macs'] / 1e9:.3f} | {r['size_float32'] / 1024:.1f} | "
              f"{r['size_dynamic'] / 1024:.1f} | {r['size_int8'] / 1024:.1f} | {r['latency_ms_float32']:.2f} | "
              f"{r['latency_ms_dynamic']:.2f} | {r['latency_ms_int8']:.2f} | {r['auprc_keras']:.3f} | "
              f"{r['auprc_float32']:.3f} | {r['auprc_int8']:.3f} | {r['max_abs_diff_int8']:.3f} | "
              f"{r['p90_clip_max_diff_int8']:.3f} |")
    print(os.popen("uptime").read().strip())


if __name__ == "__main__":
    main()
