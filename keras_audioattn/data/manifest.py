"""CSV manifests and class folders -> ``tf.data.Dataset`` of ``(waveform, target)``.

Manifest format (see ``docs/data.md``): a CSV file with a header. Required column ``path``
(absolute, or relative to the manifest's folder); ``labels`` holds the clip's labels separated
by ``;`` (one label for single-label tasks). Optional columns ``onset,offset,event_label`` give
strong labels: a row with an ``event_label`` adds one event (seconds) to the clip named by
``path``; several rows may name the same clip. A clip's labels are the union of its ``labels``
fields and its event labels, in order of first appearance.

Decoding runs :func:`keras_audioattn.data.audio.load_audio` (soundfile + SciPy resampling)
inside ``tf.numpy_function`` with ``num_parallel_calls=AUTOTUNE``: soundfile reads flac, ogg and
mp3 that TensorFlow cannot, errors keep their file names, and nothing is decoded up front (a
pre-decoded data set of 10 s clips at 32 kHz costs 1.3 MB per clip in memory; ``cache=True``
keeps that choice to the user).
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from keras_audioattn.data.audio import SUPPORTED_EXTENSIONS, AudioFileError, load_audio
from keras_audioattn.data.batching import fit_length as _fit_length  # the one crop / pad

STRONG_COLUMNS = ("onset", "offset", "event_label")
CLASS_NAMES_FILE = "class_names.txt"  # picked up by load_manifest from the manifest's folder


@dataclass
class Manifest:
    """Clips and their labels, as read from a CSV manifest or a class-folder tree.

    Attributes:
      paths: absolute file paths, one per clip.
      labels: list of label lists, one per clip (may be empty for a multi-label clip).
      class_names: the class list (given, or sorted unique labels found).
      events: per clip, a list of strong labels ``(onset_s, offset_s, label)``.
      rows: per clip, the 1-based line number in the CSV (header = line 1) of its first row,
        or ``None`` for clips that do not come from a CSV; used in error messages.
      source: the manifest file or folder the clips were read from.
    """

    paths: list
    labels: list
    class_names: list
    events: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    source: str | None = None

    def __post_init__(self):
        if not self.events:
            self.events = [[] for _ in self.paths]
        if not self.rows:
            self.rows = [None] * len(self.paths)
        if not (len(self.paths) == len(self.labels) == len(self.events) == len(self.rows)):
            raise ValueError("Manifest fields paths, labels, events and rows must have the same length")

    def __len__(self):
        return len(self.paths)

    def where(self, index):
        """Human-readable location of clip ``index`` for error messages."""
        row = self.rows[index]
        source = self.source or "manifest"
        return f"{source}, row {row}" if row is not None else f"{source}, clip {index} ({self.paths[index]})"

    def targets(self, class_names=None, multi_label=False):
        """Target matrix `(clips, classes)` float32: one-hot (``multi_label=False``) or multi-hot.

        Raises:
          ValueError: naming the row of an unknown label, or (single-label) of a clip without
            exactly one label.
        """
        class_names = list(self.class_names if class_names is None else class_names)
        index = {name: i for i, name in enumerate(class_names)}
        out = np.zeros((len(self), len(class_names)), np.float32)
        for i, clip_labels in enumerate(self.labels):
            for label in clip_labels:
                if label not in index:
                    raise ValueError(f"{self.where(i)}: unknown label {label!r} (classes: {class_names})")
                out[i, index[label]] = 1.0
            if not multi_label and len(clip_labels) != 1:
                raise ValueError(
                    f"{self.where(i)}: single-label data needs exactly one label per clip, got "
                    f"{clip_labels!r} (use multi_label=True for multi-label data)"
                )
        return out

    def check_audio(self, decode=False):
        """Checks every clip's audio before any training: the header opens and holds samples
        (cheap, ``soundfile.info``); with ``decode`` each file is also decoded, one at a time,
        and must hold only finite samples.

        Raises:
          ValueError: naming the manifest row and the file of the first bad clip.
        """
        from keras_audioattn.data.audio import audio_info

        for i, file_path in enumerate(self.paths):
            try:
                frames, _, _ = audio_info(file_path)
                if frames == 0:
                    raise AudioFileError(file_path, "zero samples (an empty recording)")
                if decode:
                    load_audio(file_path, mono=False)
            except AudioFileError as error:
                raise ValueError(f"{self.where(i)}: {error}") from None

    def subset(self, indices):
        """A new Manifest with the clips at ``indices`` (same class list)."""
        indices = list(indices)
        return Manifest(
            paths=[self.paths[i] for i in indices],
            labels=[list(self.labels[i]) for i in indices],
            class_names=list(self.class_names),
            events=[list(self.events[i]) for i in indices],
            rows=[self.rows[i] for i in indices],
            source=self.source,
        )


def _split_labels(text):
    return [part.strip() for part in (text or "").split(";") if part.strip()]


def load_manifest(path, class_names=None, check_files=True):
    """Read a CSV manifest.

    Args:
      path: the CSV file.
      class_names: a fixed class list (list of str, or a path to a file written by
        :func:`save_class_names`). Labels outside it fail with their row number. ``None``: the
        list in ``class_names.txt`` beside the manifest if there is one (so that every split of
        a corpus gets the same class order), else the sorted unique labels of the manifest.
      check_files: fail at once, with the row number, if an audio file does not exist.

    Returns:
      A :class:`Manifest`.

    Raises:
      FileNotFoundError: the manifest does not exist.
      ValueError: a malformed header or row, an unknown label or a missing audio file, naming
        the row (line number, header = 1).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    if class_names is None and (path.parent / CLASS_NAMES_FILE).is_file():
        class_names = path.parent / CLASS_NAMES_FILE
    if isinstance(class_names, (str, os.PathLike)):
        class_names = load_class_names(class_names)
    root = path.parent
    order, clips, seen_rows = [], {}, {}
    raw = path.read_bytes()
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ValueError(f"{path}, line {line}: not UTF-8 text (byte 0x{raw[error.start]:02x}); save the manifest "
                         f"as UTF-8 (e.g. Excel: 'CSV UTF-8')") from None
    with io.StringIO(text, newline="") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in (reader.fieldnames or [])]
        reader.fieldnames = header
        if "path" not in header:
            raise ValueError(f"{path}: the header must have a 'path' column, got {header}")
        has_strong = any(c in header for c in STRONG_COLUMNS)
        if has_strong and not all(c in header for c in STRONG_COLUMNS):
            raise ValueError(f"{path}: strong labels need all of the columns {STRONG_COLUMNS}, got {header}")
        if "labels" not in header and not has_strong:
            raise ValueError(f"{path}: the header needs a 'labels' column (or onset,offset,event_label)")
        for row in reader:
            row_number = reader.line_num  # the file's line number (blank lines are skipped)
            where = f"{path}, row {row_number}"
            if None in row:
                raise ValueError(f"{where}: more fields than header columns")
            file_path = (row.get("path") or "").strip()
            if not file_path:
                raise ValueError(f"{where}: empty path")
            full = os.path.normpath(file_path if os.path.isabs(file_path) else os.path.join(root, file_path))
            # A clip row repeated (same clip, same labels) is a copy-paste slip: an error. (Event rows
            # may repeat: two occurrences of one event clipped to the same bounds.)
            key = (full,) + tuple((row.get(c) or "").strip() for c in header if c != "path")
            if not (has_strong and (row.get("event_label") or "").strip()) and key in seen_rows:
                raise ValueError(f"{where}: duplicate of row {seen_rows[key]} (the same clip {file_path!r} with "
                                 f"the same fields); remove one of them")
            seen_rows[key] = row_number
            if full not in clips:
                if check_files and not os.path.isfile(full):
                    raise ValueError(f"{where}: audio file not found: {full}")
                clips[full] = {"labels": [], "events": [], "row": row_number}
                order.append(full)
            clip = clips[full]
            new_labels = _split_labels(row.get("labels"))
            event_label = (row.get("event_label") or "").strip() if has_strong else ""
            if event_label:
                try:
                    onset, offset = float(row["onset"]), float(row["offset"])
                except (TypeError, ValueError):
                    raise ValueError(
                        f"{where}: onset/offset must be numbers, got {row.get('onset')!r}, {row.get('offset')!r}"
                    ) from None
                if not (np.isfinite(onset) and np.isfinite(offset) and 0.0 <= onset < offset):
                    raise ValueError(f"{where}: need 0 <= onset < offset, got onset={onset}, offset={offset}")
                clip["events"].append((onset, offset, event_label))
                new_labels.append(event_label)
            elif has_strong and ((row.get("onset") or "").strip() or (row.get("offset") or "").strip()):
                raise ValueError(f"{where}: onset/offset given without an event_label")
            for label in new_labels:
                if class_names is not None and label not in class_names:
                    raise ValueError(f"{where}: unknown label {label!r} (classes: {list(class_names)})")
                if label not in clip["labels"]:
                    clip["labels"].append(label)
    if not order:
        raise ValueError(f"{path}: the manifest has no rows")
    labels = [clips[p]["labels"] for p in order]
    if class_names is None:
        class_names = sorted({label for clip_labels in labels for label in clip_labels})
    return Manifest(
        paths=order,
        labels=labels,
        class_names=list(class_names),
        events=[clips[p]["events"] for p in order],
        rows=[clips[p]["row"] for p in order],
        source=str(path),
    )


