"""Writes notebooks/lu2020_cab_cnn.ipynb (run it, then execute the notebook).

    .venv/bin/python notebooks/build_lu2020_cab_cnn.py
    AUDIOATTN_SMALL=1 .venv/bin/python -m jupyter nbconvert --to notebook --execute --inplace \
        notebooks/lu2020_cab_cnn.ipynb
(or execute it with nbclient, as below when run with --execute).
"""

from nbbuild import code, md, write


md("""
# Lu et al. 2020: CAB-CNN on raw waveforms (accent classification)

`CABCNN` — interval-max down-sampling to 4000 samples/s, the Conv1D/MaxPool stack of Table 2,
BatchNorm, the attention-based classifier block (40 small MLP classifiers mixed by an attention
MLP, Fig. 2) and an unweighted average over time — trained on the built-in synthetic *accents*
corpus (3 classes, speech-like clips of different lengths, standing in for UT-Podcast).

As in Tables 3–6 (in miniature) we report accuracy, unweighted recall, macro F1 and the
confusion matrix, for inputs cut to at most the first 5 s and 10 s of each clip (Table 4), and
plot the classifier attention α over time for one clip. The last section exports the model to
TFLite (float32 and full int8) and reports how often int8 agrees with float.

With `AUDIOATTN_SMALL=1` (the test suite) the data, the model and the training are tiny
(0.5 s vs 1 s stand in for 5 s vs 10 s) and the numbers only show that the pipeline works.
Unset it for the fuller run: the paper-size model (134 112 parameters) and the §4 recipe
(batch 32 and at most 30 epochs instead of 128 and "until early stopping", to fit a CPU).
""")

code("""
import os
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore", category=UserWarning)  # Keras' notes on unsized tf.data inputs
import numpy as np
import keras

from keras_audioattn.data.synthetic import synthesize
from keras_audioattn.data.batching import padded_dataset, pad_waveforms, truncate_to_shortest
from keras_audioattn.models import CABCNN, cab_cnn_training_recipe
from keras_audioattn import metrics, presets

SMALL = os.environ.get("AUDIOATTN_SMALL") == "1"
keras.utils.set_random_seed(0)
SR = 16000
if SMALL:
    N_TRAIN, N_VAL, N_TEST, DURATION = 36, 12, 18, (0.6, 1.5)
    SECONDS = {"0.5s (stands for 5s)": 0.5, "1s (stands for 10s)": 1.0}
    TINY = presets.get_preset("lu2020-tiny")["model"]  # the one tiny configuration (tests, make demo)
    MODEL = {k: TINY[k] for k in ("conv_filters", "num_classifiers", "classifier_units", "attention_units")}
    EPOCHS, BATCH, PATIENCE = 8, 12, 15
else:
    # Sized for a 2-core CPU (about 15 min); raise N_* and EPOCHS on a GPU.
    N_TRAIN, N_VAL, N_TEST, DURATION = 240, 60, 120, (3.0, 12.0)
    SECONDS = {"5s": 5.0, "10s": 10.0}
    MODEL = {}  # Table 2 / §4 defaults
    EPOCHS, BATCH, PATIENCE = 30, 32, 15
print("small mode" if SMALL else "full mode", N_TRAIN, N_VAL, N_TEST, DURATION)
""")

md("""
## Data: variable-length clips, padded batches with lengths

The paper cuts every batch to its shortest clip (§4). We keep that as
`truncate_to_shortest(dataset)` but train with the default: zero-padding plus a `lengths`
input, which the model uses to ignore the padding exactly.
""")

code("""
t0 = time.time()
train = synthesize("accents", N_TRAIN, seed=1, duration=DURATION)
val = synthesize("accents", N_VAL, seed=2, duration=DURATION)
test = synthesize("accents", N_TEST, seed=3, duration=DURATION)
classes = list(train.class_names)
lengths_s = np.array([len(w) for w in train.waveforms]) / SR
print(f"synthesised in {time.time() - t0:.1f} s; classes {classes}; "
      f"train clip lengths {lengths_s.min():.1f}-{lengths_s.max():.1f} s; "
      f"class counts {train.targets.sum(0).astype(int).tolist()}")
(w, n), y = next(iter(padded_dataset(train.waveforms, train.targets, batch_size=4)))
print("padded batch", tuple(w.shape), "lengths", n.numpy().tolist())
(w, n), y = next(iter(truncate_to_shortest(padded_dataset(train.waveforms, train.targets, batch_size=4))))
print("paper's truncated batch", tuple(w.shape), "lengths", n.numpy().tolist())
""")

md("""
## Train CAB-CNN with at most the first T seconds (Table 4 in miniature)

Recipe of §4 (`cab_cnn_training_recipe`): categorical cross-entropy, Adam, early stopping with
patience 15 on the validation loss. Batch size and epoch cap are reduced to fit the small corpus.
""")

