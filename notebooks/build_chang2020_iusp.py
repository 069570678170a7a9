"""Builds notebooks/chang2020_iusp.ipynb (run: .venv/bin/python notebooks/build_chang2020_iusp.py).

Execute afterwards with
  AUDIOATTN_SMALL=1 .venv/bin/python -m jupyter nbconvert --to notebook --execute --inplace notebooks/chang2020_iusp.ipynb
"""

from nbbuild import code, md, write


md("""
# Chang et al. 2020 — IUSP knowledge distillation into CNN-LSTM students

A miniature of the paper's experiment (Sec. 4, Table 3) on the built-in synthetic tagging set
(8 DCASE 2019 Task 5-like classes): train a VGGish-style teacher, distil CNN-LSTM students under
the five objectives of Sec. 4.3 (`BCE`, `BCE+KD`, `BCE+KD+SP`, `BCE+KD+IUSP`,
`BCE+KD+SP+IUSP`), score them with the DCASE 2019 Task 5 micro-AUPRC, look at the
intra-utterance similarity matrices (Fig. 1 style), and export a student to a full-int8 .tflite.

With `AUDIOATTN_SMALL=1` (the test suite) everything is tiny: 0.5 s clips, a two-block teacher,
one LSTM size and a few epochs, so the numbers say nothing about the method — they show the
pipeline runs. Unset it for the fuller configuration (10 s clips, all four LSTM sizes; the
teacher is still a reduced VGGish, since the 5.8 M-parameter one does not train on a 2-core CPU).
""")

code("""
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import time
import numpy as np
import keras
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from keras_audioattn.data.synthetic import synthesize
from keras_audioattn.distillation import SETUPS, Distiller
from keras_audioattn.losses import IntraUtteranceSimilarityLoss, resize_time_freq
from keras_audioattn.metrics import dcase2019_task5_auprc
from keras_audioattn.models import CNNLSTMStudent, VGGishTeacher

SMALL = os.environ.get("AUDIOATTN_SMALL") == "1"
keras.utils.set_random_seed(0)
if SMALL:
    cfg = dict(num_clips=20, n_test=8, duration=0.5, teacher_blocks=[[8], [16]], teacher_dense=[16],
               units=[16], teacher_epochs=4, epochs=3, eager=True)
else:
    cfg = dict(num_clips=400, n_test=100, duration=10.0, teacher_blocks=[[16], [32], [64, 64]],
               teacher_dense=[128], units=[128, 64, 32, 16], teacher_epochs=30, epochs=30, eager=False)
data = synthesize("tagging", cfg["num_clips"], seed=3, duration=cfg["duration"])
x = np.asarray(data.waveforms, np.float32)
y = np.asarray(data.targets, np.float32)
x_test, y_test, x_train, y_train = x[:cfg["n_test"]], y[:cfg["n_test"]], x[cfg["n_test"]:], y[cfg["n_test"]:]
print(x_train.shape, x_test.shape, data.class_names)
""")

md("""
## Teacher

`VGGishTeacher` (paper: VGGish convs 64-128-256-256-512-512, global max, dense 2048-128-8, 64-mel
log-mel 25 ms / 10 ms). Here a reduced block list, trained with BCE.
""")

code("""
teacher = VGGishTeacher(num_classes=8, blocks=cfg["teacher_blocks"], dense_units=cfg["teacher_dense"],
                        clip_duration=cfg["duration"])
teacher.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", run_eagerly=cfg["eager"])
t0 = time.time()
teacher.fit(x_train, y_train, batch_size=8, epochs=cfg["teacher_epochs"], verbose=0)
teacher_auprc = dcase2019_task5_auprc(y_test, np.asarray(teacher(x_test, training=False)), average="micro")
print(f"teacher: {teacher.count_params():,} parameters, micro-AUPRC {teacher_auprc:.3f} ({time.time() - t0:.0f} s)")
print("hint layers:", [n for n in ("pool1", "pool2", "pool3", "global_max") if n in [l.name for l in teacher.layers]])
""")

md("""
## Students under the five setups (miniature Table 3)

`Distiller.from_setup(name, teacher, student)` uses the paper's weights (α = 1, 10, 10, 1) and
hint layers (SP: teacher `pool2` ↔ student `conv`; IUSP alone: `pool1` ↔ `conv`; both:
`pool2` ↔ `conv`). A teacher without `pool2` (the small one) falls back to `pool1`.
""")

