"""Chang et al. 2020 students on 10 s clips: which readout / optimiser setting trains at the paper's recipe?

Issue 15, point 4. ``CNNLSTMStudent`` (Table 1) feeds the LSTM's last hidden state to the
classifier (``readout="last"``); on 10 s clips that state has to carry every event across 497
LSTM steps. This bench trains the student with BCE only (no teacher) on 10 s clips of the built-in
tagging corpus (``synthesize("tagging", N, seed=11, duration=10)``, the eight DCASE 2019 Task 5
coarse tags, split 70/15/15 by :func:`bench.chang2020_setups.tagging_splits`) at the paper's
recipe (Sec. 4.3: Adam 1e-4, early stopping on validation micro-AUPRC, the best epoch's weights
restored; ``bench.chang2020_setups.AUPRCEarlyStopping``) under these variants:

=================  ===========================================================================
``last``           Table 1 as written: last LSTM state, Adam 1e-4
``last+clip``      ... with Adam ``global_clipnorm=1.0``
``last+norm``      ... with ``normalize_inputs=True`` (BatchNorm on the log-mel; not in the paper)
``last@1e-3``      ... at Adam 1e-3 (ten times the paper's rate)
``mean``           mean of the LSTM's hidden states over time (``readout="mean"``), Adam 1e-4
``max``            max over time (``readout="max"``), Adam 1e-4
``mean+norm``      ``mean`` with ``normalize_inputs=True``
=================  ===========================================================================

Reported per variant and LSTM size (mean ± sd over seeds): best validation micro-AUPRC, test
micro- and macro-AUPRC (DCASE 2019 Task 5, :mod:`keras_audioattn.metrics`) of the restored best
epoch, best epoch, seconds per epoch (training + the validation pass; meaningless on a shared
machine except as a ratio within one run), and chance (training tag frequencies as scores).

    python bench/chang2020_student_recipe.py --small          # smoke test, < 1 min
    nice -n 5 python bench/chang2020_student_recipe.py --threads 1   # the full run (docs/chang2020.md)

Writes ``<out>/chang2020_student_recipe.json`` and ``.txt`` atomically (temp file + rename) after
every run, so an interrupted run keeps what it measured; ``--out`` defaults to ``bench/results``.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Run as a script, bench/ comes first on sys.path and bench/export.py would shadow the export package.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [os.path.dirname(_HERE)] + [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

from bench.chang2020_setups import (AUPRCEarlyStopping, _mean_sd, auprc, bench_parser, drive,  # noqa: E402
                                    tagging_splits)

#: name -> (readout, normalize_inputs, learning_rate or None for --learning-rate, global_clipnorm)
VARIANTS = {
    "last": ("last", False, None, None),
    "last+clip": ("last", False, None, 1.0),
    "last+norm": ("last", True, None, None),
    "last@1e-3": ("last", False, 1e-3, None),
    "mean": ("mean", False, None, None),
    "max": ("max", False, None, None),
    "mean+norm": ("mean", True, None, None),
}
SMALL = dict(num_clips=40, duration=2.0, epochs=2, patience=2, units=[16], seeds=[0],
             variants=["last", "mean"], batch_size=8)


def main(argv=None):
    parser = bench_parser(__doc__, "chang2020_student_recipe", "a tiny configuration (smoke test)")
    parser.add_argument("--units", type=int, nargs="+", default=[64])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=20, help="epochs at most (paper: 300)")
    parser.add_argument("--patience", type=int, default=6, help="epochs without val AUPRC gain (paper: 20)")
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="Adam learning rate (paper: 1e-4)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None, help="TensorFlow intra- and inter-op threads")
    args = parser.parse_args(argv)
    return drive(args, parser, run, format_table, SMALL, "variants", VARIANTS)


def run(args, checkpoint=None):
    if args.threads:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras
    import numpy as np

    from keras_audioattn.models import CNNLSTMStudent

    started = time.time()
    (x_train, y_train), (x_val, y_val), (x_test, y_test), labels = tagging_splits(
        args.num_clips, args.data_seed, args.duration)
    frequencies = y_train.mean(0)
    chance = {"val": auprc(y_val, np.tile(frequencies, (len(y_val), 1))),
              "test": auprc(y_test, np.tile(frequencies, (len(y_test), 1)))}
    results = {"args": vars(args), "labels": labels, "splits": [len(x_train), len(x_val), len(x_test)],
               "chance": chance, "runs": [], "uptime_start": os.popen("uptime").read().strip()}
    print(f"data: {results['splits']} clips of {args.duration:g} s ({time.time() - started:.0f} s); chance "
          f"micro-AUPRC val {chance['val']['micro']:.3f} test {chance['test']['micro']:.3f}", flush=True)

    # Seeds outermost: a run that is stopped early still has every (LSTM, variant) cell for some seeds.
    for seed in args.seeds:
        for units in args.units:
            for variant in args.variants:
                readout, normalize, lr, clipnorm = VARIANTS[variant]
                lr = args.learning_rate if lr is None else lr
                keras.utils.set_random_seed(seed)
                student = CNNLSTMStudent(num_classes=len(labels), lstm_units=units,
                                         num_samples=x_train.shape[1], readout=readout,
                                         normalize_inputs=normalize, name=f"student_lstm{units}")
                student.compile(optimizer=keras.optimizers.Adam(lr, global_clipnorm=clipnorm),
                                loss="binary_crossentropy")
                stopper = AUPRCEarlyStopping(student, x_val, y_val, args.patience, args.batch_size)
                t0 = time.time()
                history = student.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=0,
                                      callbacks=[stopper], shuffle=True)
                train_s = time.time() - t0
                scores = np.asarray(student.predict(x_test, batch_size=args.batch_size, verbose=0))
                row = {"units": units, "variant": variant, "seed": seed, "readout": readout,
                       "normalize_inputs": normalize, "learning_rate": lr, "global_clipnorm": clipnorm,
                       "params": int(student.count_params()), "val_best": stopper.best,
                       "best_epoch": stopper.best_epoch + 1, "epochs_run": len(stopper.curve),
                       "val_curve": stopper.curve, "train_loss": [round(float(v), 4) for v in history.history["loss"]],
                       "test": auprc(y_test, scores), "train_s": round(train_s, 1),
                       "s_per_epoch": round(train_s / max(1, len(stopper.curve)), 1)}
                results["runs"].append(row)
                print(json.dumps({k: row[k] for k in ("units", "variant", "seed", "val_best", "best_epoch",
                                                      "epochs_run", "test", "s_per_epoch")}), flush=True)
                results["summary"] = summarize(results)
                results["elapsed_s"] = round(time.time() - started, 1)
                if checkpoint is not None:  # partial results survive an interrupted run
                    checkpoint(results)
    results["uptime_end"] = os.popen("uptime").read().strip()
    return results


def summarize(results):
    order = list(VARIANTS)
    keys = sorted({(r["units"], r["variant"]) for r in results["runs"]}, key=lambda k: (-k[0], order.index(k[1])))
    summary = []
    for units, variant in keys:
        rows = [r for r in results["runs"] if r["units"] == units and r["variant"] == variant]
        entry = {"units": units, "variant": variant, "n": len(rows), "seeds": [r["seed"] for r in rows]}
        entry["val_best_mean"], entry["val_best_sd"] = _mean_sd([r["val_best"] for r in rows])
        for metric in ("micro", "macro"):
            entry[f"test_{metric}_mean"], entry[f"test_{metric}_sd"] = _mean_sd([r["test"][metric] for r in rows])
        entry["best_epoch_mean"], entry["best_epoch_sd"] = _mean_sd([r["best_epoch"] for r in rows])
        entry["epochs_run_mean"] = _mean_sd([r["epochs_run"] for r in rows])[0]
        entry["s_per_epoch_mean"] = _mean_sd([r["s_per_epoch"] for r in rows])[0]
        summary.append(entry)
    return summary


def format_table(results):
    def f(mean, sd):
        return "n/a" if mean is None else f"{mean:.3f} ± {sd:.3f}"

    a, c = results["args"], results["chance"]
    lines = [f"Chang et al. 2020 student, BCE only, {results['splits']} train/val/test clips of {a['duration']:g} s "
             f"(synthesize('tagging', {a['num_clips']}, seed={a['data_seed']})), batch {a['batch_size']}, "
             f"at most {a['epochs']} epochs, patience {a['patience']}, Adam {a['learning_rate']:g} unless named",
             f"chance (training tag frequencies as scores): val micro {c['val']['micro']:.3f}, "
             f"test micro {c['test']['micro']:.3f}, test macro {c['test']['macro']:.3f}",
             "",
             "| LSTM | variant | n | best val micro | test micro | test macro | best epoch | epochs run | s / epoch |",
             "|---|---|---|---|---|---|---|---|---|"]
    for e in results.get("summary", []):
        lines.append(f"| {e['units']} | {e['variant']} | {e['n']} | {f(e['val_best_mean'], e['val_best_sd'])} | "
                     f"{f(e['test_micro_mean'], e['test_micro_sd'])} | {f(e['test_macro_mean'], e['test_macro_sd'])} | "
                     f"{e['best_epoch_mean']:.1f} ± {e['best_epoch_sd']:.1f} | {e['epochs_run_mean']:.1f} | "
                     f"{e['s_per_epoch_mean']:.1f} |")
    lines += ["", "Validation micro-AUPRC per epoch:", ""]
    for r in results.get("runs", []):
        lines.append(f"- LSTM {r['units']} {r['variant']} seed {r['seed']}: {r['val_curve']}")
    lines.append("")
    state = "complete" if results.get("complete") else "PARTIAL (run still going or interrupted)"
    lines.append(f"{state}; elapsed {results.get('elapsed_s', 0):.0f} s; machine shared (timings are not "
                 f"comparable across runs); {results.get('uptime_start', '')} -> {results.get('uptime_end', '')}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
