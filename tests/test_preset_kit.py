"""Every registered preset through the kit (:func:`tests.kit.run_preset_test`), and the paper-size
parameter counts of the presets whose paper gives one.

``test_every_preset`` is parametrized from the registry, so a preset added to a paper folder is
checked without touching this file: its tiny configuration builds, round-trips its config and
maps a short waveform to ``num_classes`` finite scores.

The parameter counts are those of the full-size model (no forward pass). Where our count differs
from the paper's the difference is recorded, not hidden: the paper figure and the reason are in
the table and in ``docs/<paper>.md``.
"""

import json

import pytest

from keras_audioattn import presets
from tests import kit


def lstm_params(inputs, units):
    return 4 * units * (inputs + units + 1)  # Keras: one bias per gate


def student_params(units, mel, filters=32, k=5, s=2, classes=8):
    """Chang et al. Table 1: conv 5x5/2 (32 filters, valid) -> LSTM -> FC (8 coarse tags)."""
    freq = (mel - k) // s + 1
    return k * k * filters + filters + lstm_params(freq * filters, units) + units * classes + classes


#: Chang et al. 2020, Table 2 "Params (M)".
CHANG_TABLE2 = {"teacher": 3.96, 128: 0.742, 64: 0.355, 32: 0.173, 16: 0.086}

#: preset -> (our full-size count, the paper's figure or None, how they relate / the source).
PAPER_SIZE_PARAMS = {
    **{f"chang2020-table2-lstm{u}": (student_params(u, mel=85), CHANG_TABLE2[u] * 1e6,
                                     "Chang Table 2; 85 mel bins (41 conv rows) give Table 2's counts within 0.5 %")
       for u in (128, 64, 32, 16)},
    **{f"chang2020-student-lstm{u}": (student_params(u, mel=20), CHANG_TABLE2[u] * 1e6,
                                      "Chang Sec. 4.2 text (20 mel bins): under a third of Table 2 "
                                      "(docs/chang2020.md)")
       for u in (128, 64, 32, 16)},
    "chang2020-teacher": (13_153_672, CHANG_TABLE2["teacher"] * 1e6,
                          "the authors' DCASE 2019 Task 5 VGGish (flatten 4096 -> 2048); Table 2 says "
                          "3.96 M (docs/chang2020.md)"),
    "lu2020-cab-cnn-5s": (134_112, None, "Lu Table 2 layer by layer (the paper prints no total)"),
}

#: Jung et al.: the ASC network's own parameters (the frozen tagger aside), Table 6 "# Param".
JUNG_PARAMS = {
    "jung2020-baseline": (715_978, 636_000, "Table 1 as written; Table 6 lists the group's [22] network: 636 k"),
    "jung2020-tag-asc": (784_074, 676_000, "Table 5 best, 128-unit transforms; Table 6: 676 k"),
    "jung2020-tag-asc-narrow": (750_906, 676_000, "80-unit transforms: Table 6's increment (676 k - 636 k)"),
}


#: Tiny configurations already run forward in this session (most presets of a family differ only
#: in their recipe, and their tiny models are the same: one forward pass each is enough).
_RUN_FORWARD = set()


@pytest.fixture(scope="module")
def tagger_path(tmp_path_factory):
    """One tiny untrained tagger for every preset that conditions on one (saved once, not per preset)."""
    path = tmp_path_factory.mktemp("tagger") / "tagger.keras"
    presets.build_model("jung2020-tagger", num_classes=3, small=True, sample_rate=8000).save(path)
    return str(path)


@pytest.mark.parametrize("name", presets.list_presets())
def test_every_preset(name, tagger_path):
    expected = PAPER_SIZE_PARAMS.get(name, (None,))[0]
    tiny = presets.model_config(name, num_classes=4, small=True, for_training=True, sample_rate=8000)
    key = json.dumps([presets.preset_family(name), tiny], sort_keys=True, default=str)
    extra = {"tagger_model": tagger_path} if presets.get_preset(name)["needs_tagger"] else {}
    model = kit.run_preset_test(name, expected_params=expected, forward=key not in _RUN_FORWARD, **extra)
    _RUN_FORWARD.add(key)
    # The tiny configuration is what tests, notebooks and `make demo` build: keep it tiny.
    assert model.count_params() < 50_000, f"{name}: tiny configuration has {model.count_params()} parameters"


def test_paper_size_table_names_registered_presets():
    registered = set(presets.list_presets())
    assert set(PAPER_SIZE_PARAMS) | set(JUNG_PARAMS) <= registered


@pytest.mark.parametrize("units", [128, 64, 32, 16])
def test_chang_table2_presets_are_within_half_a_percent_of_table_2(units):
    ours, paper, _ = PAPER_SIZE_PARAMS[f"chang2020-table2-lstm{units}"]
    assert abs(ours - paper) / paper < 0.005
    text, _, _ = PAPER_SIZE_PARAMS[f"chang2020-student-lstm{units}"]
    assert text < paper / 3  # the text's 20 mel bins cannot give Table 2's counts


def test_jung_paper_size_parameter_counts_are_the_models():
    """The counts above are the model modules' recorded constants; tests/test_tag_conditioned_asc.py
    builds each preset and counts it (test_paper_best_system_parameter_count,
    test_narrow_transform_matches_the_papers_increment, test_preset_parameter_counts)."""
    from keras_audioattn.models.raw_waveform_asc import DEFAULT_PARAMETER_COUNT
    from keras_audioattn.models.tag_conditioned_asc import (BEST_SYSTEM_NARROW_PARAMETER_COUNT,
                                                            BEST_SYSTEM_PARAMETER_COUNT, PAPER_BEST_SYSTEM_PARAMETERS)

    assert JUNG_PARAMS["jung2020-baseline"][0] == DEFAULT_PARAMETER_COUNT
    assert JUNG_PARAMS["jung2020-tag-asc"][0] == BEST_SYSTEM_PARAMETER_COUNT
    assert JUNG_PARAMS["jung2020-tag-asc-narrow"][0] == BEST_SYSTEM_NARROW_PARAMETER_COUNT
    assert JUNG_PARAMS["jung2020-tag-asc"][1] == PAPER_BEST_SYSTEM_PARAMETERS
    for name, (ours, paper, source) in JUNG_PARAMS.items():
        assert ours > paper, f"{name}: recorded difference ({source}; docs/jung2020.md), not a match"
