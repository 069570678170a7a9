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
      -> Dense 256 ReLU -> Dropout 0.3 -> Dense(num_tags, sigmoid)  = the tag vector

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
from keras import ops

from keras_audioattn.models._common import positive_int
from keras_audioattn.layers.front_ends import FRONT_END_PRESETS, LogMelSpectrogram
from keras_audioattn.layers.spec_augment import SPEC_AUGMENT_POLICIES, SpecAugment

_PKG = "keras_audioattn"
DEFAULT_BLOCK_FILTERS = (32, 64, 128, 256)
DEFAULT_PARAMETER_COUNT_80_TAGS = 1_304_464  # AudioTagger(80).count_params()


def _positive_int(value, name):
    return positive_int(value, name, "AudioTagger")


@keras.saving.register_keras_serializable(package=_PKG)
class MelTimePooling(keras.layers.Layer):
    """``(batch, time, mel, channels)`` -> mean over mel -> ``max_t + mean_t`` -> ``(batch, channels)``."""

    def call(self, x):
        x = ops.mean(x, axis=2)
        return ops.max(x, axis=1) + ops.mean(x, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


@keras.saving.register_keras_serializable(package=_PKG)
class AudioTagger(keras.Model):
    """Residual log-mel CNN producing sigmoid tag vectors (the tagger of Jung et al. 2020, §2.2).

    Input ``waveform`` float32 ``(batch, samples)`` (mono) at ``sample_rate``; output ``tags``
    ``(batch, num_tags)`` in [0, 1] (``include_top=False``: the ``dense_units[-1]`` embedding).
    Train it with binary cross-entropy on multi-hot tag labels, then freeze it
    (``tagger.trainable = False``; :class:`TagConditionedASC` does this itself).

    Args:
      num_tags: number of tags (paper: 80, DCASE 2019 Task 2).
      sample_rate: Hz of the input (default 48 000: the ASC network's rate, so that both hear one
        waveform).
      num_mel_bins: mel bands (paper: 128).
      front_end: overrides of the ``"jung2020_tagger"`` log-mel preset (e.g. ``frame_step``).
      block_filters: filters of each residual block (one 2x2 average pooling after each).
      dense_units: hidden dense layers after pooling.
      dropout: rate before each dense layer.
      residual: use the residual shortcut in each block.
      include_top: False -> output the embedding instead of the tags.
      spec_augment: None (default, no masking) or a dict of
        :class:`~keras_audioattn.layers.SpecAugment` arguments (``{}``: Park et al.'s LD policy),
        applied to the standardised log-mel in training only.
    """

    def __init__(self, num_tags, sample_rate=48000, num_mel_bins=128, front_end=None,
                 block_filters=DEFAULT_BLOCK_FILTERS, dense_units=(256,), dropout=0.3, residual=True,
                 include_top=True, num_samples=None, spec_augment=None, name="audio_tagger", **kwargs):
        _positive_int(num_tags, "num_tags")
        _positive_int(sample_rate, "sample_rate")
        _positive_int(num_mel_bins, "num_mel_bins")
        if not isinstance(block_filters, (list, tuple)) or not block_filters:
            raise ValueError(f"AudioTagger: block_filters must be a non-empty sequence, got {block_filters!r}")
        block_filters = tuple(_positive_int(f, "block_filters") for f in block_filters)
        dense_units = tuple(_positive_int(u, "dense_units") for u in dense_units)
        if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
            raise ValueError(f"AudioTagger: dropout must be in [0, 1), got {dropout!r}")
        if num_mel_bins < 2 ** len(block_filters):
            raise ValueError(f"AudioTagger: num_mel_bins={num_mel_bins} is too small for {len(block_filters)} "
                             f"2x2 poolings")
        if num_samples is not None:
            _positive_int(num_samples, "num_samples")
        if spec_augment is not None and not isinstance(spec_augment, dict):
            raise ValueError(f"AudioTagger: spec_augment must be None or a dict of SpecAugment arguments, "
                             f"got {spec_augment!r}")
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
            x = keras.layers.Dense(num_tags, activation="sigmoid", name="tags")(x)
        super().__init__(inputs=waveform, outputs=x, name=name, **kwargs)
        self.num_tags = num_tags
        self.sample_rate = sample_rate
        self.num_mel_bins = num_mel_bins
        self.front_end = front_end
        self.block_filters = block_filters
        self.dense_units = dense_units
        self.dropout = float(dropout)
        self.residual = bool(residual)
        self.include_top = bool(include_top)
        self.num_samples = num_samples
        self.min_samples = min_samples
        self.spec_augment = None if spec_augment is None else dict(spec_augment)

    def call(self, inputs, training=None, mask=None):
        # A frozen tagger is a fixed tag source: inference mode whatever the outer model does.
        if not self.trainable:
            training = False
        return super().call(inputs, training=training, mask=mask)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "num_tags": self.num_tags,
            "sample_rate": self.sample_rate,
            "num_mel_bins": self.num_mel_bins,
            "front_end": dict(self.front_end),
            "block_filters": list(self.block_filters),
            "dense_units": list(self.dense_units),
            "dropout": self.dropout,
            "residual": self.residual,
            "include_top": self.include_top,
            "num_samples": self.num_samples,
            "spec_augment": None if self.spec_augment is None else dict(self.spec_augment),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# The tagger of Jung et al. 2020 (Sec. 4.2) was trained on DCASE 2019 Task 2 (80 tags, 44.1 kHz
# resampled here to the ASC's 48 kHz so that one waveform feeds both networks). §4.2 names its
# augmentations: SpecAugment (here Park et al.'s LD policy, time warping omitted: the paper gives
# no values) and mix-up (the training driver's, alpha 0.2: no value given either); its "slicing"
# (random crops) is not implemented. Optimiser, learning rate, batch and epochs are ours.
TAGGER_SPEC_AUGMENT = dict(SPEC_AUGMENT_POLICIES["LD"])
PAPER_PRESETS = {
    "jung2020-tagger": {
        "model": {"num_classes": 80, "sample_rate": 48000, "num_mel_bins": 128,
                  "spec_augment": dict(TAGGER_SPEC_AUGMENT)},
        "training": {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 24, "epochs": 100,
                     "loss": "binary_crossentropy", "early_stopping_patience": None,
                     "metrics": ["average_precision_micro"], "mixup_alpha": 0.2},
        "data": {"sample_rate": 48000, "duration": 10.0, "multi_label": True},
        "paper": "Jung et al. 2020, Sec. 4.2: the tag source (a 128-mel CNN tagger with SpecAugment and mix-up; "
                 "see docs/jung2020.md)",
    },
}


def audio_tagger_for_training(num_classes=80, sample_rate=48000, **config):
    """``AudioTagger(num_tags=num_classes, ...)``: the builder ``audioattn train`` calls for the
    ``jung2020-tagger`` preset (the training driver names the output count ``num_classes`` and
    sets ``sample_rate`` from the data)."""
    return AudioTagger(num_tags=num_classes, sample_rate=sample_rate, **config)
