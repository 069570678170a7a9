"""The Chang et al. 2020 / DCASE 2019 Task 5 second-place features (VGGish ``mel_features``)
against a NumPy transcription of that extractor (Sec. 4.2; bongjun/dcase2019-task5 extract_mel.py)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_audioattn.layers import FRONT_END_PRESETS, LogMelSpectrogram, mel_filterbank  # noqa: E402


def np_mel_features_matrix(num_mel_bins, num_spectrogram_bins, sample_rate, lower_hz, upper_hz):
    """mel_features.spectrogram_to_mel_matrix: HTK mel (1127 ln(1 + f/700)), triangles linear in
    mel, peaks 1 (no area normalisation), DC bin zeroed."""
    hz_to_mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)  # noqa: E731
    bins_mel = hz_to_mel(np.linspace(0.0, sample_rate / 2.0, num_spectrogram_bins))
    edges = np.linspace(hz_to_mel(lower_hz), hz_to_mel(upper_hz), num_mel_bins + 2)
    out = np.empty((num_spectrogram_bins, num_mel_bins))
    for i in range(num_mel_bins):
        lo, centre, hi = edges[i:i + 3]
        out[:, i] = np.maximum(0.0, np.minimum((bins_mel - lo) / (centre - lo), (hi - bins_mel) / (hi - centre)))
    out[0, :] = 0.0
    return out


def np_log_mel_spectrogram(x, sample_rate=16000, num_mel_bins=64, log_offset=0.01):
    """mel_features.log_mel_spectrogram with vggish_params (25 ms / 10 ms, 125-7500 Hz)."""
    window = int(round(sample_rate * 0.025))
    hop = int(round(sample_rate * 0.010))
    fft_length = 2 ** int(np.ceil(np.log2(window)))
    frames = 1 + (len(x) - window) // hop
    framed = np.stack([x[t * hop: t * hop + window] for t in range(frames)]).astype(np.float64)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi / window * np.arange(window))  # periodic Hann
    magnitude = np.abs(np.fft.rfft(framed * hann, fft_length))
    mel = magnitude @ np_mel_features_matrix(num_mel_bins, fft_length // 2 + 1, sample_rate, 125.0, 7500.0)
    return np.log(mel + log_offset)


def _clip(seconds=1.0, sr=16000):
    rng = np.random.default_rng(3)
    t = np.arange(int(seconds * sr)) / sr
    return (0.2 * np.sin(2 * np.pi * 700 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def test_mel_matrix_is_mel_features():
    np.testing.assert_allclose(mel_filterbank(16000, 512, 64, 125.0, 7500.0, mel_scale="htk", norm=None,
                                              triangles="mel"),
                               np_mel_features_matrix(64, 257, 16000, 125.0, 7500.0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("preset, bins", [("vggish", 64), ("chang2020_teacher", 64), ("chang2020_student", 20)])
def test_chang_presets_are_mel_features(preset, bins):
    x = _clip()
    layer = LogMelSpectrogram.from_preset(preset)
    assert layer.num_mel_bins == bins and FRONT_END_PRESETS[preset]["log_offset"] == 0.01
    got = keras.ops.convert_to_numpy(layer(x[None]))[0]
    want = np_log_mel_spectrogram(x, num_mel_bins=bins)
    assert got.shape == want.shape == (98, bins)
    np.testing.assert_allclose(got, want, atol=2e-4)


def test_mel_triangles_option_checked_and_serialised():
    with pytest.raises(ValueError, match="mel_triangles"):
        LogMelSpectrogram(mel_triangles="bark")
    layer = LogMelSpectrogram.from_preset("vggish")
    clone = LogMelSpectrogram.from_config(layer.get_config())
    assert clone.mel_triangles == "mel"
    x = _clip(0.5)[None]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(clone(x)), keras.ops.convert_to_numpy(layer(x)))
