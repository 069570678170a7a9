"""Log-mel CNN audio tagger: the tag-vector source of Jung et al. 2020 (§2.2, §4.2).

The paper takes the tag vectors from Akiyama & Sato's winning DCASE 2019 Task 2 system: a
ResNet of about 44 M parameters on 128-mel log-mel spectrograms, trained with multi-task and
soft-pseudo-label learning on FSDKaggle2019 (80 tags), then used frozen. Neither that data set
nor those weights exist on the machines this package is built on, so :class:`AudioTagger` is a
configurable residual log-mel CNN that is trained here on its own tagging labels (the built-in
synthetic ``tagging`` task, or any multi-label manifest) and then frozen inside
:class:`~keras_audioattn.models.TagConditionedASC`.

Graph (defaults)::

    waveform (batch, samples) @ 48 kHz
      -> LogMelSpectrogram.from_preset("jung2020_tagger")   (128 mel, §4.2)
      -> BatchNorm over the mel bands (per-band standardisation)
      -> [SpecAugment time/frequency masking, training only, with ``spec_augment=...``]
      -> 4 x residual block: [Conv2D 3x3 -> BN -> ReLU] x 2 (+ 1x1 conv shortcut when the
         channels change) -> ReLU -> AvgPool 2x2 (time, mel)   filters 32, 64, 128, 256
      -> mean over mel -> max + mean over time (256) -> Dropout 0.3
      -> Dense 256 ReLU -> Dropout 0.3 -> Dense(num_classes, sigmoid)  = the tag vector ("scores")

Default size: **1 304 464 parameters** for 80 tags (``AudioTagger(80).count_params()``, checked
in ``tests/test_tag_conditioned_asc.py``), 1/34 of the paper's 44 M. Why this size: the tagger
only has to supply a tag vector, the ASC network it conditions has ~0.7 M parameters, and a
tagger that trains in minutes on a 2-core CPU on the synthetic tagging corpus is what can be
reproduced here; ``block_filters`` / ``dense_units`` scale it up (e.g. ``(64, 128, 256, 512)``
gives 5.0 M). Choices (not in the paper, which defers to [14]): the block layout above, the
max + mean time pooling (common in DCASE tagging systems). §4.2's SpecAugment is the optional
:class:`~keras_audioattn.layers.SpecAugment` layer after the per-band standardisation
(``spec_augment={...}``; on in the ``jung2020-tagger`` preset, identity at inference); mix-up is
the training driver's (``mixup_alpha`` of the preset's recipe).

A *frozen* tagger (``trainable = False``, as inside
:class:`~keras_audioattn.models.TagConditionedASC`) always runs in inference mode: dropout and
SpecAugment are off even while the model around it trains. Keras would otherwise pass the outer
``training=True`` down to them (only BatchNorm honours ``trainable = False`` by itself), and the
tag vectors the ASC learns from would be noisy (measured before this rule: up to 0.40 apart from
the inference tags with dropout 0.5).
"""

from __future__ import annotations

import keras

from keras_audioattn.layers.front_ends import FRONT_END_PRESETS, LogMelSpectrogram
from keras_audioattn.layers.spec_augment import SPEC_AUGMENT_POLICIES, SpecAugment
from keras_audioattn.models.base import AudioModel, scores_head
from keras_audioattn.models.jung2020.mel_time_pooling_layer import MelTimePooling
from keras_audioattn.validation import int_sequence, optional, positive_int, probability

_PKG = "keras_audioattn"
_OWNER = "AudioTagger"
DEFAULT_BLOCK_FILTERS = (32, 64, 128, 256)
DEFAULT_PARAMETER_COUNT_80_TAGS = 1_304_464  # AudioTagger(80).count_params()


