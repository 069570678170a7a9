"""Tests of keras_audioattn.metrics: hand-worked answers, the papers' own tables, agreement with
scikit-learn / sed_eval where the definitions coincide, properties, bad input, Keras metrics."""

import math
import warnings

import keras
import numpy as np
import pytest
from sklearn import metrics as skm

from keras_audioattn import metrics as M

# --------------------------------------------------------------------------------------------
# Single-label classification (Lu 2020, Zhang 2018, Jung 2020)
# --------------------------------------------------------------------------------------------

# Lu et al. 2020, Tables 5 and 6 (rows actual AU/US/UK, columns predicted) and the scores the
# paper reports for them in Tables 3 and 4: (accuracy, unweighted recall, F1).
LU_TABLES = {
    "VGG11_A": ([[213, 7, 10], [9, 176, 9], [24, 12, 64]], (0.8645, 0.8244, 0.8331)),
    "AttentionCNN": ([[208, 11, 11], [7, 179, 8], [22, 13, 65]], (0.8626, 0.8257, 0.8330)),
    "CAB-CNN-5s": ([[219, 9, 2], [9, 185, 0], [10, 12, 78]], (0.9198, 0.8953, 0.9092)),
    "CAB-CNN-10s": ([[222, 8, 0], [1, 192, 1], [7, 7, 86]], (0.9542, 0.9383, 0.9475)),
    "CAB-CNN-30s": ([[226, 4, 0], [2, 191, 1], [8, 6, 86]], (0.9599, 0.9424, 0.9523)),
    "CAB-CNN-60s": ([[224, 5, 1], [3, 191, 0], [10, 9, 81]], (0.9466, 0.9228, 0.9356)),
}


def _expand(cm):
    t, p = [], []
    for i, row in enumerate(cm):
        for j, n in enumerate(row):
            t += [i] * n
            p += [j] * n
    return np.array(t), np.array(p)


@pytest.mark.parametrize("name", sorted(LU_TABLES))
def test_lu2020_tables_reproduced_from_confusion_matrices(name):
    cm, (acc, ur, f1) = LU_TABLES[name]
    t, p = _expand(cm)
    assert M.accuracy(t, p) == pytest.approx(acc, abs=5e-5)
    assert M.unweighted_recall(t, p) == pytest.approx(ur, abs=5e-5)
    assert M.macro_f1(t, p) == pytest.approx(f1, abs=5e-5)
    np.testing.assert_array_equal(M.confusion_matrix(t, p), cm)


def test_classification_hand_worked():
    # classes 0,1,2; T_0 = 3 samples (2 right), T_1 = 2 (1 right), T_2 = 1 (1 right)
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    assert M.accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    assert M.classification_error(y_true, y_pred) == pytest.approx(2 / 6)
    assert M.unweighted_recall(y_true, y_pred) == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    # P = (2/2, 1/2, 1/2); F1(l) = 2PR/(P+R)
    f1 = [2 * 1 * (2 / 3) / (1 + 2 / 3), 2 * 0.5 * 0.5 / 1.0, 2 * 0.5 * 1 / 1.5]
    assert M.macro_f1(y_true, y_pred) == pytest.approx(np.mean(f1))
    np.testing.assert_allclose(M.macro_f1(y_true, y_pred, average=None), f1)
    np.testing.assert_allclose(M.unweighted_recall(y_true, y_pred, average=None), [2 / 3, 1 / 2, 1])
    np.testing.assert_array_equal(
        M.confusion_matrix(y_true, y_pred), [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    )
    np.testing.assert_allclose(M.confusion_matrix(y_true, y_pred, normalize="true")[0], [2 / 3, 1 / 3, 0])


def test_classification_accepts_one_hot_and_scores():
    y_true = np.eye(3)[[0, 1, 2, 2]]
    scores = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.0, 0.1, 0.9], [0.5, 0.4, 0.1]])
    assert M.accuracy(y_true, scores) == pytest.approx(0.5)
    assert M.unweighted_recall(y_true, scores) == pytest.approx((1 + 0 + 0.5) / 3)


def test_never_predicted_class_has_zero_precision_and_f1():
    # class 2 is never predicted: P(2) = 0 by convention, F1(2) = 0
    y_true, y_pred = [0, 1, 2, 2], [0, 1, 1, 0]
    np.testing.assert_allclose(M.macro_f1(y_true, y_pred, average=None), [2 / 3, 2 / 3, 0.0])


