"""``audioattn presets / train / evaluate / predict``: the papers' experiments on your own data.

    audioattn presets
    audioattn train --preset lu2020-cab-cnn-30s --train train.csv --val validation.csv --out runs/cab
    audioattn evaluate --model runs/cab --data test.csv
    audioattn predict --model runs/cab clip1.wav clip2.flac

See ``docs/training.md`` and :mod:`keras_audioattn.training` (the Python API behind these).
"""

from __future__ import annotations

import json
import os

from keras_audioattn.distill_cli import _json_dict


def add_parser(subparsers):
    p = subparsers.add_parser("presets", help="list the paper presets (model + training recipe)",
                              description="List every preset: family, model class, task and the "
                                          "metrics `audioattn evaluate` reports for it.")
    p.add_argument("name", nargs="?", help="show one preset in full (JSON)")
    p.set_defaults(func=run_presets)

    p = subparsers.add_parser(
        "train", help="train a preset on manifests (tf.data, checkpoints, TensorBoard, resume)",
        description="Train a paper preset from CSV manifests. Writes model.keras (best checkpoint), "
                    "config.json, class_names.txt, training_log.csv and TensorBoard logs into --out; "
                    "a killed run continues with --resume.")
    p.add_argument("--preset", required=True, help="preset name (see `audioattn presets`)")
    p.add_argument("--train", required=True, help="training manifest (CSV)")
    p.add_argument("--val", help="validation manifest (CSV; checkpoint selection and early stopping)")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--epochs", type=int, help="default: the recipe's")
    p.add_argument("--batch-size", type=int,
                   help="PER-REPLICA batch size (default: the recipe's); the global batch is this times "
                        "the number of replicas of --strategy")
    p.add_argument("--lr", "--learning-rate", dest="lr", type=float, help="learning rate (default: the recipe's)")
    p.add_argument("--optimizer", help="Keras optimizer name (default: the recipe's, e.g. adam)")
    p.add_argument("--patience", type=int, help="early-stopping patience (default: the recipe's; 0 disables)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and shuffling (default 0)")
    p.add_argument("--deterministic", action="store_true",
                   help="also enable TensorFlow op determinism (same seed + data -> same weights)")
    p.add_argument("--strategy", choices=("default", "mirrored", "multi-worker"), default="default",
                   help="default: one device; mirrored: all GPUs of this machine; multi-worker: "
                        "several machines (cluster from TF_CONFIG)")
    p.add_argument("--backend", choices=("tensorflow", "jax", "torch"),
                   help="Keras backend to train on (default: KERAS_BACKEND, else TensorFlow); the data "
                        "pipeline is tf.data on all three; --strategy needs tensorflow (docs/backends.md)")
    p.add_argument("--mixed-precision", nargs="?", const="float16", choices=("float16", "bfloat16"),
                   help="mixed precision: float16 (the default of the bare flag; GPUs) or bfloat16 (CPUs "
                        "with AVX-512 BF16, TPUs); front ends and softmax/sigmoid outputs stay float32")
    p.add_argument("--sample-rate", type=int, help="override the preset's sample rate (the model follows)")
    p.add_argument("--duration", type=float, help="override the preset's clip duration in seconds")
    p.add_argument("--resample", action="store_true",
                   help="resample files at another rate while reading (default: a sample-rate mismatch is an error)")
    p.add_argument("--config-overrides", type=_json_dict, default={},
                   help="JSON object of model constructor overrides, e.g. '{\"units\": 32}'")
    p.add_argument("--small", action="store_true", help="tiny model configuration of the family (tests, demo)")
    p.add_argument("--channels", type=int, help="audio channels the model hears (default: the preset's; "
                                                 "jung2020-*: 2; mono files are repeated on every channel)")
    p.add_argument("--mixup-alpha", type=float, help="mix-up of training batches, Beta(a, a) (default: the "
                                                     "recipe's: 0.2 for jung2020-*, none elsewhere; 0 disables)")
    p.add_argument("--tagger", help="jung2020-*: the trained tagger .keras (audioattn train --preset "
                                    "jung2020-tagger) whose frozen tag vectors condition the ASC")
    p.add_argument("--teacher", help="chang2020-student-*: a trained teacher .keras to distil from "
                                     "(without it the student trains with BCE alone)")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras verbosity (1: progress bars)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--overwrite", action="store_true", help="start again in a non-empty --out")
    group.add_argument("--resume", action="store_true", help="continue the (killed) run in --out")
    p.set_defaults(func=run_train)

    p = subparsers.add_parser("evaluate", help="the paper's metrics of a trained run on a manifest",
                              description="Prints the metrics of the run's preset on --data and writes "
                                          "them as JSON.")
    p.add_argument("--model", required=True, help="run folder written by `audioattn train`")
    p.add_argument("--data", required=True, help="manifest (CSV) to evaluate on")
    p.add_argument("--json", help="output JSON (default: MODEL/evaluation.json)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.add_argument("--resample", action="store_true", help="resample files at another rate")
    p.add_argument("--batch-size", type=int, help="default: the run's per-replica batch size")
    p.set_defaults(func=run_evaluate)

    p = subparsers.add_parser("predict", help="top classes (and events for SED models) per audio file")
    p.add_argument("--model", required=True, help="run folder written by `audioattn train`")
    p.add_argument("files", nargs="+", help="audio files")
    p.add_argument("--top-k", type=int, default=3, help="classes shown per file (default 3)")
    p.add_argument("--threshold", type=float, default=0.5, help="frame threshold of SED events (default 0.5)")
    p.add_argument("--resample", action="store_true", help="resample files at another rate")
    p.add_argument("--json", help="also write the predictions to this JSON file (its folder must exist)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.set_defaults(func=run_predict)
    return p


def _usage(error):
    from keras_audioattn.cli import UsageError

    return UsageError(str(error))


def run_presets(args):
    from keras_audioattn import presets

    try:
        if args.name:
            print(json.dumps(presets.get_preset(args.name), indent=2, default=str))
            return 0
    except ValueError as error:
        raise _usage(error) from None
    rows = presets.describe_presets()
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    header = ("preset", "family", "model", "task")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)) + "  evaluate metrics")
    for row in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row[:4], widths)) + f"  {row[4]}")
    return 0


