"""Chang et al. 2020, Sec. 4.3 / Fig. 3 / Table 3 on the built-in tagging corpus: does IUSP help?

One teacher (``VGGishTeacher``, the DCASE 2019 Task 5 second-place head: max over time, flatten,
dense 2048 -> 128 -> 8; conv widths scaled by ``--teacher-width`` to fit a CPU budget) is trained
on 10 s clips of the synthetic tagging corpus (``keras_audioattn.data.synthetic``, task
``"tagging"``: the eight DCASE 2019 Task 5 coarse tags), then students (``CNNLSTMStudent``,
LSTM 64 and 16 by default) are distilled under the five objectives of Sec. 4.3 (``bce``,
``bce+kd``, ``bce+kd+sp``, ``bce+kd+iusp``, ``bce+kd+sp+iusp``; the paper's alphas 1/10/10/1 and
hint layers, :data:`keras_audioattn.distillation.SETUPS`) over several seeds. Paper recipe: Adam
1e-4, early stopping on validation micro-AUPRC (paper: 300 epochs, patience 20; here
``--epochs`` / ``--patience``), the best validation epoch's weights kept. Reported per run: test
micro / macro AUPRC (DCASE 2019 Task 5 definition) of the Keras student and of its full-int8
``.tflite`` (``export.to_tflite``, every export check), per-class AUPRC, and, for the
investigation of *why* a setup helps or not: each loss term's unweighted magnitude at the first
and the best epoch, the gradient norm of each weighted term on one batch at initialisation
(``--grad-norms``, TensorFlow), and similarity statistics of ``G~`` (Eq. 6) for the teacher and
student hint maps under each normalisation, plus the test-set IUSP distance between teacher and
trained student.

    python bench/chang2020_setups.py                  # full run (see docs/chang2020.md for its size)
    python bench/chang2020_setups.py --small          # a minute: the notebook / CI size

Writes ``<out>/chang2020_setups.json`` and ``.txt`` (a Markdown table); ``--out`` defaults to
``bench/results``. Files are written atomically (temp file + rename).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Run as a script, bench/ comes first on sys.path and bench/export.py would shadow the export package.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [os.path.dirname(_HERE)] + [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

SAMPLE_RATE = 16000  # the corpus and the Chang front ends (Sec. 4.2)
SETUP_NAMES = ("bce", "bce+kd", "bce+kd+sp", "bce+kd+iusp", "bce+kd+sp+iusp")
SMALL = dict(num_clips=48, duration=2.0, teacher_width=0.125, teacher_epochs=3, epochs=2, patience=2,
             units=[16], seeds=[0], setups=list(SETUP_NAMES), int8=False, grad_norms=False, batch_size=8)


def _atomic_write(path, text):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp_", suffix=os.path.basename(path))
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _mean_sd(values):
    import numpy as np
    values = np.asarray([v for v in values if v is not None], float)
    if values.size == 0:
        return None, None
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


def tagging_splits(num_clips, data_seed, duration):
    """``synthesize("tagging", ...)`` split 70/15/15 as ``(train, val, test, class_names)``; each
    split is ``(waveforms float32 (n, samples), targets float32 (n, 8))``, test first in the corpus."""
    import numpy as np
    from keras_audioattn.data.synthetic import synthesize
    data = synthesize("tagging", num_clips, seed=data_seed, duration=duration)
    x = np.asarray(data.waveforms, np.float32)
    y = np.asarray(data.targets, np.float32)
    n_test = n_val = int(round(0.15 * len(x)))
    return ((x[n_test + n_val:], y[n_test + n_val:]), (x[n_test:n_test + n_val], y[n_test:n_test + n_val]),
            (x[:n_test], y[:n_test]), list(data.class_names))


def auprc(target, scores):
    """``{"micro", "macro"}`` DCASE 2019 Task 5 AUPRC (:func:`keras_audioattn.metrics.dcase2019_task5_auprc`)."""
    from keras_audioattn.metrics import dcase2019_task5_auprc
    warnings.filterwarnings("ignore", message=".*have no positive in y_true.*")
    return {"micro": float(dcase2019_task5_auprc(target, scores, average="micro")),
            "macro": float(dcase2019_task5_auprc(target, scores, average="macro"))}


def similarity_stats(loss_cls, feature_map, normalizations=("frame", "channel_map", "channel_vector")):
    """Statistics of G (Eq. 3) and G~ (Eq. 6) for a batch of hint maps under each normalisation."""
    import keras
    import numpy as np
    from keras_audioattn.losses import intra_utterance_similarity
    out = {}
    for norm in normalizations:
        g = keras.ops.convert_to_numpy(intra_utterance_similarity(feature_map, norm))
        gt = keras.ops.convert_to_numpy(loss_cls(normalization=norm).similarity(feature_map))
        off = ~np.eye(g.shape[1], dtype=bool)
        out[norm] = {"g_diag_mean": float(np.mean(np.diagonal(g, axis1=1, axis2=2))),
                     "g_offdiag_median": float(np.median(g[:, off])), "g_max": float(g.max()),
                     "gt_median": float(np.median(gt)), "gt_p01": float(np.quantile(gt, 0.01)),
                     "gt_p99": float(np.quantile(gt, 0.99)), "gt_frac_above_half": float(np.mean(gt > 0.5))}
    return out


class AUPRCEarlyStopping:
    """Keras callback factory: validation micro-AUPRC each epoch, patience, best weights restored."""

    def __new__(cls, student, x_val, y_val, patience, batch_size):
        import keras
        import numpy as np
        from keras_audioattn.metrics import dcase2019_task5_auprc

        class _Callback(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.best, self.best_epoch, self.wait, self.best_weights, self.curve = -1.0, -1, 0, None, []

            def on_epoch_end(self, epoch, logs=None):
                scores = np.asarray(student.predict(x_val, batch_size=batch_size, verbose=0))
                value = float(dcase2019_task5_auprc(y_val, scores, average="micro"))
                self.curve.append(round(value, 4))
                if logs is not None:
                    logs["val_auprc_micro"] = value
                if value > self.best:
                    self.best, self.best_epoch, self.wait = value, epoch, 0
                    self.best_weights = student.get_weights()
                else:
                    self.wait += 1
                    if self.wait >= patience:
                        self.model.stop_training = True

            def on_train_end(self, logs=None):
                if self.best_weights is not None:
                    student.set_weights(self.best_weights)

        return _Callback()


def gradient_norms(distiller, x, y):
    """Norm of the gradient of each weighted loss term w.r.t. the student's weights (TensorFlow)."""
    import tensorflow as tf
    a = distiller.loss_weights
    t_scores, _, t_feats, _ = distiller._forward(x, False)
    norms = {}
    variables = distiller.student.trainable_variables
    for key, weight in zip(("bce", "kd", "sp", "iusp"), a):
        if not weight:
            continue
        with tf.GradientTape() as tape:
            _, s_scores, _, s_feats = distiller._forward(x, True)
            if key == "bce":
                value = distiller.bce(y, s_scores)
            elif key == "kd":
                value = distiller.kd(t_scores, s_scores)
            elif key == "sp":
                value = sum(distiller.sp(t_feats[t], s_feats[s]) for t, s in distiller.sp_hints)
            else:
                value = sum(distiller.iusp(t_feats[t], s_feats[s]) for t, s in distiller.iusp_hints)
            value = weight * value
        grads = [g for g in tape.gradient(value, variables) if g is not None]
        norms[key] = float(tf.linalg.global_norm(grads).numpy()) if grads else 0.0
    return norms


