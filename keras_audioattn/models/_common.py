"""The waveform → log-mel input shared by the log-mel models (argument checks: keras_audioattn.validation)."""

from __future__ import annotations

import keras

from keras_audioattn.layers.front_ends import FRONT_END_PRESETS, LogMelSpectrogram
from keras_audioattn.validation import optional, positive_int


def log_mel_input(preset, include_front_end, sample_rate, num_mel_bins, num_samples=None, front_end=None,
                  normalize_inputs=False, owner=None):
    """``(inputs, features)`` of a log-mel model: ``features`` is ``(batch, frames, mel)``.

    With ``include_front_end`` the input is a float32 waveform ``(batch, samples)`` named
    ``"waveform"`` (``samples`` fixed by ``num_samples``, or any length) and the front end is
    ``LogMelSpectrogram.from_preset(preset)`` with ``front_end`` overrides, named ``"log_mel"``;
    otherwise the input is the log-mel itself, ``(batch, frames, num_mel_bins)``.
    ``normalize_inputs`` adds a per-band ``BatchNormalization`` named ``"feature_norm"``.
    ``sample_rate``, ``num_mel_bins`` and ``num_samples`` are checked here (errors name ``owner``,
    the model class).
    """
    sample_rate = positive_int(sample_rate, "sample_rate", owner)
    num_mel_bins = positive_int(num_mel_bins, "num_mel_bins", owner)
    num_samples = optional(positive_int, num_samples, "num_samples", owner)
    if include_front_end:
        inputs = keras.Input(shape=(num_samples,), dtype="float32", name="waveform")
        config = {**FRONT_END_PRESETS[preset], "sample_rate": sample_rate, "num_mel_bins": num_mel_bins,
                  **dict(front_end or {})}
        log_mel = LogMelSpectrogram(name="log_mel", **config)
        if num_samples is not None and num_samples < log_mel.min_samples:
            raise ValueError(f"A clip of {num_samples} samples is shorter than one STFT frame "
                             f"({log_mel.min_samples} samples).")
        x = log_mel(inputs)
    else:
        inputs = keras.Input(shape=(None, num_mel_bins), dtype="float32", name="log_mel")
        x = inputs
    if normalize_inputs:
        x = keras.layers.BatchNormalization(axis=-1, momentum=0.9, name="feature_norm")(x)
    return inputs, x