def run_train(args):
    from keras_audioattn import presets, training

    try:
        presets.get_preset(args.preset)
    except ValueError as error:
        raise _usage(error) from None
    for name in ("train", "val"):
        path = getattr(args, name)
        if path is not None and not os.path.isfile(path):
            raise _usage(f"--{name} manifest not found: {path}")
    for name in ("teacher", "tagger"):
        path = getattr(args, name)
        if path is not None and not os.path.isfile(path):
            raise _usage(f"--{name} model not found: {path}")
    if args.channels is not None and args.channels < 1:
        raise _usage(f"--channels must be >= 1, got {args.channels}")
    training.check_numeric_arguments(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                                     patience=args.patience, mixup_alpha=args.mixup_alpha,
                                     sample_rate=args.sample_rate, duration=args.duration, seed=args.seed)
    result = training.train(
        args.preset, args.train, args.val, args.out, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.lr, optimizer=args.optimizer, seed=args.seed, strategy=args.strategy, mixed_precision=args.mixed_precision,
        deterministic=args.deterministic, overrides=args.config_overrides, small=args.small,
        sample_rate=args.sample_rate, duration=args.duration, resample=args.resample, patience=args.patience,
        teacher=args.teacher, tagger=args.tagger, mixup_alpha=args.mixup_alpha, channels=args.channels,
        overwrite=args.overwrite, resume=args.resume, verbose=args.verbose)
    config = result["config"]
    print(f"trained {args.preset}: epochs {result['initial_epoch'] + 1}-{config.get('epochs_completed')} "
          f"({config['replicas']} replica(s), global batch {config['training']['global_batch_size']}); "
          f"best model: {result['model_path']}")
    return 0


def run_evaluate(args):
    from keras_audioattn import training

    from keras_audioattn.files import check_output_file

    if not os.path.isfile(args.data):
        raise _usage(f"--data manifest not found: {args.data}")
    if args.batch_size is not None and args.batch_size < 1:
        raise _usage(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.json is not None:
        check_output_file(args.json, "--json", args.overwrite)
    training.evaluate(args.model, args.data, json_path=args.json, overwrite=args.overwrite,
                      resample=True if args.resample else None, batch_size=args.batch_size)
    return 0


def run_predict(args):
    from keras_audioattn import training

    import math
    import sys

    from keras_audioattn.files import check_output_file, write_json

    if args.top_k < 1:
        raise _usage(f"--top-k must be >= 1, got {args.top_k}")
    if not (math.isfinite(args.threshold) and 0.0 <= args.threshold <= 1.0):
        raise _usage(f"--threshold must be between 0 and 1, got {args.threshold}")
    if args.json:
        check_output_file(args.json, "--json", args.overwrite)  # before any work
    failed = 0

    def show(result):
        nonlocal failed
        if "error" in result:
            failed += 1
            print(f"{result['file']}: error: {result['error']}", file=sys.stderr)
            return
        top = ", ".join(f"{label} {score:.3f}" for label, score in result["top"])
        print(f"{result['file']}: {top}", flush=True)
        for onset, offset, label in result.get("events", []):
            print(f"    {onset:8.3f} s - {offset:8.3f} s  {label}")

    # One file at a time: a bad file is reported and the others are still scored.
    results = training.predict(args.model, args.files, top_k=args.top_k, threshold=args.threshold,
                               resample=True if args.resample else None, on_error="report", callback=show)
    if args.json:
        write_json(args.json, results)
    if failed:
        print(f"audioattn predict: {failed} of {len(args.files)} files failed", file=sys.stderr)
        return 1
    return 0
