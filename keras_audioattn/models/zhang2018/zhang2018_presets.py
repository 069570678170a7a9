"""Presets of Zhang, Zhang & Wu (Interspeech 2018): Table 1's four LSTMs on both datasets of §3.

``zhang2018-<variant>`` is the LITIS Rouen setting (19 classes, 22.05 kHz, no dropout stated),
``zhang2018-<variant>-dcase2016`` the DCASE 2016 one (15 classes, 44.1 kHz, dropout 0.5, §3.2);
``<variant>`` is ``vanilla``, ``ta``, ``sa`` or ``ta-sa`` (Table 1's rows). ``zhang2018-tiny`` is
the tiny configuration of ``zhang2018-ta-sa`` (tests, notebooks, ``make demo``, ``--small``).

Example::

    from keras_audioattn.models import AttentionLSTMClassifier
    model = AttentionLSTMClassifier.from_preset("zhang2018-ta-sa-dcase2016")
"""

from __future__ import annotations

from keras_audioattn.models.zhang2018.attention_lstm_classifier_model import AttentionLSTMClassifier
from keras_audioattn.preset_registry import (DataSettings, Preset, PresetFamily, TrainingRecipe, get,
                                             register_family, register_preset)

FAMILY = register_family(PresetFamily(
    "zhang2018", AttentionLSTMClassifier, task="single_label",
    tiny={"units": 8, "attention_size": 4, "num_clusters": 4, "hidden_units": [8], "num_mel_bins": 16,
          "front_end": {"fft_length": 256, "frame_length": 256, "frame_step": 128}},
    tiny_of="zhang2018-ta-sa", fixed_length=True))  # trained on the 1 s clips of §3.1

#: §3.2: Adam 1e-3, 100 epochs, the model after the last epoch (Table 1 reports the models "after
#: 100 training epochs", not the best validation epoch: ``keep="last"``); batch 64 is not stated.
RECIPE = TrainingRecipe(optimizer="adam", learning_rate=1e-3, batch_size=64, epochs=100,
                        early_stopping_patience=None, monitor="val_accuracy", monitor_mode="max",
                        loss="categorical_crossentropy", keep="last",
                        evaluate=("accuracy", "classification_error"))

_VARIANT_NAMES = {"ta_sa": "ta-sa", "ta": "ta", "sa": "sa", "vanilla": "vanilla"}


def _preset(variant, dataset):
    litis = dataset == "litis"
    rate = 22050 if litis else 44100
    slug = _VARIANT_NAMES[variant]
    return Preset(
        f"zhang2018-{slug}" + ("" if litis else "-dcase2016"), "zhang2018",
        model={
            "num_classes": 19 if litis else 15,
            "variant": variant,
            "units": 128,
            "attention_size": 64,
            "num_clusters": 128,
            "hidden_units": [128],  # "128 x 128 x C": LSTM output 128 -> hidden 128 -> C (§3.2)
            "dropout": 0.0 if litis else 0.5,  # §3.2: 0.5 "for DCASE2016 dataset"; none stated for LITIS
            "l2": 1e-4,
            "sample_rate": rate,
            "num_samples": None,  # any length; the 1 s clips of §3.1 are the data's `duration`
            "num_mel_bins": 64,
            "normalize_inputs": False,  # the paper has no input normalisation
        },
        recipe=RECIPE,
        # §3.1: 1 s clips with 50 % overlap cut from the 30 s recordings; recording scores = clip mean.
        data=DataSettings(sample_rate=rate, duration=1.0, multi_label=False, clip_overlap=0.5),
        paper=(f"Zhang et al. 2018, §3.1-3.2, Table 1 "
               f"({'LITIS Rouen, 19 classes, 22.05 kHz' if litis else 'DCASE 2016, 15 classes, 44.1 kHz, dropout 0.5'}; "
               f"30 s recordings, 59 clips each)"),
    )


for _variant in _VARIANT_NAMES:
    register_preset(_preset(_variant, "litis"))
    register_preset(_preset(_variant, "dcase2016"))
del _variant

PRESET_NAMES = tuple(f"zhang2018-{slug}{suffix}" for slug in _VARIANT_NAMES.values()
                     for suffix in ("", "-dcase2016"))


def legacy_presets():
    """The pre-registry ``PAPER_PRESETS`` view: ``{name: {"model", "training", "data", "paper"}}``."""
    return {name: {k: v for k, v in get(name).as_dict().items() if k in ("model", "training", "data", "paper")}
            for name in PRESET_NAMES}


__all__ = ["FAMILY", "PRESET_NAMES", "RECIPE", "legacy_presets"]