def test_classification_agrees_with_sklearn_on_random_data():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 5, size=200)
    p = np.where(rng.random(200) < 0.6, t, rng.integers(0, 5, size=200))
    assert M.accuracy(t, p) == pytest.approx(skm.accuracy_score(t, p))
    assert M.unweighted_recall(t, p) == pytest.approx(skm.balanced_accuracy_score(t, p))
    assert M.macro_f1(t, p) == pytest.approx(skm.f1_score(t, p, average="macro"))


def test_fold_scores_and_clip_aggregation():
    folds = [([0, 1, 1, 0], [0, 1, 0, 0]), ([1, 1], [1, 1])]
    per_fold, mean = M.fold_scores(M.classification_error, folds)
    np.testing.assert_allclose(per_fold, [0.25, 0.0])
    assert mean == pytest.approx(0.125)
    ids, agg = M.aggregate_clip_scores([[0.2, 0.8], [0.6, 0.4], [1.0, 0.0]], ["b", "a", "b"])
    assert ids == ["b", "a"]
    np.testing.assert_allclose(agg, [[0.6, 0.4], [0.6, 0.4]])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: M.accuracy([0, 1, 2], [0, 1]), "3 samples"),
        (lambda: M.accuracy([0, 1], [[0.5, np.nan], [0.1, 0.9]]), "NaN"),
        (lambda: M.accuracy([0.5, 1], [0, 1]), "integer class indices"),
        (lambda: M.accuracy([-1, 1], [0, 1]), "negative"),
        (lambda: M.accuracy([[1, 1], [0, 1]], [0, 1]), "one-hot"),
        (lambda: M.accuracy([], []), "empty"),
        (lambda: M.accuracy([[1, 0, 0]], [[0.2, 0.8]]), "class columns"),
        (lambda: M.unweighted_recall([0, 0, 1], [0, 2, 1]), r"class\(es\) \[2\] have no sample"),
        (lambda: M.macro_f1([0, 1], [0, 1], labels=[0, 1, 2]), "no sample"),
        (lambda: M.unweighted_recall([0, 1], [0, 1], average="micro"), "average"),
        (lambda: M.confusion_matrix([0, 1], [0, 2], labels=[0, 1]), "y_pred contains"),
        (lambda: M.confusion_matrix([0, 3], [0, 1], labels=[0, 1]), "y_true contains"),
        (lambda: M.confusion_matrix([0, 1], [0, 1], normalize="rows"), "normalize"),
        (lambda: M.fold_scores(M.accuracy, []), "empty"),
        (lambda: M.aggregate_clip_scores([[0.1, 0.9]], ["a", "b"]), "2 recording_ids"),
    ],
)
def test_classification_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_labels_restricts_the_class_set():
    # the paper's L: a class only predicted is excluded when labels= names the real classes
    assert M.unweighted_recall([0, 0, 1], [0, 2, 1], labels=[0, 1]) == pytest.approx(0.75)


# --------------------------------------------------------------------------------------------
# DCASE 2019 Task 5 AUPRC (Chang 2020)
# --------------------------------------------------------------------------------------------


def _organisers_auprc(y_true, y_score, average):
    """Transcription of the organisers' metrics.py (evaluate / micro_ / macro_averaged_auprc,
    coarse mode) with loops and per-threshold tables, independent of the module's vectorised
    version. Tie order among equal recalls: higher threshold first (stable sort of tables
    listed by decreasing threshold)."""
    tables = []
    for c in range(y_true.shape[1]):
        thresholds = np.sort(y_score[:, c].copy())
        thresholds = thresholds[np.searchsorted(thresholds, 0.01):]
        thresholds = np.unique(np.append(thresholds, 1.0))[::-1]
        rows = []
        for th in thresholds:
            pred = y_score[:, c] >= th
            tp = int(np.sum(pred & (y_true[:, c] == 1)))
            fp = int(np.sum(pred & (y_true[:, c] == 0)))
            fn = int(np.sum(~pred & (y_true[:, c] == 1)))
            rows.append((th, tp, fp, fn))
        tables.append(rows)

    def area(rows):
        rows = sorted(rows, key=lambda r: -r[0])  # decreasing threshold
        tp, fp, fn = (np.array([r[i] for r in rows], float) for i in (1, 2, 3))
        p = tp / np.maximum(tp + fp, 0.5)
        r = tp / np.maximum(tp + fn, 0.5)
        idx = np.argsort(r, kind="stable")
        return skm.auc(np.r_[0.0, r[idx], 1.0], np.r_[1.0, p[idx], 0.0])

    if average == "macro":
        return float(np.mean([area(rows) for rows in tables]))
    micro_rows = []
    for th in np.unique(np.hstack([[r[0] for r in rows] for rows in tables])):
        total = np.zeros(3)
        for rows in tables:
            # "last row above threshold" of a table sorted by decreasing threshold
            row = [r for r in rows if r[0] >= th][-1]
            total += row[1:]
        micro_rows.append((th, *total))
    return area(micro_rows)


