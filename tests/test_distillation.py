"""Distiller (Chang et al. 2020, Eq. 7): model.fit in every setup of Sec. 4.3, hint errors, frozen teacher."""

import keras
import numpy as np
import pytest

from keras_audioattn.distillation import SETUPS, Distiller
from keras_audioattn.losses import IntraUtteranceSimilarityLoss, KnowledgeDistillationLoss, SimilarityPreservingLoss
from keras_audioattn.models import CNNLSTMStudent, VGGishTeacher

SR = 8000
NUM_CLASSES = 3


def tiny_teacher():
    return VGGishTeacher(num_classes=NUM_CLASSES, blocks=[[4], [6], [8]], dense_units=[8], num_mel_bins=16,
                         sample_rate=SR, clip_duration=0.5, front_end={"frame_length": 200, "frame_step": 80,
                                                                       "fft_length": 256, "fmax": 3800.0})


def tiny_student():
    return CNNLSTMStudent(num_classes=NUM_CLASSES, lstm_units=4, conv_filters=3, num_mel_bins=8, sample_rate=SR,
                          clip_duration=0.5, front_end={"frame_length": 200, "frame_step": 80, "fft_length": 256, "fmax": 3800.0})


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = (0.1 * rng.normal(size=(4, SR // 2))).astype("float32")
    y = (rng.random((4, NUM_CLASSES)) > 0.5).astype("float32")
    return x, y


@pytest.fixture(scope="module")
def teacher():
    return tiny_teacher()


def test_every_setup_trains_with_fit(teacher, data):
    x, y = data
    teacher_weights = [w.copy() for w in teacher.get_weights()]
    for setup in SETUPS:
        student = tiny_student()
        distiller = Distiller.from_setup(setup, teacher, student)
        # Eager: 10x faster than tracing a graph per setup here; graph mode is covered below.
        distiller.compile(optimizer=keras.optimizers.Adam(1e-2), run_eagerly=True)
        before = [w.copy() for w in student.get_weights()]
        history = distiller.fit(x, y, batch_size=4, epochs=1, verbose=0)
        assert all(np.isfinite(v[-1]) for v in history.history.values()), (setup, history.history)
        # Terms switched off by a zero weight stay at 0; the others are active.
        weights = dict(zip(("bce", "kd", "sp", "iusp"), SETUPS[setup]["loss_weights"]))
        for term, weight in weights.items():
            value = history.history[f"{term}_loss"][-1]
            assert (value > 0) == (weight > 0), (setup, term, value)
        assert any(not np.array_equal(a, b) for a, b in zip(before, student.get_weights())), setup
    # The teacher is frozen: weights (incl. batch-norm statistics) untouched by six fits.
    for a, b in zip(teacher_weights, teacher.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not teacher.trainable


def test_compute_loss_is_eq7(teacher, data):
    x, y = data
    student = tiny_student()
    weights = (0.7, 3.0, 2.0, 0.5)
    distiller = Distiller(teacher, student, hints=[("pool1", "conv"), ("pool2", "conv")], loss_weights=weights,
                          temperature=2.0)
    total = float(distiller.compute_loss(x, y, training=False))
    t_feats = keras.Model(teacher.inputs[0], [teacher.output, teacher.get_layer("pool1").output,
                                           teacher.get_layer("pool2").output])(x, training=False)
    s_feats = keras.Model(student.inputs[0], [student.output, student.get_layer("conv").output])(x, training=False)
    bce = keras.losses.BinaryCrossentropy()(y, s_feats[0])
    kd = KnowledgeDistillationLoss(2.0)(t_feats[0], s_feats[0])
    sp = sum(SimilarityPreservingLoss()(t, s_feats[1]) for t in t_feats[1:])
    iusp = sum(IntraUtteranceSimilarityLoss()(t, s_feats[1]) for t in t_feats[1:])
    want = 0.7 * float(bce) + 3.0 * float(kd) + 2.0 * float(sp) + 0.5 * float(iusp)
    np.testing.assert_allclose(total, want, rtol=1e-5)


def test_trained_student_is_ordinary_model(teacher, data, tmp_path):
    x, y = data
    student = tiny_student()
    distiller = Distiller.from_setup("bce+kd+sp+iusp", teacher, student)
    # Eager here; test_distill_cli covers the traced (tf.function) train step.
    distiller.compile(optimizer="adam", run_eagerly=True)
    distiller.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_allclose(distiller.predict(x, verbose=0), student.predict(x, verbose=0), atol=1e-6)
    path = tmp_path / "student.keras"
    student.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is CNNLSTMStudent
    np.testing.assert_allclose(loaded.predict(x, verbose=0), student.predict(x, verbose=0), atol=1e-6)


def test_unknown_hint_name_lists_available(teacher):
    student = tiny_student()
    with pytest.raises(ValueError, match=r"no layer named 'pool9'.*available layers: \[.*'pool1'"):
        Distiller(teacher, student, hints=[("pool9", "conv")])
    with pytest.raises(ValueError, match=r"student .* no layer named 'convv'.*'lstm'"):
        Distiller(teacher, student, hints=[("pool1", "convv")])
    with pytest.raises(ValueError, match="unknown distillation setup"):
        Distiller.from_setup("bce+fitnet", teacher, student)
    with pytest.raises(ValueError, match="no hint pairs"):
        Distiller(teacher, student, hints=[], loss_weights=(1, 1, 1, 0))
    with pytest.raises(ValueError, match="loss_weights"):
        Distiller(teacher, student, loss_weights=(1, 1))
    with pytest.raises(ValueError, match="outputs"):
        Distiller(teacher, CNNLSTMStudent(num_classes=5, lstm_units=2, conv_filters=2, num_mel_bins=8,
                                          sample_rate=SR, clip_duration=0.5,
                                          front_end={"frame_length": 200, "frame_step": 80, "fft_length": 256, "fmax": 3800.0}))


def test_distiller_config_round_trip(teacher):
    distiller = Distiller.from_setup("bce+kd+sp+iusp", teacher, tiny_student(), temperature=3.0)
    clone = Distiller.from_config(distiller.get_config())
    assert clone.loss_weights == distiller.loss_weights == SETUPS["bce+kd+sp+iusp"]["loss_weights"]
    assert clone.sp_hints == [("pool2", "conv")] and clone.iusp_hints == [("pool2", "conv")]
    assert clone.kd.temperature == 3.0


def test_distill_cli(tmp_path, capsys):
    """`audioattn distill` end to end on a tiny synthetic tagging corpus (teacher trained first)."""
    import json

    from keras_audioattn.cli import main
    from keras_audioattn.data.synthetic import write_synthetic_corpus

    corpus = write_synthetic_corpus("tagging", tmp_path / "corpus", 10, sample_rate=SR, duration=0.5).parent
    out = tmp_path / "run"
    args = ["distill", "--teacher-preset", "chang2020-teacher", "--train", str(corpus / "train.csv"),
            "--val", str(corpus / "validation.csv"), "--student-units", "16", "--setup", "bce+kd+iusp",
            "--out", str(out), "--epochs", "1", "--teacher-epochs", "1", "--duration", "0.5",
            "--sample-rate", str(SR), "--batch-size", "4",
            "--teacher-config", json.dumps({"blocks": [[4], [4]], "dense_units": [8], "num_mel_bins": 16,
                                            "front_end": {"frame_length": 200, "frame_step": 80,
                                                          "fft_length": 256, "fmax": 3800.0}}),
            "--student-config", json.dumps({"conv_filters": 3, "num_mel_bins": 8,
                                            "front_end": {"frame_length": 200, "frame_step": 80,
                                                          "fft_length": 256, "fmax": 3800.0}})]
    assert main(args) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["setup"] == "bce+kd+iusp" and report["epochs_run"] == 1
    assert 0.0 <= report["student_val_micro_auprc"] <= 1.0
    student = keras.saving.load_model(out / "student.keras")
    assert type(student) is CNNLSTMStudent and student.lstm_units == 16
    assert (out / "teacher.keras").exists()
    # One trainer (issue 17): both models trained by training.train, into run folders of --out.
    student_run = json.loads((out / "student" / "config.json").read_text())
    assert student_run["completed"] and student_run["preset"] == "chang2020-student-lstm16"
    assert student_run["training"]["distillation_setup"] == "bce+kd+iusp"
    assert student_run["training"]["distillation_teacher"] == str(out / "teacher" / "model.keras")
    assert (out / "student.keras").read_bytes() == (out / "student" / "model.keras").read_bytes()
    # Bad arguments: a clear message and exit status 2, before any training.
    assert main(args[:9] + ["--setup", "bce+fitnet", "--out", str(tmp_path / "x")]) == 2
    assert "--setup must be one of" in capsys.readouterr().err
