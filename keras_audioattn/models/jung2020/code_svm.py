"""SVM back end on the ASC code (Jung et al. 2020, §2.1).

"The acoustic scenes are classified in the train phase, but the output layer is removed after
training" and "an SVM with radial basis function or sigmoid kernel is used for back-end
classification"; every accuracy of Tables 2-6 is the SVM's. These helpers extract the code of
a :class:`RawWaveformASC` or :class:`TagConditionedASC`, fit a scikit-learn ``SVC`` on it, and
report its accuracy beside the network's own softmax accuracy.

Choices (the paper gives only the kernel family): the codes are standardised per dimension
(``StandardScaler``) before the SVM; ``C=1`` and ``gamma="scale"`` (scikit-learn's defaults).

``audioattn evaluate`` of a ``jung2020-*`` run reports the paper's metric through
:func:`svm_back_end`: the saved model is the scores-only view of the trained network, whose
graph keeps the layer named ``code``; :func:`code_view` reads the code from it, the SVM is fit on
the codes of the run's training manifest (recorded in its ``config.json``) and scored on the
evaluation data, beside the softmax accuracy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["code_view", "compare_back_ends", "extract_codes", "fit_code_svm", "predict_scores", "svm_back_end"]

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


def code_view(model):
    """Waveform -> code of ``model``: its ``code_model()`` when it has one, else a view on the output
    of its layer named ``code`` (e.g. the scores-only model ``audioattn train`` saves for the
    ``jung2020-*`` presets). Shares the weights.

    Raises:
      ValueError: the model has no layer named ``code``.
    """
    import keras

    if hasattr(model, "code_model"):
        return model.code_model()
    try:
        layer = model.get_layer("code")
    except ValueError:
        raise ValueError(f"code_view: model {model.name!r} has no layer named 'code' (the Jung et al. 2020 "
                         f"code the SVM back end classifies)") from None
    return keras.Model(model.inputs, layer.output, name=f"{model.name}_code")


def _codes_and_labels(view, batches):
    codes, labels = [], []
    for x, y in batches:
        if isinstance(x, tuple):
            x = list(x)
        codes.append(np.asarray(view.predict_on_batch(x), np.float32))
        labels.append(_labels(np.asarray(y)))
    if not codes:
        raise ValueError("svm_back_end: no clips")
    return np.concatenate(codes), np.concatenate(labels)


def svm_back_end(model, train_batches, test_batches, kernel="rbf", C=1.0, gamma="scale", standardize=True):
    """The paper's back end (§2.1) on batches: SVM fit on the codes of ``train_batches``, accuracy
    on ``test_batches``.

    Args:
      model: a model with a ``code`` (see :func:`code_view`).
      train_batches, test_batches: iterables of ``(inputs, targets)`` batches (one-hot or index
        targets), e.g. unshuffled ``tf.data`` datasets without mix-up.
      kernel, C, gamma, standardize: as :func:`fit_code_svm`.

    Returns:
      ``{"svm_accuracy", "kernel", "num_train_clips", "code_dim"}``.
    """
    view = code_view(model)
    train_codes, train_labels = _codes_and_labels(view, train_batches)
    test_codes, test_labels = _codes_and_labels(view, test_batches)
    if len(np.unique(train_labels)) < 2:
        raise ValueError(f"svm_back_end: the training codes hold {len(np.unique(train_labels))} class; "
                         f"an SVM needs at least 2")
    svm = fit_code_svm(None, None, train_labels, kernel=kernel, C=C, gamma=gamma, standardize=standardize,
                       codes=train_codes)
    return {"svm_accuracy": float(np.mean(svm.predict(test_codes) == test_labels)), "kernel": kernel,
            "num_train_clips": int(len(train_labels)), "code_dim": int(train_codes.shape[-1])}
