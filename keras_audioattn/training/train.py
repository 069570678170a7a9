"""``train``: a preset trained on manifests into a run folder, in named steps.

:func:`train` resolves the preset's recipe, then data -> folder -> datasets -> model -> compile
-> callbacks -> fit -> save. Distillation (Chang et al. 2020) is a recipe of the same path: a
distilled preset with ``teacher=`` trains the student through a
:class:`~keras_audioattn.distillation.Distiller` and the same callbacks (``audioattn distill``
calls :func:`train` twice: teacher, then student).

Policies (documented in docs/training.md):

* Sample rate: the data are read at the preset's ``data.sample_rate`` (or ``sample_rate=``,
  which also builds the model for that rate). Files at another rate are an error unless
  ``resample=True``, which resamples them on the fly (``load_audio``, polyphase FIR).
* Batch size, mixed precision, determinism: :mod:`keras_audioattn.training.strategy`.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import shutil
import time

import keras
import numpy as np

from keras_audioattn import backends
from keras_audioattn import presets as _presets
from keras_audioattn.data import load_manifest, save_class_names
from keras_audioattn.distillation import SETUPS, Distiller
from keras_audioattn.files import save_keras_model
from keras_audioattn.metrics import DCASE2019Task5AUPRC
from keras_audioattn.training.arguments import ArgumentError, check_numeric_arguments
from keras_audioattn.training.callbacks import check_finite, run_callbacks
from keras_audioattn.training.datasets import _sync_model_config, check_sample_rates, data_settings, make_dataset
from keras_audioattn.training.run_folder import (BACKUP_DIR, CLASS_NAMES_FILE, CONFIG_FILE, LOG_FILE, MODEL_FILE,
                                                 WORKERS_DIR, _check_same_run, _is_chief, _prepare_out,
                                                 _read_config, _truncate_log, _write_json, load_keras_model,
                                                 resolve_model)
from keras_audioattn.training.strategy import (STRATEGIES, _avoid_distributed_symbolic_build, _mixed_policy,
                                               _multi_worker_log_reduction, dtype_policy, make_strategy,
                                               set_determinism)
from keras_audioattn.version import __version__


def _check_overrides(cls, entry, overrides, num_classes):
    """``overrides`` keys must be constructor arguments of the model (named, or the preset's own
    keys); ``num_classes`` comes from the data."""
    if "num_classes" in overrides:
        raise ArgumentError("overrides", f": num_classes is set from the class list of the training data "
                                         f"({num_classes} classes); remove it (relabel the manifest to change the classes)")
    params = inspect.signature(cls).parameters
    named = {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    valid = named | set(entry["model"]) | set(entry["train_overrides"]) | set(entry["small"])
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        valid |= {"name", "dtype", "trainable"}
    valid -= {"num_classes", "tagger_model"}
    unknown = sorted(set(overrides) - valid - {"tagger_model"})
    if unknown:
        raise ArgumentError("overrides", f": unknown key(s) {unknown} for {cls.__name__}; valid keys: "
                                         f"{', '.join(sorted(valid))}")


def _compile(model, entry, class_names, learning_rate, optimizer_name):
    """Compiles the model trained (the network, or the Distiller around it) for the preset's task."""
    recipe = entry["training"]
    optimizer = keras.optimizers.get({"class_name": optimizer_name, "config": {"learning_rate": float(learning_rate)}})
    if entry["task"] == "single_label":
        loss = recipe.get("loss", "categorical_crossentropy")
        if isinstance(loss, dict):  # a recipe keyed by output name; the trained view has "scores" only
            loss = loss["scores"]
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    elif entry["task"] == "multi_label":
        metrics = [DCASE2019Task5AUPRC(len(class_names), average="micro", name="micro_auprc")]
        if entry.get("distilled_with_teacher"):  # the Distiller's compute_loss is the setup's
            model.compile(optimizer=optimizer, metrics=metrics)
        else:
            model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=metrics)
    else:  # sed: BCE on "clip" + alpha * MSE(reconstruction) in the model's compute_loss
        model.compile(optimizer=optimizer)


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


