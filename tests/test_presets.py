"""keras_audioattn.presets: the public face of the one typed registry (keras_audioattn.preset_registry)."""

import json

import numpy as np
import pytest

import keras_audioattn.models  # noqa: F401  (the paper folders register their presets)
from keras_audioattn import preset_registry, presets
from keras_audioattn.cli import main
from keras_audioattn.training import METRIC_NAMES

ALL_FAMILIES = list(preset_registry.families())


def _module_presets():
    out = {}
    for name, preset in preset_registry.presets().items():
        view = preset.as_dict()
        out[name] = (preset.family, {k: view[k] for k in ("model", "training", "data", "paper")})
    return out


def test_families_is_a_read_only_view_of_the_registry():
    assert list(presets.FAMILIES) == ALL_FAMILIES and len(presets.FAMILIES) == len(ALL_FAMILIES)
    assert presets.FAMILIES["lu2020"] is preset_registry.get_family("lu2020")
    with pytest.raises(TypeError):
        presets.FAMILIES["new"] = {}  # noqa: the view has no item assignment


def test_registry_gathers_every_module_preset():
    expected = _module_presets()
    assert presets.list_presets() == list(expected)
    # The examples are there.
    for name in ("zhang2018-ta-sa", "lu2020-cab-cnn-30s", "deshmukh2020-2apae", "chang2020-student-lstm16"):
        assert name in expected
    for name, (family, entry) in expected.items():
        got = presets.get_preset(name)
        assert got["family"] == family and got["name"] == name
        assert got["model"] == entry["model"] and got["training"] == entry["training"]
        assert got["data"] == entry["data"]
        assert got["evaluate"] and set(got["evaluate"]) <= set(METRIC_NAMES), name
        assert got["task"] in ("single_label", "multi_label", "sed")
    # get_preset hands out copies: changing one leaves the module's dict alone.
    presets.get_preset("lu2020-cab-cnn-5s")["model"]["num_classes"] = 99
    assert expected["lu2020-cab-cnn-5s"][1]["model"]["num_classes"] == 3


def test_paper_metrics_per_family():
    assert presets.get_preset("zhang2018-ta")["evaluate"][0] == "accuracy"
    assert presets.get_preset("lu2020-cab-cnn-10s")["evaluate"] == [
        "accuracy", "unweighted_recall", "macro_f1", "confusion_matrix"]
    assert presets.get_preset("deshmukh2020-gwrp")["evaluate"] == [
        "average_precision_micro", "average_precision_macro", "roc_auc_macro"]
    for name in ("chang2020-teacher", "chang2020-student-lstm32"):
        assert presets.get_preset(name)["evaluate"] == ["dcase2019_task5_auprc_micro", "dcase2019_task5_auprc_macro"]


def test_unknown_preset_lists_close_matches():
    with pytest.raises(ValueError, match=r"unknown preset 'lu2020-cab-cnn-3s'; did you mean .*lu2020-cab-cnn-30s"):
        presets.get_preset("lu2020-cab-cnn-3s")
    with pytest.raises(ValueError, match=r"available presets: .*zhang2018-ta-sa.*chang2020-teacher"):
        presets.build_model("no-such-preset")


def test_build_model_equals_module_from_preset():
    from keras_audioattn.models import CABCNN

    model = presets.build_model("lu2020-cab-cnn-10s", num_classes=5)
    reference = CABCNN.from_preset("lu2020-cab-cnn-10s", num_classes=5)
    assert type(model) is CABCNN and model.get_config() == reference.get_config()
    assert model.max_seconds == 10 and model.num_classes == 5


# Every preset's tiny configuration builds and runs: tests/test_preset_kit.py.


def test_presets_command(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in presets.list_presets():
        assert name in out
    assert "unweighted_recall" in out
    assert main(["presets", "deshmukh2020-2apae"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["model"] == presets.get_preset("deshmukh2020-2apae")["model"]
    assert main(["presets", "deshmukh2020-2ape"]) == 2
    assert "did you mean deshmukh2020-2apae" in capsys.readouterr().err
