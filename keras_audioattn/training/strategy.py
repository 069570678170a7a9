"""Distribution strategy, mixed precision and determinism of the training driver.

* Batch size: ``batch_size`` is per replica; the global batch fed to ``model.fit`` is
  ``batch_size * strategy.num_replicas_in_sync``. The learning rate is not scaled.
* Mixed precision: ``mixed_float16`` (or ``mixed_bfloat16``) global policy while the model is
  built and trained; the front ends and the final softmax/sigmoid layers compute in float32.
* Determinism: one seed for Python/NumPy/Keras/TF; op determinism on request.
"""

from __future__ import annotations

import contextlib
import types

import keras

from keras_audioattn.training.arguments import ArgumentError

STRATEGIES = ("default", "mirrored", "multi-worker")


def make_strategy(name="default"):
    """``"default"`` (one device), ``"mirrored"`` (all GPUs of this machine; without GPUs, all
    logical CPU devices) or ``"multi-worker"`` (``MultiWorkerMirroredStrategy``, cluster from
    ``TF_CONFIG``)."""
    import tensorflow as tf  # deferred: TensorFlow only when a strategy is built

    if name in (None, "default"):
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    if name == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ArgumentError("strategy", f"{name!r} is unknown; choose one of {STRATEGIES}")


MIXED_PRECISION = {"float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


def _mixed_policy(mixed_precision):
    """``None`` (float32), ``True`` / ``"float16"`` (GPUs) or ``"bfloat16"`` (CPUs with AVX-512
    BF16 and TPUs) -> the Keras policy name, or None."""
    if not mixed_precision:
        return None
    key = "float16" if mixed_precision is True else str(mixed_precision)
    if key not in MIXED_PRECISION:
        raise ArgumentError("mixed_precision", f"must be one of {sorted(MIXED_PRECISION)}, got {mixed_precision!r}")
    return MIXED_PRECISION[key]


@contextlib.contextmanager
def dtype_policy(mixed_precision):
    """The mixed policy of ``mixed_precision`` (see :func:`_mixed_policy`) inside the block; restored after."""

    previous = keras.config.dtype_policy().name
    policy = _mixed_policy(mixed_precision)
    if policy:
        keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        if policy:
            keras.mixed_precision.set_global_policy(previous)


def set_determinism(seed, deterministic=False):
    """Seeds Python/NumPy/Keras/TF with ``seed``; ``deterministic`` also enables TF op determinism
    (same seed + same data -> same weights, at some speed cost on GPUs)."""
    import tensorflow as tf  # deferred, as in make_strategy

    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _avoid_distributed_symbolic_build(model, dataset):
    """Works around keras-team/keras#20585 (Keras 3 ``fit`` under MultiWorkerMirroredStrategy
    fails in ``_maybe_symbolic_build``: it ``strategy.reduce``\ s a peeked PerReplica batch,
    which MWMS cannot do eagerly). The model, its compiled loss/metrics and the optimizer are
    built here from one local batch, and the peek is skipped."""

    batch = next(iter(dataset))
    model._symbolic_build(data_batch=batch)
    model._maybe_symbolic_build = types.MethodType(lambda self, iterator=None, data_batch=None: None, model)


@contextlib.contextmanager
def _multi_worker_log_reduction(active):
    """Works around a second Keras 3 bug under MultiWorkerMirroredStrategy with several workers:
    the train/test step reduces every scalar log with ``strategy.reduce("MEAN", v, axis=0)``,
    which fails for rank-0 values. Inside this block (multi-worker runs only) logs of rank 0
    are averaged over replicas with ``axis=None``; everything else goes to Keras' function."""
    if not active:
        yield
        return
    # Deferred: Keras' TensorFlow trainer module exists under the TensorFlow backend only.
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):
            def one(v):
                if isinstance(v, tf.distribute.DistributedValues):
                    rank = strategy.experimental_local_results(v)[0].shape.rank
                else:
                    rank = getattr(getattr(v, "shape", None), "rank", None)
                return strategy.reduce("MEAN", v, axis=None if rank == 0 else 0)

            return tf.nest.map_structure(one, values)
        return original(values, strategy, reduction)

    tf_trainer.reduce_per_replica = reduce_per_replica
    try:
        yield
    finally:
        tf_trainer.reduce_per_replica = original


__all__ = ["MIXED_PRECISION", "STRATEGIES", "dtype_policy", "make_strategy", "set_determinism"]
