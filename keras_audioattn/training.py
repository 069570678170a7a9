"""Training, evaluation and prediction from manifests with the papers' presets (Python API).

``audioattn train / evaluate / predict`` (:mod:`keras_audioattn.train_cli`) are thin wrappers
around :func:`train`, :func:`evaluate` and :func:`predict`; ``docs/training.md`` describes the
workflow. A run folder holds::

    model.keras         best checkpoint (validation monitor of the family, see presets.FAMILIES)
    config.json         preset, overrides, model config, data settings, recipe, strategy, ...
    class_names.txt     the class list, in output order
    training_log.csv    one row per epoch (CSVLogger; continued on --resume)
    logs/               TensorBoard logs
    backup/             BackupAndRestore state while training runs (removed when it completes)

Policies (decided here, documented in docs/training.md):

* Sample rate: the data are read at the preset's ``data.sample_rate`` (or ``sample_rate=``,
  which also builds the model for that rate). Files at another rate are an error unless
  ``resample=True``, which resamples them on the fly (``load_audio``, polyphase FIR).
* Batch size: ``batch_size`` (default: the recipe's) is per replica; the global batch fed to
  ``model.fit`` is ``batch_size * strategy.num_replicas_in_sync``. The learning rate is not
  scaled.
* Mixed precision: ``mixed_float16`` global policy while the model is built and trained; the
  front ends and the final softmax/sigmoid layers compute in float32 (loss scaling is Keras').

TensorFlow (tf.data, tf.distribute) is used here, in the training driver; the models stay
backend-agnostic.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import shutil
import time

import numpy as np

from keras_audioattn import presets as _presets
from keras_audioattn.version import __version__

STRATEGIES = ("default", "mirrored", "multi-worker")
MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
CLASS_NAMES_FILE = "class_names.txt"
LOG_FILE = "training_log.csv"
STATE_FILE = "checkpoint_state.json"
BACKUP_DIR = "backup"
TENSORBOARD_DIR = "logs"
EVALUATION_FILE = "evaluation.json"
_OWNED = (MODEL_FILE, CONFIG_FILE, CLASS_NAMES_FILE, LOG_FILE, STATE_FILE, BACKUP_DIR, TENSORBOARD_DIR)
WORKERS_DIR = ".workers"  # non-chief workers of a multi-worker run: .workers/<task id>/


# ---------------------------------------------------------------------------------------------
# Metrics printed by `evaluate`: name -> fn(y_true, y_score, class_names)
# ---------------------------------------------------------------------------------------------
def _metric_table():
    from keras_audioattn import metrics as m

    labels = lambda c: list(range(len(c)))  # noqa: E731
    return {
        "accuracy": lambda t, s, c: m.accuracy(t, s),
        "classification_error": lambda t, s, c: m.classification_error(t, s),
        "unweighted_recall": lambda t, s, c: m.unweighted_recall(t, s, labels=labels(c)),
        "macro_f1": lambda t, s, c: m.macro_f1(t, s, labels=labels(c)),
        "confusion_matrix": lambda t, s, c: m.confusion_matrix(t, s, labels=labels(c)).tolist(),
        "average_precision_micro": lambda t, s, c: m.average_precision(t, s, average="micro"),
        "average_precision_macro": lambda t, s, c: m.average_precision(t, s, average="macro"),
        "roc_auc_macro": lambda t, s, c: m.roc_auc(t, s, average="macro"),
        "dcase2019_task5_auprc_micro": lambda t, s, c: m.dcase2019_task5_auprc(t, s, average="micro"),
        "dcase2019_task5_auprc_macro": lambda t, s, c: m.dcase2019_task5_auprc(t, s, average="macro"),
    }


METRIC_NAMES = ("accuracy", "classification_error", "unweighted_recall", "macro_f1", "confusion_matrix",
                "average_precision_micro", "average_precision_macro", "roc_auc_macro",
                "dcase2019_task5_auprc_micro", "dcase2019_task5_auprc_macro")


# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------
def data_settings(entry, sample_rate=None, duration=None, channels=None):
    """The data section of a preset with ``sample_rate`` / ``duration`` / ``channels`` overrides."""
    data = dict(entry["data"])
    if sample_rate is not None:
        data["sample_rate"] = int(sample_rate)
    if duration is not None:
        data["duration"] = float(duration)
    if channels is not None:
        if isinstance(channels, bool) or int(channels) != channels or channels < 1:
            raise ValueError(f"channels must be a positive integer, got {channels!r}")
        data["channels"] = int(channels)
    data.setdefault("multi_label", entry["task"] != "single_label")
    return data


def _sync_model_config(cls, config, data):
    """Makes the model's input agree with the data: sample rate and clip length."""
    params = inspect.signature(cls).parameters  # a class or a builder function
    if "sample_rate" in params:
        config["sample_rate"] = int(data["sample_rate"])
    if "clip_duration" in params and data.get("duration") is not None:
        config["clip_duration"] = float(data["duration"])
    if "num_channels" in params:
        config["num_channels"] = _channels(data)
    return config