def write_manifest(path, paths, labels, events=None, relative_to=None):
    """Write a CSV manifest readable by :func:`load_manifest`.

    Args:
      path: output CSV.
      paths: audio file paths (written relative to the CSV's folder when inside it).
      labels: per clip a label or a list of labels.
      events: optional per clip lists of ``(onset_s, offset_s, label)``; then the file gets the
        ``onset,offset,event_label`` columns and one extra row per event.
      relative_to: folder to make paths relative to (default: the CSV's folder).

    Returns:
      ``path`` as a ``Path``.
    """
    path = Path(path)
    base = Path(relative_to) if relative_to is not None else path.parent
    strong = events is not None
    from keras_audioattn.files import atomic_write

    with atomic_write(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "labels", *STRONG_COLUMNS] if strong else ["path", "labels"])
        for i, (file_path, clip_labels) in enumerate(zip(paths, labels)):
            try:
                shown = os.path.relpath(file_path, base)
                if shown.startswith(".."):
                    shown = str(file_path)
            except ValueError:
                shown = str(file_path)
            if isinstance(clip_labels, str):
                clip_labels = [clip_labels]
            bad = [label for label in clip_labels if ";" in label or not label.strip()]
            if bad:
                raise ValueError(f"clip {i} ({file_path}): labels must be non-empty and free of ';', got {bad}")
            text = ";".join(clip_labels)
            writer.writerow([shown, text, "", "", ""] if strong else [shown, text])
            for onset, offset, label in (events[i] if strong else []):
                writer.writerow([shown, "", f"{onset:.4f}", f"{offset:.4f}", label])
    return path


