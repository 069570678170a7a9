"""Lu et al. 2020 in miniature: CAB-CNN vs the same CNN without classifier attention, 5 s vs 10 s.

The paper's claims: the attention-based classifier block (ACB: 40 small classifiers weighted per
time step by an attention MLP) is what makes CAB-CNN accurate and steady (Table 3, Table 7), and
10 s of input beat 5 s (Table 4: accuracy 0.9198 -> 0.9542, unweighted recall 0.8953 -> 0.9383).
Here, on the built-in synthetic ``accents`` corpus (3 classes, clips of 6-12 s, 16 kHz):

* ``cab_cnn``: :class:`~keras_audioattn.models.CABCNN` with Table 2's layers and §4's ACB (40
  classifiers of 8 and 4 ReLU units, attention MLP 160 / 80), at reduced convolution widths.
* ``no_attention``: the same network with ``num_classifiers=1``: one classifier of the same
  shape per time step, so the attention softmax over one classifier is constantly 1 -- the ACB
  without its attention and without its ensemble of classifiers. Same CNN, same average.
* Inputs: at most the first 5 s or 10 s of each clip (``max_seconds``, Table 4); batches are
  zero-padded with per-clip lengths (the model ignores the padding exactly).
* Recipe (§4): Adam, categorical cross-entropy, early stopping with patience 15 on the
  validation loss and the best weights restored. Miniature (sized to ~20-30 min on two shared
  cores): convolution filters ``(8, 16, 16, 32)`` instead of ``(16, 32, 32, 128)`` (5x fewer
  multiply-adds), batch 16 (paper 128), learning rate 3e-3 (Keras' default 1e-3 in the presets)
  for only 10 epochs (so patience 15 never ends a run; the best validation-loss epoch is kept),
  90 training / 30 validation / 60 test clips per seed. Each seed draws new clips (synthetic
  seeds ``100 s``, ``+1``, ``+2``) and new weights.

Metrics: accuracy and unweighted recall (UAR, the paper's Recall_unweighted) on the test clips.

    PYTHONPATH=. .venv/bin/python bench/paper_claims_lu.py            # 3 seeds, ~20 min on 2 shared cores
    PYTHONPATH=. .venv/bin/python bench/paper_claims_lu.py --small    # pipeline check

Writes ``bench/results/paper_claims_lu.json`` after every finished run (``--json`` to change).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

MODELS = ("cab_cnn", "no_attention")
LABELS = {"cab_cnn": "CAB-CNN (40 classifiers + attention)", "no_attention": "same CNN, 1 classifier, no attention"}
PAPER = {5: {"accuracy": 0.9198, "unweighted_recall": 0.8953}, 10: {"accuracy": 0.9542, "unweighted_recall": 0.9383}}
DEFAULT_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "paper_claims_lu.json")

FULL = dict(sample_rate=16000, durations=(6.0, 12.0), train=90, val=30, test=60, conv_filters=(8, 16, 16, 32),
            epochs=10, patience=15, batch_size=16, learning_rate=3e-3, seconds=(5, 10))
SMALL = dict(sample_rate=8000, durations=(1.0, 2.0), train=12, val=6, test=6, conv_filters=(2, 2, 2, 4),
             epochs=2, patience=15, batch_size=6, learning_rate=3e-3, seconds=(0.5, 1))


def _one(model_name, seconds, seed, cfg, data):
    import keras
    import numpy as np

    from keras_audioattn.data.batching import padded_dataset
    from keras_audioattn.metrics import accuracy, unweighted_recall
    from keras_audioattn.models import CABCNN

    train, val, test = data
    sr = cfg["sample_rate"]
    limit = int(round(seconds * sr))
    num_classes = train.targets.shape[1]
    args = dict(sample_rate=sr, max_seconds=seconds, conv_filters=cfg["conv_filters"])
    if model_name == "no_attention":
        args["num_classifiers"] = 1
    keras.utils.set_random_seed(2000 + seed)
    model = CABCNN(num_classes, **args)
    model.compile(optimizer=keras.optimizers.Adam(cfg["learning_rate"]), loss=keras.losses.CategoricalCrossentropy(),
                  metrics=["accuracy"])
    train_ds = padded_dataset(train.waveforms, train.targets, batch_size=cfg["batch_size"], shuffle=True,
                              seed=seed, max_samples=limit)
    val_ds = padded_dataset(val.waveforms, val.targets, batch_size=64, max_samples=limit)
    test_ds = padded_dataset(test.waveforms, None, batch_size=64, max_samples=limit)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg["patience"], restore_best_weights=True)
    start = time.perf_counter()
    history = model.fit(train_ds, validation_data=val_ds, epochs=cfg["epochs"], callbacks=[stop], verbose=0)
    seconds_taken = time.perf_counter() - start
    scores = np.asarray(model.predict(test_ds, verbose=0))
    return {"model": model_name, "seconds": seconds, "seed": seed, "accuracy": accuracy(test.targets, scores),
            "unweighted_recall": unweighted_recall(test.targets, scores),
            "epochs_run": len(history.history["loss"]),
            "best_val_loss": float(min(history.history["val_loss"])),
            "final_train_accuracy": float(history.history["accuracy"][-1]),
            "parameters": int(model.count_params()), "train_seconds": round(seconds_taken, 1)}


def _summary(runs):
    import numpy as np

    out = {}
    for r in runs:
        out.setdefault(f"{r['model']}@{r['seconds']:g}s", []).append(r)
    summary = {}
    for key, rows in out.items():
        entry = {"model": rows[0]["model"], "seconds": rows[0]["seconds"], "n": len(rows)}
        for metric in ("accuracy", "unweighted_recall"):
            v = np.array([r[metric] for r in rows])
            entry[metric] = {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                             "values": [float(x) for x in v]}
        summary[key] = entry
    return summary


def run(seeds=(0, 1, 2), small=False, json_path=None, epochs=None, log=print):
    """Trains both models at both input limits for every seed; returns ``{"config", "runs", "summary"}``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from keras_audioattn.data.synthetic import synthesize

    cfg = dict(SMALL if small else FULL)
    if epochs is not None:
        cfg["epochs"] = int(epochs)
    sr = cfg["sample_rate"]
    result = {"bench": "paper_claims_lu", "config": {**{k: (list(v) if isinstance(v, tuple) else v)
                                                         for k, v in cfg.items()},
                                                      "seeds": list(seeds), "small": bool(small)},
              "paper_table_4": {f"{k}s": v for k, v in PAPER.items()}, "runs": [], "summary": {}}
    for seed in seeds:
        data = tuple(synthesize("accents", cfg[part], seed=100 * seed + i, sample_rate=sr, duration=cfg["durations"])
                     for i, part in enumerate(("train", "val", "test")))
        for seconds in cfg["seconds"]:
            for model_name in MODELS:
                row = _one(model_name, seconds, seed, cfg, data)
                result["runs"].append(row)
                result["summary"] = _summary(result["runs"])
                log(f"seed {seed} {seconds:g} s {model_name:>12}: acc {row['accuracy']:.3f}  "
                    f"UAR {row['unweighted_recall']:.3f}  epochs {row['epochs_run']}  {row['train_seconds']} s")
                if json_path:
                    _write(json_path, result)
    return result


def _write(path, value):
    """Atomic JSON write (the package's one writer); the folder is created for bench output."""
    from keras_audioattn.files import write_json

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_json(path, value)


def table(result):
    """Markdown table of a :func:`run` result."""
    lines = ["| model | input | accuracy (mean ± sd) | UAR (mean ± sd) | seeds |", "|---|---|---|---|---|"]
    for entry in result["summary"].values():
        a, u = entry["accuracy"], entry["unweighted_recall"]
        lines.append(f"| {LABELS[entry['model']]} | {entry['seconds']:g} s | {a['mean']:.3f} ± {a['sd']:.3f} | "
                     f"{u['mean']:.3f} ± {u['sd']:.3f} | {entry['n']} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--small", action="store_true", help="tiny pipeline check")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--json", default=None, help=f"output JSON (default {DEFAULT_JSON}; small runs: none)")
    args = parser.parse_args(argv)
    json_path = args.json or (None if args.small else DEFAULT_JSON)
    result = run(tuple(args.seeds), small=args.small, json_path=json_path, epochs=args.epochs,
                 log=lambda s: print(s, flush=True))
    print(table(result))
    if json_path:
        _write(json_path, result)
        print(f"wrote {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
