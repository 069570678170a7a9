"""Chang et al. 2020 and Jung et al. 2020 presets = the papers (a table with the source of each
value), as typed presets: each recipe field reaches the plain-dict view the training driver reads,
the distillation setup and the tag source are named fields. (The tiny variants, like every preset,
are built and run in tests/test_preset_kit.py.)"""

import pytest

from keras_audioattn import distillation, preset_registry, presets
from keras_audioattn.models import AudioTagger, CNNLSTMStudent, VGGishTeacher

# (preset, recipe field, value, source)
RECIPES = [
    ("chang2020-student-lstm16", "optimizer", "adam", "Chang Sec. 4.3: 'trained using the Adam Optimizer'"),
    ("chang2020-student-lstm16", "learning_rate", 1e-4, "Chang Sec. 4.3: 'with a learning rate of 0.0001'"),
    ("chang2020-student-lstm16", "epochs", 300, "Chang Sec. 4.3: 'for 300 epochs'"),
    ("chang2020-student-lstm16", "early_stopping_patience", 20, "Chang Sec. 4.3: 'did not improve for more than 20 epochs'"),
    ("chang2020-student-lstm16", "monitor", "val_micro_auprc", "Chang Sec. 4.3: 'if the AUPRC of the validation set did not improve'"),
    ("chang2020-student-lstm16", "monitor_mode", "max", "AUPRC: higher is better"),
    ("chang2020-student-lstm16", "distillation", "bce+kd+sp+iusp", "Chang Sec. 4.4: the final setup"),
    ("chang2020-teacher", "loss", "binary_crossentropy", "multi-label tagging (DCASE 2019 Task 5)"),
    ("chang2020-teacher", "distillation", None, "the teacher trains on its labels"),
    ("jung2020-tagger", "mixup_alpha", 0.2, "Jung §4.2: 'Mix-up is applied to both' (alpha not given: 0.2 is ours)"),
    ("jung2020-tag-asc", "mixup_alpha", 0.2, "Jung §4.2: mix-up on the ASC system"),
    ("jung2020-tag-asc", "back_end", {"svm_kernel": "rbf", "alternatives": ["sigmoid"]}, "Jung §2.1: 'an SVM with radial basis function or sigmoid kernel'"),
    ("jung2020-tag-asc", "tagger_preset", "jung2020-tagger", "Jung §2.2: a separate, frozen tagger"),
    ("jung2020-tag-asc", "monitor", "val_accuracy", "Jung Tables 2-6 report accuracy"),
]
# (preset, data field, value, source)
DATA = [
    ("chang2020-teacher", "sample_rate", 16000, "Chang Sec. 4.2: 'resampled to 16kHz'"),
    ("chang2020-student-lstm16", "duration", 10.0, "Chang Sec. 4.2: 64 x 998 features (10 s clips at a 10 ms step)"),
    ("chang2020-student-lstm16", "multi_label", True, "8 coarse tags"),
    ("jung2020-tag-asc", "sample_rate", 48000, "Jung §4.2: raw waveforms of shape (479999, 2) = 10 s of DCASE 2019 Task 1-a at 48 kHz"),
    ("jung2020-tag-asc", "channels", 2, "Jung §4.2: 'directly inputs stereo raw waveforms'"),
    ("jung2020-tag-asc", "duration", 10.0, "Jung §4.2: (479999, 2)"),
]


@pytest.mark.parametrize("name, field, value, source", RECIPES)
def test_recipes_are_the_papers(name, field, value, source):
    # That every field reaches the training driver: tests/test_training.py (every preset, every field).
    preset = preset_registry.get(name)
    assert getattr(preset.recipe, field) == value, source


@pytest.mark.parametrize("name, field, value, source", DATA)
def test_data_settings_are_the_papers(name, field, value, source):
    assert getattr(preset_registry.get(name).data, field) == value, source
    assert presets.get_preset(name)["data"][field] == value


def test_families_views_and_paper_models():
    student = presets.get_preset("chang2020-student-lstm32")
    assert student["distilled"] and student["training"]["distillation"] in distillation.SETUPS
    assert student["monitor"] == ["val_micro_auprc", "max"] and student["family"] == "chang2020-student"
    assert presets.get_preset("jung2020-tag-asc")["needs_tagger"]
    assert not presets.get_preset("jung2020-tagger")["needs_tagger"]
    assert presets.model_class("chang2020-teacher") is VGGishTeacher
    assert presets.model_class("chang2020-student-lstm16") is CNNLSTMStudent
    assert presets.model_class("jung2020-tagger") is AudioTagger  # the class itself (was a builder)
    assert set(CNNLSTMStudent.presets) >= {"chang2020-student-lstm128", "chang2020-table2-lstm16",
                                           "chang2020-student-tiny"}
    # Paper models: the clip length lives in the data settings, the model takes any length.
    assert VGGishTeacher.from_preset("chang2020-teacher").num_samples is None


# The driver's num_samples from the data (PresetFamily.fixed_length): tests/test_training.py.