def test_dcase_auprc_hand_worked_single_class():
    # thresholds 1.0, .9, .8, .4, .3 -> (R, P) = (0,0) (.5,1) (.5,.5) (1,2/3) (1,.5)
    # area = .5*(0+1)/2 + .5*(.5+2/3)/2 = 13/24
    y_true, y_score = [1, 0, 1, 0], [0.9, 0.8, 0.4, 0.3]
    assert M.dcase2019_task5_auprc(y_true, y_score) == pytest.approx(13 / 24)
    # sklearn's average precision of the same ranking is (1 + 2/3) / 2 = 5/6: a different metric
    assert M.average_precision(y_true, y_score) == pytest.approx(5 / 6)
    assert skm.average_precision_score(y_true, y_score) == pytest.approx(5 / 6)


def test_dcase_auprc_hand_worked_micro_and_macro():
    y_true = np.array([[1, 0], [0, 1], [1, 0]])
    y_score = np.array([[0.9, 0.2], [0.6, 0.7], [0.3, 0.005]])  # 0.005 < 0.01: never a threshold
    # micro points (R, P): (0,0) (1/3,1) (2/3,1) (2/3,2/3) (1,3/4) (1,3/5) -> 53/72
    assert M.dcase2019_task5_auprc(y_true, y_score, average="micro") == pytest.approx(53 / 72)
    # class 0: 13/24 as above; class 1: (0,0) (1,1) (1,.5) -> 1/2
    np.testing.assert_allclose(M.dcase2019_task5_auprc(y_true, y_score, average=None), [13 / 24, 0.5])
    assert M.dcase2019_task5_auprc(y_true, y_score, average="macro") == pytest.approx(25 / 48)
    # sklearn micro AP of the pooled ranking .9+ .7+ .6- .3+ .2- .005-: (1 + 1 + 3/4) / 3
    assert M.average_precision(y_true, y_score, average="micro") == pytest.approx(11 / 12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("average", ["micro", "macro"])
def test_dcase_auprc_matches_organisers_transcription(seed, average):
    rng = np.random.default_rng(seed)
    y_true = (rng.random((60, 8)) < 0.3).astype(int)
    y_true[0] = 1  # every class has a positive
    # coarse scores produce many ties and many points of equal recall
    y_score = np.round(np.clip(0.35 * y_true + rng.random((60, 8)) * 0.7, 0, 1), 2)
    ours = M.dcase2019_task5_auprc(y_true, y_score, average=average)
    assert ours == pytest.approx(_organisers_auprc(y_true, y_score, average), abs=1e-12)
    assert ours != pytest.approx(M.average_precision(y_true, y_score, average=average), abs=1e-3)


def test_dcase_tie_order_matters_and_is_fixed():
    # Points of equal recall in another order give another area: the convention is needed.
    rng = np.random.default_rng(3)
    y_true = (rng.random((40, 3)) < 0.4).astype(int)
    y_score = np.round(rng.random((40, 3)), 1)
    t, s = y_true[:, 0], y_score[:, 0]
    rows = []
    for th in np.unique(np.append(s[s >= 0.01], 1.0)):  # increasing thresholds: other tie order
        pred = s >= th
        rows.append((np.sum(pred & (t == 1)), np.sum(pred & (t == 0)), np.sum(~pred & (t == 1))))
    tp, fp, fn = (np.array(x, float) for x in zip(*rows))
    p, r = tp / np.maximum(tp + fp, 0.5), tp / np.maximum(tp + fn, 0.5)
    idx = np.argsort(r, kind="stable")
    other = skm.auc(np.r_[0, r[idx], 1], np.r_[1, p[idx], 0])
    ours = M.dcase2019_task5_auprc(t, s)
    assert ours == pytest.approx(_organisers_auprc(t[:, None], s[:, None], "macro"))
    assert abs(ours - other) > 1e-4


def test_dcase_perfect_reversed_and_end_point_quirk():
    y_true = np.array([[1], [1], [0], [0]])
    # positives at exactly 1.0: the curve starts at (R=1, P=1) -> 1
    assert M.dcase2019_task5_auprc(y_true, [[1.0], [1.0], [0.2], [0.1]]) == pytest.approx(1.0)
    # a perfect ranking below 1.0 loses the first triangle, 1/(2 * positives), to the
    # (R=0, P=0) point of the 1.0 threshold (organisers' definition; documented)
    assert M.dcase2019_task5_auprc(y_true, [[0.9], [0.8], [0.2], [0.1]]) == pytest.approx(1 - 1 / 4)
    assert M.dcase2019_task5_auprc(y_true, [[0.1], [0.2], [0.8], [0.9]]) < 0.5


def test_dcase_monotone_rescaling():
    rng = np.random.default_rng(4)
    y_true = (rng.random((50, 4)) < 0.4).astype(int)
    y_true[0] = 1
    y_score = 0.02 + 0.96 * rng.random((50, 4))
    warp = 0.01 + (y_score - 0.01) ** 2 / 0.99  # increasing, keeps scores in [0.01, 1)
    for average in ("micro", "macro"):
        assert M.dcase2019_task5_auprc(y_true, warp, average) == pytest.approx(
            M.dcase2019_task5_auprc(y_true, y_score, average), abs=1e-12
        )
    # not a pure ranking metric: pushing scores under the 0.01 floor changes it
    assert M.dcase2019_task5_auprc(y_true, y_score / 20) != pytest.approx(
        M.dcase2019_task5_auprc(y_true, y_score), abs=1e-3
    )


def test_dcase_bad_input_and_conventions():
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        M.dcase2019_task5_auprc([[1, 0]], [[1.5, 0.2]])
    with pytest.raises(ValueError, match="no positive"):
        M.dcase2019_task5_auprc([[0, 0], [0, 0]], [[0.5, 0.2], [0.1, 0.3]], average="micro")
    with pytest.raises(ValueError, match="average"):
        M.dcase2019_task5_auprc([[1, 0]], [[0.5, 0.2]], average="weighted")
    # organisers' convention: a class without positives scores 0 (with a warning)
    with pytest.warns(UserWarning, match=r"class\(es\) \[1\]"):
        per_class = M.dcase2019_task5_auprc([[1, 0], [0, 0]], [[0.9, 0.8], [0.1, 0.3]], average=None)
    assert per_class[1] == 0.0


# --------------------------------------------------------------------------------------------
# Average precision / ROC AUC (Deshmukh 2020), GAP@k / Hit@1 (Zhang 2018)
# --------------------------------------------------------------------------------------------


def test_average_precision_and_roc_auc_hand_worked():
    y_true = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    y_score = np.array([[0.8, 0.1], [0.6, 0.4], [0.3, 0.9], [0.2, 0.5]])
    # class 0 ranking + - + - : AP = (1 + 2/3)/2 ; ROC AUC: pairs (.8>.6,.8>.2,.3<.6,.3>.2) = 3/4
    # class 1 ranking + - + - (.9+, .5-, .4+, .1-): AP = (1 + 2/3)/2 ; AUC = 3/4
    np.testing.assert_allclose(M.average_precision(y_true, y_score, average=None), [5 / 6, 5 / 6])
    assert M.average_precision(y_true, y_score, average="macro") == pytest.approx(5 / 6)
    np.testing.assert_allclose(M.roc_auc(y_true, y_score, average=None), [0.75, 0.75])
    assert M.roc_auc(y_true, y_score) == pytest.approx(0.75)
    # micro: pooled .9+ .8+ .6- .5- .4+ .3+ .2- .1- -> (1 + 1 + 3/5 + 4/6) / 4
    assert M.average_precision(y_true, y_score) == pytest.approx((2 + 3 / 5 + 4 / 6) / 4)


def test_tagging_metrics_agree_with_sklearn_and_properties():
    rng = np.random.default_rng(5)
    y_true = (rng.random((80, 6)) < 0.3).astype(int)
    y_true[:2] = [[1] * 6, [0] * 6]
    y_score = np.clip(0.3 * y_true + 0.7 * rng.random((80, 6)), 0, 1)
    for average in ("micro", "macro"):
        assert M.average_precision(y_true, y_score, average) == pytest.approx(
            skm.average_precision_score(y_true, y_score, average=average)
        )
        assert M.roc_auc(y_true, y_score, average) == pytest.approx(
            skm.roc_auc_score(y_true, y_score, average=average)
        )
        # strictly increasing rescaling leaves ranking metrics unchanged
        warped = np.exp(3 * y_score) - 7.0
        assert M.average_precision(y_true, warped, average) == pytest.approx(
            M.average_precision(y_true, y_score, average)
        )
        assert M.roc_auc(y_true, warped, average) == pytest.approx(M.roc_auc(y_true, y_score, average))
    perfect = y_true + 0.1 * rng.random(y_true.shape)
    assert M.average_precision(y_true, perfect) == pytest.approx(1.0)
    assert M.roc_auc(y_true, perfect) == pytest.approx(1.0)
    assert M.gap_at_k(y_true, perfect, k=6) == pytest.approx(1.0)
    labelled = y_true.sum(1) > 0  # a sample without any positive is always a miss
    assert M.hit_at_1(y_true[labelled], perfect[labelled]) == pytest.approx(1.0)
    assert M.roc_auc(y_true, -perfect) == pytest.approx(0.0)
    assert M.average_precision(y_true, -perfect) < 0.5


def test_gap_and_hit_at_1_hand_worked():
    y_true = np.array([[1, 0, 1], [0, 1, 0]])
    y_score = np.array([[0.9, 0.8, 0.1], [0.3, 0.2, 0.7]])
    # top 2: .9+ .8- .7- .3-, 3 positives in y_true -> (1/1) / 3
    assert M.gap_at_k(y_true, y_score, k=2) == pytest.approx(1 / 3)
    # top 3 adds .2+ .1+ -> (1 + 2/5 + 3/6) / 3
    assert M.gap_at_k(y_true, y_score, k=3) == pytest.approx((1 + 2 / 5 + 3 / 6) / 3)
    assert M.gap_at_k(y_true, y_score, k=20) == M.gap_at_k(y_true, y_score, k=3)
    assert M.hit_at_1(y_true, y_score) == pytest.approx(0.5)
    assert M.hit_at_1([0, 1], y_score) == pytest.approx(0.5)  # class indices: Hit@1 = accuracy


def test_gap_with_all_classes_equals_sklearn_micro_ap():
    rng = np.random.default_rng(6)
    y_true = (rng.random((30, 7)) < 0.3).astype(int)
    y_true[0, 0] = 1
    y_score = rng.random((30, 7))
    assert M.gap_at_k(y_true, y_score, k=7) == pytest.approx(
        skm.average_precision_score(y_true, y_score, average="micro")
    )
    assert M.gap_at_k(y_true, y_score, k=3) < M.gap_at_k(y_true, y_score, k=7)
    assert M.gap_at_k(y_true, 5 * y_score + 2, k=3) == pytest.approx(M.gap_at_k(y_true, y_score, k=3))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: M.average_precision([[1, 0]], [[0.1, 0.2, 0.3]]), "shape"),
        (lambda: M.average_precision([[1, 0], [0, 1]], [[np.nan, 0.2], [0.1, 0.3]]), "NaN"),
        (lambda: M.average_precision([[1, 2], [0, 1]], [[0.1, 0.2], [0.1, 0.3]]), "only 0 and 1"),
        (lambda: M.average_precision([[1, 0], [1, 0]], [[0.1, 0.2], [0.3, 0.4]], "macro"),
         r"class\(es\) \[1\]: no positive"),
        (lambda: M.average_precision([[0, 0]], [[0.1, 0.2]]), "no positive"),
        (lambda: M.roc_auc([[1, 0], [1, 1]], [[0.1, 0.2], [0.3, 0.4]]), r"\[0\]: no negative"),
        (lambda: M.roc_auc([[1, 0], [0, 0]], [[0.1, 0.2], [0.3, 0.4]]), r"\[1\]: no positive"),
        (lambda: M.roc_auc([[1, 0], [0, 1]], [[0.1, 0.2], [0.3, 0.4]], "samples"), "average"),
        (lambda: M.gap_at_k([[1, 0]], [[0.1, 0.2]], k=0), "positive integer"),
        (lambda: M.gap_at_k([[1, 0]], [[0.1, 0.2]], k=2.5), "positive integer"),
        (lambda: M.gap_at_k([[0, 0]], [[0.1, 0.2]]), "no positive"),
        (lambda: M.hit_at_1([3, 0], [[0.1, 0.2], [0.3, 0.1]]), "class indices"),
        (lambda: M.hit_at_1([[1, 0]], [[0.1, np.inf]]), "infinite"),
    ],
)
def test_tagging_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------------------------
# Sound event detection
# --------------------------------------------------------------------------------------------


