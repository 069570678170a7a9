"""Decoding audio files into float32 NumPy arrays.

``load_audio`` decodes with ``soundfile`` (libsndfile: wav, flac, ogg/vorbis, mp3 and the other
formats libsndfile reads), mixes to mono when asked and resamples with SciPy's polyphase
``resample_poly``. Every problem with a file is reported as an :class:`AudioFileError` that names
the file and the problem, so a bad file in a data set of thousands is found at once.

TensorFlow is deliberately not used here: ``tensorflow-io`` cannot load its ops on TF >= 2.18 and
``tf.audio.decode_wav`` reads only 16-bit PCM wav (see ``docs/data.md``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

# Extensions that libsndfile decodes (lower case, with the dot). Other extensions are reported as
# "unsupported format" when soundfile cannot open the file either.
SUPPORTED_EXTENSIONS = (
    ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3",
    ".aif", ".aiff", ".aifc", ".au", ".snd", ".caf", ".w64", ".rf64",
)


class AudioFileError(ValueError):
    """An audio file that cannot be used: missing, unreadable/corrupt, empty, non-finite or of an
    unsupported format. The message names the file and the problem."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def _check_positive_number(name, value, allow_none=True, allow_zero=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(float(value)) or float(value) < 0 or (float(value) == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")


def resample(waveform: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along axis 0 with ``scipy.signal.resample_poly`` (Kaiser-windowed polyphase FIR).

    Args:
      waveform: `(samples,)` or `(samples, channels)` float array.
      orig_sr, target_sr: integer sample rates in Hz.

    Returns:
      float32 array with ``ceil(samples * target_sr / orig_sr)`` samples along axis 0.
    """
    orig_sr, target_sr = int(orig_sr), int(target_sr)
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    if orig_sr == target_sr:
        return np.asarray(waveform, dtype=np.float32)
    from scipy.signal import resample_poly

    g = math.gcd(orig_sr, target_sr)
    out = resample_poly(np.asarray(waveform, dtype=np.float64), target_sr // g, orig_sr // g, axis=0)
    return out.astype(np.float32)


def load_audio(path, sample_rate=None, mono=True, offset=0.0, duration=None):
    """Decode an audio file into a float32 array.

    Args:
      path: file path (str or ``os.PathLike``).
      sample_rate: resample to this rate in Hz (int); ``None`` keeps the file's rate.
      mono: average the channels into one. If False the result keeps all channels.
      offset: start reading this many seconds into the file.
      duration: read at most this many seconds (``None``: to the end).

    Returns:
      ``(waveform, sample_rate)``: ``waveform`` is float32 of shape `(samples,)` when ``mono``,
      else `(samples, channels)` (soundfile's layout, also for mono files), values as decoded
      (nominally in [-1, 1]); ``sample_rate`` is the rate of the returned samples.

    Raises:
      AudioFileError: the file is missing, unreadable or corrupt, of an unsupported format,
        holds zero samples (also when ``offset`` is past its end) or non-finite samples.
      ValueError: bad arguments.
    """
    _check_positive_number("sample_rate", sample_rate)
    if sample_rate is not None and int(sample_rate) != sample_rate:
        raise ValueError(f"sample_rate must be an integer number of Hz, got {sample_rate!r}")
    _check_positive_number("offset", offset, allow_none=False, allow_zero=True)
    _check_positive_number("duration", duration)

    import soundfile as sf

    path = os.fspath(path)
    if not os.path.exists(path):
        raise AudioFileError(path, "file not found")
    if os.path.isdir(path):
        raise AudioFileError(path, "is a directory, not an audio file")
    extension = Path(path).suffix.lower()
    try:
        with sf.SoundFile(path) as handle:
            file_sr = int(handle.samplerate)
            start = int(round(offset * file_sr))
            frames = -1 if duration is None else max(int(round(duration * file_sr)), 1)
            if start > 0:
                if start >= handle.frames:
                    frames = 0  # past the end: nothing to read
                elif handle.seekable():
                    handle.seek(start)
                else:
                    handle.read(frames=start, dtype="float32")  # skip by decoding
            if frames == 0:
                data = np.zeros((0, handle.channels), np.float32)
            else:
                data = handle.read(frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        if extension not in SUPPORTED_EXTENSIONS:
            raise AudioFileError(
                path,
                f"unsupported format {extension or '(no extension)'!r}; soundfile reads "
                f"{', '.join(e.lstrip('.') for e in SUPPORTED_EXTENSIONS)} ({error})",
            ) from None
        raise AudioFileError(path, f"unreadable or corrupt audio ({error})") from None

    if data.shape[0] == 0:
        where = f" after offset {offset} s" if offset else ""
        raise AudioFileError(path, f"zero samples{where}")
    if not np.all(np.isfinite(data)):
        bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
        raise AudioFileError(path, f"{bad} non-finite samples (NaN or Inf)")

    waveform = data.mean(axis=1, dtype=np.float32) if mono else data
    if sample_rate is not None and int(sample_rate) != file_sr:
        waveform = resample(waveform, file_sr, int(sample_rate))
        file_sr = int(sample_rate)
    return np.ascontiguousarray(waveform, dtype=np.float32), file_sr


def audio_info(path):
    """Header information without decoding: ``(num_frames, sample_rate, channels)``.

    Raises:
      AudioFileError: missing, unreadable, or unsupported file.
    """
    import soundfile as sf

    path = os.fspath(path)
    if not os.path.exists(path):
        raise AudioFileError(path, "file not found")
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        extension = Path(path).suffix.lower()
        if extension not in SUPPORTED_EXTENSIONS:
            raise AudioFileError(path, f"unsupported format {extension or '(no extension)'!r} ({error})") from None
        raise AudioFileError(path, f"unreadable or corrupt audio ({error})") from None
    return int(info.frames), int(info.samplerate), int(info.channels)
