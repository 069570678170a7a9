"""Old path of the Jung et al. 2020 SVM back end: see :mod:`keras_audioattn.models.jung2020.code_svm`."""

from keras_audioattn.models.jung2020.code_svm import (code_view, compare_back_ends, extract_codes, fit_code_svm,
                                                      predict_scores, svm_back_end)

__all__ = ["code_view", "compare_back_ends", "extract_codes", "fit_code_svm", "predict_scores", "svm_back_end"]
