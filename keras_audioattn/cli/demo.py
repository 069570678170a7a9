"""``make demo``: the package end to end on its built-in synthetic data, in a few minutes on a CPU.

    python -m keras_audioattn.demo --out demo_output [--small] [--overwrite]

Every step is an ``audioattn`` command, run in this process exactly as a user would type it:

1. ``audioattn make-data --task tagging``: synthetic urban tagging clips (8 DCASE 2019 Task 5
   coarse tags) as wav files and CSV manifests.
2. ``audioattn train --preset chang2020-teacher``: a (reduced) VGGish teacher with ``model.fit``.
3. ``audioattn train --preset chang2020-student-lstm16 --teacher ...``: an LSTM-16 CNN-LSTM
   student distilled with BCE + KD + SP + IUSP (Chang et al. 2020, Eq. 7).
4. ``audioattn evaluate``: both on the test split, DCASE 2019 Task 5 micro/macro AUPRC.
5. ``audioattn export``: the student as a TF Serving SavedModel and a full-int8 ``.tflite``
   (front end float, network int8), each checked by the export module before it is kept.
6. ``audioattn predict`` on a held-out clip, and the same clip through the ``.tflite`` in
   LiteRT (``ai_edge_litert``): top tags of both.

The sizes here (clip length, teacher width, epochs) are the demo's, chosen to finish in a few
minutes on 2 CPU cores; the paper configurations are the presets' defaults. ``--small`` shrinks
everything further (used by the test suite): the models are then the ``chang2020-teacher-tiny``
and ``chang2020-student-tiny`` presets' (``audioattn train --small``).

This module lives in :mod:`keras_audioattn.cli` (it runs ``audioattn export`` and LiteRT through
``export.checks``); ``python -m keras_audioattn.demo`` and ``keras_audioattn.demo`` still work. A non-empty ``--out`` is replaced only when an
earlier demo wrote it (it holds a ``.audioattn-demo`` marker) or with ``--overwrite``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

import keras
import numpy as np

from export.checks import invoke_tflite
from keras_audioattn.cli import main as cli_main
from keras_audioattn.data import load_audio, load_class_names, load_manifest
from keras_audioattn.data.batching import fit_length

MARKER = ".audioattn-demo"
# Demo data and schedule (paper sizes are the presets' defaults). The full demo's teacher is a
# reduced VGGish (``teacher_config``: a named demo choice, not the paper's); ``--small`` trains the
# families' tiny presets (``audioattn train --small``: chang2020-teacher-tiny, chang2020-student-tiny).
FULL = {"num_clips": 320, "duration": 2.0, "teacher_epochs": 15, "epochs": 30, "batch_size": 16,
        "teacher_config": {"blocks": [[16], [32], [64]], "dense_units": [128, 64]}}
SMALL = {"num_clips": 20, "duration": 0.5, "teacher_epochs": 1, "epochs": 1, "batch_size": 8}


def _step(title):
    print(f"\n== {title}", flush=True)


def _command(argv):
    """Runs one ``audioattn`` command in-process, echoing it; a failure ends the demo."""
    print("$ audioattn " + " ".join(argv), flush=True)
    code = cli_main(argv)
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
    data = os.path.join(out, "data")
    teacher_dir, student_dir = os.path.join(out, "teacher"), os.path.join(out, "student_lstm16")
    tflite_path = os.path.join(out, "student_int8.tflite")
    saved_model = os.path.join(out, "saved_model", "student")
    duration = str(sizes["duration"])
    train_csv, val_csv, test_csv = (os.path.join(data, f"{name}.csv") for name in ("train", "validation", "test"))
    common = ["--train", train_csv, "--val", val_csv, "--duration", duration, "--batch-size",
              str(sizes["batch_size"]), "--seed", str(seed), "--patience", "0", *(["--small"] if small else [])]
    teacher_config = ["--config-overrides", json.dumps(sizes["teacher_config"])] if "teacher_config" in sizes else []

    _step("1/6 synthetic tagging data (Chang et al. 2020 stand-in)")
    _command(["make-data", "--task", "tagging", "--out", data, "--num-clips", str(sizes["num_clips"]),
              "--seed", str(seed), "--duration", duration])

    _step("2/6 train the teacher (VGGish-style, reduced) with model.fit")
    _command(["train", "--preset", "chang2020-teacher", "--out", teacher_dir, *common,
              "--epochs", str(sizes["teacher_epochs"]), "--lr", "1e-3", *teacher_config])

    _step("3/6 distil an LSTM-16 student with BCE + KD + SP + IUSP (Eq. 7)")
    # The preset's readout (max over the LSTM's states: the one that trains on 10 s clips, docs/chang2020.md).
    _command(["train", "--preset", "chang2020-student-lstm16", "--teacher", os.path.join(teacher_dir, "model.keras"),
              "--out", student_dir, *common, "--epochs", str(sizes["epochs"]), "--lr", "3e-3"])

    _step("4/6 evaluate both on the held-out test split (DCASE 2019 Task 5 AUPRC)")
    for run_dir in (teacher_dir, student_dir):
        _command(["evaluate", "--model", run_dir, "--data", test_csv])

    _step("5/6 export the student: TF Serving SavedModel + full-int8 TFLite (checked)")
    _command(["export", "--model", student_dir, "--saved-model", saved_model, "--tflite", tflite_path,
              "--quantization", "int8", "--representative", train_csv])

    _step("6/6 classify a held-out clip: Keras (audioattn predict) and the device runtime (LiteRT)")
    class_names = load_class_names(os.path.join(student_dir, "class_names.txt"))  # the student's outputs
    test = load_manifest(test_csv, class_names=class_names)
    clip = test.paths[0]
    _command(["predict", "--model", student_dir, clip])
    student = keras.saving.load_model(os.path.join(student_dir, "model.keras"), compile=False)
    num_samples = int(student.inputs[0].shape[-1])  # the clip length it was trained (and exported) at
    waveform, _ = load_audio(clip, sample_rate=16000)
    waveform = fit_length(waveform, num_samples)
    # The package's one LiteRT runner (export.checks), as the export's own checks use it.
    lite_scores = next(iter(invoke_tflite(tflite_path, waveform[None].astype(np.float32)).values()))[0]
    keras_scores = keras.ops.convert_to_numpy(student(waveform[None], training=False))[0]
    print(f"clip {os.path.basename(clip)}: true tags {', '.join(test.labels[0]) or '(none)'}")
    print(f"  LiteRT int8 top tags:  {_top(lite_scores.tolist(), class_names)}")
    print(f"  Keras float top tags:  {_top(keras_scores.tolist(), class_names)}")
    print(f"  max |int8 - float| score difference: {float(np.max(np.abs(lite_scores - keras_scores))):.4f}")

    reports = {}
    for name, run_dir in (("teacher", teacher_dir), ("student", student_dir)):
        with open(os.path.join(run_dir, "evaluation.json"), encoding="utf-8") as f:
            reports[name] = json.load(f)
    elapsed = time.perf_counter() - start
    micro = {name: _metric(report, "dcase2019_task5_auprc_micro") for name, report in reports.items()}
    print(f"\nDone in {elapsed:.0f} s. Test micro-AUPRC (DCASE 2019 Task 5): teacher {micro['teacher']}, "
          f"student {micro['student']}.")
    print("Outputs:")
    for label, path in (("data", data), ("teacher run", teacher_dir), ("student run", student_dir),
                        ("SavedModel", saved_model), ("int8 TFLite", tflite_path)):
        print(f"  {label:12s} {path}")
    return {"seconds": elapsed, "lite_scores": lite_scores, "keras_scores": keras_scores, "evaluation": reports}


def _metric(report, name):
    """A metric of an ``evaluation.json`` as text (``None`` = undefined on this data)."""
    value = report.get("metrics", report).get(name)
    return "undefined" if value is None else f"{float(value):.3f}"


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