def test_frame_scores_to_events_hand_worked():
    scores = np.array([0.2, 0.6, 0.7, 0.4, 0.8, 0.9, 0.1])  # active: .##.##.
    assert M.frame_scores_to_events(scores, 0.5) == [(0.5, 1.5, 0), (2.0, 3.0, 0)]
    assert M.frame_scores_to_events(scores, 0.5, min_gap=0.6) == [(0.5, 3.0, 0)]
    # 3-frame median (majority vote) fills the one-frame hole
    assert M.frame_scores_to_events(scores, 0.5, median_window=3) == [(0.5, 3.0, 0)]
    assert M.frame_scores_to_events(scores, 0.5, min_duration=1.5) == []
    assert M.frame_scores_to_events(scores, 0.5, threshold=0.85, time_offset=1.0) == [(3.5, 4.0, 0)]
    two = np.stack([scores, 1 - scores], axis=1)
    events = M.frame_scores_to_events(two, 0.5, threshold=[0.5, 0.75], class_names=["dog", "car"])
    assert events == [(0.0, 0.5, "car"), (0.5, 1.5, "dog"), (2.0, 3.0, "dog"), (3.0, 3.5, "car")]
    batch = M.frame_scores_to_events(np.stack([two, two]), 0.5, threshold=[0.5, 0.75],
                                     class_names=["dog", "car"])
    assert batch == [events, events]


