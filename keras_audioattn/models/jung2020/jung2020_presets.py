"""Presets of Jung et al. 2020, "Acoustic scene classification using audio tagging".

Families (:mod:`keras_audioattn.preset_registry`):

* ``jung2020-tagger``: the tag source, :class:`AudioTagger` (§2.2, §4.2), trained first on its own
  tagging labels.
* ``jung2020``: the tag-conditioned ASC systems of Tables 2-6. The family builds
  :func:`tag_conditioned_asc_for_training` (the scores-only view of a
  :class:`TagConditionedASC` whose frozen tagger is the trained ``--tagger`` model), the one
  softmax output ``audioattn train`` / ``evaluate`` / ``export`` handle;
  ``TagConditionedASC.from_preset(name, tagger=...)`` builds the full model.

Each family has one ``-tiny`` variant (tests, notebooks, ``make demo``, ``--small``).

Recipe (§4.2): mix-up on both systems (alpha not given: 0.2 is ours), SpecAugment on the tagger
(Park et al.'s LD policy, time warping omitted; the paper gives no values), an SVM (RBF or
sigmoid kernel) on the 64-d code as the reported back end (§2.1, ``back_end``). Not in the
paper: Adam 1e-3, batch 24 (DESIGN.md's speed table), 100 epochs, no early stopping. Data:
10 s stereo clips at 48 kHz (DCASE 2019 Task 1-a; the network of Table 1 takes 479 999 samples,
i.e. 10 s minus one); the tagger's DCASE 2019 Task 2 audio (80 tags, 44.1 kHz) is resampled to
48 kHz so that one waveform feeds both networks.

Example::

    from keras_audioattn import presets
    presets.get_preset("jung2020-tag-asc")["training"]["tagger_preset"]   # "jung2020-tagger"
    AudioTagger.from_preset("jung2020-tagger", num_classes=5)
"""

from __future__ import annotations

import keras

from keras_audioattn.layers.spec_augment import SPEC_AUGMENT_POLICIES
from keras_audioattn.models.jung2020.audio_tagger_model import AudioTagger
from keras_audioattn.models.jung2020.tag_conditioned_asc_model import (NARROW_TRANSFORM_UNITS, PAPER_ASC,
                                                                      PAPER_TAGGER,
                                                                      tag_conditioned_asc_for_training)
from keras_audioattn.preset_registry import (DataSettings, Preset, PresetFamily, TrainingRecipe, register_family,
                                             register_preset)

_SMALL_STFT = {"fft_length": 256, "frame_length": 256, "frame_step": 128}
#: The tagger's SpecAugment (§4.2): Park et al.'s LD policy (time warping omitted).
TAGGER_SPEC_AUGMENT = dict(SPEC_AUGMENT_POLICIES["LD"])

TAGGER_FAMILY = register_family(PresetFamily(
    "jung2020-tagger", AudioTagger, task="multi_label",
    tiny={"block_filters": [4, 8], "dense_units": [8], "dropout": 0.0, "num_mel_bins": 16,
          "front_end": dict(_SMALL_STFT),
          "spec_augment": {"freq_mask_param": 4, "time_mask_param": 4}},  # short clips, 16 bands
    tiny_of="jung2020-tagger"))
ASC_FAMILY = register_family(PresetFamily(
    "jung2020", tag_conditioned_asc_for_training, task="single_label",
    tiny={"asc": {"code_dim": 6, "first_filters": 8, "first_kernel": 4, "block_filters": [8, 8, 8]},
          "transform_units": 8},
    tiny_of="jung2020-tag-asc"))

TAGGER_RECIPE = TrainingRecipe(
    optimizer="adam", learning_rate=1e-3, batch_size=24, epochs=100, early_stopping_patience=None,
    monitor="val_loss", monitor_mode="min", loss="binary_crossentropy", mixup_alpha=0.2,
    evaluate=("average_precision_micro", "average_precision_macro"))
ASC_RECIPE = TrainingRecipe(
    optimizer="adam", learning_rate=1e-3, batch_size=24, epochs=100, early_stopping_patience=None,
    monitor="val_accuracy", monitor_mode="max", loss="categorical_crossentropy", mixup_alpha=0.2,
    evaluate=("accuracy",), back_end={"svm_kernel": "rbf", "alternatives": ["sigmoid"]},
    tagger_preset="jung2020-tagger")  # the frozen tag source (freeze_tagger=True), trained with its own preset
TAGGER_DATA = DataSettings(sample_rate=48000, duration=10.0, multi_label=True)
ASC_DATA = DataSettings(sample_rate=48000, duration=10.0, channels=2, multi_label=False)

PRESETS = {}


def _register(preset):
    PRESETS[preset.name] = register_preset(preset)


