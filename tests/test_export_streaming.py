"""Streaming (stateful, one chunk per call) TFLite export of CNN-LSTM students, and ``audioattn stream``."""

import os

import numpy as np
import pytest

import export
from export.streaming import StreamingRunner, _assert_int8_network, _op_outputs_all, offline_reference, streaming_plan
from keras_audioattn.models import CNNLSTMStudent

RATE = 16000
CHUNK = 0.1


@pytest.fixture(scope="module")
def student():
    import keras

    keras.utils.set_random_seed(3)
    # 0.6 s clips (6 chunks of 100 ms); 20 mel, 4 filters, LSTM 8: the Chang student in miniature.
    return CNNLSTMStudent(num_classes=3, lstm_units=8, num_mel_bins=20, conv_filters=4, clip_duration=0.6)


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(0)
    t = np.arange(int(0.6 * RATE)) / RATE
    return np.stack([0.3 * np.sin(2 * np.pi * rng.uniform(200, 3000) * t) * (i % 2)
                     + rng.uniform(0.01, 0.2) * rng.standard_normal(t.size) for i in range(4)]).astype(np.float32)


@pytest.fixture(scope="module")
def files(student, clips, tmp_path_factory):
    folder = tmp_path_factory.mktemp("streaming")
    out = {}
    for state in ("internal", "external"):
        out[state] = export.to_streaming_tflite(student, str(folder / f"{state}.tflite"), CHUNK, "float32", clips[:2],
                                                labels=["a", "b", "c"], state=state)
    return out


def test_plan_geometry_of_the_chang_student():
    model = CNNLSTMStudent(num_classes=8, lstm_units=16, clip_duration=10.0)
    plan = streaming_plan(model, 0.1)
    # 400-sample frames every 160, 5x5 stride-2 conv: one LSTM step per 320 samples reads 1040.
    assert (plan.step_samples, plan.window_samples, plan.steps_per_chunk) == (320, 1040, 5)
    assert (plan.buffer_samples, plan.warmup_steps) == (960, 3)
    with pytest.raises(ValueError, match="whole number of LSTM steps"):
        streaming_plan(model, 0.03)


def test_same_padded_conv_is_refused():
    model = CNNLSTMStudent(num_classes=2, lstm_units=4, padding="same", clip_duration=0.5)
    with pytest.raises(ValueError, match="right context"):
        streaming_plan(model, 0.1)


@pytest.mark.parametrize("state", ["internal", "external"])
def test_streamed_scores_equal_offline_after_every_chunk(files, student, clips, state):
    runner = StreamingRunner(files[state])
    assert runner.external == (state == "external")
    plan = streaming_plan(student, CHUNK)
    wave = clips[3]
    streamed = runner.stream(wave)
    assert streamed.shape == (6, 3)
    for n in range(1, 7):  # after n chunks: the Keras layers on the first n * 100 ms
        want = offline_reference(plan, student, wave[: n * plan.chunk_samples])
        np.testing.assert_allclose(streamed[n - 1], want, atol=1e-4)
    np.testing.assert_allclose(streamed[-1], np.asarray(student(wave[None]))[0], atol=1e-4)


def test_internal_state_file_has_only_the_chunk_as_input(files):
    from export.checks import interpreter

    it = interpreter(files["internal"])
    assert it.get_signature_list()["serving_default"] == {"inputs": ["waveform"], "outputs": ["scores"]}
    assert [tuple(d["shape"]) for d in it.get_input_details()] == [(1, 1600)]
    assert export.read_metadata(files["internal"])["labels"] == ["a", "b", "c"]


def test_reset_clears_state(files, clips):
    runner = StreamingRunner(files["internal"])
    fresh = runner.stream(clips[1])
    runner.stream(clips[0])  # another recording first
    continued = runner.stream(clips[1], reset=False)
    assert np.max(np.abs(continued - fresh)) > 1e-4  # the state really carries over ...
    np.testing.assert_array_equal(runner.stream(clips[1]), fresh)  # ... and reset() clears it


