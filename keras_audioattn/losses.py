"""Distillation losses of Chang et al. 2020 ("Intra-Utterance Similarity Preserving Knowledge
Distillation for Audio Tagging"), written with ``keras.ops`` only (backend-agnostic Keras 3).

- :class:`KnowledgeDistillationLoss`: Hinton et al.'s soft-target loss adapted to multi-label
  sigmoid outputs (the paper's 'KD' term, Eq. 7).
- :class:`SimilarityPreservingLoss`: Tung & Mori's batch similarity loss (paper Eq. 1-2).
- :class:`IntraUtteranceSimilarityLoss`: the paper's IUSP loss (Eq. 3-6).

Feature maps use Keras' channels-last layout. A 4-D hint ``(batch, time, freq, channels)`` is
the paper's ``A in R^{b x c x h x w}`` with ``w = time`` and ``h = freq``; a 3-D hint
``(batch, time, channels)`` (e.g. an LSTM's sequence output) is treated as ``h = 1``.
"""

from __future__ import annotations

import keras
from keras import ops

_EPS = 1e-12


def _flatten_batch(x):
    """``(batch, ...)`` -> ``(batch, prod(...))``."""
    return ops.reshape(x, (ops.shape(x)[0], -1))


def _l2_normalize(x, axis):
    return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), _EPS))


def batch_similarity(features):
    """Row-normalised batch similarity matrix ``G`` of Eq. 1: ``(batch, ...)`` -> ``(batch, batch)``.

    ``G~ = Q Q^T`` with ``Q`` the flattened features, then each row of ``G~`` divided by its L2 norm.
    """
    q = _flatten_batch(ops.cast(features, "float32"))
    g = ops.matmul(q, ops.transpose(q))
    return _l2_normalize(g, axis=1)


NORMALIZATIONS = ("channel_map", "channel_vector", "frame")
FRAME_REDUCTIONS = ("mean", "sum")


def _as_time_freq_channels(x, name):
    x = ops.cast(x, "float32")
    if len(x.shape) == 3:
        return ops.expand_dims(x, 2)  # (batch, time, 1, channels): h = 1
    if len(x.shape) != 4:
        raise ValueError(
            f"{name} must be a (batch, time, channels) or (batch, time, freq, channels) feature map "
            f"for the intra-utterance similarity; got rank {len(x.shape)} with shape {tuple(x.shape)}")
    return x


