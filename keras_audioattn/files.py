"""Safe file writing: atomic writes and folders that know which files the tool wrote.

Two promises of the package rest on this module (``docs/training.md``, "Files and crashes"):

* **Every file is written atomically**: to a temporary file in the same folder, flushed and
  ``fsync``-ed, then renamed over the destination (``os.replace``, atomic on POSIX and Windows
  for a same-folder rename). A crash (SIGKILL, power loss) at any moment leaves either the old
  file or the new one, never half a file. Keras writes ``.keras`` / ``.h5`` by path, so
  :func:`save_keras_model` and :func:`save_weights` save to a temporary path in the same folder
  (with the extension Keras insists on) and rename.
* **Nothing a user saved is deleted**: a folder the tool writes into (a training run, a
  synthetic corpus) holds an ownership manifest, :data:`OWNED_MANIFEST`, listing the entries the
  tool wrote there. ``prepare(overwrite=True)`` deletes only those, and refuses a folder holding
  anything else, naming it (:class:`OwnedFolder`).

Example::

    from keras_audioattn.files import OwnedFolder, atomic_write, write_json

    folder = OwnedFolder("runs/cab")
    folder.prepare(overwrite=True, what="out")   # refuses a folder with foreign files
    write_json(folder.claim("config.json"), {"preset": "lu2020-cab-cnn-5s"})
    with atomic_write(folder.claim("notes.txt")) as f:
        f.write("hello\\n")
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile

import numpy as np

from keras_audioattn.validation import ArgumentError, ExistingFileArgument

#: The ownership manifest of a folder written by the tool (JSON: {"tool", "version", "owned": [...]}).
OWNED_MANIFEST = ".audioattn-owned.json"
_TMP_PREFIX = ".audioattn-tmp-"


def _fsync_dir(folder):
    """Makes a rename durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _check_target(path):
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a folder; give a file path")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"{path}: the folder {parent} does not exist")
    return path, parent


@contextlib.contextmanager
def atomic_path(path, suffix=None):
    """Yields a temporary path in ``path``'s folder; renamed onto ``path`` when the block succeeds.

    For writers that take a path (Keras, soundfile, TFLite). ``suffix``: the temporary file's
    ending (default ``path``'s extension, e.g. ``.keras``; Keras checks it). On an exception the
    temporary file is removed and ``path`` is untouched.

    Raises:
      IsADirectoryError: ``path`` is a folder.
      FileNotFoundError: ``path``'s folder does not exist (no folder is created).
    """
    path, parent = _check_target(path)
    if suffix is None:
        name = os.path.basename(path)
        suffix = ".weights.h5" if name.endswith(".weights.h5") else os.path.splitext(name)[1]
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=suffix, dir=parent)
    os.close(fd)
    os.remove(tmp)  # writers such as h5py refuse to open an existing file
    try:
        yield tmp
        if not os.path.isfile(tmp):
            raise OSError(f"{path}: the writer produced no file")
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(parent)
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_write(path, mode="w", encoding="utf-8", newline=None):
    """``open(path, mode)`` that writes a temporary file in the same folder and renames it onto
    ``path`` when the block succeeds (flushed and fsync-ed first). ``mode``: ``"w"`` or ``"wb"``."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    with atomic_path(path) as tmp:
        kwargs = {} if "b" in mode else {"encoding": encoding, "newline": newline}
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def write_text(path, text):
    """Writes ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    with atomic_write(path) as f:
        f.write(text)
    return path


def write_bytes(path, data):
    """Writes ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_write(path, "wb") as f:
        f.write(data)
    return path


def write_json(path, value, indent=2):
    """Writes ``value`` as JSON (trailing newline) to ``path`` atomically; returns ``path``."""
    return write_text(path, json.dumps(value, indent=indent) + "\n")


def read_json(path, what="file"):
    """Reads a JSON file; a missing, empty or damaged file raises ValueError naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as error:
        raise ValueError(f"{what} {path} cannot be read ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{what} {path} is damaged (not UTF-8 text)") from None
    if not text.strip():
        raise ValueError(f"{what} {path} is empty (damaged, e.g. by a crash while it was written)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{what} {path} is damaged (invalid JSON: {error})") from None