def test_frame_roll_to_events_round_trip_with_median_filter():
    ref = [(0.5, 1.5, "a"), (2.0, 3.2, "b"), (2.5, 2.9, "a")]
    hop, names = 0.02, ["a", "b"]
    times = np.arange(200) * hop
    scores = np.zeros((200, 2))
    for on, off, label in ref:
        scores[(times >= on - 1e-9) & (times < off - 1e-9), names.index(label)] = 0.9
    flips = np.array([10, 30, 60, 100, 150, 180])  # isolated frames, inside and outside events
    noisy = scores.copy()
    noisy[flips, 0] = 0.9 - noisy[flips, 0]  # isolated one-frame errors in class "a"
    assert M.event_based_f1(ref, M.frame_scores_to_events(scores, hop, class_names=names)) == 1.0
    assert M.event_based_f1(ref, M.frame_scores_to_events(noisy, hop, class_names=names)) < 1.0
    cleaned = M.frame_scores_to_events(noisy, hop, class_names=names, median_window=3)
    assert M.event_based_f1(ref, cleaned) == 1.0
    assert M.segment_based_f1(ref, cleaned, segment_length=0.1) == 1.0


def test_segment_and_event_based_hand_worked():
    ref = [(0.0, 1.0, "a"), (0.5, 2.0, "b")]
    est = [(0.1, 1.2, "a"), (1.5, 2.0, "b")]
    # 1 s segments: seg0 ref {a,b} est {a}; seg1 ref {b} est {a,b} -> TP 2, FP 1, FN 1,
    # ER = (S 0 + D 1 + I 1) / 3
    seg = M.segment_based_metrics(ref, est)
    assert (seg["f1"], seg["precision"], seg["recall"]) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert seg["error_rate"] == pytest.approx(2 / 3)
    assert seg["class_wise_f1"] == pytest.approx({"a": 2 / 3, "b": 2 / 3})
    assert M.segment_based_f1(ref, est) == pytest.approx(2 / 3)
    # events: "a" matches (onset .1 <= .2 s, offset .2 <= max(.2, .5 * 1 s)); "b" onset 1 s off
    ev = M.event_based_metrics(ref, est)
    assert (ev["f1"], ev["error_rate"]) == pytest.approx((0.5, 1.0))
    assert ev["class_wise_f1"] == pytest.approx({"a": 1.0, "b": 0.0})
    assert M.event_based_f1(ref, est, evaluate_onset=False) == pytest.approx(1.0)
    # right times, wrong label: one substitution, F1 0
    sub = M.event_based_metrics([(0.0, 1.0, "a")], [(0.05, 1.0, "b")])
    assert (sub["f1"], sub["substitution_rate"], sub["error_rate"]) == pytest.approx((0.0, 1.0, 1.0))
    # several clips accumulate counts; dict events (sed_eval style) are accepted
    multi = M.segment_based_metrics([ref, [(0.0, 1.0, "a")]],
                                    [est, [{"onset": 0.0, "offset": 1.0, "event_label": "a"}]])
    assert multi["f1"] == pytest.approx(2 * (3 / 4) * (3 / 4) / 1.5)
    # perfect detection
    assert M.event_based_f1(ref, ref) == 1.0 and M.segment_based_metrics(ref, ref)["error_rate"] == 0.0


