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

from keras_audioattn import backends, preset_registry
from keras_audioattn.data import load_manifest, save_class_names
from keras_audioattn.distillation import SETUPS, Distiller
from keras_audioattn.files import save_keras_model
from keras_audioattn.metrics import DCASE2019Task5AUPRC
from keras_audioattn.training.arguments import ArgumentError, check_numeric_arguments
from keras_audioattn.training.callbacks import check_finite, run_callbacks
from keras_audioattn.preset_registry import DataSettings, Preset, TrainingRecipe
from keras_audioattn.training.datasets import _sync_model_config, check_sample_rates, data_dict, make_dataset, resolve_data
from keras_audioattn.training.run_folder import (BACKUP_DIR, CLASS_NAMES_FILE, CONFIG_FILE, LOG_FILE, MODEL_FILE,
                                                 WORKERS_DIR, _check_same_run, both_overwrite_and_resume, _is_chief, _prepare_out,
                                                 _read_config, _truncate_log, _write_json, load_keras_model,
                                                 resolve_model)
from keras_audioattn.training.strategy import (STRATEGIES, _avoid_distributed_symbolic_build, _mixed_policy,
                                               _multi_worker_log_reduction, dtype_policy, make_strategy,
                                               set_determinism)
from keras_audioattn.version import __version__


