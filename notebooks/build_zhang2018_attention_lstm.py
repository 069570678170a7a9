"""Writes notebooks/zhang2018_attention_lstm.ipynb (run it, then execute the notebook).

    .venv/bin/python notebooks/build_zhang2018_attention_lstm.py
    AUDIOATTN_SMALL=1 .venv/bin/python -m jupyter nbconvert --to notebook --execute --inplace \
        notebooks/zhang2018_attention_lstm.ipynb
"""

from nbbuild import code, md, write


md("""
# Zhang et al. 2018: attention LSTMs for acoustic scene classification

Four variants of `AttentionLSTMClassifier` (vanilla LSTM, temporal attention **TA**, semantic
attention **SA**, and both **TA+SA**) trained on the built-in synthetic *scenes* corpus, the
paper's recipe at small scale: log-mel 1024/220 with 64 bands, 1 s clips with 50 % overlap,
clip probabilities averaged per recording (§3.1), Adam 1e-3 (§3.2).

With `AUDIOATTN_SMALL=1` (the test suite) everything is tiny and runs in seconds: the numbers
below then only show that the pipeline works, they say nothing about the variants' merit.
Unset it for the fuller run (paper-size models, more data and epochs).
""")

code("""
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
import matplotlib.pyplot as plt
import numpy as np

from keras_audioattn import presets
from keras_audioattn.data.synthetic import synthesize
from keras_audioattn.layers import LogMelSpectrogram
from keras_audioattn.metrics import accuracy, aggregate_clip_scores
from keras_audioattn.models import AttentionLSTMClassifier
from keras_audioattn.models.attention_lstm_classifier import split_into_clips

SMALL = os.environ.get("AUDIOATTN_SMALL") == "1"
keras.utils.set_random_seed(0)
SR = 16000
if SMALL:
    N_TRAIN, N_TEST, SECONDS, EPOCHS, BATCH = 12, 6, 2.0, 3, 36  # one batch: one trace of fit
    TINY = presets.get_preset("zhang2018-tiny")["model"]  # the one tiny configuration (tests, make demo)
    MODEL = {k: TINY[k] for k in ("units", "attention_size", "num_clusters", "hidden_units")}
else:
    N_TRAIN, N_TEST, SECONDS, EPOCHS, BATCH = 60, 30, 10.0, 30, 32
    MODEL = dict(units=128, attention_size=64, num_clusters=128, hidden_units=(128, 128))
print("small mode" if SMALL else "full mode", MODEL)
""")

md("""
## Data: recordings -> 1 s clips (50 % overlap) -> log-mel

The log-mel front end is computed once here so that the four trainings share it; the models are
built with `include_front_end=False` and take `(batch, frames, 64)`. (A model built with the
front end inside takes the waveform, which is what export uses.)
""")

code("""
train = synthesize("scenes", N_TRAIN, seed=0, sample_rate=SR, duration=SECONDS)
test = synthesize("scenes", N_TEST, seed=1, sample_rate=SR, duration=SECONDS)
classes = train.class_names
log_mel = LogMelSpectrogram.from_preset("zhang2018", sample_rate=SR)


def to_clips(data):
    clips, targets, rec_ids = [], [], []
    for i, (wave, target) in enumerate(zip(data.waveforms, data.targets)):
        c = split_into_clips(wave, SR, SR // 2)
        clips.append(c)
        targets.append(np.repeat(target[None], len(c), axis=0))
        rec_ids += [i] * len(c)
    feats = keras.ops.convert_to_numpy(log_mel(np.concatenate(clips)))
    return feats, np.concatenate(targets).astype("float32"), np.array(rec_ids)


x_train, y_train, _ = to_clips(train)
x_test, y_test, test_ids = to_clips(test)
print("train clips", x_train.shape, "test clips", x_test.shape, "classes", classes)
""")

md("## Train the four variants")

code("""
results, models = [], {}
for variant in ["vanilla", "ta", "sa", "ta_sa"]:
    keras.utils.set_random_seed(0)
    model = AttentionLSTMClassifier(len(classes), variant=variant, include_front_end=False, **MODEL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3 if not SMALL else 1e-2),
                  loss="categorical_crossentropy", jit_compile=False)
    start = time.time()
    model.fit(x_train, y_train, batch_size=BATCH, epochs=EPOCHS, verbose=0, shuffle=True)
    seconds = time.time() - start
    clip_scores = np.concatenate([keras.ops.convert_to_numpy(model(x_test[i:i + 256]))
                                  for i in range(0, len(x_test), 256)])
    _, rec_scores = aggregate_clip_scores(clip_scores, test_ids)
    results.append({
        "model": {"vanilla": "vanilla LSTM", "ta": "LSTM+TA", "sa": "LSTM+SA", "ta_sa": "LSTM+TA+SA"}[variant],
        "LSTM params": model.get_layer("attention_lstm").count_params(),
        "clip error (%)": 100 * (1 - accuracy(y_test, clip_scores)),
        "recording error (%)": 100 * (1 - accuracy(test.targets, rec_scores)),
        "train s": seconds,
    })
    models[variant] = model
""")

md("""
## A small Table 1

Classification error on the synthetic test recordings (clip level, and recording level after
averaging the overlapping clips' probabilities). The paper's Table 1 for reference: vanilla 2.54 /
27.4 %, TA 2.45 / 26.6 %, SA 2.38 / 25.6 %, TA+SA 2.12 / 25.3 % (LITIS Rouen / DCASE 2016).
""")

code("""
header = list(results[0])
print(" | ".join(f"{h:>19}" for h in header))
for row in results:
    print(" | ".join(f"{v:>19.2f}" if isinstance(v, float) else f"{v!s:>19}" for v in row.values()))
""")

md("""
## Temporal attention over a clip

`alpha_t` (Eq. 3) of the TA+SA model on one test clip, over the clip's log-mel spectrogram.
""")

code("""
model = models["ta_sa"]
clip = x_test[:1]
alpha = keras.ops.convert_to_numpy(model.attention_weights(clip))[0]
fig, ax = plt.subplots(figsize=(8, 3.2))
ax.imshow(clip[0].T, origin="lower", aspect="auto", cmap="magma")
ax.set_xlabel("frame (hop 220 samples)")
ax.set_ylabel("mel band")
ax.set_title(f"alpha_t over the log-mel of a '{classes[int(np.argmax(y_test[0]))]}' clip")
ax2 = ax.twinx()
ax2.plot(alpha, color="cyan", linewidth=2)
ax2.set_ylabel("alpha_t")
ax2.set_ylim(0, alpha.max() * 1.1)
fig.tight_layout()
print("alpha sums to", float(alpha.sum()))
""")

write("zhang2018_attention_lstm.ipynb")
