"""Keras 3 backends for ``audioattn`` commands: choosing one, and what needs TensorFlow.

Keras fixes its backend when it is first imported (from ``KERAS_BACKEND``, else
``~/.keras/keras.json``, else TensorFlow), and importing ``keras_audioattn`` imports Keras. So
``audioattn train --backend jax`` cannot switch the process it runs in: when the backend asked
for is not the one loaded, :func:`relaunch` runs the same command again in a child process with
``KERAS_BACKEND`` set (``python -m keras_audioattn ...``) and returns its exit status. Setting
``KERAS_BACKEND=jax`` before ``audioattn`` avoids that second start-up.

Every layer and model of the package is written in ``keras.ops`` and runs on all three
backends (``tests/test_backends.py``); the data pipeline is ``tf.data``, which Keras 3 feeds to
JAX and PyTorch too. What stays TensorFlow-only in training: ``tf.distribute`` strategies
(``--strategy mirrored`` / ``multi-worker``). ``--deterministic`` applies TensorFlow's op
determinism to the data pipeline on every backend, plus ``torch.use_deterministic_algorithms``
on PyTorch (JAX on the CPU is deterministic as it is). See ``docs/backends.md``.

Example::

    from keras_audioattn import backends
    backends.current()                         # "tensorflow"
    backends.check_installed("jax")            # ValueError naming the extra when jax is missing
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

from keras_audioattn.validation import ArgumentError

BACKENDS = ("tensorflow", "jax", "torch")
#: The import name of each backend's package (the check before a relaunch).
PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
#: How a user installs each non-default backend (the package's extras).
INSTALL_HINTS = {
    "tensorflow": 'pip install "keras_audioattn"',
    "jax": 'pip install "keras_audioattn[jax]"',
    "torch": 'pip install "keras_audioattn[torch]" (CPU-only build: see docs/backends.md)',
}
#: Set in the child's environment by :func:`relaunch`, so that a child never relaunches again.
RELAUNCHED_ENV = "AUDIOATTN_RELAUNCHED_BACKEND"


def current():
    """The backend of the Keras already imported (importing Keras if needed)."""
    import keras  # deferred: Keras fixes its backend on import, and relaunch() must be able to choose it first

    return keras.backend.backend()


def _check_name(backend, flag="--backend"):
    if backend not in BACKENDS:
        raise ValueError(f"{flag}: unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def check_installed(backend, flag="--backend"):
    """Raises ValueError naming ``flag`` and the install command when ``backend`` is missing."""
    _check_name(backend, flag)
    if importlib.util.find_spec(PACKAGES[backend]) is None:
        raise ValueError(f"{flag} {backend}: the {PACKAGES[backend]} package is not installed; "
                         f"install it with {INSTALL_HINTS[backend]}")


def relaunch(backend, argv, flag="--backend"):
    """Runs ``audioattn ARGV`` under ``backend``, unless that backend is already the one loaded.

    Returns None when the current process already runs ``backend`` (go on here), else the child's
    exit status. Raises ValueError when the backend is unknown or not installed, or when a
    relaunched child still runs another backend (``KERAS_BACKEND`` overridden).
    """
    _check_name(backend, flag)
    loaded = current()
    if loaded == backend:
        return None
    if os.environ.get(RELAUNCHED_ENV):
        raise ValueError(f"{flag} {backend}: Keras still runs on {loaded} after the relaunch")
    check_installed(backend, flag)
    env = dict(os.environ, KERAS_BACKEND=backend, **{RELAUNCHED_ENV: backend})
    return subprocess.call([sys.executable, "-m", "keras_audioattn", *argv], env=env)


def check_training_options(strategy="default", deterministic=False, backend=None):
    """Validates the TensorFlow-only training options against the Keras backend in use.

    Args:
      strategy: ``tf.distribute`` strategy name (``--strategy``); only ``"default"`` (one device)
        runs on JAX and PyTorch.
      deterministic: on PyTorch also turns on ``torch.use_deterministic_algorithms`` (the
        TensorFlow op determinism of the training driver covers the ``tf.data`` pipeline on every
        backend).
      backend: default: :func:`current`.

    Returns the backend name. Raises ArgumentError (a ValueError) naming the argument ``strategy``.
    """
    backend = backend or current()
    if strategy not in (None, "default") and backend != "tensorflow":
        raise ArgumentError("strategy", f"{strategy} needs the TensorFlow backend (tf.distribute strategies); "
                                        f"Keras runs on {backend} here: drop `strategy` or use backend=tensorflow",
                            mentions=("backend",))
    if deterministic and backend == "torch":
        import torch  # deferred: an optional backend, installed only by its users

        torch.use_deterministic_algorithms(True)
    return backend


__all__ = ["BACKENDS", "INSTALL_HINTS", "PACKAGES", "check_installed", "check_training_options", "current",
           "relaunch"]
