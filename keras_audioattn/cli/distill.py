"""``audioattn distill``: teacher -> CNN-LSTM student distillation from manifests (Chang et al. 2020).

    audioattn distill --teacher-preset chang2020-teacher --train train.csv --val validation.csv \
        --student-units 16 --setup bce+kd+sp+iusp --out runs/lstm16

A recipe over :func:`keras_audioattn.training.train`, not a second trainer: the teacher is
trained from its preset into ``--out/teacher/`` (or ``--teacher`` is loaded: a ``.keras`` file or
a run folder), then the student preset ``chang2020-student-lstm<units>`` is trained into
``--out/student/`` with ``teacher=`` and the ``--setup`` objective (Sec. 4.3), both with the
presets' monitor (validation DCASE 2019 Task 5 micro-AUPRC) for the best checkpoint and early
stopping. ``--out`` then also holds ``teacher.keras`` (when trained here), ``student.keras``,
``class_names.txt`` and ``metrics.json`` (every file written atomically).
"""

from __future__ import annotations

import os
import time

import numpy as np

from keras_audioattn import presets, training
from keras_audioattn.cli.common import UsageError, arguments_as, json_dict
from keras_audioattn.data import load_manifest
from keras_audioattn.distillation import SETUPS, Distiller
from keras_audioattn.files import OwnedFolder, write_bytes, write_json, write_text
from keras_audioattn.metrics import dcase2019_task5_auprc
from keras_audioattn.training.arguments import ArgumentError, check_number

#: The teacher step's arguments, in this command's names (their flags: --teacher-...).
TEACHER_ARGUMENTS = {"overrides": "teacher_config", "learning_rate": "teacher_learning_rate",
                     "epochs": "teacher_epochs"}

