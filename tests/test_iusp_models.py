"""VGGishTeacher and CNNLSTMStudent (Chang et al. 2020, Sec. 4.1, Table 1-2), on the kit's template:
basics (round trip, gradients, overfitting, bad arguments) -> LiteRT (full-int8 students) ->
presets -> paper fidelity (parameter counts, shapes, the teacher's max over time)."""

import os

import numpy as np
import pytest

from keras_audioattn.models import CNNLSTMStudent, VGGishTeacher
from keras_audioattn.models.cnn_lstm_student import PAPER_PRESETS as STUDENT_PRESETS
from keras_audioattn.models.vggish_teacher import PAPER_PRESETS as TEACHER_PRESETS
from tests import kit
from tests.helpers import assert_overfits, run_model_test

SR = 8000
# Table 2 (millions of parameters).
TABLE2 = {"teacher": 3.96, 128: 0.742, 64: 0.355, 32: 0.173, 16: 0.086}


# --- basics -----------------------------------------------------------------------------------


def tiny_student(**kw):
    """The ``chang2020-student-tiny`` preset (LSTM 4, 3 filters, 8 mel bins, max readout), 0.5 s at 8 kHz."""
    return CNNLSTMStudent.from_preset("chang2020-student-tiny", **{"num_classes": 3, "sample_rate": SR,
                                                                  "num_samples": 4000, **kw})


def tiny_teacher(**kw):
    """The ``chang2020-teacher-tiny`` preset (blocks 4 / 6 / 8, 16 mel bins), 0.5 s at 8 kHz."""
    return VGGishTeacher.from_preset("chang2020-teacher-tiny", **{"num_classes": 3, "sample_rate": SR,
                                                                 "num_samples": 4000, **kw})


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(1)
    x = (0.1 * rng.normal(size=(3, SR // 2))).astype("float32")
    y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]], "float32")
    return x, y


def tiny_student_mean(**kw):
    return tiny_student(readout="mean", **kw)


def tiny_student_last(**kw):  # Table 1's last-state readout, the class default
    return tiny_student(readout="last", **kw)


def tiny_teacher_pooled(**kw):
    return tiny_teacher(pooling="time_freq", normalize_inputs=True, **kw)


@pytest.mark.parametrize("builder", [tiny_student, tiny_teacher, tiny_student_mean, tiny_student_last,
                                     tiny_teacher_pooled])
def test_round_trip_and_gradients(builder, batch, tmp_path):
    x, _ = batch
    model = builder()
    out = model(x)
    assert tuple(out.shape) == (3, 3) and np.all((np.asarray(out) > 0) & (np.asarray(out) < 1))
    run_model_test(model, x, tmp_path)


def test_bad_arguments():
    with pytest.raises(ValueError, match="lstm_units"):
        CNNLSTMStudent(lstm_units=0)
    with pytest.raises(ValueError, match="num_mel_bins`=4"):
        CNNLSTMStudent(num_mel_bins=4)
    with pytest.raises(ValueError, match="padding"):
        CNNLSTMStudent(padding="causal")
    with pytest.raises(ValueError, match="shorter than one STFT frame"):
        CNNLSTMStudent(clip_duration=0.001)
    with pytest.raises(ValueError, match="num_classes"):
        VGGishTeacher(num_classes=0)
    with pytest.raises(ValueError, match="too small"):
        VGGishTeacher(num_mel_bins=4)
    with pytest.raises(ValueError, match="unknown preset"):
        CNNLSTMStudent.from_preset("lstm-7")
    with pytest.raises(ValueError, match="readout"):
        CNNLSTMStudent(readout="attention")
    with pytest.raises(ValueError, match="pooling"):
        VGGishTeacher(pooling="mean")


