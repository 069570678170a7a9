"""Pieces shared by several model constructors: argument checks and the waveform → log-mel input."""

from __future__ import annotations

import keras
import numpy as np

from keras_audioattn.layers.front_ends import FRONT_END_PRESETS, LogMelSpectrogram


def positive_int(value, name, owner):
    """``int(value)``, or a ValueError naming ``owner`` (the class) and the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: `{name}` must be a positive integer, got {value!r}.")
    return int(value)


def log_mel_input(preset, include_front_end, sample_rate, num_mel_bins, clip_duration=None, front_end=None,
                  normalize_inputs=False):
    """``(inputs, features)`` of a log-mel model: ``features`` is ``(batch, frames, mel)``.

    With ``include_front_end`` the input is a float32 waveform ``(batch, samples)`` named
    ``"waveform"`` (``samples`` fixed by ``clip_duration``, or any length) and the front end is
    ``LogMelSpectrogram.from_preset(preset)`` with ``front_end`` overrides, named ``"log_mel"``;
    otherwise the input is the log-mel itself, ``(batch, frames, num_mel_bins)``.
    ``normalize_inputs`` adds a per-band ``BatchNormalization`` named ``"feature_norm"``.
    """
    if clip_duration is not None and not float(clip_duration) > 0:
        raise ValueError(f"`clip_duration` must be positive or None, got {clip_duration!r}.")
    if include_front_end:
        num_samples = None if clip_duration is None else int(round(sample_rate * float(clip_duration)))
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
