"""Models of keras_audioattn: one module per paper model, paper configuration as defaults."""
from keras_audioattn.models.attention_lstm_classifier import (  # noqa: E402,F401
    AttentionLSTMClassifier,
    predict_recording,
)
from keras_audioattn.models.two_step_attention_sed import (  # noqa: E402,F401
    FeatureStandardization,
    TwoStepAttentionSED,
)
from keras_audioattn.models.chang2020 import CNNLSTMStudent, VGGishTeacher  # noqa: E402,F401
from keras_audioattn.models.cab_cnn import CABCNN, cab_cnn_training_recipe  # noqa: E402,F401
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
