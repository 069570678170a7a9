"""Lu et al. (2020): CAB-CNN, a classifier-attention-based CNN on raw waveforms (accent identification).

* ``classifier_attention_layer.py``: :class:`ClassifierAttentionBlock` (the ACB, Fig. 2).
* ``cab_cnn_model.py``: :class:`CABCNN` (Fig. 1, Table 2) and its masking layers
  :class:`LengthMask` / :class:`ValidStepAverage`.
* ``lu2020_presets.py``: Table 4's CAB-CNN-Ts presets and :func:`cab_cnn_training_recipe` (§4).
"""
from keras_audioattn.models.lu2020.classifier_attention_layer import ClassifierAttentionBlock  # noqa: F401
from keras_audioattn.models.lu2020.cab_cnn_model import (  # noqa: F401
    CABCNN,
    DEFAULT_PARAMETER_COUNT,
    LengthMask,
    ValidStepAverage,
)
from keras_audioattn.models.lu2020.lu2020_presets import cab_cnn_training_recipe  # noqa: F401

__all__ = ["CABCNN", "ClassifierAttentionBlock", "DEFAULT_PARAMETER_COUNT", "LengthMask", "ValidStepAverage",
           "cab_cnn_training_recipe"]
