"""Output naming (scores_key) and representative-data normalisation of the export package (no conversions)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from export.common import name_outputs, output_names, representative_waveforms, waveform_input_spec


def _model(outputs_kind):
    inputs = keras.Input((100,), name="waveform")
    a = keras.layers.Dense(3, name="tags")(inputs)
    b = keras.layers.Dense(5, name="embedding")(inputs)
    if outputs_kind == "tensor":
        return keras.Model(inputs, a)
    if outputs_kind == "list":
        return keras.Model(inputs, [a, b])
    return keras.Model(inputs, {"frame": b, "clip": a})


def test_output_names():
    assert output_names(_model("tensor")) == {None: "scores"}
    assert output_names(_model("list")) == {0: "scores", 1: "embedding"}
    assert output_names(_model("dict")) == {"frame": "frame", "clip": "scores"}
    assert output_names(_model("dict"), scores_key="frame") == {"frame": "scores", "clip": "clip"}
    with pytest.raises(ValueError, match="scores_key 'x'"):
        output_names(_model("dict"), scores_key="x")
    model = _model("dict")
    named = name_outputs(model(np.zeros((2, 100), "float32")), output_names(model))
    assert named["scores"].shape == (2, 3) and named["frame"].shape == (2, 5)


def test_representative_waveforms_accepts_common_containers():
    waves = np.random.default_rng(0).standard_normal((4, 50)).astype("float32")
    labels = np.zeros((4, 2), "float32")
    as_array = representative_waveforms(waves, num_samples=60)
    assert len(as_array) == 4 and as_array[0].shape == (60,) and np.all(as_array[0][50:] == 0)
    batched = tf.data.Dataset.from_tensor_slices((waves, labels)).batch(3)
    from_dataset = representative_waveforms(batched.as_numpy_iterator(), num_samples=40)
    np.testing.assert_array_equal(np.stack(from_dataset), waves[:, :40])
    assert len(representative_waveforms([w for w in waves], max_examples=2)) == 2
    with pytest.raises(ValueError, match="non-finite"):
        representative_waveforms(np.full((1, 10), np.nan, "float32"))
    with pytest.raises(FileNotFoundError):
        representative_waveforms("missing_manifest.csv")


def test_waveform_input_required():
    assert waveform_input_spec(_model("tensor")) == 100
    from export.common import waveform_channels

    stereo = keras.Input((100, 2))
    assert waveform_input_spec(keras.Model(stereo, stereo)) == 100 and waveform_channels(keras.Model(stereo, stereo)) == 2
    any_length = keras.Input((None, 4))
    assert waveform_input_spec(keras.Model(any_length, any_length)) is None
    assert waveform_channels(_model("tensor")) is None
    spectrogram = keras.Input((10, 64))
    with pytest.raises(ValueError, match="not a waveform"):
        waveform_input_spec(keras.Model(spectrogram, spectrogram))
    two = [keras.Input((10,)), keras.Input((10,))]
    with pytest.raises(ValueError, match="2 inputs"):
        waveform_input_spec(keras.Model(two, keras.layers.Add()(two)))
