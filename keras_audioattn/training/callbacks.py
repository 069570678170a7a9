"""Callbacks of the training driver: the one best-checkpoint + early-stopping saver, the
crash-safe backup and NaN handling.

:func:`checkpoint_callbacks` is the one best-checkpoint saver with early stopping, used by every
run, distillation included (``audioattn distill`` and ``train --teacher`` train through
:func:`keras_audioattn.training.train`): it saves the *network* (not a wrapper such as the
Distiller) whenever the monitor improves, and stops after ``patience`` epochs without one.
"""

from __future__ import annotations

import importlib.util
import os

import keras
import numpy as np

from keras_audioattn.files import NonFiniteWeightsError, all_finite, read_json, save_keras_model, save_weights, write_json
from keras_audioattn.validation import ArgumentError
from keras_audioattn.training.run_folder import BACKUP_DIR, LOG_FILE, MODEL_FILE, STATE_FILE, TENSORBOARD_DIR, _read_state

def _tensorboard_available():
    """TensorBoard logs need the tensorboard package (optional)."""
    return importlib.util.find_spec("tensorboard") is not None


def _best_saver(target, path, state_path, monitor, mode):
    """Saves ``target`` (the network, also when training runs through a wrapper such as the
    Distiller) to ``path`` whenever ``monitor`` improves; the best value persists in
    ``state_path`` so that a resumed run keeps comparing against it."""

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


def _safe_backup(backup_dir):
    """``keras.callbacks.BackupAndRestore`` made crash-safe: each epoch's weights (model and
    optimizer) go to a new file ``epoch-<n>.weights.h5`` (temporary file + rename), then
    ``training_metadata.json`` is replaced atomically to name it, then older files are deleted.
    A kill at any moment leaves a metadata file naming complete weights. Non-finite weights are
    never backed up. The folder is kept at the end (``train`` deletes it once ``config.json``
    says the run completed)."""

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
                raise ArgumentError("resume", f": the backup weights {weights} do not load ({type(error).__name__}: "
                                              f"{first}); delete {self.backup_dir} to resume from epoch 0, or start "
                                              f"again with overwrite=True", mentions=("overwrite",)) from None
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


def checkpoint_callbacks(network, work, monitor, mode, patience=None, keep="best"):
    """The best checkpoint (``work/model.keras``, monitor ``monitor`` / ``mode``) and, when
    ``patience``, early stopping on the same monitor (restoring the best weights when
    ``keep == "best"``; ``keep == "last"`` keeps the final ones, Zhang et al. 2018).

    Args:
      network: the model saved (the network also when a wrapper such as the Distiller trains).
      work: the run folder (or a worker's folder).
      monitor, mode: a ``logs`` key (``"val_micro_auprc"``) and ``"max"`` / ``"min"``.
      patience: epochs without improvement before stopping (None / 0: no early stopping).
      keep: ``"best"`` or ``"last"``.
    Returns: a list of callbacks.
    """
    if keep not in ("best", "last"):
        raise ValueError(f"the recipe's keep must be 'best' or 'last', got {keep!r}")
    callbacks = [_best_saver(network, os.path.join(work, MODEL_FILE), os.path.join(work, STATE_FILE), monitor, mode)]
    if patience:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=int(patience),
                                                       restore_best_weights=keep == "best"))
    return callbacks


def run_callbacks(work, epoch_var, network, monitor, mode, patience, keep):
    """Every callback of a run, in order; the backup commits an epoch, so it runs last."""
    callbacks = [keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs=None: epoch_var.assign(e)),
                 keras.callbacks.TerminateOnNaN(),
                 keras.callbacks.CSVLogger(os.path.join(work, LOG_FILE), append=True)]
    callbacks += checkpoint_callbacks(network, work, monitor, mode, patience, keep)
    if _tensorboard_available():
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(work, TENSORBOARD_DIR)))
    else:
        print("note: the tensorboard package is not installed; no TensorBoard logs are written")
    callbacks.append(_safe_backup(os.path.join(work, BACKUP_DIR)))
    return callbacks


def check_finite(history, network, learning_rate, mixup_alpha):
    """Raises NonFiniteWeightsError (its message names ``learning_rate`` and ``mixup_alpha``)
    when the last loss or the network's weights are not finite."""
    losses = history.history.get("loss", [])
    if (losses and not np.isfinite(losses[-1])) or not all_finite(network):
        epoch = int(history.epoch[-1]) if history.epoch else 0
        error = NonFiniteWeightsError(_diverged_message(epoch, {"loss": losses[-1] if losses else None},
                                                        float(learning_rate), mixup_alpha))
        error.arguments = ("learning_rate", "mixup_alpha", "resume", "overwrite")  # the CLI names its flags instead
        raise error


def _diverged_message(epoch, logs, learning_rate, mixup_alpha):
    return (f"training diverged in epoch {epoch + 1} (loss {logs.get('loss') if logs else 'nan'}): the weights "
            f"are not finite and were not saved ({MODEL_FILE}, if there, holds the best finite epoch). "
            f"Likely cause: a learning rate too high (learning_rate={learning_rate:g}) or a bad mix-up alpha "
            f"(mixup_alpha={mixup_alpha}); lower the learning rate and `resume` (from the last finite epoch) "
            f"or start again with overwrite=True")


__all__ = ["check_finite", "checkpoint_callbacks", "run_callbacks"]
