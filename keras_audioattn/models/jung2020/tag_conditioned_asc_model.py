"""Acoustic scene classification conditioned on audio-tagging vectors (Jung et al. 2020, §3, Fig. 2).

:class:`TagConditionedASC` joins a :class:`~keras_audioattn.models.RawWaveformASC` (Table 1) and
a frozen :class:`~keras_audioattn.models.AudioTagger` that hear the same waveform::

    waveform ──► ASC strided conv + 7 residual blocks ──► feature map M (batch, frames, 128)
        │                                                      │
        └─► (stereo: mean of the channels) ─► frozen tagger ─► tag vector T (batch, c)
                                                               │
      T ─► [shared or separate transform layers] ─┬─► TagMultiHeadAttention: M' = M ⊙ am (Eq. 1-2)
                                                  └─► TagConcatenation (§3.1, Table 2 variants)
      M' ─► GAP || GMP (256) ─► code (64; or 64 + c for "code" concat) ─► Dense softmax = scores

Outputs: a dict ``{"scores", "code", "tags"}`` (``export.to_saved_model`` serves all three,
``scores`` under ``scores``); :meth:`TagConditionedASC.attention_model` adds the attention map
``am (batch, 128)``. The SVM back end of §2.1 is :mod:`keras_audioattn.models.jung2020.code_svm`.

Paper's best system (Table 5, 76.75 %): concatenation *and* attention sharing 3 transform layers,
4 heads (preset ``"jung2020-tag-asc"``). With Table 1 as written and 80 tags its parameter
count here is **784 074** without the tagger (780 234 trainable + 3 840 BatchNorm moving
statistics): the baseline's 715 978 plus 68 096 for the tag layers (shared transform 43 392,
attention projection 16 512, the code layer's 128 extra inputs 8 192). The frozen 80-tag
tagger adds 1 304 464 (total 2 088 538). The paper reports 676 k (Table 6): ours is 108 074
(16 %) more. Table 1's seven 128-filter blocks alone hold 695 k weights, so the paper's figure
must come from a smaller network than the table states, or counts differently; we keep Table 1.

The transform width is not in the paper. Table 6 lists the group's earlier network [22] at
636 k, the PyTorch count of their public code (636 736); read as that network plus the tag
layers, the paper's increment is 676 k - 636 k = 40 k, which 80-unit transform layers (the tag
vector's own width) reproduce (+40 048 on that network's 128-d code, 676 784 in all) and 128
units do not (+76 288). ``transform_units=80`` (preset ``"jung2020-tag-asc-narrow"``) is that
option: **750 906** parameters on Table 1 (+34 928 with the 64-d code). The default stays 128.
Checked in ``tests/test_tag_conditioned_asc.py``; see ``docs/jung2020.md``.

Choices where the paper is silent (docs/jung2020.md): the attention acts on the last residual
block's output, right before global pooling; a stereo waveform is mixed to mono for the tagger;
tagger and ASC share one sample rate (one input in exported graphs); transform layers are
Dense(128) + LeakyReLU(0.3); in the shared configuration the concatenation uses the shared
stack's output and the attention its own linear projection to the 128 filters.
"""

from __future__ import annotations

import os

import keras

from keras_audioattn.data.mixup import mixup_batch  # noqa: F401  (the one mix-up, under its old name here)
from keras_audioattn.models.base import AudioModel, classproperty
from keras_audioattn.models.jung2020.audio_tagger_model import AudioTagger
from keras_audioattn.models.jung2020.channel_mean_layer import ChannelMean
from keras_audioattn.models.jung2020.raw_waveform_asc_model import (RawWaveformASC, jung2020_model_config,
                                                                   jung2020_presets)
from keras_audioattn.models.jung2020.tag_attention_layer import (CONCAT_MODES, TagConcatenation,
                                                                TagMultiHeadAttention, TagTransform)
from keras_audioattn.validation import ArgumentError, MissingFileArgument, positive_int

