"""Acoustic scene classifier of Zhang, Zhang & Wu (Interspeech 2018), §3.

Pipeline (paper §3.1-3.2): waveform clip of 1 s -> log-mel (STFT 1024 / hop 220, 64 filters;
``LogMelSpectrogram.from_preset("zhang2018")``) -> one attention LSTM layer of 128 units
(vanilla / TA / SA / TA+SA, :mod:`keras_audioattn.layers.attention_lstm`) -> DNN
"128 x 128 x C" -> softmax. Adam 1e-3, L2 weight 1e-4, 100 epochs, dropout 0.5 on DCASE 2016.
A recording (30 s in the paper) is cut into 1 s clips with 50 % overlap; the clip
probabilities are averaged (:func:`predict_recording`).

Choices where the text is open (see ``docs/zhang2018.md``):

* "128 x 128 x C" is read as the DNN's layer widths from its input to its output: the 128-d
  LSTM output, **one** hidden ReLU layer of 128, the C-way softmax (``hidden_units=(128,)``, the
  default and the presets). Reason: the first number equals the LSTM size N = 128 and the last
  one the number of classes, which is the usual "input x hidden x output" shorthand; the text
  does not settle it, and one hidden layer is at least as likely as two.
  ``hidden_units=(128, 128)`` gives the other reading (two hidden layers), kept as an option.
* L2 (``keras.regularizers.L2(l2)``, i.e. ``l2 * sum(w**2)``) on every kernel: the LSTM's input,
  recurrent, bilinear-gate, cluster and ``W_x`` kernels and the dense kernels; not on biases or
  the codebook.
* Dropout (``dropout``) after the LSTM output and after each hidden layer. The class defaults
  are the paper's DCASE 2016 setting (44.1 kHz, dropout 0.5, §3 and §3.2); the LITIS Rouen
  setting (22.05 kHz, no dropout stated) is the ``zhang2018-<variant>`` presets.
* The paper says nothing about feature scaling and has no input normalisation; neither have
  the defaults and the presets. ``normalize_inputs=True`` adds a ``BatchNormalization`` over
  the mel axis that standardises each band (an addition, not the paper's; it folds into a
  multiply-add at export). ``docs/zhang2018.md`` reports what it changes on the built-in corpus.
* The paper reports every model "after 100 training epochs" (§3.2, Table 1): the presets'
  recipe has ``"keep": "last"``, which makes ``audioattn train`` keep the model of the last
  epoch (``"best"`` would keep the best validation epoch).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_audioattn.layers.attention_lstm import AttentionLSTM, make_cell
from keras_audioattn.models._common import log_mel_input

_PKG = "keras_audioattn"
VARIANTS = ("ta_sa", "ta", "sa", "vanilla")


@keras.saving.register_keras_serializable(package=_PKG)
class AttentionLSTMClassifier(keras.Model):
    """Attention-LSTM acoustic scene classifier (Zhang et al. 2018, §3.1-3.2; Table 1).

    Args:
        num_classes: number of scene classes (19 for LITIS Rouen, 15 for DCASE 2016).
        variant: ``"ta_sa"`` (paper's best, Eq. 4 + Eq. 6), ``"ta"`` (Eq. 4), ``"sa"`` (Eq. 6) or
            ``"vanilla"`` (Eq. 1, ``keras.layers.LSTMCell``).
        units: LSTM size ``N`` (128).
        attention_size: rank of the TA bilinear gates (64).
        num_clusters: SA codebook size (128).
        hidden_units: sizes of the hidden ReLU layers of the DNN head ((128,): "128 x 128 x C" read as
            LSTM output 128 -> hidden 128 -> C; ``(128, 128)`` is the two-hidden-layer reading).
        dropout: dropout rate on the LSTM output and after each hidden layer (0.5, the paper's
            DCASE 2016 setting, §3.2; the LITIS Rouen presets use 0).
        l2: L2 weight on every kernel (1e-4).
        classifier_activation: activation of the output layer (``"softmax"``; ``None`` for logits).
        include_top: ``False`` returns the sequence embedding ``v`` ``(batch, units)`` instead of
            class scores (Keras applications' convention).
        include_front_end: ``True`` (default): input is a float32 waveform ``(batch, samples)``;
            ``False``: input is a log-mel sequence ``(batch, frames, num_mel_bins)`` of any length.
        sample_rate: sampling rate of the waveform input (44100, DCASE 2016; LITIS Rouen is 22050).
        clip_duration: seconds per input clip (1.0, §3.1); the waveform input then has
            ``round(sample_rate * clip_duration)`` samples, which export needs. ``None`` accepts
            any length.
        num_mel_bins: mel filters (64).
        front_end: extra keyword arguments for ``LogMelSpectrogram.from_preset("zhang2018", ...)``.
        normalize_inputs: standardise each mel band with ``BatchNormalization`` (False: the paper
            has no input normalisation; True is an addition of this package).
        name: model name.

    Call: ``(batch, samples)`` float32 (or ``(batch, frames, mel)`` without front end) ->
    ``(batch, num_classes)`` probabilities (or ``(batch, units)`` with ``include_top=False``).
    """

    def __init__(self, num_classes, variant="ta_sa", units=128, attention_size=64, num_clusters=128,
                 hidden_units=(128,), dropout=0.5, l2=1e-4, classifier_activation="softmax",
                 include_top=True, include_front_end=True, sample_rate=44100, clip_duration=1.0,
                 num_mel_bins=64, front_end=None, normalize_inputs=False, name="attention_lstm_classifier",
                 **kwargs):
        if include_top and (isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer))
                            or num_classes <= 0):
            raise ValueError(f"`num_classes` must be a positive integer, got {num_classes!r}.")
        if variant not in VARIANTS:
            raise ValueError(f"Unknown `variant` {variant!r}; expected one of {VARIANTS}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
        if float(l2) < 0:
            raise ValueError(f"`l2` must be >= 0, got {l2!r}.")
        hidden_units = tuple(int(u) for u in hidden_units)
        if any(u <= 0 for u in hidden_units):
            raise ValueError(f"`hidden_units` must be positive integers, got {hidden_units!r}.")
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise ValueError(f"`sample_rate` must be a positive integer, got {sample_rate!r}.")
        front_end = dict(front_end or {})

        regularizer = keras.regularizers.L2(float(l2)) if l2 else None
        inputs, x = log_mel_input("zhang2018", include_front_end, int(sample_rate), int(num_mel_bins), clip_duration,
                                  front_end, normalize_inputs)
        cell = make_cell(variant, int(units), attention_size=int(attention_size), num_clusters=int(num_clusters),
                         kernel_regularizer=regularizer, recurrent_regularizer=regularizer)
        x = AttentionLSTM(cell, name="attention_lstm")(x)
        if dropout:
            x = keras.layers.Dropout(float(dropout), name="lstm_dropout")(x)
        if include_top:
            for i, size in enumerate(hidden_units):
                x = keras.layers.Dense(size, activation="relu", kernel_regularizer=regularizer, name=f"dense_{i}")(x)
                if dropout:
                    x = keras.layers.Dropout(float(dropout), name=f"dropout_{i}")(x)
            x = keras.layers.Dense(int(num_classes), activation=classifier_activation,
                                   kernel_regularizer=regularizer, dtype="float32",  # mixed precision
                                   name="predictions")(x)
        super().__init__(inputs=inputs, outputs=x, name=name, **kwargs)

        self.num_classes = int(num_classes) if num_classes is not None else None
        self.variant = variant
        self.units = int(units)
        self.attention_size = int(attention_size)
        self.num_clusters = int(num_clusters)
        self.hidden_units = hidden_units
        self.dropout = float(dropout)
        self.l2 = float(l2)
        self.classifier_activation = classifier_activation
        self.include_top = bool(include_top)
        self.include_front_end = bool(include_front_end)
        self.sample_rate = int(sample_rate)
        self.clip_duration = None if clip_duration is None else float(clip_duration)
        self.num_mel_bins = int(num_mel_bins)
        self.front_end = front_end
        self.normalize_inputs = bool(normalize_inputs)

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "variant": self.variant,
            "units": self.units,
            "attention_size": self.attention_size,
            "num_clusters": self.num_clusters,
            "hidden_units": list(self.hidden_units),
            "dropout": self.dropout,
            "l2": self.l2,
            "classifier_activation": self.classifier_activation,
            "include_top": self.include_top,
            "include_front_end": self.include_front_end,
            "sample_rate": self.sample_rate,
            "clip_duration": self.clip_duration,
            "num_mel_bins": self.num_mel_bins,
            "front_end": dict(self.front_end),
            "normalize_inputs": self.normalize_inputs,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def clip_samples(self):
        """Samples per input clip, or ``None`` when the waveform input has no fixed length."""
        if not self.include_front_end or self.clip_duration is None:
            return None
        return int(round(self.sample_rate * self.clip_duration))

    def features(self, inputs):
        """The LSTM's input sequence ``(batch, frames, mel)`` (log-mel, then the band normalisation)."""
        x = ops.convert_to_tensor(inputs, dtype="float32")
        if self.include_front_end:
            x = self.get_layer("log_mel")(x)
        if self.normalize_inputs:
            x = self.get_layer("feature_norm")(x, training=False)
        return x

    def attention_weights(self, inputs):
        """``alpha_t`` of Eq. 3 for a batch of clips: ``(batch, frames)``; TA and TA+SA only.

        ``inputs`` is what the model takes (waveform ``(batch, samples)`` or log-mel sequence).
        """
        layer = self.get_layer("attention_lstm")
        if not layer.emits_attention:
            raise ValueError(f"variant {self.variant!r} has no temporal attention weights.")
        _, alpha = layer(self.features(inputs), return_attention=True)
        return alpha

    def predict_recording(self, waveform, sample_rate=None, overlap=0.5, batch_size=64):
        """Recording-level scores (§3.1): 1 s clips with 50 % overlap, clip probabilities averaged.

        See :func:`predict_recording`.
        """
        return predict_recording(self, waveform, sample_rate=sample_rate, overlap=overlap, batch_size=batch_size)


def split_into_clips(waveform, clip_samples, hop_samples):
    """Cuts a 1-D waveform into ``(num_clips, clip_samples)`` clips every ``hop_samples``.

    Clips start at ``0, hop, 2 hop, ...`` while they fit. When samples remain after the last of
    them, one more clip is aligned with the end of the recording, so every sample is covered.
    A recording shorter than one clip is zero-padded at the end to one clip.
    """
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 1:
        raise ValueError(f"expected a 1-D waveform (samples,), got shape {waveform.shape}.")
    if clip_samples <= 0 or hop_samples <= 0:
        raise ValueError(f"clip_samples and hop_samples must be positive, got {clip_samples}, {hop_samples}.")
    if waveform.size == 0:
        raise ValueError("empty waveform.")
    n = waveform.shape[0]
    if n <= clip_samples:
        return np.pad(waveform, (0, clip_samples - n))[None, :]
    starts = list(range(0, n - clip_samples + 1, hop_samples))
    if starts[-1] + clip_samples < n:
        starts.append(n - clip_samples)
    return np.stack([waveform[s:s + clip_samples] for s in starts])


def predict_recording(model, waveform, sample_rate=None, clip_duration=None, overlap=0.5, batch_size=64):
    """Recording-level prediction of Zhang et al. 2018, §3.1, for a recording of any length.

    The recording is split into clips of ``clip_duration`` seconds (the model's, default 1 s)
    with ``overlap`` (0.5) between neighbours (:func:`split_into_clips`); the model scores every
    clip and the clip probabilities are averaged.

    Args:
        model: a waveform model (e.g. :class:`AttentionLSTMClassifier`) returning ``(batch, C)``.
        waveform: ``(samples,)`` for one recording, or a list / 2-D array of recordings.
        sample_rate: rate of ``waveform``; must equal the model's ``sample_rate`` if both are known
            (resample first with ``keras_audioattn.data.load_audio(..., sample_rate=...)``).
        clip_duration: seconds per clip; defaults to the model's ``clip_duration`` (or 1.0).
        overlap: fraction of a clip shared by neighbouring clips, in ``[0, 1)``.

    Returns: ``(C,)`` for one recording, ``(num_recordings, C)`` for several.
    """
    model_rate = getattr(model, "sample_rate", None)
    if sample_rate is not None and model_rate is not None and int(sample_rate) != int(model_rate):
        raise ValueError(f"waveform sample rate {sample_rate} Hz differs from the model's {model_rate} Hz; "
                         "resample it first.")
    rate = sample_rate if sample_rate is not None else model_rate
    if rate is None:
        raise ValueError("sample_rate is unknown: pass sample_rate=...")
    if clip_duration is None:
        clip_duration = getattr(model, "clip_duration", None) or 1.0
    if not 0.0 <= float(overlap) < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap!r}.")
    clip_samples = int(round(float(rate) * float(clip_duration)))
    hop_samples = max(1, int(round(clip_samples * (1.0 - float(overlap)))))

    if not isinstance(waveform, (list, tuple)):
        waveform = np.asarray(waveform)
    single = isinstance(waveform, np.ndarray) and waveform.ndim == 1
    if single:
        recordings = [waveform]
    elif isinstance(waveform, np.ndarray):
        if waveform.ndim != 2:
            raise ValueError(f"expected (samples,) or (recordings, samples), got shape {waveform.shape}.")
        recordings = list(waveform)
    else:
        recordings = [np.asarray(w) for w in waveform]
    clips = [split_into_clips(w, clip_samples, hop_samples) for w in recordings]
    counts = [c.shape[0] for c in clips]
    all_clips = np.concatenate(clips, axis=0)
    scores = []
    for start in range(0, all_clips.shape[0], batch_size):
        scores.append(keras.ops.convert_to_numpy(model(all_clips[start:start + batch_size], training=False)))
    scores = np.concatenate(scores, axis=0)
    bounds = np.cumsum([0] + counts)
    averaged = np.stack([scores[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:])])
    return averaged[0] if single else averaged


