"""Writes notebooks/jung2020_tag_asc.ipynb (run it, then execute the notebook).

    .venv/bin/python notebooks/build_jung2020_tag_asc.py [--execute]   # AUDIOATTN_SMALL=1 for tiny
    AUDIOATTN_SMALL=1 .venv/bin/python -m jupyter nbconvert --to notebook --execute --inplace \
        notebooks/jung2020_tag_asc.ipynb
"""

from nbbuild import code, md, write


md("""
# Jung et al. 2020: acoustic scene classification using audio tagging

A miniature of the paper's experiments (Tables 2–5): an `AudioTagger` (log-mel CNN, sigmoid tag
vectors) is trained on the built-in synthetic *tagging* corpus (8 urban tags) and frozen; then
the raw-waveform ResNet `RawWaveformASC` (Table 1) is trained on the built-in *scenes* corpus
(6 scenes) — alone (baseline), with the tag vector concatenated (§3.1), with the tag-driven
multi-head attention over its filters (§3.2, Eq. 1–2), and with both, sharing or not sharing the
transform layers (§3.3). As in the paper, each system is scored twice: by its own softmax output
and by an SVM (RBF kernel) fit on its code. The last section plots the learned attention maps,
averaged per scene.

With `AUDIOATTN_SMALL=1` (the test suite) everything is tiny — 0.5 s mono clips, a 3-block ASC
network with 8 filters (the `jung2020-tiny` preset), a few epochs — and the numbers only show that
the pipeline works.
Unset it for the fuller run (4 s clips, Table 1's network, more data and epochs: about an hour
on a 2-core CPU). The synthetic clips are mono; the paper's are stereo 48 kHz
(`RawWaveformASC(num_channels=2)` is the default).
""")

code("""
import os
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore", category=UserWarning)
import numpy as np
import keras

from keras_audioattn import presets
from keras_audioattn.data.synthetic import synthesize
from keras_audioattn.metrics import average_precision
from keras_audioattn.models import (AudioTagger, RawWaveformASC, TagConditionedASC, compare_back_ends,
                                    fit_code_svm, tag_asc_training_recipe)

SMALL = os.environ.get("AUDIOATTN_SMALL") == "1"
SR = 16000
keras.utils.set_random_seed(0)
if SMALL:
    N_TAG, N_TRAIN, N_TEST, SECONDS, TAG_SECONDS = 32, 30, 18, 0.5, 0.5
    # The one tiny configuration (tests, make demo): the jung2020-tagger-tiny / jung2020-tiny presets.
    TAGGER = {k: v for k, v in presets.get_preset("jung2020-tagger-tiny")["model"].items()
              if k in ("num_mel_bins", "block_filters", "dense_units", "dropout", "front_end")}
    ASC = presets.get_preset("jung2020-tiny")["model"]["asc"]
    UNITS, TAG_EPOCHS, EPOCHS, BATCH, EAGER = 16, 3, 3, 16, True  # eager: no graph tracing for tiny runs
    SYSTEMS = {
        "baseline": dict(),
        "concat: before code, 3 layers": dict(concat={"mode": "transform_before", "num_transform_layers": 3}),
        "attention: 2 heads, 1 layer": dict(attention={"num_heads": 2, "num_transform_layers": 1}),
        "both, shared 3 layers, 4 heads": dict(concat={"mode": "transform_before", "num_transform_layers": 3},
                                               attention=4),
    }
else:
    N_TAG, N_TRAIN, N_TEST, SECONDS, TAG_SECONDS = 600, 480, 240, 4.0, 4.0
    TAGGER = dict(front_end=dict(fft_length=1024, frame_length=1024, frame_step=512))  # 128 mel, default blocks
    ASC = dict()  # Table 1
    UNITS, TAG_EPOCHS, EPOCHS, BATCH, EAGER = 128, 30, 30, 24, False
    SYSTEMS = {
        "baseline": dict(),
        "codecat": dict(concat="code"),
        "concat: before code, no layer": dict(concat="transform_after"),
        "concat: before code, 3 layers": dict(concat={"mode": "transform_before", "num_transform_layers": 3}),
        "attention: 2 heads, 1 layer": dict(attention={"num_heads": 2, "num_transform_layers": 1}),
        "both, separate 4/3 layers, 4 heads": dict(concat={"mode": "transform_before", "num_transform_layers": 4},
                                                   attention={"num_heads": 4, "num_transform_layers": 3},
                                                   shared_transform=False),
        "both, shared 3 layers, 4 heads": dict(concat={"mode": "transform_before", "num_transform_layers": 3},
                                               attention=4),
    }
print("small mode" if SMALL else "full mode", dict(N_TAG=N_TAG, N_TRAIN=N_TRAIN, N_TEST=N_TEST, SECONDS=SECONDS))
""")

