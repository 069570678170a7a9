"""NumPy references for the distillation losses of Chang et al. 2020 (KD, SP Eq. 1-2, IUSP Eq. 3-6)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_audioattn.losses import (
    IntraUtteranceSimilarityLoss,
    KnowledgeDistillationLoss,
    SimilarityPreservingLoss,
    intra_utterance_similarity,
)


def _np_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def np_kd(teacher_probs, student_probs, temperature):
    logit = lambda p: np.log(p) - np.log1p(-p)  # noqa: E731
    p = _np_sigmoid(logit(teacher_probs) / temperature)
    q = _np_sigmoid(logit(student_probs) / temperature)
    kl = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
    return temperature ** 2 * kl.mean(axis=-1).mean()


def np_sp(ft, fs):
    """Tung & Mori reference: G = Q Q^T, rows L2-normalised, ||Gt - Gs||_F^2 / b^2."""
    def g(f):
        q = f.reshape(f.shape[0], -1).astype(np.float64)
        gram = q @ q.T
        return gram / np.linalg.norm(gram, axis=1, keepdims=True)
    b = ft.shape[0]
    return np.sum((g(ft) - g(fs)) ** 2) / b ** 2


def np_iusp_g(a, normalization="channel_map"):
    """Eq. 3 per utterance, written in the paper's (c, h, w) layout from a (time, freq, c) map."""
    out = []
    for ab in a.astype(np.float64):
        chw = np.transpose(ab, (2, 1, 0))  # (c, h, w): h = freq, w = time
        c, h, w = chw.shape
        if normalization == "channel_map":
            for i in range(c):
                chw[i] = chw[i] / np.linalg.norm(chw[i])
        elif normalization == "channel_vector":
            chw = chw / np.linalg.norm(chw, axis=0, keepdims=True)
        q = chw.reshape(c * h, w)  # Q in R^{ch x w}
        if normalization == "frame":
            q = q / np.linalg.norm(q, axis=0, keepdims=True)
        out.append(q.T @ q)  # (w, w) frame-by-frame similarity
    return np.stack(out)


def np_bilinear(a, out_t, out_f):
    """Half-pixel-centre bilinear resize (no antialias) of (batch, time, freq, c)."""
    def coords(n_in, n_out):
        x = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        x = np.clip(x, 0, n_in - 1)
        lo = np.floor(x).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, x - lo
    t0, t1, wt = coords(a.shape[1], out_t)
    f0, f1, wf = coords(a.shape[2], out_f)
    a_t = a[:, t0] * (1 - wt)[None, :, None, None] + a[:, t1] * wt[None, :, None, None]
    return a_t[:, :, f0] * (1 - wf)[None, None, :, None] + a_t[:, :, f1] * wf[None, None, :, None]


def np_iusp(at, as_, gamma=10.0, delta=0.5, normalization="frame", frame_reduction="mean"):
    """Eq. 5-6: mean over the batch of ||G~t - G~s||_F^2 (divided by w^2 for "mean")."""
    if at.shape[1:3] != as_.shape[1:3]:
        at = np_bilinear(at, *as_.shape[1:3])
    gt = _np_sigmoid(gamma * (np_iusp_g(at, normalization) - delta))
    gs = _np_sigmoid(gamma * (np_iusp_g(as_, normalization) - delta))
    per_utterance = np.sum((gt - gs) ** 2, axis=(1, 2))
    if frame_reduction == "mean":
        per_utterance = per_utterance / gt.shape[1] ** 2
    return np.mean(per_utterance)


def siren_with_gaps(sr=16000, seconds=4.0, on=0.5, off=0.3):
    """A wailing two-harmonic siren, on for ``on`` s then silent for ``off`` s, repeated."""
    t = np.arange(int(sr * seconds)) / sr
    f0 = 900.0 + 600.0 * ((t % (on + off)) / on)  # the same rising sweep in every burst
    phase = 2 * np.pi * np.cumsum(f0) / sr
    gate = ((t % (on + off)) < on).astype(np.float64)
    x = (np.sin(phase) + 0.4 * np.sin(2 * phase)) * gate
    x += 1e-3 * np.random.default_rng(0).normal(size=t.size)  # a quiet noise floor in the gaps
    return (0.1 * x).astype("float32")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_kd_matches_numpy(rng, temperature):
    t = rng.uniform(0.02, 0.98, (4, 5)).astype("float32")
    s = rng.uniform(0.02, 0.98, (4, 5)).astype("float32")
    loss = KnowledgeDistillationLoss(temperature)
    np.testing.assert_allclose(float(loss(t, s)), np_kd(t, s, temperature), rtol=1e-4)
    assert abs(float(loss(t, t))) < 1e-6  # zero when the student matches the teacher
    # from_logits gives the same value on the logits of the same probabilities.
    logit = lambda p: np.log(p) - np.log1p(-p)  # noqa: E731
    from_logits = KnowledgeDistillationLoss(temperature, from_logits=True)
    np.testing.assert_allclose(float(from_logits(logit(t), logit(s))), np_kd(t, s, temperature), rtol=1e-4)


def test_kd_gradient_equals_soft_target_bce_gradient(rng):
    # KL and BCE against soft targets differ by the teacher entropy only: same student gradient.
    t = tf.constant(rng.uniform(0.05, 0.95, (3, 4)), dtype="float32")
    z = tf.Variable(rng.normal(size=(3, 4)), dtype="float32")
    with tf.GradientTape(persistent=True) as tape:
        s = tf.sigmoid(z)
        kd = KnowledgeDistillationLoss(1.0)(t, s)
        bce = keras.losses.BinaryCrossentropy()(t, s)
    np.testing.assert_allclose(tape.gradient(kd, z).numpy(), tape.gradient(bce, z).numpy(), atol=1e-5)


