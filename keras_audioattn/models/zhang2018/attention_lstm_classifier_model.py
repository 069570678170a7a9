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

from keras_audioattn import validation
from keras_audioattn.data import batching
from keras_audioattn.models._common import log_mel_input
from keras_audioattn.models.base import AudioModel, seconds_as_samples, scores_head
from keras_audioattn.models.zhang2018.attention_lstm_layer import AttentionLSTM, make_cell

_PKG = "keras_audioattn"
VARIANTS = ("ta_sa", "ta", "sa", "vanilla")
DEFAULT_SAMPLE_RATE = 44100  # DCASE 2016 (§3)


@keras.saving.register_keras_serializable(package=_PKG)
class AttentionLSTMClassifier(AudioModel):
    """Attention-LSTM acoustic scene classifier (Zhang et al. 2018, §3.1-3.2; Table 1).

    Args:
        num_classes: number of scene classes (19 for LITIS Rouen, 15 for DCASE 2016); ``None``
            with ``include_top=False``.
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
        include_front_end: ``True`` (default): input is a float32 waveform ``(batch, samples)``
            named ``"waveform"``; ``False``: input is a log-mel sequence ``(batch, frames,
            num_mel_bins)`` of any length, named ``"log_mel"``.
        sample_rate: sampling rate of the waveform input (44100, DCASE 2016; LITIS Rouen is 22050).
        num_samples: fixed waveform length in samples, or ``None`` (default) for any length. The
            paper's 1 s clips (§3.1) are the data settings' ``duration`` of the presets (and the
            clip length of :func:`predict_recording`); the recurrence itself runs on any length.
            ``clip_duration`` (seconds) is its deprecated alias, converted at ``sample_rate``.
        num_mel_bins: mel filters (64).
        front_end: extra keyword arguments for ``LogMelSpectrogram.from_preset("zhang2018", ...)``.
        normalize_inputs: standardise each mel band with ``BatchNormalization`` (False: the paper
            has no input normalisation; True is an addition of this package).
        name: model name.

    Call: ``(batch, samples)`` float32 (or ``(batch, frames, mel)`` without front end) ->
    ``scores`` ``(batch, num_classes)`` probabilities (or ``(batch, units)`` with
    ``include_top=False``). The output layer was named ``"predictions"`` before (its weights keep
    that name; the output is ``"scores"``).

    Example::

        model = AttentionLSTMClassifier(num_classes=15, variant="ta_sa")   # DCASE 2016 setting
        model = AttentionLSTMClassifier.from_preset("zhang2018-ta-sa")     # LITIS Rouen, 19 classes
        scores = model.predict(waveforms)                                   # (n, 44100) -> (n, 15)
    """

    deprecated_arguments = {"clip_duration": ("num_samples", seconds_as_samples(DEFAULT_SAMPLE_RATE))}
    deprecated_outputs = {"predictions": "scores"}

    def __init__(self, num_classes, variant="ta_sa", units=128, attention_size=64, num_clusters=128,
                 hidden_units=(128,), dropout=0.5, l2=1e-4, classifier_activation="softmax",
                 include_top=True, include_front_end=True, sample_rate=DEFAULT_SAMPLE_RATE, num_samples=None,
                 num_mel_bins=64, front_end=None, normalize_inputs=False, name="attention_lstm_classifier",
                 **kwargs):
        owner = type(self).__name__
        if include_top:
            num_classes = validation.positive_int(num_classes, "num_classes", owner)
        elif num_classes is not None:
            num_classes = validation.positive_int(num_classes, "num_classes", owner)
        validation.one_of(variant, "variant", VARIANTS, owner)
        dropout = validation.probability(dropout, "dropout", owner)
        l2 = validation.number(l2, "l2", owner, low=0.0)
        hidden_units = validation.int_sequence(hidden_units, "hidden_units", owner, allow_empty=True)
        front_end = dict(front_end or {})

        regularizer = keras.regularizers.L2(l2) if l2 else None
        inputs, x = log_mel_input("zhang2018", include_front_end, sample_rate, num_mel_bins, num_samples,
                                  front_end, normalize_inputs, owner=owner)
        cell = make_cell(variant, units, attention_size=attention_size, num_clusters=num_clusters,
                         kernel_regularizer=regularizer, recurrent_regularizer=regularizer)
        x = AttentionLSTM(cell, name="attention_lstm")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="lstm_dropout")(x)
        if include_top:
            for i, size in enumerate(hidden_units):
                x = keras.layers.Dense(size, activation="relu", kernel_regularizer=regularizer, name=f"dense_{i}")(x)
                if dropout:
                    x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
            x = scores_head(x, num_classes, classifier_activation, kernel_regularizer=regularizer)
        super().__init__(inputs=inputs, outputs=x, name=name, **kwargs)
        self.front_end = front_end  # the dict form of the argument ({} for None)

    @property
    def clip_samples(self):
        """Samples per input clip, or ``None`` when the waveform input has no fixed length."""
        if not self.include_front_end:
            return None
        return self.num_samples

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

    :func:`keras_audioattn.data.batching.split_into_clips` (the package's one clip cutter) for
    a mono recording: clips start at ``0, hop, 2 hop, ...`` while they fit; when samples remain
    after the last of them, one more clip is aligned with the end of the recording, so every
    sample is covered. A recording shorter than one clip is zero-padded at the end to one clip.
    """
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 1:
        raise ValueError(f"expected a 1-D waveform (samples,), got shape {waveform.shape}.")
    return batching.split_into_clips(waveform, clip_samples, hop_samples)


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


__all__ = ["AttentionLSTMClassifier", "VARIANTS", "predict_recording", "split_into_clips"]