md("""
## 1. The audio tagger, trained on its own tagging labels (§2.2)

The paper uses Akiyama & Sato's 44 M-parameter DCASE 2019 Task 2 ResNet (80 tags). Here a small
`AudioTagger` learns the 8 synthetic urban tags with binary cross-entropy; then it is frozen.
""")

code("""
t0 = time.time()
tag_train = synthesize("tagging", N_TAG, seed=11, duration=TAG_SECONDS)
tag_test = synthesize("tagging", max(N_TAG // 4, 16), seed=12, duration=TAG_SECONDS)
tag_names = list(tag_train.class_names)
tagger = AudioTagger(len(tag_names), sample_rate=SR, **TAGGER)
tagger.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy", run_eagerly=EAGER)
tagger.fit(tag_train.waveforms, tag_train.targets, batch_size=BATCH, epochs=TAG_EPOCHS, verbose=0)
tag_scores = tagger.predict(tag_test.waveforms, verbose=0)
print(f"tagger: {tagger.count_params():,} parameters, trained in {time.time() - t0:.1f} s; "
      f"test micro-AP {average_precision(tag_test.targets, tag_scores, average='micro'):.3f} "
      f"(chance {tag_test.targets.mean():.3f})")
tagger.trainable = False
""")

md("""
## 2. Tag vectors of the scene clips

What the frozen tagger "hears" in each scene: the mean tag vector per scene class. The scenes were
not made from these tags, so the vectors are only indirect evidence — as in the paper, where the
80 FSDKaggle tags are not the 10 DCASE scenes.
""")

code("""
scene_train = synthesize("scenes", N_TRAIN, seed=21, duration=SECONDS)
scene_test = synthesize("scenes", N_TEST, seed=22, duration=SECONDS)
scenes = list(scene_train.class_names)
y_train, y_test = scene_train.targets, scene_test.targets
tags_train = tagger.predict(scene_train.waveforms, verbose=0)
mean_tags = np.stack([tags_train[y_train.argmax(1) == k].mean(0) for k in range(len(scenes))])
print(f"{'scene':>15} | " + " ".join(f"{t[:6]:>6}" for t in tag_names))
for k, s in enumerate(scenes):
    print(f"{s:>15} | " + " ".join(f"{v:6.2f}" for v in mean_tags[k]))
""")

md("""
## 3. Baseline vs concatenation vs attention vs both (Tables 2–5 in miniature)

Every system gets a fresh ASC network with the same seed and the same frozen tagger, the
categorical cross-entropy recipe of `tag_asc_training_recipe` (Adam; the paper's optimiser is not
stated) and the same number of epochs. "softmax" is the network's own output; "SVM" an RBF SVM
on the code (`fit_code_svm`), the paper's reported back end.
""")