def _channels(data):
    """Channels the model hears: the data section's ``channels`` (Jung 2020: stereo), else mono."""
    return int(data.get("channels") or 1)


def check_sample_rates(manifest, sample_rate, resample=False, what="data"):
    """Raises ValueError when files of ``manifest`` are not at ``sample_rate`` (unless ``resample``)."""
    from keras_audioattn.data.audio import AudioFileError, audio_info

    if resample:
        return
    wrong = {}
    for i, path in enumerate(manifest.paths):
        try:
            _, rate, _ = audio_info(path)
        except AudioFileError as error:
            raise ValueError(f"{manifest.where(i)}: {error}") from None
        if int(rate) != int(sample_rate):
            wrong.setdefault(int(rate), []).append(i)
    if wrong:
        rate, indices = next(iter(wrong.items()))
        raise ValueError(
            f"sample-rate mismatch: {sum(len(v) for v in wrong.values())} of {len(manifest)} files of the {what} "
            f"are not at {sample_rate} Hz, the rate this preset/model expects (e.g. {manifest.where(indices[0])} "
            f"is at {rate} Hz). Pass --resample (resample=True) to resample them while reading, or "
            f"--sample-rate {rate} (sample_rate={rate}) to build the model for the data's rate.")


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------
def _mixup(ds, alpha, seed, epoch):
    """Mix-up (Zhang et al. 2017) inside each batch: ``x' = lam x + (1 - lam) x[perm]`` and the
    same for the targets, ``lam ~ Beta(alpha, alpha)`` per example. Stateless, keyed by
    ``(seed, epoch, batch index)``: the same batches under every strategy and after a resume."""
    import tensorflow as tf

    def mix(index, batch):
        x, y = batch
        epoch_value = tf.cast(epoch, tf.int64) if epoch is not None else tf.constant(0, tf.int64)
        key = tf.stack([tf.constant(int(seed), tf.int64), epoch_value * 1_000_003 + index])
        k1, k2, k3 = tf.unstack(tf.random.experimental.stateless_split(key, 3))
        n = tf.shape(x)[0]
        g1 = tf.random.stateless_gamma([n], seed=k1, alpha=float(alpha))
        g2 = tf.random.stateless_gamma([n], seed=k2, alpha=float(alpha))
        lam = g1 / (g1 + g2)  # Beta(alpha, alpha)
        perm = tf.random.experimental.stateless_shuffle(tf.range(n), seed=k3)
        lx = tf.reshape(lam, [-1] + [1] * (len(x.shape) - 1))
        ly = tf.reshape(lam, [-1, 1])
        return lx * x + (1 - lx) * tf.gather(x, perm), ly * y + (1 - ly) * tf.gather(y, perm)

    return ds.enumerate().map(mix, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def make_dataset(manifest, class_names, data, task, batch_size, shuffle=False, seed=0, epoch=None,
                 drop_remainder=False, mixup_alpha=None):
    """The tf.data pipeline of a family, from a manifest.

    ``epoch``: an int64 ``tf.Variable`` set to the epoch number at the start of each epoch; with
    ``shuffle`` the order is then keyed by ``(seed, epoch)`` (see ``dataset_from_manifest``'s
    ``shuffle_epoch``), so that runs under different strategies, and resumed runs, see the
    same batches. ``drop_remainder``: drop a last, smaller batch (used with several replicas,
    where Keras would weight a partial batch differently from one device).

    * ``data["clip_overlap"]`` set (Zhang 2018): each recording is cut into ``duration`` s clips
      with that overlap (§3.1) and the clips are batched (recording length any).
    * ``data["duration"] is None`` (Lu 2020): variable-length clips, zero-padded per batch with
      their lengths (``((waveform, lengths), target)``), cropped to ``max_seconds``;
      ``batching="truncate"`` cuts every batch to its shortest clip (the paper's §4 batching).
    * otherwise: every clip cropped / zero-padded to ``duration`` s; ``mixup_alpha`` (Jung 2020's
      recipe) mixes the clips of each batch (:func:`_mixup`).
    """
    import tensorflow as tf

    from keras_audioattn.data import crop_to_seconds, dataset_from_manifest, truncate_to_shortest

    sr = int(data["sample_rate"])
    common = dict(class_names=class_names, sample_rate=sr, multi_label=bool(data["multi_label"]),
                  shuffle=shuffle, seed=seed, shuffle_epoch=epoch if shuffle else None,
                  channels=_channels(data) if _channels(data) > 1 else None)
    if data.get("clip_overlap") is not None and data.get("duration"):
        clip = int(round(sr * float(data["duration"])))
        hop = max(1, int(round(clip * (1.0 - float(data["clip_overlap"])))))
        ds = dataset_from_manifest(manifest, duration=None, batch_size=None, **common)

        def expand(waveform, target):
            waveform = tf.pad(waveform, [[0, tf.maximum(clip - tf.shape(waveform)[0], 0)]])
            frames = tf.signal.frame(waveform, clip, hop)
            targets = tf.repeat(target[None, :], tf.shape(frames)[0], axis=0)
            return tf.data.Dataset.from_tensor_slices((frames, targets))

        ds = ds.flat_map(expand)
        # Known cardinality (from the file headers): Keras then knows the epoch's length.
        total = sum(max(1, 1 + (max(n, clip) - clip) // hop) for n in _lengths(manifest, sr))
        ds = ds.apply(tf.data.experimental.assert_cardinality(total))
        if shuffle and epoch is not None:
            # Clip-level shuffle in windows of 2048 clips, stateless (keyed by seed, epoch, window).
            def mix(window_index, clips):
                frames, targets = clips
                key = tf.stack([tf.constant(int(seed), tf.int64),
                                tf.cast(epoch, tf.int64) * 1_000_003 + window_index])
                order = tf.random.experimental.stateless_shuffle(tf.range(tf.shape(frames)[0]), seed=key)
                return tf.data.Dataset.from_tensor_slices((tf.gather(frames, order), tf.gather(targets, order)))

            ds = ds.batch(2048).enumerate().flat_map(mix)
            ds = ds.apply(tf.data.experimental.assert_cardinality(total))
        elif shuffle:
            ds = ds.shuffle(2048, seed=seed, reshuffle_each_iteration=True)
        return ds.batch(int(batch_size), drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
    if data.get("duration") is None:
        ds = dataset_from_manifest(manifest, duration=None, batch_size=int(batch_size), pad_to_batch=True,
                                   return_lengths=True, drop_remainder=drop_remainder, **common)
        if data.get("max_seconds"):
            ds = crop_to_seconds(ds, data["max_seconds"], sr)
        if data.get("batching") == "truncate":
            ds = truncate_to_shortest(ds)
        return ds
    ds = dataset_from_manifest(manifest, duration=float(data["duration"]), batch_size=int(batch_size),
                               drop_remainder=drop_remainder, **common)
    return _mixup(ds, mixup_alpha, seed, epoch) if mixup_alpha else ds


def _lengths(manifest, sample_rate):
    """Lengths in samples at ``sample_rate`` of a manifest's files (from their headers)."""
    from keras_audioattn.data.audio import audio_info

    out = []
    for path in manifest.paths:
        frames, rate, _ = audio_info(path)
        out.append(-(-frames * int(sample_rate) // int(rate)))
    return out


def _clip_for_model(waveform, data):
    """One decoded file as the model's input batch (inference)."""
    if data.get("duration") is None:
        if data.get("max_seconds"):
            waveform = waveform[: int(round(data["max_seconds"] * data["sample_rate"]))]
        return [waveform[None, :], np.array([waveform.shape[0]], np.int32)]
    n = int(round(float(data["duration"]) * int(data["sample_rate"])))
    out = np.zeros((n,) + waveform.shape[1:], np.float32)  # (samples,) or (samples, channels)
    out[: min(n, waveform.shape[0])] = waveform[:n]
    return out[None, :]


# ---------------------------------------------------------------------------------------------
# Strategy, precision, determinism
# ---------------------------------------------------------------------------------------------
def make_strategy(name="default"):
    """``"default"`` (one device), ``"mirrored"`` (all GPUs of this machine; without GPUs, all
    logical CPU devices) or ``"multi-worker"`` (``MultiWorkerMirroredStrategy``, cluster from
    ``TF_CONFIG``)."""
    import tensorflow as tf

    if name in (None, "default"):
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    if name == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; choose one of {STRATEGIES}")


def _is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True, 0
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    cluster = resolver.cluster_spec().as_dict() if resolver.cluster_spec() else {}
    if task_type == "chief":
        return True, task_id
    return (task_type == "worker" and task_id == 0 and "chief" not in cluster), task_id


MIXED_PRECISION = {"float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


def _mixed_policy(mixed_precision):
    """``None`` (float32), ``True`` / ``"float16"`` (GPUs) or ``"bfloat16"`` (CPUs with AVX-512
    BF16 and TPUs) -> the Keras policy name, or None."""
    if not mixed_precision:
        return None
    key = "float16" if mixed_precision is True else str(mixed_precision)
    if key not in MIXED_PRECISION:
        raise ValueError(f"mixed precision must be one of {sorted(MIXED_PRECISION)}, got {mixed_precision!r}")
    return MIXED_PRECISION[key]


@contextlib.contextmanager
def dtype_policy(mixed_precision):
    """The mixed policy of ``mixed_precision`` (see :func:`_mixed_policy`) inside the block; restored after."""
    import keras

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
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()


# ---------------------------------------------------------------------------------------------
# Callbacks
# ---------------------------------------------------------------------------------------------
def _tensorboard_available():
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def _best_saver(target, path, state_path, monitor, mode):
    """Saves ``target`` (the network, also when training runs through a wrapper such as the
    Distiller) to ``path`` whenever ``monitor`` improves; the best value persists in
    ``state_path`` so that a resumed run keeps comparing against it."""
    import keras

    class BestModelSaver(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best = None
            if os.path.isfile(state_path):
                with open(state_path, encoding="utf-8") as f:
                    self.best = json.load(f).get("best")

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            key = monitor if monitor in logs else "loss"
            value = logs.get(key)
            if value is None or not np.isfinite(value):
                return
            value = float(value)
            better = self.best is None or (value > self.best if mode == "max" and key == monitor else value < self.best)
            if better:
                self.best = value
                target.save(path)
                with open(state_path, "w", encoding="utf-8") as f:
                    json.dump({"best": value, "monitor": key, "epoch": int(epoch)}, f)

    return BestModelSaver()


# ---------------------------------------------------------------------------------------------
# Output folder
# ---------------------------------------------------------------------------------------------
def _prepare_out(out, overwrite, resume, preset):
    """Checks / cleans the run folder. Returns the stored config when resuming, else None."""
    if overwrite and resume:
        raise ValueError("choose one of --overwrite (start again) and --resume (continue)")
    if os.path.exists(out) and not os.path.isdir(out):
        raise FileExistsError(f"--out {out} exists and is not a folder")
    # Non-chief workers of a multi-worker run may already have made out/.workers.
    if not os.path.isdir(out) or not [e for e in os.listdir(out) if e != WORKERS_DIR]:
        os.makedirs(out, exist_ok=True)
        return None
    if resume:
        config_path = os.path.join(out, CONFIG_FILE)
        if not os.path.isfile(config_path):
            raise ValueError(f"--resume: {out} has no {CONFIG_FILE}; it is not a training run folder")
        with open(config_path, encoding="utf-8") as f:
            stored = json.load(f)
        if stored.get("preset") != preset:
            raise ValueError(f"--resume: {out} holds a run of preset {stored.get('preset')!r}, not {preset!r}")
        return stored
    if overwrite:
        for name in _OWNED:
            path = os.path.join(out, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
        return None
    raise FileExistsError(f"--out {out} exists and is not empty: pass --resume to continue the run in it "
                          "or --overwrite to start again")


def _write_json(path, value):
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------------------------
def _compile(model, entry, class_names, learning_rate, optimizer_name):
    import keras

    from keras_audioattn.metrics import DCASE2019Task5AUPRC

    recipe = entry["training"]
    optimizer = keras.optimizers.get({"class_name": optimizer_name, "config": {"learning_rate": float(learning_rate)}})
    if entry["task"] == "single_label":
        loss = recipe.get("loss", "categorical_crossentropy")
        if isinstance(loss, dict):  # a recipe keyed by output name; the trained view has "scores" only
            loss = loss["scores"]
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    elif entry["task"] == "multi_label":
        metrics = [DCASE2019Task5AUPRC(len(class_names), average="micro", name="micro_auprc")]
        if entry.get("distilled_with_teacher"):
            model.compile(optimizer=optimizer, metrics=metrics)
        else:
            model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=metrics)
    else:  # sed: BCE on "clip" + alpha * MSE(reconstruction) in the model's compute_loss
        model.compile(optimizer=optimizer)


def _avoid_distributed_symbolic_build(model, dataset):
    """Works around keras-team/keras#20585 (Keras 3 ``fit`` under MultiWorkerMirroredStrategy
    fails in ``_maybe_symbolic_build``: it ``strategy.reduce``\ s a peeked PerReplica batch,
    which MWMS cannot do eagerly). The model, its compiled loss/metrics and the optimizer are
    built here from one local batch, and the peek is skipped."""
    import types

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
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        import tensorflow as tf

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


def _adapt(model, train_ds, max_clips=512):
    """Fits data-dependent layers (2APAE's "dataset" standardisation) on training clips."""
    if getattr(model, "normalization", None) != "dataset" or not hasattr(model, "adapt_normalization"):
        return False
    clips, count = [], 0
    for x, _ in train_ds:
        x = x[0] if isinstance(x, (tuple, list)) else x
        clips.append(np.asarray(x))
        count += clips[-1].shape[0]
        if count >= max_clips:
            break
    model.adapt_normalization(np.concatenate(clips)[:max_clips])
    return True


def train(preset, train, val=None, out="run", *, epochs=None, batch_size=None, learning_rate=None, optimizer=None,
          seed=0,
          strategy="default", mixed_precision=False, deterministic=False, overrides=None, small=False,
          sample_rate=None, duration=None, resample=False, patience=None, teacher=None, tagger=None,
          mixup_alpha=None, channels=None, overwrite=False,
          resume=False, verbose=1, class_names=None):
    """Trains preset ``preset`` on manifest ``train`` (validation ``val``) into folder ``out``.

    Args:
      preset: a name of :func:`keras_audioattn.presets.list_presets`.
      train, val: CSV manifests (paths) or :class:`~keras_audioattn.data.Manifest` objects.
      out: run folder (see the module docstring for its files).
      epochs, batch_size, learning_rate, optimizer: override the recipe (``batch_size`` per
        replica; ``optimizer`` a Keras optimizer name such as ``"sgd"``).
      seed: seeds weights and shuffling; ``deterministic=True`` also enables TF op determinism.
      strategy: ``"default"``, ``"mirrored"`` or ``"multi-worker"`` (:func:`make_strategy`).
      mixed_precision: train under the ``mixed_float16`` policy.
      overrides: model constructor overrides (dict); ``small=True`` applies the family's tiny
        configuration first.
      sample_rate, duration: override the preset's data section (the model follows).
      resample: resample files whose rate differs (else a ValueError).
      patience: early-stopping patience (default the recipe's; 0 disables).
      teacher: for distilled presets (Chang students), a trained teacher ``.keras`` path: the
        student is distilled with the recipe's setup; without one it trains with BCE alone.
      channels: override the preset's channel count (Jung presets: 2, stereo; 1 = mono, e.g. to
        export the model, since export takes a ``(batch, samples)`` waveform).
      mixup_alpha: mix-up of the training batches (default: the recipe's ``mixup_alpha``, set by
        the Jung presets to 0.2; 0 disables).
      tagger: for the tag-conditioned presets (``jung2020-*``, required there), a trained tagger
        ``.keras`` path (``--preset jung2020-tagger``): frozen, it supplies the tag vectors.
      overwrite, resume: what to do with a non-empty ``out``.
      class_names: fixed class list (default: ``class_names.txt`` beside the train manifest or
        the manifest's labels).

    Returns: a dict with ``model_path``, ``history`` (this call's epochs), ``initial_epoch``,
    ``epochs_run``, ``config``.
    """
    import keras

    from keras_audioattn.data import load_manifest

    entry = _presets.get_preset(preset)
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {STRATEGIES}")
    from keras_audioattn import backends

    backend = backends.check_training_options(strategy, deterministic)  # --strategy is TensorFlow-only
    # First: MultiWorkerMirroredStrategy must configure collective ops before TF runs any op.
    dist = make_strategy(strategy)
    overrides = dict(overrides or {})
    recipe = dict(entry["training"])
    epochs = recipe.get("epochs") if epochs is None else epochs
    if epochs is None:
        raise ValueError(f"the paper of {preset} gives no number of epochs: pass --epochs")
    batch_size = recipe.get("batch_size", 32) if batch_size is None else batch_size
    learning_rate = recipe.get("learning_rate", 1e-3) if learning_rate is None else learning_rate
    optimizer = recipe.get("optimizer", "adam") if optimizer is None else optimizer
    try:
        keras.optimizers.get(optimizer)
    except ValueError:
        raise ValueError(f"unknown optimizer {optimizer!r} (a Keras optimizer name: adam, sgd, rmsprop, ...)") from None
    patience = recipe.get("early_stopping_patience") if patience is None else (patience or None)
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not float(learning_rate) > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
    if teacher is not None and not entry["distilled"]:
        raise ValueError(f"--teacher applies to distilled presets (chang2020-student-*), not {preset}")
    if teacher is not None and not os.path.isfile(teacher):
        raise FileNotFoundError(f"--teacher model not found: {teacher}")
    if tagger is not None and not entry["needs_tagger"]:
        raise ValueError(f"--tagger applies to the tag-conditioned presets (jung2020-*), not {preset}")
    if entry["needs_tagger"]:
        if tagger is None:
            raise ValueError(f"{preset} conditions the ASC on a trained tagger: pass --tagger MODEL.keras "
                             f"(train one first: audioattn train --preset jung2020-tagger on tagging data)")
        if not os.path.isfile(tagger):
            raise FileNotFoundError(f"--tagger model not found: {tagger}")
        overrides["tagger_model"] = os.path.abspath(tagger)

    data = data_settings(entry, sample_rate, duration, channels)
    train_manifest = train if not isinstance(train, (str, os.PathLike)) else load_manifest(train, class_names)
    class_names = list(class_names or train_manifest.class_names)
    val_manifest = None
    if val is not None:
        val_manifest = val if not isinstance(val, (str, os.PathLike)) else load_manifest(val, class_names)
    check_sample_rates(train_manifest, data["sample_rate"], resample, "training data")
    if val_manifest is not None:
        check_sample_rates(val_manifest, data["sample_rate"], resample, "validation data")
    # Unknown labels / wrong label counts fail here, naming the row, before any training.
    train_manifest.targets(class_names, multi_label=data["multi_label"])
    if val_manifest is not None:
        val_manifest.targets(class_names, multi_label=data["multi_label"])

    chief, task_id = _is_chief(dist)
    if chief:
        stored = _prepare_out(out, overwrite, resume, preset)
        work = out
    else:
        # A non-chief worker keeps its own state (backup, logs, a model copy) in
        # out/.workers/<id>, on its own machine or on a shared file system.
        if overwrite and resume:
            raise ValueError("choose one of --overwrite (start again) and --resume (continue)")
        stored = None
        work = os.path.join(out, WORKERS_DIR, str(task_id))
        if not resume:
            shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work, exist_ok=True)
    if stored is not None and stored.get("completed"):
        print(f"{out}: training already completed ({stored.get('epochs_completed')} epochs); nothing to resume")
        return {"model_path": os.path.join(out, MODEL_FILE), "history": {}, "initial_epoch": stored.get(
            "epochs_completed", 0), "epochs_run": 0, "config": stored}
    if stored is not None and stored.get("class_names") != class_names:
        raise ValueError(f"--resume: the class list differs from the stored run's ({stored.get('class_names')})")

    set_determinism(seed, deterministic)
    replicas = int(dist.num_replicas_in_sync)
    global_batch = int(batch_size) * replicas

    cls = _presets.model_class(preset)
    model_cfg = _presets.model_config(preset, num_classes=len(class_names), small=small, for_training=True,
                                      **overrides)
    model_cfg = _sync_model_config(cls, model_cfg, data)
    monitor, mode = entry["monitor"]
    if val_manifest is None:
        monitor, mode = "loss", "min"
    entry["distilled_with_teacher"] = teacher is not None

    import tensorflow as tf

    epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")
    mixup_alpha = recipe.get("mixup_alpha") if mixup_alpha is None else (mixup_alpha or None)
    if mixup_alpha and (data.get("duration") is None or data.get("clip_overlap") is not None):
        raise ValueError(f"mix-up needs fixed-length clips; {preset} cuts or pads clips per batch")
    train_ds = make_dataset(train_manifest, class_names, data, entry["task"], global_batch, shuffle=True, seed=seed,
                            epoch=epoch_var, drop_remainder=replicas > 1, mixup_alpha=mixup_alpha)
    if int(train_ds.cardinality()) == 0:
        raise ValueError(f"the training data give no full batch of {global_batch} "
                         f"({batch_size} per replica x {replicas} replicas): lower --batch-size")
    val_ds = None if val_manifest is None else make_dataset(val_manifest, class_names, data, entry["task"],
                                                            global_batch)

    config = {
        "preset": preset, "family": entry["family"], "task": entry["task"], "paper": entry.get("paper"),
        "model_class": cls.__name__, "overrides": overrides, "small": bool(small), "model": model_cfg,
        "data": data, "class_names": class_names,
        "training": {**recipe, "mixup_alpha": mixup_alpha, "epochs": int(epochs), "batch_size_per_replica": int(batch_size),
                     "global_batch_size": global_batch, "learning_rate": float(learning_rate), "optimizer": optimizer,
                     "early_stopping_patience": patience, "monitor": monitor, "monitor_mode": mode,
                     "distillation_teacher": None if teacher is None else os.path.abspath(teacher)},
        "evaluate": entry["evaluate"], "seed": int(seed), "deterministic": bool(deterministic),
        "strategy": strategy, "replicas": replicas, "backend": backend, "mixed_precision": _mixed_policy(mixed_precision),
        "resample": bool(resample), "train_manifest": getattr(train_manifest, "source", None),
        "val_manifest": None if val_manifest is None else getattr(val_manifest, "source", None),
        "version": __version__, "completed": False,
    }
    if chief:
        from keras_audioattn.data import save_class_names

        _write_json(os.path.join(out, CONFIG_FILE), config)
        save_class_names(os.path.join(out, CLASS_NAMES_FILE), class_names)

    with dtype_policy(mixed_precision), dist.scope():
        network = cls(**model_cfg)
        fit_model = network
        if teacher is not None:
            from keras_audioattn.distillation import Distiller

            fit_model = Distiller.from_setup(recipe["loss"], load_keras_model(teacher), network)
            fit_model(next(iter(train_ds))[0])  # BackupAndRestore needs a built model
        # On --resume the fitted statistics come back with the backup (when there is one yet).
        has_backup = os.path.isfile(os.path.join(work, BACKUP_DIR, "latest.weights.h5"))
        adapted = _adapt(network, train_ds) if not (resume and has_backup) else False
        _compile(fit_model, entry, class_names, learning_rate, optimizer)
        if strategy == "multi-worker":
            _avoid_distributed_symbolic_build(fit_model, train_ds)

        callbacks = [keras.callbacks.BackupAndRestore(os.path.join(work, BACKUP_DIR)),
                     keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs=None: epoch_var.assign(e)),
                     keras.callbacks.CSVLogger(os.path.join(work, LOG_FILE), append=True),
                     _best_saver(network, os.path.join(work, MODEL_FILE), os.path.join(work, STATE_FILE),
                                 monitor, mode)]
        if _tensorboard_available():
            callbacks.append(keras.callbacks.TensorBoard(os.path.join(work, TENSORBOARD_DIR)))
        else:
            print("note: the tensorboard package is not installed; no TensorBoard logs are written")
        if patience:
            callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=int(patience),
                                                           restore_best_weights=True))
        start = time.perf_counter()
        # shuffle=False: the tf.data pipeline shuffles itself.
        with _multi_worker_log_reduction(strategy == "multi-worker"):
            history = fit_model.fit(train_ds, validation_data=val_ds, epochs=int(epochs), callbacks=callbacks,
                                    verbose=verbose, shuffle=False)
        seconds = time.perf_counter() - start
    model_path = os.path.join(work, MODEL_FILE)
    if not os.path.isfile(model_path):
        network.save(model_path)
    epochs_run = len(history.history.get("loss", []))
    initial_epoch = int(history.epoch[0]) if history.epoch else int(epochs)
    config.update(completed=True, epochs_completed=initial_epoch + epochs_run, adapted_normalization=adapted,
                  seconds=round(seconds, 1))
    if chief:
        _write_json(os.path.join(out, CONFIG_FILE), config)
    return {"model_path": os.path.join(out, MODEL_FILE), "history": history.history,
            "initial_epoch": initial_epoch, "epochs_run": epochs_run, "config": config}


# ---------------------------------------------------------------------------------------------
# Loading a run
# ---------------------------------------------------------------------------------------------
def load_keras_model(path, compile=False):
    """``keras.saving.load_model`` after registering every keras_audioattn class (models, layers,
    metrics: a compiled run's ``model.keras`` names ``DCASE2019Task5AUPRC`` etc.)."""
    import keras

    import keras_audioattn  # noqa: F401  (the package import registers models, layers and metrics)

    return keras.saving.load_model(path, compile=compile)


def load_run(model_dir):
    """``(model, config, class_names)`` of a run folder written by :func:`train`."""
    from keras_audioattn.data import load_class_names

    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"--model {model_dir}: no such folder")
    paths = {name: os.path.join(model_dir, name) for name in (MODEL_FILE, CONFIG_FILE, CLASS_NAMES_FILE)}
    missing = [name for name, path in paths.items() if not os.path.isfile(path)]
    if missing:
        raise FileNotFoundError(f"--model {model_dir} is not a finished training run (missing {', '.join(missing)})")
    with open(paths[CONFIG_FILE], encoding="utf-8") as f:
        config = json.load(f)
    model = load_keras_model(paths[MODEL_FILE])
    return model, config, load_class_names(paths[CLASS_NAMES_FILE])


def _scores(model, inputs):
    """``(clip scores, frame scores or None)`` of one batch, through the compiled predict step."""
    if isinstance(inputs, tuple):
        inputs = list(inputs)
    out = model.predict_on_batch(inputs)
    if isinstance(out, dict):
        return np.asarray(out["clip"]), np.asarray(out["frame"])
    return np.asarray(out), None


def _read(path, data, resample):
    from keras_audioattn.data import load_audio

    from keras_audioattn.data.manifest import _to_channels

    channels = _channels(data)
    waveform, rate = load_audio(path, sample_rate=int(data["sample_rate"]) if resample else None, mono=channels == 1)
    if int(rate) != int(data["sample_rate"]):
        raise ValueError(f"{path}: sample-rate mismatch: the file is at {rate} Hz, the model expects "
                         f"{data['sample_rate']} Hz (pass --resample to resample it)")
    return waveform if channels == 1 else _to_channels(waveform, channels, str(path))


def recording_scores(model, waveforms, data, batch_size=64):
    """Zhang et al. §3.1 for many recordings at once: each cut into ``data["duration"]`` s clips
    with ``data["clip_overlap"]`` (as :func:`~keras_audioattn.models.predict_recording`), every
    clip scored in one compiled ``model.predict``, clip scores averaged per recording."""
    from keras_audioattn.models.attention_lstm_classifier import split_into_clips

    clip = int(round(int(data["sample_rate"]) * float(data["duration"])))
    hop = max(1, int(round(clip * (1.0 - float(data["clip_overlap"])))))
    clips = [split_into_clips(w, clip, hop) for w in waveforms]
    scores = model.predict(np.concatenate(clips), batch_size=batch_size, verbose=0)
    bounds = np.cumsum([0] + [c.shape[0] for c in clips])
    return np.stack([scores[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:])])


def _predict_waveform(model, waveform, config):
    """Clip scores ``(classes,)`` and frame scores ``(frames, classes)`` or None for one file."""
    data = config["data"]
    if data.get("clip_overlap") is not None:
        return recording_scores(model, [waveform], data)[0], None
    clip, frame = _scores(model, _clip_for_model(waveform, data))
    return clip[0], None if frame is None else frame[0]


# ---------------------------------------------------------------------------------------------
# evaluate / predict
# ---------------------------------------------------------------------------------------------
def evaluate(model_dir, data_manifest, json_path=None, overwrite=False, resample=None, batch_size=None,
             verbose=True):
    """The paper's metrics of a trained run on a manifest; written as JSON.

    ``json_path`` defaults to ``model_dir/evaluation.json``; an existing file is only replaced
    with ``overwrite=True``. ``resample`` defaults to the run's setting. Metrics undefined on
    these data (e.g. a class without positives) are ``null`` with the reason under
    ``"undefined"``. Zhang presets score recordings (1 s clips, 50 % overlap, averaged, §3.1).

    Returns: the report dict (also written).
    """
    from keras_audioattn.data import load_manifest

    json_path = os.path.join(model_dir, EVALUATION_FILE) if json_path is None else json_path
    if os.path.exists(json_path) and not overwrite:
        raise FileExistsError(f"{json_path} exists: pass --overwrite to replace it, or --json to write elsewhere")
    model, config, class_names = load_run(model_dir)
    data = config["data"]
    resample = config.get("resample", False) if resample is None else resample
    manifest = load_manifest(data_manifest, class_names=class_names)
    check_sample_rates(manifest, data["sample_rate"], resample, "evaluation data")
    y_true = manifest.targets(class_names, multi_label=data["multi_label"])

    if data.get("clip_overlap") is not None:
        scores = recording_scores(model, [_read(p, data, resample) for p in manifest.paths], data)
    else:
        per_replica = batch_size or config["training"].get("batch_size_per_replica", 32)
        ds = make_dataset(manifest, class_names, data, config["task"], per_replica)
        scores = np.concatenate([_scores(model, x)[0] for x, _ in ds])

    table = _metric_table()
    values, undefined = {}, {}
    for name in config["evaluate"]:
        try:
            values[name] = table[name](y_true, scores, class_names)
        except ValueError as error:
            values[name], undefined[name] = None, str(error)
    report = {"preset": config["preset"], "model": os.path.abspath(model_dir), "data": os.path.abspath(data_manifest),
              "num_clips": len(manifest), "class_names": class_names, "metrics": values, "undefined": undefined,
              "level": "recording" if data.get("clip_overlap") is not None else "clip"}
    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    _write_json(json_path, report)
    if verbose:
        print(format_report(report))
        print(f"wrote {json_path}")
    return report


def format_report(report):
    lines = [f"{report['preset']} on {report['num_clips']} clips ({report['data']}):"]
    names = report["class_names"]
    for name, value in report["metrics"].items():
        if value is None:
            lines.append(f"  {name}: undefined ({report['undefined'][name]})")
        elif name == "confusion_matrix":
            width = max(len(n) for n in names)
            lines.append("  confusion_matrix (rows: actual, columns: predicted):")
            lines.append("    " + " " * width + " " + " ".join(f"{n[:8]:>8}" for n in names))
            for n, row in zip(names, value):
                lines.append(f"    {n:>{width}} " + " ".join(f"{int(v):>8d}" for v in row))
        else:
            lines.append(f"  {name}: {value:.4f}")
    return "\n".join(lines)


def predict(model_dir, files, top_k=3, threshold=0.5, resample=None):
    """Top classes (and, for SED models, events with times) per audio file.

    Returns: a list of ``{"file", "top": [[label, score], ...], "events": [[onset, offset, label], ...]}``
    (``"events"`` only for SED presets, from the frame outputs thresholded at ``threshold``).
    """
    from keras_audioattn.metrics import frame_scores_to_events

    model, config, class_names = load_run(model_dir)
    data = config["data"]
    resample = config.get("resample", False) if resample is None else resample
    results = []
    for path in files:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"audio file not found: {path}")
        clip, frame = _predict_waveform(model, _read(path, data, resample), config)
        order = np.argsort(-clip, kind="stable")[: max(1, int(top_k))]
        result = {"file": str(path), "top": [[class_names[i], float(clip[i])] for i in order]}
        if frame is not None:
            hop = model.get_layer("log_mel").frame_step / float(data["sample_rate"])
            events = frame_scores_to_events(frame, hop, threshold=threshold, class_names=class_names)
            result["events"] = [[round(on, 3), round(off, 3), label] for on, off, label in events]
        results.append(result)
    return results


__all__ = ["METRIC_NAMES", "STRATEGIES", "check_sample_rates", "data_settings", "dtype_policy", "evaluate",
           "format_report", "load_run", "make_dataset", "make_strategy", "predict", "set_determinism", "train"]