OUTPUTS = ("teacher", "student", "teacher.keras", "student.keras", "class_names.txt", "metrics.json")


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "distill",
        help="distil a CNN-LSTM student from a VGGish teacher (Chang et al. 2020, IUSP)",
        description="Train (or load) the teacher, distil a CNN-LSTM student with BCE/KD/SP/IUSP, "
                    "report validation micro-AUPRC (DCASE 2019 Task 5) and save both models.",
    )
    teacher = parser.add_mutually_exclusive_group(required=True)
    teacher.add_argument("--teacher", help="a trained teacher: .keras file or run folder (waveform in, sigmoid "
                                               "scores out)")
    teacher.add_argument("--teacher-preset", help="train a VGGishTeacher from this preset first "
                                                  "(e.g. chang2020-teacher)")
    parser.add_argument("--train", required=True, help="training manifest (CSV)")
    parser.add_argument("--val", required=True, help="validation manifest (CSV)")
    parser.add_argument("--student-units", type=int, default=16, choices=(128, 64, 32, 16),
                        help="LSTM size of the student (Table 1; default 16)")
    parser.add_argument("--setup", default="bce+kd+sp+iusp",
                        help="bce | bce+kd | bce+kd+sp | bce+kd+iusp | bce+kd+sp+iusp (default)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--epochs", type=int, default=300, help="student epochs (paper: 300)")
    parser.add_argument("--patience", type=int, default=20,
                        help="early stopping on validation micro-AUPRC (paper: 20; 0 disables)")
    parser.add_argument("--teacher-epochs", type=int, default=30, help="teacher epochs when trained here")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="Adam (paper: 1e-4)")
    parser.add_argument("--teacher-learning-rate", type=float, default=1e-4)
    parser.add_argument("--temperature", type=float, default=1.0, help="KD temperature")
    parser.add_argument("--duration", type=float, default=10.0, help="clip seconds (crop/pad; default 10)")
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--teacher-config", type=json_dict, default={},
                        help="JSON overrides of the teacher preset (e.g. '{\"blocks\": [[8], [16]]}')")
    parser.add_argument("--student-config", type=json_dict, default={},
                        help="JSON overrides of the student preset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    parser.set_defaults(func=run)
    return parser


def _check(args):
    """Every flag, before any work. Returns the normalised setup."""
    setup = args.setup.lower().replace(" ", "")
    if setup not in SETUPS:
        raise ArgumentError("distillation_setup", f"must be one of {list(SETUPS)}, got {args.setup!r}")
    for name in ("train", "val"):
        if not os.path.isfile(getattr(args, name)):
            raise UsageError(f"--{name} manifest not found: {getattr(args, name)}")
    if args.teacher:
        training.resolve_model(args.teacher, "teacher")
    training.check_numeric_arguments(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                                     patience=args.patience, sample_rate=args.sample_rate, duration=args.duration,
                                     seed=args.seed)
    with arguments_as(TEACHER_ARGUMENTS):
        training.check_numeric_arguments(epochs=args.teacher_epochs, learning_rate=args.teacher_learning_rate)
    check_number("temperature", args.temperature, low=0, low_open=True)
    return setup


def _probe(args, setup, student_preset, class_names):
    """--teacher-config / --student-config / --setup checked before the teacher trains: an
    untrained teacher and student are built and the distillation set up once."""
    data = training.data_settings(presets.get_preset(student_preset), args.sample_rate, args.duration)
    try:
        with arguments_as(TEACHER_ARGUMENTS):
            if args.teacher:
                teacher = training.load_keras_model(training.resolve_model(args.teacher, "teacher"))
            else:
                cls, config = training.network_config(args.teacher_preset, len(class_names), data, args.teacher_config)
                teacher = cls(**config)
        cls, config = training.network_config(student_preset, len(class_names), data, args.student_config)
        Distiller.from_setup(setup, teacher, cls(**config), temperature=args.temperature)
    except ArgumentError:
        raise
    except (TypeError, ValueError, KeyError) as error:
        which = "--teacher-config / --student-config" if not args.teacher else "--teacher / --student-config"
        raise ValueError(f"{which}: {error}") from None
    return data


def _val_auprc(model_path, val, class_names, data, batch_size):
    """Validation micro-AUPRC (DCASE 2019 Task 5) of a saved model."""
    dataset = training.make_dataset(val, class_names, data, "multi_label", batch_size)
    y_true, y_score = training.score_dataset(training.load_keras_model(model_path), dataset)
    return float(dcase2019_task5_auprc(y_true, y_score, average="micro"))


def _copy(source, target):
    """``target``: the bytes of ``source``, written atomically."""
    with open(source, "rb") as f:
        write_bytes(target, f.read())


def run(args):
    """Checks, then trains the teacher (unless given) and the student through ``training.train``."""
    setup = _check(args)
    folder = OwnedFolder(args.out)
    if not folder.is_empty() and not args.overwrite:
        raise FileExistsError(f"--out {args.out} is not empty (use --overwrite)")
    class_names = list(load_manifest(args.train).class_names)
    student_preset = f"chang2020-student-lstm{args.student_units}"
    data = _probe(args, setup, student_preset, class_names)
    try:
        folder.prepare(overwrite=args.overwrite, what="out")
    except (ValueError, FileExistsError) as error:
        raise as_argument_error(error, "out", mentions=("overwrite",)) from None
    folder.claim(*OUTPUTS)
    common = dict(sample_rate=args.sample_rate, duration=args.duration, batch_size=args.batch_size,
                  patience=args.patience, seed=args.seed, class_names=class_names, verbose=2)
    start = time.perf_counter()
    if args.teacher:
        teacher_path = training.resolve_model(args.teacher, "teacher")
    else:
        with arguments_as(TEACHER_ARGUMENTS):
            teacher_path = training.train(args.teacher_preset, args.train, args.val, os.path.join(args.out, "teacher"),
                                          epochs=args.teacher_epochs, learning_rate=args.teacher_learning_rate,
                                          overrides=args.teacher_config, **common)["model_path"]
        _copy(teacher_path, os.path.join(args.out, "teacher.keras"))
    result = training.train(student_preset, args.train, args.val, os.path.join(args.out, "student"),
                            epochs=args.epochs, learning_rate=args.learning_rate, overrides=args.student_config,
                            teacher=teacher_path, distillation_setup=setup, temperature=args.temperature, **common)
    student_path = result["model_path"]
    _copy(student_path, os.path.join(args.out, "student.keras"))
    val = load_manifest(args.val, class_names=class_names)
    report = {"setup": setup, "student_units": args.student_units, "class_names": class_names,
              "teacher_val_micro_auprc": _val_auprc(teacher_path, val, class_names, data, args.batch_size),
              "student_val_micro_auprc": _val_auprc(student_path, val, class_names, data, args.batch_size),
              "student_params": int(training.load_keras_model(student_path).count_params()),
              "epochs_run": result["epochs_run"],
              "history": {k: [float(v) for v in vals] for k, vals in result["history"].items()},
              "seconds": round(time.perf_counter() - start, 1),
              "teacher_run": None if args.teacher else os.path.join(args.out, "teacher"),
              "student_run": os.path.join(args.out, "student")}
    write_text(os.path.join(args.out, "class_names.txt"), "\n".join(class_names) + "\n")
    write_json(os.path.join(args.out, "metrics.json"), report)
    print(f"teacher micro-AUPRC {report['teacher_val_micro_auprc']:.3f}, student ({setup}, LSTM "
          f"{args.student_units}) {report['student_val_micro_auprc']:.3f}; wrote {args.out}")
    return 0 if np.isfinite(report["student_val_micro_auprc"]) else 1


__all__ = ["add_parser", "run"]