def _check_overrides(cls, preset, overrides, num_classes):
    """``overrides`` keys must be constructor arguments of the model (named, or the preset's own
    keys); ``num_classes`` comes from the data."""
    if "num_classes" in overrides:
        raise ArgumentError("overrides", f": num_classes is set from the class list of the training data "
                                         f"({num_classes} classes); remove it (relabel the manifest to change the classes)")
    params = inspect.signature(cls).parameters
    named = {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    family = preset.family_spec
    valid = named | set(preset.model) | set(family.train_overrides) | set(family.tiny)
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        valid |= {"name", "dtype", "trainable"}
    valid -= {"num_classes", "tagger_model"}
    unknown = sorted(set(overrides) - valid - {"tagger_model"})
    if unknown:
        raise ArgumentError("overrides", f": unknown key(s) {unknown} for {cls.__name__}; valid keys: "
                                         f"{', '.join(sorted(valid))}")


def _compile(model, task, class_names, optimizer, loss):
    """Compiles the model trained (the network, or the Distiller around it) for ``task``.

    ``optimizer``: a Keras optimizer config (``{"class_name": "adam", "config": {...}}``);
    ``loss``: the loss of the ``scores`` output, or None where the model trained computes its
    own (a Distiller's setup; 2APAE's BCE + alpha * MSE), see :func:`step_arguments`."""
    optimizer = keras.optimizers.get(optimizer)
    if task == "single_label":
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    elif task == "multi_label":
        metrics = [DCASE2019Task5AUPRC(len(class_names), average="micro", name="micro_auprc")]
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    else:  # sed: the clip loss (the model's own BCE when None) + alpha * MSE(reconstruction) in compute_loss
        model.compile(optimizer=optimizer, loss=loss)


def _adapt(model, train_ds, max_clips=512):
    """Fits data-dependent layers on up to ``max_clips`` training clips: 2APAE's "dataset"
    standardisation, and its output biases from the labels (``output_bias_init="label_prior"``)."""
    normalize = getattr(model, "normalization", None) == "dataset" and hasattr(model, "adapt_normalization")
    prior = hasattr(model, "output_bias_pending") and model.output_bias_pending()
    if not (normalize or prior):
        return False
    clips, labels, count = [], [], 0
    for x, y in train_ds:
        x = x[0] if isinstance(x, (tuple, list)) else x
        clips.append(np.asarray(x))
        labels.append(np.asarray(y["scores"] if isinstance(y, dict) else y))
        count += clips[-1].shape[0]
        if count >= max_clips:
            break
    if normalize:
        model.adapt_normalization(np.concatenate(clips)[:max_clips])
    if prior:
        model.initialize_output_bias(np.concatenate(labels)[:max_clips])
    return True


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """Step 1's result: the preset's typed recipe and data settings with the call's overrides
    (``dataclasses.replace``), checked, and what the run needs besides them.

    Attributes:
      preset: the registry's :class:`~keras_audioattn.preset_registry.Preset`.
      recipe: its :class:`~keras_audioattn.preset_registry.TrainingRecipe` with the overrides.
      data: its :class:`~keras_audioattn.preset_registry.DataSettings` with the overrides.
      overrides: model constructor overrides (with ``tagger_model`` for tag-conditioned presets).
      teacher: the teacher's ``.keras`` path (distillation), or None.
      setup, temperature: the distillation setup (with a teacher) and its temperature.
    """

    preset: Preset
    recipe: TrainingRecipe
    data: DataSettings
    overrides: dict
    teacher: str | None = None
    setup: str | None = None
    temperature: float = 1.0

    @property
    def task(self):
        return self.preset.task


def _check_tagger_family(path, tagger_preset):
    """A tagger trained by ``audioattn train`` (``config.json`` beside its ``.keras``) must come
    from the family of the recipe's ``tagger_preset`` (its ``-tiny`` variant included)."""
    config_path = os.path.join(os.path.dirname(path), CONFIG_FILE)
    if not os.path.isfile(config_path):
        return  # a bare .keras file: nothing says how it was trained
    trained = _read_config(config_path, "tagger").get("family")
    wanted = preset_registry.get(tagger_preset).family
    if trained is not None and trained != wanted:
        raise ArgumentError("tagger", f"{path} is a run of family {trained!r}; the recipe's tag source is preset "
                                      f"{tagger_preset!r} (family {wanted!r}): train one with it first")


def resolve_settings(preset, *, epochs=None, batch_size=None, learning_rate=None, optimizer=None, patience=None,
                     mixup_alpha=None, overrides=None, teacher=None, tagger=None, distillation_setup=None,
                     temperature=None, sample_rate=None, duration=None, channels=None, seed=0):
    """Step 1: preset ``preset`` (a name or a Preset) with the call's overrides, every argument
    checked (ArgumentError naming it), nothing fitted or read but the model files named.

    Returns: a :class:`RunSettings`; :func:`step_arguments` is what the later steps are given.

    Example::

        settings = resolve_settings("lu2020-cab-cnn-5s", epochs=3)
        settings.recipe.early_stopping_patience   # 15 (Lu et al. Sec. 4)
    """
    preset = preset if isinstance(preset, Preset) else preset_registry.get(preset)
    recipe = preset.recipe
    epochs = recipe.epochs if epochs is None else epochs
    if epochs is None:
        raise ArgumentError("epochs", f": the paper of {preset.name} gives no number of epochs; pass one")
    optimizer = recipe.optimizer if optimizer is None else optimizer
    try:
        keras.optimizers.get(optimizer)
    except ValueError:
        raise ArgumentError("optimizer", f"{optimizer!r} is unknown (a Keras optimizer name: adam, sgd, rmsprop, "
                                         f"...)") from None
    check_numeric_arguments(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience,
                            mixup_alpha=mixup_alpha, sample_rate=sample_rate, duration=duration, seed=seed)
    recipe = dataclasses.replace(
        recipe, epochs=int(epochs), optimizer=optimizer,
        batch_size=int(recipe.batch_size if batch_size is None else batch_size),
        learning_rate=float(recipe.learning_rate if learning_rate is None else learning_rate),
        early_stopping_patience=recipe.early_stopping_patience if patience is None else (patience or None),
        mixup_alpha=recipe.mixup_alpha if mixup_alpha is None else (mixup_alpha or None))
    data = resolve_data(preset.data, sample_rate, duration, channels)
    if recipe.mixup_alpha and (data.duration is None or data.clip_overlap is not None):
        raise ArgumentError("mixup_alpha", f": mix-up needs fixed-length clips; {preset.name} cuts or pads clips "
                                           f"per batch")
    overrides = dict(overrides or {})
    if teacher is not None and recipe.distillation is None:
        raise ArgumentError("teacher", f"applies to distilled presets (chang2020-student-*), not {preset.name}")
    setup = None
    if teacher is not None:
        teacher = os.path.abspath(resolve_model(teacher, "teacher"))  # a .keras file or a run folder
        setup = recipe.distillation if distillation_setup is None else distillation_setup
        if setup not in SETUPS:
            raise ArgumentError("distillation_setup", f"must be one of {list(SETUPS)}, got {setup!r}")
    if tagger is not None and recipe.tagger_preset is None:
        raise ArgumentError("tagger", f"applies to the tag-conditioned presets (jung2020-*), not {preset.name}")
    if recipe.tagger_preset is not None:
        if tagger is None:
            raise ArgumentError("tagger", f": {preset.name} conditions the ASC on a trained tagger; pass one (a "
                                          f".keras file or a run folder; train one first with preset "
                                          f"{recipe.tagger_preset})")
        overrides["tagger_model"] = os.path.abspath(resolve_model(tagger, "tagger"))
        _check_tagger_family(overrides["tagger_model"], recipe.tagger_preset)
    temperature = float(1.0 if temperature is None else temperature)
    return RunSettings(preset, recipe, data, overrides, teacher, setup, temperature)


def _loss(settings):
    """The loss compiled for the ``scores`` output: the recipe's, except where the model trained
    computes its own (a Distiller: the setup's terms; 2APAE: its BCE, which honours its
    ``loss_on``, when the recipe says the paper's ``binary_crossentropy``)."""
    if settings.teacher is not None:
        return None
    if settings.task == "sed" and settings.recipe.loss == "binary_crossentropy":
        return None
    return settings.recipe.loss


def step_arguments(settings, validation=True):
    """What each later step of :func:`train` is given, from ``settings`` (:class:`RunSettings`):
    compile (optimizer config, loss), fit (epochs), datasets (data section, batch, mix-up),
    callbacks (monitor, mode, patience, keep), distillation, evaluation (metrics, back end).
    ``validation``: whether the run has a validation set (without one the monitor is the
    training loss)."""
    r = settings.recipe
    monitor, mode = (r.monitor, r.monitor_mode) if validation else ("loss", "min")
    return {
        "compile": {"optimizer": {"class_name": r.optimizer, "config": {"learning_rate": r.learning_rate}},
                    "loss": _loss(settings)},
        "fit": {"epochs": r.epochs},
        "datasets": {"data": data_dict(settings.data), "batch_size": r.batch_size, "mixup_alpha": r.mixup_alpha},
        "callbacks": {"monitor": monitor, "mode": mode, "patience": r.early_stopping_patience, "keep": r.keep},
        "distillation": None if settings.teacher is None else {
            "teacher": settings.teacher, "setup": settings.setup, "temperature": settings.temperature},
        "tagger": settings.overrides.get("tagger_model"),
        "evaluation": {"evaluate": list(r.evaluate), "back_end": None if r.back_end is None else dict(r.back_end)},
    }


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
        raise both_overwrite_and_resume()
    work = os.path.join(out, WORKERS_DIR, str(task_id))
    if not resume:
        shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work, exist_ok=True)
    return False, work, None