def save_keras_model(model, path):
    """``model.save(path)`` through a temporary ``.keras`` file in the same folder + rename."""
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)
    return path


def save_weights(model, path):
    """``model.save_weights(path)`` (``.weights.h5``) through a temporary file + rename."""
    with atomic_path(path, suffix=".weights.h5") as tmp:
        model.save_weights(tmp)
    return path


def all_finite(model):
    """Whether every weight of ``model`` is finite (NaN / Inf weights are never saved)."""
    for variable in model.weights:
        value = np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            return False
    return True


class NonFiniteWeightsError(ValueError):
    """Training diverged: the weights hold NaN / Inf. Raised instead of saving them."""


class OwnedFolder:
    """A folder that records, in :data:`OWNED_MANIFEST`, the entries (files or sub-folders,
    relative names) the tool wrote into it.

    Args:
      path: the folder.

    Example::

        folder = OwnedFolder("data/accents")
        folder.prepare(overwrite=True, what="out")  # deletes only what the tool wrote
        folder.claim("audio")                          # a sub-folder, owned as a whole
        write_json(folder.claim("info.json"), {...})
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self.manifest_path = os.path.join(self.path, OWNED_MANIFEST)

    # -- the manifest --------------------------------------------------------------------------
    def owned(self):
        """The owned entry names, or None when the folder has no (readable) manifest."""
        if not os.path.isfile(self.manifest_path):
            return None
        value = read_json(self.manifest_path, "ownership manifest")
        if not isinstance(value, dict) or not isinstance(value.get("owned"), list):
            raise ValueError(f"ownership manifest {self.manifest_path} is damaged (no 'owned' list)")
        return [str(name) for name in value["owned"]]

    def _write(self, names):
        from keras_audioattn.version import __version__

        write_json(self.manifest_path, {"tool": "keras_audioattn", "version": __version__,
                                        "owned": sorted(set(names))})

    def claim(self, *names):
        """Records ``names`` (relative to the folder) as written by the tool, before they are
        written (so a crash leaves them owned); returns the full path of the first name."""
        for name in names:
            if os.path.isabs(name) or os.path.normpath(name).startswith(".."):
                raise ValueError(f"owned entries are relative names inside the folder, got {name!r}")
        current = self.owned() or []
        missing = [n for n in names if n not in current]
        if missing or not os.path.isfile(self.manifest_path):
            self._write(current + list(names))
        return os.path.join(self.path, names[0]) if names else self.path

    # -- preparing the folder ------------------------------------------------------------------
    def foreign(self, ignore=()):
        """Entries of the folder that the tool did not write (relative names, sorted)."""
        owned = set(self.owned() or [])
        owned_top = {name.split("/")[0] for name in owned}
        out = []
        for entry in sorted(os.listdir(self.path)):
            if entry == OWNED_MANIFEST or entry in ignore or entry.startswith(_TMP_PREFIX):
                continue
            if entry in owned:
                continue
            if entry in owned_top:  # a folder holding owned files: look inside
                out += [f"{entry}/{rest}" for rest in self._foreign_inside(entry, owned)]
                continue
            out.append(entry)
        return out

    def _foreign_inside(self, folder, owned):
        base = os.path.join(self.path, folder)
        out = []
        for root, dirs, files in os.walk(base):
            for name in files:
                rel = os.path.relpath(os.path.join(root, name), self.path).replace(os.sep, "/")
                if rel not in owned and not any(rel.startswith(o + "/") for o in owned):
                    out.append(rel[len(folder) + 1:])
        return sorted(out)

    def is_empty(self, ignore=()):
        """No entries but ``ignore``, the package's temporary files and the ownership manifest
        (a run killed before it wrote anything else starts again as if new)."""
        return not os.path.isdir(self.path) or not [
            e for e in os.listdir(self.path)
            if e not in ignore and e != OWNED_MANIFEST and not e.startswith(_TMP_PREFIX)]

    def prepare(self, overwrite=False, what="the output folder", ignore=(), legacy_names=()):
        """Makes the folder ready for a fresh write.

        * absent or empty: created (with its parents, the path the user named);
        * not empty, ``overwrite=False``: FileExistsError;
        * ``overwrite=True``: deletes the owned entries; refuses (FileExistsError naming them)
          when the folder holds anything the tool did not write, and a folder without a
          manifest (written by an older version, or by hand) unless everything in it is one of
          ``legacy_names`` -- then the user is told how to proceed.

        ``ignore``: entry names never counted (e.g. other processes' sub-folders).
        ``what``: how messages name the folder (an argument name, e.g. ``"out"``); they name the
        switch ``overwrite=True`` (the command line renders both as flags,
        :func:`keras_audioattn.validation.as_argument_error`).
        """
        if os.path.lexists(self.path) and not os.path.isdir(self.path):
            raise FileExistsError(f"{what} {self.path} exists and is not a folder")
        if self.is_empty(ignore):
            os.makedirs(self.path, exist_ok=True)
            self._remove_stale_temporaries()
            return
        if not overwrite:
            raise FileExistsError(f"{what} {self.path} exists and is not empty")
        owned = self.owned()
        if owned is None:
            raise FileExistsError(
                f"{what} {self.path} is not empty and has no {OWNED_MANIFEST} (it was not written by this "
                f"version of audioattn, or was written by hand), so overwrite=True will not delete anything in it. "
                f"Choose a new folder, or delete it yourself after checking that nothing in it is needed.")
        foreign = self.foreign(ignore)
        if foreign:
            shown = ", ".join(os.path.join(self.path, name) for name in foreign[:5])
            more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
            raise FileExistsError(
                f"{what} {self.path} holds files audioattn did not write: {shown}{more}. overwrite=True deletes only "
                f"what audioattn wrote; move these away or choose another folder.")
        for name in owned:
            full = os.path.join(self.path, name)
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            elif os.path.lexists(full):
                os.remove(full)
        # Folders that held only owned files (e.g. audio/ of a corpus) go too, when now empty.
        for parent in sorted({os.path.dirname(n) for n in owned if "/" in n}, key=len, reverse=True):
            full = os.path.join(self.path, parent)
            with contextlib.suppress(OSError):
                os.rmdir(full)  # only when empty
        self._remove_stale_temporaries()
        self._write([])

    def _remove_stale_temporaries(self):
        """Temporary files left by a crash (only ours: the package's prefix)."""
        if not os.path.isdir(self.path):
            return
        for entry in os.listdir(self.path):
            if entry.startswith(_TMP_PREFIX):
                full = os.path.join(self.path, entry)
                if os.path.isfile(full):
                    os.remove(full)


def remove_stale_temporaries(folder):
    """Deletes temporary files the package left in ``folder`` after a crash (its own prefix only)."""
    OwnedFolder(folder)._remove_stale_temporaries()


def check_output_file(path, flag, overwrite=False):
    """Checks an output file path before any work: not a folder, its folder exists (nothing is
    created outside what the user named), and it does not exist unless ``overwrite``.

    Raises:
      ValueError / FileExistsError naming ``flag`` (the argument, e.g. ``"json_path"``) and the
      path; the switch is named ``overwrite=True``
      (:func:`keras_audioattn.validation.as_argument_error` maps both to flags).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ArgumentError(flag, f"{path} is a folder; give a file path")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ArgumentError(flag, f"{path}: the folder {parent} does not exist (create it first)")
    if os.path.lexists(path) and not overwrite:
        raise ExistingFileArgument(flag, f"{path} exists: pass overwrite=True to replace it, or choose another path",
                                   mentions=("overwrite",))
    return path


__all__ = ["OWNED_MANIFEST", "NonFiniteWeightsError", "OwnedFolder", "all_finite", "atomic_path", "atomic_write",
           "check_output_file", "read_json", "remove_stale_temporaries", "save_keras_model", "save_weights",
           "write_bytes", "write_json", "write_text"]