def manifest_from_folder(directory, class_names=None, extensions=SUPPORTED_EXTENSIONS):
    """A :class:`Manifest` from a folder whose sub-folders are the classes.

    ``directory/<class>/**/<file>`` gets label ``<class>``; files are sorted; files whose
    extension is not an audio extension are skipped. ``class_names`` fixes the class list (and
    which sub-folders are used); by default all sub-folders, sorted.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"folder not found: {directory}")
    found = sorted(p.name for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
    if class_names is None:
        class_names = found
    if isinstance(class_names, (str, os.PathLike)):
        class_names = load_class_names(class_names)
    missing = [name for name in class_names if name not in found]
    if missing:
        raise ValueError(f"{directory}: no sub-folder for classes {missing}")
    paths, labels = [], []
    extensions = tuple(e.lower() for e in extensions)
    for name in class_names:
        for file_path in sorted((directory / name).rglob("*")):
            if file_path.is_file() and file_path.suffix.lower() in extensions:
                paths.append(str(file_path))
                labels.append([name])
    if not paths:
        raise ValueError(f"{directory}: no audio files found in class sub-folders {list(class_names)}")
    return Manifest(paths=paths, labels=labels, class_names=list(class_names), source=str(directory))


def save_class_names(path, class_names):
    """Save the class list, one name per line (``.json``: a JSON list) — keep it beside the model."""
    path = Path(path)
    names = [str(n) for n in class_names]
    if any("\n" in n or not n.strip() for n in names):
        raise ValueError("class names must be non-empty and single-line")
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate class names in {names}")
    from keras_audioattn.files import write_text

    if path.suffix.lower() == ".json":
        write_text(path, json.dumps(names, indent=1) + "\n")
    else:
        write_text(path, "\n".join(names) + "\n")
    return path


def load_class_names(path):
    """Read a class list written by :func:`save_class_names`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"class-name file not found: {path}")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        names = json.loads(text)
        if isinstance(names, dict):
            names = names.get("class_names", names.get("labels"))
        if not isinstance(names, list):
            raise ValueError(f"{path}: expected a JSON list of class names")
        return [str(n) for n in names]
    return [line.strip() for line in text.splitlines() if line.strip()]