def _datasets(steps, task, train_manifest, val_manifest, class_names, replicas, seed):
    """Step 4: ``(epoch variable, training dataset, validation dataset or None)``."""
    import tensorflow as tf  # deferred: TensorFlow only once a run starts (see datasets.py)

    epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")
    data, batch_size = steps["data"], steps["batch_size"]
    global_batch = batch_size * replicas
    train_ds = make_dataset(train_manifest, class_names, data, task, global_batch, shuffle=True, seed=seed,
                            epoch=epoch_var, drop_remainder=replicas > 1, mixup_alpha=steps["mixup_alpha"])
    if int(train_ds.cardinality()) == 0:
        raise ArgumentError("batch_size", f": the training data give no full batch of {global_batch} "
                                          f"({batch_size} per replica x {replicas} replicas); lower it")
    val_ds = None if val_manifest is None else make_dataset(val_manifest, class_names, data, task, global_batch)
    return epoch_var, train_ds, val_ds


def network_config(preset, num_classes, data, overrides=None, small=False):
    """``(model class, constructor arguments)`` of a run's network: the preset's configuration
    (``small``: its tiny one) with ``overrides``, its input synchronised with the data section
    (sample rate, channels, and the clip length of a ``fixed_length`` family). Checks
    ``overrides`` (ArgumentError naming them).

    Example::

        cls, config = network_config("chang2020-teacher", 8, data_settings("chang2020-teacher"))
        teacher = cls(**config)
    """
    overrides = dict(overrides or {})
    preset = preset if isinstance(preset, Preset) else preset_registry.get(preset)
    cls = preset.model_class
    _check_overrides(cls, preset, overrides, num_classes)
    config = preset.model_config(num_classes=num_classes, tiny=small, for_training=True, **overrides)
    return cls, _sync_model_config(cls, config, data, fixed_length=preset.family_spec.fixed_length)