_PKG = "keras_audioattn"
_OWNER = "TagConditionedASC"

BEST_SYSTEM_PARAMETER_COUNT = 784_074  # from_preset("jung2020-tag-asc"), without the tagger
PAPER_BEST_SYSTEM_PARAMETERS = 676_000  # Table 6
#: Table 6's figure for Jung et al. [22] (636 k) is the PyTorch count of that group's public
#: network (Jungjee/dcase2019specialistkd, g_model_CNN_c.py with g1-train_model_baseline.yaml:
#: blocks 64/64/128 x 5, a 1x1 conv, a 128-d code; 636 736 trainable values). Read as the same
#: network plus the tag layers, the paper's best system adds 676 k - 636 k = 40 k.
AUTHORS_BASELINE_PARAMETERS = 636_736
PAPER_TAG_LAYER_INCREMENT = PAPER_BEST_SYSTEM_PARAMETERS - 636_000
#: Width of the transform layers whose increment matches the paper's: 80 (= the number of tags)
#: adds 40 048 on that 128-d-code network (636 736 + 40 048 = 676 784: Table 6's "676k") and
#: 34 928 on Table 1 with its 64-d code; 128 units add 76 288 / 68 096. Preset
#: "jung2020-tag-asc-narrow"; see docs/jung2020.md.
NARROW_TRANSFORM_UNITS = 80
BEST_SYSTEM_NARROW_PARAMETER_COUNT = 750_906  # from_preset("jung2020-tag-asc-narrow"), without the tagger
#: The ASC network of the paper's presets (Table 1: 10 scenes of DCASE 2019 Task 1-a, stereo, 48 kHz).
PAPER_ASC = {"num_classes": 10, "code_dim": 64, "num_channels": 2, "sample_rate": 48000}
#: The tag source of the paper's presets (80 tags of DCASE 2019 Task 2, 128 mel bands; §4.2).
PAPER_TAGGER = {"num_classes": 80, "sample_rate": 48000, "num_mel_bins": 128}


def _build_network(value, cls):
    """A serialised Keras object (``{"class_name": ...}``) or constructor kwargs of ``cls`` -> model."""
    if not isinstance(value, dict):
        return value
    if "class_name" in value:
        return keras.saving.deserialize_keras_object(value)
    return cls(**value)


def _normalise_concat(concat):
    if concat is None:
        return None
    if isinstance(concat, str):
        concat = {"mode": concat}
    if not isinstance(concat, dict):
        raise ValueError(f"TagConditionedASC: concat must be None, a mode string or a dict, got {concat!r}")
    unknown = set(concat) - {"mode", "num_transform_layers"}
    if unknown:
        raise ValueError(f"TagConditionedASC: unknown concat options {sorted(unknown)}")
    concat = {"mode": "transform_before", "num_transform_layers": 3, **concat}
    if concat["mode"] not in CONCAT_MODES:
        raise ValueError(f"TagConditionedASC: concat mode must be one of {CONCAT_MODES}, got {concat['mode']!r}")
    return concat


def _normalise_attention(attention):
    if attention is None or attention is False:
        return None
    if isinstance(attention, int) and not isinstance(attention, bool):
        attention = {"num_heads": attention}
    if attention is True:
        attention = {}
    if not isinstance(attention, dict):
        raise ValueError(f"TagConditionedASC: attention must be None, a number of heads or a dict, "
                         f"got {attention!r}")
    unknown = set(attention) - {"num_heads", "num_transform_layers"}
    if unknown:
        raise ValueError(f"TagConditionedASC: unknown attention options {sorted(unknown)}")
    return {"num_heads": 2, **attention}  # num_transform_layers: filled in by the caller