def test_int8_internal_state_matches_keras(student, clips, tmp_path):
    path = export.to_streaming_tflite(student, str(tmp_path / "int8.tflite"), 0.2, "int8", clips, state="internal",
                                      check=False)
    report = export.check_streaming_tflite(path, student, "int8", waveforms=list(clips[2:]), chunk_seconds=0.2)
    assert max(report["max_abs_error"].values()) <= export.TOLERANCES["int8"]
    assert "QUANTIZE" in report["ops"] and "READ_VARIABLE" in report["ops"]
    assert not any(op.startswith("Flex") for op in report["ops"])
    # The output layer is float: scores are not on the 1/256 grid of an int8 sigmoid.
    scores = StreamingRunner(path).stream(clips[0])
    assert np.max(np.abs(scores * 256 - np.round(scores * 256))) > 1e-3
    # The default lstm_cell="float" keeps the cell's elementwise maths float.
    with pytest.raises(export.ExportCheckError, match="left float"):
        _assert_int8_network(_read(path), cell=True)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def test_int8_cell_is_integer_and_matches_keras(student, clips, tmp_path):
    path = export.to_streaming_tflite(student, str(tmp_path / "int8_cell.tflite"), 0.2, "int8", clips,
                                      state="external", lstm_cell="int8", check=False)
    report = export.check_streaming_tflite(path, student, "int8", waveforms=list(clips[2:]), chunk_seconds=0.2)
    assert max(report["max_abs_error"].values()) <= export.TOLERANCES["int8"]
    _assert_int8_network(_read(path), cell=True)
    cell = [(op, dtype) for op, name, dtype in _op_outputs_all(_read(path)) if "lstm_cell/" in name.split(";")[0]]
    elementwise = [(op, dtype) for op, dtype in cell if op in ("LOGISTIC", "TANH", "MUL", "ADD")]
    # (the WHILE loop's step counter is an int32 ADD)
    assert elementwise and not [e for e in elementwise if e[1].startswith("float")], elementwise


def _lstm_sequence(student, wave):
    """The Keras LSTM's whole output sequence ``(steps, units)`` on ``wave`` (any length)."""
    x = np.asarray(wave, np.float32)[None]
    for layer in student.layers[1:]:
        x = layer(x)
        if layer.name == "lstm":
            return np.asarray(x)[0]
    raise AssertionError("no layer named 'lstm'")


@pytest.fixture(scope="module")
def pooled_students():
    import keras

    out = {}
    for readout in ("mean", "max"):
        keras.utils.set_random_seed(3)
        out[readout] = CNNLSTMStudent(num_classes=3, lstm_units=8, num_mel_bins=20, conv_filters=4,
                                      num_samples=int(0.6 * RATE), readout=readout)
    return out


@pytest.fixture(scope="module")
def pooled_files(pooled_students, clips, tmp_path_factory):
    folder = tmp_path_factory.mktemp("streaming_pooled")
    # check=False: the tests below compare these files with Keras after every chunk themselves.
    return {(readout, state): export.to_streaming_tflite(model, str(folder / f"{readout}_{state}.tflite"), CHUNK,
                                                         "float32", clips[:2], state=state, check=False)
            for readout, model in pooled_students.items() for state in ("internal", "external")}


def test_plan_of_pooled_readouts(pooled_students):
    for readout, model in pooled_students.items():
        plan = streaming_plan(model, CHUNK)
        assert plan.readout == readout and plan.readout_layer is model.get_layer("readout")
        extra = {"mean": ("readout_sum", "readout_count"), "max": ("readout_max", "readout_count")}[readout]
        assert plan.state_names == ("samples", "valid", "h", "c") + extra
        assert plan.state_shapes[extra[0]] == (1, 8) and plan.state_shapes["readout_count"] == (1, 1)
    # sequence_outputs=True with the last-state readout: no extra state.
    last = CNNLSTMStudent(num_classes=2, lstm_units=4, num_mel_bins=20, conv_filters=2, sequence_outputs=True)
    plan = streaming_plan(last, CHUNK)
    assert plan.readout == "last" and plan.state_names == ("samples", "valid", "h", "c")