code("""
teacher_layers = [l.name for l in teacher.layers]
results, students = {}, {}
for units in cfg["units"]:
    for setup in SETUPS:
        keras.utils.set_random_seed(1)  # same initial student for every setup
        student = CNNLSTMStudent(num_classes=8, lstm_units=units, clip_duration=cfg["duration"])
        overrides = {}
        for key in ("sp_hints", "iusp_hints"):
            overrides[key] = [(t if t in teacher_layers else "pool1", s) for t, s in SETUPS[setup][key]]
        distiller = Distiller.from_setup(setup, teacher, student, **overrides)
        distiller.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=cfg["eager"])
        hist = distiller.fit(x_train, y_train, batch_size=8, epochs=cfg["epochs"], verbose=0)
        scores = np.asarray(student(x_test, training=False))
        results[(setup, units)] = dcase2019_task5_auprc(y_test, scores, average="micro")
        students[(setup, units)] = student
        last = {k: round(v[-1], 4) for k, v in hist.history.items() if k.endswith("_loss")}
        print(f"LSTM {units:3d} {setup:15s} micro-AUPRC {results[(setup, units)]:.3f}  last-epoch terms {last}")

header = "| setup | " + " | ".join(f"LSTM {u}" for u in cfg["units"]) + " |"
lines = [header, "|---|" + "---|" * len(cfg["units"])]
for setup in SETUPS:
    lines.append(f"| {setup.upper()} | " + " | ".join(f"{results[(setup, u)]:.3f}" for u in cfg["units"]) + " |")
lines.append(f"| teacher | {teacher_auprc:.3f} |" + " |" * (len(cfg["units"]) - 1))
display(Markdown("\\n".join(lines)))
""")

md("""
## Intra-utterance similarity matrices (Fig. 1 style)

For one test clip: the student's log-mel, the sharpened similarity `G~ = sigmoid(10 (G - 0.5))`
(Eq. 3, 6) of the teacher's hint map (bilinearly resized to the student's size, Sec. 2.2) and of
the IUSP-distilled student's `conv` map. The default normalisation follows Eq. 3 as written
(each channel map to unit norm), which makes `G` small for long clips; the `frame` normalisation
(cosine similarity of frames) is shown too because it shows the repetition structure directly.
""")

code("""
units = cfg["units"][-1]
student = students[("bce+kd+sp+iusp", units)]
clip = x_test[:1]
t_hint = keras.Model(teacher.inputs[0], teacher.get_layer("pool1").output)(clip)
s_hint = keras.Model(student.inputs[0], student.get_layer("conv").output)(clip)
t_hint = resize_time_freq(t_hint, s_hint.shape[1], s_hint.shape[2])
log_mel = keras.Model(student.inputs[0], student.get_layer("log_mel").output)(clip)[0]
fig, axes = plt.subplots(1, 5, figsize=(17, 3.2))
axes[0].imshow(np.asarray(log_mel).T, origin="lower", aspect="auto"); axes[0].set_title("student log-mel")
for ax, (title, hint, norm) in zip(axes[1:], [("teacher G~ (Eq. 3)", t_hint, "channel_map"),
                                              ("student G~ (Eq. 3)", s_hint, "channel_map"),
                                              ("teacher G~ (frame cosine)", t_hint, "frame"),
                                              ("student G~ (frame cosine)", s_hint, "frame")]):
    g = np.asarray(IntraUtteranceSimilarityLoss(normalization=norm).similarity(hint))[0]
    ax.imshow(g, cmap="magma", vmin=0, vmax=1); ax.set_title(title)
print("labels of this clip:", [n for n, v in zip(data.class_names, y_test[0]) if v])
plt.tight_layout(); plt.show()
""")

md("""
## Full-int8 TFLite export and its agreement

`export.to_tflite(student, ..., quantization="int8")` traces the Keras 3 student with a `tf_keras`
LSTM twin that TFLite fuses into `UNIDIRECTIONAL_SEQUENCE_LSTM`, keeps the log-mel front end in
float and quantizes the rest to int8, then checks the file (builtin ops only, runs in LiteRT,
matches Keras).
""")

code("""
import tempfile
import export
from export.checks import run_tflite, tflite_ops

tmp = tempfile.mkdtemp()
path = export.to_tflite(student, os.path.join(tmp, "student_int8.tflite"), quantization="int8",
                        representative_data=x_train[:16], labels=list(data.class_names))
int8_scores = run_tflite(path, x_test, num_threads=1)["scores"]
keras_scores = np.asarray(student(x_test, training=False))
ops = sorted(set(tflite_ops(path)))
print(f"int8 .tflite: {os.path.getsize(path) / 1024:.1f} KB; LSTM op fused: {'UNIDIRECTIONAL_SEQUENCE_LSTM' in ops}")
print(f"max |int8 - Keras| score difference: {np.max(np.abs(int8_scores - keras_scores)):.4f}")
print(f"micro-AUPRC Keras {dcase2019_task5_auprc(y_test, keras_scores):.3f} vs int8 "
      f"{dcase2019_task5_auprc(y_test, int8_scores):.3f}")
""")

write("chang2020_iusp.ipynb")
