"""Evaluation metrics of the five papers, equal to their reference definitions.

Plain functions take NumPy arrays (sklearn-like ``metric(y_true, y_score_or_pred)``); Keras metric
classes (at the end of the module) stream the metrics worth watching during ``model.fit``.
``docs/metrics.md`` lists each metric with its source definition and conventions.

=====================================  ======================================================
paper                                  functions
=====================================  ======================================================
Zhang et al. 2018 (ASC, §3.2)          :func:`accuracy`, :func:`classification_error`,
                                       :func:`fold_scores`, :func:`aggregate_clip_scores`
Zhang et al. 2018 (YouTube-8M, §4.2)   :func:`gap_at_k` (Eq. 7, top 20), :func:`hit_at_1`
Lu et al. 2020 (CAB-CNN, §4)           :func:`accuracy`, :func:`unweighted_recall`,
                                       :func:`macro_f1`, :func:`confusion_matrix`
Deshmukh et al. 2020 (2APAE, §IV-B)    :func:`average_precision` ("micro-P"/"macro-P"),
                                       :func:`roc_auc`; SED: :func:`frame_scores_to_events`,
                                       :func:`segment_based_metrics`, :func:`event_based_metrics`
Chang et al. 2020 (IUSP, §4)           :func:`dcase2019_task5_auprc` (micro / macro)
Jung et al. 2020 (ASC, §4)             :func:`accuracy`
=====================================  ======================================================

Input conventions shared by every function (each raises ``ValueError`` naming the problem):

- Single-label targets / predictions: 1-D integer class indices ``(samples,)`` or 2-D
  ``(samples, classes)`` arrays (one-hot targets, or scores whose arg-max is the prediction).
- Multi-label targets: ``(samples, classes)`` with values in {0, 1}; scores ``(samples,
  classes)``, finite. A 1-D integer ``y_true`` next to 2-D scores is read as class indices and
  one-hot encoded (one-vs-rest).
- Mismatched shapes, NaN / inf scores, labels outside {0, 1}, empty arrays: ``ValueError``.
- A class without positives (or, for ROC AUC, without negatives) makes per-class metrics
  undefined: ``ValueError`` — except :func:`dcase2019_task5_auprc`, which reproduces the
  organisers' code (that class scores 0) and warns.
"""

from __future__ import annotations

import math
import numbers
import warnings

import keras
import numpy as np
from keras import ops
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching
from sklearn import metrics as _skm

__all__ = [
    # single-label classification
    "accuracy",
    "classification_error",
    "unweighted_recall",
    "macro_f1",
    "confusion_matrix",
    "fold_scores",
    "aggregate_clip_scores",
    # multi-label tagging
    "average_precision",
    "roc_auc",
    "dcase2019_task5_auprc",
    "gap_at_k",
    "hit_at_1",
    # sound event detection
    "frame_scores_to_events",
    "segment_based_metrics",
    "segment_based_f1",
    "event_based_metrics",
    "event_based_f1",
    # Keras metrics
    "UnweightedRecall",
    "MacroF1",
    "DCASE2019Task5AUPRC",
]

# --------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------


def _as_numeric_array(x, name):
    try:
        arr = np.asarray(x)
    except Exception as err:  # ragged nested lists and the like
        raise ValueError(f"{name} cannot be read as a numeric array: {err}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be numeric; got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s)")
    return arr


def _to_class_indices(y, name, is_target):
    """Returns (1-D int class indices, number of columns or None)."""
    arr = _as_numeric_array(y, name)
    if arr.ndim == 2:
        if arr.shape[1] < 2:
            raise ValueError(f"{name} has shape {arr.shape}: a 2-D array needs >= 2 class columns")
        if is_target:
            if not np.all((arr == 0) | (arr == 1)) or not np.all(arr.sum(axis=1) == 1):
                raise ValueError(
                    f"{name} is 2-D, so each row must be one-hot (a single 1, zeros elsewhere)"
                )
        return np.argmax(arr, axis=1), arr.shape[1]
    if arr.ndim == 1:
        if np.issubdtype(arr.dtype, np.floating) and not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} is 1-D, so it must hold integer class indices")
        if np.any(arr < 0):
            raise ValueError(f"{name} holds negative class indices")
        return arr.astype(np.int64), None
    raise ValueError(
        f"{name} must be 1-D class indices (samples,) or 2-D (samples, classes); got shape {arr.shape}"
    )


def _classification_inputs(y_true, y_pred, labels):
    t, n_t = _to_class_indices(y_true, "y_true", is_target=True)
    p, n_p = _to_class_indices(y_pred, "y_pred", is_target=False)
    if t.shape[0] != p.shape[0]:
        raise ValueError(f"y_true has {t.shape[0]} samples but y_pred has {p.shape[0]}")
    if n_t is not None and n_p is not None and n_t != n_p:
        raise ValueError(f"y_true has {n_t} class columns but y_pred has {n_p}")
    if labels is None:
        n = n_t if n_t is not None else n_p
        labels = np.arange(n) if n is not None else np.union1d(t, p)
    else:
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.size == 0 or np.unique(labels).size != labels.size:
            raise ValueError("labels must be a non-empty 1-D sequence of distinct class indices")
    outside = np.setdiff1d(np.unique(t), labels)
    if outside.size:
        raise ValueError(f"y_true contains class(es) {outside.tolist()} that are not in labels")
    return t, p, labels


def _check_average(average, allowed, name="average"):
    if average not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}; got {average!r}")


def _multilabel_inputs(y_true, y_score):
    """Returns (y_true int array (samples, classes), y_score float64 array of the same shape)."""
    s = _as_numeric_array(y_score, "y_score").astype(np.float64)
    t = _as_numeric_array(y_true, "y_true")
    if t.dtype == bool:
        t = t.astype(np.int64)
    if s.ndim == 1:
        s = s[:, None]
        if t.ndim == 1:
            t = t[:, None]
    if s.ndim != 2:
        raise ValueError(f"y_score must be (samples, classes); got shape {s.shape}")
    if t.ndim == 1:  # class indices next to a score matrix: one-vs-rest
        if not np.all(t == np.round(t)) or np.any(t < 0) or np.any(t >= s.shape[1]):
            raise ValueError(
                f"1-D y_true must hold class indices in [0, {s.shape[1]}) for {s.shape[1]} score columns"
            )
        t = np.eye(s.shape[1], dtype=np.int64)[t.astype(np.int64)]
    if t.shape != s.shape:
        raise ValueError(f"y_true has shape {t.shape} but y_score has shape {s.shape}")
    bad = np.unique(t[(t != 0) & (t != 1)])
    if bad.size:
        raise ValueError(f"y_true must contain only 0 and 1; found {bad[:5].tolist()}")
    return t.astype(np.int64), s