def test_sequence_lstm_without_readout_is_refused(pooled_students):
    import keras

    model = pooled_students["mean"]
    frames = keras.layers.Dense(3, name="per_step")(model.get_layer("lstm").output)
    with pytest.raises(ValueError, match="followed by 'per_step'.*SequenceReadout"):
        streaming_plan(keras.Model(model.inputs, frames), CHUNK)


@pytest.mark.parametrize("readout", ["mean", "max"])
@pytest.mark.parametrize("state", ["internal", "external"])
def test_pooled_readout_streams_equal_offline_after_every_chunk(pooled_files, pooled_students, clips, readout, state):
    model = pooled_students[readout]
    runner = StreamingRunner(pooled_files[(readout, state)])
    plan = streaming_plan(model, CHUNK)
    wave = clips[3]
    streamed = []
    for n in range(1, 7):
        streamed.append(runner.push(wave[(n - 1) * plan.chunk_samples: n * plan.chunk_samples]))
        prefix = wave[: n * plan.chunk_samples]
        np.testing.assert_allclose(streamed[-1], offline_reference(plan, model, prefix), atol=1e-4)
        if state == "external":
            # The readout covers every LSTM step of the offline model on the audio so far, no warm-up step.
            sequence = _lstm_sequence(model, prefix)
            assert runner.state["readout_count"][0, 0] == len(sequence)
            pooled = (runner.state["readout_sum"][0] / len(sequence) if readout == "mean"
                      else runner.state["readout_max"][0])
            want = sequence.mean(axis=0) if readout == "mean" else sequence.max(axis=0)
            np.testing.assert_allclose(pooled, want, atol=1e-5)
    np.testing.assert_allclose(streamed[-1], np.asarray(model(wave[None]))[0], atol=1e-4)


@pytest.mark.parametrize("readout", ["mean", "max"])
def test_pooled_readout_in_a_while_loop_equals_offline(pooled_students, clips, tmp_path, readout):
    from export.checks import tflite_ops

    # 300 ms = 15 LSTM steps: a WHILE loop of 3 steps per iteration (lstm_loop="auto").
    model = pooled_students[readout]
    path = export.to_streaming_tflite(model, str(tmp_path / "loop.tflite"), 0.3, "float32", clips[:2],
                                      state="external", check=False)
    assert "WHILE" in tflite_ops(path)
    runner = StreamingRunner(path)
    plan = streaming_plan(model, 0.3)
    for n in (1, 2):
        got = runner.push(clips[3][(n - 1) * plan.chunk_samples: n * plan.chunk_samples])
        prefix = clips[3][: n * plan.chunk_samples]
        np.testing.assert_allclose(got, offline_reference(plan, model, prefix), atol=1e-4)
        assert runner.state["readout_count"][0, 0] == len(_lstm_sequence(model, prefix))


@pytest.mark.parametrize("readout", ["mean", "max"])
def test_reset_clears_the_readout_state(pooled_files, clips, readout):
    runner = StreamingRunner(pooled_files[(readout, "internal")])
    fresh = runner.stream(clips[1])
    runner.stream(clips[0])
    continued = runner.stream(clips[1], reset=False)
    assert np.max(np.abs(continued - fresh)) > 1e-4
    np.testing.assert_array_equal(runner.stream(clips[1]), fresh)


