"""Models of keras_audioattn: one module per paper model, paper configuration as defaults."""
from keras_audioattn.models.zhang2018 import (  # noqa: E402,F401
    AttentionLSTMClassifier,
    predict_recording,
)
from keras_audioattn.models.deshmukh2020 import (  # noqa: E402,F401
    FeatureStandardization,
    TwoStepAttentionSED,
)
from keras_audioattn.models.vggish_teacher import VGGishTeacher  # noqa: E402,F401
from keras_audioattn.models.cnn_lstm_student import CNNLSTMStudent  # noqa: E402,F401
from keras_audioattn.models.lu2020 import CABCNN, cab_cnn_training_recipe  # noqa: E402,F401
from keras_audioattn.models.raw_waveform_asc import RawWaveformASC  # noqa: E402,F401
from keras_audioattn.models.audio_tagger import AudioTagger  # noqa: E402,F401
from keras_audioattn.models.tag_conditioned_asc import (  # noqa: E402,F401
    TagConditionedASC,
    mixup_batch,
    tag_asc_training_recipe,
)
from keras_audioattn.models.code_svm import (  # noqa: E402,F401
    compare_back_ends,
    extract_codes,
    fit_code_svm,
)
