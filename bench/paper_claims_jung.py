"""Jung et al. 2020's central comparison in miniature: baseline vs concatenation vs attention vs both.

    PYTHONPATH=. .venv/bin/python bench/paper_claims_jung.py [--seeds 0 1 2] [--small] [--epochs N]
        [--json bench/results/paper_claims_jung.json]

The paper (Tables 2-5, SVM back end on the 64-d code, DCASE 2019 Task 1-a) reports
baseline 73.63 % < concatenation 75.66 % < attention 76.58 % < both 76.75 %. Here, per seed:

1. an :class:`AudioTagger` is trained on the built-in synthetic *tagging* corpus (8 urban tags,
   BCE, Adam) and frozen -- the paper's tag source is a separate, pre-trained tagger (§2.2);
2. four :class:`TagConditionedASC` systems are trained on the synthetic *scenes* corpus (6
   scenes) with the same frozen tagger, the same seed, Adam 1e-3, batch 24 and the recipe's
   mix-up (alpha 0.2, the training driver's ``_mixup``): baseline; concatenation (Table 2 best:
   3 transform layers before the code); attention (Table 3 best: 2 heads, 1 layer); both
   (Table 5 best: shared 3 layers, 4 heads);
3. each is scored as in the paper -- an RBF SVM fit on the training codes
   (:func:`fit_code_svm`) -- and, beside it, by its own softmax.

Diagnostics printed with the table (to explain an ordering, not to tune it): the tagger's test
micro-AP on tagging clips, the accuracy of an RBF SVM on the *tag vectors alone* (how much scene
information the tags carry), and each system's final training accuracy (fit vs overfit).

Reduced for a shared 2-core CPU (say so wherever the figures are quoted): 16 kHz mono clips of
2 s (the paper: 10 s stereo at 48 kHz), an ASC network of 5 residual blocks of 32 filters
(Table 1: 7 of 128; 2 s at 16 kHz has too few samples for 7 poolings of 3 after the stride-12
conv), transform layers of 32 units, a 64-mel tagger with 16/32/64/128 filters. Data are fixed
(same corpus for every seed); the seed changes the initialisation, shuffling and mix-up draws
of the tagger and of every ASC system.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

SYSTEMS = {
    "baseline": dict(),
    "concat (3 layers before code)": dict(concat={"mode": "transform_before", "num_transform_layers": 3}),
    "attention (2 heads, 1 layer)": dict(attention={"num_heads": 2, "num_transform_layers": 1}),
    "both (shared 3 layers, 4 heads)": dict(concat={"mode": "transform_before", "num_transform_layers": 3},
                                            attention={"num_heads": 4}, shared_transform=True),
}
PAPER_SVM_ACCURACY = {"baseline": 73.63, "concat (3 layers before code)": 75.66,
                      "attention (2 heads, 1 layer)": 76.58, "both (shared 3 layers, 4 heads)": 76.75}

FULL = dict(sample_rate=16000, seconds=2.0, n_tag=480, n_tag_test=120, n_train=300, n_test=240,
            tagger=dict(num_mel_bins=64, block_filters=(16, 32, 64, 128), dense_units=(128,), dropout=0.3,
                        front_end=dict(fft_length=1024, frame_length=1024, frame_step=512)),
            asc=dict(first_filters=32, first_kernel=12, block_filters=(32,) * 5, code_dim=64),
            transform_units=32, tag_epochs=15, epochs=20, batch=24, learning_rate=1e-3, mixup_alpha=0.2)
SMALL = dict(sample_rate=8000, seconds=0.5, n_tag=24, n_tag_test=12, n_train=24, n_test=12,
             tagger=dict(num_mel_bins=16, block_filters=(4, 8), dense_units=(8,), dropout=0.0,
                         front_end=dict(fft_length=256, frame_length=256, frame_step=128)),
             asc=dict(first_filters=8, first_kernel=4, block_filters=(8, 8, 8), code_dim=8),
             transform_units=8, tag_epochs=1, epochs=1, batch=8, learning_rate=3e-3, mixup_alpha=0.2)


def _write_json(path, value):
    """Atomic JSON write (the package's one writer); the folder is created for bench output."""
    from keras_audioattn.files import write_json

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_json(path, value)


def _train_ds(x, y, batch, seed, alpha, epoch):
    """Shuffled batches with the training driver's mix-up (the one implementation of it)."""
    import tensorflow as tf

    from keras_audioattn.training import _mixup

    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch)
    return _mixup(ds, alpha, seed, epoch) if alpha else ds


