"""Zhang et al. 2018, Table 1 in miniature: vanilla vs TA vs SA vs TA+SA LSTM, recording accuracy.

The paper's claim (Table 1): on LITIS Rouen and DCASE 2016 the error falls from vanilla LSTM to
LSTM+TA, LSTM+SA and LSTM+TA+SA (e.g. 2.54 / 2.45 / 2.38 / 2.12 % on LITIS Rouen). Here the four
variants are trained on the built-in synthetic ``scenes`` corpus (6 classes, 10 s recordings)
with the paper's recipe in miniature:

* §3.1: each recording is cut into 1 s clips with 50 % overlap (19 clips per 10 s recording);
  log-mel of the ``zhang2018`` front end (frame 1024, hop 220, 64 mel) at 16 kHz (69 frames);
  the clip probabilities are averaged per recording (recording-level accuracy, Table 1's unit).
* §3.2: Adam 1e-3, L2 1e-4, one LSTM layer, attention size / codebook scaled with the units,
  DNN "LSTM x hidden x C" with one hidden layer (the package's reading), the LITIS Rouen
  setting (no dropout), no input normalisation (the paper has none), and the model after the
  last epoch (the paper reports the models "after 100 training epochs"; no best-epoch pick).
* Miniature: ``units`` 32 (paper 128), attention size 16 (64), 32 clusters (128), hidden 32
  (128), ``epochs`` 30 (100), 36 training / 36 test recordings per seed. Each seed draws new
  training and test recordings (synthetic seeds ``100 s`` and ``100 s + 1``) and new weights.

    PYTHONPATH=. .venv/bin/python bench/paper_claims_zhang.py               # 3 seeds, ~20 min on 2 shared cores
    PYTHONPATH=. .venv/bin/python bench/paper_claims_zhang.py --small       # pipeline check, ~1 min

Writes ``bench/results/paper_claims_zhang.json`` (rewritten after every finished run, so an
interrupted bench leaves its finished runs) unless ``--json`` says otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

VARIANTS = ("vanilla", "ta", "sa", "ta_sa")
LABELS = {"vanilla": "vanilla LSTM", "ta": "LSTM+TA", "sa": "LSTM+SA", "ta_sa": "LSTM+TA+SA"}
PAPER_ERROR = {  # Table 1, classification error in %: (LITIS Rouen, DCASE 2016)
    "vanilla": (2.54, 27.4), "ta": (2.45, 26.6), "sa": (2.38, 25.6), "ta_sa": (2.12, 25.3)}
DEFAULT_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "paper_claims_zhang.json")

FULL = dict(sample_rate=16000, seconds=10.0, train_recordings=36, test_recordings=36, units=32,
            attention_size=16, num_clusters=32, hidden=32, epochs=30, batch_size=64)
SMALL = dict(sample_rate=8000, seconds=3.0, train_recordings=12, test_recordings=12, units=8,
             attention_size=4, num_clusters=4, hidden=8, epochs=2, batch_size=32)


def _features(task_set, sample_rate, log_mel):
    import keras
    import numpy as np

    from keras_audioattn.models.attention_lstm_classifier import split_into_clips

    clips, targets, ids = [], [], []
    for i, (wave, target) in enumerate(zip(task_set.waveforms, task_set.targets)):
        c = split_into_clips(np.asarray(wave), sample_rate, sample_rate // 2)  # 1 s clips, 50 % overlap
        clips.append(c)
        targets.append(np.repeat(target[None], len(c), axis=0))
        ids += [i] * len(c)
    clips = np.concatenate(clips)
    feats = np.concatenate([keras.ops.convert_to_numpy(log_mel(clips[j:j + 256])) for j in range(0, len(clips), 256)])
    return feats, np.concatenate(targets).astype("float32"), np.array(ids)


def _one(variant, seed, cfg, data, config_overrides=None):
    import keras
    import numpy as np

    from keras_audioattn.metrics import accuracy, aggregate_clip_scores
    from keras_audioattn.models import AttentionLSTMClassifier
    from keras_audioattn.models.attention_lstm_classifier import PAPER_PRESETS

    (x_train, y_train, _), (x_test, y_test, test_ids), test_targets, num_classes = data
    paper = dict(PAPER_PRESETS[f"zhang2018-{variant.replace('_', '-')}"]["model"])  # LITIS Rouen setting
    model_args = {k: paper[k] for k in ("variant", "dropout", "l2", "normalize_inputs")}
    model_args.update(units=cfg["units"], attention_size=cfg["attention_size"], num_clusters=cfg["num_clusters"],
                      hidden_units=(cfg["hidden"],) * len(paper["hidden_units"]), num_mel_bins=x_train.shape[-1])
    model_args.update(config_overrides or {})
    keras.utils.set_random_seed(1000 + seed)
    model = AttentionLSTMClassifier(num_classes, include_front_end=False, **model_args)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=cfg["batch_size"], epochs=cfg["epochs"], shuffle=True, verbose=0)
    seconds = time.perf_counter() - start
    clip_scores = np.asarray(model.predict(x_test, batch_size=256, verbose=0))
    _, rec_scores = aggregate_clip_scores(clip_scores, test_ids)
    return {"variant": variant, "seed": seed, "clip_accuracy": accuracy(y_test, clip_scores),
            "recording_accuracy": accuracy(test_targets, rec_scores),
            "final_train_loss": float(history.history["loss"][-1]), "train_seconds": round(seconds, 1),
            "lstm_parameters": int(model.get_layer("attention_lstm").count_params()),
            "model_args": {k: (list(v) if isinstance(v, tuple) else v) for k, v in model_args.items()}}


def _summary(runs):
    import numpy as np

    out = {}
    for variant in VARIANTS:
        rows = [r for r in runs if r["variant"] == variant]
        if not rows:
            continue
        entry = {"n": len(rows)}
        for key in ("recording_accuracy", "clip_accuracy"):
            values = np.array([r[key] for r in rows])
            entry[key] = {"mean": float(values.mean()), "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                          "values": [float(v) for v in values]}
        out[variant] = entry
    return out


def run(seeds=(0, 1, 2), small=False, json_path=None, epochs=None, config_overrides=None, log=print):
    """Trains the four variants for every seed; returns ``{"config", "runs", "summary"}``.

    ``json_path`` (default None: nothing written) receives the result after every run.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras  # noqa: F401

    from keras_audioattn.data.synthetic import synthesize
    from keras_audioattn.layers import LogMelSpectrogram

    cfg = dict(SMALL if small else FULL)
    if epochs is not None:
        cfg["epochs"] = int(epochs)
    sr = cfg["sample_rate"]
    log_mel = LogMelSpectrogram.from_preset("zhang2018", sample_rate=sr)
    result = {"bench": "paper_claims_zhang", "config": {**cfg, "seeds": list(seeds), "small": bool(small),
                                                        "config_overrides": config_overrides or {}},
              "paper_error_percent": {k: {"litis_rouen": v[0], "dcase2016": v[1]} for k, v in PAPER_ERROR.items()},
              "runs": [], "summary": {}}
    for seed in seeds:
        train = synthesize("scenes", cfg["train_recordings"], seed=100 * seed, sample_rate=sr, duration=cfg["seconds"])
        test = synthesize("scenes", cfg["test_recordings"], seed=100 * seed + 1, sample_rate=sr, duration=cfg["seconds"])
        data = (_features(train, sr, log_mel), _features(test, sr, log_mel), test.targets, len(train.class_names))
        for variant in VARIANTS:
            row = _one(variant, seed, cfg, data, config_overrides)
            result["runs"].append(row)
            result["summary"] = _summary(result["runs"])
            log(f"seed {seed} {LABELS[variant]:>12}: recording acc {row['recording_accuracy']:.3f}  "
                f"clip acc {row['clip_accuracy']:.3f}  loss {row['final_train_loss']:.3f}  {row['train_seconds']} s")
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
    lines = ["| model | recording accuracy (mean ± sd) | clip accuracy (mean ± sd) | seeds | paper error LITIS / DCASE (%) |",
             "|---|---|---|---|---|"]
    for variant, entry in result["summary"].items():
        r, c = entry["recording_accuracy"], entry["clip_accuracy"]
        lines.append(f"| {LABELS[variant]} | {r['mean']:.3f} ± {r['sd']:.3f} | {c['mean']:.3f} ± {c['sd']:.3f} | "
                     f"{entry['n']} | {PAPER_ERROR[variant][0]} / {PAPER_ERROR[variant][1]} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--small", action="store_true", help="tiny pipeline check")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--normalize-inputs", action="store_true",
                        help="add the package's input BatchNorm (not in the paper) to every variant")
    parser.add_argument("--json", default=None, help=f"output JSON (default {DEFAULT_JSON}; small runs: none)")
    args = parser.parse_args(argv)
    json_path = args.json or (None if args.small else DEFAULT_JSON)
    overrides = {"normalize_inputs": True} if args.normalize_inputs else None
    result = run(tuple(args.seeds), small=args.small, json_path=json_path, epochs=args.epochs,
                 config_overrides=overrides, log=lambda s: print(s, flush=True))
    print(table(result))
    if json_path:
        _write(json_path, result)
        print(f"wrote {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