def _require_positives(t, per_class, metric, need_negatives=False):
    if per_class:
        missing = np.flatnonzero(t.sum(axis=0) == 0)
        if missing.size:
            raise ValueError(
                f"{metric} is undefined for class(es) {missing.tolist()}: no positive in y_true"
            )
        if need_negatives:
            full = np.flatnonzero(t.sum(axis=0) == t.shape[0])
            if full.size:
                raise ValueError(
                    f"{metric} is undefined for class(es) {full.tolist()}: no negative in y_true"
                )
    else:
        if t.sum() == 0:
            raise ValueError(f"{metric} is undefined: y_true has no positive label")
        if need_negatives and t.sum() == t.size:
            raise ValueError(f"{metric} is undefined: y_true has no negative label")


# --------------------------------------------------------------------------------------------
# Single-label classification: Zhang 2018, Lu 2020, Jung 2020
# --------------------------------------------------------------------------------------------


def accuracy(y_true, y_pred):
    """Fraction of correctly classified samples.

    Lu et al. 2020, §4 ("Accuracy" equation): ``sum_i 1(y_data_i = y_model_i) / N``; also the
    score of Jung et al. 2020 (§4) and one minus the "classification error" of Zhang et al.
    2018 (§3.2). Computed with ``sklearn.metrics.accuracy_score``.

    Args:
        y_true: ``(samples,)`` class indices or ``(samples, classes)`` one-hot.
        y_pred: ``(samples,)`` class indices or ``(samples, classes)`` scores (arg-max taken).

    Returns:
        float in [0, 1].
    """
    t, p, _ = _classification_inputs(y_true, y_pred, None)
    return float(_skm.accuracy_score(t, p))


def classification_error(y_true, y_pred):
    """``1 - accuracy``: the per-split score of Zhang et al. 2018 (§3.2, Table 1 in %)."""
    return 1.0 - accuracy(y_true, y_pred)


def _check_support(t, labels, metric):
    support = np.array([np.count_nonzero(t == label) for label in labels])
    empty = labels[support == 0]
    if empty.size:
        raise ValueError(
            f"{metric} is undefined: class(es) {empty.tolist()} have no sample in y_true "
            "(Recall(l) divides by |T_l|); pass labels= to choose the classes to average over"
        )


def unweighted_recall(y_true, y_pred, labels=None, average="macro"):
    """Unweighted recall (mean per-class recall, "UAR"), Lu et al. 2020 §4.

    ``Recall_unweighted = 1/|L| sum_l Recall(l)`` with ``Recall(l) = #correct in T_l / |T_l|``.
    Equal to ``sklearn.metrics.recall_score(average="macro")`` (and to balanced accuracy), which
    computes it.

    Args:
        y_true, y_pred: as in :func:`accuracy`.
        labels: the class set ``L``. Default: every column for 2-D inputs, otherwise the classes
            seen in ``y_true`` or ``y_pred``.
        average: ``"macro"`` (the paper's mean) or ``None`` for the per-class recalls.

    Raises:
        ValueError: a class of ``L`` has no sample in ``y_true`` (``Recall(l)`` is 0/0).
    """
    _check_average(average, ("macro", None))
    t, p, labels = _classification_inputs(y_true, y_pred, labels)
    _check_support(t, labels, "unweighted recall")
    out = _skm.recall_score(t, p, labels=labels, average=average, zero_division=0)
    return float(out) if average else np.asarray(out, dtype=np.float64)


def macro_f1(y_true, y_pred, labels=None, average="macro"):
    """Macro F1 as defined by Lu et al. 2020 §4: the unweighted mean of per-class F1.

    ``F1(l) = 2 P(l) R(l) / (P(l) + R(l))`` with ``P(l) = #correct in T_l / #predicted l`` and
    ``R(l)`` as in :func:`unweighted_recall`. Convention: a class never predicted has
    ``P(l) = 0`` and a class with ``P(l) = R(l) = 0`` has ``F1(l) = 0`` (the paper's 0/0 cases).
    Computed with ``sklearn.metrics.f1_score(average="macro", zero_division=0)``, which is the
    same quantity.

    Args / Raises: as :func:`unweighted_recall`.
    """
    _check_average(average, ("macro", None))
    t, p, labels = _classification_inputs(y_true, y_pred, labels)
    _check_support(t, labels, "macro F1")
    out = _skm.f1_score(t, p, labels=labels, average=average, zero_division=0)
    return float(out) if average else np.asarray(out, dtype=np.float64)


def confusion_matrix(y_true, y_pred, labels=None, normalize=None):
    """Confusion matrix, rows = actual class, columns = predicted class (Lu et al. Tables 5-6).

    Args:
        y_true, y_pred, labels: as in :func:`unweighted_recall`.
        normalize: ``None`` (counts), ``"true"`` (rows sum to 1), ``"pred"`` or ``"all"``.

    Returns:
        ``(len(labels), len(labels))`` array (int counts unless normalised).

    Raises:
        ValueError: ``y_pred`` holds a class outside ``labels`` (it would be silently dropped).
    """
    _check_average(normalize, (None, "true", "pred", "all"), name="normalize")
    t, p, labels = _classification_inputs(y_true, y_pred, labels)
    outside = np.setdiff1d(np.unique(p), labels)
    if outside.size:
        raise ValueError(f"y_pred contains class(es) {outside.tolist()} that are not in labels")
    return _skm.confusion_matrix(t, p, labels=labels, normalize=normalize)


def fold_scores(metric, folds):
    """Scores a metric on each cross-validation split and averages them (Zhang 2018 §3.2).

    Zhang et al. report the classification error of each training/test split and its mean over
    the splits (4 folds of DCASE 2016, 20 splits of LITIS Rouen).

    Args:
        metric: callable ``metric(y_true, y_pred) -> float``, e.g. :func:`classification_error`.
        folds: iterable of ``(y_true, y_pred)`` pairs, one per split.

    Returns:
        ``(per_fold, mean)``: a ``(folds,)`` float array and its mean.
    """
    if not callable(metric):
        raise ValueError("metric must be callable as metric(y_true, y_pred)")
    per_fold = np.array([float(metric(t, p)) for t, p in folds], dtype=np.float64)
    if per_fold.size == 0:
        raise ValueError("folds is empty")
    return per_fold, float(per_fold.mean())