def _run_config(settings, steps, cls, model_cfg, class_names, global_batch, seed, deterministic, strategy, replicas,
                backend, mixed_precision, resample, small, train_manifest, val_manifest):
    """Step 5: the run's ``config.json`` (everything needed to evaluate, predict and resume;
    the keys of the runs written before the typed registry)."""
    preset, r, callbacks = settings.preset, settings.recipe, steps["callbacks"]
    training = dataclasses.asdict(r)
    training["evaluate"] = list(r.evaluate)
    distillation = steps["distillation"]
    return {
        "preset": preset.name, "family": preset.family, "task": preset.task, "paper": preset.paper,
        "model_class": cls.__name__, "overrides": settings.overrides, "small": bool(small), "model": model_cfg,
        "data": steps["datasets"]["data"], "class_names": class_names,
        "training": {**training, **steps["evaluation"], "batch_size_per_replica": r.batch_size,
                     "global_batch_size": global_batch, "monitor": callbacks["monitor"],
                     "monitor_mode": callbacks["mode"],
                     "distillation_teacher": None if distillation is None else distillation["teacher"],
                     **({"distillation_setup": distillation["setup"], "temperature": distillation["temperature"]}
                        if distillation else {})},
        "evaluate": steps["evaluation"]["evaluate"], "seed": int(seed), "deterministic": bool(deterministic),
        "strategy": strategy, "replicas": replicas, "backend": backend, "mixed_precision": _mixed_policy(mixed_precision),
        "resample": bool(resample), "train_manifest": getattr(train_manifest, "source", None),
        "val_manifest": None if val_manifest is None else getattr(val_manifest, "source", None),
        "version": __version__, "completed": False,
    }


def _build(cls, model_cfg, distillation, train_ds, resume, has_backup):
    """Step 6: ``(network, model fitted, adapted)``: the network, wrapped in a Distiller when a
    teacher distils it; data-dependent layers fitted on training clips (unless resuming from a
    backup, which brings their statistics back)."""
    network = cls(**model_cfg)
    fit_model = network
    if distillation is not None:
        fit_model = Distiller.from_setup(distillation["setup"], load_keras_model(distillation["teacher"]), network,
                                         temperature=distillation["temperature"])
        fit_model(next(iter(train_ds))[0])  # BackupAndRestore needs a built model
    adapted = _adapt(network, train_ds) if not (resume and has_backup) else False
    return network, fit_model, adapted