@dataclasses.dataclass
class _Recipe:
    """The recipe of one run: the preset's, with the caller's overrides applied and checked."""

    entry: dict
    training: dict
    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: str
    patience: int | None
    mixup_alpha: float | None
    overrides: dict
    teacher: str | None
    setup: str | None
    temperature: float
    keep: str


def _resolve_recipe(preset, epochs, batch_size, learning_rate, optimizer, patience, mixup_alpha, overrides,
                    teacher, tagger, distillation_setup, temperature, sample_rate, duration, seed):
    """Step 1: the preset's recipe with the overrides, every argument checked (ArgumentError)."""
    entry = _presets.get_preset(preset)
    recipe = dict(entry["training"])
    epochs = recipe.get("epochs") if epochs is None else epochs
    if epochs is None:
        raise ArgumentError("epochs", f": the paper of {preset} gives no number of epochs; pass one")
    batch_size = recipe.get("batch_size", 32) if batch_size is None else batch_size
    learning_rate = recipe.get("learning_rate", 1e-3) if learning_rate is None else learning_rate
    optimizer = recipe.get("optimizer", "adam") if optimizer is None else optimizer
    try:
        keras.optimizers.get(optimizer)
    except ValueError:
        raise ArgumentError("optimizer", f"{optimizer!r} is unknown (a Keras optimizer name: adam, sgd, rmsprop, "
                                         f"...)") from None
    check_numeric_arguments(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience,
                            mixup_alpha=mixup_alpha, sample_rate=sample_rate, duration=duration, seed=seed)
    patience = recipe.get("early_stopping_patience") if patience is None else (patience or None)
    overrides = dict(overrides or {})
    if teacher is not None and not entry["distilled"]:
        raise ArgumentError("teacher", f"applies to distilled presets (chang2020-student-*), not {preset}")
    if teacher is not None:
        teacher = os.path.abspath(resolve_model(teacher, "teacher"))  # a .keras file or a run folder
    setup = distillation_setup if distillation_setup is not None else recipe.get("distillation")
    if teacher is not None and setup not in SETUPS:
        raise ArgumentError("distillation_setup", f"must be one of {list(SETUPS)}, got {setup!r}")
    if tagger is not None and not entry["needs_tagger"]:
        raise ArgumentError("tagger", f"applies to the tag-conditioned presets (jung2020-*), not {preset}")
    if entry["needs_tagger"]:
        if tagger is None:
            raise ArgumentError("tagger", f": {preset} conditions the ASC on a trained tagger; pass one (a .keras "
                                          f"file or a run folder; train one first with preset jung2020-tagger)")
        overrides["tagger_model"] = os.path.abspath(resolve_model(tagger, "tagger"))
    mixup_alpha = recipe.get("mixup_alpha") if mixup_alpha is None else (mixup_alpha or None)
    keep = recipe.get("keep", "best")
    if keep not in ("best", "last"):
        raise ValueError(f"the recipe's keep must be 'best' or 'last', got {keep!r}")
    temperature = float(recipe.get("temperature", 1.0) if temperature is None else temperature)
    return _Recipe(entry, recipe, int(epochs), int(batch_size), float(learning_rate), optimizer, patience,
                   mixup_alpha, overrides, teacher, setup if teacher is not None else None, temperature, keep)


def _load_data(train, val, class_names):
    """Step 2: the manifests, checked before any work (headers, validation audio decoded, rates, labels)."""
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
    return train_manifest, val_manifest, class_names


def _check_data(train_manifest, val_manifest, class_names, data, resample):
    """Step 2b: sample rates and labels of both sets against the data settings."""
    check_sample_rates(train_manifest, data["sample_rate"], resample, "training data")
    if val_manifest is not None:
        check_sample_rates(val_manifest, data["sample_rate"], resample, "validation data")
    # Unknown labels / wrong label counts fail here, naming the row, before any training.
    for manifest in (train_manifest, val_manifest):
        if manifest is not None:
            manifest.targets(class_names, multi_label=data["multi_label"])