def aggregate_clip_scores(clip_scores, recording_ids):
    """Averages clip scores per recording (Zhang 2018 §3.1: 1 s clips, 50 % overlap, averaged).

    Args:
        clip_scores: ``(clips, classes)`` class probabilities of each clip.
        recording_ids: ``(clips,)`` hashable id of the recording each clip comes from.

    Returns:
        ``(ids, scores)``: the distinct ids in order of first appearance and the
        ``(recordings, classes)`` mean scores.
    """
    s = _as_numeric_array(clip_scores, "clip_scores").astype(np.float64)
    if s.ndim != 2:
        raise ValueError(f"clip_scores must be (clips, classes); got shape {s.shape}")
    ids = list(recording_ids)
    if len(ids) != s.shape[0]:
        raise ValueError(f"{len(ids)} recording_ids for {s.shape[0]} clips")
    order = {}
    for rid in ids:
        order.setdefault(rid, len(order))
    index = np.array([order[rid] for rid in ids])
    sums = np.zeros((len(order), s.shape[1]))
    np.add.at(sums, index, s)
    counts = np.bincount(index, minlength=len(order))[:, None]
    return list(order), sums / counts


# --------------------------------------------------------------------------------------------
# Multi-label tagging: Deshmukh 2020, Chang 2020, Zhang 2018 (YouTube-8M)
# --------------------------------------------------------------------------------------------


def average_precision(y_true, y_score, average="micro"):
    """Average precision, the "micro-P" / "macro-P" of Deshmukh et al. 2020 (§IV-B, Tables IV-V).

    The authors' code computes ``sklearn.metrics.average_precision_score`` (not thresholded
    precision); this calls it. ``"micro"`` pools every (sample, class) pair into one ranking;
    ``"macro"`` is the unweighted mean over classes; ``None`` returns the per-class values.

    Args:
        y_true: ``(samples, classes)`` in {0, 1} (or 1-D class indices, one-vs-rest).
        y_score: ``(samples, classes)`` scores.
        average: ``"micro"`` (default: the paper's primary metric), ``"macro"`` or ``None``.

    Raises:
        ValueError: bad input, or (macro / per class) a class without positives; (micro) no
            positive at all.
    """
    _check_average(average, ("micro", "macro", None))
    t, s = _multilabel_inputs(y_true, y_score)
    _require_positives(t, average != "micro", "average precision")
    if t.shape[1] == 1:
        value = _skm.average_precision_score(t[:, 0], s[:, 0])
        return float(value) if average else np.array([value])
    out = _skm.average_precision_score(t, s, average=average)
    return float(out) if average else np.asarray(out, dtype=np.float64)


def roc_auc(y_true, y_score, average="macro"):
    """Area under the ROC curve, the "AUC" of Deshmukh et al. 2020 (macro over classes).

    Calls ``sklearn.metrics.roc_auc_score``. ``average``: ``"macro"`` (default, the paper's),
    ``"micro"`` or ``None`` (per class).

    Raises:
        ValueError: bad input, or a class (macro / per class) or the whole matrix (micro)
            without positives or without negatives.
    """
    _check_average(average, ("micro", "macro", None))
    t, s = _multilabel_inputs(y_true, y_score)
    _require_positives(t, average != "micro", "ROC AUC", need_negatives=True)
    if t.shape[1] == 1:
        value = _skm.roc_auc_score(t[:, 0], s[:, 0])
        return float(value) if average else np.array([value])
    out = _skm.roc_auc_score(t, s, average=average)
    return float(out) if average else np.asarray(out, dtype=np.float64)


_DCASE_MIN_THRESHOLD = 0.01  # the organisers skip lower thresholds
_DCASE_MU = 0.5  # denominator floor of P and R in the organisers' code


def _dcase_area(tp, fp, fn):
    """AUPRC of one curve given counts ordered by decreasing threshold."""
    precision = tp / np.maximum(tp + fp, _DCASE_MU)
    recall = tp / np.maximum(tp + fn, _DCASE_MU)
    # Counts shrink as the threshold rises, so decreasing thresholds give non-decreasing
    # recall: this order is "sort by recall, higher threshold first among equal recalls".
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[1.0], precision, [0.0]])
    return float(_skm.auc(recall, precision))


def _dcase_counts(t, s, thresholds):
    """TP, FP, FN of the decisions ``s >= threshold`` summed over all entries of t / s."""
    pos = np.sort(s[t == 1])
    neg = np.sort(s[t == 0])
    tp = pos.size - np.searchsorted(pos, thresholds, side="left")
    fp = neg.size - np.searchsorted(neg, thresholds, side="left")
    return tp.astype(np.float64), fp.astype(np.float64), (pos.size - tp).astype(np.float64)


def _dcase_thresholds(s):
    candidates = s[s >= _DCASE_MIN_THRESHOLD]
    return np.unique(np.append(candidates, 1.0))[::-1]


