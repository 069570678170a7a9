"""Why two-step pooling can rank below a constant prior (issue 19): ablation on the built-in remix.

Same data, features and training as ``bench/paper_claims_deshmukh.py`` (one SNR), over seeds.
Two-step variants (2APAE, alpha = 0.001 unless stated) that switch one suspect at a time:

  - ``time_mixing``: ``"conv"`` (3-tap per-class filter, the package default before issue 19),
    ``"dense"`` (the authors' nn.Linear over all frames), ``"context"`` / ``"dilated"`` (whole-clip
    context, any length);
  - ``loss_on``: ``"probability"`` (BCE on the clipped probability; Keras clips it to
    [1e-7, 1 - 1e-7], so a saturated output gets no gradient) or ``"logit"`` (BCE from the exact
    log-odds of the pooled probability);
  - ``alpha = 0`` (no decoder term).

Besides micro-/macro-AP it records what each suspect predicts: the fraction of test scores tied
at exactly 0 or 1 (float32), the spread of the step-1 output over time (``v1`` std, the signal
step 2 sees), how peaked the time attention is (``T * max_t w``; 1 = uniform), the final
training BCE and alpha * MSE, and for a step-2 BatchNorm (``time_input_norm``) the ratio of its
moving std to the std of its inference-mode input on the training clips and the micro-AP after
setting its moving statistics to those of that input (a train/inference mismatch probe).
Variants ending in ``/ prior`` start from ``output_bias_init="label_prior"`` (the others from
zero biases, as before issue 19's fix). ``--config real`` is the configuration of the
real-recordings report in issue 19.

    PYTHONPATH=. python bench/deshmukh_below_prior.py --snr 0 --seeds 0 1 2
    PYTHONPATH=. python bench/deshmukh_below_prior.py --config real --snr 0 --variants "GMP" "GMP / prior" \
        "context / logit / norm" "context / logit / norm / prior"
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.backend_speed import cpu_model  # noqa: E402
from bench.paper_claims_deshmukh import FULL, RESULTS, SMALL, _macro, _write, make_data, prior_eval  # noqa: E402

def _ts(mixing, loss_on="probability", norm=False, output_bias_init="zeros", **extra):
    return dict(pooling_config={"time_mixing": mixing, "time_input_norm": norm}, loss_on=loss_on,
                output_bias_init=output_bias_init, **extra)


#: The configuration of the real-recordings report in issue 19: encoder 8/16/32/64, 64-mel
#: standardised log-mel of 5 s at hop 512 (155 frames here, 156 there), batch 24, Adam 1e-3, 10 epochs.
REAL = dict(num_clips=240, sample_rate=16000, hop=512, mel=64, filters=(8, 16, 32, 64), epochs=10, batch=24, lr=1e-3)
CONFIGS = {"full": FULL, "small": SMALL, "real": REAL}

VARIANTS = (
    ("GMP", dict(pooling="max", decoder=False, alpha=0.0, output_bias_init="zeros")),
    ("GMP / prior", dict(pooling="max", decoder=False, alpha=0.0, output_bias_init="label_prior")),
    ("conv3 / probability", _ts("conv")),
    ("conv3 / probability / alpha 0", _ts("conv", alpha=0.0)),
    ("conv3 / logit", _ts("conv", "logit")),
    ("conv3 / probability / norm", _ts("conv", norm=True)),
    ("dense / probability (authors)", _ts("dense", fixed_frames=True)),
    ("dense / logit / norm", _ts("dense", "logit", norm=True, fixed_frames=True)),
    ("context / logit", _ts("context", "logit")),
    ("context / logit / norm", _ts("context", "logit", norm=True)),
    ("context / logit / norm / prior", _ts("context", "logit", norm=True, output_bias_init="label_prior")),
    ("dilated / logit / norm", _ts("dilated", "logit", norm=True)),
    ("conv3 / probability / prior", _ts("conv", output_bias_init="label_prior")),
)


def train_probe(kwargs, data, cfg, seed):
    import keras
    import numpy as np

    from keras_audioattn import metrics
    from keras_audioattn.models import TwoStepAttentionSED

    kwargs = dict(kwargs)
    fixed = kwargs.pop("fixed_frames", False)
    two_step = kwargs.get("pooling", "two_step") == "two_step"
    x_train, y_train, x_test, y_test = data
    keras.utils.set_random_seed(seed)
    model = TwoStepAttentionSED(y_train.shape[1], encoder_filters=cfg["filters"], num_mel_bins=x_train.shape[2],
                                num_frames=x_train.shape[1] if fixed else None, return_attention=two_step,
                                **kwargs)
    model.adapt_normalization(x_train)
    model.compile(keras.optimizers.Adam(cfg["lr"]))
    t0 = time.time()
    model.fit(x_train, y_train, batch_size=cfg["batch"], epochs=cfg["epochs"], verbose=0, shuffle=True)
    out = model.predict(x_test, batch_size=64, verbose=0)
    scores = out["scores"]
    r = dict(micro_ap=float(metrics.average_precision(y_test, scores, "micro")), macro_ap=_macro(y_test, scores),
             tied_at_1=float(np.mean(scores >= 1.0)), tied_at_0=float(np.mean(scores <= 0.0)),
             score_mean=float(scores.mean()), seconds=time.time() - t0)
    if two_step:
        v1 = out["frequency_pooled"]
        r["v1_std_over_time"] = float(v1.std(axis=1).mean())
        r["v1_mean"] = float(v1.mean())
        w = out["time_attention"]
        r["time_attention_peak"] = float((w.max(axis=1) * w.shape[1]).mean())
    train_out = model.predict(x_train, batch_size=64, verbose=0)
    bn = getattr(model.pooling_layer, "time_input_bn", None) if two_step else None
    if bn is not None:
        # The step-2 BatchNorm's moving statistics against those of its inference-mode input on
        # the training clips (the encoder in inference mode): re-scored with the latter.
        v1 = train_out["frequency_pooled"]
        kept = [keras.ops.convert_to_numpy(bn.moving_mean), keras.ops.convert_to_numpy(bn.moving_variance)]
        r["time_bn_std_ratio"] = float(np.mean(np.sqrt(kept[1]) / v1.std(axis=(0, 1))))
        bn.moving_mean.assign(v1.mean(axis=(0, 1)))
        bn.moving_variance.assign(v1.var(axis=(0, 1)))
        rescored = model.predict(x_test, batch_size=64, verbose=0)["scores"]
        r["micro_ap_time_bn_recalibrated"] = float(metrics.average_precision(y_test, rescored, "micro"))
        bn.moving_mean.assign(kept[0])
        bn.moving_variance.assign(kept[1])
    p = np.clip(train_out["scores"], 1e-7, 1 - 1e-7)
    r["train_bce"] = float(-np.mean(y_train * np.log(p) + (1 - y_train) * np.log(1 - p)))
    if "reconstruction" in train_out:
        target = keras.ops.convert_to_numpy(model.reconstruction_target(x_train))
        r["train_alpha_mse"] = float(model.alpha * np.mean((train_out["reconstruction"] - target) ** 2))
    return r


def main(argv=None):
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snr", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--small", action="store_true", help="same as --config small")
    parser.add_argument("--config", choices=sorted(CONFIGS), default="full",
                        help="full: the paper-claims miniature; real: the configuration of the real-recordings "
                             "report in issue 19")
    parser.add_argument("--variants", nargs="+", default=None)
    args = parser.parse_args(argv)
    config = "small" if args.small else args.config
    cfg = dict(CONFIGS[config])
    variants = [v for v in VARIANTS if args.variants is None or v[0] in args.variants]
    runs = {"constant prior": []}
    runs.update({name: [] for name, _ in variants})
    tag = f"deshmukh_below_prior_{args.snr}db" + ("" if config == "full" else f"_{config}")
    for i, seed in enumerate(args.seeds):
        data, _ = make_data(cfg, seed)
        d = data[args.snr]
        runs["constant prior"].append(prior_eval(d))
        for name, kwargs in variants:
            r = train_probe(kwargs, d, cfg, seed)
            runs[name].append(r)
            print(f"seed {seed} {name:<32} " + " ".join(f"{k} {v:.4g}" for k, v in r.items()), flush=True)
        lines = [f"below-prior ablation, {args.snr} dB, seeds done {args.seeds[:i + 1]} of {args.seeds} "
                 f"({'partial' if i + 1 < len(args.seeds) else 'complete'}); mean +- sd over seeds", f"config: {cfg}", ""]
        summary = {}
        for name, values in runs.items():
            keys = values[0].keys()
            summary[name] = {k: (float(np.mean([v[k] for v in values])),
                                 float(np.std([v[k] for v in values], ddof=1)) if len(values) > 1 else 0.0)
                             for k in keys}
            cells = " ".join(f"{k} {m:.3f}+-{s:.3f}" for k, (m, s) in summary[name].items() if k != "seconds")
            lines.append(f"{name:<32} {cells}")
        os.makedirs(RESULTS, exist_ok=True)
        _write(os.path.join(RESULTS, f"{tag}.json"),
               json.dumps(dict(snr=args.snr, seeds=args.seeds, seeds_done=args.seeds[:i + 1],
                               config={**cfg, "filters": list(cfg["filters"])}, summary=summary, runs=runs,
                               machine=f"{cpu_model()}, {os.cpu_count()} cores"), indent=1) + "\n")
        _write(os.path.join(RESULTS, f"{tag}.txt"), "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