def _prepare_folder(out, dist, overwrite, resume, preset):
    """Step 3: ``(chief, work folder, stored config or None)``. A non-chief worker keeps its own
    state (backup, logs, a model copy) in ``out/.workers/<id>``, on its own machine or on a
    shared file system."""
    chief, task_id = _is_chief(dist)
    if chief:
        return True, out, _prepare_out(out, overwrite, resume, preset)
    if overwrite and resume:
        raise ValueError("choose one of --overwrite (start again) and --resume (continue)")
    work = os.path.join(out, WORKERS_DIR, str(task_id))
    if not resume:
        shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work, exist_ok=True)
    return False, work, None


def _datasets(preset, train_manifest, val_manifest, class_names, data, r, global_batch, replicas, seed):
    """Step 4: ``(epoch variable, training dataset, validation dataset or None)``."""
    import tensorflow as tf  # deferred: TensorFlow only once a run starts (see datasets.py)

    epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")
    if r.mixup_alpha and (data.get("duration") is None or data.get("clip_overlap") is not None):
        raise ArgumentError("mixup_alpha", f": mix-up needs fixed-length clips; {preset} cuts or pads clips per batch")
    task = r.entry["task"]
    train_ds = make_dataset(train_manifest, class_names, data, task, global_batch, shuffle=True, seed=seed,
                            epoch=epoch_var, drop_remainder=replicas > 1, mixup_alpha=r.mixup_alpha)
    if int(train_ds.cardinality()) == 0:
        raise ArgumentError("batch_size", f": the training data give no full batch of {global_batch} "
                                          f"({r.batch_size} per replica x {replicas} replicas); lower it")
    val_ds = None if val_manifest is None else make_dataset(val_manifest, class_names, data, task, global_batch)
    return epoch_var, train_ds, val_ds


def network_config(preset, num_classes, data, overrides=None, small=False):
    """``(model class, constructor arguments)`` of a run's network: the preset's configuration
    (``small``: its tiny one) with ``overrides``, its input synchronised with the data settings
    (sample rate, clip length, channels). Checks ``overrides`` (ArgumentError naming them).

    Example::

        cls, config = network_config("chang2020-teacher", 8, data_settings(get_preset("chang2020-teacher")))
        teacher = cls(**config)
    """
    overrides = dict(overrides or {})
    cls = _presets.model_class(preset)
    _check_overrides(cls, _presets.get_preset(preset), overrides, num_classes)
    config = _presets.model_config(preset, num_classes=num_classes, small=small, for_training=True, **overrides)
    return cls, _sync_model_config(cls, config, data)


def _run_config(preset, r, cls, model_cfg, data, class_names, monitor, mode, global_batch, seed, deterministic,
                strategy, replicas, backend, mixed_precision, resample, small, train_manifest, val_manifest):
    """Step 5: the run's ``config.json`` (everything needed to evaluate, predict and resume)."""
    entry = r.entry
    return {
        "preset": preset, "family": entry["family"], "task": entry["task"], "paper": entry.get("paper"),
        "model_class": cls.__name__, "overrides": r.overrides, "small": bool(small), "model": model_cfg,
        "data": data, "class_names": class_names,
        "training": {**r.training, "mixup_alpha": r.mixup_alpha, "epochs": r.epochs, "batch_size_per_replica": r.batch_size,
                     "global_batch_size": global_batch, "learning_rate": r.learning_rate, "optimizer": r.optimizer,
                     "early_stopping_patience": r.patience, "monitor": monitor, "monitor_mode": mode,
                     "distillation_teacher": r.teacher,
                     **({"distillation_setup": r.setup, "temperature": r.temperature} if r.teacher else {})},
        "evaluate": entry["evaluate"], "seed": int(seed), "deterministic": bool(deterministic),
        "strategy": strategy, "replicas": replicas, "backend": backend, "mixed_precision": _mixed_policy(mixed_precision),
        "resample": bool(resample), "train_manifest": getattr(train_manifest, "source", None),
        "val_manifest": None if val_manifest is None else getattr(val_manifest, "source", None),
        "version": __version__, "completed": False,
    }


def _build(cls, model_cfg, r, train_ds, resume, has_backup):
    """Step 6: ``(network, model fitted, adapted)``: the network, wrapped in a Distiller when a
    teacher distils it; data-dependent layers fitted on training clips (unless resuming from a
    backup, which brings their statistics back)."""
    network = cls(**model_cfg)
    fit_model = network
    if r.teacher is not None:
        fit_model = Distiller.from_setup(r.setup, load_keras_model(r.teacher), network, temperature=r.temperature)
        fit_model(next(iter(train_ds))[0])  # BackupAndRestore needs a built model
    adapted = _adapt(network, train_ds) if not (resume and has_backup) else False
    return network, fit_model, adapted


