"""Training, evaluation and prediction from manifests with the papers' presets (Python API).

``audioattn train / evaluate / predict`` (:mod:`keras_audioattn.train_cli`) are thin wrappers
around :func:`train`, :func:`evaluate` and :func:`predict`; ``docs/training.md`` describes the
workflow. A run folder holds::

    model.keras         best checkpoint (validation monitor of the family, see presets.FAMILIES),
                        or the last epoch's model when the recipe says ``"keep": "last"``
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
import math
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
    if "clip_duration" in getattr(cls, "deprecated_arguments", {}) and data.get("duration") is not None:
        # issue 17: `clip_duration` (seconds) is now `num_samples` (samples at the data's rate)
        config["num_samples"] = int(round(float(data["duration"]) * int(data["sample_rate"])))
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
      ``batching="truncate"`` cuts every training batch (``shuffle=True``) to its shortest clip
      (the paper's §4 batching; the ``lu2020-*`` presets' data section sets it).
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
                                   return_lengths=True, drop_remainder=drop_remainder,
                                   max_seconds=data.get("max_seconds"), **common)
        if data.get("max_seconds"):
            ds = crop_to_seconds(ds, data["max_seconds"], sr)
        if data.get("batching") == "truncate" and shuffle:
            # Training batches only: validation / evaluation score every clip whole (padded + lengths).
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

    from keras_audioattn.files import all_finite, save_keras_model, write_json

    class BestModelSaver(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best = None
            if os.path.isfile(state_path):
                self.best = _read_state(state_path).get("best")

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            key = monitor if monitor in logs else "loss"
            value = logs.get(key)
            if value is None or not np.isfinite(value):
                return
            value = float(value)
            better = self.best is None or (value > self.best if mode == "max" and key == monitor else value < self.best)
            if better and all_finite(target):  # never a NaN model (TerminateOnNaN stops the run)
                self.best = value
                # Model first, then the state: a crash between leaves the new best model with the
                # old best value; the resumed run re-runs that epoch and saves it again. Either way
                # model.keras is a complete best model (atomic rename), never a lost one.
                save_keras_model(target, path)
                write_json(state_path, {"best": value, "monitor": key, "epoch": int(epoch)})

    return BestModelSaver()


# ---------------------------------------------------------------------------------------------
# Output folder
# ---------------------------------------------------------------------------------------------
def _prepare_out(out, overwrite, resume, preset):
    """Checks / cleans the run folder. Returns the stored config when resuming, else None."""
    from keras_audioattn.files import OwnedFolder

    if overwrite and resume:
        raise ValueError("choose one of --overwrite (start again) and --resume (continue)")
    if os.path.exists(out) and not os.path.isdir(out):
        raise FileExistsError(f"--out {out} exists and is not a folder")
    folder = OwnedFolder(out)
    # Non-chief workers of a multi-worker run may already have made out/.workers.
    if folder.is_empty(ignore=(WORKERS_DIR,)):
        folder.prepare(what="--out", ignore=(WORKERS_DIR,))
        folder.claim(*_OWNED, EVALUATION_FILE)
        return None
    if resume:
        config_path = os.path.join(out, CONFIG_FILE)
        if not os.path.isfile(config_path):
            raise ValueError(f"--resume: {out} has no {CONFIG_FILE}; it is not a training run folder")
        stored = _read_config(config_path, "--resume")
        if stored.get("preset") != preset:
            raise ValueError(f"--resume: {out} holds a run of preset {stored.get('preset')!r}, not {preset!r}")
        if not stored.get("completed"):
            verify_run(out)
        folder.claim(*_OWNED, EVALUATION_FILE)  # (a run of an older version gets its manifest here)
        from keras_audioattn.files import remove_stale_temporaries

        remove_stale_temporaries(out)
        remove_stale_temporaries(os.path.join(out, BACKUP_DIR))
        return stored
    if overwrite:
        folder.prepare(overwrite=True, what="--out", ignore=(WORKERS_DIR,))
        folder.claim(*_OWNED, EVALUATION_FILE)
        return None
    raise FileExistsError(f"--out {out} exists and is not empty: pass --resume to continue the run in it "
                          "or --overwrite to start again")


def _write_json(path, value):
    from keras_audioattn.files import write_json

    write_json(path, value)


def _read_config(path, what):
    from keras_audioattn.files import read_json

    value = read_json(path, f"{what}: the run's configuration")
    if not isinstance(value, dict):
        raise ValueError(f"{what}: {path} is damaged (expected a JSON object)")
    return value


def _read_state(path):
    from keras_audioattn.files import read_json

    state = read_json(path, "the best-checkpoint state")
    if not isinstance(state, dict) or not isinstance(state.get("best"), (int, float)):
        raise ValueError(f"the best-checkpoint state {path} is damaged (no 'best' value); delete it and "
                         f"--resume again (the next epoch then becomes the best checkpoint)")
    return state


def verify_run(out):
    """Checks the files ``--resume`` will load from run folder ``out`` and raises ValueError
    naming a damaged file and what to do: the best model opens, the best-checkpoint state and
    the backup state are valid JSON, the backup weights open as HDF5."""
    from keras_audioattn.files import read_json

    state_path = os.path.join(out, STATE_FILE)
    if os.path.isfile(state_path):
        _read_state(state_path)
    model_path = os.path.join(out, MODEL_FILE)
    if os.path.isfile(model_path):
        try:
            load_keras_model(model_path)
        except Exception as error:  # noqa: BLE001  (any failure to open means damaged)
            raise ValueError(
                f"--resume: the best checkpoint {model_path} is damaged ({type(error).__name__}: "
                f"{str(error).splitlines()[0][:200] if str(error) else ''}). Delete it and {STATE_FILE} and --resume "
                f"again (the best epoch so far is lost), or start again with --overwrite") from None
    backup = os.path.join(out, BACKUP_DIR)
    metadata_path = os.path.join(backup, "training_metadata.json")
    if os.path.isfile(metadata_path):
        metadata = read_json(metadata_path, "--resume: the backup state")
        if not isinstance(metadata, dict) or not isinstance(metadata.get("epoch"), int):
            raise ValueError(f"--resume: the backup state {metadata_path} is damaged (no epoch); delete "
                             f"{backup} to resume from epoch 0, or start again with --overwrite")
        weights = os.path.join(backup, metadata.get("weights", "latest.weights.h5"))
        if not os.path.isfile(weights):
            raise ValueError(f"--resume: the backup weights {weights} named by {metadata_path} are missing; "
                             f"delete {backup} to resume from epoch 0, or start again with --overwrite")
        try:
            import h5py

            with h5py.File(weights, "r"):
                pass
        except Exception as error:  # noqa: BLE001
            raise ValueError(f"--resume: the backup weights {weights} are damaged ({error}); delete {backup} "
                             f"to resume from epoch 0, or start again with --overwrite") from None


def _safe_backup(backup_dir):
    """``keras.callbacks.BackupAndRestore`` made crash-safe: each epoch's weights (model and
    optimizer) go to a new file ``epoch-<n>.weights.h5`` (temporary file + rename), then
    ``training_metadata.json`` is replaced atomically to name it, then older files are deleted.
    A kill at any moment leaves a metadata file naming complete weights. Non-finite weights are
    never backed up. The folder is kept at the end (``train`` deletes it once ``config.json``
    says the run completed)."""
    import keras

    from keras_audioattn.files import all_finite, read_json, save_weights, write_json

    class SafeBackupAndRestore(keras.callbacks.BackupAndRestore):
        def __init__(self):
            super().__init__(backup_dir, delete_checkpoint=False)

        def _load_model(self):
            if not os.path.isfile(self._training_metadata_path):
                return
            metadata = read_json(self._training_metadata_path, "the backup state")
            weights = os.path.join(self.backup_dir, metadata.get("weights", "latest.weights.h5"))
            if self.model.optimizer is not None and not self.model.optimizer.built:
                self.model.optimizer.build(self.model.trainable_variables)
            try:
                self.model.load_weights(weights)
            except Exception as error:  # noqa: BLE001  (any failure: the file does not fit the model)
                first = str(error).splitlines()[0][:200] if str(error) else ""
                raise ValueError(f"--resume: the backup weights {weights} do not load ({type(error).__name__}: "
                                 f"{first}); delete {self.backup_dir} to resume from epoch 0, or start again "
                                 f"with --overwrite") from None
            self.model._initial_epoch = int(metadata["epoch"])

        def _save_model(self):
            if not all_finite(self.model):
                return
            os.makedirs(self.backup_dir, exist_ok=True)
            name = f"epoch-{self._current_epoch}.weights.h5"
            save_weights(self.model, os.path.join(self.backup_dir, name))
            write_json(self._training_metadata_path, {"epoch": self._current_epoch, "batch": self._last_batch_seen,
                                                      "weights": name})
            for entry in os.listdir(self.backup_dir):
                if entry.endswith(".weights.h5") and entry != name:
                    os.remove(os.path.join(self.backup_dir, entry))

    return SafeBackupAndRestore()


def _truncate_log(path, epochs_done):
    """Keeps the header and the rows of epochs ``< epochs_done`` of a CSV log (atomically): the
    rows of an epoch that a kill interrupted before its backup are dropped (the epoch runs again)."""
    import csv

    from keras_audioattn.files import write_text

    if not os.path.isfile(path):
        return
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    header, kept = rows[0], [rows[0]]
    for row in rows[1:]:
        if len(row) != len(header):
            break  # a row cut by the kill
        try:
            epoch = int(row[0])
        except ValueError:
            break
        if epoch >= epochs_done:
            break
        kept.append(row)
    if len(kept) != len(rows):
        import io

        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(kept)
        write_text(path, buffer.getvalue())


def _check_overrides(cls, entry, overrides, num_classes):
    """``--config-overrides`` keys must be constructor arguments of the model (named, or the
    preset's own keys); ``num_classes`` comes from the data."""
    if "num_classes" in overrides:
        raise ValueError(f"--config-overrides: num_classes is set from the class list of the training data "
                         f"({num_classes} classes); remove it (relabel the manifest to change the classes)")
    params = inspect.signature(cls).parameters
    named = {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    valid = named | set(entry["model"]) | set(entry["train_overrides"]) | set(entry["small"])
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        valid |= {"name", "dtype", "trainable"}
    valid -= {"num_classes", "tagger_model"}
    unknown = sorted(set(overrides) - valid - {"tagger_model"})
    if unknown:
        raise ValueError(f"--config-overrides: unknown key(s) {unknown} for {cls.__name__}; valid keys: "
                         f"{', '.join(sorted(valid))}")


def _diverged_message(epoch, logs, learning_rate, mixup_alpha):
    return (f"training diverged in epoch {epoch + 1} (loss {logs.get('loss') if logs else 'nan'}): the weights "
            f"are not finite and were not saved ({MODEL_FILE}, if there, holds the best finite epoch). "
            f"Likely cause: a learning rate too high (--learning-rate "
            f"{learning_rate:g}) or a bad mix-up alpha (--mixup-alpha {mixup_alpha}); lower the learning rate "
            f"and --resume (from the last finite epoch) or start again with --overwrite")


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


def _check_number(name, value, kind=float, low=None, high=None, low_open=False, flag=None):
    import math

    flag = flag or "--" + name.replace("_", "-")
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{flag} must be a number, got {value!r}")
    if kind is int and int(value) != value:
        raise ValueError(f"{flag} must be an integer, got {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{flag} must be finite, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{flag} must be {'>' if low_open else '>='} {low:g}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{flag} must be <= {high:g}, got {value!r}")


#: Upper bounds of the numeric arguments (beyond them a value is a typo, not a setting).
MAX_DURATION_S = 3600.0
MAX_SAMPLE_RATE = 384_000


def check_numeric_arguments(epochs=None, batch_size=None, learning_rate=None, patience=None, mixup_alpha=None,
                            sample_rate=None, duration=None, seed=None):
    """Raises ValueError naming the flag of an out-of-range numeric argument of ``train``."""
    _check_number("epochs", epochs, int, low=1)
    _check_number("batch_size", batch_size, int, low=1)
    _check_number("learning_rate", learning_rate, low=0, low_open=True)
    _check_number("patience", patience, int, low=0)
    _check_number("mixup_alpha", mixup_alpha, low=0)
    _check_number("sample_rate", sample_rate, int, low=1, high=MAX_SAMPLE_RATE)
    _check_number("duration", duration, low=0, low_open=True, high=MAX_DURATION_S)
    _check_number("seed", seed, int, low=0)


def _check_same_run(out, stored, model_cfg, data):
    """``--resume`` with another architecture / data setting: ValueError naming the differences."""
    fresh = json.loads(json.dumps(model_cfg, default=str))
    old = stored.get("model") or {}
    diffs = [f"{k}: {old.get(k)!r} -> {fresh.get(k)!r}" for k in sorted(set(old) | set(fresh))
             if old.get(k) != fresh.get(k)]
    stored_data = stored.get("data") or {}
    fresh_data = json.loads(json.dumps(data, default=str))
    diffs += [f"data.{k}: {stored_data.get(k)!r} -> {fresh_data.get(k)!r}"
              for k in sorted(set(stored_data) | set(fresh_data)) if stored_data.get(k) != fresh_data.get(k)]
    if diffs:
        shown = "; ".join(d[:120] for d in diffs[:4]) + (f"; and {len(diffs) - 4} more" if len(diffs) > 4 else "")
        raise ValueError(f"--resume: the run in {out} was trained with another model/data configuration ({shown}). "
                         f"Resume with the run's own options (see {os.path.join(out, CONFIG_FILE)}), or start "
                         f"a new run with another --out or --overwrite")


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
    check_numeric_arguments(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience,
                            mixup_alpha=mixup_alpha, sample_rate=sample_rate, duration=duration, seed=seed)
    patience = recipe.get("early_stopping_patience") if patience is None else (patience or None)
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
    # Bad audio is found before training: every header (cheap) of both sets, and every
    # validation clip decoded (a NaN there would otherwise surface after the first epoch).
    train_manifest.check_audio()
    if val_manifest is not None:
        val_manifest.check_audio(decode=True)
    check_sample_rates(train_manifest, data["sample_rate"], resample, "training data")
    if val_manifest is not None:
        check_sample_rates(val_manifest, data["sample_rate"], resample, "validation data")
    # Unknown labels / wrong label counts fail here, naming the row, before any training.
    train_manifest.targets(class_names, multi_label=data["multi_label"])
    if val_manifest is not None:
        val_manifest.targets(class_names, multi_label=data["multi_label"])
    _check_overrides(_presets.model_class(preset), entry, overrides, len(class_names))

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
    if stored is not None:
        # A different architecture cannot load the backup: one clear line, config.json untouched.
        _check_same_run(out, stored, model_cfg, data)
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
    backup_state = os.path.join(work, BACKUP_DIR, "training_metadata.json")
    if resume:
        # Rows of an epoch the kill interrupted (logged before its backup) are dropped: it runs again.
        done = _read_config(backup_state, "--resume").get("epoch", 0) if os.path.isfile(backup_state) else 0
        _truncate_log(os.path.join(work, LOG_FILE), int(done))

    with dtype_policy(mixed_precision), dist.scope():
        network = cls(**model_cfg)
        fit_model = network
        if teacher is not None:
            from keras_audioattn.distillation import Distiller

            fit_model = Distiller.from_setup(recipe["distillation"], load_keras_model(teacher), network)
            fit_model(next(iter(train_ds))[0])  # BackupAndRestore needs a built model
        # On --resume the fitted statistics come back with the backup (when there is one yet).
        has_backup = os.path.isfile(backup_state)
        adapted = _adapt(network, train_ds) if not (resume and has_backup) else False
        _compile(fit_model, entry, class_names, learning_rate, optimizer)
        if strategy == "multi-worker":
            _avoid_distributed_symbolic_build(fit_model, train_ds)

        # The backup commits an epoch, so it runs last at each epoch end (see _safe_backup).
        callbacks = [keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs=None: epoch_var.assign(e)),
                     keras.callbacks.TerminateOnNaN(),
                     keras.callbacks.CSVLogger(os.path.join(work, LOG_FILE), append=True),
                     _best_saver(network, os.path.join(work, MODEL_FILE), os.path.join(work, STATE_FILE),
                                 monitor, mode)]
        if _tensorboard_available():
            callbacks.append(keras.callbacks.TensorBoard(os.path.join(work, TENSORBOARD_DIR)))
        else:
            print("note: the tensorboard package is not installed; no TensorBoard logs are written")
        keep = recipe.get("keep", "best")
        if keep not in ("best", "last"):
            raise ValueError(f"the recipe's keep must be 'best' or 'last', got {keep!r}")
        if patience:
            callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=int(patience),
                                                           restore_best_weights=keep == "best"))
        callbacks.append(_safe_backup(os.path.join(work, BACKUP_DIR)))
        start = time.perf_counter()
        # shuffle=False: the tf.data pipeline shuffles itself.
        with _multi_worker_log_reduction(strategy == "multi-worker"):
            history = fit_model.fit(train_ds, validation_data=val_ds, epochs=int(epochs), callbacks=callbacks,
                                    verbose=verbose, shuffle=False)
        seconds = time.perf_counter() - start
    from keras_audioattn.files import NonFiniteWeightsError, all_finite, save_keras_model

    losses = history.history.get("loss", [])
    if (losses and not np.isfinite(losses[-1])) or not all_finite(network):
        epoch = (int(history.epoch[-1]) if history.epoch else 0)
        raise NonFiniteWeightsError(_diverged_message(epoch, {"loss": losses[-1] if losses else None},
                                                      float(learning_rate), mixup_alpha))
    model_path = os.path.join(work, MODEL_FILE)
    if keep == "last" or not os.path.isfile(model_path):
        # keep="last" (Zhang 2018: the model "after 100 training epochs"): the final weights.
        save_keras_model(network, model_path)
    epochs_run = len(history.history.get("loss", []))
    initial_epoch = int(history.epoch[0]) if history.epoch else int(epochs)
    config.update(completed=True, epochs_completed=initial_epoch + epochs_run, adapted_normalization=adapted,
                  seconds=round(seconds, 1))
    if chief:
        _write_json(os.path.join(out, CONFIG_FILE), config)
    # Only now, with the run marked completed, the backup goes (a kill before this resumes).
    shutil.rmtree(os.path.join(work, BACKUP_DIR), ignore_errors=True)
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
    config = _read_config(paths[CONFIG_FILE], f"--model {model_dir}")
    try:
        model = load_keras_model(paths[MODEL_FILE])
    except Exception as error:  # noqa: BLE001  (a file that does not open is damaged)
        first = str(error).splitlines()[0][:200] if str(error) else ""
        raise ValueError(f"--model {model_dir}: {paths[MODEL_FILE]} does not open ({type(error).__name__}: {first}); "
                         f"it is damaged: train again, or --resume the run if it was interrupted") from None
    return model, config, load_class_names(paths[CLASS_NAMES_FILE])