def bench_parser(doc, name, small_help):
    """The options every Chang bench has: outputs, ``--small`` / ``--retable`` (:func:`drive`)
    and the tagging corpus (clips, data seed, clip length)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(_HERE, "results"))
    parser.add_argument("--name", default=name, help="file stem of the JSON / txt outputs")
    parser.add_argument("--small", action="store_true", help=small_help)
    parser.add_argument("--retable", action="store_true",
                        help="only rewrite <out>/<name>.txt from the existing JSON (no training)")
    parser.add_argument("--num-clips", type=int, default=240, help="synthetic tagging clips (70/15/15 split)")
    parser.add_argument("--data-seed", type=int, default=11)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per clip (paper: 10)")
    return parser


def main(argv=None):
    parser = bench_parser(__doc__, "chang2020_setups", "a tiny configuration (notebook / CI)")
    parser.add_argument("--teacher-width", type=float, default=0.25,
                        help="conv widths x this (1.0: VGGish 64-128-256-512; the CPU budget needs less)")
    parser.add_argument("--teacher-epochs", type=int, default=25)
    parser.add_argument("--teacher-patience", type=int, default=6)
    parser.add_argument("--teacher-lr", type=float, default=1e-3)
    parser.add_argument("--units", type=int, nargs="+", default=[64, 16])
    parser.add_argument("--setups", nargs="+", default=list(SETUP_NAMES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=12, help="student epochs at most (paper: 300)")
    parser.add_argument("--patience", type=int, default=4, help="epochs without val AUPRC gain (paper: 20)")
    parser.add_argument("--learning-rate", type=float, default=1e-3,
                        help="student Adam learning rate (paper: 1e-4, which needs far more steps than the "
                             "CPU budget allows; see docs/chang2020.md)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--readout", default="max", choices=("last", "mean", "max"),
                        help="student readout (the presets' max; \"last\" stays at chance on 10 s clips, "
                             "docs/chang2020.md; the first table there used mean)")
    parser.add_argument("--clipnorm", type=float, default=None, help="Adam global_clipnorm for the students")
    parser.add_argument("--normalize-inputs", action="store_true", help="input BatchNorm in the students")
    parser.add_argument("--temperature", type=float, default=1.0, help="KD temperature")
    parser.add_argument("--iusp-normalization", default="frame", choices=("frame", "channel_map", "channel_vector"))
    parser.add_argument("--iusp-frame-reduction", default="mean", choices=("mean", "sum"))
    parser.add_argument("--int8", default=True, action=argparse.BooleanOptionalAction,
                        help="export every student to full int8 and score the .tflite")
    parser.add_argument("--calibration-clips", type=int, default=8)
    parser.add_argument("--grad-norms", default=True, action=argparse.BooleanOptionalAction)
    args = parser.parse_args(argv)
    return drive(args, parser, run, format_table, SMALL, "setups", SETUP_NAMES)


def drive(args, parser, run, format_table, small, option, valid):
    """What the Chang benches' ``main`` shares: ``--retable`` (the table again from the JSON),
    ``--small`` (``small``'s settings), the check of ``--<option>`` against ``valid``, then
    ``run(args, checkpoint)`` writing ``<out>/<name>.json`` / ``.txt`` atomically after each run."""
    if args.retable:
        with open(os.path.join(args.out, f"{args.name}.json")) as f:
            results = json.load(f)
        _atomic_write(os.path.join(args.out, f"{args.name}.txt"), format_table(results) + "\n")
        print(format_table(results))
        return results
    if args.small:
        for key, value in small.items():
            setattr(args, key, value)
    unknown = [s for s in getattr(args, option) if s not in valid]
    if unknown:
        parser.error(f"--{option}: unknown {unknown}; choose from {list(valid)}")

    def save(results, final=False):
        results["complete"] = final
        _atomic_write(os.path.join(args.out, f"{args.name}.json"), json.dumps(results, indent=1))
        _atomic_write(os.path.join(args.out, f"{args.name}.txt"), format_table(results) + "\n")

    results = run(args, checkpoint=save)
    save(results, final=True)
    print(format_table(results))
    return results


def run(args, checkpoint=None):
    import keras
    import numpy as np

    from keras_audioattn.distillation import Distiller
    from keras_audioattn.losses import IntraUtteranceSimilarityLoss
    from keras_audioattn.metrics import dcase2019_task5_auprc
    from keras_audioattn.models import CNNLSTMStudent, VGGishTeacher

    started = time.time()
    (x_train, y_train), (x_val, y_val), (x_test, y_test), labels = tagging_splits(
        args.num_clips, args.data_seed, args.duration)
    prior = auprc(y_test, np.tile(y_train.mean(0), (len(y_test), 1)))
    results = {"args": vars(args), "labels": labels, "splits": [len(x_train), len(x_val), len(x_test)],
               "prior": prior, "runs": [], "uptime_start": os.popen("uptime").read().strip()}
    print(f"data: {len(x_train)}/{len(x_val)}/{len(x_test)} clips of {args.duration:g} s "
          f"({time.time() - started:.0f} s); chance micro-AUPRC {prior['micro']:.3f}", flush=True)

    # ---- teacher ------------------------------------------------------------------------------
    keras.utils.set_random_seed(1234)
    blocks = [[max(1, int(round(f * args.teacher_width))) for f in b] for b in ((64,), (128,), (256, 256), (512, 512))]
    teacher = VGGishTeacher(num_classes=len(labels), blocks=blocks, dense_units=[2048, 128], pooling="time",
                            num_samples=round(args.duration * SAMPLE_RATE), name="teacher")
    teacher.compile(optimizer=keras.optimizers.Adam(args.teacher_lr), loss="binary_crossentropy")
    t0 = time.time()
    stopper = AUPRCEarlyStopping(teacher, x_val, y_val, args.teacher_patience, args.batch_size)
    teacher.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.teacher_epochs, verbose=0,
                callbacks=[stopper], shuffle=True)
    t_scores = np.asarray(teacher.predict(x_test, batch_size=args.batch_size, verbose=0))
    results["teacher"] = {"blocks": blocks, "params": int(teacher.count_params()), "test": auprc(y_test, t_scores),
                          "val_curve": stopper.curve, "best_epoch": stopper.best_epoch,
                          "train_s": round(time.time() - t0, 1)}
    print(f"teacher {results['teacher']['params']:,} params: test {results['teacher']['test']} "
          f"(best epoch {stopper.best_epoch}, {time.time() - t0:.0f} s)", flush=True)

    hint_layers = sorted({t for s in SETUP_NAMES for pair in _pairs(s) for t in [pair[0]]})
    t_hint_model = keras.Model(teacher.inputs, [teacher.get_layer(n).output for n in hint_layers])
    probe = x_test[: min(16, len(x_test))]
    t_hints = dict(zip(hint_layers, [np.asarray(h) for h in t_hint_model.predict(probe, verbose=0)]))
    results["similarity"] = {f"teacher_{n}": similarity_stats(IntraUtteranceSimilarityLoss, h) for n, h in t_hints.items()}

    # ---- students -----------------------------------------------------------------------------
    # Seeds outermost: a run that is stopped early still has every (LSTM, setup) cell.
    for seed in args.seeds:
        for units in args.units:
            for setup in args.setups:
                keras.utils.set_random_seed(seed)
                t0 = time.time()
                student = CNNLSTMStudent(num_classes=len(labels), lstm_units=units,
                                         num_samples=round(args.duration * SAMPLE_RATE),
                                         readout=args.readout, normalize_inputs=args.normalize_inputs,
                                         name=f"student_lstm{units}")
                distiller = Distiller.from_setup(setup, teacher, student, temperature=args.temperature,
                                                 iusp_normalization=args.iusp_normalization,
                                                 iusp_frame_reduction=args.iusp_frame_reduction)
                distiller.compile(optimizer=keras.optimizers.Adam(args.learning_rate, global_clipnorm=args.clipnorm))
                row = {"units": units, "setup": setup, "seed": seed, "params": int(student.count_params())}
                if args.grad_norms and seed == args.seeds[0]:
                    row["grad_norms_init"] = gradient_norms(distiller, x_train[: args.batch_size],
                                                            y_train[: args.batch_size])
                stopper = AUPRCEarlyStopping(student, x_val, y_val, args.patience, args.batch_size)
                history = distiller.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=0,
                                        callbacks=[stopper], shuffle=True)
                h = history.history
                best = max(stopper.best_epoch, 0)
                row["loss_terms"] = {k: {"first": float(h[f"{k}_loss"][0]), "best": float(h[f"{k}_loss"][best])}
                                     for k in ("bce", "kd", "sp", "iusp") if f"{k}_loss" in h}
                row.update(best_epoch=stopper.best_epoch, epochs_run=len(stopper.curve), val_curve=stopper.curve,
                           val_best=stopper.best)
                scores = np.asarray(student.predict(x_test, batch_size=args.batch_size, verbose=0))
                row["test"] = auprc(y_test, scores)
                row["test_per_class"] = [float(dcase2019_task5_auprc(y_test[:, [k]], scores[:, [k]], average="micro"))
                                         if y_test[:, k].any() else None for k in range(len(labels))]
                # Does the objective move the student's similarity towards the teacher's? IUSP
                # distance (default reading) between teacher pool1/pool2 and the student's conv map.
                s_conv = np.asarray(keras.Model(student.inputs, student.get_layer("conv").output).predict(
                    probe, verbose=0))
                iusp = IntraUtteranceSimilarityLoss()
                row["iusp_distance"] = {n: float(iusp(h_t, s_conv)) for n, h_t in t_hints.items()}
                if setup == args.setups[0] and seed == args.seeds[0]:
                    results["similarity"][f"student{units}_{setup}_conv"] = similarity_stats(
                        IntraUtteranceSimilarityLoss, s_conv)
                row["train_s"] = round(time.time() - t0, 1)
                if args.int8:
                    row.update(_int8(student, labels, x_train[: args.calibration_clips], x_test, y_test, scores,
                                     auprc, units, setup, seed))
                results["runs"].append(row)
                print(json.dumps({k: row[k] for k in ("units", "setup", "seed", "best_epoch", "test", "train_s")}
                                 | {k: row[k] for k in ("test_int8", "int8_kb") if k in row}), flush=True)
                if checkpoint is not None:  # partial results survive an interrupted run
                    results["summary"] = summarize(results)
                    results["elapsed_s"] = round(time.time() - started, 1)
                    checkpoint(results)
    results["summary"] = summarize(results)
    results["elapsed_s"] = round(time.time() - started, 1)
    results["uptime_end"] = os.popen("uptime").read().strip()
    return results


def _pairs(setup):
    from keras_audioattn.distillation import SETUPS
    return list(SETUPS[setup]["sp_hints"]) + list(SETUPS[setup]["iusp_hints"])


def _int8(student, labels, calibration, x_test, y_test, keras_scores, auprc, units, setup, seed):
    import numpy as np

    import export
    from export.checks import run_tflite
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, f"student_lstm{units}_{setup.replace('+', '_')}_{seed}_int8.tflite")
        export.to_tflite(student, path, quantization="int8", labels=labels, sample_rate=16000,
                         representative_data=calibration, overwrite=True)
        scores = run_tflite(path, x_test, num_threads=1)["scores"]
        return {"test_int8": auprc(y_test, scores), "int8_kb": round(os.path.getsize(path) / 1024, 1),
                "int8_max_abs_diff": float(np.max(np.abs(scores - keras_scores)))}


def summarize(results):
    summary = []
    keys = sorted({(r["units"], r["setup"]) for r in results["runs"]},
                  key=lambda k: (-k[0], SETUP_NAMES.index(k[1])))
    for units, setup in keys:
        rows = [r for r in results["runs"] if r["units"] == units and r["setup"] == setup]
        entry = {"units": units, "setup": setup, "n": len(rows)}
        for metric in ("micro", "macro"):
            entry[f"{metric}_mean"], entry[f"{metric}_sd"] = _mean_sd([r["test"][metric] for r in rows])
            entry[f"int8_{metric}_mean"], entry[f"int8_{metric}_sd"] = _mean_sd(
                [r.get("test_int8", {}).get(metric) for r in rows])
        entry["best_epoch_mean"] = _mean_sd([r["best_epoch"] for r in rows])[0]
        entry["iusp_distance_mean"] = {n: _mean_sd([r["iusp_distance"][n] for r in rows])[0]
                                       for n in rows[0]["iusp_distance"]}
        summary.append(entry)
    return summary


def format_table(results):
    def f(mean, sd):
        return "n/a" if mean is None else f"{mean:.3f} ± {sd:.3f}"

    t = results["teacher"]
    lines = [f"Chang et al. 2020 setups on the synthetic tagging corpus: {results['splits']} train/val/test clips "
             f"of {results['args']['duration']:g} s; chance micro-AUPRC {results['prior']['micro']:.3f}",
             f"teacher ({t['params']:,} params, blocks {t['blocks']}): test micro {t['test']['micro']:.3f}, "
             f"macro {t['test']['macro']:.3f}",
             "",
             "| LSTM | setup | n | micro-AUPRC | macro-AUPRC | int8 micro | int8 macro | best epoch | IUSP dist. pool1 / pool2 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for e in results["summary"]:
        d = e["iusp_distance_mean"]
        lines.append(f"| {e['units']} | {e['setup']} | {e['n']} | {f(e['micro_mean'], e['micro_sd'])} | "
                     f"{f(e['macro_mean'], e['macro_sd'])} | {f(e['int8_micro_mean'], e['int8_micro_sd'])} | "
                     f"{f(e['int8_macro_mean'], e['int8_macro_sd'])} | {e['best_epoch_mean']:.1f} | "
                     f"{d.get('pool1', float('nan')):.3f} / {d.get('pool2', float('nan')):.3f} |")
    lines += ["", "Loss terms (unweighted; first epoch -> best epoch) and gradient norms of the weighted terms "
              "at initialisation (first seed):", "",
              "| LSTM | setup | seed | BCE | KD | SP | IUSP | grad-norm BCE / KD / SP / IUSP |", "|---|---|---|---|---|---|---|---|"]
    for r in results["runs"]:
        terms = r["loss_terms"]
        cell = lambda k: f"{terms[k]['first']:.3f} -> {terms[k]['best']:.3f}" if terms.get(k, {}).get("first") else "-"  # noqa: E731
        grads = r.get("grad_norms_init")
        g = " / ".join(f"{grads[k]:.3f}" if k in grads else "-" for k in ("bce", "kd", "sp", "iusp")) if grads else ""
        lines.append(f"| {r['units']} | {r['setup']} | {r['seed']} | {cell('bce')} | {cell('kd')} | {cell('sp')} | "
                     f"{cell('iusp')} | {g} |")
    lines += ["", "G~ = sig(10 (G - 0.5)) statistics on test clips, per normalisation:", "",
              "| map | normalisation | diag(G) mean | offdiag(G) median | G~ median | G~ p1 | G~ p99 | share of G~ > 0.5 |",
              "|---|---|---|---|---|---|---|---|"]
    for name, by_norm in results.get("similarity", {}).items():
        for norm, st in by_norm.items():
            lines.append(f"| {name} | {norm} | {st['g_diag_mean']:.3f} | {st['g_offdiag_median']:.3f} | "
                         f"{st['gt_median']:.3f} | {st['gt_p01']:.3f} | {st['gt_p99']:.3f} | {st['gt_frac_above_half']:.3f} |")
    lines.append("")
    state = "complete" if results.get("complete") else "PARTIAL (run still going or interrupted)"
    lines.append(f"{state}; elapsed {results.get('elapsed_s', 0):.0f} s; {results.get('uptime_end', '')}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
