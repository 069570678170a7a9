"""``audioattn evaluate``: the paper's metrics of a trained run on a manifest.

    audioattn evaluate --model runs/cab --data test.csv
"""

from __future__ import annotations

import os

from keras_audioattn import training
from keras_audioattn.cli.common import UsageError
from keras_audioattn.files import check_output_file


def add_parser(subparsers):
    p = subparsers.add_parser("evaluate", help="the paper's metrics of a trained run on a manifest",
                              description="Prints the metrics of the run's preset on --data and writes "
                                          "them as JSON.")
    p.add_argument("--model", required=True, help="run folder written by `audioattn train`, or its .keras file")
    p.add_argument("--data", required=True, help="manifest (CSV) to evaluate on")
    p.add_argument("--json", help="output JSON (default: MODEL/evaluation.json)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.add_argument("--resample", action="store_true", help="resample files at another rate")
    p.add_argument("--batch-size", type=int, help="default: the run's per-replica batch size")
    p.set_defaults(func=run_evaluate)
    return p


def run_evaluate(args):
    """Checks the flags, then :func:`keras_audioattn.training.evaluate`."""
    if not os.path.isfile(args.data):
        raise UsageError(f"--data manifest not found: {args.data}")
    if args.batch_size is not None and args.batch_size < 1:
        raise training.ArgumentError("batch_size", f"must be >= 1, got {args.batch_size}")
    if args.json is not None:
        check_output_file(args.json, "json_path", args.overwrite)
    training.evaluate(args.model, args.data, json_path=args.json, overwrite=args.overwrite,
                      resample=True if args.resample else None, batch_size=args.batch_size)
    return 0


__all__ = ["add_parser", "run_evaluate"]
