"""load_audio: decoding, mono mixing, offsets, resampling and every AudioFileError case."""

import math

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from keras_audioattn.data import AudioFileError, audio_info, load_audio, resample

SR = 8000


def _tone(freq=440.0, seconds=0.5, sr=SR, amplitude=0.5):
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _dominant_frequency(x, sr):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1.0 / sr)[np.argmax(spectrum)]


def test_wav_round_trip_float32(tmp_path):
    x = _tone()
    path = tmp_path / "tone.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    y, sr = load_audio(path)
    assert sr == SR and y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(y, x)
    assert audio_info(path) == (len(x), SR, 1)


@pytest.mark.parametrize("extension,subtype", [(".flac", "PCM_16"), (".ogg", "VORBIS"), (".mp3", "MPEG_LAYER_III")])
def test_flac_ogg_mp3_decode(tmp_path, extension, subtype):
    x = _tone(seconds=1.0)
    path = tmp_path / f"tone{extension}"
    sf.write(path, x, SR, subtype=subtype)
    y, sr = load_audio(path)
    assert sr == SR and y.dtype == np.float32
    assert abs(len(y) - len(x)) <= 1
    n = min(len(x), len(y))
    assert np.corrcoef(x[:n], y[:n])[0, 1] > 0.99  # lossy ogg/mp3 still keep the tone


def test_stereo_mixed_to_mono_by_averaging(tmp_path):
    left, right = _tone(440), _tone(1000, amplitude=0.25)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), SR, subtype="FLOAT")
    mono, _ = load_audio(path)
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-7)
    both, _ = load_audio(path, mono=False)
    assert both.shape == (len(left), 2)
    np.testing.assert_array_equal(both[:, 1], right)


def test_offset_and_duration(tmp_path):
    x = np.arange(SR, dtype=np.float32) / SR  # a ramp: values identify positions
    path = tmp_path / "ramp.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    y, _ = load_audio(path, offset=0.25, duration=0.5)
    np.testing.assert_array_equal(y, x[SR // 4: SR // 4 + SR // 2])
    tail, _ = load_audio(path, offset=0.9)
    np.testing.assert_array_equal(tail, x[int(0.9 * SR):])


def test_resampling_matches_resample_poly_and_keeps_pitch(tmp_path):
    x = _tone(440, seconds=1.0, sr=16000)
    path = tmp_path / "tone16k.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    y, sr = load_audio(path, sample_rate=SR)
    assert sr == SR and y.dtype == np.float32 and len(y) == SR
    np.testing.assert_allclose(y, resample_poly(x.astype(np.float64), 1, 2), atol=1e-6)
    assert abs(_dominant_frequency(y, SR) - 440) < 2.0
    # A non-integer ratio (44.1 kHz -> 16 kHz) and its length.
    z = resample(np.zeros(44100, np.float32), 44100, 16000)
    assert z.shape == (16000,) and z.dtype == np.float32
    up, _ = load_audio(path, sample_rate=22050)
    assert len(up) == math.ceil(16000 * 22050 / 16000)


def _expect(path, fragment, **kwargs):
    with pytest.raises(AudioFileError) as info:
        load_audio(path, **kwargs)
    message = str(info.value)
    assert str(path) in message and fragment in message, message
    assert isinstance(info.value, ValueError)
    return message


def test_missing_file(tmp_path):
    _expect(tmp_path / "nope.wav", "file not found")


def test_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(b"RIFF\x24\x08\x00\x00WAVEfmt " + bytes(range(256)) * 4)
    _expect(path, "unreadable or corrupt")
    truncated = tmp_path / "truncated.flac"
    sf.write(truncated, _tone(), SR, subtype="PCM_16")
    truncated.write_bytes(truncated.read_bytes()[:20])
    _expect(truncated, "unreadable or corrupt")


def test_zero_samples(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, np.float32), SR, subtype="PCM_16")
    _expect(path, "zero samples")
    short = tmp_path / "short.wav"
    sf.write(short, _tone(seconds=0.1), SR)
    _expect(short, "zero samples after offset", offset=5.0)


def test_non_finite_samples(tmp_path):
    x = _tone()
    x[10], x[20] = np.nan, np.inf
    path = tmp_path / "nan.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    _expect(path, "2 non-finite samples")


def test_unsupported_format(tmp_path):
    path = tmp_path / "clip.m4a"
    path.write_bytes(b"\x00\x00\x00\x20ftypM4A " + b"\x00" * 200)
    message = _expect(path, "unsupported format '.m4a'")
    assert "flac" in message  # lists what is supported
    text = tmp_path / "notes.txt"
    text.write_text("not audio")
    _expect(text, "unsupported format '.txt'")


def test_directory_is_rejected(tmp_path):
    _expect(tmp_path, "is a directory")


@pytest.mark.parametrize(
    "kwargs,fragment",
    [({"sample_rate": 0}, "sample_rate"), ({"sample_rate": 8000.5}, "integer"),
     ({"offset": -1.0}, "offset"), ({"duration": 0}, "duration"), ({"duration": float("nan")}, "duration")],
)
def test_bad_arguments(tmp_path, kwargs, fragment):
    path = tmp_path / "tone.wav"
    sf.write(path, _tone(), SR)
    with pytest.raises(ValueError, match=fragment):
        load_audio(path, **kwargs)