def test_sp_matches_numpy(rng):
    ft = rng.normal(size=(5, 6, 4, 3)).astype("float32")  # teacher and student shapes differ
    fs = rng.normal(size=(5, 7, 2)).astype("float32")
    np.testing.assert_allclose(float(SimilarityPreservingLoss()(ft, fs)), np_sp(ft, fs), rtol=1e-4)
    assert float(SimilarityPreservingLoss()(ft, 2.0 * ft)) < 1e-6  # scale-invariant rows


@pytest.mark.parametrize("normalization", ["channel_map", "channel_vector", "frame"])
def test_iusp_similarity_matches_eq3(rng, normalization):
    a = np.abs(rng.normal(size=(2, 6, 3, 4))).astype("float32")
    got = keras.ops.convert_to_numpy(intra_utterance_similarity(a, normalization))
    np.testing.assert_allclose(got, np_iusp_g(a, normalization), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("frame_reduction", ["mean", "sum"])
@pytest.mark.parametrize("normalization", ["channel_map", "channel_vector", "frame"])
def test_iusp_matches_numpy_same_size(rng, normalization, frame_reduction):
    at = np.abs(rng.normal(size=(3, 7, 4, 5))).astype("float32")
    as_ = np.abs(rng.normal(size=(3, 7, 4, 2))).astype("float32")  # channels may differ
    loss = IntraUtteranceSimilarityLoss(gamma=10.0, delta=0.5, normalization=normalization,
                                        frame_reduction=frame_reduction)
    want = np_iusp(at, as_, normalization=normalization, frame_reduction=frame_reduction)
    # atol: "channel_vector" saturates the sigmoid here (G up to h = 4), so both sides are ~0.
    np.testing.assert_allclose(float(loss(at, as_)), want, rtol=1e-4, atol=1e-9)
    assert float(loss(at, at)) < 1e-8


def test_iusp_defaults_are_cosine_frames_averaged_over_pairs():
    loss = IntraUtteranceSimilarityLoss()
    assert (loss.gamma, loss.delta, loss.normalization, loss.frame_reduction) == (10.0, 0.5, "frame", "mean")


def test_similarity_of_a_siren_with_gaps_spans_the_threshold():
    """Sec. 2.2 / Fig. 1: on a repeating siren, G~ separates similar frames (> 0.5) from dissimilar
    ones (< 0.5) under the default reading; the literal Eq. 3 ("channel_map") never exceeds 0.5."""
    from keras_audioattn.layers import LogMelSpectrogram
    log_mel = LogMelSpectrogram.from_preset("chang2020_teacher")(siren_with_gaps()[None])  # (1, 398, 64)
    # A non-negative feature map (like a ReLU layer's): the log-mel above its clip minimum.
    a = keras.ops.convert_to_numpy(log_mel)
    a = (a - a.min())[..., None]  # (1, frames, 64, 1)
    g = keras.ops.convert_to_numpy(IntraUtteranceSimilarityLoss().similarity(a))
    assert g.shape == (1, a.shape[1], a.shape[1])
    np.testing.assert_allclose(np.diagonal(g[0]), 1.0 / (1.0 + np.exp(-5.0)), rtol=1e-5)  # G = 1 on the diagonal
    assert np.mean(g > 0.5) > 0.1 and np.mean(g < 0.5) > 0.1
    # Frames one siren period apart (0.8 s = 80 frames) are similar; on-frames vs gap-frames are not.
    assert g[0, 10, 90] > 0.5 and g[0, 10, 60] < 0.5
    literal = keras.ops.convert_to_numpy(IntraUtteranceSimilarityLoss(normalization="channel_map").similarity(a))
    assert literal.max() < 0.5


def test_iusp_resizes_teacher_bilinearly(rng):
    at = np.abs(rng.normal(size=(2, 12, 8, 3))).astype("float32")
    as_ = np.abs(rng.normal(size=(2, 5, 3, 4))).astype("float32")
    loss = IntraUtteranceSimilarityLoss(normalization="frame", gamma=4.0, delta=0.3)
    want = np_iusp(at, as_, gamma=4.0, delta=0.3, normalization="frame")
    np.testing.assert_allclose(float(loss(at, as_)), want, rtol=1e-4)
    # 3-D (batch, time, channels) student hints are h = 1 maps.
    as3 = np.abs(rng.normal(size=(2, 5, 6))).astype("float32")
    np.testing.assert_allclose(float(loss(at, as3)), np_iusp(at, as3[:, :, None, :], 4.0, 0.3, "frame"),
                               rtol=1e-4)


def test_iusp_bad_inputs():
    with pytest.raises(ValueError, match="normalization"):
        IntraUtteranceSimilarityLoss(normalization="batch")
    with pytest.raises(ValueError, match="frame_reduction"):
        IntraUtteranceSimilarityLoss(frame_reduction="max")
    with pytest.raises(ValueError, match="rank 2"):
        IntraUtteranceSimilarityLoss()(np.ones((2, 5, 3, 4), "float32"), np.ones((2, 8), "float32"))
    with pytest.raises(ValueError, match="temperature"):
        KnowledgeDistillationLoss(0.0)


def test_losses_serialize():
    for loss in (KnowledgeDistillationLoss(2.5), SimilarityPreservingLoss(),
                 IntraUtteranceSimilarityLoss(gamma=3.0, delta=0.2, normalization="channel_map",
                                              frame_reduction="sum")):
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
        assert type(clone) is type(loss) and clone.get_config() == loss.get_config()
