"""The run folder: its file names and layout, config, resume checks, ownership and the chief.

A run folder (``audioattn train --out``) holds::

    model.keras         best checkpoint (the validation monitor of the preset's recipe),
                        or the last epoch's model when the recipe says ``"keep": "last"``
    config.json         preset, overrides, model config, data settings, recipe, strategy, ...
    class_names.txt     the class list, in output order
    training_log.csv    one row per epoch (CSVLogger; continued on --resume)
    checkpoint_state.json  the best monitored value so far (a resumed run compares against it)
    logs/               TensorBoard logs
    backup/             BackupAndRestore state while training runs (removed when it completes)
    .workers/<id>/      non-chief workers of a multi-worker run

Every file is written atomically (:mod:`keras_audioattn.files`); ``overwrite`` deletes only what
the package wrote (the folder's ownership manifest).
"""

from __future__ import annotations

import csv
import dataclasses
import inspect
import io
import json
import os
import warnings

import h5py
import keras

from keras_audioattn.data import load_class_names
from keras_audioattn.files import OwnedFolder, read_json, remove_stale_temporaries, write_json, write_text
from keras_audioattn.models.base import _apply_deprecated
from keras_audioattn.preset_registry import DataSettings
from keras_audioattn.validation import ArgumentError, ExistingFileArgument, MissingFileArgument, as_argument_error

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


def both_overwrite_and_resume():
    """The error of a call that asks for both a fresh start and a resumed run."""
    return ArgumentError("overwrite", "choose one of overwrite=True (start again) and resume=True (continue)",
                         mentions=("resume",), leading=False)


