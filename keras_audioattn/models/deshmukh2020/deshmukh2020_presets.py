"""Presets of Deshmukh, Raj & Singh (2020), 2APAE for weakly labelled SED, and its Table IV / V rows.

* ``deshmukh2020-2apae``: the paper's system (Sec. IV-D, Tables I-III, alpha = 0.001) with the
  authors' step 2 (a dense map over 311 frames = 10 s at 32 kHz, hop 1024).
* ``deshmukh2020-two-step-alpha0`` / ``-alpha0.01``: Table V's alpha ablation.
* ``deshmukh2020-2apae-relu-decoder``: the authors' decoder ending in a ReLU.
* ``deshmukh2020-2apae-any-length``: the package's step 2 on any number of frames (not the paper's).
* ``deshmukh2020-gap`` / ``-gmp`` / ``-gwrp`` / ``-attention``: Table IV's pooling baselines on the
  2APAE encoder, without the decoder.
* ``deshmukh2020-tiny``: the tiny configuration of ``deshmukh2020-2apae`` (tests, notebooks,
  ``make demo``, ``--small``).

Example::

    from keras_audioattn.models import TwoStepAttentionSED
    model = TwoStepAttentionSED.from_preset("deshmukh2020-gwrp", num_classes=10)
"""

from __future__ import annotations

from keras_audioattn.models.deshmukh2020.two_step_attention_sed_model import TwoStepAttentionSED
from keras_audioattn.preset_registry import (DataSettings, Preset, PresetFamily, TrainingRecipe, get,
                                             register_family, register_preset)

FAMILY = register_family(PresetFamily(
    "deshmukh2020", TwoStepAttentionSED, task="sed",
    train_overrides={"include_front_end": True},  # training from audio files: the waveform input
    # Tiny clips have fewer frames than the paper's dense step 2 (311): the tiny configuration
    # uses the any-length step 2 (pooling_config {} = each pooling's defaults).
    tiny={"encoder_filters": [4, 8], "num_frames": None, "pooling_config": {}, "output_bias_init": "label_prior",
          "front_end": {"fft_length": 256, "frame_length": 256, "frame_step": 128, "num_mel_bins": 16,
                        "fmax": 4000.0}},
    tiny_of="deshmukh2020-2apae"))

#: Adam 1e-3, batch 24 (authors' code); the number of epochs is not stated (``None``: train with a
#: validation fold, best epoch by validation loss). The loss is BCE on the clip scores plus
#: ``alpha * MSE(reconstruction)`` (Eq. 7 / 17), computed by the model's ``compute_loss``.
RECIPE = TrainingRecipe(optimizer="adam", learning_rate=1e-3, batch_size=24, epochs=None,
                        early_stopping_patience=None, monitor="val_loss", monitor_mode="min",
                        loss="binary_crossentropy", keep="best",
                        evaluate=("average_precision_micro", "average_precision_macro", "roc_auc_macro"))
DATA = DataSettings(sample_rate=32000, duration=10.0, multi_label=True)
_LOSS = "; loss BCE + alpha * MSE(reconstruction), Eq. 7/17"

# The paper's step 2 (authors' code): a dense map over exactly 311 frames (10 s at 32 kHz, hop
# 1024), no normalisation of its input, BCE on the clipped clip probability.
_AUTHORS_STEP2 = {"num_frames": 311, "pooling_config": {"time_mixing": "dense", "time_input_norm": False},
                  "loss_on": "probability"}
# The paper presets start every class at probability 0.5 (zero biases, as the authors); the
# package's label-prior start (output_bias_init="label_prior") is the class default only.
_ZEROS = {"output_bias_init": "zeros"}

_PRESETS = {
    "deshmukh2020-2apae": (dict(_AUTHORS_STEP2, **_ZEROS),
                           "Sec. IV-D, Tables I-III; Table IV row 2APAE (alpha = 0.001); step 2 as the "
                           "authors' code (nn.Linear over 311 frames)" + _LOSS),
    "deshmukh2020-two-step-alpha0": (dict(_AUTHORS_STEP2, alpha=0.0, **_ZEROS), "Table V, alpha = 0.0"),
    "deshmukh2020-two-step-alpha0.01": (dict(_AUTHORS_STEP2, alpha=0.01, **_ZEROS), "Table V, alpha = 0.01" + _LOSS),
    "deshmukh2020-2apae-relu-decoder": (dict(_AUTHORS_STEP2, decoder_activation="relu", **_ZEROS),
                                        "authors' code: decoder ends in ReLU" + _LOSS),
    # The package's default step 2 (any number of frames; issue 19): not the paper's layer.
    "deshmukh2020-2apae-any-length": (
        {"pooling_config": {"time_mixing": "context", "time_input_norm": True}, "loss_on": "logit",
         "output_bias_init": "label_prior"},
        "2APAE with the package's step 2 (whole-clip context at any length, normalised step-2 input, "
        "BCE from the log-odds, output biases started at the label prior); not in the paper" + _LOSS),
    "deshmukh2020-gap": ({"pooling": "average", "decoder": False, "alpha": 0.0, **_ZEROS},
                         "Table IV, GAP (on the 2APAE encoder)"),
    "deshmukh2020-gmp": ({"pooling": "max", "decoder": False, "alpha": 0.0, **_ZEROS},
                         "Table IV, GMP (on the 2APAE encoder)"),
    "deshmukh2020-gwrp": ({"pooling": "gwrp", "pooling_config": {"r": 0.9998}, "decoder": False, "alpha": 0.0,
                           **_ZEROS},
                          "Table IV, GWRP [13] (r = 0.9998 as in the authors' code; on the 2APAE encoder)"),
    "deshmukh2020-attention": ({"pooling": "attention", "decoder": False, "alpha": 0.0, **_ZEROS},
                               "Table IV, attention pooling (Atrous AP [14], on the 2APAE encoder)"),
}

for _name, (_model, _paper) in _PRESETS.items():
    register_preset(Preset(_name, "deshmukh2020", model=dict(num_classes=41, **_model), recipe=RECIPE, data=DATA,
                           paper=_paper))
del _name, _model, _paper

PRESET_NAMES = tuple(_PRESETS)


def legacy_presets():
    """The pre-registry ``PAPER_PRESETS`` view: ``{name: {"model", "training", "data", "paper"}}``."""
    return {name: {k: v for k, v in get(name).as_dict().items() if k in ("model", "training", "data", "paper")}
            for name in PRESET_NAMES}


__all__ = ["DATA", "FAMILY", "PRESET_NAMES", "RECIPE", "legacy_presets"]