@keras.saving.register_keras_serializable(package=_PKG)
class TagConditionedASC(AudioModel):
    """Raw-waveform ASC conditioned on a frozen tagger's tag vectors (Jung et al. 2020, Fig. 2).

    Args:
      asc: a :class:`RawWaveformASC`, or a dict of its constructor arguments (as in
        the ``jung2020`` presets) or its serialised form. Its strided conv and residual blocks are
        *shared* with this model (build a fresh one per combined model unless sharing is
        intended); its code layer and output layer are not used: this model has its own (the
        code's input size changes with concatenation).
      tagger: an :class:`AudioTagger` (or any Keras model ``waveform (batch, samples) -> tags
        (batch, c)``) at the ASC's sample rate, or a dict as for ``asc``. Frozen here
        (``trainable = False``) unless ``freeze_tagger=False``.
      concat: None (no concatenation), a :data:`CONCAT_MODES` string, or
        ``{"mode": ..., "num_transform_layers": n}`` (defaults: "transform_before", 3 -- Table 2's
        best).
      attention: None, a number of heads, or ``{"num_heads": h, "num_transform_layers": n}``
        (defaults 2 and 1 -- Table 3's best).
      shared_transform: with both methods, one stack of ``concat["num_transform_layers"]``
        transform layers feeds both (Table 5) instead of one stack each (Table 4). Needs concat
        mode "transform_before" (the other modes have no transform to share) and, when the
        attention gives ``num_transform_layers``, the same count.
      transform_units: width of every transform layer (128).
      freeze_tagger: set ``tagger.trainable = False``.

    With neither method the model is the baseline (the tags are still returned).

    Attributes other code reads: ``num_classes`` (scenes), ``sample_rate``, ``num_samples`` (the
    ASC network's), ``code_dim``, ``num_tags`` (the tag vector's width), ``tagger``.

    Example:
      >>> model = TagConditionedASC.from_preset("jung2020-tag-asc", tagger=trained_tagger)
      >>> model(np.zeros((1, 479_999, 2), "float32"))["scores"].shape   # (1, 10)
    """

    def __init__(self, asc, tagger, concat=None, attention=None, shared_transform=True, transform_units=128,
                 freeze_tagger=True, name="tag_conditioned_asc", **kwargs):
        asc = _build_network(asc, RawWaveformASC)
        tagger = _build_network(tagger, AudioTagger)
        if not isinstance(asc, keras.Model) or not hasattr(asc, "feature_model"):
            raise ValueError(f"TagConditionedASC: asc must be a RawWaveformASC, got {type(asc).__name__}")
        if not isinstance(tagger, keras.Model):
            raise ValueError(f"TagConditionedASC: tagger must be a keras.Model, got {type(tagger).__name__}")
        tagger_shape = tuple(tagger.inputs[0].shape)
        if len(tagger_shape) != 2 or len(tuple(tagger.outputs[0].shape)) != 2:
            raise ValueError(f"TagConditionedASC: the tagger must map a mono waveform (batch, samples) to tags "
                             f"(batch, c); it takes {tagger_shape} and gives {tuple(tagger.outputs[0].shape)}")
        t_rate, a_rate = getattr(tagger, "sample_rate", None), getattr(asc, "sample_rate", None)
        if t_rate is not None and a_rate is not None and t_rate != a_rate:
            raise ValueError(f"TagConditionedASC: the tagger runs at {t_rate} Hz and the ASC network at {a_rate} Hz; "
                             f"both hear the same waveform, so build them with the same sample_rate")
        transform_units = positive_int(transform_units, "transform_units", _OWNER)
        concat = _normalise_concat(concat)
        attention = _normalise_attention(attention)
        shared = bool(shared_transform) and concat is not None and attention is not None
        if shared:
            if concat["mode"] != "transform_before":
                raise ValueError(f"TagConditionedASC: shared_transform=True needs concat mode 'transform_before' "
                                 f"(mode {concat['mode']!r} has no tag transform to share); pass "
                                 f"shared_transform=False")
            given = attention.get("num_transform_layers")
            if given is not None and given != concat["num_transform_layers"]:
                raise ValueError(f"TagConditionedASC: with shared_transform=True both methods use the same "
                                 f"transform layers; got {concat['num_transform_layers']} for concat and "
                                 f"{given} for attention (pass shared_transform=False for separate stacks)")
            attention = {**attention, "num_transform_layers": concat["num_transform_layers"]}
        elif attention is not None:
            attention = {"num_transform_layers": 1, **attention}
        if freeze_tagger:
            tagger.trainable = False
        slope = getattr(asc, "negative_slope", 0.3)
        code_dim = asc.code_dim
        num_classes = asc.num_classes

        shape = tuple(asc.inputs[0].shape)[1:]
        waveform = keras.Input(shape=shape, dtype="float32", name="waveform")
        features = asc.feature_model()(waveform)
        mono = waveform if len(shape) == 1 else ChannelMean(name="to_mono")(waveform)
        tags = tagger(mono)
        common = dict(transform_units=transform_units, negative_slope=slope)
        concat_tags = att_tags = tags
        if shared:
            shared_tags = TagTransform(concat["num_transform_layers"], transform_units, negative_slope=slope,
                                       name="shared_tag_transform")(tags)
            concat_tags = att_tags = shared_tags
        am = None
        if attention is not None:
            layer = TagMultiHeadAttention(attention["num_heads"],
                                          0 if shared else attention["num_transform_layers"],
                                          return_attention=True, name="tag_attention", **common)
            features, am = layer([features, att_tags])
        pooled = keras.layers.Concatenate(name="pool_concat")([
            keras.layers.GlobalAveragePooling1D(name="global_avg")(features),
            keras.layers.GlobalMaxPooling1D(name="global_max")(features)])
        if concat is None:
            code = keras.layers.Dense(code_dim, name="code")(pooled)
        elif concat["mode"] == "code":
            code = keras.layers.Dense(code_dim, name="asc_code")(pooled)
            code = TagConcatenation("code", name="code", **common)([code, concat_tags])
        else:
            mode = "transform_after" if shared else concat["mode"]
            code = TagConcatenation(mode, concat["num_transform_layers"], code_dim=code_dim, name="code",
                                    **common)([pooled, concat_tags])
        scores = keras.layers.Dense(num_classes, activation="softmax", name="scores")(code)
        super().__init__(inputs=waveform, outputs={"scores": scores, "code": code, "tags": tags}, name=name,
                         **kwargs)
        self._attention_map, self._scores = am, scores
        self._asc_config = keras.saving.serialize_keras_object(asc)
        self.tagger = tagger  # built from its config when one was given
        self.concat, self.attention = concat, attention  # the normalised options
        self.num_classes = num_classes
        self.code_dim = code.shape[-1]
        self.sample_rate = a_rate
        self.num_samples = getattr(asc, "num_samples", None)
        self.num_tags = tags.shape[-1]

    def scores_model(self):
        """Waveform -> ``scores`` only (shares the weights): compile it with ``metrics=["accuracy"]`` to
        follow accuracy during ``fit`` (Keras' dict-output metrics want targets for every output)."""
        return keras.Model(self.inputs[0], self._scores, name=f"{self.name}_scores")

    def attention_model(self):
        """Waveform -> ``{"scores", "attention"}`` with ``attention (batch, filters)`` (shares the weights)."""
        if self._attention_map is None:
            raise ValueError("TagConditionedASC: this model has no tag attention (attention=None)")
        return keras.Model(self.inputs[0], {"scores": self._scores, "attention": self._attention_map},
                           name=f"{self.name}_attention")

    def serialize_argument(self, name, value):
        # The networks are Keras objects: their serialised form (from_config rebuilds them from it).
        if name == "asc":
            return self._asc_config
        if name == "tagger":
            return keras.saving.serialize_keras_object(self.tagger)
        if name in ("concat", "attention"):  # the normalised options, as before issue 17
            value = getattr(self, name)
        return super().serialize_argument(name, value)

    @classproperty
    def presets(cls):  # noqa: N805  (a class property)
        """The ``jung2020`` presets (the registry's family builds their scores-only training view,
        :func:`tag_conditioned_asc_for_training`)."""
        return jung2020_presets()

    @classmethod
    def from_preset(cls, preset="jung2020-tag-asc", tagger=None, asc=None, **overrides):
        """Builds ``jung2020`` preset ``preset``.

        ``asc`` / ``tagger``: ready networks to use instead of building the preset's (pass a
        trained tagger here). ``asc_overrides={...}`` / ``tagger_overrides={...}`` update the
        preset's network configurations; other keywords (``concat``, ``attention``,
        ``shared_transform``, ``transform_units``, ``name``) override the preset's entries.
        (Nested networks are why this class keeps its own ``from_preset``.)
        """
        config = jung2020_model_config(preset, cls.__name__)
        asc_cfg = {**config.pop("asc"), **overrides.pop("asc_overrides", {})}
        tagger_cfg = {**config.pop("tagger"), **overrides.pop("tagger_overrides", {})}
        config.update(overrides)
        asc = asc if asc is not None else RawWaveformASC(**asc_cfg)
        tagger = tagger if tagger is not None else AudioTagger(**tagger_cfg)
        return cls(asc, tagger, **config)



