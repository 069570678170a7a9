"""Mix-up (Zhang et al. 2017, "mixup: Beyond Empirical Risk Minimization"): the one implementation.

Within one batch, each example ``i`` is mixed with example ``perm[i]`` of a random permutation::

    x'_i = lam_i x_i + (1 - lam_i) x_perm[i],   y'_i = lam_i y_i + (1 - lam_i) y_perm[i],
    lam_i ~ Beta(alpha, alpha)

:func:`mixup_batch` mixes one NumPy batch (``numpy.random.Generator``); :func:`mixup_dataset`
mixes every batch of a ``tf.data`` pipeline, stateless (keyed by seed, epoch and batch index),
so the same batches come back under every strategy and after a resume. Both sample ``lam`` and
``perm`` and hand them to :func:`mix`, which is the formula above, once.

Jung et al. 2020 (§4.2) apply mix-up to both systems without giving alpha; 0.2 is the preset's.
"""

from __future__ import annotations

import numpy as np


def mix(x, y, lam, perm, take, reshape):
    """``lam x + (1 - lam) x[perm]`` and the same for ``y`` (``lam`` per example, broadcast).

    Args:
      x: ``(batch, ...)`` inputs; y: ``(batch, classes)`` targets.
      lam: ``(batch,)`` mixing weights; perm: ``(batch,)`` the partner of each example.
      take, reshape: the array library's ``gather along axis 0`` and ``reshape`` (NumPy or TF),
        so one formula serves both.
    Returns: ``(x', y')``.
    """
    lx = reshape(lam, [-1] + [1] * (len(x.shape) - 1))
    ly = reshape(lam, [-1] + [1] * (len(y.shape) - 1))
    return lx * x + (1 - lx) * take(x, perm), ly * y + (1 - ly) * take(y, perm)


def mixup_batch(x, y, alpha=0.2, rng=None):
    """Mix-up of one NumPy batch (see the module docstring).

    Args:
      x: ``(batch, ...)`` array; y: ``(batch, classes)`` targets (cast to float32).
      alpha: the Beta distribution's parameter.
      rng: a ``numpy.random.Generator`` (default: a fresh, unseeded one).
    Returns: ``(x', y')`` of the same shapes.

    Example::

        x2, y2 = mixup_batch(x, y, alpha=0.2, rng=np.random.default_rng(0))
    """
    rng = np.random.default_rng() if rng is None else rng
    x, y = np.asarray(x), np.asarray(y, dtype=np.float32)
    lam = rng.beta(alpha, alpha, size=len(x)).astype(np.float32)
    perm = rng.permutation(len(x))
    return mix(x, y, lam, perm, lambda a, i: np.take(a, i, axis=0), np.reshape)


def mixup_dataset(dataset, alpha, seed, epoch=None):
    """Mix-up of every ``(x, y)`` batch of a ``tf.data.Dataset``, stateless.

    Args:
      dataset: batched ``(x, y)`` elements.
      alpha: the Beta distribution's parameter.
      seed: integer seed.
      epoch: an int64 ``tf.Variable`` holding the epoch number (or None: epoch 0); the draws are
        keyed by ``(seed, epoch, batch index)``.
    Returns: the mixed dataset (same element structure).
    """
    import tensorflow as tf  # deferred: NumPy users of mixup_batch do not pay for TensorFlow

    def one(index, batch):
        x, y = batch
        epoch_value = tf.cast(epoch, tf.int64) if epoch is not None else tf.constant(0, tf.int64)
        key = tf.stack([tf.constant(int(seed), tf.int64), epoch_value * 1_000_003 + index])
        k1, k2, k3 = tf.unstack(tf.random.experimental.stateless_split(key, 3))
        n = tf.shape(x)[0]
        g1 = tf.random.stateless_gamma([n], seed=k1, alpha=float(alpha))
        g2 = tf.random.stateless_gamma([n], seed=k2, alpha=float(alpha))
        lam = g1 / (g1 + g2)  # Beta(alpha, alpha)
        perm = tf.random.experimental.stateless_shuffle(tf.range(n), seed=k3)
        return mix(x, y, lam, perm, tf.gather, tf.reshape)

    return dataset.enumerate().map(one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


__all__ = ["mix", "mixup_batch", "mixup_dataset"]
