"""Builds notebooks/chang2020_iusp.ipynb (run: .venv/bin/python notebooks/build_chang2020_iusp.py).

Execute afterwards with
  AUDIOATTN_SMALL=1 .venv/bin/python -m jupyter nbconvert --to notebook --execute --inplace notebooks/chang2020_iusp.ipynb
"""

from nbbuild import code, md, write


md("""
# Chang et al. 2020 — IUSP knowledge distillation into CNN-LSTM students

What the intra-utterance similarity loss compares (Fig. 1 style matrices of the teacher's and the
student's hint maps after the sharpening of Eq. 6), how a student is distilled with
`Distiller.from_setup`, its full-int8 export, and the five setups of Sec. 4.3 as measured by
`bench/chang2020_setups.py` on the built-in synthetic tagging corpus (8 DCASE 2019 Task 5 tags).

With `AUDIOATTN_SMALL=1` (the test suite) the models here are tiny and trained for seconds, so
their matrices show the mechanics only; the setups table is read from the bench's results file
(`bench/results/chang2020_setups.json`), which the bench writes (rerun it for new figures).
""")

code("""
import json
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import time
import numpy as np
import keras
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from keras_audioattn import presets
from keras_audioattn.data.synthetic import synthesize
from keras_audioattn.distillation import Distiller
from keras_audioattn.losses import IntraUtteranceSimilarityLoss, resize_time_freq
from keras_audioattn.metrics import dcase2019_task5_auprc
from keras_audioattn.models import CNNLSTMStudent, VGGishTeacher

SMALL = os.environ.get("AUDIOATTN_SMALL") == "1"
keras.utils.set_random_seed(0)
if SMALL:
    # The teacher's convs: the chang2020-teacher-tiny preset's (the one tiny configuration).
    cfg = dict(num_clips=16, n_test=4, duration=2.0, epochs=2,
               teacher_blocks=presets.get_preset("chang2020-teacher-tiny")["model"]["blocks"])
else:
    cfg = dict(num_clips=160, n_test=30, duration=10.0, teacher_blocks=[[16], [32], [64, 64], [128, 128]], epochs=8)
data = synthesize("tagging", cfg["num_clips"], seed=3, duration=cfg["duration"])
x = np.asarray(data.waveforms, np.float32)
y = np.asarray(data.targets, np.float32)
x_test, y_test, x_train, y_train = x[:cfg["n_test"]], y[:cfg["n_test"]], x[cfg["n_test"]:], y[cfg["n_test"]:]
print(x_train.shape, x_test.shape, data.class_names)
""")

md("""
## Teacher and an IUSP-distilled student

`VGGishTeacher` has the DCASE 2019 Task 5 second-place head (max over time, flatten, dense
2048 → 128 → 8; 13.15 M parameters at VGGish width); its convs are narrowed here. The student is
`CNNLSTMStudent` (conv 32 × 5 × 5 / 2, LSTM, dense) with the presets' max-over-steps readout:
the last state Table 1 implies does not train on 10 s clips (measured, `docs/chang2020.md`). Both take the VGGish `mel_features` log-mel of Sec. 4.2.
""")

code("""
teacher = VGGishTeacher(num_classes=8, blocks=cfg["teacher_blocks"], num_samples=round(cfg["duration"] * 16000))
teacher.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
t0 = time.time()
teacher.fit(x_train, y_train, batch_size=8, epochs=cfg["epochs"], verbose=0)
print(f"teacher: {teacher.count_params():,} parameters ({time.time() - t0:.0f} s)")
student = CNNLSTMStudent.from_preset("chang2020-student-lstm16", num_samples=round(cfg["duration"] * 16000))
distiller = Distiller.from_setup("bce+kd+sp+iusp", teacher, student)
distiller.compile(optimizer=keras.optimizers.Adam(1e-3))
hist = distiller.fit(x_train, y_train, batch_size=8, epochs=cfg["epochs"], verbose=0)
print("last-epoch loss terms:", {k: round(v[-1], 4) for k, v in hist.history.items() if k.endswith("_loss")})
for name, model in (("teacher", teacher), ("student", student)):
    print(f"{name} test micro-AUPRC {dcase2019_task5_auprc(y_test, np.asarray(model(x_test))):.3f}")
""")

md("""
## Intra-utterance similarity after Eq. 6 (Fig. 1 style)

For one clip: the student's log-mel and `G~ = sigmoid(10 (G - 0.5))` of the teacher's `pool2`
map (bilinearly resized to the student's size, Sec. 2.2) and of the student's `conv` map. Top row:
the default reading, per-frame cosine similarity (`G` in [-1, 1], diagonal 1), under which
δ = 0.5 separates similar from dissimilar frames as Sec. 2.2 says. Bottom row: Eq. 3 as written
(each channel map unit-norm), whose entries shrink like channels / frames, so `G~` is nearly
constant and far below 0.5 on long clips.
""")