def _scores(model, inputs):
    """``(clip scores, frame scores or None)`` of one batch, through the compiled predict step."""
    if isinstance(inputs, tuple):
        inputs = list(inputs)
    out = model.predict_on_batch(inputs)
    if isinstance(out, dict):
        return np.asarray(out["clip"]), np.asarray(out["frame"])
    return np.asarray(out), None


def _read(path, data, resample, seconds=None):
    from keras_audioattn.data import load_audio

    from keras_audioattn.data.manifest import _to_channels

    channels = _channels(data)
    waveform, rate = load_audio(path, sample_rate=int(data["sample_rate"]) if resample else None, mono=channels == 1,
                                duration=seconds)
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


#: Clips scored per model call when a long recording is read in windows (Zhang presets).
STREAM_CLIPS = 256


def _seconds_needed(data):
    """Seconds of a file the model's input uses (None: all of it): the clip of fixed-duration
    presets, ``max_seconds`` of CAB-CNN-Ts. Only that much is decoded."""
    if data.get("clip_overlap") is not None:
        return None
    if data.get("duration") is not None:
        return float(data["duration"]) + 0.05  # margin for the resampler's edge
    if data.get("max_seconds"):
        return float(data["max_seconds"]) + 0.05
    return None


def _resample_plan(file_rate, sample_rate):
    """``(up, down, margin)`` of ``resample_poly`` from ``file_rate`` to ``sample_rate`` (reduced by
    their gcd); ``margin``: input samples each side that reach one output sample (the FIR's
    half length, ``10 * max(up, down)`` upsampled taps, in input samples, plus 2)."""
    g = math.gcd(int(file_rate), int(sample_rate))
    up, down = int(sample_rate) // g, int(file_rate) // g
    return up, down, -(-10 * max(up, down) // up) + 2


def _read_resampled(handle, first, end, frames, plan, channels, path):
    """Output samples ``[first, end)`` of ``load_audio(..., sample_rate=...)`` on the whole file,
    computed from an input segment only: the segment starts at a multiple of ``down`` (so its
    output grid is the whole file's, with the same polyphase taps) and reaches ``margin`` input
    samples beyond the FIR's support of ``[first, end)`` each side (so no output sample used sees
    the segment's zero padding). Measured equal to the whole-file result bit for bit (tested to 1e-6)."""
    up, down, margin = plan
    start = max(0, (first * down) // up - margin)
    start -= start % down
    stop = min(frames, -(-end * down // up) + margin)
    block = _read_block(handle, start, stop, channels, path, rate=handle.samplerate)
    out = _resample_block(block, up, down)
    offset = start * up // down
    return out[first - offset:end - offset]


def _resample_block(block, up, down):
    """``resample_poly`` along time in float64, as :func:`keras_audioattn.data.audio.resample`."""
    from scipy.signal import resample_poly

    return resample_poly(np.asarray(block, np.float64), up, down, axis=0).astype(np.float32)


def _read_block(handle, first, end, channels, path, rate):
    """Samples ``[first, end)`` of an open soundfile: ``(samples,)`` mixed to mono as
    :func:`load_audio` does when ``channels == 1``, else ``(samples, channels)`` (mono files
    repeated on every channel); non-finite samples raise AudioFileError naming the file."""
    from keras_audioattn.data.audio import AudioFileError
    from keras_audioattn.data.manifest import _to_channels

    handle.seek(first)
    block = handle.read(frames=end - first, dtype="float32", always_2d=True)
    if not np.all(np.isfinite(block)):
        raise AudioFileError(path, f"non-finite samples (NaN or Inf) between {first / rate:.1f} s and "
                                   f"{end / rate:.1f} s")
    if channels == 1:
        return block.mean(axis=1, dtype=np.float32)
    return _to_channels(block, channels, str(path))


def streamed_recording_scores(model, path, data, resample=False, clips_per_call=STREAM_CLIPS):
    """:func:`recording_scores` of one file, read in windows of ``clips_per_call`` clips with
    soundfile (seek + read): memory is bounded by the window, not the recording's length. The
    clips, and so the scores, are those of :func:`split_into_clips` on the whole recording.

    Multi-channel runs (``data["channels"]`` > 1) read ``(frames, channels)`` blocks (mono files
    repeated on every channel, as :func:`_read`). A file at another rate with ``resample`` is
    resampled window by window with ``scipy.signal.resample_poly`` (the filter of
    :func:`keras_audioattn.data.audio.resample`), each window read with enough input margin that
    its samples equal the whole-file resampling (measured max |diff| of the samples: 0, i.e.
    bit-identical, for 44.1/48/22.05/8 kHz -> 16 kHz; scores within 1e-5 of the whole-file
    path, tested).

    Returns: clip-averaged scores ``(classes,)``.
    Raises: AudioFileError naming the file (unreadable, zero or non-finite samples).
    """
    import soundfile as sf

    from keras_audioattn.data.audio import AudioFileError, audio_info

    sr = int(data["sample_rate"])
    channels = _channels(data)
    frames, rate, _ = audio_info(path)
    plan = None
    if int(rate) != sr:
        if not resample:
            raise ValueError(f"{path}: sample-rate mismatch: the file is at {rate} Hz, the model expects "
                             f"{sr} Hz (pass --resample to resample it)")
        plan = _resample_plan(rate, sr)
    if frames == 0:
        raise AudioFileError(path, "zero samples")
    # Length of the signal the clips are cut from (load_audio's resampled length: ceil).
    length = frames if plan is None else -(-frames * plan[0] // plan[1])
    clip = int(round(sr * float(data["duration"])))
    hop = max(1, int(round(clip * (1.0 - float(data["clip_overlap"])))))
    if length <= clip:
        starts = [0]
    else:
        starts = list(range(0, length - clip + 1, hop))
        if starts[-1] + clip < length:
            starts.append(length - clip)
    total, count = None, 0
    try:
        with sf.SoundFile(path) as handle:
            for i in range(0, len(starts), int(clips_per_call)):
                chunk = starts[i:i + int(clips_per_call)]
                first, end = chunk[0], min(chunk[-1] + clip, length)
                if plan is None:
                    block = _read_block(handle, first, end, channels, path, rate=sr)
                else:
                    block = _read_resampled(handle, first, end, frames, plan, channels, path)
                pad = [(0, max(0, chunk[-1] + clip - first - block.shape[0]))] + [(0, 0)] * (block.ndim - 1)
                block = np.pad(block, pad)
                batch = np.stack([block[s - first:s - first + clip] for s in chunk])
                scores = np.asarray(model.predict_on_batch(batch), np.float64)
                total = scores.sum(axis=0) if total is None else total + scores.sum(axis=0)
                count += scores.shape[0]
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioFileError(path, f"unreadable or corrupt audio ({error})") from None
    return (total / count).astype(np.float32)


def _predict_file(model, path, config, resample):
    """Clip scores and frame scores (or None) of one file, decoding only what the model uses."""
    data = config["data"]
    if data.get("clip_overlap") is not None:
        return streamed_recording_scores(model, path, data, resample), None
    return _predict_waveform(model, _read(path, data, resample, _seconds_needed(data)), config)


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

    from keras_audioattn.files import check_output_file

    json_path = os.path.join(model_dir, EVALUATION_FILE) if json_path is None else json_path
    if os.path.exists(json_path) and not overwrite:
        raise FileExistsError(f"{json_path} exists: pass --overwrite to replace it, or --json to write elsewhere")
    if os.path.isdir(model_dir):
        check_output_file(json_path, "--json", overwrite=True)  # a folder, or a missing parent: now
    model, config, class_names = load_run(model_dir)
    data = config["data"]
    resample = config.get("resample", False) if resample is None else resample
    manifest = load_manifest(data_manifest, class_names=class_names)
    manifest.check_audio()
    check_sample_rates(manifest, data["sample_rate"], resample, "evaluation data")
    y_true = manifest.targets(class_names, multi_label=data["multi_label"])

    if data.get("clip_overlap") is not None:
        # Recording by recording, each read in windows (any channel count, resampled window by
        # window with --resample): memory does not grow with the length.
        scores = []
        for i, path in enumerate(manifest.paths):
            try:
                scores.append(streamed_recording_scores(model, path, data, resample))
            except ValueError as error:
                raise ValueError(f"{manifest.where(i)}: {error}") from None
        scores = np.stack(scores)
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
    back_end = None
    if (config.get("training") or {}).get("back_end") and data.get("clip_overlap") is None:
        # Jung et al. 2020 §2.1: the paper's accuracy is an SVM's on the code, fit on the training codes.
        back_end = _svm_back_end(model, config, class_names, ds, resample, per_replica)
        values["svm_accuracy"] = back_end.pop("svm_accuracy")
        if "error" in back_end:
            undefined["svm_accuracy"] = back_end["error"]
    report = {"preset": config["preset"], "model": os.path.abspath(model_dir), "data": os.path.abspath(data_manifest),
              "num_clips": len(manifest), "class_names": class_names, "metrics": values, "undefined": undefined,
              "level": "recording" if data.get("clip_overlap") is not None else "clip"}
    if back_end is not None:
        report["back_end"] = back_end
    _write_json(json_path, report)
    if verbose:
        print(format_report(report))
        print(f"wrote {json_path}")
    return report


def _svm_back_end(model, config, class_names, test_ds, resample, batch_size):
    """SVM accuracy on the code of a run whose recipe names a ``back_end`` (Jung et al.): the SVM is
    fit on the codes of the run's training manifest (no shuffling, no mix-up). Returns the
    :func:`~keras_audioattn.models.code_svm.svm_back_end` dict, with ``svm_accuracy`` None and an
    ``error`` when it cannot be computed (training manifest moved, no code layer, one class)."""
    from keras_audioattn.data import load_manifest
    from keras_audioattn.models.code_svm import svm_back_end

    spec = config["training"]["back_end"]
    kernel = spec.get("svm_kernel", "rbf") if isinstance(spec, dict) else "rbf"
    source = config.get("train_manifest")
    out = {"kernel": kernel, "fit_on": source}
    if not source or not os.path.isfile(source):
        return {**out, "svm_accuracy": None,
                "error": f"the run's training manifest {source!r} (config.json 'train_manifest', relative to the "
                         f"folder training ran in) is not found: run evaluate from that folder, or fix the path"}
    try:
        train_manifest = load_manifest(source, class_names=class_names)
        check_sample_rates(train_manifest, config["data"]["sample_rate"], resample, "training data of the SVM")
        train_ds = make_dataset(train_manifest, class_names, config["data"], config["task"], batch_size)
        result = svm_back_end(model, train_ds, test_ds, kernel=kernel)
    except ValueError as error:
        return {**out, "svm_accuracy": None, "error": str(error)}
    return {**out, **result}


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
    back_end = report.get("back_end")
    if back_end and back_end.get("num_train_clips"):
        lines.append(f"  (accuracy: the network's softmax; svm_accuracy: {back_end['kernel']} SVM on the "
                     f"{back_end['code_dim']}-d code, fit on {back_end['num_train_clips']} training clips -- "
                     f"the paper's metric)")
    return "\n".join(lines)


def predict(model_dir, files, top_k=3, threshold=0.5, resample=None, on_error="raise", callback=None):
    """Top classes (and, for SED models, events with times) per audio file.

    Each file is decoded only as far as the model uses it (the clip of fixed-duration presets;
    Zhang presets read the recording in windows), so memory does not grow with its length.

    Args:
      on_error: ``"raise"`` (default): the first bad file raises; ``"report"``: a bad file gets
        ``{"file", "error"}`` in the results and the others are still scored.
      callback: called with each result as soon as it is ready (e.g. to print it).

    Returns: a list of ``{"file", "top": [[label, score], ...], "events": [[onset, offset, label], ...]}``
    (``"events"`` only for SED presets, from the frame outputs thresholded at ``threshold``).
    """
    from keras_audioattn.metrics import frame_scores_to_events

    if on_error not in ("raise", "report"):
        raise ValueError(f"on_error must be 'raise' or 'report', got {on_error!r}")
    model, config, class_names = load_run(model_dir)
    data = config["data"]
    resample = config.get("resample", False) if resample is None else resample
    results = []
    for path in files:
        try:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"audio file not found: {path}")
            clip, frame = _predict_file(model, path, config, resample)
            if not np.all(np.isfinite(clip)):
                raise ValueError(f"{path}: the model gives non-finite scores (a diverged model?)")
        except (ValueError, OSError) as error:
            if on_error == "raise":
                raise
            result = {"file": str(path), "error": str(error)}
        else:
            order = np.argsort(-clip, kind="stable")[: max(1, int(top_k))]
            result = {"file": str(path), "top": [[class_names[i], float(clip[i])] for i in order]}
            if frame is not None:
                hop = model.get_layer("log_mel").frame_step / float(data["sample_rate"])
                events = frame_scores_to_events(frame, hop, threshold=threshold, class_names=class_names)
                result["events"] = [[round(on, 3), round(off, 3), label] for on, off, label in events]
        results.append(result)
        if callback is not None:
            callback(result)
    return results


__all__ = ["METRIC_NAMES", "STRATEGIES", "check_sample_rates", "data_settings", "dtype_policy", "evaluate",
           "format_report", "load_run", "make_dataset", "make_strategy", "predict", "set_determinism", "train"]