def dcase2019_task5_auprc(y_true, y_score, average="micro"):
    """DCASE 2019 Task 5 (urban sound tagging) AUPRC, as the challenge organisers compute it.

    This is the metric of Chang et al. 2020 (§4: "micro AUPRC", Table 4 class-wise AUPRC), who
    used the organisers' evaluation code. Definition (the organisers' ``metrics.py``):

    1. Thresholds: the distinct scores >= 0.01, plus 1.0.
    2. At each threshold ``t`` the decisions are ``score >= t``; micro: TP, FP, FN summed over
       all classes (thresholds: the union of every class's); macro: per class.
    3. ``P = TP / max(TP + FP, 0.5)``, ``R = TP / max(TP + FN, 0.5)``.
    4. Points sorted by recall; ``(R=0, P=1)`` prepended, ``(R=1, P=0)`` appended; trapezoid
       area (``sklearn.metrics.auc``). Macro: mean of the per-class areas.

    It is not sklearn's average precision (see ``docs/metrics.md`` for an example where they
    differ): the 1.0 threshold adds a ``(R=0, P=0)`` point, scores under 0.01 never count as
    detections, and the curve is interpolated linearly.

    Tie order: many points share a recall and their order changes the area. The organisers
    leave it to an unstable ``argsort``; their per-class curves come out with the higher
    threshold first among equal recalls, and this function uses that order everywhere.

    Args:
        y_true: ``(samples, classes)`` in {0, 1}.
        y_score: ``(samples, classes)`` probabilities in [0, 1] (the organisers' threshold set
            assumes it; their code fails on scores above 1).
        average: ``"micro"`` (default, the paper's headline), ``"macro"``, or ``None`` for the
            per-class areas.

    Conventions: a class without positives has R = 0 everywhere and scores 0, as in the
    organisers' code (a ``UserWarning`` is issued); micro with no positive at all raises.
    """
    _check_average(average, ("micro", "macro", None))
    t, s = _multilabel_inputs(y_true, y_score)
    if s.min() < 0.0 or s.max() > 1.0:
        raise ValueError(
            "dcase2019_task5_auprc expects probabilities in [0, 1] (its thresholds are the "
            f"scores >= 0.01 plus 1.0); got scores in [{s.min():.4g}, {s.max():.4g}]"
        )
    if average == "micro":
        _require_positives(t, False, "DCASE micro-AUPRC")
        thresholds = np.unique(np.concatenate([_dcase_thresholds(s[:, c]) for c in range(s.shape[1])]))
        return _dcase_area(*_dcase_counts(t, s, thresholds[::-1]))
    empty = np.flatnonzero(t.sum(axis=0) == 0)
    if empty.size:
        warnings.warn(
            f"class(es) {empty.tolist()} have no positive in y_true: their DCASE AUPRC is 0 "
            "(the organisers' convention)",
            UserWarning,
            stacklevel=2,
        )
    areas = np.array(
        [
            _dcase_area(*_dcase_counts(t[:, c], s[:, c], _dcase_thresholds(s[:, c])))
            for c in range(s.shape[1])
        ]
    )
    return float(areas.mean()) if average == "macro" else areas


