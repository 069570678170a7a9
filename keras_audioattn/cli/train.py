"""``audioattn train``: a paper preset trained on your own manifests.

    audioattn train --preset lu2020-cab-cnn-30s --train train.csv --val validation.csv --out runs/cab

See ``docs/training.md`` and :func:`keras_audioattn.training.train` (the Python API behind it).
"""

from __future__ import annotations

import os

from keras_audioattn import presets, training
from keras_audioattn.cli.common import UsageError, json_dict


def add_parser(subparsers):
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
    p.add_argument("--config-overrides", type=json_dict, default={},
                   help="JSON object of model constructor overrides, e.g. '{\"units\": 32}'")
    p.add_argument("--small", action="store_true", help="tiny model configuration of the family (tests, demo)")
    p.add_argument("--channels", type=int, help="audio channels the model hears (default: the preset's; "
                                                 "jung2020-*: 2; mono files are repeated on every channel)")
    p.add_argument("--mixup-alpha", type=float, help="mix-up of training batches, Beta(a, a) (default: the "
                                                     "recipe's: 0.2 for jung2020-*, none elsewhere; 0 disables)")
    p.add_argument("--tagger", help="jung2020-*: the trained tagger .keras (audioattn train --preset "
                                    "jung2020-tagger; .keras or its run folder) whose frozen tag vectors condition the ASC")
    p.add_argument("--teacher", help="chang2020-student-*: a trained teacher (.keras or run folder) to distil from "
                                     "(without it the student trains with BCE alone)")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras verbosity (1: progress bars)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--overwrite", action="store_true", help="start again in a non-empty --out")
    group.add_argument("--resume", action="store_true", help="continue the (killed) run in --out")
    p.set_defaults(func=run_train)
    return p


def run_train(args):
    """Checks the flags (before any work), then :func:`keras_audioattn.training.train`."""
    try:
        presets.get_preset(args.preset)
    except ValueError as error:
        raise UsageError(str(error)) from None
    for name in ("train", "val"):
        path = getattr(args, name)
        if path is not None and not os.path.isfile(path):
            raise UsageError(f"--{name} manifest not found: {path}")
    if args.channels is not None and args.channels < 1:
        raise training.ArgumentError("channels", f"must be >= 1, got {args.channels}")
    result = training.train(
        args.preset, args.train, args.val, args.out, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.lr, optimizer=args.optimizer, seed=args.seed, strategy=args.strategy,
        mixed_precision=args.mixed_precision, deterministic=args.deterministic, overrides=args.config_overrides,
        small=args.small, sample_rate=args.sample_rate, duration=args.duration, resample=args.resample,
        patience=args.patience, teacher=args.teacher, tagger=args.tagger, mixup_alpha=args.mixup_alpha,
        channels=args.channels, overwrite=args.overwrite, resume=args.resume, verbose=args.verbose)
    config = result["config"]
    print(f"trained {args.preset}: epochs {result['initial_epoch'] + 1}-{config.get('epochs_completed')} "
          f"({config['replicas']} replica(s), global batch {config['training']['global_batch_size']}); "
          f"best model: {result['model_path']}")
    return 0


__all__ = ["add_parser", "run_train"]