def tag_conditioned_asc_for_training(num_classes=10, sample_rate=48000, asc=None, tagger=None, concat=None,
                                     attention=None, shared_transform=True, transform_units=128,
                                     tagger_model=None, num_channels=1, name="tag_conditioned_asc"):
    """The builder ``audioattn train`` calls for the ``jung2020-*`` presets.

    Returns the *scores-only* view (:meth:`TagConditionedASC.scores_model`) of a
    :class:`TagConditionedASC` whose tagger is the trained, frozen model at ``tagger_model``
    (``audioattn train --tagger run/model.keras``; train it first with ``--preset
    jung2020-tagger``), so that ``fit`` / ``evaluate`` / ``export`` see one softmax output.
    ``asc`` are the preset's ASC network settings (``num_classes``, ``sample_rate`` and
    ``num_channels`` are set here; the training driver passes the data's channel count: 2 for
    the presets, as in the paper, or 1 with ``--channels 1``, which ``audioattn export`` needs);
    ``tagger`` (the preset's untrained tagger settings) is not used: the tag source must be
    trained on its own labels (Sec. 4.2).
    """
    del tagger
    if tagger_model is None:
        raise ArgumentError("tagger_model", ": jung2020 presets condition the ASC on a trained tagger; pass one "
                                            "(a .keras file; train one first with preset jung2020-tagger)")
    if not os.path.isfile(tagger_model):
        raise MissingFileArgument("tagger_model", f"{tagger_model}: no such .keras file")
    trained = keras.saving.load_model(tagger_model, compile=False)
    asc_config = {**PAPER_ASC, **(asc or {}), "num_classes": int(num_classes), "sample_rate": int(sample_rate),
                  "num_channels": int(num_channels)}
    model = TagConditionedASC(RawWaveformASC(**asc_config), trained, concat=concat, attention=attention,
                              shared_transform=shared_transform, transform_units=transform_units, name=name)
    return model.scores_model()


__all__ = ["AUTHORS_BASELINE_PARAMETERS", "BEST_SYSTEM_NARROW_PARAMETER_COUNT", "BEST_SYSTEM_PARAMETER_COUNT",
           "CONCAT_MODES", "ChannelMean", "NARROW_TRANSFORM_UNITS", "PAPER_ASC", "PAPER_BEST_SYSTEM_PARAMETERS",
           "PAPER_TAGGER", "PAPER_TAG_LAYER_INCREMENT", "TagConditionedASC", "mixup_batch",
           "tag_conditioned_asc_for_training"]