_register(Preset(
    "jung2020-tagger", "jung2020-tagger",
    model={"num_classes": 80, "sample_rate": 48000, "num_mel_bins": 128, "spec_augment": dict(TAGGER_SPEC_AUGMENT)},
    recipe=TAGGER_RECIPE, data=TAGGER_DATA,
    paper="Jung et al. 2020, Sec. 4.2: the tag source (a 128-mel CNN tagger with SpecAugment and mix-up, trained "
          "on DCASE 2019 Task 2's 80 tags; see docs/jung2020.md)"))


def _asc_preset(name, concat, attention, shared, paper, transform_units=128):
    _register(Preset(
        name, "jung2020",
        model={"asc": dict(PAPER_ASC), "tagger": dict(PAPER_TAGGER), "concat": concat, "attention": attention,
               "shared_transform": shared, "transform_units": transform_units},
        recipe=ASC_RECIPE, data=ASC_DATA,
        paper=paper + "; DCASE 2019 Task 1-a, 479 999 samples per clip (Table 1), tags: DCASE 2019 Task 2 (80)"))


_asc_preset("jung2020-baseline", None, None, True, "Jung et al. 2020, Table 1 and Table 2 'Baseline' (73.63 %)")
_asc_preset("jung2020-tag-concat", {"mode": "transform_before", "num_transform_layers": 3}, None, True,
            "Jung et al. 2020, §3.1, Table 2 best: 3 layers before concat (75.66 %)")
_asc_preset("jung2020-tag-attention", None, {"num_heads": 2, "num_transform_layers": 1}, True,
            "Jung et al. 2020, §3.2, Table 3 best: 2 heads, 1 layer (76.58 %)")
_asc_preset("jung2020-tag-asc-separate", {"mode": "transform_before", "num_transform_layers": 4},
            {"num_heads": 4, "num_transform_layers": 3}, False,
            "Jung et al. 2020, §3.3, Table 4 best: separate 4/3 layers, 4 heads (76.24 %)")
_asc_preset("jung2020-tag-asc", {"mode": "transform_before", "num_transform_layers": 3},
            {"num_heads": 4, "num_transform_layers": 3}, True,
            "Jung et al. 2020, §3.3, Table 5 best: shared 3 layers, 4 heads (76.75 %), Table 6; "
            "transform width 128 (not in the paper; 784 k parameters, Table 6: 676 k)")
_asc_preset("jung2020-tag-asc-narrow", {"mode": "transform_before", "num_transform_layers": 3},
            {"num_heads": 4, "num_transform_layers": 3}, True,
            "Jung et al. 2020, §3.3, Table 5 best with 80-unit transform layers: the "
            "width whose parameter increment matches Table 6 (676 k - 636 k)",
            transform_units=NARROW_TRANSFORM_UNITS)


def tag_asc_training_recipe(learning_rate=None, batch_size=None, epochs=None):
    """``{"compile": {...}, "fit": {...}}`` for a :class:`TagConditionedASC` (from :data:`ASC_RECIPE`).

    Categorical cross-entropy on ``scores`` only (``code`` and ``tags`` carry no loss; pass
    targets as ``{"scores": y}`` or ``y``), Adam. No compiled metrics: Keras 3 asks dict-output
    models for a target of every output before it computes any metric; fit
    :meth:`TagConditionedASC.scores_model` with ``metrics=["accuracy"]`` instead, or evaluate with
    :func:`~keras_audioattn.models.jung2020.code_svm.compare_back_ends`. Mix-up (alpha 0.2) belongs
    in the data pipeline: :func:`~keras_audioattn.models.jung2020.tag_conditioned_asc_model.mixup_batch`.

    Example: ``model.compile(**tag_asc_training_recipe(learning_rate=3e-3)["compile"])``.
    """
    recipe = ASC_RECIPE
    return {
        "compile": {
            "optimizer": keras.optimizers.Adam(recipe.learning_rate if learning_rate is None else learning_rate),
            "loss": {"scores": keras.losses.CategoricalCrossentropy()},
        },
        "fit": {"batch_size": recipe.batch_size if batch_size is None else batch_size,
                "epochs": recipe.epochs if epochs is None else epochs},
    }


def paper_presets(family):
    """``{name: plain-dict view}`` of ``family``'s presets: the ``PAPER_PRESETS`` of the old module
    paths (``keras_audioattn.models.audio_tagger`` / ``.tag_conditioned_asc``), kept for older code."""
    return {name: preset.as_dict() for name, preset in PRESETS.items() if preset.family == family}


__all__ = ["ASC_DATA", "ASC_FAMILY", "ASC_RECIPE", "PRESETS", "TAGGER_DATA", "TAGGER_FAMILY", "TAGGER_RECIPE",
           "TAGGER_SPEC_AUGMENT", "paper_presets", "tag_asc_training_recipe"]