code("""
# The clip with the most repetitive tag (an alert signal: siren or beeps) if there is one.
alert = data.class_names.index("alert_signal")
index = int(np.argmax(y[:, alert]))
clip = x[index:index + 1]
t_hint = keras.Model(teacher.inputs[0], teacher.get_layer("pool2").output)(clip)
s_hint = keras.Model(student.inputs[0], student.get_layer("conv").output)(clip)
t_hint = resize_time_freq(t_hint, s_hint.shape[1], s_hint.shape[2])
log_mel = keras.Model(student.inputs[0], student.get_layer("log_mel").output)(clip)[0]
fig, axes = plt.subplots(2, 3, figsize=(13, 8))
for row, norm in enumerate(("frame", "channel_map")):
    axes[row, 0].imshow(np.asarray(log_mel).T, origin="lower", aspect="auto")
    axes[row, 0].set_title("student log-mel (20 bins)")
    loss = IntraUtteranceSimilarityLoss(normalization=norm)
    for col, (who, hint) in enumerate((("teacher pool2", t_hint), ("student conv", s_hint)), start=1):
        g = np.asarray(loss.similarity(hint))[0]
        axes[row, col].imshow(g, cmap="magma", vmin=0, vmax=1)
        axes[row, col].set_title(f"{who}: G~ ({norm}); {np.mean(g > 0.5):.0%} > 0.5")
print("labels of this clip:", [n for n, v in zip(data.class_names, y[index]) if v])
plt.tight_layout(); plt.show()
""")

md("""
## The five setups of Sec. 4.3 (from `bench/chang2020_setups.py --readout max`)

Students with the presets' max readout, LSTM 64 and 16. Test micro- / macro-AUPRC (DCASE 2019 Task 5 definition), mean ± sd over seeds, Keras float and
full-int8 `.tflite`. The paper's claim is BCE+KD+SP+IUSP ≥ BCE+KD+IUSP ≥ BCE+KD+SP ≥ BCE+KD ≥ BCE
(Fig. 3, Table 3); `docs/chang2020.md` discusses what the measurement shows.
""")

code("""
results = os.path.join("..", "bench", "results")
if not os.path.isdir(results):
    results = os.path.join("bench", "results")
paths = [os.path.join(results, f) for f in ("chang2020_setups_max.json", "chang2020_setups_max_lstm16.json")]
fmt = lambda m, s: "n/a" if m is None else f"{m:.3f} ± {s:.3f}"
lines = ["| LSTM | setup | n | micro | macro | int8 micro |", "|---|---|---|---|---|---|"]
for path in [p for p in paths if os.path.exists(p)]:
    with open(path) as f:
        bench = json.load(f)
    print(f"{os.path.basename(path)}: teacher micro {bench['teacher']['test']['micro']:.3f}; chance "
          f"{bench['prior']['micro']:.3f}; {bench['splits']} train/val/test clips; "
          f"{'complete' if bench.get('complete') else 'PARTIAL'}")
    for e in bench["summary"]:
        lines.append(f"| {e['units']} | {e['setup']} | {e['n']} | {fmt(e['micro_mean'], e['micro_sd'])} | "
                     f"{fmt(e['macro_mean'], e['macro_sd'])} | {fmt(e['int8_micro_mean'], e['int8_micro_sd'])} |")
if len(lines) > 2:
    display(Markdown("\\n".join(lines)))
else:
    print("no bench results yet: run python bench/chang2020_setups.py --readout max")
""")

md("""
## Full-int8 TFLite export and its agreement

`export.to_tflite(student, ..., quantization="int8")` traces the Keras 3 student with a `tf_keras`
LSTM twin that TFLite fuses into `UNIDIRECTIONAL_SEQUENCE_LSTM` (the max readout becomes a
builtin `REDUCE_MAX`), keeps the log-mel front end in float and quantizes the rest to int8, then checks
the file (builtin ops only, runs in LiteRT, matches Keras).
""")

code("""
import tempfile
import export
from export.checks import run_tflite, tflite_ops

tmp = tempfile.mkdtemp()
path = export.to_tflite(student, os.path.join(tmp, "student_int8.tflite"), quantization="int8",
                        representative_data=x_train[:8], labels=list(data.class_names))
int8_scores = run_tflite(path, x_test, num_threads=1)["scores"]
keras_scores = np.asarray(student(x_test, training=False))
ops = sorted(set(tflite_ops(path)))
print(f"int8 .tflite: {os.path.getsize(path) / 1024:.1f} KB; LSTM op fused: {'UNIDIRECTIONAL_SEQUENCE_LSTM' in ops}")
print(f"max |int8 - Keras| score difference: {np.max(np.abs(int8_scores - keras_scores)):.4f}")
""")

write("chang2020_iusp.ipynb")