def test_sed_conventions_and_bad_input():
    # nothing detected: P = 0 (zero-score convention), F1 = 0
    assert M.segment_based_metrics([(0.0, 1.0, "a")], [])["f1"] == 0.0
    # a class without references has NaN class F1, left out of the macro mean
    res = M.event_based_metrics([(0.0, 1.0, "a")], [(0.0, 1.0, "a"), (2.0, 3.0, "b")])
    assert math.isnan(res["class_wise_f1"]["b"]) and res["macro_f1"] == 1.0
    for call, match in [
        (lambda: M.segment_based_metrics([], [(0.0, 1.0, "a")]), "no reference event"),
        (lambda: M.segment_based_metrics([(1.0, 0.5, "a")], []), "onset <= offset"),
        (lambda: M.segment_based_metrics([(0.0, float("nan"), "a")], []), "finite"),
        (lambda: M.segment_based_metrics([[(0.0, 1.0, "a")], []], [[]]), "2 clips"),
        (lambda: M.segment_based_metrics([(0.0, 1.0, "a")], [], class_names=["b"]), "not in class_names"),
        (lambda: M.segment_based_metrics([(0.0, 1.0, "a")], [], segment_length=0), "segment_length"),
        (lambda: M.segment_based_metrics(["abc"], []), "list of"),
        (lambda: M.event_based_metrics([(0.0, 1.0, "a")], [], t_collar=-1), "t_collar"),
        (lambda: M.event_based_metrics([(0.0, 1.0, "a")], [], percentage_of_length=2.0), "percentage"),
        (lambda: M.event_based_metrics([(0.0, 1.0, "a")], [], evaluate_onset=False,
                                       evaluate_offset=False), "both be False"),
        (lambda: M.frame_scores_to_events(np.ones((4, 2)), 0.0), "frame_hop"),
        (lambda: M.frame_scores_to_events(np.ones((4, 2)), 0.1, median_window=2), "odd"),
        (lambda: M.frame_scores_to_events(np.ones((4, 2)), 0.1, threshold=[0.5] * 3), "threshold"),
        (lambda: M.frame_scores_to_events(np.full((4, 2), np.nan), 0.1), "NaN"),
        (lambda: M.frame_scores_to_events(np.ones((4, 2)), 0.1, class_names=["x"]), "class_names"),
    ]:
        with pytest.raises(ValueError, match=match):
            call()


