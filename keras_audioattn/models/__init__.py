"""Models of keras_audioattn: one folder per paper (``models/<paper>/``), paper configuration as defaults.

Every model subclasses :class:`~keras_audioattn.models.base.AudioModel`; importing a paper's folder
registers its presets in :mod:`keras_audioattn.preset_registry` (the import order below is the order
of ``audioattn presets``).
"""
from keras_audioattn.models.base import AudioModel  # noqa: F401
from keras_audioattn.models.zhang2018 import (  # noqa: E402,F401
    AttentionLSTMClassifier,
    predict_recording,
)
from keras_audioattn.models.lu2020 import CABCNN, cab_cnn_training_recipe  # noqa: E402,F401
from keras_audioattn.models.deshmukh2020 import (  # noqa: E402,F401
    FeatureStandardization,
    TwoStepAttentionSED,
)
from keras_audioattn.models.chang2020 import CNNLSTMStudent, VGGishTeacher  # noqa: E402,F401
from keras_audioattn.models.jung2020 import (  # noqa: E402,F401
    AudioTagger,
    RawWaveformASC,
    TagConditionedASC,
    compare_back_ends,
    extract_codes,
    fit_code_svm,
    mixup_batch,
    tag_asc_training_recipe,
)