code("""
def evaluate(model, data, max_seconds):
    # One padded tf.data pipeline: a single traced predict function for every batch shape.
    ds = padded_dataset(data.waveforms, batch_size=32, max_samples=int(max_seconds * SR))
    return model.predict(ds.map(lambda w, n: ((w, n),)), verbose=0)  # ((inputs),): no targets

results, models = {}, {}
for label, seconds in SECONDS.items():
    keras.utils.set_random_seed(0)
    model = CABCNN(len(classes), sample_rate=SR, max_seconds=seconds, **MODEL)
    recipe = cab_cnn_training_recipe(patience=PATIENCE, epochs=EPOCHS)
    model.compile(**recipe["compile"])
    max_samples = int(seconds * SR)
    train_ds = padded_dataset(train.waveforms, train.targets, batch_size=BATCH, shuffle=True,
                              max_samples=max_samples).prefetch(2)
    val_ds = padded_dataset(val.waveforms, val.targets, batch_size=BATCH, max_samples=max_samples).cache()
    t0 = time.time()
    history = model.fit(train_ds, validation_data=val_ds, epochs=recipe["fit"]["epochs"],
                        callbacks=recipe["fit"]["callbacks"], verbose=0)
    scores = evaluate(model, test, seconds)
    y_true = test.targets.argmax(1)
    y_pred = scores.argmax(1)
    results[label] = {
        "accuracy": metrics.accuracy(y_true, y_pred),
        "unweighted recall": metrics.unweighted_recall(y_true, y_pred, labels=np.arange(len(classes))),
        "macro F1": metrics.macro_f1(y_true, y_pred, labels=np.arange(len(classes))),
        "confusion": metrics.confusion_matrix(y_true, y_pred, labels=np.arange(len(classes))),
        "epochs": len(history.history["loss"]),
        "train s": time.time() - t0,
    }
    models[label] = model
print(f"parameters: {models[label].count_params():,}")
print(f"{'input':>22} | accuracy | unweighted recall | macro F1 | epochs | train s")
for label, r in results.items():
    print(f"{label:>22} | {r['accuracy']:8.3f} | {r['unweighted recall']:17.3f} | {r['macro F1']:8.3f} | "
          f"{r['epochs']:6d} | {r['train s']:7.1f}")
""")

code("""
for label, r in results.items():
    print(f"confusion matrix, CAB-CNN-{label} (rows actual, columns predicted: {classes})")
    print(r["confusion"])
""")

md("""
## Classifier attention α over time for one test clip

Each column is one output step (100 interval-max samples = 25 ms of audio); each row one of the
classifiers; the colour is its importance weight α_{t,i} (Fig. 2). Padded steps are excluded.
""")

code("""
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from IPython.display import Image, display

label = list(SECONDS)[-1]
model = models[label]
clip = test.waveforms[0][: int(SECONDS[label] * SR)]
scores, alpha = model.attention_model()([clip[None], np.array([len(clip)], "int32")])
alpha = np.asarray(alpha)[0]
fig, ax = plt.subplots(1, 2, figsize=(9, 2.6), gridspec_kw={"width_ratios": [3, 1]}, dpi=70)
im = ax[0].imshow(alpha.T, aspect="auto", origin="lower", cmap="magma",
                  extent=[0, len(clip) / SR, -0.5, alpha.shape[1] - 0.5])
ax[0].set_xlabel("time (s)"); ax[0].set_ylabel("classifier i"); ax[0].set_title("alpha_{t,i}")
fig.colorbar(im, ax=ax[0])
ax[1].bar(range(alpha.shape[1]), alpha.mean(0)); ax[1].set_title("mean alpha"); ax[1].set_xlabel("classifier")
fig.tight_layout(); fig.savefig("/tmp/lu2020_alpha.png"); plt.close(fig)
display(Image("/tmp/lu2020_alpha.png"))
print("actual", classes[int(test.targets[0].argmax())], "| predicted", classes[int(np.argmax(scores))],
      "| steps", alpha.shape[0], "| most used classifier", int(alpha.mean(0).argmax()))
""")

md("""
## Export: TFLite float32 and full int8, agreement on the test clips

The export takes one waveform input, so the trained model is copied with
`without_length_input(num_samples=...)`: a fixed-length clip in, scores out (shorter clips
are zero-padded to that length, longer ones cut, on both the float and the int8 side).
""")

code("""
import tempfile
import export
from export.common import fit_length
from export.checks import run_tflite

label = list(SECONDS)[0]
num_samples = int(SECONDS[label] * SR)
wave_model = models[label].without_length_input(num_samples=num_samples)
clips = np.stack([fit_length(w, num_samples) for w in test.waveforms])
calib = np.stack([fit_length(w, num_samples) for w in train.waveforms[:32]])
keras_scores = wave_model.predict(clips, batch_size=16, verbose=0)
tmp = tempfile.mkdtemp()
out = {}
for mode in ("float32", "int8"):
    path = export.to_tflite(wave_model, os.path.join(tmp, f"cab_cnn_{mode}.tflite"), quantization=mode,
                            representative_data=calib, labels=classes, sample_rate=SR, metadata=False)
    scores = run_tflite(path, clips)["scores"]
    out[mode] = scores
    print(f"{mode:>7}: {os.path.getsize(path) / 1024:6.1f} KiB | max |tflite - keras| "
          f"{np.abs(scores - keras_scores).max():.4f} | top-1 agreement with Keras float "
          f"{np.mean(scores.argmax(1) == keras_scores.argmax(1)):.3f}")
y_true = test.targets.argmax(1)
for mode, scores in out.items():
    print(f"{mode:>7} accuracy {metrics.accuracy(y_true, scores.argmax(1)):.3f}")
""")

write("lu2020_cab_cnn.ipynb", timeout=3600)
