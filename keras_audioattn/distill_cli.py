"""``audioattn distill``: teacher -> CNN-LSTM student distillation from manifests (Chang et al. 2020).

    audioattn distill --teacher-preset chang2020-teacher --train train.csv --val validation.csv \
        --student-units 16 --setup bce+kd+sp+iusp --out runs/lstm16

Trains the teacher from the preset on ``--train`` (or loads ``--teacher model.keras``), then
distils a ``CNNLSTMStudent`` with one of the five objectives of Sec. 4.3, with early stopping on
the validation DCASE 2019 Task 5 micro-AUPRC (Sec. 4.3). Writes ``teacher.keras`` (when trained
here), ``student.keras``, ``class_names.txt`` and ``metrics.json`` into ``--out``.
"""

from __future__ import annotations

import json
import os
import time


def _json_dict(text):
    import argparse

    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r} ({error})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "distill",
        help="distil a CNN-LSTM student from a VGGish teacher (Chang et al. 2020, IUSP)",
        description="Train (or load) the teacher, distil a CNN-LSTM student with BCE/KD/SP/IUSP, "
                    "report validation micro-AUPRC (DCASE 2019 Task 5) and save both models.",
    )
    teacher = parser.add_mutually_exclusive_group(required=True)
    teacher.add_argument("--teacher", help="a trained teacher .keras file (waveform in, sigmoid scores out)")
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
    parser.add_argument("--teacher-config", type=_json_dict, default={},
                        help="JSON overrides of the teacher preset (e.g. '{\"blocks\": [[8], [16]]}')")
    parser.add_argument("--student-config", type=_json_dict, default={},
                        help="JSON overrides of the student preset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    parser.set_defaults(func=run)
    return parser


def _scores(model, dataset):
    import numpy as np

    ys, ps = [], []
    for x, y in dataset:
        ps.append(np.asarray(model(x, training=False)))
        ys.append(np.asarray(y))
    return np.concatenate(ys), np.concatenate(ps)


def run(args):
    from keras_audioattn.distillation import SETUPS

    setup = args.setup.lower().replace(" ", "")
    if setup not in SETUPS:
        raise ValueError(f"--setup must be one of {list(SETUPS)}, got {args.setup!r}")
    for name in ("train", "val"):
        if not os.path.isfile(getattr(args, name)):
            raise FileNotFoundError(f"--{name} manifest not found: {getattr(args, name)}")
    if args.teacher and not os.path.isfile(args.teacher):
        raise FileNotFoundError(f"--teacher model not found: {args.teacher}")
    import math

    if args.epochs < 1 or args.teacher_epochs < 1 or args.batch_size < 1:
        raise ValueError("--epochs, --teacher-epochs and --batch-size must be >= 1")
    if args.patience < 0:
        raise ValueError(f"--patience must be >= 0, got {args.patience}")
    for flag, value in (("--learning-rate", args.learning_rate),
                        ("--teacher-learning-rate", args.teacher_learning_rate),
                        ("--temperature", args.temperature), ("--duration", args.duration)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{flag} must be finite and > 0, got {value}")
    if args.duration > 3600:
        raise ValueError(f"--duration must be <= 3600 s, got {args.duration}")
    if not 1 <= args.sample_rate <= 384000:
        raise ValueError(f"--sample-rate must be between 1 and 384000 Hz, got {args.sample_rate}")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    from keras_audioattn.files import OwnedFolder

    folder = OwnedFolder(args.out)
    if not folder.is_empty() and not args.overwrite:
        raise FileExistsError(f"--out {args.out} is not empty (use --overwrite)")

    import keras
    import numpy as np

    from keras_audioattn.data import dataset_from_manifest, load_manifest
    from keras_audioattn.distillation import Distiller
    from keras_audioattn.metrics import dcase2019_task5_auprc
    from keras_audioattn.files import NonFiniteWeightsError, all_finite, save_keras_model, write_json, write_text
    from keras_audioattn.models import CNNLSTMStudent, VGGishTeacher

    keras.utils.set_random_seed(args.seed)
    train_manifest = load_manifest(args.train)
    class_names = list(train_manifest.class_names)
    train_manifest.check_audio()
    load_manifest(args.val, class_names=class_names).check_audio(decode=True)

    def build_student():
        return CNNLSTMStudent.from_preset(f"chang2020-student-lstm{args.student_units}",
                                          num_classes=len(class_names), sample_rate=args.sample_rate,
                                          clip_duration=args.duration, **args.student_config)

    def build_teacher():
        return VGGishTeacher.from_preset(args.teacher_preset, num_classes=len(class_names),
                                         sample_rate=args.sample_rate, clip_duration=args.duration,
                                         **args.teacher_config)

    import inspect

    for flag, cls, config in (("--teacher-config", VGGishTeacher, args.teacher_config),
                              ("--student-config", CNNLSTMStudent, args.student_config)):
        params = inspect.signature(cls).parameters
        valid = {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        valid = (valid | {"name", "dtype", "trainable"}) - {"num_classes", "sample_rate", "num_samples"}
        unknown = sorted(set(config) - valid)
        if unknown:
            raise ValueError(f"{flag}: unknown or reserved key(s) {unknown} (num_classes, sample_rate and "
                             f"num_samples come from the data and --sample-rate / --duration); valid keys: "
                             f"{', '.join(sorted(valid))}")
    # --teacher-config / --student-config / --setup are checked now, before the teacher trains:
    # an untrained teacher and student are built and the distillation set up once.
    try:
        probe_teacher = keras.saving.load_model(args.teacher) if args.teacher else build_teacher()
        Distiller.from_setup(setup, probe_teacher, build_student(), temperature=args.temperature)
    except (TypeError, ValueError, KeyError) as error:
        which = "--teacher-config / --student-config" if not args.teacher else "--teacher / --student-config"
        raise ValueError(f"{which}: {error}") from None
    del probe_teacher
    folder.prepare(overwrite=args.overwrite, what="--out")
    folder.claim("teacher.keras", "student.keras", "class_names.txt", "metrics.json")
    common = dict(class_names=class_names, sample_rate=args.sample_rate, duration=args.duration,
                  multi_label=True, batch_size=args.batch_size, cache=True)
    train = dataset_from_manifest(train_manifest, shuffle=True, seed=args.seed, **common)
    val = dataset_from_manifest(args.val, shuffle=False, **common)

    def auprc(model):
        y, p = _scores(model, val)
        return float(dcase2019_task5_auprc(y, p, average="micro"))

    class AUPRCStopping(keras.callbacks.Callback):
        """Early stopping on the validation micro-AUPRC, restoring the best student (Sec. 4.3)."""

        def __init__(self, model_to_score, patience):
            super().__init__()
            self.target, self.patience = model_to_score, patience
            self.best, self.best_weights, self.wait = -1.0, None, 0

        def on_epoch_end(self, epoch, logs=None):
            score = auprc(self.target)
            if logs is not None:
                logs["val_micro_auprc"] = score
            if score > self.best:
                self.best, self.best_weights, self.wait = score, self.target.get_weights(), 0
            else:
                self.wait += 1
                if self.patience and self.wait >= self.patience:
                    self.model.stop_training = True

        def on_train_end(self, logs=None):
            if self.best_weights is not None:
                self.target.set_weights(self.best_weights)

    report = {"setup": setup, "student_units": args.student_units, "class_names": class_names}
    start = time.perf_counter()
    if args.teacher:
        teacher = keras.saving.load_model(args.teacher)
    else:
        teacher = build_teacher()
        teacher.compile(optimizer=keras.optimizers.Adam(args.teacher_learning_rate), loss="binary_crossentropy")
        stop = AUPRCStopping(teacher, args.patience)
        teacher.fit(train, epochs=args.teacher_epochs, callbacks=[stop], verbose=2, shuffle=False)
        save_keras_model(teacher, os.path.join(args.out, "teacher.keras"))
    report["teacher_val_micro_auprc"] = auprc(teacher)

    student = build_student()
    distiller = Distiller.from_setup(setup, teacher, student, temperature=args.temperature)
    distiller.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    stop = AUPRCStopping(student, args.patience)
    # shuffle=False: the tf.data pipeline shuffles itself.
    history = distiller.fit(train, epochs=args.epochs, callbacks=[stop], verbose=2, shuffle=False)
    report["student_val_micro_auprc"] = auprc(student)
    report["student_params"] = int(student.count_params())
    report["epochs_run"] = len(history.history["loss"])
    report["history"] = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    report["seconds"] = round(time.perf_counter() - start, 1)
    if not all_finite(student):
        raise NonFiniteWeightsError(f"distillation diverged: the student's weights are not finite and were not saved. "
                                    f"Likely cause: a learning rate too high (--learning-rate {args.learning_rate:g}) "
                                    f"or temperature (--temperature {args.temperature:g})")
    save_keras_model(student, os.path.join(args.out, "student.keras"))
    write_text(os.path.join(args.out, "class_names.txt"), "\n".join(class_names) + "\n")
    write_json(os.path.join(args.out, "metrics.json"), report)
    print(f"teacher micro-AUPRC {report['teacher_val_micro_auprc']:.3f}, student ({setup}, LSTM "
          f"{args.student_units}) {report['student_val_micro_auprc']:.3f}; wrote {args.out}")
    return 0 if np.isfinite(report["student_val_micro_auprc"]) else 1
