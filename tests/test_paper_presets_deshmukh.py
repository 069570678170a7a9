"""Deshmukh et al. 2020 presets = the paper (``../shared/papers/deshmukh2020_2apae_mtl_sed.txt``; a
table with the source of each value) and the authors' code where the paper is silent (DESIGN.md)."""

import pytest

from keras_audioattn import presets
from keras_audioattn.models import TwoStepAttentionSED


# (argument, value, source) -- the built model's config of every deshmukh2020-* paper preset
COMMON = [
    ("num_classes", 41, "Sec. IV-A: 'one of the 41 events' (DCASE 2018 task 2); Table I: C = 41"),
    ("encoder_filters", [32, 64, 128, 256], "Sec. IV-D: 'repeated 4 times with increasing channel size "
                                            "(32, 64, 128, 256)'"),
    ("num_mel_bins", 64, "Sec. IV-C: 'mel filter banks with 64 bands'; Table I: 1 x 311 x 64"),
    ("sample_rate", 32000, "Sec. IV-A: 'a sampling rate of 32 kHz'"),
    ("output_bias_init", "zeros", "not in the paper: every class starts at probability 0.5, as in the authors' code "
                                  "(the package's label-prior start is the class default only)"),
]
TWO_STEP = [
    ("pooling", "two_step", "Sec. III-C, Table II: 2-step attention pooling"),
    ("decoder", True, "Sec. III-D, Table III: the auxiliary decoder"),
    ("num_frames", 311, "Table I: 1 x 311 x 64 (10 s at 32 kHz, hop 1024); the authors' dense step 2 is sized for it"),
    ("pooling_config", {"time_mixing": "dense", "time_input_norm": False},
     "authors' code (DESIGN.md): nn.Linear over the 311 frames, no normalisation of its input"),
    ("loss_on", "probability", "authors' code: BCE on the (clipped) clip probability"),
]
# (preset, {argument: value}, source) -- what each preset sets besides COMMON
ROWS = [
    ("deshmukh2020-2apae", dict(TWO_STEP_ALPHA=0.001, decoder_activation="linear"),
     "Table IV row 2APAE / Table V: alpha = 0.001; Sec. IV-D"),
    ("deshmukh2020-two-step-alpha0", dict(TWO_STEP_ALPHA=0.0), "Table V: alpha = 0.0"),
    ("deshmukh2020-two-step-alpha0.01", dict(TWO_STEP_ALPHA=0.01), "Table V: alpha = 0.01"),
    ("deshmukh2020-2apae-relu-decoder", dict(TWO_STEP_ALPHA=0.001, decoder_activation="relu"),
     "authors' code: the decoder ends in conv + BN + ReLU"),
    ("deshmukh2020-gap", dict(pooling="average", decoder=False, alpha=0.0), "Table IV: GAP"),
    ("deshmukh2020-gmp", dict(pooling="max", decoder=False, alpha=0.0), "Table IV: GMP"),
    ("deshmukh2020-gwrp", dict(pooling="gwrp", pooling_config={"r": 0.9998}, decoder=False, alpha=0.0),
     "Table IV: GWRP [13]; r = 0.9998 from the authors' code (the paper gives none)"),
    ("deshmukh2020-attention", dict(pooling="attention", decoder=False, alpha=0.0), "Table IV: Atrous AP [14]"),
]
RECIPE = [
    ("optimizer", "adam", "Sec. IV-D: 'using Adam optimiser'"),
    ("learning_rate", 1e-3, "Sec. IV-D: 'learning of 1e-3'"),
    ("batch_size", 24, "Sec. IV-D: 'a batch size of 24'"),
    ("epochs", None, "not stated in the paper"),
]


@pytest.mark.parametrize("name, expected, source", ROWS, ids=[r[0] for r in ROWS])
def test_deshmukh_presets_are_the_paper(name, expected, source):
    entry = presets.get_preset(name)
    want = dict(expected)
    if "TWO_STEP_ALPHA" in want:
        want["alpha"] = want.pop("TWO_STEP_ALPHA")
        want.update({key: value for key, value, _ in TWO_STEP})
    for key, value, why in COMMON:
        want.setdefault(key, value)
    built = TwoStepAttentionSED.from_preset(name).get_config()
    for key, value in want.items():
        assert built[key] == value, f"{name}: {key}={built[key]!r}, paper {value!r} ({source})"
    for key, value, why in RECIPE:
        assert entry["training"].get(key) == value, f"{name}: training {key} ({why})"
    assert entry["data"]["sample_rate"] == 32000 and entry["data"]["duration"] == 10.0, "Sec. IV-A: 10 s at 32 kHz"