@pytest.mark.parametrize("cls", [CNNLSTMStudent, VGGishTeacher])
def test_model_contract_unknown_argument_dtype_and_deprecated_alias(cls):
    """AudioModel contract: an unknown argument is refused, the config holds the dtype, the old
    ``clip_duration`` (seconds) still works as a deprecated alias of ``num_samples``, and the
    output is named ``scores`` (the output Dense keeps its name ``predictions``)."""
    build = tiny_student if cls is CNNLSTMStudent else tiny_teacher
    with pytest.raises(TypeError, match="unknown argument `bogus`"):
        build(bogus=1)
    model = build()
    config = model.get_config()
    assert config["dtype"]["config"]["name"] == "float32" and config["num_samples"] == 4000
    assert "clip_duration" not in config and model.clip_duration == 0.5
    assert model.output_names == ["scores"] and model.get_layer("predictions").count_params() > 0
    kwargs = {k: v for k, v in config.items() if k not in ("num_samples", "dtype", "name", "trainable")}
    with pytest.warns(DeprecationWarning, match="`clip_duration` is deprecated, use `num_samples`"):
        old = cls(**kwargs, clip_duration=0.25)
    assert old.get_config()["num_samples"] == 2000 and tuple(old.input.shape) == (None, 2000)
    with pytest.raises(TypeError, match="pass only `num_samples`"):
        build(clip_duration=0.5)


def test_embeddings_and_log_mel_input():
    student = tiny_student(include_top=False)
    assert tuple(student.output.shape) == (None, 4)
    teacher = tiny_teacher(include_top=False, include_front_end=False)
    assert teacher.num_mel_bins == 16  # the tiny preset's
    assert tuple(teacher.input.shape) == (None, None, 16) and tuple(teacher.output.shape) == (None, 8)


