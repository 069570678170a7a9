"""Deshmukh et al. 2020, Table IV in miniature on the built-in remix corpus (issue 19).

GAP / GMP / GWRP / attention / 2APAE at 0 / 10 / 20 dB, micro-AP (sklearn
``average_precision_score``, micro, as DESIGN.md says the authors compute "micro-P"), plus the
constant-prior baseline (every clip scored with the training-set class frequencies), over seeds,
mean +- sd. Every pooling sits on the same 2APAE encoder (Table I) with its 1x1 class conv; the
authors' baselines used a VGGish encoder of their own (``models_extension.py``), so the rows
compare poolings, not whole systems.

Data: :func:`keras_audioattn.data.remix.synthetic_remix` -- synthetic event files over synthetic
scenes mixed by Kong et al.'s recipe (whole-file RMS, clip-drawn events, 4 folds), at half the
paper's scale (5 s mixtures, three 1 s events) and 16 kHz. Folds 1-3 train, fold 4 tests. Features:
magnitude log-mel, Hamming 1024, hop 1024 (78 frames of 64 ms), 24 mel bins, dataset
standardisation; encoder (4, 8, 8, 16), batch 24, 12 epochs of 180 training clips (96 steps), Adam
at 3e-3 rather than the paper's 1e-3 because the miniature has ~100x fewer steps -- sized for two
shared CPU cores (about 20 minutes per seed there).

Rows, besides the Table IV baselines:
  - ``2APAE (authors' step 2)``: the authors' layer -- ``time_mixing="dense"`` (nn.Linear over
    all frames), no step-2 input normalisation, BCE on the clipped probability;
  - ``2APAE``: the package default (``time_mixing="context"``, ``time_input_norm=True``,
    ``loss_on="logit"``).

    PYTHONPATH=. python bench/paper_claims_deshmukh.py            # full: 3 seeds (~35 min, 2 cores)
    PYTHONPATH=. python bench/paper_claims_deshmukh.py --small    # smoke run

Writes ``bench/results/paper_claims_deshmukh.json`` and ``.txt`` (atomically; after every seed,
so a partial run leaves its partial results, marked as such).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SNRS = (0, 10, 20)
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

FULL = dict(num_clips=240, sample_rate=16000, hop=1024, mel=24, filters=(4, 8, 8, 16), epochs=12, batch=24, lr=3e-3)
SMALL = dict(num_clips=48, sample_rate=16000, hop=1024, mel=16, filters=(4, 8), epochs=2, batch=12, lr=1e-3)

# (row name, TwoStepAttentionSED keyword arguments)
ROWS = (
    ("GAP", dict(pooling="average", decoder=False, alpha=0.0)),
    ("GMP", dict(pooling="max", decoder=False, alpha=0.0)),
    ("GWRP", dict(pooling="gwrp", decoder=False, alpha=0.0)),
    ("attention", dict(pooling="attention", decoder=False, alpha=0.0)),
    ("2APAE (authors' step 2)", dict(pooling="two_step", alpha=0.001, loss_on="probability",
                                     pooling_config={"time_mixing": "dense", "time_input_norm": False},
                                     fixed_frames=True)),
    ("2APAE", dict(pooling="two_step", alpha=0.001, loss_on="logit",
                   pooling_config={"time_mixing": "context", "time_input_norm": True})),
)


def make_data(cfg, seed):
    """Log-mel features of the remix at every SNR: {snr: (x_train, y_train, x_test, y_test)}."""
    import keras
    import numpy as np

    from keras_audioattn.data.remix import synthetic_remix
    from keras_audioattn.layers import LogMelSpectrogram

    sets = synthetic_remix(cfg["num_clips"], snrs=SNRS, seed=seed, sample_rate=cfg["sample_rate"])
    front = LogMelSpectrogram(sample_rate=cfg["sample_rate"], fft_length=1024, frame_length=1024, frame_step=cfg["hop"],
                              num_mel_bins=cfg["mel"], fmin=50.0, fmax=cfg["sample_rate"] / 2, window="hamming",
                              power=1.0, log_offset=1e-8)
    out = {}
    for snr, d in sets.items():
        x = np.concatenate([keras.ops.convert_to_numpy(front(d["waveforms"][i:i + 64]))
                            for i in range(0, len(d["waveforms"]), 64)])
        test = d["folds"] == 4
        out[snr] = (x[~test], d["targets"][~test], x[test], d["targets"][test])
    return out, sets[SNRS[0]]["class_names"]


def train_eval(kwargs, data, cfg, seed):
    import keras
    import numpy as np

    from keras_audioattn import metrics
    from keras_audioattn.models import TwoStepAttentionSED

    kwargs = dict(kwargs)
    fixed = kwargs.pop("fixed_frames", False)
    x_train, y_train, x_test, y_test = data
    keras.utils.set_random_seed(seed)
    model = TwoStepAttentionSED(y_train.shape[1], encoder_filters=cfg["filters"], num_mel_bins=x_train.shape[2],
                                num_frames=x_train.shape[1] if fixed else None, return_attention=False, **kwargs)
    model.adapt_normalization(x_train)
    model.compile(keras.optimizers.Adam(cfg["lr"]))
    t0 = time.time()
    model.fit(x_train, y_train, batch_size=cfg["batch"], epochs=cfg["epochs"], verbose=0, shuffle=True)
    scores = model.predict(x_test, batch_size=64, verbose=0)["scores"]
    return dict(micro_ap=float(metrics.average_precision(y_test, scores, "micro")),
                macro_ap=_macro(y_test, scores),
                tied_at_1=float(np.mean(scores >= 1.0)), tied_at_0=float(np.mean(scores <= 0.0)),
                seconds=time.time() - t0)


def _macro(y_true, scores):
    """Macro AP over the classes with a positive in the test fold (a class without one has no AP)."""
    from keras_audioattn import metrics

    keep = y_true.sum(0) > 0
    return float(metrics.average_precision(y_true[:, keep], scores[:, keep], "macro"))


def prior_eval(data):
    import numpy as np

    from keras_audioattn import metrics

    _, y_train, _, y_test = data
    scores = np.broadcast_to(y_train.mean(0, keepdims=True), y_test.shape)
    return dict(micro_ap=float(metrics.average_precision(y_test, scores, "micro")),
                macro_ap=_macro(y_test, scores))


def _summary(runs):
    import numpy as np

    table = {}
    for row, by_snr in runs.items():
        table[row] = {}
        for snr, values in by_snr.items():
            ap = np.array([v["micro_ap"] for v in values])
            mac = np.array([v["macro_ap"] for v in values])
            table[row][snr] = dict(micro_ap_mean=float(ap.mean()), micro_ap_sd=float(ap.std(ddof=1)) if len(ap) > 1 else 0.0,
                                   macro_ap_mean=float(mac.mean()),
                                   macro_ap_sd=float(mac.std(ddof=1)) if len(mac) > 1 else 0.0, n=len(ap))
    return table


def _text(result):
    lines = [f"Deshmukh 2020 Table IV in miniature ({'partial: ' if result['partial'] else ''}"
             f"seeds done {result['seeds_done']} of {result['seeds']}); micro-AP mean +- sd (macro-AP)",
             f"config: {result['config']}", ""]
    lines.append(f"{'row':<26}" + "".join(f"{f'{s} dB':>26}" for s in SNRS))
    for row, by_snr in result["table"].items():
        cells = []
        for snr in SNRS:
            c = by_snr.get(str(snr)) or by_snr.get(snr)
            cells.append(f"{c['micro_ap_mean']:.3f} +- {c['micro_ap_sd']:.3f} ({c['macro_ap_mean']:.3f})" if c else "-")
        lines.append(f"{row:<26}" + "".join(f"{c:>26}" for c in cells))
    return "\n".join(lines) + "\n"


def _write(path, text):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def run(seeds=(0, 1, 2), small=False, rows=None, write=True, tag="paper_claims_deshmukh"):
    """Trains every row at every SNR for every seed; returns ``{"table", "runs", "config", ...}``.

    ``table[row][snr]`` holds ``micro_ap_mean``, ``micro_ap_sd`` (sd over seeds, ddof 1),
    ``macro_ap_mean``, ``macro_ap_sd``, ``n``. Results are written after each seed when ``write``.
    """
    cfg = dict(SMALL if small else FULL)
    rows = [r for r in ROWS if rows is None or r[0] in rows]
    runs = {"constant prior": {snr: [] for snr in SNRS}}
    runs.update({name: {snr: [] for snr in SNRS} for name, _ in rows})
    result = {}
    for i, seed in enumerate(seeds):
        data, classes = make_data(cfg, seed)
        for snr in SNRS:
            runs["constant prior"][snr].append(prior_eval(data[snr]))
            for name, kwargs in rows:
                r = train_eval(kwargs, data[snr], cfg, seed)
                runs[name][snr].append(r)
                print(f"seed {seed} {snr:>2} dB {name:<26} micro-AP {r['micro_ap']:.3f} macro-AP {r['macro_ap']:.3f} "
                      f"({r['seconds']:.0f} s)", flush=True)
        result = dict(table={row: {str(s): v for s, v in t.items()} for row, t in _summary(runs).items()},
                      runs={row: {str(s): v for s, v in t.items()} for row, t in runs.items()},
                      config={**cfg, "filters": list(cfg["filters"]), "classes": classes, "snrs": list(SNRS),
                              "train_test": "folds 1-3 / fold 4"},
                      seeds=list(seeds), seeds_done=list(seeds[:i + 1]), partial=i + 1 < len(seeds),
                      machine="2 CPU cores shared with other jobs")
        if write:
            os.makedirs(RESULTS, exist_ok=True)
            _write(os.path.join(RESULTS, f"{tag}.json"), json.dumps(result, indent=1) + "\n")
            _write(os.path.join(RESULTS, f"{tag}.txt"), _text(result))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--small", action="store_true", help="tiny smoke configuration")
    parser.add_argument("--rows", nargs="+", default=None, help="only these rows (names as in ROWS)")
    parser.add_argument("--tag", default=None, help="results file stem (default paper_claims_deshmukh[_small])")
    args = parser.parse_args(argv)
    tag = args.tag or ("paper_claims_deshmukh_small" if args.small else "paper_claims_deshmukh")
    result = run(tuple(args.seeds), small=args.small, rows=args.rows, tag=tag)
    print(_text(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