def _save(network, work, keep, history, r):
    """Step 9: a finite final model; ``keep="last"`` (Zhang 2018: the model "after 100 training
    epochs") or no best checkpoint yet: the final weights become ``model.keras``."""
    check_finite(history, network, r.learning_rate, r.mixup_alpha)
    model_path = os.path.join(work, MODEL_FILE)
    if keep == "last" or not os.path.isfile(model_path):
        save_keras_model(network, model_path)


def train(preset, train, val=None, out="run", *, epochs=None, batch_size=None, learning_rate=None, optimizer=None,
          seed=0, strategy="default", mixed_precision=False, deterministic=False, overrides=None, small=False,
          sample_rate=None, duration=None, resample=False, patience=None, teacher=None, tagger=None,
          mixup_alpha=None, channels=None, distillation_setup=None, temperature=None, overwrite=False,
          resume=False, verbose=1, class_names=None):
    """Trains preset ``preset`` on manifest ``train`` (validation ``val``) into folder ``out``.

    Args:
      preset: a name of :func:`keras_audioattn.presets.list_presets`.
      train, val: CSV manifests (paths) or :class:`~keras_audioattn.data.Manifest` objects.
      out: run folder (see :mod:`keras_audioattn.training.run_folder` for its files).
      epochs, batch_size, learning_rate, optimizer: override the recipe (``batch_size`` per
        replica; ``optimizer`` a Keras optimizer name such as ``"sgd"``).
      seed: seeds weights and shuffling; ``deterministic=True`` also enables TF op determinism.
      strategy: ``"default"``, ``"mirrored"`` or ``"multi-worker"`` (:func:`make_strategy`).
      mixed_precision: ``"float16"`` / ``True`` or ``"bfloat16"`` (see ``strategy.py``).
      overrides: model constructor overrides (dict); ``small=True`` applies the family's tiny
        configuration first.
      sample_rate, duration: override the preset's data section (the model follows).
      resample: resample files whose rate differs (else a ValueError).
      patience: early-stopping patience (default the recipe's; 0 disables).
      teacher: for distilled presets (Chang students), a trained teacher (``.keras`` file or run
        folder): the student is distilled with ``distillation_setup`` (default: the recipe's
        ``loss``, e.g. ``"bce+kd+sp+iusp"``) at ``temperature`` (default 1); without a teacher
        the student trains with BCE alone.
      channels: override the preset's channel count (Jung presets: 2, stereo; 1 = mono, e.g. to
        export the model, since export takes a ``(batch, samples)`` waveform).
      mixup_alpha: mix-up of the training batches (default: the recipe's ``mixup_alpha``, set by
        the Jung presets to 0.2; 0 disables).
      tagger: for the tag-conditioned presets (``jung2020-*``, required there), a trained tagger
        (``.keras`` file or run folder; preset ``jung2020-tagger``): frozen, it supplies the tags.
      overwrite, resume: what to do with a non-empty ``out``.
      class_names: fixed class list (default: ``class_names.txt`` beside the train manifest or
        the manifest's labels).

    Returns: a dict with ``model_path``, ``history`` (this call's epochs), ``initial_epoch``,
    ``epochs_run``, ``config``.

    Raises: ArgumentError (a ValueError) naming the argument of a bad value.

    Example::

        train("lu2020-cab-cnn-30s", "train.csv", "validation.csv", out="runs/cab", small=True, epochs=2)
    """
    if strategy not in STRATEGIES:
        raise ArgumentError("strategy", f"{strategy!r} is unknown; choose one of {STRATEGIES}")
    _presets.get_preset(preset)  # an unknown preset: the registry's message, first
    backend = backends.check_training_options(strategy, deterministic)  # --strategy is TensorFlow-only
    # First: MultiWorkerMirroredStrategy must configure collective ops before TF runs any op.
    dist = make_strategy(strategy)
    r = _resolve_recipe(preset, epochs, batch_size, learning_rate, optimizer, patience, mixup_alpha, overrides,
                        teacher, tagger, distillation_setup, temperature, sample_rate, duration, seed)
    data = data_settings(r.entry, sample_rate, duration, channels)
    train_manifest, val_manifest, class_names = _load_data(train, val, class_names)
    _check_data(train_manifest, val_manifest, class_names, data, resample)
    cls = _presets.model_class(preset)
    _check_overrides(cls, r.entry, r.overrides, len(class_names))  # before the folder is touched

    chief, work, stored = _prepare_folder(out, dist, overwrite, resume, preset)
    if stored is not None and stored.get("completed"):
        print(f"{out}: training already completed ({stored.get('epochs_completed')} epochs); nothing to resume")
        return {"model_path": os.path.join(out, MODEL_FILE), "history": {}, "initial_epoch": stored.get(
            "epochs_completed", 0), "epochs_run": 0, "config": stored}
    if stored is not None and stored.get("class_names") != class_names:
        raise ValueError(f"--resume: the class list differs from the stored run's ({stored.get('class_names')})")

    set_determinism(seed, deterministic)
    replicas = int(dist.num_replicas_in_sync)
    global_batch = r.batch_size * replicas
    cls, model_cfg = network_config(preset, len(class_names), data, r.overrides, small)
    if stored is not None:
        # A different architecture cannot load the backup: one clear line, config.json untouched.
        _check_same_run(out, stored, model_cfg, data)
    monitor, mode = r.entry["monitor"] if val_manifest is not None else ("loss", "min")
    r.entry["distilled_with_teacher"] = r.teacher is not None
    epoch_var, train_ds, val_ds = _datasets(preset, train_manifest, val_manifest, class_names, data, r,
                                            global_batch, replicas, seed)
    config = _run_config(preset, r, cls, model_cfg, data, class_names, monitor, mode, global_batch, seed,
                         deterministic, strategy, replicas, backend, mixed_precision, resample, small,
                         train_manifest, val_manifest)
    if chief:
        _write_json(os.path.join(out, CONFIG_FILE), config)
        save_class_names(os.path.join(out, CLASS_NAMES_FILE), class_names)
    backup_state = os.path.join(work, BACKUP_DIR, "training_metadata.json")
    if resume:
        # Rows of an epoch the kill interrupted (logged before its backup) are dropped: it runs again.
        done = _read_config(backup_state, "--resume").get("epoch", 0) if os.path.isfile(backup_state) else 0
        _truncate_log(os.path.join(work, LOG_FILE), int(done))

    with dtype_policy(mixed_precision), dist.scope():
        network, fit_model, adapted = _build(cls, model_cfg, r, train_ds, resume, os.path.isfile(backup_state))
        _compile(fit_model, r.entry, class_names, r.learning_rate, r.optimizer)
        if strategy == "multi-worker":
            _avoid_distributed_symbolic_build(fit_model, train_ds)
        callbacks = run_callbacks(work, epoch_var, network, monitor, mode, r.patience, r.keep)
        start = time.perf_counter()
        # shuffle=False: the tf.data pipeline shuffles itself.
        with _multi_worker_log_reduction(strategy == "multi-worker"):
            history = fit_model.fit(train_ds, validation_data=val_ds, epochs=r.epochs, callbacks=callbacks,
                                    verbose=verbose, shuffle=False)
        seconds = time.perf_counter() - start
    _save(network, work, r.keep, history, r)
    epochs_run = len(history.history.get("loss", []))
    initial_epoch = int(history.epoch[0]) if history.epoch else r.epochs
    config.update(completed=True, epochs_completed=initial_epoch + epochs_run, adapted_normalization=adapted,
                  seconds=round(seconds, 1))
    if chief:
        _write_json(os.path.join(out, CONFIG_FILE), config)
    # Only now, with the run marked completed, the backup goes (a kill before this resumes).
    shutil.rmtree(os.path.join(work, BACKUP_DIR), ignore_errors=True)
    return {"model_path": os.path.join(out, MODEL_FILE), "history": history.history,
            "initial_epoch": initial_epoch, "epochs_run": epochs_run, "config": config}


__all__ = ["network_config", "train"]
