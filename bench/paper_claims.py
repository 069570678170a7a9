"""Each paper's central comparison in miniature, over seeds, mean ± sd (issue 19).

    .venv/bin/python bench/paper_claims.py [--papers zhang lu deshmukh jung] [--seeds 0 1 2]
                                           [--small]

One module per paper, ``bench/paper_claims_<paper>.py``, each with
``run(seeds=(0, 1, 2), small=False) -> dict`` (the per-setup scores and their mean ± sd) and a
``main(argv)`` of its own (``--seeds``, ``--small``) that writes its results into
``bench/results/`` (``paper_claims_<paper>.json`` / ``.txt``) and prints its table. This script
runs the ones asked for, in one process each so that a crash or the memory of one does not affect
the next. The IUSP setups (Chang et al.) have their own bench,
``bench/chang2020_setups.py``. Benchmarks are not tests: nothing here asserts, and the verdicts
are written into each paper's doc from the figures printed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PAPERS = ("zhang", "lu", "deshmukh", "jung")


def module_path(paper):
    return os.path.join(HERE, f"paper_claims_{paper}.py")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", nargs="+", choices=PAPERS, default=list(PAPERS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--small", action="store_true", help="the tiny setting (minutes, not an estimate)")
    args = parser.parse_args(argv)
    missing = [p for p in args.papers if not os.path.exists(module_path(p))]
    if missing:
        parser.error(f"no bench module for {', '.join(missing)} (expected {module_path(missing[0])})")
    failed = []
    for paper in args.papers:
        command = [sys.executable, module_path(paper), "--seeds", *map(str, args.seeds)]
        if args.small:
            command.append("--small")
        print("$ " + " ".join(command), flush=True)
        if subprocess.call(command) != 0:
            failed.append(paper)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