def _summary(values):
    values = np.asarray(values, float)
    return {"mean": float(values.mean()), "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "values": [float(v) for v in values]}


def run(seeds=(0, 1, 2), small=False, epochs=None, json_path=None, verbose=True):
    """Trains the tagger and the four systems per seed; returns the results dict (see module doc).

    ``json_path``: also write the (partial, after every system) results there, atomically.
    """
    import keras
    import tensorflow as tf

    from keras_audioattn.data.synthetic import synthesize
    from keras_audioattn.metrics import average_precision
    from keras_audioattn.models import AudioTagger, RawWaveformASC, TagConditionedASC, compare_back_ends, fit_code_svm

    cfg = dict(SMALL if small else FULL)
    if epochs is not None:
        cfg["epochs"] = int(epochs)
    sr, seconds = cfg["sample_rate"], cfg["seconds"]
    t_start = time.time()
    tag_train = synthesize("tagging", cfg["n_tag"], seed=11, sample_rate=sr, duration=seconds)
    tag_test = synthesize("tagging", cfg["n_tag_test"], seed=12, sample_rate=sr, duration=seconds)
    scene_train = synthesize("scenes", cfg["n_train"], seed=21, sample_rate=sr, duration=seconds)
    scene_test = synthesize("scenes", cfg["n_test"], seed=22, sample_rate=sr, duration=seconds)
    y_train, y_test = scene_train.targets, scene_test.targets
    x_train, x_test = scene_train.waveforms, scene_test.waveforms
    results = {"config": {k: (v if not isinstance(v, tuple) else list(v)) for k, v in cfg.items()},
               "seeds": list(seeds), "systems": list(SYSTEMS), "per_seed": [], "paper_svm_accuracy": PAPER_SVM_ACCURACY,
               "data_seconds": round(time.time() - t_start, 1), "complete": False}
    if verbose:
        print(f"data: {len(x_train)} train / {len(x_test)} test scene clips of {seconds} s at {sr} Hz "
              f"({results['data_seconds']} s)", flush=True)

    for seed in seeds:
        row = {"seed": int(seed), "systems": {}}
        keras.utils.set_random_seed(int(seed))
        t0 = time.time()
        tagger = AudioTagger(tag_train.targets.shape[1], sample_rate=sr, **cfg["tagger"])
        tagger.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
        tagger.fit(tag_train.waveforms, tag_train.targets, batch_size=cfg["batch"], epochs=cfg["tag_epochs"],
                   verbose=0)
        tagger.trainable = False
        tag_ap = average_precision(tag_test.targets, tagger.predict(tag_test.waveforms, verbose=0), average="micro")
        tags_train = tagger.predict(x_train, verbose=0)
        tags_test = tagger.predict(x_test, verbose=0)
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        tag_svm = make_pipeline(StandardScaler(), SVC(kernel="rbf")).fit(tags_train, y_train.argmax(1))
        row["tagger"] = {"test_micro_ap": float(tag_ap), "chance_ap": float(tag_test.targets.mean()),
                         "tags_only_svm_scene_accuracy": float(np.mean(tag_svm.predict(tags_test) == y_test.argmax(1))),
                         "seconds": round(time.time() - t0, 1)}
        if verbose:
            print(f"seed {seed}: tagger micro-AP {tag_ap:.3f} (chance {row['tagger']['chance_ap']:.3f}); "
                  f"SVM on tags alone: scene accuracy {row['tagger']['tags_only_svm_scene_accuracy']:.3f} "
                  f"({row['tagger']['seconds']} s)", flush=True)
        for name, options in SYSTEMS.items():
            keras.utils.set_random_seed(int(seed))
            t0 = time.time()
            asc = RawWaveformASC(y_train.shape[1], num_channels=1, sample_rate=sr, **cfg["asc"])
            model = TagConditionedASC(asc, tagger, transform_units=cfg["transform_units"], name="tag_asc", **options)
            view = model.scores_model()
            view.compile(optimizer=keras.optimizers.Adam(cfg["learning_rate"]), loss="categorical_crossentropy",
                         metrics=["accuracy"])
            epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False)
            ds = _train_ds(x_train, y_train, cfg["batch"], int(seed), cfg["mixup_alpha"], epoch_var)
            view.fit(ds, epochs=cfg["epochs"], verbose=0, callbacks=[
                keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs=None: epoch_var.assign(e))])
            svm = fit_code_svm(model, x_train, y_train, kernel="rbf")
            acc = compare_back_ends(model, svm, x_test, y_test)
            train_acc = compare_back_ends(model, svm, x_train, y_train)
            row["systems"][name] = {
                "svm_accuracy": acc["svm"], "softmax_accuracy": acc["softmax"],
                "train_svm_accuracy": train_acc["svm"], "train_softmax_accuracy": train_acc["softmax"],
                "trainable_parameters": int(sum(int(np.prod(w.shape)) for w in model.trainable_weights)),
                "seconds": round(time.time() - t0, 1)}
            if verbose:
                r = row["systems"][name]
                print(f"  {name:>32}: SVM {r['svm_accuracy']:.3f}  softmax {r['softmax_accuracy']:.3f}  "
                      f"(train SVM {r['train_svm_accuracy']:.3f}, softmax {r['train_softmax_accuracy']:.3f}; "
                      f"{r['trainable_parameters']:,} trainable; {r['seconds']} s)", flush=True)
            if json_path:
                _write_json(json_path, {**results, "per_seed": results["per_seed"] + [row]})
        results["per_seed"].append(row)

    summary = {}
    for name in SYSTEMS:
        summary[name] = {key: _summary([r["systems"][name][key] for r in results["per_seed"]])
                         for key in ("svm_accuracy", "softmax_accuracy", "train_svm_accuracy", "train_softmax_accuracy")}
    summary["tags_only_svm"] = _summary([r["tagger"]["tags_only_svm_scene_accuracy"] for r in results["per_seed"]])
    summary["tagger_micro_ap"] = _summary([r["tagger"]["test_micro_ap"] for r in results["per_seed"]])
    results.update(summary=summary, complete=True, seconds=round(time.time() - t_start, 1))
    if json_path:
        _write_json(json_path, results)
    if verbose:
        print(format_table(results))
    return results


