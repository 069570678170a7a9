"""Kill-and-resume helpers shared by tests/test_bad_inputs.py and bench/kill_resume.py.

A training run is started as a subprocess (``python -m keras_audioattn train ...``) and killed
with SIGKILL either at a random moment or while a checkpoint is being written (a temporary file
``.audioattn-tmp-*`` exists in the run or backup folder); then ``--resume`` continues it. The
final ``training_log.csv`` and best checkpoint are compared with an uninterrupted run.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TMP_PREFIX = ".audioattn-tmp-"


def train_command(corpus, out, seed=0, epochs=5, extra=()):
    """A tiny deterministic run: the chang2020 teacher, small, 0.5 s clips at 8 kHz."""
    return [sys.executable, "-m", "keras_audioattn", "train", "--preset", "chang2020-teacher",
            "--train", str(corpus / "train.csv"), "--val", str(corpus / "validation.csv"), "--out", str(out),
            "--small", "--sample-rate", "8000", "--duration", "0.5", "--epochs", str(epochs), "--batch-size", "2",
            "--patience", "0", "--seed", str(seed), "--deterministic", "--verbose", "0", *extra]


def env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT, CUDA_VISIBLE_DEVICES="")


def _saving(out):
    for folder in (out, os.path.join(out, "backup")):
        try:
            if any(name.startswith(TMP_PREFIX) and name.endswith((".keras", ".weights.h5"))
                   for name in os.listdir(folder)):
                return True
        except OSError:
            pass
    return False


def run_and_kill(command, out, when="save", delay=None, timeout=240):
    """Starts ``command``, SIGKILLs it ``when="save"``: while a checkpoint temp file exists (the
    ``n``-th save when ``delay`` is an int), or ``when="time"``: ``delay`` seconds after the
    first backup exists. Returns ``(killed, what)``: whether it was killed before finishing."""
    proc = subprocess.Popen(command, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    what = "finished"
    try:
        deadline = time.monotonic() + timeout
        metadata = os.path.join(out, "backup", "training_metadata.json")
        seen, start = 0, None
        was_saving = False
        while proc.poll() is None and time.monotonic() < deadline:
            if when == "save":
                saving = _saving(out)
                if saving and not was_saving:
                    seen += 1
                    if seen >= (delay or 1):
                        os.kill(proc.pid, signal.SIGKILL)
                        what = f"during save #{seen}"
                        break
                was_saving = saving
                time.sleep(0.0005)
            else:
                if start is None and os.path.exists(metadata):
                    start = time.monotonic()
                if start is not None and time.monotonic() - start >= delay:
                    os.kill(proc.pid, signal.SIGKILL)
                    what = f"{delay:.2f} s after the first backup"
                    break
                time.sleep(0.005)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"training failed ({proc.returncode}): {err[-3000:]}")
    return proc.returncode == -signal.SIGKILL, what


def log_rows(run):
    with open(os.path.join(run, "training_log.csv"), newline="") as f:
        return list(csv.DictReader(f))


def compare_runs(reference, resumed, rtol=1e-5, atol=1e-6):
    """Asserts equal logs (every column, every epoch) and equal best checkpoints."""
    import numpy as np

    from keras_audioattn.training import load_keras_model

    want, got = log_rows(reference), log_rows(resumed)
    assert [r["epoch"] for r in got] == [r["epoch"] for r in want], (want, got)
    for a, b in zip(want, got):
        for key in a:
            np.testing.assert_allclose(float(b[key]), float(a[key]), rtol=rtol, atol=atol,
                                       err_msg=f"epoch {a['epoch']} {key}")
    wa = load_keras_model(os.path.join(reference, "model.keras")).get_weights()
    wb = load_keras_model(os.path.join(resumed, "model.keras")).get_weights()
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        np.testing.assert_allclose(y, x, rtol=rtol, atol=atol)
