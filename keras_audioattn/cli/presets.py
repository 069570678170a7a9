"""``audioattn presets``: the papers' presets (model + training recipe).

    audioattn presets
    audioattn presets lu2020-cab-cnn-30s
"""

from __future__ import annotations

import json

from keras_audioattn import presets
from keras_audioattn.cli.common import UsageError


def add_parser(subparsers):
    p = subparsers.add_parser("presets", help="list the paper presets (model + training recipe)",
                              description="List every preset: family, model class, task and the "
                                          "metrics `audioattn evaluate` reports for it.")
    p.add_argument("name", nargs="?", help="show one preset in full (JSON)")
    p.set_defaults(func=run_presets)
    return p


def run_presets(args):
    """Lists every preset, or prints one in full (JSON)."""
    try:
        if args.name:
            print(json.dumps(presets.get_preset(args.name), indent=2, default=str))
            return 0
    except ValueError as error:
        raise UsageError(str(error)) from None
    rows = presets.describe_presets()
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    header = ("preset", "family", "model", "task")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)) + "  evaluate metrics")
    for row in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row[:4], widths)) + f"  {row[4]}")
    return 0