code("""
results, models = {}, {}
for name, options in SYSTEMS.items():
    keras.utils.set_random_seed(0)
    asc = RawWaveformASC(len(scenes), num_channels=1, sample_rate=SR, **ASC)
    model = TagConditionedASC(asc, tagger, transform_units=UNITS, name="tag_asc", **options)
    recipe = tag_asc_training_recipe(learning_rate=3e-3 if SMALL else 1e-3, epochs=EPOCHS, batch_size=BATCH)
    model.compile(**recipe["compile"], run_eagerly=EAGER)
    t0 = time.time()
    model.fit(scene_train.waveforms, {"scores": y_train}, verbose=0, **recipe["fit"])
    svm = fit_code_svm(model, scene_train.waveforms, y_train, kernel="rbf")
    acc = compare_back_ends(model, svm, scene_test.waveforms, y_test)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    results[name] = dict(acc, params=trainable, seconds=time.time() - t0)
    models[name] = model
print(f"{'system':>36} | softmax acc | SVM acc | trainable params | train s")
for name, r in results.items():
    print(f"{name:>36} | {r['softmax']:11.3f} | {r['svm']:7.3f} | {r['params']:16,d} | {r['seconds']:7.1f}")
print(f"(test clips: {N_TEST}; chance {1 / len(scenes):.3f})")
""")

md("""
## 4. Learned attention maps per scene

For each system with attention: the attention map `am` (Eq. 2, one weight per filter, the softmax
taken within each head) averaged over the test clips of each scene. Rows are scenes, columns
filters; the lines separate the heads. Left: the maps; right: each scene's map in % above or
below the mean over all scenes. Different rows mean the tag vector steers the network towards
different filters for different scenes.
""")

code("""
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from IPython.display import Image, display

with_attention = [n for n, m in models.items() if m.attention is not None]
fig, axes = plt.subplots(len(with_attention), 2, figsize=(12, 2.2 * len(with_attention)), dpi=70, squeeze=False)
for (ax, ax_dev), name in zip(axes, with_attention):
    model = models[name]
    am = np.asarray(model.attention_model()(scene_test.waveforms)["attention"])
    per_scene = np.stack([am[y_test.argmax(1) == k].mean(0) for k in range(len(scenes))])
    deviation = 100 * (per_scene / per_scene.mean(0, keepdims=True) - 1)  # % above/below the all-scene mean
    heads = model.attention["num_heads"]
    for axis, image, title, cmap in ((ax, per_scene, "mean am per scene", "viridis"),
                                     (ax_dev, deviation, "% from the all-scene mean", "coolwarm")):
        lim = np.abs(image).max() if cmap == "coolwarm" else None
        im = axis.imshow(image, aspect="auto", cmap=cmap, interpolation="nearest",
                         vmin=-lim if lim else None, vmax=lim)
        for h in range(1, heads):
            axis.axvline(h * am.shape[1] / heads - 0.5, color="black" if lim else "white", lw=1)
        axis.set_yticks(range(len(scenes)), scenes if axis is ax else [], fontsize=7)
        axis.set_xlabel("filter"); axis.set_title(f"{name}: {title}", fontsize=9)
        fig.colorbar(im, ax=axis)
    spread = per_scene.std(0).mean() / per_scene.mean()
    print(f"{name}: between-scene spread of am relative to its mean: {spread:.3f}")
fig.tight_layout(); fig.savefig("/tmp/jung2020_attention.png"); plt.close(fig)
display(Image("/tmp/jung2020_attention.png"))
""")

md("""
## 5. The paper's configuration

Parameter counts of the paper's systems at full size (Table 1 network, stereo, 80 tags), without
the frozen tagger. Table 6 reports 676 k for the best system; Table 1 as written gives more
(see `docs/jung2020.md`).
""")

code("""
for preset in ("jung2020-tag-asc",) if SMALL else ("jung2020-baseline", "jung2020-tag-concat",
                                                    "jung2020-tag-attention", "jung2020-tag-asc-separate",
                                                    "jung2020-tag-asc"):
    paper = TagConditionedASC.from_preset(preset, tagger_overrides=dict(block_filters=(4, 8, 8, 8), dense_units=(8,)))
    print(f"{preset:>20}: {paper.count_params() - paper.tagger.count_params():,} parameters without the tagger")
""")

write("jung2020_tag_asc.ipynb", timeout=3600)