#: The last decoding error inside a tf.data pipeline (tf.numpy_function wraps it in a TensorFlow
#: error); the CLI prints this message instead of TensorFlow's trace.
LAST_DECODE_ERROR = None


def _record_decode_error(message):
    global LAST_DECODE_ERROR
    LAST_DECODE_ERROR = message


def _to_channels(waveform, channels, where):
    """``(samples, c)`` -> ``(samples, channels)``: mono files are repeated on every channel
    (a documented fix-up); any other channel count than ``channels`` is an error."""
    if waveform.shape[1] == channels:
        return waveform
    if waveform.shape[1] == 1:
        return np.repeat(waveform, channels, axis=1)
    raise ValueError(f"{where}: the file has {waveform.shape[1]} channels, expected {channels} (or 1)")


def _common_length(manifest, sample_rate):
    """The length in samples at ``sample_rate`` shared by all clips, else a ValueError."""
    from keras_audioattn.data.audio import audio_info

    lengths = []
    for i, file_path in enumerate(manifest.paths):
        try:
            frames, file_sr, _ = audio_info(file_path)
        except AudioFileError as error:
            raise ValueError(f"{manifest.where(i)}: {error}") from None
        lengths.append(-(-frames * sample_rate // file_sr))
        if lengths[-1] != lengths[0]:
            raise ValueError(
                f"clips differ in length ({manifest.where(0)}: {lengths[0]} samples, {manifest.where(i)}: "
                f"{lengths[-1]} samples at {sample_rate} Hz): give duration= to crop/pad them, or "
                "pad_to_batch=True to pad each batch to its longest clip"
            )
    return lengths[0]


def dataset_from_manifest(
    manifest_or_path,
    class_names=None,
    sample_rate=16000,
    duration=None,
    multi_label=False,
    batch_size=32,
    shuffle=True,
    seed=0,
    cache=False,
    pad_to_batch=False,
    return_lengths=False,
    crop="start",
    num_parallel_calls=None,
    drop_remainder=False,
    shuffle_epoch=None,
    channels=None,
    max_seconds=None,
):
    """A ``tf.data.Dataset`` of ``(waveform, target)`` from a manifest.

    Args:
      manifest_or_path: a :class:`Manifest` or the path of a CSV manifest.
      class_names: fixed class list (or a class-name file); default the manifest's.
      sample_rate: every clip is resampled to this rate (Hz).
      duration: seconds; every clip is cropped (``crop``: "start" or "center") or zero-padded
        at the end to ``round(duration * sample_rate)`` samples. ``None``: keep lengths; then
        batching needs ``pad_to_batch=True`` unless all clips have the same length (checked
        from the file headers up front).
      multi_label: multi-hot targets (else one-hot; each clip must have exactly one label).
      batch_size: clips per batch; ``None`` for an unbatched data set.
      shuffle: shuffle the clips each epoch, with ``seed`` (same seed, same order).
      seed: shuffle seed.
      cache: ``True`` caches decoded clips in memory, a string caches them in that file.
      pad_to_batch: zero-pad each batch to its longest clip.
      return_lengths: elements become ``((waveform, length), target)``, ``length`` the number
        of real (unpadded) samples, int32 — for masking padded frames.
      crop: where to crop long clips when ``duration`` is set.
      num_parallel_calls: decoding parallelism (default ``tf.data.AUTOTUNE``).
      drop_remainder: drop a last, smaller batch.
      shuffle_epoch: optional integer ``tf.Variable`` holding the epoch number (set it at the
        start of each epoch, e.g. from a callback). With ``shuffle=True`` the clip order of each
        pass is then a stateless permutation keyed by ``(seed, epoch)``: the same for every
        iterator made during that epoch, however many iterators the caller creates (Keras
        under a ``tf.distribute`` strategy creates one more than without), and the same after
        a resumed run. Not with ``cache``.
      channels: ``None`` mixes every file to mono (default); an integer keeps that many channels,
        waveforms ``(batch, samples, channels)`` (mono files are repeated on every channel; other
        channel counts raise an error naming the row).
      max_seconds: decode at most the first ``max_seconds`` of each file (with ``duration`` and
        ``crop="start"`` only the first ``duration`` s are decoded anyway): memory bounded by
        the clip, not the recording.

    Returns:
      The data set: waveform float32 `(batch, samples)` (or `(batch, samples, channels)`),
      target float32 `(batch, classes)`.
      It has an attribute ``class_names``.

    Raises:
      ValueError: bad arguments; an unknown label or a missing file (naming its row). A file
        that exists but cannot be decoded raises ``tf.errors.InvalidArgumentError`` naming the
        row and the file when the data set reaches it.
    """
    if isinstance(manifest_or_path, Manifest):
        manifest = manifest_or_path
    else:
        manifest = load_manifest(manifest_or_path, class_names=class_names)
    if isinstance(class_names, (str, os.PathLike)):
        class_names = load_class_names(class_names)
    class_names = list(manifest.class_names if class_names is None else class_names)
    if not class_names:
        raise ValueError("no class names: the manifest has no labels and none were given")
    if len(manifest) == 0:
        raise ValueError("the manifest has no clips")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float, np.number))
                                 or not np.isfinite(duration) or duration <= 0):
        raise ValueError(f"duration must be > 0 seconds or None, got {duration!r}")
    if crop not in ("start", "center"):
        raise ValueError(f"crop must be 'start' or 'center', got {crop!r}")
    if shuffle_epoch is not None and cache is not False and cache is not None:
        raise ValueError("shuffle_epoch cannot be combined with cache")
    if channels is not None and (isinstance(channels, bool) or not isinstance(channels, (int, np.integer))
                                 or channels < 1):
        raise ValueError(f"channels must be a positive integer or None, got {channels!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    for i, file_path in enumerate(manifest.paths):
        if not os.path.isfile(file_path):
            raise ValueError(f"{manifest.where(i)}: audio file not found: {file_path}")
    targets = manifest.targets(class_names, multi_label=multi_label)
    num_samples = None if duration is None else int(round(duration * sample_rate))
    if batch_size is not None and duration is None and not pad_to_batch:
        # Batching without cropping or padding works only if every clip has the same length;
        # read the headers (cheap) so that a mismatch fails here, not mid-epoch.
        num_samples = _common_length(manifest, int(sample_rate))
    wheres = [manifest.where(i) for i in range(len(manifest))]
    read_seconds = max_seconds
    if num_samples is not None and duration is not None and crop == "start":
        read_seconds = num_samples / float(sample_rate)
    if read_seconds is not None:
        read_seconds = float(read_seconds) + 0.05  # a margin for the resampler's edge

    import tensorflow as tf  # only now: argument and manifest errors come without the import

    def decode(index):
        index = int(index)
        try:
            waveform, _ = load_audio(manifest.paths[index], sample_rate=int(sample_rate), mono=channels is None,
                                     duration=read_seconds)
        except AudioFileError as error:
            message = f"{wheres[index]}: {error}"
            _record_decode_error(message)
            raise ValueError(message) from None
        if channels is not None:
            waveform = _to_channels(waveform, int(channels), wheres[index])
        length = np.int32(min(waveform.shape[0], num_samples) if num_samples else waveform.shape[0])
        if num_samples is not None:
            waveform = _fit_length(waveform, num_samples, crop)
        return waveform.astype(np.float32), length

    def tf_decode(index, target):
        waveform, length = tf.numpy_function(decode, [index], (tf.float32, tf.int32), stateful=False)
        waveform.set_shape((num_samples,) if channels is None else (num_samples, int(channels)))
        length.set_shape(())
        return waveform, length, target

    parallel = tf.data.AUTOTUNE if num_parallel_calls is None else num_parallel_calls
    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(manifest), dtype=np.int64), targets))
    if cache is not False and cache is not None:
        # Decode once, cache, then shuffle the decoded clips each epoch.
        ds = ds.map(tf_decode, num_parallel_calls=parallel, deterministic=True)
        ds = ds.cache("" if cache is True else str(cache))
        if shuffle:
            ds = ds.shuffle(len(manifest), seed=seed, reshuffle_each_iteration=True)
    elif shuffle and shuffle_epoch is not None:
        # A permutation of the indices keyed by (seed, epoch), read when an iterator starts.
        all_targets = tf.constant(targets)

        def permutation(_):
            order = tf.random.experimental.stateless_shuffle(
                tf.range(len(manifest), dtype=tf.int64), seed=tf.stack([tf.constant(int(seed), tf.int64),
                                                                        tf.cast(shuffle_epoch, tf.int64)]))
            return tf.data.Dataset.from_tensor_slices((order, tf.gather(all_targets, order)))

        ds = tf.data.Dataset.from_tensors(0).flat_map(permutation)
        ds = ds.apply(tf.data.experimental.assert_cardinality(len(manifest)))
        ds = ds.map(tf_decode, num_parallel_calls=parallel, deterministic=True)
    else:
        # Shuffle the (cheap) indices before decoding.
        if shuffle:
            ds = ds.shuffle(len(manifest), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(tf_decode, num_parallel_calls=parallel, deterministic=True)

    if return_lengths:
        ds = ds.map(lambda w, n, t: ((w, n), t))
    else:
        ds = ds.map(lambda w, n, t: (w, t))
    if batch_size is not None:
        if num_samples is None:
            ds = ds.padded_batch(int(batch_size), drop_remainder=drop_remainder)
        else:
            ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    ds.class_names = class_names
    return ds


def dataset_from_folder(directory, class_names=None, **kwargs):
    """``dataset_from_manifest`` over a folder of class sub-folders (single-label, one-hot).

    Keyword arguments are those of :func:`dataset_from_manifest`.
    """
    manifest = manifest_from_folder(directory, class_names=class_names)
    return dataset_from_manifest(manifest, **kwargs)
