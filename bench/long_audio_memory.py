"""Peak memory of `audioattn predict` / `evaluate` against the length of the recording.

Usage: python bench/long_audio_memory.py [--short-minutes 3] [--long-minutes 180] [--work /tmp/audioattn_long]

Trains two tiny runs (1 epoch, synthetic data, 16 kHz): ``zhang2018-ta-sa`` (recording-level
scoring: 1 s clips, 50 % overlap, averaged, §3.1 — the whole recording is scored) and
``chang2020-teacher`` (a fixed 10 s clip: only the first 10 s are used). Then writes a
``--short-minutes`` and a ``--long-minutes`` 16 kHz 16-bit wav (noise; written in blocks, so
the writer's memory is bounded too; a 3 h file is 345 MB) into ``--work``, and runs each of
``predict FILE`` and ``evaluate --data MANIFEST`` (one row) in a fresh subprocess, reporting its
peak RSS (``os.wait4`` ``ru_maxrss``) and wall time. The files are deleted at the end.

The claim (docs/data.md, "Long recordings"): peak RSS does not grow with the recording's length
(long / short within ± 20 %).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SR = 16000


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT, CUDA_VISIBLE_DEVICES="")


def _cli(*args):
    return [sys.executable, "-m", "keras_audioattn", *map(str, args)]


def _peak_rss(command):
    """``(peak RSS in MB, seconds, return code, stderr tail)`` of ``command`` in a fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024.0, time.perf_counter() - start, proc.returncode, err[-1500:]


def _write_long_wav(path, minutes, seed=0):
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(seed)
    total = int(minutes * 60 * SR)
    with sf.SoundFile(path, "w", samplerate=SR, channels=1, subtype="PCM_16") as f:
        written = 0
        while written < total:
            n = min(SR * 60, total - written)
            f.write((0.1 * rng.standard_normal(n)).astype(np.float32))
            written += n
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short-minutes", type=float, default=3.0)
    parser.add_argument("--long-minutes", type=float, default=180.0)
    parser.add_argument("--work", default="/tmp/audioattn_long")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    corpus = os.path.join(args.work, "scenes")
    runs = {"zhang2018-ta-sa": os.path.join(args.work, "zhang"), "chang2020-teacher": os.path.join(args.work, "chang")}
    if not os.path.isdir(corpus):
        subprocess.run(_cli("make-data", "--task", "scenes", "--out", corpus, "--num-clips", 24, "--sample-rate",
                            SR, "--duration", 2), env=_env(), check=True, stdout=subprocess.DEVNULL)
    for preset, run in runs.items():
        if not os.path.isfile(os.path.join(run, "model.keras")):
            extra = ["--duration", 2] if preset.startswith("chang") else []
            subprocess.run(_cli("train", "--preset", preset, "--train", os.path.join(corpus, "train.csv"), "--out",
                                run, "--small", "--epochs", 1, "--batch-size", 4, "--verbose", 0, "--sample-rate", SR,
                                *extra), env=_env(), check=True, stdout=subprocess.DEVNULL)
    results = {"load_average_before": os.getloadavg(), "rows": []}
    files = {}
    try:
        for label, minutes in (("short", args.short_minutes), ("long", args.long_minutes)):
            path = _write_long_wav(os.path.join(args.work, f"{label}.wav"), minutes)
            manifest = os.path.join(args.work, f"{label}.csv")
            label_name = open(os.path.join(corpus, "class_names.txt"), encoding="utf-8").readline().strip()
            with open(manifest, "w", encoding="utf-8") as f:
                f.write(f"path,labels\n{path},{label_name}\n")
            files[label] = (path, manifest, minutes)
        for preset, run in runs.items():
            for command in ("predict", "evaluate"):
                row = {"preset": preset, "command": command}
                for label, (path, manifest, minutes) in files.items():
                    if command == "predict":
                        cmd = _cli("predict", "--model", run, path)
                    else:
                        cmd = _cli("evaluate", "--model", run, "--data", manifest, "--json",
                                   os.path.join(args.work, f"eval_{label}.json"), "--overwrite")
                    rss, seconds, code, err = _peak_rss(cmd)
                    if code != 0:
                        raise SystemExit(f"{' '.join(cmd)} failed ({code}): {err}")
                    row[label] = {"minutes": minutes, "peak_rss_mb": round(rss, 1), "seconds": round(seconds, 1)}
                row["long_over_short"] = round(row["long"]["peak_rss_mb"] / row["short"]["peak_rss_mb"], 3)
                results["rows"].append(row)
                print(f"{preset:18s} {command:8s} peak RSS {row['short']['peak_rss_mb']:7.1f} MB "
                      f"({args.short_minutes:g} min) vs {row['long']['peak_rss_mb']:7.1f} MB "
                      f"({args.long_minutes:g} min): x{row['long_over_short']:.3f}; "
                      f"{row['short']['seconds']:.1f} s vs {row['long']['seconds']:.1f} s", flush=True)
    finally:
        for path, manifest, _ in files.values():
            for p in (path, manifest):
                if os.path.exists(p):
                    os.remove(p)
    results["load_average_after"] = os.getloadavg()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
