"""The built-in synthetic corpus: scenes, sound events, urban tags and speech-like accents.

No public data set can be downloaded on the machines this package is built on, so the demo,
the notebooks and the tests use audio generated here. Each task stands in for the data of one
or more papers:

- ``"scenes"`` (single label, 6 classes, 10 s): textured backgrounds built from coloured noise,
  mains hum, babble-like and rain-like textures, wind and passing traffic, with scene-typical
  sound events at scene-typical rates (Zhang et al. 2018; Jung et al. 2020 — DCASE scenes).
- ``"events"`` (multi-label, 6 classes, 10 s): sirens, bird-like chirps, harmonic tones,
  impacts, noise bursts and engines with onsets/offsets (strong labels), mixed over scene
  textures at 0/10/20 dB with the 2APAE scaling (Deshmukh et al. 2020, Sec. IV-A).
- ``"tagging"`` (multi-label, 8 tags, 10 s): the eight DCASE 2019 Task 5 coarse urban classes
  (Chang et al. 2020) over urban textures.
- ``"accents"`` (single label, 3 classes, 3-8 s): formant-synthesised syllable sequences whose
  vowel formants, diphthong glides, rhythm and pitch contours differ by class while speaker
  pitch and vocal-tract length vary across all classes (Lu et al. 2020 — UT-Podcast accents).

Everything is vectorised NumPy: noise textures are drawn directly in the short-time Fourier
domain (random spectra times an envelope, then overlap-add), harmonic sources by phase
accumulation, formant filtering by multiplying short-time spectra. Clip ``i`` depends only on
``(seed, task, i)``, so the first clips of a larger set equal a smaller set with the same seed.
What distinguishes the classes is documented in ``docs/data.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from keras_audioattn.validation import ExistingFileArgument, as_argument_error

TASKS = ("scenes", "events", "tagging", "accents")

SCENE_CLASSES = ("park", "street_traffic", "metro_station", "shopping_mall", "rain", "office")
EVENT_CLASSES = ("siren", "chirp", "harmonic_tone", "impact", "burst", "engine")
TAG_CLASSES = (
    "engine", "machinery_impact", "non_machinery_impact", "powered_saw",
    "alert_signal", "music", "human_voice", "dog",
)
ACCENT_CLASSES = ("american", "australian", "british")

CLASS_NAMES = {"scenes": SCENE_CLASSES, "events": EVENT_CLASSES, "tagging": TAG_CLASSES, "accents": ACCENT_CLASSES}
MULTI_LABEL = {"scenes": False, "events": True, "tagging": True, "accents": False}
DEFAULTS = {
    "scenes": {"sample_rate": 16000, "duration": 10.0},
    "events": {"sample_rate": 16000, "duration": 10.0},
    "tagging": {"sample_rate": 16000, "duration": 10.0},
    "accents": {"sample_rate": 16000, "duration": (3.0, 8.0)},
}
_TASK_ID = {name: i for i, name in enumerate(TASKS)}


@dataclass
class SyntheticSet:
    """Generated clips.

    Attributes:
      waveforms: float32 `(clips, samples)` when all clips have the same length, else a list of
        float32 `(samples,)` arrays.
      targets: float32 `(clips, classes)`, one-hot (single-label tasks) or multi-hot.
      class_names: list of class names (target column order).
      sample_rate: Hz.
      events: per clip, a list of ``(onset_s, offset_s, label)`` (events and tagging tasks;
        empty lists otherwise).
      labels: per clip, the list of its labels.
      task: the task name; multi_label: whether targets are multi-hot; seed: the seed used.
    """

    waveforms: object
    targets: np.ndarray
    class_names: list
    sample_rate: int
    events: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    task: str = ""
    multi_label: bool = False
    seed: int = 0

    def __len__(self):
        return len(self.targets)


# ----------------------------------------------------------------------------------------------
# Short-time Fourier machinery: sqrt-Hann analysis and synthesis windows at 50 % overlap sum to
# one, so filtering with an all-ones envelope reconstructs the input exactly and white spectra
# give stationary noise.


class _Stft:
    def __init__(self, sample_rate):
        self.sr = int(sample_rate)
        self.n_fft = int(2 ** round(math.log2(0.032 * self.sr)))  # about 32 ms
        self.hop = self.n_fft // 2
        n = np.arange(self.n_fft)
        self.window = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * n / self.n_fft))
        self.freqs = np.fft.rfftfreq(self.n_fft, 1.0 / self.sr)
        self.bins = self.freqs.shape[0]
        self.nyquist = self.sr / 2.0

    def num_frames(self, n):
        return -(-n // self.hop) + 1

    def frame_times(self, n):
        """Centre time (s) of each frame in the output signal."""
        return np.arange(self.num_frames(n)) * self.hop / self.sr

    def istft(self, spectra, n):
        frames = np.fft.irfft(spectra, n=self.n_fft, axis=-1) * self.window
        count = frames.shape[0]
        out = np.zeros((count + 1) * self.hop)
        out[: count * self.hop] += frames[:, : self.hop].reshape(-1)
        out[self.hop:] += frames[:, self.hop:].reshape(-1)
        return out[self.hop: self.hop + n]

    def stft(self, x):
        n = x.shape[0]
        count = self.num_frames(n)
        padded = np.zeros((count + 1) * self.hop)
        padded[self.hop: self.hop + n] = x
        frames = np.lib.stride_tricks.sliding_window_view(padded, self.n_fft)[:: self.hop][:count]
        return np.fft.rfft(frames * self.window, axis=-1)

    def noise(self, rng, amplitude, n):
        """Gaussian noise whose short-time amplitude spectrum is ``amplitude`` `(frames, bins)`."""
        shape = (self.num_frames(n), self.bins)
        spectra = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * amplitude
        return self.istft(spectra, n)

    def filter(self, x, amplitude):
        """Filter ``x`` with a time-varying amplitude response `(frames, bins)` or `(bins,)`."""
        return self.istft(self.stft(x) * amplitude, x.shape[0])


def _tilt(freqs, alpha):
    """Amplitude of 1/f^alpha power noise (alpha 0 white, 1 pink, 2 brown)."""
    return (np.maximum(freqs, 20.0) / 1000.0) ** (-alpha / 2.0)


def _band(freqs, low, high, order=2):
    """Smooth band-pass amplitude response."""
    f = np.maximum(freqs, 1.0)
    response = np.ones_like(f)
    if low:
        response = response / np.sqrt(1.0 + (low / f) ** (2 * order))
    if high:
        response = response / np.sqrt(1.0 + (f / high) ** (2 * order))
    return response


def _smooth_random(rng, count, width, floor=0.0):
    """A positive random curve of ``count`` points varying over about ``width`` points."""
    width = max(int(width), 1)
    raw = rng.standard_normal(count + 4 * width)
    kernel = np.hanning(2 * width + 1)
    smooth = np.convolve(raw, kernel / kernel.sum(), mode="same")[2 * width: 2 * width + count]
    smooth = smooth / (smooth.std() + 1e-9)
    return floor + (1.0 - floor) * np.exp(0.5 * smooth)


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x)) + 1e-20))


def _unit(x):
    return x / _rms(x)


def _envelope(n, sr, attack, release):
    """Linear attack / release amplitude envelope of ``n`` samples."""
    env = np.ones(n)
    a, r = min(int(attack * sr), n // 2), min(int(release * sr), n // 2)
    if a > 0:
        env[:a] = np.linspace(0.0, 1.0, a, endpoint=False)
    if r > 0:
        env[n - r:] = np.linspace(1.0, 0.0, r)
    return env


def _harmonics(f0, amplitudes, sr, rng=None):
    """Sum of harmonics k*f0(t) (per-sample f0 array), dropping those above 0.45*sr.

    sin(k*phi) comes from the recurrence s_k = 2 cos(phi) s_(k-1) - s_(k-2): one sin and one
    cos per sample instead of one sin per harmonic."""
    phase = 2 * np.pi * np.cumsum(f0) / sr
    if rng is not None:
        phase = phase + rng.uniform(0, 2 * np.pi)
    out = np.zeros_like(f0)
    twice_cos = 2.0 * np.cos(phase)
    previous, current = np.zeros_like(f0), np.sin(phase)
    limit = 0.45 * sr
    top = float(np.max(f0)) if f0.size else 0.0
    for k, amplitude in enumerate(amplitudes, start=1):
        if k > 1:
            previous, current = current, twice_cos * current - previous
        if k * float(np.min(f0) if f0.size else 0.0) >= limit:
            break
        if amplitude == 0:
            continue
        if k * top < limit:
            out += amplitude * current
        else:
            out += amplitude * current * ((k * f0) < limit)
    return out


def _fft_filter(x, sr, response):
    """Filter ``x`` with a zero-phase response ``response(freqs)``, padding to a fast FFT size."""
    from scipy.fft import next_fast_len

    n = x.shape[0]
    size = next_fast_len(n, real=True)
    freqs = np.fft.rfftfreq(size, 1.0 / sr)
    return np.fft.irfft(np.fft.rfft(x, size) * response(freqs), size)[:n]


# ----------------------------------------------------------------------------------------------
# Sound-event generators: each returns a waveform of about ``duration`` seconds.


def _siren(rng, sr, duration):
    n = int(duration * sr)
    t = np.arange(n) / sr
    centre, depth = rng.uniform(650, 1300), rng.uniform(200, 500)
    rate = rng.choice([rng.uniform(0.2, 0.5), rng.uniform(2.0, 4.0)])  # wail or yelp
    if rng.random() < 0.5:
        sweep = np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
    else:
        sweep = 2.0 * np.abs(2.0 * ((rate * t + rng.random()) % 1.0) - 1.0) - 1.0  # triangle
    f0 = centre + depth * sweep
    return _harmonics(f0, [1.0, 0.5, 0.3, 0.15], sr, rng) * _envelope(n, sr, 0.05, 0.1)


def _chirp(rng, sr, duration):
    n = int(duration * sr)
    out = np.zeros(n)
    top = 0.42 * sr
    position = 0
    while True:
        length = int(rng.uniform(0.04, 0.15) * sr)
        if position + length > n:
            if position > 0 or n < 16:
                break
            length = n  # a clip shorter than one syllable still gets one
        f1, f2 = rng.uniform(2000, 4000), rng.uniform(3500, 7000)
        # At low sample rates shift the sweep down (keeping its ratio) below Nyquist.
        shift = min(1.0, top / f2)
        f1, f2 = f1 * shift, f2 * shift
        if rng.random() < 0.5:
            f1, f2 = f2, f1
        f0 = np.geomspace(f1, f2, length)
        out[position: position + length] += _harmonics(f0, [1.0, 0.2], sr, rng) * np.hanning(length)
        position += length + int(rng.uniform(0.04, 0.2) * sr)
    return out


def _harmonic_tone(rng, sr, duration, f0=None, count=None):
    n = int(duration * sr)
    t = np.arange(n) / sr
    f0 = rng.uniform(150, 900) if f0 is None else f0
    vibrato = 1.0 + rng.uniform(0, 0.01) * np.sin(2 * np.pi * rng.uniform(4, 7) * t)
    count = int(rng.integers(3, 9)) if count is None else count
    amplitudes = np.arange(1, count + 1) ** -rng.uniform(0.5, 1.5)
    return _harmonics(f0 * vibrato, amplitudes, sr, rng) * _envelope(n, sr, 0.02, min(0.3, duration / 3))


def _hit(rng, sr, low, high, decay):
    """One struck object: a decaying noise transient plus a few damped resonant modes."""
    length = int(min(6 * decay[1], 0.6) * sr)
    t = np.arange(length) / sr
    hit = rng.standard_normal(length) * np.exp(-t / rng.uniform(0.002, 0.01))
    for _ in range(int(rng.integers(2, 5))):
        freq = min(rng.uniform(low, high), 0.45 * sr)
        hit += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * freq * t) * np.exp(-t / rng.uniform(*decay))
    return hit


def _place(out, clip, start):
    end = min(start + clip.shape[0], out.shape[0])
    if end > start:
        out[start:end] += clip[: end - start]


def _impact(rng, sr, duration, low=200, high=3000, decay=(0.02, 0.15), period=None):
    n = int(duration * sr)
    out = np.zeros(n)
    if period is None:
        starts = [0] + sorted(rng.integers(0, max(n - int(0.1 * sr), 1), size=int(rng.integers(0, 3))))
    else:
        starts = np.arange(0, n, int(period * sr))
    for start in starts:
        _place(out, _hit(rng, sr, low, high, decay) * rng.uniform(0.6, 1.0), int(start))
    return out


def _burst(rng, sr, duration, low=None, high=None):
    n = int(duration * sr)
    centre = rng.uniform(500, min(4000, 0.35 * sr))
    low = centre / rng.uniform(1.4, 2.0) if low is None else low
    high = centre * rng.uniform(1.4, 2.0) if high is None else high
    noise = _fft_filter(rng.standard_normal(n), sr, lambda f: _band(f, low, min(high, 0.45 * sr), order=3))
    return noise * _envelope(n, sr, 0.01, 0.03)


def _engine(rng, sr, duration, low=25, high=60):
    n = int(duration * sr)
    t = np.arange(n) / sr
    f0 = rng.uniform(low, high) * (1.0 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t + rng.uniform(0, 6)))
    amplitudes = rng.uniform(0.3, 1.0, size=30) * np.arange(1, 31) ** -0.7
    tone = _harmonics(f0, amplitudes, sr, rng)
    firing = 1.0 + 0.5 * np.sin(np.pi * np.cumsum(f0) / sr)  # amplitude modulation at f0/2
    rumble = _fft_filter(rng.standard_normal(n), sr, lambda f: _band(f, None, 400))
    return (_unit(tone) * firing + 0.5 * _unit(rumble)) * _envelope(n, sr, 0.3, 0.4)


def _powered_saw(rng, sr, duration):
    n = int(duration * sr)
    t = np.arange(n) / sr
    load = 1.0 - 0.25 * np.clip(np.sin(2 * np.pi * rng.uniform(0.2, 0.6) * t), 0, None)
    f0 = rng.uniform(90, 250) * load
    tone = _harmonics(f0, np.arange(1, 41) ** -0.6, sr, rng)
    hiss = _fft_filter(rng.standard_normal(n), sr, lambda f: _band(f, 2000, None))
    return (_unit(tone) + 0.4 * _unit(hiss)) * _envelope(n, sr, 0.2, 0.2)


def _alert(rng, sr, duration):
    if rng.random() < 0.5:
        return _siren(rng, sr, duration)
    n = int(duration * sr)
    out = np.zeros(n)
    beep, gap = rng.uniform(0.08, 0.3), rng.uniform(0.05, 0.3)
    tones = list(rng.uniform(900, 2500, size=2) * min(1.0, 0.4 * sr / 2500))
    position, k = 0, 0
    while position < n:
        length = int(beep * sr)
        beep_wave = _harmonics(np.full(length, tones[k % 2]), [1.0, 0.3], sr, rng)
        _place(out, beep_wave * _envelope(length, sr, 0.005, 0.005), position)
        position += length + int(gap * sr)
        k += 1
    return out


def _music(rng, sr, duration):
    n = int(duration * sr)
    out = np.zeros(n)
    root = rng.uniform(110, 220)
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12])
    position = 0
    beat = rng.uniform(0.2, 0.5)
    while position < n:
        length = int(beat * rng.choice([1, 1, 2]) * sr)
        degree = int(rng.integers(0, 5))
        chord = root * 2 ** (scale[[degree, degree + 2, min(degree + 4, 7)]] / 12.0)
        note = sum(_harmonic_tone(rng, sr, length / sr, f0=f, count=5) for f in chord)
        _place(out, note, position)
        if rng.random() < 0.5:  # a drum hit on the beat
            _place(out, 0.5 * _hit(rng, sr, 60, 200, (0.03, 0.08)), position)
        position += length
    return out


def _dog(rng, sr, duration):
    n = int(duration * sr)
    out = np.zeros(n)
    position = 0
    while position < n:
        length = int(rng.uniform(0.08, 0.25) * sr)
        f0 = np.linspace(rng.uniform(500, 900), rng.uniform(300, 500), length)
        bark = _harmonics(f0, [1.0, 0.8, 0.6, 0.4, 0.25, 0.15], sr, rng)
        bark += 0.3 * _unit(rng.standard_normal(length)) * _rms(bark)
        _place(out, bark * np.hanning(length), position)
        position += length + int(rng.uniform(0.15, 0.5) * sr)
    return out


# ----------------------------------------------------------------------------------------------
# Formant speech.  Per accent: vowel formant targets (F1, F2, F3 in Hz for a reference vocal
# tract), how far each vowel glides toward a second target (diphthongs), rhotic F3 lowering,
# syllable rate and its variability, and the phrase pitch contour.

_BASE_VOWELS = np.array([  # i, e, a, o, u, schwa
    [280, 2250, 2900], [450, 1950, 2600], [750, 1250, 2500],
    [500, 850, 2400], [320, 900, 2300], [500, 1500, 2500],
], dtype=float)

ACCENT_STYLES = {
    "american": {
        "vowel_scale": np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [0.95, 1.12, 1.0],
                                 [1.0, 1.0, 1.0], [1.0, 1.05, 1.0], [1.0, 1.0, 1.0]]),
        "glide": 0.15, "rhotic": 0.35, "rate": 4.6, "rate_cv": 0.2, "contour": "fall",
    },
    "australian": {
        "vowel_scale": np.array([[0.9, 1.05, 1.0], [0.88, 1.08, 1.0], [1.0, 1.05, 1.0],
                                 [1.0, 1.15, 1.0], [1.0, 1.45, 1.0], [1.0, 1.0, 1.0]]),
        "glide": 0.5, "rhotic": 0.0, "rate": 4.2, "rate_cv": 0.3, "contour": "rise",
    },
    "british": {
        "vowel_scale": np.array([[1.0, 1.0, 1.0], [1.05, 0.97, 1.0], [1.12, 0.82, 1.0],
                                 [1.0, 0.92, 1.0], [1.0, 1.15, 1.0], [1.0, 1.0, 1.0]]),
        "glide": 0.25, "rhotic": 0.0, "rate": 5.2, "rate_cv": 0.45, "contour": "wide",
    },
}


def _speech(rng, stft, n, accent, f0_base=None, tract=None):
    """Formant-synthesised syllables in phrases (source-filter model, filtered per STFT frame)."""
    sr = stft.sr
    style = ACCENT_STYLES[accent]
    f0_base = rng.uniform(90, 240) if f0_base is None else f0_base
    tract = rng.uniform(0.85, 1.2) if tract is None else tract  # formant scaling (tract length)
    frames = stft.num_frames(n)
    frame_rate = sr / stft.hop
    times = np.arange(frames) / frame_rate
    amplitude = np.zeros(frames)
    formants = np.tile(_BASE_VOWELS[5] * tract, (frames, 1))
    semitones = np.zeros(frames)
    fricative = np.zeros(frames)
    vowels = _BASE_VOWELS * style["vowel_scale"]
    end = n / sr
    t = rng.uniform(0.0, min(0.3, end / 4))
    while t < end - 0.1:
        count = int(rng.integers(4, 10))
        phrase_start = t
        syllables = []
        for k in range(count):
            length = style["rate"] ** -1 * float(np.exp(rng.normal(0, style["rate_cv"])))
            length = float(np.clip(length, 0.08, 0.6))
            syllables.append((t, length, k))
            t += length
            if t > end:
                break
        phrase_end = min(t, end)
        span = max(phrase_end - phrase_start, 1e-3)
        for onset, length, k in syllables:
            inside = (times >= onset) & (times < min(onset + length, end))
            if not inside.any():
                continue
            local = (times[inside] - onset) / length  # 0..1 through the syllable
            shape = np.clip(np.minimum(local / 0.25, (1.0 - local) / 0.3), 0.0, 1.0)
            stress = 1.0 if rng.random() < 0.4 else 0.6
            amplitude[inside] = np.maximum(amplitude[inside], stress * shape)
            first, second = rng.integers(0, len(vowels), size=2)
            target = vowels[first] * tract
            glide_to = vowels[second] * tract
            glide = style["glide"] * local[:, None]
            track = (1.0 - glide) * target + glide * glide_to
            if rng.random() < style["rhotic"]:
                track[:, 2] = np.minimum(track[:, 2], 1800.0 * tract * (1.0 - 0.1 * local))
            formants[inside] = track
            position = (onset + length * local - phrase_start) / span  # 0..1 through the phrase
            if style["contour"] == "fall":
                contour = 2.0 - 4.0 * position - 3.0 * np.clip(position - 0.8, 0, None) / 0.2
            elif style["contour"] == "rise":
                contour = 1.0 - 2.0 * position + 6.0 * np.clip(position - 0.75, 0, None) / 0.25
            else:
                contour = 3.0 - 5.0 * position + (3.0 if stress == 1.0 else -1.0) * np.sin(np.pi * local)
            semitones[inside] = contour
            if rng.random() < 0.5:  # a fricative or plosive at the syllable onset
                fricative[inside & (times < onset + rng.uniform(0.02, 0.08))] = rng.uniform(0.2, 0.6)
        t = phrase_end + rng.uniform(0.15, 0.5)
    # Smooth the pitch track (about 40 ms) so it glides between syllables.
    kernel = np.hanning(7)
    semitones = np.convolve(semitones, kernel / kernel.sum(), mode="same")
    f0 = f0_base * 2.0 ** (np.interp(np.arange(n) / stft.hop, np.arange(frames), semitones) / 12.0)
    phase = np.cumsum(f0) / sr + rng.random()
    source = np.diff(np.floor(phase), prepend=np.floor(phase[0])) * np.sqrt(sr / f0)
    source += 0.02 * rng.standard_normal(n)  # aspiration
    freqs = stft.freqs
    bandwidths = np.array([80.0, 100.0, 150.0]) * tract
    fc = formants[:, None, :]
    f = freqs[None, :, None]
    # Product of three two-pole resonances |F^2 / (F^2 - f^2 + j B f)|: `(frames, bins)`.
    response = np.prod(fc ** 2 / np.sqrt((fc ** 2 - f ** 2) ** 2 + (bandwidths * f) ** 2), axis=-1)
    glottal = 1.0 / np.sqrt(1.0 + (freqs / 300.0) ** 2)
    voiced = stft.filter(source, response * glottal * amplitude[:, None])
    hiss = stft.noise(rng, _band(freqs, 2500, 0.45 * sr, order=2)[None, :] * fricative[:, None], n)
    # Consonant noise about 20 dB below the voiced energy overall (it is concentrated in short
    # onsets, so within a consonant it is roughly 10 dB below the vowels, as for /s/ or /t/).
    return voiced / (_rms(voiced) + 1e-12) + 0.1 * hiss / (_rms(hiss) + 1e-12) * (fricative.max() > 0)


# ----------------------------------------------------------------------------------------------
# Background textures (the noise bed of a scene; events and tags are mixed over these).


def _babble_amplitude(rng, stft, frames):
    """Speech-shaped noise whose three bands fluctuate at syllable rates (many talkers)."""
    freqs = stft.freqs
    shape = _band(freqs, 200, 3500, order=2) * (1.0 + 1.5 * np.exp(-0.5 * ((freqs - 600) / 300) ** 2))
    bands = [(0, 800), (800, 2000), (2000, stft.nyquist)]
    amp = np.zeros((frames, stft.bins))
    frame_rate = stft.sr / stft.hop
    for low, high in bands:
        mask = (freqs >= low) & (freqs < high)
        modulation = _smooth_random(rng, frames, frame_rate / 8.0, floor=0.2)
        amp[:, mask] = modulation[:, None] * shape[mask]
    return amp


# Mean level (dB re the loudest texture) of each texture in each scene. Every scene draws each
# level with +-9 dB per-clip jitter and drops textures below -24 dB, so textures overlap between
# scenes and the class shows in their balance and in the scene-typical events, not in any one
# component.
_TEXTURES = ("pink", "rumble", "wind", "traffic", "babble", "rain", "fan", "hum")
_SCENE_LEVELS = {
    "park":           {"pink": -6, "rumble": -14, "wind": 0, "traffic": -18, "babble": -18},
    "street_traffic": {"pink": -12, "rumble": -3, "wind": -18, "traffic": 0, "babble": -14},
    "metro_station":  {"pink": -14, "rumble": 0, "traffic": -18, "babble": -4, "hum": -12},
    "shopping_mall":  {"pink": -9, "rumble": -16, "babble": 0, "fan": -14, "hum": -20},
    "rain":           {"pink": -12, "rumble": -12, "wind": -16, "traffic": -22, "rain": 0},
    "office":         {"pink": -8, "babble": -18, "fan": 0, "hum": -16, "rumble": -20},
}


def _bed(rng, stft, n, kind):
    """A unit-RMS background texture of ``n`` samples for scene ``kind``."""
    if kind not in _SCENE_LEVELS:
        raise ValueError(f"unknown scene {kind!r}")
    frames = stft.num_frames(n)
    freqs = stft.freqs
    frame_rate = stft.sr / stft.hop
    sr = stft.sr
    parts = []  # (amplitude (frames, bins), dB) of noise textures, drawn in one pass
    extra = np.zeros(n)  # textures made in the time domain

    def spectral(spectrum, db, modulation=None):
        spectrum = spectrum / np.sqrt(np.mean(spectrum ** 2))
        if modulation is None:
            parts.append((np.broadcast_to(spectrum, (frames, stft.bins)), db))
        else:
            parts.append((modulation[:, None] * spectrum[None, :], db))

    levels = {name: mean + rng.uniform(-9, 9) for name, mean in _SCENE_LEVELS[kind].items()}
    for name in _TEXTURES:
        db = levels.get(name)
        if db is None or db < -24:
            continue
        if name == "pink":
            spectral(_tilt(freqs, rng.uniform(0.8, 1.2)), db)
        elif name == "rumble":
            spectral(_tilt(freqs, 2.0) * _band(freqs, 20, rng.uniform(200, 500)), db)
        elif name == "wind":
            spectral(_band(freqs, None, rng.uniform(300, 700)), db, _smooth_random(rng, frames, frame_rate * 1.5, 0.05))
        elif name == "traffic":
            cars = np.zeros(frames)
            for _ in range(rng.poisson(0.35 * n / sr) + 1):
                centre, width = rng.uniform(0, n / sr), rng.uniform(0.8, 3.0)
                cars += np.exp(-0.5 * ((np.arange(frames) / frame_rate - centre) / width) ** 2)
            spectral(_band(freqs, 300, 3000) * _tilt(freqs, 1.0), db, 0.2 + cars)
        elif name == "babble":
            parts.append((_babble_amplitude(rng, stft, frames) / 0.8, db))
        elif name == "rain":
            spectral(_band(freqs, rng.uniform(800, 1500), min(9000, 0.45 * sr), order=1), db)
            drops = np.zeros(n)
            count = rng.poisson(rng.uniform(40, 150) * n / sr)
            drops[rng.integers(0, n, size=count)] = rng.uniform(-1, 1, size=count) * rng.pareto(3.0, size=count)
            extra += 10 ** ((db - 6) / 20) * _unit(stft.filter(drops, _band(freqs, 2000, None, order=2)) + 1e-12)
        elif name == "fan":
            spectral(_band(freqs, 80, 1200, order=1), db)
            fan = rng.uniform(100, 300)
            extra += 10 ** ((db - 10) / 20) * _unit(_harmonics(np.full(n, fan), [1.0, 0.4, 0.2], sr, rng))
        elif name == "hum":
            mains = rng.choice([50.0, 60.0])
            extra += 10 ** (db / 20) * _unit(_harmonics(np.full(n, mains), [1.0, 0.6, 0.4, 0.3, 0.2], sr, rng))
    amplitude = np.sqrt(sum(10 ** (db / 10) * np.square(a) for a, db in parts))
    # irfft of unit complex-Gaussian bins has variance 2/n_fft: rescale so dB levels hold.
    bed = stft.noise(rng, amplitude, n) * np.sqrt(stft.n_fft / 2.0)
    return _unit(bed + extra)


# Scene-typical events: (generator name, events per second, duration range (s), dB re the bed).
_SCENE_EVENTS = {
    "park": [("chirp", 0.5, (0.5, 2.0), (-6, 6)), ("dog", 0.03, (0.5, 1.5), (-6, 3)), ("voice", 0.05, (1.0, 2.5), (-10, -2))],
    "street_traffic": [("engine", 0.2, (1.5, 4.0), (0, 8)), ("horn", 0.05, (0.3, 1.0), (0, 8)), ("burst", 0.04, (0.3, 0.8), (-4, 4))],
    "metro_station": [("impact", 0.4, (0.2, 0.6), (-8, 2)), ("chime", 0.05, (1.0, 2.0), (-4, 4)), ("train", 0.05, (3.0, 6.0), (0, 6))],
    "shopping_mall": [("music", 0.1, (3.0, 6.0), (-6, 0)), ("impact", 0.15, (0.2, 0.5), (-10, -2)), ("voice", 0.15, (1.0, 2.5), (-6, 2))],
    "rain": [("thunder", 0.04, (2.0, 4.0), (0, 8)), ("impact", 0.05, (0.2, 0.4), (-10, -4))],
    "office": [("keys", 0.3, (0.8, 2.5), (-6, 2)), ("voice", 0.15, (1.0, 2.5), (-4, 4)), ("ring", 0.03, (1.0, 2.0), (0, 6))],
}


def _scene_event(rng, stft, name, duration):
    sr = stft.sr
    if name == "chirp":
        return _chirp(rng, sr, duration)
    if name == "dog":
        return _dog(rng, sr, duration)
    if name == "voice":
        return _speech(rng, stft, int(duration * sr), str(rng.choice(ACCENT_CLASSES)))
    if name == "engine":
        return _engine(rng, sr, duration)
    if name == "horn":
        return _harmonic_tone(rng, sr, duration, f0=rng.uniform(350, 500), count=6)
    if name == "burst":
        return _burst(rng, sr, duration)
    if name == "impact":
        return _impact(rng, sr, duration)
    if name == "chime":
        return sum(_harmonic_tone(rng, sr, duration, f0=f, count=3) for f in rng.uniform(500, 1200, size=2))
    if name == "train":
        return _engine(rng, sr, duration, low=15, high=30)
    if name == "music":
        return _music(rng, sr, duration)
    if name == "thunder":
        decay = np.exp(-np.arange(int(duration * sr)) / (sr * duration / 3))
        return _burst(rng, sr, duration, low=20, high=300) * decay
    if name == "keys":
        return _impact(rng, sr, duration, low=2000, high=6000, decay=(0.003, 0.015), period=rng.uniform(0.1, 0.25))
    if name == "ring":
        return _alert(rng, sr, duration)
    raise ValueError(name)


def _channel(rng, stft, clip):
    """A random recording channel (device): smooth +-6 dB colouring, a random low cut (40-250
    Hz) and high cut (from 0.25*sr up to no cut), as the DCASE multi-device recordings vary."""
    freqs = np.maximum(stft.freqs, 1.0)
    octaves = np.log2(freqs / 1000.0)
    gain_db = rng.uniform(-3, 3) * octaves / 4.0
    for _ in range(3):
        gain_db = gain_db + rng.uniform(-2, 2) * np.cos(2 * np.pi * octaves / rng.uniform(1.5, 5) + rng.uniform(0, 6.3))
    response = 10 ** (np.clip(gain_db, -6, 6) / 20) * _band(stft.freqs, rng.uniform(40, 250), None, order=2)
    if rng.random() < 0.5:
        response = response * _band(stft.freqs, None, rng.uniform(0.25, 0.45) * stft.sr, order=4)
    return stft.filter(clip, response)


def _add(mixture, event, start, gain_db):
    """Add ``event`` scaled to RMS 10^(gain_db/20) (by its own RMS) at sample ``start``."""
    if _rms(event) < 1e-9:
        return
    _place(mixture, event / _rms(event) * 10 ** (gain_db / 20.0), start)


# ----------------------------------------------------------------------------------------------
# Task generators: each makes one clip from its own random generator.

_EVENT_DURATIONS = {
    "siren": (1.0, 3.0), "chirp": (0.5, 2.0), "harmonic_tone": (0.4, 2.0),
    "impact": (0.2, 1.0), "burst": (0.2, 1.0), "engine": (1.5, 4.0),
}
_TAG_DURATIONS = {
    "engine": (2.0, 6.0), "machinery_impact": (1.0, 4.0), "non_machinery_impact": (0.2, 0.8),
    "powered_saw": (1.5, 5.0), "alert_signal": (1.0, 3.0), "music": (2.0, 6.0),
    "human_voice": (1.0, 3.0), "dog": (0.5, 2.0),
}


def _event_wave(rng, stft, name, duration):
    sr = stft.sr
    return {
        "siren": lambda: _siren(rng, sr, duration),
        "chirp": lambda: _chirp(rng, sr, duration),
        "harmonic_tone": lambda: _harmonic_tone(rng, sr, duration),
        "impact": lambda: _impact(rng, sr, duration),
        "burst": lambda: _burst(rng, sr, duration),
        "engine": lambda: _engine(rng, sr, duration),
        "machinery_impact": lambda: _impact(rng, sr, duration, low=1500, high=5000, decay=(0.01, 0.06),
                                            period=rng.uniform(0.08, 0.4)),
        "non_machinery_impact": lambda: _impact(rng, sr, duration, low=60, high=300, decay=(0.03, 0.12)),
        "powered_saw": lambda: _powered_saw(rng, sr, duration),
        "alert_signal": lambda: _alert(rng, sr, duration),
        "music": lambda: _music(rng, sr, duration),
        "human_voice": lambda: _speech(rng, stft, int(duration * sr), str(rng.choice(ACCENT_CLASSES))),
        "dog": lambda: _dog(rng, sr, duration),
    }[name]()


def _clip_scene(rng, stft, n, label):
    clip = _bed(rng, stft, n, label)
    sr = stft.sr
    for name, rate, (d0, d1), (g0, g1) in _SCENE_EVENTS[label]:
        for _ in range(rng.poisson(rate * n / sr)):
            duration = min(rng.uniform(d0, d1), n / sr)
            _add(clip, _scene_event(rng, stft, name, duration), int(rng.integers(0, n)), rng.uniform(g0, g1))
    return clip, []


def _mix_events(rng, stft, n, names, durations, snr_db, occurrences=(1, 1)):
    """Events over a unit-RMS scene bed, each scaled to 10^(snr/20) by its own RMS (2APAE)."""
    sr = stft.sr
    clip = _bed(rng, stft, n, str(rng.choice(SCENE_CLASSES)))
    strong = []
    for name in names:
        for _ in range(int(rng.integers(occurrences[0], occurrences[1] + 1))):
            duration = min(rng.uniform(*durations[name]), n / sr)
            wave = _event_wave(rng, stft, name, duration)
            start = int(rng.integers(0, max(n - wave.shape[0], 0) + 1))
            snr = float(rng.choice(snr_db)) if np.ndim(snr_db) else float(snr_db)
            if _rms(wave) < 1e-9:
                continue  # nothing audible: no label either
            _add(clip, wave, start, snr)
            strong.append((round(start / sr, 4), round(min(start + wave.shape[0], n) / sr, 4), name))
    return clip, sorted(strong)


def _pick_labels(rng, classes, low, high):
    count = int(rng.integers(low, high + 1))
    return [classes[i] for i in sorted(rng.choice(len(classes), size=count, replace=False))]


def _single_labels(task, seed, num_clips):
    """Balanced labels, stable under growing ``num_clips``: each block of C clips is a permutation."""
    classes = CLASS_NAMES[task]
    labels = []
    for block in range(-(-num_clips // len(classes))):
        order = np.random.default_rng([seed, _TASK_ID[task], 1_000_003, block]).permutation(len(classes))
        labels.extend(classes[i] for i in order)
    return labels[:num_clips]


def _resolve(task, sample_rate, duration):
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {TASKS}")
    sample_rate = DEFAULTS[task]["sample_rate"] if sample_rate is None else sample_rate
    if isinstance(sample_rate, bool) or int(sample_rate) != sample_rate or not 4000 <= sample_rate <= 96000:
        raise ValueError(f"sample_rate must be an integer between 4000 and 96000 Hz, got {sample_rate!r}")
    duration = DEFAULTS[task]["duration"] if duration is None else duration
    bounds = tuple(duration) if isinstance(duration, (tuple, list)) else (duration, duration)
    if len(bounds) != 2 or not all(np.isfinite(b) and b > 0 for b in bounds) or bounds[0] > bounds[1]:
        raise ValueError(f"duration must be seconds > 0 or a (min, max) range, got {duration!r}")
    if bounds[0] < 0.25 or bounds[1] > 600:
        raise ValueError(f"duration must lie between 0.25 and 600 seconds, got {duration!r}")
    return int(sample_rate), (float(bounds[0]), float(bounds[1]))


def synthesize(task, num_clips, seed=0, sample_rate=None, duration=None, snr_db=(0, 10, 20)):
    """Generate a synthetic data set in memory.

    Args:
      task: "scenes", "events", "tagging" or "accents".
      num_clips: number of clips (>= 1).
      seed: integer seed; clip ``i`` depends only on ``(seed, task, i)``.
      sample_rate: Hz (default 16000 for every task).
      duration: seconds, or a ``(min, max)`` range drawn per clip (default 10 s; accents 3-8 s).
      snr_db: events and tagging tasks: each event's SNR over the background, a number or a
        set of values drawn per event (default 0/10/20 dB, the 2APAE SNRs).

    Returns:
      A :class:`SyntheticSet`. Targets are one-hot for "scenes"/"accents" and multi-hot for
      "events"/"tagging"; ``events`` holds strong labels for "events" and "tagging".
    """
    sample_rate, (d_min, d_max) = _resolve(task, sample_rate, duration)
    if isinstance(num_clips, bool) or int(num_clips) != num_clips or num_clips < 1:
        raise ValueError(f"num_clips must be a positive integer, got {num_clips!r}")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    num_clips, seed = int(num_clips), int(seed)
    snr_values = np.atleast_1d(np.asarray(snr_db, dtype=float))
    if snr_values.size == 0 or not np.all(np.isfinite(snr_values)):
        raise ValueError(f"snr_db must be finite numbers, got {snr_db!r}")
    stft = _Stft(sample_rate)
    classes = list(CLASS_NAMES[task])
    single = None if MULTI_LABEL[task] else _single_labels(task, seed, num_clips)
    waveforms, labels, events = [], [], []
    for i in range(num_clips):
        rng = np.random.default_rng([seed, _TASK_ID[task], i])
        n = int(round(rng.uniform(d_min, d_max) * sample_rate)) if d_max > d_min else int(round(d_min * sample_rate))
        if task == "scenes":
            clip, strong = _clip_scene(rng, stft, n, single[i])
            clip_labels = [single[i]]
        elif task == "accents":
            speech = _speech(rng, stft, n, single[i])
            noise = stft.noise(rng, _tilt(stft.freqs, 1.0)[None, :], n)
            clip = _unit(speech) + 10 ** (-rng.uniform(25, 40) / 20) * _unit(noise)
            strong, clip_labels = [], [single[i]]
        elif task == "events":
            names = _pick_labels(rng, EVENT_CLASSES, 1, 3)
            clip, strong = _mix_events(rng, stft, n, names, _EVENT_DURATIONS, snr_values)
            clip_labels = [name for name in names if any(label == name for _, _, label in strong)]
        else:  # tagging
            names = _pick_labels(rng, TAG_CLASSES, 1, 3)
            clip, strong = _mix_events(rng, stft, n, names, _TAG_DURATIONS, snr_values, occurrences=(1, 2))
            clip_labels = [name for name in names if any(label == name for _, _, label in strong)]
        clip = _channel(rng, stft, clip)
        # A random playback level (-35 to -18 dBFS RMS) so that loudness is no cue; no clipping.
        clip = _unit(clip) * 10 ** (rng.uniform(-35, -18) / 20)
        peak = np.max(np.abs(clip))
        if peak > 0.99:
            clip *= 0.99 / peak
        waveforms.append(clip.astype(np.float32))
        labels.append(clip_labels)
        events.append(strong)
    targets = np.zeros((num_clips, len(classes)), np.float32)
    for i, clip_labels in enumerate(labels):
        for label in clip_labels:
            targets[i, classes.index(label)] = 1.0
    if len({w.shape[0] for w in waveforms}) == 1:
        waveforms = np.stack(waveforms)
    return SyntheticSet(
        waveforms=waveforms, targets=targets, class_names=classes, sample_rate=sample_rate,
        events=events, labels=labels, task=task, multi_label=MULTI_LABEL[task], seed=seed,
    )


SPLITS = (("train", 0.7), ("validation", 0.15), ("test", 0.15))
_OWNED_FILES = ("manifest.csv", "train.csv", "validation.csv", "test.csv", "class_names.txt", "info.json")


def _split_indices(data):
    """Deterministic 70/15/15 split; single-label tasks are split per class (stratified)."""
    rng = np.random.default_rng([data.seed, _TASK_ID[data.task], 7])
    if data.multi_label:
        groups = [np.arange(len(data))]
    else:
        groups = [np.flatnonzero(data.targets[:, c]) for c in range(data.targets.shape[1])]
    out = {name: [] for name, _ in SPLITS}
    for group in groups:
        group = rng.permutation(group)
        n_val = int(round(len(group) * SPLITS[1][1]))
        n_test = int(round(len(group) * SPLITS[2][1]))
        n_train = len(group) - n_val - n_test
        out["train"] += list(group[:n_train])
        out["validation"] += list(group[n_train:n_train + n_val])
        out["test"] += list(group[n_train + n_val:])
    return {name: sorted(int(i) for i in idx) for name, idx in out.items()}


def write_synthetic_corpus(task, out_dir, num_clips, seed=0, sample_rate=None, duration=None,
                           snr_db=(0, 10, 20), overwrite=False):
    """Generate a synthetic set and write it as 16-bit wav files plus manifests.

    Layout of ``out_dir``: ``audio/<task>_<i>.wav``; ``manifest.csv`` (all clips; the events and
    tagging tasks also carry ``onset,offset,event_label`` strong-label rows); ``train.csv``,
    ``validation.csv``, ``test.csv`` (a deterministic 70/15/15 split, stratified by class for
    single-label tasks); ``class_names.txt``; ``info.json`` (task, seed, rates, counts).

    Args:
      task, num_clips, seed, sample_rate, duration, snr_db: as :func:`synthesize`.
      out_dir: output folder; must be empty or absent unless ``overwrite``.
      overwrite: replace a corpus this function wrote there before: only the files it wrote
        (listed in the folder's ``.audioattn-owned.json``) are removed, and a folder holding
        any other file is refused, naming it (:class:`keras_audioattn.files.OwnedFolder`).
        Every file is written atomically (temporary file + rename).

    Returns:
      Path of ``manifest.csv``.
    """
    import json

    import soundfile as sf

    from keras_audioattn.data.manifest import save_class_names, write_manifest

    from keras_audioattn.files import OwnedFolder, atomic_path, write_text

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ExistingFileArgument("out_dir", f"{out_dir} exists and is not a folder")
    folder = OwnedFolder(out_dir)
    if not folder.is_empty() and not overwrite:
        raise ExistingFileArgument("out_dir", f"{out_dir} is not empty; pass overwrite=True to replace it",
                                   mentions=("overwrite",))
    data = synthesize(task, num_clips, seed=seed, sample_rate=sample_rate, duration=duration, snr_db=snr_db)
    try:
        folder.prepare(overwrite=overwrite, what="out_dir")
    except (ValueError, FileExistsError) as error:
        raise as_argument_error(error, "out_dir", mentions=("overwrite",)) from None
    names = [f"audio/{task}_{i:05d}.wav" for i in range(len(data))]
    folder.claim(*_OWNED_FILES, *names)  # before writing: a crash leaves them owned
    audio_dir = out_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, name in enumerate(names):
        path = out_dir / name
        with atomic_path(path) as tmp:
            sf.write(tmp, data.waveforms[i], data.sample_rate, subtype="PCM_16", format="WAV")
        paths.append(str(path))
    strong = data.events if task in ("events", "tagging") else None
    manifest = write_manifest(out_dir / "manifest.csv", paths, data.labels, events=strong)
    for name, indices in _split_indices(data).items():
        write_manifest(out_dir / f"{name}.csv", [paths[i] for i in indices], [data.labels[i] for i in indices],
                       events=None if strong is None else [strong[i] for i in indices])
    save_class_names(out_dir / "class_names.txt", data.class_names)
    lengths = [len(w) for w in data.waveforms]
    info = {
        "task": task, "num_clips": len(data), "seed": data.seed, "sample_rate": data.sample_rate,
        "multi_label": data.multi_label, "class_names": data.class_names,
        "min_duration_s": min(lengths) / data.sample_rate, "max_duration_s": max(lengths) / data.sample_rate,
        "snr_db": [float(s) for s in np.atleast_1d(snr_db)] if task in ("events", "tagging") else None,
    }
    write_text(out_dir / "info.json", json.dumps(info, indent=1) + "\n")
    return manifest