def intra_utterance_similarity(features, normalization="frame"):
    """Frame-by-frame similarity ``G_(b')`` of Eq. 3 for every utterance of a batch.

    Args:
      features: ``(batch, time, freq, channels)`` or ``(batch, time, channels)``.
      normalization: how ``A`` is L2-normalised before the frame products (see
        :class:`IntraUtteranceSimilarityLoss`).

    Returns:
      ``(batch, time, time)``: ``G[b, t, t'] = <Q[b, :, t], Q[b, :, t']>`` where ``Q[b]`` is the
      normalised map reshaped to ``(channels * freq, time)``.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    a = _as_time_freq_channels(features, "features")
    if normalization == "channel_map":
        # Eq. 3 as written: each channel's h x w map divided by its own L2 norm.
        a = _l2_normalize(a, axis=(1, 2))
    elif normalization == "channel_vector":
        # Normalise the channel vector at each (time, freq) position ("along the channel axis").
        a = _l2_normalize(a, axis=3)
    shape = ops.shape(a)
    q = ops.reshape(a, (shape[0], shape[1], -1))  # (batch, time, freq * channels) = Q^T
    if normalization == "frame":
        # Cosine similarity between frames: each frame's (freq * channels) vector has norm 1.
        q = _l2_normalize(q, axis=2)
    return ops.matmul(q, ops.transpose(q, (0, 2, 1)))


def resize_time_freq(features, time, freq):
    """Bilinear resize of a ``(batch, time, freq, channels)`` map to ``(batch, time', freq', channels)``.

    The paper resizes the teacher map to the student's h x w (Sec. 2.2). ``keras.ops.image.resize``
    uses half-pixel centres without antialiasing (as PyTorch's ``interpolate(mode="bilinear",
    align_corners=False)``).
    """
    return ops.image.resize(features, (int(time), int(freq)), interpolation="bilinear",
                            antialias=False, data_format="channels_last")


@keras.saving.register_keras_serializable(package="keras_audioattn")
class KnowledgeDistillationLoss(keras.losses.Loss):
    """Soft-target knowledge distillation for multi-label sigmoid outputs ('KD' in Eq. 7).

    Hinton et al.'s KD softens a softmax with a temperature ``T`` and matches the teacher's
    distribution. A tagger's outputs are independent sigmoids, so each class is its own
    two-way (Bernoulli) distribution: with ``p = sigmoid(z_teacher / T)`` and
    ``q = sigmoid(z_student / T)`` the loss per example is

        T^2 * mean_k [ p_k log(p_k / q_k) + (1 - p_k) log((1 - p_k) / (1 - q_k)) ],

    the binary KL divergence averaged over classes. It differs from binary cross-entropy against
    the soft targets only by the teacher's entropy, a constant for the student, so the gradients
    are those of soft-target BCE; the KL form is 0 when the student matches the teacher. ``T^2``
    keeps the gradient scale independent of ``T`` (Hinton et al., Sec. 2). The paper does not
    give a temperature; the default ``T = 1`` makes this plain soft-target BCE.

    ``call(y_true, y_pred)``: ``y_true`` is the teacher's output, ``y_pred`` the student's, both
    ``(batch, classes)``; probabilities unless ``from_logits=True`` (probabilities are mapped back
    to logits, clipped to ``[epsilon, 1 - epsilon]``, before dividing by ``T``).
    """

    def __init__(self, temperature=1.0, from_logits=False, epsilon=1e-7, reduction="sum_over_batch_size",
                 name="knowledge_distillation", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        if not 0 < epsilon < 0.5:
            raise ValueError(f"epsilon must be in (0, 0.5), got {epsilon!r}")
        self.temperature = float(temperature)
        self.from_logits = bool(from_logits)
        self.epsilon = float(epsilon)

    def _logits(self, x):
        x = ops.cast(x, "float32")
        if self.from_logits:
            return x
        x = ops.clip(x, self.epsilon, 1.0 - self.epsilon)
        return ops.log(x) - ops.log1p(-x)

    def call(self, y_true, y_pred):
        t = self.temperature
        zt = self._logits(y_true) / t
        zs = self._logits(y_pred) / t
        p = ops.sigmoid(zt)
        # log sigmoid(z) = -softplus(-z); log(1 - sigmoid(z)) = -softplus(z): stable for any z.
        kl = (p * (ops.softplus(-zs) - ops.softplus(-zt))
              + (1.0 - p) * (ops.softplus(zs) - ops.softplus(zt)))
        return (t * t) * ops.mean(kl, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(temperature=self.temperature, from_logits=self.from_logits, epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package="keras_audioattn")
class SimilarityPreservingLoss(keras.losses.Loss):
    """Similarity-preserving KD (Tung & Mori 2019; Chang et al. 2020, Eq. 1-2), one layer pair.

    ``G = row_l2_normalise(Q Q^T)`` with ``Q`` the ``(batch, -1)`` flattened hint features, for the
    teacher and the student; loss ``= ||G_teacher - G_student||_F^2 / b^2``. This is the reference
    implementation's form (squared Frobenius norm divided by ``b^2``). The teacher's and the
    student's features may have any (different) shapes: only the batch size must agree. Summing
    over several layer pairs (Eq. 2's sum over ``I``) is done by the caller
    (:class:`keras_audioattn.distillation.Distiller`).

    ``call(y_true, y_pred)``: teacher features, student features; returns a scalar (the loss is a
    property of the whole batch, so ``sample_weight`` does not apply).
    """

    def __init__(self, reduction="sum_over_batch_size", name="similarity_preserving", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        g_t = batch_similarity(y_true)
        g_s = batch_similarity(y_pred)
        b = ops.cast(ops.shape(g_s)[0], "float32")
        return ops.sum(ops.square(g_t - g_s)) / (b * b)


@keras.saving.register_keras_serializable(package="keras_audioattn")
class IntraUtteranceSimilarityLoss(keras.losses.Loss):
    """Intra-utterance similarity-preserving KD, IUSP (Chang et al. 2020, Eq. 3-6), one layer pair.

    Per utterance ``b'``: normalise the hint map, reshape it to ``Q in R^{(c h) x w}``, form the
    frame-by-frame similarity ``G = Q^T Q`` (``w x w``, Eq. 3), sharpen it with
    ``G~ = sigmoid(gamma * (G - delta))`` (Eq. 6), and compare teacher and student:
    ``||G~_teacher - G~_student||_F^2``; the loss is the mean over the batch (Eq. 5). When the
    teacher map's ``(time, freq)`` size differs from the student's, the teacher map is bilinearly
    resized to the student's size first (Sec. 2.2). Channel counts may differ.

    Args:
      gamma, delta: the sigmoid's scale and shift (paper: 10 and 0.5, tuned on validation data).
      normalization: which norm makes ``G``. Eq. 3 cannot be read literally and still mean what
        Sec. 2.2 says: it normalises each channel's ``h x w`` map,
        ``A~[b', i, :, :] = A[b', i, :, :] / ||A[b', i, :, :]||_2``, and defines
        ``Q in R^{ch x w}``, whose product ``Q Q^T`` would be ``ch x ch``, not the frame-by-frame
        matrix the text describes. Sec. 2.2 states that gamma = 10, delta = 0.5 "serve as a
        threshold for determining high and low similarity", and Fig. 1 shows similarities that
        span the range, with strong off-diagonals for a repeating siren.

        * ``"frame"`` (default): per-frame cosine similarity. Each frame's ``(c h)`` vector is
          L2-normalised, so ``G[t, t']`` is the cosine of frames ``t`` and ``t'``: ``G`` lies in
          ``[-1, 1]`` (``[0, 1]`` after a ReLU), its diagonal is 1, and ``delta = 0.5`` is a
          similarity threshold that does not depend on the clip length or the layer's width --
          the one reading under which Eq. 6's constants act as Sec. 2.2 describes.
        * ``"channel_map"``: Eq. 3 as written (each channel's map unit-norm, then frame products).
          Then ``trace(G) = c`` and the entries are about ``c / w``: on 10 s clips the diagonal is
          about 0.06 (student conv, ``w = 497``) to 0.24 (teacher pool2); no entry reaches 0.5 and
          ``G~`` is 0.01-0.09 everywhere (DESIGN.md, second round), so the sigmoid never separates
          similar from dissimilar frames. Kept for comparison and for short clips.
        * ``"channel_vector"``: the channel vector at each ``(h, w)`` position is unit-norm
          (PyTorch's ``F.normalize(A, dim=1)``); entries reach ``h`` (with ``h = 8``, the paper
          student's conv map, the sigmoid saturates at 1).

      frame_reduction: ``"mean"`` (default): the squared differences are averaged over the
        ``w x w`` frame pairs, ``||G~_t - G~_s||_F^2 / w^2``; ``"sum"``: Eq. 5 as written (the
        plain squared Frobenius norm). Sec. 4.3 chose alpha_IUSP = 1 so that the IUSP term has
        the magnitude of the BCE term; with ``"sum"`` and cosine similarities the term grows
        like ``w^2`` (247 009 frame pairs on 10 s clips) and is hundreds to thousands of times
        the BCE term (measured in ``docs/chang2020.md``), so ``"mean"`` is the reading under which
        the paper's alpha_4 = 1 means what the text says. ``"sum"`` with ``"channel_map"`` is the
        fully literal Eq. 3-5.

    ``call(y_true, y_pred)``: teacher map, student map, each ``(batch, time, freq, channels)`` or
    ``(batch, time, channels)``; returns ``(batch,)`` per-utterance losses, averaged by the
    reduction. :meth:`similarity` returns the ``G~`` matrices the loss compares.

    Example:
      >>> loss = IntraUtteranceSimilarityLoss()           # gamma 10, delta 0.5, cosine frames
      >>> g = loss.similarity(np.random.rand(2, 50, 8, 32).astype("float32"))   # (2, 50, 50)
    """

    def __init__(self, gamma=10.0, delta=0.5, normalization="frame", frame_reduction="mean",
                 reduction="sum_over_batch_size", name="intra_utterance_similarity", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        if frame_reduction not in FRAME_REDUCTIONS:
            raise ValueError(f"frame_reduction must be one of {FRAME_REDUCTIONS}, got {frame_reduction!r}")
        self.frame_reduction = frame_reduction
        self.gamma = float(gamma)
        self.delta = float(delta)
        self.normalization = normalization

    def similarity(self, feature_map):
        """Sharpened frame-by-frame similarity ``G~`` of Eq. 6 for a hint map.

        Args:
          feature_map: ``(batch, time, freq, channels)`` (or ``(batch, time, channels)``).

        Returns:
          ``(batch, time, time)``: ``sigmoid(gamma * (G - delta))`` with ``G`` of Eq. 3 under
          ``self.normalization``; values in (0, 1), above 0.5 where frames count as similar.
        """
        features = feature_map
        g = intra_utterance_similarity(features, self.normalization)
        return ops.sigmoid(self.gamma * (g - self.delta))

    def call(self, y_true, y_pred):
        teacher = _as_time_freq_channels(y_true, "the teacher hint")
        student = _as_time_freq_channels(y_pred, "the student hint")
        t_size, s_size = tuple(teacher.shape[1:3]), tuple(student.shape[1:3])
        if t_size != s_size:
            if None in s_size:
                raise ValueError(
                    "IUSP resizes the teacher map to the student's (time, freq) size, which must be "
                    f"known when the loss is traced; got student hint shape {tuple(student.shape)}. "
                    "Train on fixed-length clips.")
            teacher = resize_time_freq(teacher, *s_size)
        diff = self.similarity(teacher) - self.similarity(student)
        if self.frame_reduction == "sum":
            return ops.sum(ops.square(diff), axis=(1, 2))
        return ops.mean(ops.square(diff), axis=(1, 2))

    def get_config(self):
        config = super().get_config()
        config.update(gamma=self.gamma, delta=self.delta, normalization=self.normalization,
                      frame_reduction=self.frame_reduction)
        return config