def _preset(variant, dataset):
    litis = dataset == "litis"
    return {
        "model": {
            "num_classes": 19 if litis else 15,
            "variant": variant,
            "units": 128,
            "attention_size": 64,
            "num_clusters": 128,
            "hidden_units": [128],  # "128 x 128 x C": LSTM output 128 -> hidden 128 -> C (§3.2)
            "dropout": 0.0 if litis else 0.5,  # §3.2: 0.5 "for DCASE2016 dataset"; none stated for LITIS
            "l2": 1e-4,
            "sample_rate": 22050 if litis else 44100,
            "clip_duration": 1.0,
            "num_mel_bins": 64,
            "normalize_inputs": False,  # the paper has no input normalisation
        },
        "training": {
            "optimizer": "adam",
            "learning_rate": 1e-3,
            "batch_size": 64,  # not stated in the paper
            "epochs": 100,
            "loss": "categorical_crossentropy",
            "early_stopping_patience": None,
            "metrics": ["accuracy"],
            "keep": "last",  # §3.2 / Table 1: the models "after 100 training epochs", not the best epoch
        },
        "data": {"sample_rate": 22050 if litis else 44100, "duration": 1.0, "multi_label": False,
                 "clip_overlap": 0.5, "recording_duration": 30.0},
        "paper": (f"Zhang et al. 2018, §3.1-3.2, Table 1 "
                  f"({'LITIS Rouen, 19 classes, 22.05 kHz' if litis else 'DCASE 2016, 15 classes, 44.1 kHz, dropout 0.5'})"),
    }


_VARIANT_NAMES = {"ta_sa": "ta-sa", "ta": "ta", "sa": "sa", "vanilla": "vanilla"}

#: Paper configurations: ``zhang2018-<variant>`` (LITIS Rouen) and ``zhang2018-<variant>-dcase2016``.
PAPER_PRESETS = {}
for _variant, _slug in _VARIANT_NAMES.items():
    PAPER_PRESETS[f"zhang2018-{_slug}"] = _preset(_variant, "litis")
    PAPER_PRESETS[f"zhang2018-{_slug}-dcase2016"] = _preset(_variant, "dcase2016")
del _variant, _slug


def from_preset(name, **overrides):
    """An :class:`AttentionLSTMClassifier` configured as ``PAPER_PRESETS[name]["model"]`` plus ``overrides``."""
    if name not in PAPER_PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PAPER_PRESETS)}")
    config = dict(PAPER_PRESETS[name]["model"])
    config.update(overrides)
    return AttentionLSTMClassifier(**config)


__all__ = ["AttentionLSTMClassifier", "PAPER_PRESETS", "from_preset", "predict_recording", "split_into_clips",
           "VARIANTS"]