def _random_clip(rng, labels, n, length=10.0):
    events = []
    for _ in range(n):
        on = round(float(rng.uniform(0, length - 0.5)), 2)
        events.append((on, round(min(length, on + float(rng.uniform(0.1, 3.0))), 2), str(rng.choice(labels))))
    return events


def _jitter(rng, clip, labels):
    out = []
    for on, off, lab in clip:
        if rng.random() < 0.2:
            continue
        lab = str(rng.choice(labels)) if rng.random() < 0.15 else lab
        on = max(0.0, round(on + float(rng.normal(0, 0.15)), 2))
        out.append((on, max(on, round(off + float(rng.normal(0, 0.3)), 2)), lab))
    return out + _random_clip(rng, labels, int(rng.integers(0, 3)))


@pytest.mark.parametrize("seed, segment_length", [(7, 1.0), (11, 0.25), (12, 1.0)])
def test_sed_metrics_equal_sed_eval(seed, segment_length):
    sed_eval = pytest.importorskip("sed_eval")  # optional test dependency: the reference
    rng = np.random.default_rng(seed)
    labels = ["dog", "car", "speech"]
    ref = [_random_clip(rng, labels, int(rng.integers(1, 6))) for _ in range(12)]
    est = [_jitter(rng, clip, labels) for clip in ref]

    def as_dicts(clip, i):
        return [{"filename": f"f{i}", "onset": a, "offset": b, "event_label": c} for a, b, c in clip]

    seg_ref = sed_eval.sound_event.SegmentBasedMetrics(labels, time_resolution=segment_length)
    ev_ref = sed_eval.sound_event.EventBasedMetrics(labels, t_collar=0.2, percentage_of_length=0.5)
    for reference in (seg_ref, ev_ref):  # our P = 0 convention when nothing is detected
        reference.empty_system_output_handling = "zero_score"
    for i, (r, e) in enumerate(zip(ref, est)):
        seg_ref.evaluate(as_dicts(r, i), as_dicts(e, i))
        ev_ref.evaluate(as_dicts(r, i), as_dicts(e, i))
    ours_seg = M.segment_based_metrics(ref, est, segment_length=segment_length, class_names=labels)
    ours_ev = M.event_based_metrics(ref, est, class_names=labels)
    for ours, theirs in ((ours_seg, seg_ref), (ours_ev, ev_ref)):
        overall = theirs.results_overall_metrics()
        assert ours["f1"] == pytest.approx(overall["f_measure"]["f_measure"], abs=1e-12)
        assert ours["precision"] == pytest.approx(overall["f_measure"]["precision"], abs=1e-12)
        assert ours["recall"] == pytest.approx(overall["f_measure"]["recall"], abs=1e-12)
        for key in ("error_rate", "substitution_rate", "deletion_rate", "insertion_rate"):
            assert ours[key] == pytest.approx(overall["error_rate"][key], abs=1e-9)
        assert ours["macro_f1"] == pytest.approx(
            theirs.results_class_wise_average_metrics()["f_measure"]["f_measure"], abs=1e-12
        )
        class_wise = theirs.results_class_wise_metrics()
        for label in labels:
            assert ours["class_wise_f1"][label] == pytest.approx(
                class_wise[label]["f_measure"]["f_measure"], abs=1e-12, nan_ok=True
            )
    # the random case is not degenerate: partial detection, with substitutions
    assert 0.1 < ours_ev["f1"] < 0.95 and ours_ev["substitution_rate"] > 0