def gap_at_k(y_true, y_score, k=20):
    """Global average precision at k (GAP@k) of the YouTube-8M challenge, Zhang 2018 §4.2.

    For each sample the ``k`` highest-scoring classes are kept; all ``(sample, class, score)``
    triples are pooled and sorted by score, and ``AP = sum_i p(i) Δr(i)`` (Eq. 7) is computed on
    that list, with ``Δr = 1 / (number of positives in y_true)`` at each hit — positives outside
    the top ``k`` count in the denominator, as in the challenge's ``eval_util.calculate_gap``.

    Ties: the challenge code shuffles the list before sorting, so tied scores give a random
    value; here ties keep sample order, then class order (deterministic).

    Args:
        y_true: ``(samples, classes)`` in {0, 1} (or 1-D class indices).
        y_score: ``(samples, classes)`` scores.
        k: positive int (20 in the paper); values above the class count use every class.

    Raises:
        ValueError: bad input, ``k < 1``, or no positive label in ``y_true``.
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")
    t, s = _multilabel_inputs(y_true, y_score)
    _require_positives(t, False, "GAP")
    k = min(int(k), s.shape[1])
    # k-th largest score per row (O(classes), no full sort); among scores tied with it, the
    # lowest class indices fill the top k.
    kth = -np.partition(-s, k - 1, axis=1)[:, k - 1 : k]
    above = s > kth
    tied = s == kth
    room = k - above.sum(axis=1, keepdims=True)
    keep = above | (tied & (np.cumsum(tied, axis=1) <= room))
    scores, hits = s[keep], t[keep]  # row-major: sample order, then class order
    hits = hits[np.argsort(-scores, kind="stable")]
    precision_at_i = np.cumsum(hits) / np.arange(1, hits.size + 1)
    return float(np.sum(precision_at_i * hits) / t.sum())


def hit_at_1(y_true, y_score):
    """Hit@1 (YouTube-8M, Zhang 2018 Table 2): fraction of samples whose top class is positive.

    Args:
        y_true: ``(samples, classes)`` in {0, 1} (or 1-D class indices, then Hit@1 = accuracy).
        y_score: ``(samples, classes)`` scores; ties go to the lowest class index (``argmax``),
            as in the challenge's ``calculate_hit_at_one``.

    A sample without any positive label always counts as a miss (as in the challenge code).
    """
    t, s = _multilabel_inputs(y_true, y_score)
    top = np.argmax(s, axis=1)
    return float(np.mean(t[np.arange(t.shape[0]), top]))


# --------------------------------------------------------------------------------------------
# Sound event detection (strong labels): frame scores -> events, segment / event-based F1
# --------------------------------------------------------------------------------------------


def _runs(column):
    """Start (inclusive) and end (exclusive) indices of runs of True in a 1-D bool array."""
    padded = np.concatenate([[False], column, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return edges[0::2], edges[1::2]


def frame_scores_to_events(
    frame_scores,
    frame_hop,
    threshold=0.5,
    class_names=None,
    median_window=1,
    min_duration=0.0,
    min_gap=0.0,
    time_offset=0.0,
):
    """Turns frame-level class probabilities into events ``(onset_s, offset_s, label)``.

    Steps (the DCASE baselines' post-processing): decisions ``score >= threshold``; an optional
    median filter of ``median_window`` frames over time on the decisions (a majority vote,
    ``scipy.ndimage.median_filter``, reflecting edges); runs of active frames become events;
    events of one class separated by less than ``min_gap`` seconds are merged; events shorter
    than ``min_duration`` seconds are dropped. Frame ``i`` covers
    ``[time_offset + i * frame_hop, time_offset + (i + 1) * frame_hop)``.

    Args:
        frame_scores: ``(frames, classes)`` (one clip) or ``(batch, frames, classes)``;
            a 1-D array is one class.
        frame_hop: seconds between frames (> 0), e.g. 1024 / 32000 for 2APAE.
        threshold: scalar or ``(classes,)`` per-class thresholds.
        class_names: labels for the events; default the class indices.
        median_window: odd number of frames (1 = no filtering).
        min_duration, min_gap: seconds (>= 0).
        time_offset: onset time of frame 0 in seconds.

    Returns:
        A list of events sorted by onset then class (or a list of such lists for a batch).
    """
    scores = _as_numeric_array(frame_scores, "frame_scores").astype(np.float64)
    if scores.ndim == 1:
        scores = scores[:, None]
    if scores.ndim == 3:
        return [
            frame_scores_to_events(
                clip, frame_hop, threshold, class_names, median_window, min_duration, min_gap, time_offset
            )
            for clip in scores
        ]
    if scores.ndim != 2:
        raise ValueError(
            f"frame_scores must be (frames, classes) or (batch, frames, classes); got {scores.shape}"
        )
    n_classes = scores.shape[1]
    for name, value, strict in (("frame_hop", frame_hop, True), ("min_duration", min_duration, False),
                                ("min_gap", min_gap, False), ("time_offset", time_offset, False)):
        valid = isinstance(value, numbers.Real) and math.isfinite(value) and value >= 0
        if not valid or (strict and value == 0):
            bound = "> 0" if strict else ">= 0"
            raise ValueError(f"{name} must be a finite number {bound}; got {value!r}")
    if isinstance(median_window, bool) or not isinstance(median_window, numbers.Integral) or (
        median_window < 1 or median_window % 2 == 0
    ):
        raise ValueError(f"median_window must be an odd positive integer (frames); got {median_window!r}")
    thr = np.asarray(threshold, dtype=np.float64)
    if thr.ndim > 1 or (thr.ndim == 1 and thr.size != n_classes) or not np.all(np.isfinite(thr)):
        raise ValueError(f"threshold must be a finite scalar or have one value per class ({n_classes})")
    if class_names is None:
        class_names = list(range(n_classes))
    elif len(class_names) != n_classes:
        raise ValueError(f"{len(class_names)} class_names for {n_classes} score columns")

    active = scores >= thr
    if median_window > 1:
        active = ndimage.median_filter(active.astype(np.uint8), size=(median_window, 1)) > 0
    events = []
    for c in range(n_classes):
        starts, ends = _runs(active[:, c])
        merged = []
        for on, off in zip(time_offset + starts * frame_hop, time_offset + ends * frame_hop):
            if merged and on - merged[-1][1] < min_gap:
                merged[-1][1] = off
            else:
                merged.append([on, off])
        events.extend(
            (float(on), float(off), class_names[c]) for on, off in merged if off - on >= min_duration
        )
    order = {name: i for i, name in enumerate(class_names)}
    return sorted(events, key=lambda e: (e[0], order[e[2]]))


def _parse_event(event, name):
    if isinstance(event, dict):
        try:
            onset = event.get("onset", event.get("event_onset"))
            offset = event.get("offset", event.get("event_offset"))
            label = event["event_label"] if "event_label" in event else event["label"]
        except KeyError:
            raise ValueError(f"{name}: event dict {event!r} needs onset, offset and event_label") from None
    else:
        onset, offset, label = event
    if not all(isinstance(v, numbers.Real) and math.isfinite(v) for v in (onset, offset)):
        raise ValueError(f"{name}: event {event!r} needs finite numeric onset and offset")
    if onset < 0 or offset < onset:
        raise ValueError(f"{name}: event {event!r} needs 0 <= onset <= offset")
    return float(onset), float(offset), label


def _is_event(x):
    if isinstance(x, dict):
        return True
    return (
        isinstance(x, (tuple, list))
        and len(x) == 3
        and isinstance(x[0], numbers.Real)
        and isinstance(x[1], numbers.Real)
    )


def _as_clips(events, name):
    """A single clip's event list, or a list of clips' lists -> list of lists of parsed events."""
    if isinstance(events, (str, bytes, np.ndarray)) or not hasattr(events, "__iter__"):
        raise ValueError(f"{name} must be a list of (onset, offset, label) events or a list of such lists")
    events = list(events)
    if all(_is_event(e) for e in events):
        clips = [events]
    elif all(isinstance(c, (list, tuple)) and all(_is_event(e) for e in c) for c in events):
        clips = [list(c) for c in events]
    else:
        raise ValueError(
            f"{name} must be a list of (onset, offset, label) events (one clip) or a list of such "
            "lists (one per clip)"
        )
    return [[_parse_event(e, name) for e in clip] for clip in clips]


def _sed_inputs(reference_events, estimated_events, class_names):
    ref = _as_clips(reference_events, "reference_events")
    est = _as_clips(estimated_events, "estimated_events")
    if len(ref) != len(est):
        raise ValueError(f"reference_events has {len(ref)} clips but estimated_events has {len(est)}")
    seen = {e[2] for clip in ref + est for e in clip}
    if class_names is None:
        class_names = sorted(seen, key=lambda x: (str(type(x)), x))
    else:
        class_names = list(class_names)
        unknown = seen - set(class_names)
        if unknown:
            raise ValueError(f"event label(s) {sorted(map(str, unknown))} are not in class_names")
    return ref, est, class_names


def _prf(ntp, nsys, nref):
    """Precision (0 when nothing was detected), recall (NaN without references), F1."""
    precision = ntp / nsys if nsys > 0 else 0.0
    recall = ntp / nref if nref > 0 else float("nan")
    if precision == 0 and recall == 0:
        f1 = 0.0
    else:
        f1 = 2 * precision * recall / (precision + recall)
    return float(precision), float(recall), float(f1)


def _summarise(overall, class_counts, class_names, nsubs, ndel, nins):
    if overall["Nref"] == 0:
        raise ValueError("no reference event in any clip: recall and error rate are undefined")
    precision, recall, f1 = _prf(overall["Ntp"], overall["Nsys"], overall["Nref"])
    class_f1 = {
        name: _prf(class_counts[name]["Ntp"], class_counts[name]["Nsys"], class_counts[name]["Nref"])[2]
        for name in class_names
    }
    values = np.array(list(class_f1.values()), dtype=np.float64)
    nref = overall["Nref"]
    return {
        "f1": f1,
        "precision": precision,
        "recall": recall,
        "error_rate": (nsubs + ndel + nins) / nref,
        "substitution_rate": nsubs / nref,
        "deletion_rate": ndel / nref,
        "insertion_rate": nins / nref,
        "macro_f1": float(np.nanmean(values)) if np.any(np.isfinite(values)) else float("nan"),
        "class_wise_f1": class_f1,
        "counts": dict(overall),
    }


def _event_roll(events, class_index, n_segments, resolution):
    roll = np.zeros((n_segments, len(class_index)), dtype=bool)
    for onset, offset, label in events:
        # The same index arithmetic as sed_eval's event_list_to_event_roll.
        start = int(math.floor(onset * 1 / float(resolution)))
        end = int(math.ceil(offset * 1 / float(resolution)))
        roll[start:end, class_index[label]] = True
    return roll


def segment_based_metrics(reference_events, estimated_events, segment_length=1.0, duration=None,
                          class_names=None):
    """Segment-based F1 / error rate of sound event detection (Mesaros et al. 2016; sed_eval).

    Each clip is cut into segments of ``segment_length`` seconds; a class is active in a
    segment if any of its events overlaps it (onset floored, offset ceiled to the grid). Per
    segment: ``TP`` = classes active in both, ``FP`` / ``FN`` = active in one only,
    ``S = min(Nref, Nsys) - TP``, ``D = max(0, Nref - Nsys)``, ``I = max(0, Nsys - Nref)``.
    Overall ("micro") values sum the counts over segments and clips: ``P = TP / Nsys``,
    ``R = TP / Nref``, ``F1 = 2PR / (P + R)``, ``ER = (S + D + I) / Nref``. Equal to
    ``sed_eval.sound_event.SegmentBasedMetrics(..., time_resolution=segment_length)`` with
    ``empty_system_output_handling="zero_score"`` (the tests compare them).

    Args:
        reference_events, estimated_events: ``(onset_s, offset_s, label)`` tuples (or dicts with
            ``onset``, ``offset``, ``event_label``) of one clip, or a list of such lists (one per
            clip, same number of clips on both sides).
        segment_length: seconds (> 0); DCASE uses 1.0.
        duration: evaluated length of each clip (seconds; scalar or one per clip). Default: the
            last offset of the clip's reference and estimated events (as sed_eval).
        class_names: the label set; default the labels seen in either list.

    Returns:
        dict with ``f1``, ``precision``, ``recall``, ``error_rate``, ``substitution_rate``,
        ``deletion_rate``, ``insertion_rate``, ``macro_f1`` (mean of the defined class-wise F1),
        ``class_wise_f1`` ({label: F1, NaN for a class without references}) and ``counts``.

    Conventions: ``P = 0`` when nothing is detected; ``ValueError`` when there is no reference
    event at all (R and ER are 0/0).
    """
    if not isinstance(segment_length, numbers.Real) or not segment_length > 0:
        raise ValueError(f"segment_length must be a positive number of seconds; got {segment_length!r}")
    ref, est, class_names = _sed_inputs(reference_events, estimated_events, class_names)
    if duration is None:
        durations = [None] * len(ref)
    elif isinstance(duration, numbers.Real):
        durations = [float(duration)] * len(ref)
    else:
        durations = [float(d) for d in duration]
        if len(durations) != len(ref):
            raise ValueError(f"{len(durations)} durations for {len(ref)} clips")
    if any(d is not None and not (math.isfinite(d) and d >= 0) for d in durations):
        raise ValueError("duration must be finite and >= 0")

    class_index = {name: i for i, name in enumerate(class_names)}
    keys = ("Ntp", "Nfp", "Nfn", "Nref", "Nsys")
    overall = dict.fromkeys(keys, 0)
    per_class = np.zeros((len(class_names), len(keys)), dtype=np.int64)
    nsubs = ndel = nins = 0
    for ref_clip, est_clip, clip_duration in zip(ref, est, durations):
        if clip_duration is None:
            clip_duration = max([e[1] for e in ref_clip + est_clip], default=0.0)
        n_segments = int(math.ceil(clip_duration * 1 / float(segment_length)))
        r = _event_roll(ref_clip, class_index, n_segments, segment_length)
        s = _event_roll(est_clip, class_index, n_segments, segment_length)
        tp, fp, fn = r & s, s & ~r, r & ~s
        nref_seg, nsys_seg, ntp_seg = r.sum(1), s.sum(1), tp.sum(1)
        nsubs += int(np.sum(np.minimum(nref_seg, nsys_seg) - ntp_seg))
        ndel += int(np.sum(np.maximum(0, nref_seg - nsys_seg)))
        nins += int(np.sum(np.maximum(0, nsys_seg - nref_seg)))
        per_class += np.stack([tp.sum(0), fp.sum(0), fn.sum(0), r.sum(0), s.sum(0)], axis=1)
    totals = per_class.sum(axis=0)
    overall = {k: int(v) for k, v in zip(keys, totals)}
    class_counts = {name: dict(zip(keys, per_class[i].tolist())) for i, name in enumerate(class_names)}
    return _summarise(overall, class_counts, class_names, nsubs, ndel, nins)


def segment_based_f1(reference_events, estimated_events, segment_length=1.0, duration=None,
                     class_names=None):
    """Overall (micro) segment-based F1; see :func:`segment_based_metrics`."""
    return segment_based_metrics(reference_events, estimated_events, segment_length, duration,
                                 class_names)["f1"]


def _conditions(ref_clip, est_clip, t_collar, percentage_of_length, evaluate_onset, evaluate_offset):
    """(refs, ests) bool matrix: onset / offset conditions of sed_eval, labels ignored."""
    ok = np.ones((len(ref_clip), len(est_clip)), dtype=bool)
    if not ref_clip or not est_clip:
        return ok
    r_on, r_off = np.array([e[0] for e in ref_clip]), np.array([e[1] for e in ref_clip])
    e_on, e_off = np.array([e[0] for e in est_clip]), np.array([e[1] for e in est_clip])
    if evaluate_onset:
        ok &= np.abs(r_on[:, None] - e_on[None, :]) <= t_collar
    if evaluate_offset:
        tolerance = np.maximum(t_collar, percentage_of_length * (r_off - r_on))
        ok &= np.abs(r_off[:, None] - e_off[None, :]) <= tolerance[:, None]
    return ok


def _max_matching(hits):
    """Maximum-cardinality bipartite matching: (refs matched mask, ests matched mask)."""
    ref_matched = np.zeros(hits.shape[0], dtype=bool)
    est_matched = np.zeros(hits.shape[1], dtype=bool)
    if hits.any():
        match = maximum_bipartite_matching(csr_matrix(hits.astype(np.int8)), perm_type="column")
        ref_matched = match >= 0
        est_matched[match[ref_matched]] = True
    return ref_matched, est_matched


def event_based_metrics(reference_events, estimated_events, t_collar=0.2, percentage_of_length=0.5,
                        evaluate_onset=True, evaluate_offset=True, class_names=None):
    """Event-based F1 / error rate of sound event detection (Mesaros et al. 2016; sed_eval).

    An estimated event matches a reference event of the same label if its onset is within
    ``t_collar`` seconds of the reference onset and (if ``evaluate_offset``) its offset within
    ``max(t_collar, percentage_of_length * reference duration)`` of the reference offset. Each
    event matches at most once; the number of true positives is the maximum matching (the
    "optimal" matching of sed_eval). Unmatched pairs meeting the time conditions with different
    labels are substitutions (paired greedily in reference order). ``P = TP / Nsys``,
    ``R = TP / Nref``, ``ER = (S + D + I) / Nref`` with ``D = Nref - TP - S``,
    ``I = Nsys - TP - S``. DCASE defaults: ``t_collar = 0.2`` s, 50 % of the length.

    Args:
        reference_events, estimated_events, class_names: as in :func:`segment_based_metrics`.
        t_collar: seconds (> 0). percentage_of_length: in [0, 1].
        evaluate_onset, evaluate_offset: which boundaries must match (not both False).

    Returns:
        dict as :func:`segment_based_metrics`.

    Note: TP, P, R and F1 equal sed_eval's exactly (a maximum matching has a unique size); the
    substitution count can differ from sed_eval's in rare cases where several maximum matchings
    leave different events over.
    """
    if not isinstance(t_collar, numbers.Real) or not t_collar > 0:
        raise ValueError(f"t_collar must be a positive number of seconds; got {t_collar!r}")
    if not isinstance(percentage_of_length, numbers.Real) or not 0 <= percentage_of_length <= 1:
        raise ValueError(f"percentage_of_length must be in [0, 1]; got {percentage_of_length!r}")
    if not (evaluate_onset or evaluate_offset):
        raise ValueError("evaluate_onset and evaluate_offset cannot both be False")
    ref, est, class_names = _sed_inputs(reference_events, estimated_events, class_names)
    keys = ("Ntp", "Nfp", "Nfn", "Nref", "Nsys")
    class_counts = {name: dict.fromkeys(keys, 0) for name in class_names}
    nsubs = 0
    for ref_clip, est_clip in zip(ref, est):
        time_ok = _conditions(ref_clip, est_clip, t_collar, percentage_of_length, evaluate_onset,
                              evaluate_offset)
        ref_labels = np.array([e[2] for e in ref_clip], dtype=object)
        est_labels = np.array([e[2] for e in est_clip], dtype=object)
        ref_done = np.zeros(len(ref_clip), dtype=bool)
        est_done = np.zeros(len(est_clip), dtype=bool)
        for name in class_names:
            r_idx = np.flatnonzero(ref_labels == name) if len(ref_clip) else np.array([], int)
            e_idx = np.flatnonzero(est_labels == name) if len(est_clip) else np.array([], int)
            r_match, e_match = _max_matching(time_ok[np.ix_(r_idx, e_idx)])
            ref_done[r_idx[r_match]] = True
            est_done[e_idx[e_match]] = True
            counts = class_counts[name]
            ntp = int(r_match.sum())
            counts["Ntp"] += ntp
            counts["Nref"] += r_idx.size
            counts["Nsys"] += e_idx.size
            counts["Nfn"] += r_idx.size - ntp
            counts["Nfp"] += e_idx.size - ntp
        # Substitutions: leftover pairs that meet the time conditions, greedily as sed_eval.
        used = np.zeros(len(est_clip), dtype=bool)
        for j in np.flatnonzero(~ref_done):
            for i in np.flatnonzero(~est_done):
                if not used[i] and time_ok[j, i]:
                    used[i] = True
                    nsubs += 1
                    break
    nref = sum(c["Nref"] for c in class_counts.values())
    nsys = sum(c["Nsys"] for c in class_counts.values())
    ntp = sum(c["Ntp"] for c in class_counts.values())
    overall = {"Ntp": ntp, "Nfp": nsys - ntp - nsubs, "Nfn": nref - ntp - nsubs, "Nref": nref,
               "Nsys": nsys}
    return _summarise(overall, class_counts, class_names, nsubs, overall["Nfn"], overall["Nfp"])


def event_based_f1(reference_events, estimated_events, t_collar=0.2, percentage_of_length=0.5,
                   evaluate_onset=True, evaluate_offset=True, class_names=None):
    """Overall (micro) event-based F1; see :func:`event_based_metrics`."""
    return event_based_metrics(reference_events, estimated_events, t_collar, percentage_of_length,
                               evaluate_onset, evaluate_offset, class_names)["f1"]


# --------------------------------------------------------------------------------------------
# Keras metrics (keras.ops only) for monitoring during model.fit
# --------------------------------------------------------------------------------------------


def _check_num_classes(num_classes):
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2; got {num_classes!r}")
    return int(num_classes)


class _StreamingConfusionMatrix(keras.metrics.Metric):
    """Accumulates a ``(classes, classes)`` confusion matrix (rows actual, columns predicted)."""

    def __init__(self, num_classes, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.num_classes = _check_num_classes(num_classes)
        self.matrix = self.add_variable(
            shape=(self.num_classes, self.num_classes), initializer="zeros", name="confusion_matrix"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        if len(y_pred.shape) != 2 or y_pred.shape[-1] != self.num_classes:
            raise ValueError(
                f"{self.name}: y_pred must be (batch, {self.num_classes}) scores; got {y_pred.shape}"
            )
        if len(y_true.shape) == 2 and y_true.shape[-1] == self.num_classes:
            true_idx = ops.argmax(y_true, axis=-1)  # one-hot targets
        else:
            true_idx = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        pred_idx = ops.argmax(y_pred, axis=-1)
        true_1h = ops.one_hot(true_idx, self.num_classes, dtype=self.dtype)
        pred_1h = ops.one_hot(pred_idx, self.num_classes, dtype=self.dtype)
        if sample_weight is not None:
            weight = ops.reshape(ops.cast(sample_weight, self.dtype), (-1, 1))
            true_1h = true_1h * weight
        self.matrix.assign_add(ops.matmul(ops.transpose(true_1h), pred_1h))

    def reset_state(self):
        self.matrix.assign(ops.zeros(self.matrix.shape, self.matrix.dtype))  # zeros_like(Variable) fails on JAX

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="keras_audioattn")
class UnweightedRecall(_StreamingConfusionMatrix):
    """Streaming unweighted recall (mean per-class recall), Lu et al. 2020 §4.

    ``y_true``: ``(batch,)`` / ``(batch, 1)`` class indices or ``(batch, classes)`` one-hot;
    ``y_pred``: ``(batch, classes)`` scores (arg-max taken). The mean runs over the classes that
    have samples among the targets seen so far (so it equals :func:`unweighted_recall` with
    ``labels`` = the classes present in ``y_true``).
    """

    def __init__(self, num_classes, name="unweighted_recall", dtype=None):
        super().__init__(num_classes, name=name, dtype=dtype)

    def result(self):
        support = ops.sum(self.matrix, axis=1)
        present = ops.cast(support > 0, self.dtype)
        recall = ops.diagonal(self.matrix) / ops.maximum(support, 1.0)
        return ops.sum(recall * present) / ops.maximum(ops.sum(present), 1.0)


@keras.saving.register_keras_serializable(package="keras_audioattn")
class MacroF1(_StreamingConfusionMatrix):
    """Streaming macro F1 (mean per-class F1), Lu et al. 2020 §4.

    ``F1(l) = 2 TP / (2 TP + FP + FN)`` (the harmonic mean of P and R; 0 when undefined), averaged
    over the classes that occur among the targets or predictions seen so far (equal to
    :func:`macro_f1` whenever every such class has targets). Inputs as :class:`UnweightedRecall`.
    """

    def __init__(self, num_classes, name="macro_f1", dtype=None):
        super().__init__(num_classes, name=name, dtype=dtype)

    def result(self):
        tp = ops.diagonal(self.matrix)
        denominator = ops.sum(self.matrix, axis=1) + ops.sum(self.matrix, axis=0)
        present = ops.cast(denominator > 0, self.dtype)
        f1 = 2.0 * tp / ops.maximum(denominator, 1.0)
        return ops.sum(f1 * present) / ops.maximum(ops.sum(present), 1.0)


@keras.saving.register_keras_serializable(package="keras_audioattn")
class DCASE2019Task5AUPRC(keras.metrics.Metric):
    """Streaming DCASE 2019 Task 5 AUPRC (micro or macro), for early stopping as in Chang 2020.

    Scores are binned on a grid of ``num_bins`` steps over [0, 1] (score ``s`` falls in bin
    ``floor(s * num_bins)``); per class and bin it counts positives and negatives. ``result()``
    then applies the organisers' definition (see :func:`dcase2019_task5_auprc`) with the grid
    as thresholds, which gives exactly ``dcase2019_task5_auprc(y_true, floor(y_score *
    num_bins) / num_bins)``: thresholds with no score in their bin only repeat the neighbouring
    curve point and add no area. With 1000 bins the difference from the unbinned metric is
    negligible for monitoring; use the function for reported figures.

    Args:
        num_classes: number of tags (>= 1).
        average: ``"micro"`` or ``"macro"``.
        num_bins: grid size, a multiple of 100 so that 0.01 (the lowest threshold) is on it.

    ``y_true``: ``(batch, classes)`` in {0, 1}; ``y_pred``: ``(batch, classes)`` probabilities
    (clipped to [0, 1]). ``sample_weight`` is not supported (the organisers' counts are
    unweighted).
    """

    def __init__(self, num_classes, average="micro", num_bins=1000, name="dcase_auprc", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer; got {num_classes!r}")
        _check_average(average, ("micro", "macro"))
        if isinstance(num_bins, bool) or not isinstance(num_bins, numbers.Integral) or (
            num_bins < 100 or num_bins % 100
        ):
            raise ValueError(f"num_bins must be a positive multiple of 100; got {num_bins!r}")
        self.num_classes = int(num_classes)
        self.average = average
        self.num_bins = int(num_bins)
        shape = (self.num_classes, self.num_bins + 1)
        self.positives = self.add_variable(shape=shape, initializer="zeros", name="positives")
        self.negatives = self.add_variable(shape=shape, initializer="zeros", name="negatives")

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(f"{self.name}: sample_weight is not supported by the DCASE AUPRC")
        y_pred = ops.convert_to_tensor(y_pred)
        if len(y_pred.shape) != 2 or y_pred.shape[-1] != self.num_classes:
            raise ValueError(
                f"{self.name}: y_pred must be (batch, {self.num_classes}) probabilities; got {y_pred.shape}"
            )
        y_true = ops.cast(ops.reshape(y_true, (-1, self.num_classes)), self.dtype)
        scores = ops.clip(ops.cast(y_pred, "float32"), 0.0, 1.0)
        bins = ops.cast(ops.floor(scores * float(self.num_bins)), "int32")
        onehot = ops.one_hot(bins, self.num_bins + 1, dtype=self.dtype)  # (batch, classes, bins)
        self.positives.assign_add(ops.sum(onehot * y_true[..., None], axis=0))
        self.negatives.assign_add(ops.sum(onehot * (1.0 - y_true[..., None]), axis=0))

    def _area(self, pos, neg):
        """pos, neg: (curves, bins + 1) histograms -> (curves,) AUPRC."""
        first = self.num_bins // 100  # bin of threshold 0.01
        # Counts at threshold t_j = j / num_bins: scores in bins >= j. Descending thresholds.
        tp = ops.flip(ops.cumsum(ops.flip(pos, axis=-1), axis=-1), axis=-1)[:, first:]
        fp = ops.flip(ops.cumsum(ops.flip(neg, axis=-1), axis=-1), axis=-1)[:, first:]
        tp, fp = ops.flip(tp, axis=-1), ops.flip(fp, axis=-1)
        fn = ops.sum(pos, axis=-1, keepdims=True) - tp
        precision = tp / ops.maximum(tp + fp, _DCASE_MU)
        recall = tp / ops.maximum(tp + fn, _DCASE_MU)
        n = ops.shape(tp)[0]
        recall = ops.concatenate([ops.zeros((n, 1)), recall, ops.ones((n, 1))], axis=-1)
        precision = ops.concatenate([ops.ones((n, 1)), precision, ops.zeros((n, 1))], axis=-1)
        widths = recall[:, 1:] - recall[:, :-1]
        return ops.sum(widths * (precision[:, 1:] + precision[:, :-1]) * 0.5, axis=-1)

    def result(self):
        if self.average == "micro":
            pos = ops.sum(self.positives, axis=0, keepdims=True)
            neg = ops.sum(self.negatives, axis=0, keepdims=True)
            return self._area(pos, neg)[0]
        return ops.mean(self._area(self.positives, self.negatives))

    def reset_state(self):
        # ops.zeros_like of a Keras variable fails on JAX (its dtype is a string there).
        self.positives.assign(ops.zeros(self.positives.shape, self.positives.dtype))
        self.negatives.assign(ops.zeros(self.negatives.shape, self.negatives.dtype))

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "average": self.average,
            "num_bins": self.num_bins,
            "name": self.name,
            "dtype": self.dtype,
        }