@pytest.mark.parametrize("readout", ["last", "mean", "max"])
def test_student_sequence_outputs_and_readouts(readout):
    import keras
    student = tiny_student(readout=readout, sequence_outputs=True)
    x = (0.1 * np.random.default_rng(6).normal(size=(2, SR // 2))).astype("float32")
    steps = student.get_layer("conv").output.shape[1]
    assert tuple(student.get_layer("lstm").output.shape) == (None, steps, 4)  # a hint with a time axis
    seq = np.asarray(keras.Model(student.inputs, student.get_layer("lstm").output)(x))
    pooled = np.asarray(keras.Model(student.inputs, student.get_layer("readout").output)(x))
    want = {"last": seq[:, -1], "mean": seq.mean(axis=1), "max": seq.max(axis=1)}[readout]
    np.testing.assert_allclose(pooled, want, rtol=1e-5, atol=1e-7)
    if readout == "last":  # the same maths as the plain last-state LSTM with the same weights
        plain = tiny_student_last()
        plain.set_weights(student.get_weights())
        np.testing.assert_allclose(np.asarray(plain(x)), np.asarray(student(x)), rtol=1e-5, atol=1e-6)
    assert tiny_student(readout="mean").get_layer("lstm").return_sequences


@pytest.mark.parametrize("builder", [tiny_student, tiny_student_last, tiny_teacher])
def test_overfits_tiny_batch(builder, batch):
    _, y = batch
    import keras

    # Distinct tones per clip: without the (optional) input BatchNorm, three white-noise clips
    # give nearly identical raw log-mels, which no model separates in 40 steps.
    t = np.arange(SR // 2) / SR
    rng = np.random.default_rng(7)
    x = np.stack([0.2 * np.sin(2 * np.pi * f * t) + 0.01 * rng.normal(size=t.size) for f in (300, 900, 2500)])
    x = x.astype("float32")

    # 60 epochs: the 4-unit tiny student with the presets' max readout reaches 0.21x its start loss in 40.
    assert_overfits(builder(), x, y, epochs=60, loss="binary_crossentropy", jit_compile=False,
                    optimizer=keras.optimizers.Adam(3e-2))


# --- LiteRT -----------------------------------------------------------------------------------


def test_student_full_int8_tflite(batch, tmp_path):
    """The issue's requirement: a (tiny) student becomes a full-int8 .tflite that passes the
    exporter's own checks (builtin ops, runs in LiteRT, matches Keras within tolerance)."""
    export = pytest.importorskip("export")
    from tests.helpers import assert_tflite_builtin_only, run_tflite

    x, _ = batch
    student = tiny_student()
    rng = np.random.default_rng(2)
    calibration = (0.1 * rng.normal(size=(16, SR // 2))).astype("float32")
    path = export.to_tflite(student, str(tmp_path / "student_int8.tflite"), quantization="int8",
                            representative_data=calibration, labels=["a", "b", "c"])
    ops = assert_tflite_builtin_only(path)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops and "WHILE" not in ops
    got = run_tflite(path, x[:1])[0]
    np.testing.assert_allclose(got, np.asarray(student(x[:1])), atol=0.15)


@pytest.mark.parametrize("readout", ["mean", "max"])
def test_lstm16_10s_int8_with_pooled_readout(readout, tmp_path):
    """The new students (pooled readout, sequence LSTM) still pass every export check in full int8,
    and the paper's LSTM-16 on 10 s clips stays <= 100 KB."""
    export = pytest.importorskip("export")
    from tests.helpers import assert_tflite_builtin_only

    student = CNNLSTMStudent(lstm_units=16, num_samples=160_000, readout=readout)
    rng = np.random.default_rng(4)
    calibration = (0.05 * rng.normal(size=(4, 160000))).astype("float32")
    path = export.to_tflite(student, str(tmp_path / f"lstm16_{readout}.tflite"), quantization="int8",
                            representative_data=calibration, labels=[str(i) for i in range(8)])
    ops = assert_tflite_builtin_only(path)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops and "WHILE" not in ops
    assert os.path.getsize(path) <= 100 * 1024


# --- presets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", kit.presets_of("chang2020-student") + kit.presets_of("chang2020-teacher"))
def test_presets(name):
    # The forward pass of each distinct tiny configuration runs in tests/test_preset_kit.py.
    model = kit.run_preset_test(name, forward=False)
    assert isinstance(model, (CNNLSTMStudent, VGGishTeacher)) and name in type(model).presets


# --- paper fidelity ---------------------------------------------------------------------------


def lstm_params(inputs, units):
    return 4 * units * (inputs + units + 1)  # Keras: one bias per gate


def student_params(units, mel=20, filters=32, k=5, s=2, classes=8):
    freq = (mel - k) // s + 1
    return k * k * filters + filters + lstm_params(freq * filters, units) + units * classes + classes


@pytest.mark.parametrize("units", [128, 64, 32, 16])
def test_student_paper_configuration(units):
    model = CNNLSTMStudent(lstm_units=units, num_samples=160_000)  # 10 s at 16 kHz
    assert model.count_params() == student_params(units) and model.readout == "last"  # Table 1 as written
    # 10 s at 16 kHz, 25 ms / 10 ms -> 998 x 20 log-mel (Sec. 4.2) -> conv 5x5/2 valid -> 497 x 8 x 32.
    assert tuple(model.get_layer("log_mel").output.shape) == (None, 998, 20)
    assert tuple(model.get_layer("conv").output.shape) == (None, 497, 8, 32)
    assert tuple(model.get_layer("lstm").output.shape) == (None, units)
    # Table 2's counts are ~3.7-4.6x ours: they imply an LSTM input of about 1312 = 41 x 32
    # features per step instead of 8 x 32 (see docs/chang2020.md). With 85 mel bins (41 conv
    # rows) the same architecture lands within 0.5 % of every Table 2 figure.
    wide = student_params(units, mel=85)
    assert abs(wide / 1e6 - TABLE2[units]) / TABLE2[units] < 0.005
    assert model.count_params() / 1e6 < TABLE2[units] / 3
    # The "Table 2" preset is that configuration; the text's preset keeps 20 bins, no input norm.
    table2 = CNNLSTMStudent.from_preset(f"chang2020-table2-lstm{units}")
    assert table2.count_params() == wide and table2.num_mel_bins == 85
    text = CNNLSTMStudent.from_preset(f"chang2020-student-lstm{units}")
    assert text.count_params() == student_params(units) and not text.normalize_inputs
    # Issue 15: the presets' readout is the max over the LSTM's states (the last state does not
    # train on 10 s clips at Adam 1e-4: bench/chang2020_student_recipe.py, docs/chang2020.md).
    for preset in (text, table2):
        assert preset.readout == "max" and preset.get_layer("lstm").return_sequences
        assert tuple(preset.get_layer("readout").output.shape) == (None, units)
    assert CNNLSTMStudent.from_preset("chang2020-student-tiny").readout == "max"  # tiny_of lstm16


def test_teacher_paper_configuration():
    """The DCASE 2019 Task 5 second-place system (bongjun/dcase2019-task5 model_architecture.py):
    VGGish convs, max over time only, flatten 8 x 512 = 4096, dense 2048 -> 128 -> 8."""
    model = VGGishTeacher.from_preset("chang2020-teacher", num_samples=160_000)  # the data settings' 10 s
    convs = [(1, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512)]
    want = sum(9 * i * o + o for i, o in convs) + 4096 * 2048 + 2048 + 2048 * 128 + 128 + 128 * 8 + 8
    assert model.count_params() == want == 13_153_672  # Table 2: 3.96 M (see docs/chang2020.md)
    assert not model.normalize_inputs and model.pooling == "time"
    shapes = {n: tuple(model.get_layer(n).output.shape) for n in ("pool1", "pool2", "pool3", "time_max", "flatten")}
    assert shapes == {"pool1": (None, 499, 32, 64), "pool2": (None, 249, 16, 128),
                      "pool3": (None, 124, 8, 256), "time_max": (None, 8, 512), "flatten": (None, 4096)}
    # The earlier head (max over time and mel) stays available as an option.
    pooled = VGGishTeacher.from_preset("chang2020-teacher", pooling="time_freq")
    assert pooled.count_params() == want - 4096 * 2048 + 512 * 2048 == 5_813_640
    assert tuple(pooled.get_layer("global_max").output.shape) == (None, 512)
    assert set(TEACHER_PRESETS["chang2020-teacher"]) >= {"model", "training", "data", "paper"}
    assert sorted(STUDENT_PRESETS) == sorted([f"chang2020-student-lstm{u}" for u in (128, 64, 32, 16)]
                                             + [f"chang2020-table2-lstm{u}" for u in (128, 64, 32, 16)])


def test_teacher_time_max_matches_numpy():
    teacher = tiny_teacher(include_top=False)
    x = (0.1 * np.random.default_rng(5).normal(size=(2, SR // 2))).astype("float32")
    import keras
    conv = keras.Model(teacher.inputs, teacher.get_layer("time_max").input)(x)  # the last conv block's output
    got = keras.Model(teacher.inputs, teacher.get_layer("flatten").output)(x)
    np.testing.assert_allclose(np.asarray(got), np.asarray(conv).max(axis=1).reshape(2, -1), rtol=1e-6)


def _tiny_10s_task(n, seed):
    """Two tags on 10 s clips at 16 kHz, each present with probability 1/2, at a random time:
    a 1 kHz beep train (1 s) and a 3-4 kHz noise burst (0.5 s), over faint noise."""
    rng = np.random.default_rng(seed)
    sr, samples = 16000, 160000
    x = 0.003 * rng.normal(size=(n, samples))
    y = (rng.random((n, 2)) < 0.5).astype("float32")
    t = np.arange(sr) / sr
    beeps = np.sin(2 * np.pi * 1000 * t) * ((t % 0.2) < 0.1)
    spectrum = np.fft.rfft(rng.normal(size=sr // 2))
    freqs = np.fft.rfftfreq(sr // 2, 1 / sr)
    burst = np.fft.irfft(spectrum * ((freqs > 3000) & (freqs < 4000)), n=sr // 2)
    burst /= np.abs(burst).max()
    for i in range(n):
        for k, event in enumerate((beeps, burst)):
            if y[i, k]:
                start = rng.integers(0, samples - event.size)
                x[i, start:start + event.size] += 0.1 * event
    return x.astype("float32"), y


def test_10s_student_learns_a_tiny_task():
    """10 s clips (497 LSTM steps), the paper's 20-bin features, no input normalisation: the
    ``chang2020-student-lstm16`` preset (max readout) separates two tags on held-out clips within
    a few dozen steps."""
    import keras
    from keras_audioattn.metrics import dcase2019_task5_auprc

    keras.utils.set_random_seed(0)
    x, y = _tiny_10s_task(24, 0)
    x_test, y_test = _tiny_10s_task(12, 1)
    student = CNNLSTMStudent.from_preset("chang2020-student-lstm16", num_classes=2, num_samples=160_000)
    assert student.readout == "max"
    student.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    student.fit(x, y, batch_size=8, epochs=12, verbose=0)
    chance = float(dcase2019_task5_auprc(y_test, np.full_like(y_test, 0.5)))
    got = float(dcase2019_task5_auprc(y_test, np.asarray(student.predict(x_test, verbose=0))))
    assert got > chance + 0.3, (got, chance)
