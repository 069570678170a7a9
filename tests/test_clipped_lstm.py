"""ClippedLSTM: keras.layers.LSTM with the cell state clipped each step, as TFLite's fused LSTM."""

import numpy as np
import pytest

from keras_audioattn.layers import ClippedLSTM
from tests.helpers import run_layer_test


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _reference(x, kernel, recurrent, bias, clip):
    """c_t = clip(f c_{t-1} + i tanh(g)), h_t = o tanh(c_t); gate order i, f, c, o (Keras)."""
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units))
    c = np.zeros_like(h)
    outputs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = (z[:, k * units:(k + 1) * units] for k in range(4))
        c = np.clip(_sigmoid(f) * c + _sigmoid(i) * np.tanh(g), -clip, clip)
        h = _sigmoid(o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1)


# --- basics -----------------------------------------------------------------------------------


def test_layer_standard_checks(tmp_path):
    x = np.random.default_rng(1).normal(size=(3, 12, 5)).astype("float32")
    model = run_layer_test(ClippedLSTM, {"units": 6, "cell_clip": 2.0}, x, expected_output_shape=(3, 6),
                           tmp_path=tmp_path, atol=1e-5)
    layer = model.layers[-1]
    assert type(layer.cell).__name__ == "ClippedLSTMCell" and layer.cell_clip == 2.0 and not layer.use_cudnn


def test_bad_clip():
    with pytest.raises(ValueError, match="cell_clip"):
        ClippedLSTM(4, cell_clip=0.0)


def test_student_with_cell_clip_round_trips(tmp_path):
    import keras

    from keras_audioattn.models import CNNLSTMStudent

    student = CNNLSTMStudent(num_classes=3, lstm_units=4, num_mel_bins=8, conv_filters=2, num_samples=8000,
                             front_end={"fft_length": 256, "frame_length": 256, "frame_step": 128}, cell_clip=10.0)
    assert type(student.get_layer("lstm")).__name__ == "ClippedLSTM" and student.get_config()["cell_clip"] == 10.0
    x = np.random.default_rng(2).normal(size=(2, 8000)).astype("float32") * 0.1
    student.save(tmp_path / "s.keras")
    loaded = keras.saving.load_model(tmp_path / "s.keras")
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(student(x)), atol=1e-6)
    assert loaded.get_layer("lstm").cell_clip == 10.0


# --- paper fidelity ---------------------------------------------------------------------------


@pytest.mark.parametrize("clip", [0.3, 100.0])
def test_matches_numpy_reference(clip):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 25, 3)).astype("float32") * 2.0
    layer = ClippedLSTM(4, cell_clip=clip, return_sequences=True)
    layer.build(x.shape)
    kernel, recurrent, bias = (w.astype("float64") for w in layer.get_weights())
    bias = bias + 1.0  # a forget bias that lets the cell grow, so a small clip binds
    layer.set_weights([kernel, recurrent, bias])
    got = np.asarray(layer(x))
    want = _reference(x.astype("float64"), kernel, recurrent, bias, clip)
    np.testing.assert_allclose(got, want, atol=1e-5)
    unclipped = _reference(x.astype("float64"), kernel, recurrent, bias, np.inf)
    if clip < 1:
        assert np.abs(got - unclipped).max() > 0.05  # the clip binds
    else:
        np.testing.assert_allclose(got, unclipped, atol=1e-5)
