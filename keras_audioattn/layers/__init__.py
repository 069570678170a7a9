"""Keras layers of keras_audioattn (keras.ops only, backend-agnostic)."""
from keras_audioattn.layers.front_ends import (  # noqa: E402,F401
    FRONT_END_PRESETS,
    IntervalMaxPooling,
    LogMelSpectrogram,
    PreEmphasis,
    mel_filterbank,
)
from keras_audioattn.layers.attention_lstm import (  # noqa: E402,F401
    AttentionLSTM,
    MultimodalAttentionLSTMCell,
    SemanticAttentionLSTMCell,
    TemporalAttentionLSTMCell,
)
# 2APAE's poolings (Deshmukh et al. 2020): POOLING_LAYERS, GlobalAttentionPooling, GlobalWeightedRankPooling,
# TimeFrequencyAveragePooling, TimeFrequencyMaxPooling, TwoStepAttentionPooling, get_pooling.
from keras_audioattn.models.deshmukh2020.attention_pooling_layer import *  # noqa: E402,F401,F403
from keras_audioattn.layers.classifier_attention import ClassifierAttentionBlock  # noqa: E402,F401
from keras_audioattn.layers.tag_attention import (  # noqa: E402,F401
    CONCAT_MODES,
    TagConcatenation,
    TagMultiHeadAttention,
    TagTransform,
)
from keras_audioattn.layers.clipped_lstm import ClippedLSTM, ClippedLSTMCell  # noqa: E402,F401
from keras_audioattn.layers.closed_form_batch_norm import BatchNormalization  # noqa: E402,F401
from keras_audioattn.layers.matmul_gradient_conv import (  # noqa: E402,F401
    Conv1D,
    Conv2D,
    conv1d_same_matmul_gradient,
    conv2d_same_patch_gradient,
)
from keras_audioattn.layers.spec_augment import SPEC_AUGMENT_POLICIES, SpecAugment  # noqa: E402,F401
