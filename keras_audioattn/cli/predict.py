"""``audioattn predict``: top classes (and events for SED models) per audio file.

    audioattn predict --model runs/cab clip1.wav clip2.flac
"""

from __future__ import annotations

import math
import sys

from keras_audioattn import training
from keras_audioattn.cli.common import flag
from keras_audioattn.files import check_output_file, write_json
from keras_audioattn.validation import render_arguments


def add_parser(subparsers):
    p = subparsers.add_parser("predict", help="top classes (and events for SED models) per audio file")
    p.add_argument("--model", required=True, help="run folder written by `audioattn train`, or its .keras file")
    p.add_argument("files", nargs="+", help="audio files")
    p.add_argument("--top-k", type=int, default=3, help="classes shown per file (default 3)")
    p.add_argument("--threshold", type=float, default=0.5, help="frame threshold of SED events (default 0.5)")
    p.add_argument("--resample", action="store_true", help="resample files at another rate")
    p.add_argument("--json", help="also write the predictions to this JSON file (its folder must exist)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.set_defaults(func=run_predict)
    return p


def run_predict(args):
    """Scores the files one at a time: a bad file is reported and the others are still scored."""
    if args.top_k < 1:
        raise training.ArgumentError("top_k", f"must be >= 1, got {args.top_k}")
    if not (math.isfinite(args.threshold) and 0.0 <= args.threshold <= 1.0):
        raise training.ArgumentError("threshold", f"must be between 0 and 1, got {args.threshold}")
    if args.json:
        check_output_file(args.json, "json_path", args.overwrite)  # before any work
    failed = 0

    def show(result):
        nonlocal failed
        if "error" in result:
            failed += 1
            # The library names its arguments (resample=True); the command its flags (--resample).
            text = render_arguments(result["error"], ("resample",), lambda a: flag(a, "predict"))
            print(f"{result['file']}: error: {text}", file=sys.stderr)
            return
        top = ", ".join(f"{label} {score:.3f}" for label, score in result["top"])
        print(f"{result['file']}: {top}", flush=True)
        for onset, offset, label in result.get("events", []):
            print(f"    {onset:8.3f} s - {offset:8.3f} s  {label}")

    results = training.predict(args.model, args.files, top_k=args.top_k, threshold=args.threshold,
                               resample=True if args.resample else None, on_error="report", callback=show)
    if args.json:
        write_json(args.json, results)
    if failed:
        print(f"audioattn predict: {failed} of {len(args.files)} files failed", file=sys.stderr)
        return 1
    return 0


__all__ = ["add_parser", "run_predict"]
