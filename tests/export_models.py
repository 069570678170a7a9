"""Tiny waveform-input models shared by the export tests (not a test module).

These are not paper models, so they are not built from the ``<family>-tiny`` presets (the export
tests of each paper model live in its test file and use its tiny preset): the export package's own
tests need plain functional graphs of a known op set -- a conv net, and a CNN-LSTM whose LSTM is
wide enough for the dynamic-range quantizer (see ``tiny_cnn_lstm_model``), one with the
pre-redesign dict outputs ``clip`` / ``frame``.
"""

import keras
import numpy as np

from keras_audioattn.layers import LogMelSpectrogram

SAMPLE_RATE = 8000
NUM_SAMPLES = 8000  # 1 s
LABELS = ["dog", "siren", "speech"]


def _front_end(inputs):
    mel = LogMelSpectrogram(sample_rate=SAMPLE_RATE, fft_length=256, frame_step=80, num_mel_bins=16,
                            name="log_mel")(inputs)
    return keras.layers.Reshape((-1, 16, 1), name="add_channel")(mel)


def tiny_conv_model():
    """log-mel -> conv 3x3 stride 2 -> BN -> global average pool -> dense sigmoid (3 classes)."""
    inputs = keras.Input((NUM_SAMPLES,), name="waveform")
    x = _front_end(inputs)
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(len(LABELS), activation="sigmoid", name="scores")(x)
    return keras.Model(inputs, outputs, name="tiny_conv")


def tiny_cnn_lstm_model(dict_outputs=False):
    """The CNN-LSTM student in miniature: conv 5x5 stride 2 -> LSTM 16 -> dense sigmoid.

    With ``dict_outputs`` it returns ``{"clip": (batch, 3), "frame": (batch, frames, 3)}``.
    """
    inputs = keras.Input((NUM_SAMPLES,), name="waveform")
    x = _front_end(inputs)
    # 16 filters x 8 mel -> 128 LSTM inputs: each gate's input matrix has 2048 >= 1024 elements,
    # the dynamic-range quantizer's size threshold, so "dynamic" really quantizes the LSTM.
    x = keras.layers.Conv2D(16, 5, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Reshape((-1, 8 * 16))(x)
    x = keras.layers.Dropout(0.1)(x)
    if not dict_outputs:
        x = keras.layers.LSTM(16)(x)
        outputs = keras.layers.Dense(len(LABELS), activation="sigmoid")(x)
        return keras.Model(inputs, outputs, name="tiny_cnn_lstm")
    seq = keras.layers.LSTM(16, return_sequences=True)(x)
    frame = keras.layers.Dense(len(LABELS), activation="sigmoid", name="frame")(seq)
    clip = keras.layers.GlobalMaxPooling1D(name="clip")(frame)
    return keras.Model(inputs, {"clip": clip, "frame": frame}, name="tiny_cnn_lstm_dict")


def waveforms(count, seed=0):
    """Noise bursts plus tones: a small calibration / check set ``(count, NUM_SAMPLES)``."""
    rng = np.random.default_rng(seed)
    t = np.arange(NUM_SAMPLES) / SAMPLE_RATE
    rows = []
    for i in range(count):
        tone = np.sin(2 * np.pi * rng.uniform(200, 3000) * t) * rng.uniform(0.05, 0.5)
        noise = rng.standard_normal(NUM_SAMPLES) * rng.uniform(0.01, 0.2)
        rows.append(tone * (i % 2) + noise)
    return np.asarray(rows, np.float32)