def _save(network, work, keep, history, recipe):
    """Step 9: a finite final model; ``keep="last"`` (Zhang 2018: the model "after 100 training
    epochs") or no best checkpoint yet: the final weights become ``model.keras``."""
    check_finite(history, network, recipe.learning_rate, recipe.mixup_alpha)
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
    preset_registry.get(preset)  # an unknown preset: the registry's message, first
    backend = backends.check_training_options(strategy, deterministic)  # --strategy is TensorFlow-only
    # First: MultiWorkerMirroredStrategy must configure collective ops before TF runs any op.
    dist = make_strategy(strategy)
    settings = resolve_settings(
        preset, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, optimizer=optimizer,
        patience=patience, mixup_alpha=mixup_alpha, overrides=overrides, teacher=teacher, tagger=tagger,
        distillation_setup=distillation_setup, temperature=temperature, sample_rate=sample_rate, duration=duration,
        channels=channels, seed=seed)
    train_manifest, val_manifest, class_names = _load_data(train, val, class_names)
    steps = step_arguments(settings, validation=val_manifest is not None)
    data = steps["datasets"]["data"]
    _check_data(train_manifest, val_manifest, class_names, data, resample)
    _check_overrides(settings.preset.model_class, settings.preset, settings.overrides, len(class_names))  # before the folder is touched

    chief, work, stored = _prepare_folder(out, dist, overwrite, resume, preset)
    if stored is not None and stored.get("completed"):
        print(f"{out}: training already completed ({stored.get('epochs_completed')} epochs); nothing to resume")
        return {"model_path": os.path.join(out, MODEL_FILE), "history": {}, "initial_epoch": stored.get(
            "epochs_completed", 0), "epochs_run": 0, "config": stored}
    if stored is not None and stored.get("class_names") != class_names:
        raise ArgumentError("resume", f": the class list differs from the stored run's ({stored.get('class_names')})")

    set_determinism(seed, deterministic)
    replicas = int(dist.num_replicas_in_sync)
    global_batch = settings.recipe.batch_size * replicas
    cls, model_cfg = network_config(settings.preset, len(class_names), data, settings.overrides, small)
    if stored is not None:
        # A different architecture cannot load the backup: one clear line, config.json untouched.
        _check_same_run(out, stored, model_cfg, data, cls)
    epoch_var, train_ds, val_ds = _datasets(steps["datasets"], settings.task, train_manifest, val_manifest,
                                            class_names, replicas, seed)
    config = _run_config(settings, steps, cls, model_cfg, class_names, global_batch, seed, deterministic, strategy,
                         replicas, backend, mixed_precision, resample, small, train_manifest, val_manifest)
    if chief:
        _write_json(os.path.join(out, CONFIG_FILE), config)
        save_class_names(os.path.join(out, CLASS_NAMES_FILE), class_names)
    backup_state = os.path.join(work, BACKUP_DIR, "training_metadata.json")
    if resume:
        # Rows of an epoch the kill interrupted (logged before its backup) are dropped: it runs again.
        done = _read_config(backup_state, "resume").get("epoch", 0) if os.path.isfile(backup_state) else 0
        _truncate_log(os.path.join(work, LOG_FILE), int(done))

    callback_args = steps["callbacks"]
    with dtype_policy(mixed_precision), dist.scope():
        network, fit_model, adapted = _build(cls, model_cfg, steps["distillation"], train_ds, resume,
                                             os.path.isfile(backup_state))
        _compile(fit_model, settings.task, class_names, **steps["compile"])
        if strategy == "multi-worker":
            _avoid_distributed_symbolic_build(fit_model, train_ds)
        callbacks = run_callbacks(work, epoch_var, network, callback_args["monitor"], callback_args["mode"],
                                  callback_args["patience"], callback_args["keep"])
        start = time.perf_counter()
        # shuffle=False: the tf.data pipeline shuffles itself.
        with _multi_worker_log_reduction(strategy == "multi-worker"):
            history = fit_model.fit(train_ds, validation_data=val_ds, epochs=steps["fit"]["epochs"],
                                    callbacks=callbacks, verbose=verbose, shuffle=False)
        seconds = time.perf_counter() - start
    _save(network, work, callback_args["keep"], history, settings.recipe)
    epochs_run = len(history.history.get("loss", []))
    initial_epoch = int(history.epoch[0]) if history.epoch else steps["fit"]["epochs"]
    config.update(completed=True, epochs_completed=initial_epoch + epochs_run, adapted_normalization=adapted,
                  seconds=round(seconds, 1))
    if chief:
        _write_json(os.path.join(out, CONFIG_FILE), config)
    # Only now, with the run marked completed, the backup goes (a kill before this resumes).
    shutil.rmtree(os.path.join(work, BACKUP_DIR), ignore_errors=True)
    return {"model_path": os.path.join(out, MODEL_FILE), "history": history.history,
            "initial_epoch": initial_epoch, "epochs_run": epochs_run, "config": config}


__all__ = ["RunSettings", "network_config", "resolve_settings", "step_arguments", "train"]