def format_table(results):
    s = results["summary"]
    n = len(results["seeds"])
    lines = [f"| system | SVM accuracy (mean ± sd, {n} seeds) | softmax accuracy | paper (SVM, %) |",
             "|---|---|---|---|"]
    for name in results["systems"]:
        a, b = s[name]["svm_accuracy"], s[name]["softmax_accuracy"]
        lines.append(f"| {name} | {a['mean']:.3f} ± {a['sd']:.3f} | {b['mean']:.3f} ± {b['sd']:.3f} | "
                     f"{results['paper_svm_accuracy'][name]} |")
    t, ap = s["tags_only_svm"], s["tagger_micro_ap"]
    lines.append(f"\nSVM on the tag vectors alone: {t['mean']:.3f} ± {t['sd']:.3f}; tagger micro-AP "
                 f"{ap['mean']:.3f} ± {ap['sd']:.3f}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--small", action="store_true", help="tiny configuration (a smoke test, seconds)")
    parser.add_argument("--epochs", type=int, help="ASC epochs (default 20; small: 1)")
    parser.add_argument("--json", default=os.path.join(HERE, "results", "paper_claims_jung.json"))
    args = parser.parse_args(argv)
    run(seeds=tuple(args.seeds), small=args.small, epochs=args.epochs, json_path=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