# --------------------------------------------------------------------------------------------
# Keras metrics
# --------------------------------------------------------------------------------------------


def test_streaming_classification_metrics_match_numpy():
    rng = np.random.default_rng(8)
    t = rng.integers(0, 4, size=40)
    scores = rng.random((40, 4)) + 0.8 * np.eye(4)[t]
    ur, f1 = M.UnweightedRecall(4), M.MacroF1(4)
    for lo, hi in ((0, 15), (15, 40)):  # two batches: the state accumulates
        ur.update_state(t[lo:hi], scores[lo:hi])
        f1.update_state(np.eye(4)[t[lo:hi]], scores[lo:hi])  # one-hot targets
    pred = scores.argmax(1)
    assert float(ur.result()) == pytest.approx(M.unweighted_recall(t, pred), abs=1e-6)
    assert float(f1.result()) == pytest.approx(M.macro_f1(t, pred), abs=1e-6)
    ur.reset_state()
    assert float(ur.result()) == 0.0
    ur.update_state(t[:, None], scores, sample_weight=np.ones(40))  # (batch, 1) labels
    assert float(ur.result()) == pytest.approx(M.unweighted_recall(t, pred), abs=1e-6)


@pytest.mark.parametrize("average", ["micro", "macro"])
def test_streaming_dcase_auprc_equals_function_on_binned_scores(average):
    rng = np.random.default_rng(9)
    y_true = (rng.random((64, 5)) < 0.3).astype("float32")
    y_true[0] = 1
    grid = rng.integers(0, 1001, size=(64, 5))  # bin k holds scores in [k/1000, (k+1)/1000)
    y_score = np.minimum((grid + 0.5) / 1000.0, 1.0).astype("float32")
    metric = M.DCASE2019Task5AUPRC(5, average=average)
    for lo, hi in ((0, 20), (20, 64)):
        metric.update_state(y_true[lo:hi], y_score[lo:hi])
    expected = M.dcase2019_task5_auprc(y_true, np.floor(y_score * 1000.0) / 1000.0, average)
    assert float(metric.result()) == pytest.approx(expected, abs=1e-5)
    unbinned = M.dcase2019_task5_auprc(y_true, y_score, average)
    assert float(metric.result()) == pytest.approx(unbinned, abs=5e-3)


def test_keras_metrics_config_serialization_and_fit():
    for metric in (M.UnweightedRecall(3, name="ur"), M.MacroF1(3),
                   M.DCASE2019Task5AUPRC(3, average="macro", num_bins=200)):
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
        assert type(clone) is type(metric) and clone.get_config() == metric.get_config()
    x = np.random.default_rng(10).normal(size=(16, 4)).astype("float32")
    y = (x[:, :3] > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=[M.DCASE2019Task5AUPRC(3)])
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert 0.0 <= history.history["dcase_auprc"][-1] <= 1.0
    with pytest.raises(ValueError, match="num_classes"):
        M.UnweightedRecall(1)
    with pytest.raises(ValueError, match="multiple of 100"):
        M.DCASE2019Task5AUPRC(3, num_bins=150)
    with pytest.raises(ValueError, match="average"):
        M.DCASE2019Task5AUPRC(3, average="weighted")
    with pytest.raises(ValueError, match="sample_weight"):
        M.DCASE2019Task5AUPRC(3).update_state(y[:2], y[:2], sample_weight=np.ones(2))
    with pytest.raises(ValueError, match=r"\(batch, 3\)"):
        M.MacroF1(3).update_state([0, 1], np.ones((2, 4)))
