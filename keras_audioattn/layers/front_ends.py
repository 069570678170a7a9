"""In-graph audio front ends: log-mel spectrogram, interval-max pooling, pre-emphasis.

All three layers are written with ``keras.ops`` only and have no weights, so a model that starts
with one of them takes a float32 waveform ``(batch, samples)`` and can be exported to a
SavedModel or a ``.tflite`` that needs no separate feature extraction.

TFLite: every layer converts with builtin ops only and runs in LiteRT, in float32 and in
dynamic-range files, where the default log-mel path stays exact (the STFT becomes the builtin
``RFFT2D`` and the mel projection ``UNSORTED_SEGMENT_SUM``: no matmul weight for the converter to
quantise). Inside a full-int8 model keep the front end in float (DESIGN.md: int8 log-mel values
lose 0.03-0.13); ``tests/test_front_ends.py`` checks all three cases.

Input convention (all three layers): ``(batch, samples)``. A trailing channel axis of size 1,
``(batch, samples, 1)``, is also accepted: :class:`LogMelSpectrogram` drops it (output stays
``(batch, frames, mel)``); :class:`PreEmphasis` and :class:`IntervalMaxPooling` keep it so that a
``Conv1D`` stack can follow directly. :class:`PreEmphasis` also filters multi-channel
``(batch, samples, channels)`` audio (the raw-waveform ASC takes stereo); the other two need mono.

The layers compute in float32 whatever the global dtype policy (a ``mixed_float16`` STFT loses
too much precision); pass ``dtype=...`` explicitly to override.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

__all__ = [
    "FRONT_END_PRESETS",
    "IntervalMaxPooling",
    "LogMelSpectrogram",
    "PreEmphasis",
    "mel_filterbank",
]

_WINDOWS = ("hann", "hamming", "rectangular")
_MEL_SCALES = ("slaney", "htk")
_STFT_IMPLEMENTATIONS = ("auto", "fft", "dft")
# Slice-based framing (see LogMelSpectrogram._subframes) up to this many sub-frames per frame.
_MAX_FRAMING_SLICES = 16
_MEL_PROJECTIONS = ("sparse", "dense")
# Where the mel filter triangles are linear: "hz" (librosa / Slaney) or "mel" (VGGish mel_features).
_MEL_TRIANGLES = ("hz", "mel")

# float16's smallest normal number (2^-14): smaller constants lose precision or vanish in float16 files.
_FLOAT16_NORMAL_MIN = 2.0 ** -14


# ----------------------------------------------------------------------------------------------
# NumPy helpers (run once, at construction; the results are graph constants)
# ----------------------------------------------------------------------------------------------
def _hz_to_mel(hz, scale):
    hz = np.asarray(hz, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + hz / 700.0)
    # Slaney (Auditory Toolbox; librosa's default): linear below 1 kHz, logarithmic above.
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    safe = np.maximum(hz, min_log_hz)
    return np.where(hz >= min_log_hz, min_log_mel + np.log(safe / min_log_hz) / logstep, hz / f_sp)


def _mel_to_hz(mel, scale):
    mel = np.asarray(mel, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


def mel_filterbank(sample_rate, fft_length, num_mel_bins, fmin=0.0, fmax=None, mel_scale="slaney",
                   norm="slaney", triangles="hz"):
    """Triangular mel filterbank as a ``(fft_length // 2 + 1, num_mel_bins)`` float32 matrix.

    With the defaults (``mel_scale="slaney"``, ``norm="slaney"``) this is the same matrix as
    ``librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax)`` (librosa's defaults, transposed):
    ``num_mel_bins + 2`` points equally spaced on the mel scale, triangles between neighbours
    evaluated at the FFT bin frequencies, each scaled by ``2 / (f_{m+2} - f_m)`` (equal area).
    ``mel_scale="htk"`` uses ``2595 log10(1 + f/700)``; ``norm=None`` leaves peaks at 1.

    ``triangles="mel"`` is VGGish's ``mel_features.spectrogram_to_mel_matrix`` (the features of
    the DCASE 2019 Task 5 second-place system that Chang et al. 2020 use, Sec. 4.2): the triangles
    are linear in mel, not in Hz (each FFT bin's weight is interpolated from its mel value), and
    the DC bin gets weight 0. With ``mel_scale="htk"``, ``norm=None`` this is that matrix.
    """
    if triangles not in _MEL_TRIANGLES:
        raise ValueError(f"mel triangles must be one of {_MEL_TRIANGLES}, got {triangles!r}")
    fmax = sample_rate / 2.0 if fmax is None else float(fmax)
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, fft_length // 2 + 1)
    mel_points = np.linspace(_hz_to_mel(fmin, mel_scale), _hz_to_mel(fmax, mel_scale), num_mel_bins + 2)
    if triangles == "mel":
        fft_mels = _hz_to_mel(fft_freqs, mel_scale)
        lower = (fft_mels[None, :] - mel_points[:-2, None]) / (mel_points[1:-1] - mel_points[:-2])[:, None]
        upper = (mel_points[2:, None] - fft_mels[None, :]) / (mel_points[2:] - mel_points[1:-1])[:, None]
        weights = np.maximum(0.0, np.minimum(lower, upper))
        weights[:, 0] = 0.0  # mel_features zeroes the DC bin
        if norm == "slaney":
            hz_points = _mel_to_hz(mel_points, mel_scale)
            weights *= (2.0 / (hz_points[2:] - hz_points[:-2]))[:, None]
        elif norm is not None:
            raise ValueError(f"mel norm must be 'slaney' or None, got {norm!r}")
        return weights.T.astype(np.float32)
    hz_points = _mel_to_hz(mel_points, mel_scale)
    widths = np.diff(hz_points)
    ramps = hz_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (hz_points[2:] - hz_points[:-2]))[:, None]
    elif norm is not None:
        raise ValueError(f"mel norm must be 'slaney' or None, got {norm!r}")
    return weights.T.astype(np.float32)


def _window_array(name, length, periodic):
    if name == "rectangular":
        return np.ones(length, dtype=np.float32)
    # Periodic windows (denominator N) are the STFT convention of scipy.signal.get_window,
    # librosa and tf.signal; symmetric ones (N - 1) are what np.hamming/np.hanning return.
    denom = length if periodic else max(length - 1, 1)
    phase = 2.0 * np.pi * np.arange(length) / denom
    if name == "hann":
        return (0.5 - 0.5 * np.cos(phase)).astype(np.float32)
    return (0.54 - 0.46 * np.cos(phase)).astype(np.float32)


def _is_power_of_two(n):
    return n > 0 and (n & (n - 1)) == 0


# Paper configurations. Each entry lists only what differs from the constructor defaults.
FRONT_END_PRESETS = {
    # Zhang et al. 2018, Sec. 3.1: "frame length of 1024 and a frameshift of 220, the number of
    # frequency filters is set to be 64". DCASE 2016 Task 1 audio is 44.1 kHz (the paper's
    # DCASE set; its LITIS Rouen set is 22.05 kHz: override sample_rate for that one).
    "zhang2018": dict(sample_rate=44100, fft_length=1024, frame_length=1024, frame_step=220,
                      num_mel_bins=64),
    # Deshmukh et al. 2020 / Kong et al.'s remix recipe: 32 kHz, Hamming 2048, hop 1024,
    # 64 mel 50 Hz-16 kHz, log(x + 1e-8), no padding -> 311 frames for 10 s. Magnitude vs power is
    # not stated; the extractor usually paired with this recipe (scipy spectrogram with
    # mode='magnitude' and np.hamming) uses the magnitude and a symmetric Hamming window.
    "deshmukh2020": dict(sample_rate=32000, fft_length=2048, frame_length=2048, frame_step=1024,
                         num_mel_bins=64, fmin=50.0, fmax=16000.0, window="hamming",
                         periodic_window=False, power=1.0, log_offset=1e-8),
    # Chang et al. 2020, Sec. 4.2, "the same feature extraction process as the second place
    # winner": that system (bongjun/dcase2019-task5, extract_mel.py) calls VGGish's
    # mel_features.log_mel_spectrogram with vggish_params: 16 kHz, periodic Hann 400 / hop 160,
    # FFT 512, |rFFT| (magnitude), HTK mel 125-7500 Hz with triangles linear in mel and no area
    # normalisation, DC bin dropped, log(mel + 0.01). "vggish" is that extractor with 64 bins;
    # the two Chang presets below apply it to the teacher (64 bins) and the student (20 bins).
    "vggish": dict(sample_rate=16000, fft_length=512, frame_length=400, frame_step=160, num_mel_bins=64,
                   fmin=125.0, fmax=7500.0, window="hann", periodic_window=True, power=1.0, log_offset=0.01,
                   mel_scale="htk", mel_norm=None, mel_triangles="mel"),
    # Chang et al. 2020, Sec. 4.2: 16 kHz, 25 ms window, 10 ms step, 64 bins (teacher) or
    # 20 bins (student); 998 frames for a 10 s clip (frames of 400 samples, no padding); the
    # extractor is "vggish" above. (Before: 0-8 kHz, Slaney mel, power 2, log(x + 1e-6); pass
    # those as overrides to reproduce older models.)
    "chang2020_teacher": dict(sample_rate=16000, fft_length=512, frame_length=400, frame_step=160,
                              num_mel_bins=64, fmin=125.0, fmax=7500.0, power=1.0, log_offset=0.01,
                              mel_scale="htk", mel_norm=None, mel_triangles="mel"),
    "chang2020_student": dict(sample_rate=16000, fft_length=512, frame_length=400, frame_step=160,
                              num_mel_bins=20, fmin=125.0, fmax=7500.0, power=1.0, log_offset=0.01,
                              mel_scale="htk", mel_norm=None, mel_triangles="mel"),
    # Jung et al. 2020, Sec. 4.2: the tagger (Akiyama & Sato's DCASE 2019 Task 2 system) takes a
    # "Mel-spectrogram of 128 Mel-frequency channels". Everything else is our choice: the tagger
    # hears the same 48 kHz waveform as the ASC network (so one exported graph takes one input);
    # 2048-point frames (43 ms) every 1024 samples (21 ms), 469 frames for 10 s.
    "jung2020_tagger": dict(sample_rate=48000, fft_length=2048, frame_length=2048, frame_step=1024,
                            num_mel_bins=128),
}


def _check_waveform_rank(shape, layer_name, any_channels=False):
    if len(shape) not in (2, 3) or (len(shape) == 3 and not any_channels and shape[-1] not in (1, None)):
        raise ValueError(
            f"{layer_name} expects a waveform of shape (batch, samples) or (batch, samples, 1); "
            f"got shape {tuple(shape)}. Mix multi-channel audio to mono first.")


@keras.saving.register_keras_serializable(package="keras_audioattn")
class LogMelSpectrogram(keras.layers.Layer):
    """Log-mel spectrogram of a waveform, computed in the graph.

    ``(batch, samples)`` (or ``(batch, samples, 1)``) float32 -> ``(batch, frames, num_mel_bins)``.

    Steps: optional centre padding -> frames of ``frame_length`` samples every ``frame_step``
    -> window -> zero-pad each frame to ``fft_length`` -> ``|rFFT|^power`` -> mel filterbank
    (:func:`mel_filterbank`, Slaney scale and area norm = librosa's default) ->
    ``log(mel + log_offset)`` (natural log).

    Framing convention: frames hold ``frame_length`` samples starting at ``t * frame_step``; with
    ``center=False`` (the default) there is no padding and
    ``frames = 1 + (samples - frame_length) // frame_step``: 311 frames for 10 s in the
    Deshmukh preset, 998 for the Chang presets, as the papers report. With ``center=True`` the
    signal is zero-padded by ``frame_length // 2`` on both sides (librosa's ``center=True``,
    ``pad_mode="constant"``) and ``frames = 1 + samples // frame_step`` for even frame lengths.
    When ``frame_length < fft_length`` the frame is zero-padded at the end before the FFT
    (``tf.signal.stft``'s convention; librosa pads the window in the middle of ``n_fft``
    samples, which shifts frame positions by ``(fft_length - frame_length) // 2`` samples and
    frames ``n_fft`` samples; the magnitudes of a given frame are the same).

    Args:
        sample_rate: sampling rate of the input in Hz.
        fft_length: FFT size; ``fft_length // 2 + 1`` frequency bins.
        frame_length: window length in samples; ``None`` means ``fft_length``.
        frame_step: hop between frames in samples.
        num_mel_bins: number of mel bands.
        fmin, fmax: band edges in Hz (``fmax=None`` is ``sample_rate / 2``).
        window: ``"hann"``, ``"hamming"`` or ``"rectangular"``.
        periodic_window: periodic window (STFT convention, default) or symmetric (``np.hamming``).
        power: 1.0 for magnitude, 2.0 for power (any positive exponent of ``|X|``).
        log_offset: added before the log, ``log(mel + log_offset)``.
        center: zero-pad ``frame_length // 2`` samples on both sides (see above).
        mel_scale: ``"slaney"`` (default, librosa) or ``"htk"``.
        mel_norm: ``"slaney"`` (equal-area triangles, librosa's default) or ``None``.
        stft_implementation: ``"fft"`` (``keras.ops.stft``; TFLite ``RFFT2D``, whose LiteRT kernel
            accepts power-of-two ``fft_length`` only), ``"dft"`` (one strided ``conv`` with a
            windowed DFT matrix: any FFT size, but 2-4x slower, a ``(frame_length, fft_length + 2)``
            constant (0.8 MB for 400/512, 16 MB for 2048), and dynamic-range
            or int8 conversion quantises that matrix, which ruins low-energy bins) or ``"auto"``
            (default: ``"fft"`` for power-of-two ``fft_length``, else ``"dft"``).
        mel_projection: ``"sparse"`` (default) or ``"dense"``. A mel filterbank has at most two
            non-zero weights per FFT bin; ``"sparse"`` multiplies each bin by its (at most two)
            weights and sums them per band with ``segment_sum`` (TFLite ``UNSORTED_SEGMENT_SUM``).
            ``"dense"`` is one matmul with the ``(bins, mel)`` matrix: faster in TensorFlow at large
            batches, but TFLite dynamic-range conversion turns it into a hybrid int8
            ``FULLY_CONNECTED`` that quantises the spectrum per frame, so quiet bands collapse to
            ``log(log_offset)`` (measured: up to 8.7 on the log scale on the test signal).
            See ``docs/front_ends.md`` for the measurements behind both defaults.
        mel_triangles: ``"hz"`` (default: triangles linear in Hz, librosa) or ``"mel"`` (linear in
            mel with the DC bin dropped: VGGish ``mel_features``; see :func:`mel_filterbank` and
            the ``"vggish"`` preset, the features of Chang et al. 2020, Sec. 4.2).

    Use :meth:`from_preset` for the papers' configurations (``FRONT_END_PRESETS``).
    """

    def __init__(self, sample_rate=16000, fft_length=1024, frame_length=None, frame_step=220,
                 num_mel_bins=64, fmin=0.0, fmax=None, window="hann", power=2.0, log_offset=1e-6,
                 center=False, periodic_window=True, mel_scale="slaney", mel_norm="slaney",
                 stft_implementation="auto", mel_projection="sparse", mel_triangles="hz", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        frame_length = fft_length if frame_length is None else frame_length
        for name, value in (("sample_rate", sample_rate), ("fft_length", fft_length),
                            ("frame_length", frame_length), ("frame_step", frame_step),
                            ("num_mel_bins", num_mel_bins)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"LogMelSpectrogram: {name} must be a positive integer, got {value!r}")
        if frame_length > fft_length:
            raise ValueError(f"LogMelSpectrogram: frame_length ({frame_length}) must not exceed "
                             f"fft_length ({fft_length})")
        nyquist = sample_rate / 2.0
        top = nyquist if fmax is None else fmax
        if not 0.0 <= fmin < top <= nyquist:
            raise ValueError(f"LogMelSpectrogram: need 0 <= fmin < fmax <= sample_rate / 2 = {nyquist}; "
                             f"got fmin={fmin}, fmax={fmax}")
        if window not in _WINDOWS:
            raise ValueError(f"LogMelSpectrogram: window must be one of {_WINDOWS}, got {window!r}")
        if not power > 0:
            raise ValueError(f"LogMelSpectrogram: power must be positive, got {power}")
        if not log_offset > 0:
            raise ValueError(f"LogMelSpectrogram: log_offset must be positive, got {log_offset}")
        if mel_scale not in _MEL_SCALES:
            raise ValueError(f"LogMelSpectrogram: mel_scale must be one of {_MEL_SCALES}, got {mel_scale!r}")
        if mel_norm not in ("slaney", None):
            raise ValueError(f"LogMelSpectrogram: mel_norm must be 'slaney' or None, got {mel_norm!r}")
        if mel_triangles not in _MEL_TRIANGLES:
            raise ValueError(f"LogMelSpectrogram: mel_triangles must be one of {_MEL_TRIANGLES}, "
                             f"got {mel_triangles!r}")
        if stft_implementation not in _STFT_IMPLEMENTATIONS:
            raise ValueError(f"LogMelSpectrogram: stft_implementation must be one of "
                             f"{_STFT_IMPLEMENTATIONS}, got {stft_implementation!r}")
        if mel_projection not in _MEL_PROJECTIONS:
            raise ValueError(f"LogMelSpectrogram: mel_projection must be one of {_MEL_PROJECTIONS}, "
                             f"got {mel_projection!r}")
        self.sample_rate = int(sample_rate)
        self.fft_length = int(fft_length)
        self.frame_length = int(frame_length)
        self.frame_step = int(frame_step)
        self.num_mel_bins = int(num_mel_bins)
        self.fmin = float(fmin)
        self.fmax = None if fmax is None else float(fmax)
        self.window = window
        self.periodic_window = bool(periodic_window)
        self.power = float(power)
        self.log_offset = float(log_offset)
        self.center = bool(center)
        self.mel_scale = mel_scale
        self.mel_norm = mel_norm
        self.stft_implementation = stft_implementation
        self.mel_projection = mel_projection
        self.mel_triangles = mel_triangles
        if stft_implementation == "auto":
            stft_implementation = "fft" if _is_power_of_two(self.fft_length) else "dft"
        self._stft = stft_implementation
        self._window = _window_array(window, self.frame_length, self.periodic_window)
        self._mel_matrix = mel_filterbank(self.sample_rate, self.fft_length, self.num_mel_bins, self.fmin,
                                          self.fmax, self.mel_scale, self.mel_norm, self.mel_triangles)
        if np.any(self._mel_matrix.sum(axis=0) == 0):
            empty = int(np.sum(self._mel_matrix.sum(axis=0) == 0))
            raise ValueError(f"LogMelSpectrogram: {empty} of {num_mel_bins} mel bands contain no FFT bin; "
                             f"use fewer mel bins or a larger fft_length ({fft_length})")
        # Sparse form of the filterbank: row j of _sparse_weights / _sparse_bands holds the j-th
        # non-zero weight of each FFT bin and its band (band num_mel_bins = "none", dropped).
        nonzero = self._mel_matrix > 0
        per_bin = max(1, int(nonzero.sum(axis=1).max()))
        bins_count = self._mel_matrix.shape[0]
        bands = np.full((per_bin, bins_count), self.num_mel_bins, dtype=np.int32)
        weights = np.zeros((per_bin, bins_count), dtype=np.float32)
        for k in range(bins_count):
            for j, m in enumerate(np.flatnonzero(nonzero[k])):
                bands[j, k], weights[j, k] = m, self._mel_matrix[k, m]
        self._sparse_bands = bands.reshape(-1)
        self._sparse_weights = list(weights[:, :, None, None])  # each (bins, 1, 1): broadcast over (batch, frames)
        if self._stft == "dft":
            bins = self.fft_length // 2 + 1
            angle = 2.0 * np.pi * np.outer(np.arange(self.frame_length), np.arange(bins)) / self.fft_length
            win = self._window.astype(np.float64)[:, None]
            kernel = np.concatenate([win * np.cos(angle), -win * np.sin(angle)], axis=1)
            self._dft_kernel = kernel[:, None, :].astype(np.float32)  # (frame_length, 1, 2 * bins)

    @classmethod
    def from_preset(cls, name, **overrides):
        """A layer configured like a paper: ``"zhang2018"``, ``"deshmukh2020"``,
        ``"chang2020_teacher"``, ``"chang2020_student"``, ``"jung2020_tagger"``; keyword arguments
        override entries."""
        if name not in FRONT_END_PRESETS:
            raise ValueError(f"unknown front-end preset {name!r}; choose one of {sorted(FRONT_END_PRESETS)}")
        config = dict(FRONT_END_PRESETS[name])
        config.update(overrides)
        return cls(**config)

    @property
    def min_samples(self):
        """Fewest input samples that give one frame."""
        return 1 if self.center else self.frame_length

    def num_frames(self, num_samples):
        """Number of output frames for ``num_samples`` input samples (``None`` stays ``None``)."""
        if num_samples is None:
            return None
        num_samples = int(num_samples)
        if num_samples < self.min_samples:
            raise ValueError(f"LogMelSpectrogram: input of {num_samples} samples is shorter than one frame "
                             f"({self.frame_length} samples, center={self.center})")
        if self.center:
            num_samples += 2 * (self.frame_length // 2)
        return 1 + (num_samples - self.frame_length) // self.frame_step

    def build(self, input_shape):
        _check_waveform_rank(input_shape, "LogMelSpectrogram")
        self.num_frames(input_shape[1])  # raises early when a known length is too short

    def compute_output_shape(self, input_shape):
        _check_waveform_rank(input_shape, "LogMelSpectrogram")
        return (input_shape[0], self.num_frames(input_shape[1]), self.num_mel_bins)

    def _subframes(self, num_samples):
        """``(g, m, r)`` for slice-based framing of a known length, else ``None``.

        Frames are cut from sub-frames of ``g = gcd(frame_length, frame_step)`` samples: frame t
        is sub-frames ``t * r ... t * r + m - 1``. ``ops.stft`` (``tf.signal.frame``) gathers the
        same sub-frames with a ``(frames, m)`` int32 index that TFLite stores as a constant (62 KB
        for 10 s at 16 kHz, more than the whole int8 LSTM-16 student); ``m`` strided slices store
        nothing. Used when ``m`` is small (the Chang and Deshmukh presets: 5 and 2 slices).
        LiteRT time of the Chang student's 10 s front end (1 thread, median CPU time of 30
        invokes): 5.1 ms with the gather index (77 KB), 7.0 ms with these step slices (14 KB).
        """
        g = math.gcd(self.frame_length, self.frame_step)
        m, r = self.frame_length // g, self.frame_step // g
        if m > _MAX_FRAMING_SLICES or num_samples < self.frame_length:
            return None
        return g, m, r

    def _frames(self, x, num_samples):
        """``(batch, samples)`` -> ``(batch, frames, frame_length)``; frame t = x[t*step : t*step + length]."""
        g, m, r = self._subframes(num_samples)
        frames = 1 + (num_samples - self.frame_length) // self.frame_step  # x is already centre-padded
        used = (frames - 1) * self.frame_step + self.frame_length  # samples that reach a frame
        # Pad to used + r * g samples (the < frame_step samples past `used` never reach a frame):
        # the r extra sub-frames keep every slice below in range. Padding, not cropping, keeps the
        # first op after the input a float PAD that int8 conversion leaves alone.
        x = ops.pad(x, [[0, 0], [0, used + r * g - num_samples]])
        chunks = ops.reshape(x, (-1, used // g + r, g))
        # Sub-frames j, j + r, j + 2r, ... for each j < m: one strided slice each, stacked on a
        # new axis so that frame t = sub-frames t*r .. t*r + m - 1 in order.
        parts = [chunks[:, j:j + frames * r:r] for j in range(m)]
        return ops.reshape(ops.stack(parts, axis=2), (-1, frames, m * g)) if m > 1 else parts[0]

    def _power_spectrum(self, x):
        if self._stft == "dft":
            y = ops.conv(ops.expand_dims(x, -1), self._dft_kernel, strides=self.frame_step, padding="valid")
            bins = self.fft_length // 2 + 1
            real, imag = y[..., :bins], y[..., bins:]
        elif x.shape[1] is not None and self._subframes(x.shape[1]) is not None:
            frames = self._frames(x, x.shape[1])
            real, imag = ops.rfft(frames * ops.convert_to_tensor(self._window, dtype=frames.dtype),
                                  fft_length=self.fft_length)
        else:
            # keras.ops.stft frames fft_length samples with the window in the middle; padding the
            # signal by the same amounts makes frame t start at sample t * frame_step and hold
            # frame_length samples, so the frame count depends on frame_length, not fft_length.
            left = (self.fft_length - self.frame_length) // 2
            right = self.fft_length - self.frame_length - left
            if left or right:
                x = ops.pad(x, [[0, 0], [left, right]])
            real, imag = ops.stft(x, self.frame_length, self.frame_step, self.fft_length,
                                  window=self._window, center=False)
        return real * real + imag * imag

    def call(self, inputs):
        x = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        if len(x.shape) == 3:
            x = ops.squeeze(x, axis=-1)
        if x.shape[1] is not None:
            self.num_frames(x.shape[1])
        if self.center:
            half = self.frame_length // 2
            x = ops.pad(x, [[0, 0], [half, half]])
        spectrum = self._power_spectrum(x)
        if self.power != 2.0:
            # |X|^p = (|X|^2)^(p/2); sqrt for the common magnitude case (TFLite SQRT).
            spectrum = ops.sqrt(spectrum) if self.power == 1.0 else ops.power(spectrum, self.power / 2.0)
        if self.mel_projection == "dense":
            mel = ops.matmul(spectrum, ops.convert_to_tensor(self._mel_matrix, dtype=spectrum.dtype))
        else:
            by_bin = ops.transpose(spectrum, (2, 0, 1))  # (bins, batch, frames): segment_sum sums axis 0
            weighted = ops.concatenate([by_bin * w for w in self._sparse_weights], axis=0)
            mel = ops.segment_sum(weighted, self._sparse_bands, num_segments=self.num_mel_bins + 1)
            mel = ops.transpose(mel[: self.num_mel_bins], (1, 2, 0))
        if self.log_offset >= _FLOAT16_NORMAL_MIN:
            return ops.log(mel + self.log_offset)
        # An offset below float16's smallest normal number (e.g. the 2APAE front end's 1e-8) rounds
        # to 0 or loses its digits in a float16 .tflite, whose silence then gives log(0) = -inf.
        # log(s (mel + offset)) - log(s) with a power of two s is the same value in float32
        # (scaling by 2^k is exact; the log differs in the last bits), and s * offset survives.
        scale = 2.0 ** math.ceil(math.log2(_FLOAT16_NORMAL_MIN / self.log_offset))
        return ops.log(mel * scale + self.log_offset * scale) - math.log(scale)

    def get_config(self):
        config = super().get_config()
        config.update(sample_rate=self.sample_rate, fft_length=self.fft_length, frame_length=self.frame_length,
                      frame_step=self.frame_step, num_mel_bins=self.num_mel_bins, fmin=self.fmin, fmax=self.fmax,
                      window=self.window, power=self.power, log_offset=self.log_offset, center=self.center,
                      periodic_window=self.periodic_window, mel_scale=self.mel_scale, mel_norm=self.mel_norm,
                      stft_implementation=self.stft_implementation, mel_projection=self.mel_projection,
                      mel_triangles=self.mel_triangles)
        return config


@keras.saving.register_keras_serializable(package="keras_audioattn")
class IntervalMaxPooling(keras.layers.Layer):
    """CAB-CNN's input stage (Lu et al. 2020, Sec. 4, "Preprocessing of the audio file"):
    z-normalise each clip, then keep the maximum of each of ``target_rate`` sub-intervals per second.

    ``(batch, samples)`` -> ``(batch, samples * target_rate // sample_rate)``;
    ``(batch, samples, 1)`` -> ``(batch, samples * target_rate // sample_rate, 1)``.

    Output ``i`` is the maximum over input samples ``[floor(i r), floor((i + 1) r))`` with
    ``r = sample_rate / target_rate`` (exact rational arithmetic), so integer ratios (16 kHz ->
    4 kHz: blocks of 4) and non-integer ones (44.1 kHz -> 4 kHz: blocks of 11 or 12) both work.
    Trailing samples that do not fill a whole interval are dropped.

    Z-normalisation (``normalize=True``) uses the clip's mean and standard deviation:
    ``(x - mean) / sqrt(var + epsilon)``. Zero-padded batches: pass ``lengths`` (``(batch,)``
    integer valid sample counts, as ``call(x, lengths=...)`` or ``call([x, lengths])``); the
    statistics then use only the valid samples, the maximum ignores padding, and intervals with
    no valid sample are 0. Without ``lengths`` padding zeros enter the statistics (they pull the
    mean to 0 and shrink the variance) and the maxima of padded intervals.
    """

    def __init__(self, sample_rate=16000, target_rate=4000, normalize=True, epsilon=1e-10, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        for name, value in (("sample_rate", sample_rate), ("target_rate", target_rate)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"IntervalMaxPooling: {name} must be a positive integer, got {value!r}")
        if target_rate > sample_rate:
            raise ValueError(f"IntervalMaxPooling: target_rate ({target_rate}) must not exceed "
                             f"sample_rate ({sample_rate})")
        if not epsilon > 0:
            raise ValueError(f"IntervalMaxPooling: epsilon must be positive, got {epsilon}")
        self.sample_rate = int(sample_rate)
        self.target_rate = int(target_rate)
        self.normalize = bool(normalize)
        self.epsilon = float(epsilon)
        g = math.gcd(self.sample_rate, self.target_rate)
        self._num, self._den = self.sample_rate // g, self.target_rate // g  # interval = num / den samples

    def output_length(self, num_samples):
        """Output length for ``num_samples`` input samples."""
        if num_samples is None:
            return None
        out = int(num_samples) * self.target_rate // self.sample_rate
        if out < 1:
            raise ValueError(f"IntervalMaxPooling: input of {num_samples} samples is shorter than one interval "
                             f"({self.sample_rate / self.target_rate:g} samples)")
        return out

    def _split(self, inputs, lengths):
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != 2 or lengths is not None:
                raise ValueError("IntervalMaxPooling: pass [waveform, lengths] or waveform with lengths=...")
            inputs, lengths = inputs
        return inputs, lengths

    def build(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple)):
            input_shape = input_shape[0]
        _check_waveform_rank(input_shape, "IntervalMaxPooling")
        self.output_length(input_shape[1])

    def compute_output_shape(self, inputs_shape, lengths_shape=None):
        if isinstance(inputs_shape, (list, tuple)) and inputs_shape and isinstance(inputs_shape[0], (list, tuple)):
            inputs_shape = inputs_shape[0]
        _check_waveform_rank(inputs_shape, "IntervalMaxPooling")
        return (inputs_shape[0], self.output_length(inputs_shape[1])) + tuple(inputs_shape[2:])

    def call(self, inputs, lengths=None):
        x, lengths = self._split(inputs, lengths)
        x = ops.convert_to_tensor(x, dtype=self.compute_dtype)
        channel = len(x.shape) == 3
        if channel:
            x = ops.squeeze(x, axis=-1)
        if x.shape[1] is not None:
            self.output_length(x.shape[1])
        n = ops.shape(x)[1]
        mask = None
        if lengths is not None:
            lengths = ops.reshape(ops.cast(lengths, "int32"), (-1, 1))
            mask = ops.arange(n, dtype="int32")[None, :] < lengths
            maskf = ops.cast(mask, x.dtype)
        if self.normalize:
            if mask is None:
                mean = ops.mean(x, axis=1, keepdims=True)
                var = ops.mean(ops.square(x - mean), axis=1, keepdims=True)
            else:
                count = ops.maximum(ops.sum(maskf, axis=1, keepdims=True), 1.0)
                mean = ops.sum(x * maskf, axis=1, keepdims=True) / count
                var = ops.sum(ops.square(x - mean) * maskf, axis=1, keepdims=True) / count
            # A constant (silent) clip has var == 0: its z-scores are 0 by a select rather than
            # by 0 / sqrt(epsilon), which a float16 .tflite (epsilon 1e-10 rounds to 0) turns
            # into 0 * inf = NaN. Equal to (x - mean) / sqrt(var + epsilon) in float32.
            x = ops.where(var > 0, (x - mean) / ops.sqrt(var + self.epsilon), ops.zeros_like(x))
        if mask is not None:
            x = ops.where(mask, x, ops.full_like(x, -3.0e38))
        num_out = (n * self.target_rate) // self.sample_rate
        if self._den == 1:
            # Integer ratio: reshape into (batch, out, block) and reduce.
            block = self._num
            pooled = ops.max(ops.reshape(x[:, : num_out * block], (-1, num_out, block)), axis=-1)
        else:
            # Rational ratio num/den: interval i = [floor(i num / den), floor((i + 1) num / den)).
            width = -(-self._num // self._den)  # ceil: the longest interval
            index = ops.arange(num_out, dtype="int32")
            start = (index * self._num) // self._den
            stop = ((index + 1) * self._num) // self._den
            gather = ops.minimum(start[:, None] + ops.arange(width, dtype="int32")[None, :], stop[:, None] - 1)
            pooled = ops.max(ops.take(x, gather, axis=1), axis=-1)
        if mask is not None:
            pooled = ops.where(pooled < -1.0e38, ops.zeros_like(pooled), pooled)
        if channel:
            pooled = ops.expand_dims(pooled, -1)
        return pooled

    def get_config(self):
        config = super().get_config()
        config.update(sample_rate=self.sample_rate, target_rate=self.target_rate, normalize=self.normalize,
                      epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package="keras_audioattn")
class PreEmphasis(keras.layers.Layer):
    """First-order pre-emphasis ``y[n] = x[n] - coefficient * x[n - 1]``, ``y[0] = x[0]``.

    ``(batch, samples)`` -> ``(batch, samples)``, or ``(batch, samples, channels)`` -> same shape,
    each channel filtered on its own (Jung et al. 2020, Sec. 4.2, feed stereo raw waveforms
    "with pre-emphasis applied"; the coefficient 0.97 is from the same group's public code,
    DESIGN.md). Keeping ``y[0] = x[0]`` (instead of dropping the first sample) preserves the length.
    """

    def __init__(self, coefficient=0.97, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not isinstance(coefficient, (int, float, np.floating)) or not -1.0 <= float(coefficient) <= 1.0:
            raise ValueError(f"PreEmphasis: coefficient must be a number in [-1, 1], got {coefficient!r}")
        self.coefficient = float(coefficient)

    def build(self, input_shape):
        _check_waveform_rank(input_shape, "PreEmphasis", any_channels=True)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs):
        x = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        if len(x.shape) == 3:
            previous = ops.pad(x[:, :-1, :], [[0, 0], [1, 0], [0, 0]])
        else:
            previous = ops.pad(x[:, :-1], [[0, 0], [1, 0]])
        return x - self.coefficient * previous

    def get_config(self):
        config = super().get_config()
        config.update(coefficient=self.coefficient)
        return config