def _is_chief(strategy):
    """``(is this worker the chief, task id)``: the chief writes the run folder, the others
    ``.workers/<id>`` (MultiWorkerMirroredStrategy; one-machine strategies are always chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True, 0
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    cluster = resolver.cluster_spec().as_dict() if resolver.cluster_spec() else {}
    if task_type == "chief":
        return True, task_id
    return (task_type == "worker" and task_id == 0 and "chief" not in cluster), task_id


def _prepare_out(out, overwrite, resume, preset):
    """Checks / cleans the run folder. Returns the stored config when resuming, else None."""

    if overwrite and resume:
        raise both_overwrite_and_resume()
    if os.path.exists(out) and not os.path.isdir(out):
        raise ExistingFileArgument("out", f"{out} exists and is not a folder")
    folder = OwnedFolder(out)
    # Non-chief workers of a multi-worker run may already have made out/.workers.
    if folder.is_empty(ignore=(WORKERS_DIR,)):
        _prepare(folder, overwrite=False)
        folder.claim(*_OWNED, EVALUATION_FILE)
        return None
    if resume:
        config_path = os.path.join(out, CONFIG_FILE)
        if not os.path.isfile(config_path):
            raise ArgumentError("resume", f": {out} has no {CONFIG_FILE}; it is not a training run folder")
        stored = _read_config(config_path, "resume")
        if stored.get("preset") != preset:
            raise ArgumentError("resume", f": {out} holds a run of preset {stored.get('preset')!r}, not {preset!r}")
        if not stored.get("completed"):
            verify_run(out)
        folder.claim(*_OWNED, EVALUATION_FILE)  # (a run of an older version gets its manifest here)

        remove_stale_temporaries(out)
        remove_stale_temporaries(os.path.join(out, BACKUP_DIR))
        return stored
    if overwrite:
        _prepare(folder, overwrite=True)
        folder.claim(*_OWNED, EVALUATION_FILE)
        return None
    raise ExistingFileArgument("out", f"{out} exists and is not empty: pass resume=True to continue the run in it "
                                      "or overwrite=True to start again", mentions=("resume", "overwrite"))


def _prepare(folder, overwrite):
    """``OwnedFolder.prepare`` of the run folder; its refusals name the argument ``out``."""
    try:
        folder.prepare(overwrite=overwrite, what="out", ignore=(WORKERS_DIR,))
    except (ValueError, FileExistsError) as error:
        raise as_argument_error(error, "out", mentions=("overwrite",)) from None


def _write_json(path, value):
    write_json(path, value)


def _read_config(path, what):
    """The JSON object at ``path``; a damaged file raises a ValueError naming ``what`` (an
    ArgumentError when ``what`` is an argument's name, e.g. ``"resume"``)."""
    try:
        value = read_json(path, f"{what}: the run's configuration")
    except ValueError as error:
        if not what.isidentifier():
            raise
        raise as_argument_error(error, what) from None
    if not isinstance(value, dict):
        if not what.isidentifier():
            raise ValueError(f"{what}: {path} is damaged (expected a JSON object)")
        raise ArgumentError(what, f": {path} is damaged (expected a JSON object)")
    return value


def _read_state(path):
    state = read_json(path, "the best-checkpoint state")
    if not isinstance(state, dict) or not isinstance(state.get("best"), (int, float)):
        raise ArgumentError("resume", f"the best-checkpoint state {path} is damaged (no 'best' value); delete it and "
                                      f"`resume` again (the next epoch then becomes the best checkpoint)", leading=False)
    return state


def verify_run(out):
    """Checks the files ``--resume`` will load from run folder ``out`` and raises ValueError
    naming a damaged file and what to do: the best model opens, the best-checkpoint state and
    the backup state are valid JSON, the backup weights open as HDF5."""

    state_path = os.path.join(out, STATE_FILE)
    if os.path.isfile(state_path):
        _read_state(state_path)
    model_path = os.path.join(out, MODEL_FILE)
    if os.path.isfile(model_path):
        try:
            load_keras_model(model_path)
        except Exception as error:  # noqa: BLE001  (any failure to open means damaged)
            raise ArgumentError(
                "resume", f": the best checkpoint {model_path} is damaged ({type(error).__name__}: "
                f"{str(error).splitlines()[0][:200] if str(error) else ''}). Delete it and {STATE_FILE} and `resume` "
                f"again (the best epoch so far is lost), or start again with overwrite=True",
                mentions=("overwrite",)) from None
    backup = os.path.join(out, BACKUP_DIR)
    metadata_path = os.path.join(backup, "training_metadata.json")
    if os.path.isfile(metadata_path):
        try:
            metadata = read_json(metadata_path, "resume: the backup state")
        except ValueError as error:
            raise as_argument_error(error, "resume") from None
        if not isinstance(metadata, dict) or not isinstance(metadata.get("epoch"), int):
            raise ArgumentError("resume", f": the backup state {metadata_path} is damaged (no epoch); delete "
                                          f"{backup} to resume from epoch 0, or start again with overwrite=True",
                                mentions=("overwrite",))
        weights = os.path.join(backup, metadata.get("weights", "latest.weights.h5"))
        if not os.path.isfile(weights):
            raise ArgumentError("resume", f": the backup weights {weights} named by {metadata_path} are missing; "
                                          f"delete {backup} to resume from epoch 0, or start again with overwrite=True",
                                mentions=("overwrite",))
        try:

            with h5py.File(weights, "r"):
                pass
        except Exception as error:  # noqa: BLE001
            raise ArgumentError("resume", f": the backup weights {weights} are damaged ({error}); delete {backup} "
                                          f"to resume from epoch 0, or start again with overwrite=True",
                                mentions=("overwrite",)) from None


def _truncate_log(path, epochs_done):
    """Keeps the header and the rows of epochs ``< epochs_done`` of a CSV log (atomically): the
    rows of an epoch that a kill interrupted before its backup are dropped (the epoch runs again)."""

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

        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(kept)
        write_text(path, buffer.getvalue())


def _current_names(cls, model_cfg):
    """``model_cfg`` with the deprecated argument names of ``cls`` mapped to the current ones
    (a run folder written before issue 17 stores ``clip_duration``, ``num_tags``, ``input``,
    ``front_end_config``)."""
    if cls is None or not getattr(cls, "deprecated_arguments", None):
        return dict(model_cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return _apply_deprecated(cls, dict(model_cfg))
        except (TypeError, ValueError):
            return dict(model_cfg)  # both names stored: compared as they are


def _constructor_defaults(cls):
    """``{argument: default}`` of the model class or builder ``cls`` ({} for None)."""
    if cls is None:
        return {}
    return {name: p.default for name, p in inspect.signature(cls).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _check_same_run(out, stored, model_cfg, data, cls=None):
    """``--resume`` with another architecture / data setting: ValueError naming the differences.

    The stored model config is compared under the current argument names of ``cls`` (its
    deprecated aliases mapped), and the data section on the fields the data settings have now
    (a key the settings no longer have, e.g. ``recording_duration``, is ignored)."""
    fresh = json.loads(json.dumps(_current_names(cls, model_cfg), default=str))
    old = json.loads(json.dumps(_current_names(cls, stored.get("model") or {}), default=str))
    # An argument an older run did not store has the constructor's default (as loading its
    # model.keras gives), e.g. 2APAE's output_bias_init.
    for name, default in _constructor_defaults(cls).items():
        if name not in old and name in fresh:
            old[name] = json.loads(json.dumps(default, default=str))
    diffs = [f"{k}: {old.get(k)!r} -> {fresh.get(k)!r}" for k in sorted(set(old) | set(fresh))
             if old.get(k) != fresh.get(k)]
    # A key an older run did not store has the data settings' default (e.g. "batching": "pad").
    defaults = {f.name: f.default for f in dataclasses.fields(DataSettings) if f.default is not dataclasses.MISSING}
    stored_data = {**defaults, **(stored.get("data") or {})}
    fresh_data = json.loads(json.dumps(data, default=str))
    diffs += [f"data.{k}: {stored_data.get(k)!r} -> {fresh_data.get(k)!r}"
              for k in sorted(fresh_data) if stored_data.get(k) != fresh_data.get(k)]
    if diffs:
        shown = "; ".join(d[:120] for d in diffs[:4]) + (f"; and {len(diffs) - 4} more" if len(diffs) > 4 else "")
        raise ArgumentError("resume", f": the run in {out} was trained with another model/data configuration "
                                      f"({shown}). Resume with the run's own options (see "
                                      f"{os.path.join(out, CONFIG_FILE)}), or start a new run with another `out` or "
                                      f"overwrite=True", mentions=("out", "overwrite"))


def resolve_model(path, argument="model"):
    """The ``.keras`` file a model argument names: the file itself, or a run folder's.

    The one resolver behind every argument that takes a trained model (``train(teacher=,
    tagger=)``, ``evaluate`` / ``predict`` / ``export`` ``--model``, ``distill --teacher``): a
    ``.keras`` file, or a folder holding ``model.keras`` (a run folder) or exactly one ``.keras``.

    Args:
      path: file or folder.
      argument: the argument's name, for the error messages.
    Returns: the ``.keras`` path.
    Raises: MissingFileArgument (nothing there), ArgumentError (a SavedModel, no or several
      ``.keras`` files, another file type).

    Example::

        resolve_model("runs/tagger") == "runs/tagger/model.keras"
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "saved_model.pb")):
            raise ArgumentError(argument, f"{path} is a SavedModel; pass the .keras file the model was trained to")
        if os.path.isfile(os.path.join(path, MODEL_FILE)):
            return os.path.join(path, MODEL_FILE)
        candidates = sorted(f for f in os.listdir(path) if f.endswith(".keras"))
        if len(candidates) != 1:
            raise ArgumentError(argument, f"{path} holds {len(candidates)} .keras files {candidates}; pass one file "
                                          f"(or a run folder with {MODEL_FILE})")
        return os.path.join(path, candidates[0])
    if not os.path.isfile(path):
        raise MissingFileArgument(argument, f"{path}: no such folder or .keras file (a run folder, or a model file)")
    if not path.endswith(".keras"):
        raise ArgumentError(argument, f"must be a .keras file or a folder holding one, got {path}")
    return path


def load_keras_model(path, compile=False):
    """``keras.saving.load_model`` of a ``.keras`` file (or a run folder, :func:`resolve_model`).

    Every keras_audioattn class (models, layers, metrics: a compiled run's ``model.keras`` names
    ``DCASE2019Task5AUPRC`` etc.) is registered: importing this module imported the package.
    """
    return keras.saving.load_model(resolve_model(path) if os.path.isdir(path) else path, compile=compile)


def load_run(model, argument="model"):
    """``(model, config, class_names)`` of a run written by :func:`~keras_audioattn.training.train`.

    Args:
      model: the run folder, or a ``.keras`` file in one (its ``config.json`` and
        ``class_names.txt`` are read beside it).
      argument: the argument's name, for the error messages.
    """
    model_path = resolve_model(model, argument)
    model_dir = os.path.dirname(os.path.abspath(model_path))
    paths = {name: os.path.join(model_dir, name) for name in (CONFIG_FILE, CLASS_NAMES_FILE)}
    missing = [name for name, path in paths.items() if not os.path.isfile(path)]
    if missing:
        raise MissingFileArgument(argument, f"{model} is not (in) a finished training run (missing "
                                            f"{', '.join(missing)} beside {os.path.basename(model_path)})")
    config = _read_config(paths[CONFIG_FILE], f"{argument} {model}")
    try:
        network = load_keras_model(model_path)
    except Exception as error:  # noqa: BLE001  (a file that does not open is damaged)
        first = str(error).splitlines()[0][:200] if str(error) else ""
        raise ArgumentError(argument, f"{model}: {model_path} does not open ({type(error).__name__}: {first}); "
                                      f"it is damaged: train again, or `resume` the run if it was interrupted",
                            mentions=("resume",)) from None
    return network, config, load_class_names(paths[CLASS_NAMES_FILE])


__all__ = ["BACKUP_DIR", "CLASS_NAMES_FILE", "CONFIG_FILE", "EVALUATION_FILE", "LOG_FILE", "MODEL_FILE", "STATE_FILE",
           "TENSORBOARD_DIR", "WORKERS_DIR", "load_keras_model", "load_run", "resolve_model", "verify_run"]