@keras.saving.register_keras_serializable(package=_PKG)
class AudioTagger(AudioModel):
    """Residual log-mel CNN producing sigmoid tag vectors (the tagger of Jung et al. 2020, §2.2).

    Input ``waveform`` float32 ``(batch, samples)`` (mono) at ``sample_rate``; output ``scores``
    ``(batch, num_classes)``, the tag vector in [0, 1] (``include_top=False``: the
    ``dense_units[-1]`` embedding). The output Dense is the layer named ``tags``; a weightless
    identity named ``scores`` names the output.
    Train it with binary cross-entropy on multi-hot tag labels, then freeze it
    (``tagger.trainable = False``; :class:`TagConditionedASC` does this itself).

    Args:
      num_classes: number of tags (paper: 80, DCASE 2019 Task 2). Deprecated alias: ``num_tags``.
      sample_rate: Hz of the input (default 48 000: the ASC network's rate, so that both hear one
        waveform).
      num_mel_bins: mel bands (paper: 128).
      front_end: overrides of the ``"jung2020_tagger"`` log-mel preset (e.g. ``frame_step``).
      block_filters: filters of each residual block (one 2x2 average pooling after each).
      dense_units: hidden dense layers after pooling.
      dropout: rate before each dense layer.
      residual: use the residual shortcut in each block.
      include_top: False -> output the embedding instead of the tags.
      num_samples: fixed input length in samples, or None (any length).
      spec_augment: None (default, no masking) or a dict of
        :class:`~keras_audioattn.layers.SpecAugment` arguments (``{}``: Park et al.'s LD policy),
        applied to the standardised log-mel in training only.
    """

    deprecated_arguments = {"num_tags": "num_classes"}
    deprecated_outputs = {"tags": "scores"}

    def __init__(self, num_classes, sample_rate=48000, num_mel_bins=128, front_end=None,
                 block_filters=DEFAULT_BLOCK_FILTERS, dense_units=(256,), dropout=0.3, residual=True,
                 include_top=True, num_samples=None, spec_augment=None, name="audio_tagger", **kwargs):
        num_classes = positive_int(num_classes, "num_classes", _OWNER)
        sample_rate = positive_int(sample_rate, "sample_rate", _OWNER)
        num_mel_bins = positive_int(num_mel_bins, "num_mel_bins", _OWNER)
        block_filters = int_sequence(block_filters, "block_filters", _OWNER)
        dense_units = int_sequence(dense_units, "dense_units", _OWNER, allow_empty=True)
        probability(dropout, "dropout", _OWNER)
        if num_mel_bins < 2 ** len(block_filters):
            raise ValueError(f"{_OWNER}: `num_mel_bins`={num_mel_bins} is too small for {len(block_filters)} "
                             f"2x2 poolings.")
        num_samples = optional(positive_int, num_samples, "num_samples", _OWNER)
        if spec_augment is not None and not isinstance(spec_augment, dict):
            raise ValueError(f"{_OWNER}: `spec_augment` must be None or a dict of SpecAugment arguments, "
                             f"got {spec_augment!r}.")
        front_end = dict(front_end or {})
        fe_config = dict(FRONT_END_PRESETS["jung2020_tagger"])
        fe_config.update(sample_rate=sample_rate, num_mel_bins=num_mel_bins, **front_end)

        waveform = keras.Input(shape=(num_samples,), dtype="float32", name="waveform")
        log_mel = LogMelSpectrogram(name="log_mel", **fe_config)
        # The poolings need 2 ** len(block_filters) frames at least.
        min_samples = log_mel.min_samples + (2 ** len(block_filters) - 1) * log_mel.frame_step
        if num_samples is not None and num_samples < min_samples:
            raise ValueError(f"AudioTagger: num_samples={num_samples} gives fewer than {2 ** len(block_filters)} "
                             f"frames; the {len(block_filters)} poolings need at least {min_samples} samples")
        x = log_mel(waveform)
        x = keras.layers.BatchNormalization(axis=-1, name="mel_norm")(x)
        if spec_augment is not None:
            x = SpecAugment(name="spec_augment", **spec_augment)(x)
        x = keras.layers.Reshape((-1, num_mel_bins, 1), name="add_channel")(x)
        channels = 1
        for i, filters in enumerate(block_filters):
            p = f"block_{i}"
            y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{p}_conv_0")(x)
            y = keras.layers.BatchNormalization(name=f"{p}_bn_0")(y)
            y = keras.layers.ReLU(name=f"{p}_relu_0")(y)
            y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{p}_conv_1")(y)
            y = keras.layers.BatchNormalization(name=f"{p}_bn_1")(y)
            if residual:
                shortcut = x
                if filters != channels:
                    shortcut = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{p}_shortcut")(x)
                y = keras.layers.Add(name=f"{p}_add")([y, shortcut])
            x = keras.layers.ReLU(name=f"{p}_relu_1")(y)
            x = keras.layers.AveragePooling2D(2, name=f"{p}_pool")(x)
            channels = filters
        x = MelTimePooling(name="global_pool")(x)
        for k, units in enumerate(dense_units):
            if dropout:
                x = keras.layers.Dropout(dropout, name=f"dropout_{k}")(x)
            x = keras.layers.Dense(units, activation="relu", name=f"fc_{k}")(x)
        if include_top:
            if dropout:
                x = keras.layers.Dropout(dropout, name="dropout_top")(x)
            x = scores_head(x, num_classes, "sigmoid", dense_name="tags")
        super().__init__(inputs=waveform, outputs=x, name=name, **kwargs)
        self.front_end = front_end  # the dict form of the argument ({} for None)
        self.min_samples = min_samples
        self.spec_augment = None if spec_augment is None else dict(spec_augment)

    def call(self, inputs, training=None, mask=None):
        # A frozen tagger is a fixed tag source: inference mode whatever the outer model does.
        if not self.trainable:
            training = False
        return super().call(inputs, training=training, mask=mask)

    @property
    def num_tags(self):
        """The number of tags (deprecated name of ``num_classes``)."""
        return self.num_classes


__all__ = ["AudioTagger", "DEFAULT_BLOCK_FILTERS", "DEFAULT_PARAMETER_COUNT_80_TAGS", "FRONT_END_PRESETS",
           "MelTimePooling", "SPEC_AUGMENT_POLICIES"]
