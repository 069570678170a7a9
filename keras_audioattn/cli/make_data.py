"""``audioattn make-data``: write the built-in synthetic corpus (wav files + manifests)."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

from keras_audioattn.data.synthetic import DEFAULTS, TASKS, write_synthetic_corpus
from keras_audioattn.training.arguments import ArgumentError


def _duration(text):
    """Seconds, or a range "MIN-MAX" (accents: a duration drawn per clip)."""
    try:
        if "-" in text.strip("-"):
            low, high = (float(part) for part in text.split("-", 1))
            return (low, high)
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds (e.g. 10) or a range MIN-MAX (e.g. 3-8), got {text!r}") from None


def add_parser(subparsers):
    defaults = ", ".join(
        f"{task}: {spec['sample_rate']} Hz, "
        + (f"{spec['duration'][0]:g}-{spec['duration'][1]:g} s" if isinstance(spec["duration"], tuple) else f"{spec['duration']:g} s")
        for task, spec in DEFAULTS.items()
    )
    parser = subparsers.add_parser(
        "make-data",
        help="write the built-in synthetic data set (wav + CSV manifests)",
        description=(
            "Generate a synthetic corpus: audio/*.wav, manifest.csv (all clips), train/validation/test "
            f"CSV splits, class_names.txt and info.json. Defaults per task: {defaults}."
        ),
    )
    parser.add_argument("--task", required=True, choices=TASKS, help="which synthetic task")
    parser.add_argument("--out", required=True, help="output folder (must be empty or absent)")
    parser.add_argument("--num-clips", type=int, default=200, help="number of clips (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--sample-rate", type=int, default=None, help="Hz (default per task)")
    parser.add_argument("--duration", type=_duration, default=None, help="seconds or MIN-MAX (default per task)")
    parser.add_argument("--overwrite", action="store_true", help="replace a corpus already in --out")
    parser.set_defaults(func=run)
    return parser


def run(args):
    """Checks the flags, writes the corpus, prints where its parts are."""
    if args.num_clips < 1:
        raise ArgumentError("num_clips", f"must be >= 1, got {args.num_clips}")
    if args.seed < 0:
        raise ArgumentError("seed", f"must be >= 0, got {args.seed}")
    if args.sample_rate is not None and not 4000 <= args.sample_rate <= 96000:
        raise ArgumentError("sample_rate", f"must be between 4000 and 96000 Hz, got {args.sample_rate}")
    if args.duration is not None:
        bounds = args.duration if isinstance(args.duration, tuple) else (args.duration, args.duration)
        if not all(math.isfinite(b) and 0.25 <= b <= 600 for b in bounds) or bounds[0] > bounds[1]:
            raise ArgumentError("duration", f"must be seconds (or a range MIN-MAX) between 0.25 and 600, "
                             f"got {args.duration}")
    start = time.perf_counter()
    manifest = write_synthetic_corpus(
        args.task, args.out, args.num_clips, seed=args.seed, sample_rate=args.sample_rate,
        duration=args.duration, overwrite=args.overwrite,
    )
    info = json.loads((manifest.parent / "info.json").read_text())
    elapsed = time.perf_counter() - start
    print(
        f"wrote {info['num_clips']} {args.task} clips ({info['sample_rate']} Hz, "
        f"{info['min_duration_s']:g}-{info['max_duration_s']:g} s, classes: {', '.join(info['class_names'])}) "
        f"in {elapsed:.1f} s"
    )
    for name in ("manifest", "train", "validation", "test"):
        print(f"  {name}: {manifest.parent / (name + '.csv')}")
        rows = (manifest.parent / (name + ".csv")).read_text(encoding="utf-8").count("\n") - 1
        if rows < 1:
            print(f"warning: the {name} split is empty ({info['num_clips']} clips, 70/15/15 per class): "
                  f"pass a larger --num-clips (e.g. {max(20, 7 * len(info['class_names']))}) for non-empty "
                  f"validation and test splits", file=sys.stderr)
    print(f"  class names: {manifest.parent / 'class_names.txt'}")
    return 0
