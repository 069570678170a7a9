"""SVM back end on the ASC code (Jung et al. 2020, §2.1).

"The acoustic scenes are classified in the train phase, but the output layer is removed after
training" and "an SVM with radial basis function or sigmoid kernel is used for back-end
classification"; every accuracy of Tables 2-6 is the SVM's. These helpers extract the code of
a :class:`RawWaveformASC` or :class:`TagConditionedASC`, fit a scikit-learn ``SVC`` on it, and
report its accuracy beside the network's own softmax accuracy.

Choices (the paper gives only the kernel family): the codes are standardised per dimension
(``StandardScaler``) before the SVM; ``C=1`` and ``gamma="scale"`` (scikit-learn's defaults).
"""

from __future__ import annotations

import numpy as np

__all__ = ["compare_back_ends", "extract_codes", "fit_code_svm", "predict_scores"]

_KERNELS = ("rbf", "sigmoid")


def extract_codes(model, x, batch_size=32):
    """The code (``(n, code_dim)`` float32) of each waveform in ``x`` (inference mode)."""
    if hasattr(model, "code_model"):
        return np.asarray(model.code_model().predict(np.asarray(x, np.float32), batch_size=batch_size, verbose=0))
    out = model.predict(np.asarray(x, np.float32), batch_size=batch_size, verbose=0)
    if not isinstance(out, dict) or "code" not in out:
        raise ValueError("extract_codes: the model must be a RawWaveformASC or return a dict with a 'code' "
                         "output (TagConditionedASC)")
    return np.asarray(out["code"])


def predict_scores(model, x, batch_size=32):
    """The softmax scene scores of each waveform in ``x``."""
    out = model.predict(np.asarray(x, np.float32), batch_size=batch_size, verbose=0)
    return np.asarray(out["scores"] if isinstance(out, dict) else out)


def _labels(y):
    y = np.asarray(y)
    return y.argmax(-1) if y.ndim == 2 else y.astype(int)


def fit_code_svm(model, x, y, kernel="rbf", C=1.0, gamma="scale", standardize=True, batch_size=32, codes=None):
    """Fits ``SVC(kernel)`` on the codes of ``x`` with labels ``y`` (indices or one-hot).

    Returns a fitted scikit-learn pipeline (``StandardScaler`` -> ``SVC`` when ``standardize``);
    ``pipeline.predict(extract_codes(model, x_test))`` gives class indices. ``codes`` skips the
    extraction when the training codes are already at hand.
    """
    if kernel not in _KERNELS:
        raise ValueError(f"fit_code_svm: kernel must be one of {_KERNELS} (the paper's), got {kernel!r}")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    codes = extract_codes(model, x, batch_size) if codes is None else np.asarray(codes)
    labels = _labels(y)
    if len(codes) != len(labels):
        raise ValueError(f"fit_code_svm: {len(codes)} codes for {len(labels)} labels")
    steps = ([StandardScaler()] if standardize else []) + [SVC(kernel=kernel, C=C, gamma=gamma)]
    return make_pipeline(*steps).fit(codes, labels)


def compare_back_ends(model, svm, x, y, batch_size=32):
    """``{"softmax": accuracy of the network's scores, "svm": accuracy of the SVM on the codes}``."""
    labels = _labels(y)
    out = model.predict(np.asarray(x, np.float32), batch_size=batch_size, verbose=0)
    if isinstance(out, dict):
        scores, codes = np.asarray(out["scores"]), np.asarray(out["code"])
    else:
        scores, codes = np.asarray(out), extract_codes(model, x, batch_size)
    return {"softmax": float(np.mean(scores.argmax(-1) == labels)),
            "svm": float(np.mean(svm.predict(codes) == labels))}