# 200 ms = 10 LSTM steps: a WHILE loop (2 steps per iteration); 100 ms: unrolled (lstm_loop="auto").
@pytest.mark.parametrize("readout, state, chunk", [("mean", "external", 0.2), ("max", "internal", 0.1)])
def test_int8_pooled_readout_matches_keras(pooled_students, clips, tmp_path, readout, state, chunk):
    model = pooled_students[readout]
    path = export.to_streaming_tflite(model, str(tmp_path / "pooled_int8.tflite"), chunk, "int8", clips, state=state,
                                      check=False)
    report = export.check_streaming_tflite(path, model, "int8", waveforms=list(clips[2:]), chunk_seconds=chunk)
    assert max(report["max_abs_error"].values()) <= export.TOLERANCES["int8"]
    # The running sum / max stays float (its range grows with the recording).
    readout_ops = [(op, dtype) for op, name, dtype in _op_outputs_all(_read(path)) if "sequence_readout/" in name]
    assert readout_ops and all(not dtype.startswith("int") for _, dtype in readout_ops)


def test_stream_cli_prints_timestamped_detections(files, clips, tmp_path, capsys):
    import soundfile as sf

    from keras_audioattn.cli import main

    wav = str(tmp_path / "clip.wav")
    sf.write(wav, np.concatenate([clips[0], clips[1]]), RATE)
    plot = str(tmp_path / "scores.png")
    assert main(["stream", "--model", files["internal"], wav, "--threshold", "0.05", "--chunk", "0.2",
                 "--plot", plot]) == 0
    out = capsys.readouterr().out
    onsets = [line for line in out.splitlines() if " s  onset " in line]
    assert onsets and onsets[0].split()[0] == "0.20"  # first buffer ends at 0.2 s
    assert "real-time factor" in out and "per-buffer latency" in out
    assert os.path.getsize(plot) > 1000
    assert main(["stream", "--model", files["internal"], wav, "--chunk", "0.15"]) == 2  # not a multiple


def test_while_loop_file_does_not_grow_with_the_chunk(student, files, clips, tmp_path):
    from export.checks import tflite_ops
    from export.streaming import _steps_per_iteration

    # One LSTM step per WHILE iteration up to 5 steps and for any prime number; ~sqrt(n) beyond.
    assert [_steps_per_iteration(n) for n in (1, 2, 5, 7, 10, 15, 50, 500)] == [1, 1, 1, 1, 2, 3, 5, 20]
    # 100 ms = 5 LSTM steps, 140 ms = 7 steps: the same one-step loop body.
    short = export.to_streaming_tflite(student, str(tmp_path / "short.tflite"), 0.1, "float32", clips[:2],
                                       state="external", lstm_loop="while", check=False)
    longer = export.to_streaming_tflite(student, str(tmp_path / "while.tflite"), 0.14, "float32", clips[:2],
                                        state="external")  # "auto": 7 steps loop; checked against Keras
    unrolled = export.to_streaming_tflite(student, str(tmp_path / "unrolled.tflite"), 0.14, "float32", clips[:2],
                                          state="external", lstm_loop="unrolled", check=False)
    assert "WHILE" in tflite_ops(longer) and "WHILE" in tflite_ops(short)
    assert "WHILE" not in tflite_ops(unrolled) and "WHILE" not in tflite_ops(files["external"])  # auto, 5 steps
    size = {k: os.path.getsize(p) for k, p in {"100": short, "140": longer, "unrolled": unrolled}.items()}
    assert abs(size["140"] - size["100"]) < 512, size
    assert size["unrolled"] > size["140"] + 5000, size  # ~1.5 KB more per unrolled step
    np.testing.assert_allclose(StreamingRunner(unrolled).stream(clips[3]), StreamingRunner(longer).stream(clips[3]),
                               atol=1e-6)
    # (Several steps per iteration: the int8 files at 200 ms = 10 steps, 2 per iteration, whose
    # float step graph every export compares with Keras to 1e-4.)
    with pytest.raises(ValueError, match="lstm_loop"):
        export.to_streaming_tflite(student, str(tmp_path / "x.tflite"), 0.3, "float32", clips[:2], lstm_loop="scan")
