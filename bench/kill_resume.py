"""SIGKILL `audioattn train` at random moments, resume, compare with an uninterrupted run.

Usage: python bench/kill_resume.py [--seeds 0 1 2 3] [--epochs 5] [--kills-per-seed 2] [--work /tmp/audioattn_kill]

For each seed: an uninterrupted reference run (``chang2020-teacher --small``, 0.5 s clips at
8 kHz, ``--deterministic``); then a run killed ``--kills-per-seed`` times, each time either while
a checkpoint temporary file (.keras / .weights.h5) exists (the n-th save, n drawn at random) or
at a random delay after the first backup, and resumed with ``--resume`` after each kill. The
resumed run's ``training_log.csv`` (every column) and best ``model.keras`` (every weight) must
equal the reference's (rtol 1e-5). Prints one line per kill and a summary; exit 1 on a mismatch.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests import kill_helpers as kh  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--kills-per-seed", type=int, default=2)
    parser.add_argument("--work", default="/tmp/audioattn_kill")
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    corpus = work / "tag"
    subprocess.run([sys.executable, "-m", "keras_audioattn", "make-data", "--task", "tagging", "--out", str(corpus),
                    "--num-clips", "12", "--sample-rate", "8000", "--duration", "0.5"], env=kh.env(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    failures, trials = 0, 0
    for seed in args.seeds:
        rng = random.Random(seed)
        reference, killed = work / f"reference_{seed}", work / f"killed_{seed}"
        subprocess.run(kh.train_command(corpus, reference, seed=seed, epochs=args.epochs), env=kh.env(), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kills = []
        for _ in range(args.kills_per_seed):
            extra = ["--resume"] if (killed / "config.json").exists() else []
            command = kh.train_command(corpus, killed, seed=seed, epochs=args.epochs, extra=extra)
            if rng.random() < 0.5:
                was_killed, what = kh.run_and_kill(command, str(killed), "save", rng.randint(1, 2 * args.epochs))
            else:
                was_killed, what = kh.run_and_kill(command, str(killed), "time", rng.uniform(0.0, 3.0))
            kills.append(what if was_killed else "finished before the kill")
        extra = ["--resume"] if (killed / "config.json").exists() else []
        subprocess.run(kh.train_command(corpus, killed, seed=seed, epochs=args.epochs, extra=extra), env=kh.env(),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        trials += 1
        try:
            kh.compare_runs(str(reference), str(killed))
            verdict = "match"
        except AssertionError as error:
            failures += 1
            verdict = f"MISMATCH: {str(error)[:300]}"
        print(f"seed {seed}: kills {kills}: {verdict}", flush=True)
    print(f"{trials - failures} of {trials} killed-and-resumed runs match their uninterrupted run")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
