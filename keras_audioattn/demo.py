"""``make demo``: the package end to end on its built-in synthetic data, in a few minutes on a CPU.

    python -m keras_audioattn.demo --out demo_output [--small] [--overwrite]

Every step is an ``audioattn`` command, run in this process exactly as a user would type it:

1. ``audioattn make-data --task tagging``: synthetic urban tagging clips (8 DCASE 2019 Task 5
   coarse tags) as wav files and CSV manifests.
2. ``audioattn distill``: trains a (reduced) VGGish teacher with ``model.fit``, then distils an
   LSTM-16 CNN-LSTM student with BCE + KD + SP + IUSP (Chang et al. 2020, Eq. 7).
3. ``audioattn export``: the student as a TF Serving SavedModel and a full-int8 ``.tflite``
   (front end float, network int8), each checked by the export module before it is kept.
4. Classifies a held-out clip with the ``.tflite`` in LiteRT (``ai_edge_litert``) and prints
   the top tags next to the Keras student's.

The sizes here (clip length, teacher width, epochs) are the demo's, chosen to finish in a few
minutes on 2 CPU cores; the paper configurations are the presets' defaults. ``--small`` shrinks
everything further (used by the test suite). A non-empty ``--out`` is replaced only when an
earlier demo wrote it (it holds a ``.audioattn-demo`` marker) or with ``--overwrite``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

MARKER = ".audioattn-demo"
# Demo sizes (paper sizes are the presets' defaults).
FULL = {"num_clips": 160, "duration": 2.0, "teacher_epochs": 12, "epochs": 25, "batch_size": 16,
        "teacher_config": {"blocks": [[16], [32], [64]], "dense_units": [128, 64]}}
SMALL = {"num_clips": 16, "duration": 0.5, "teacher_epochs": 1, "epochs": 1, "batch_size": 8,
         "teacher_config": {"blocks": [[4], [8], [8]], "dense_units": [16]}}


def _step(title):
    print(f"\n== {title}", flush=True)


def _command(argv):
    """Runs one ``audioattn`` command in-process, echoing it; a failure ends the demo."""
    from keras_audioattn.cli import main

    print("$ audioattn " + " ".join(argv), flush=True)
    code = main(argv)
    if code:
        raise SystemExit(f"demo: 'audioattn {argv[0]}' failed with exit code {code}")


def _top(scores, class_names, k=3):
    order = sorted(range(len(scores)), key=lambda i: -scores[i])[:k]
    return ", ".join(f"{class_names[i]} {scores[i]:.2f}" for i in order)


def run(out, small=False, overwrite=False, seed=0):
    sizes = SMALL if small else FULL
    if os.path.exists(out) and os.listdir(out):
        # A folder an earlier demo wrote (it holds the marker) is the demo's own: replace it.
        if not (overwrite or os.path.isfile(os.path.join(out, MARKER))):
            raise SystemExit(f"demo: {out} is not empty and was not written by the demo; pass "
                             f"--overwrite or choose another folder (make demo DEMO_OUT=...)")
        shutil.rmtree(out)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, MARKER), "w", encoding="utf-8") as f:
        f.write("written by python -m keras_audioattn.demo; the next demo run replaces this folder\n")
    start = time.perf_counter()
    data, run_dir = os.path.join(out, "data"), os.path.join(out, "lstm16")
    tflite_path = os.path.join(out, "student_int8.tflite")
    saved_model = os.path.join(out, "saved_model", "student")
    duration = str(sizes["duration"])

    _step("1/4 synthetic tagging data (Chang et al. 2020 stand-in)")
    _command(["make-data", "--task", "tagging", "--out", data, "--num-clips", str(sizes["num_clips"]),
              "--seed", str(seed), "--duration", duration])

    _step("2/4 teacher -> LSTM-16 student with BCE + KD + SP + IUSP")
    _command(["distill", "--teacher-preset", "chang2020-teacher", "--train", os.path.join(data, "train.csv"),
              "--val", os.path.join(data, "validation.csv"), "--student-units", "16",
              "--setup", "bce+kd+sp+iusp", "--out", run_dir, "--duration", duration,
              "--epochs", str(sizes["epochs"]), "--teacher-epochs", str(sizes["teacher_epochs"]),
              "--batch-size", str(sizes["batch_size"]), "--learning-rate", "3e-3",
              "--teacher-learning-rate", "1e-3", "--patience", "0",
              "--teacher-config", json.dumps(sizes["teacher_config"]), "--seed", str(seed)])

    _step("3/4 export: TF Serving SavedModel + full-int8 TFLite (checked)")
    _command(["export", "--model", os.path.join(run_dir, "student.keras"), "--saved-model", saved_model,
              "--tflite", tflite_path, "--quantization", "int8",
              "--representative", os.path.join(data, "train.csv")])

    _step("4/4 classify a held-out clip on the device runtime (LiteRT)")
    import keras
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    import keras_audioattn  # noqa: F401  (registers the layers)
    from keras_audioattn.data import load_audio, load_class_names, load_manifest

    class_names = load_class_names(os.path.join(run_dir, "class_names.txt"))  # the student's outputs
    test = load_manifest(os.path.join(data, "test.csv"), class_names=class_names)
    interpreter = Interpreter(model_path=tflite_path, num_threads=1)
    interpreter.allocate_tensors()
    (inp,), (outp,) = interpreter.get_input_details(), interpreter.get_output_details()
    num_samples = int(inp["shape"][-1])
    waveform, rate = load_audio(test.paths[0], sample_rate=16000)
    waveform = np.pad(waveform, (0, max(0, num_samples - len(waveform))))[:num_samples]
    interpreter.set_tensor(inp["index"], waveform[None].astype(np.float32))
    interpreter.invoke()
    lite_scores = interpreter.get_tensor(outp["index"])[0]
    student = keras.saving.load_model(os.path.join(run_dir, "student.keras"))
    keras_scores = keras.ops.convert_to_numpy(student(waveform[None], training=False))[0]
    truth = test.labels[0]
    print(f"clip {os.path.basename(test.paths[0])}: true tags {', '.join(truth) or '(none)'}")
    print(f"  LiteRT int8 top tags:  {_top(lite_scores.tolist(), class_names)}")
    print(f"  Keras float top tags:  {_top(keras_scores.tolist(), class_names)}")
    print(f"  max |int8 - float| score difference: {float(np.max(np.abs(lite_scores - keras_scores))):.4f}")

    with open(os.path.join(run_dir, "metrics.json"), encoding="utf-8") as f:
        report = json.load(f)
    elapsed = time.perf_counter() - start
    print(f"\nDone in {elapsed:.0f} s. Validation micro-AUPRC (DCASE 2019 Task 5): teacher "
          f"{report['teacher_val_micro_auprc']:.3f}, student {report['student_val_micro_auprc']:.3f}.")
    print("Outputs:")
    for label, path in (("data", data), ("teacher + student", run_dir), ("SavedModel", saved_model),
                        ("int8 TFLite", tflite_path)):
        print(f"  {label:18s} {path}")
    return {"seconds": elapsed, "lite_scores": lite_scores, "keras_scores": keras_scores, **report}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m keras_audioattn.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="demo_output", help="output folder (default demo_output)")
    parser.add_argument("--small", action="store_true", help="tiny sizes (seconds; used by the tests)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run(args.out, small=args.small, overwrite=args.overwrite, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
