"""Batching variable-length clips: zero-padding with lengths, or the paper's "truncate to shortest".

Lu et al. 2020 (§4) cut every batch to its shortest clip because a Keras batch needs one
length. We keep that as an option (:func:`truncate_to_shortest`) and default to padding with a
length input (:func:`pad_waveforms`, or ``dataset_from_manifest(pad_to_batch=True,
return_lengths=True)``), which loses no audio; CAB-CNN ignores the padding exactly.

Elements handled: ``(waveform, lengths)`` or ``((waveform, lengths), target)`` batches with
``waveform (batch, samples)`` and ``lengths (batch,)`` integer valid sample counts.
"""

from __future__ import annotations

import numpy as np

#: Where :func:`fit_length` cuts a clip longer than the target: its first samples, or its middle.
CROPS = ("start", "center")


def fit_length(waveform, num_samples, crop="start"):
    """The one crop / zero-pad of the package: axis 0 (time) of a clip to ``num_samples``.

    Args:
      waveform: ``(samples,)`` or ``(samples, channels)`` array.
      num_samples: target length.
      crop: ``"start"`` keeps the first ``num_samples`` samples of a longer clip, ``"center"``
        the middle ones. A shorter clip is zero-padded at its end.
    Returns:
      ``(num_samples,)`` or ``(num_samples, channels)``, the input's dtype.

    Example::

        fit_length(np.ones(5), 3).shape == (3,); fit_length(np.ones((2, 2)), 4)[2:].sum() == 0
    """
    n, num_samples = waveform.shape[0], int(num_samples)
    if n > num_samples:
        start = 0 if crop == "start" else (n - num_samples) // 2
        return waveform[start:start + num_samples]
    if n < num_samples:
        return np.pad(waveform, [(0, num_samples - n)] + [(0, 0)] * (waveform.ndim - 1))
    return waveform


def clip_starts(num_samples, clip_samples, hop_samples):
    """Start samples of the clips a recording of ``num_samples`` is cut into (Zhang et al. 2018, §3.1).

    Clips start at ``0, hop, 2 hop, ...`` while they fit; when samples remain after the last of
    them, one more clip is aligned with the end of the recording, so every sample is covered. A
    recording no longer than one clip gives one clip at 0 (zero-padded by :func:`fit_length`).

    Example::

        clip_starts(25, 10, 5) == [0, 5, 10, 15]; clip_starts(22, 10, 5) == [0, 5, 10, 12]
    """
    if clip_samples <= 0 or hop_samples <= 0:
        raise ValueError(f"clip_samples and hop_samples must be positive, got {clip_samples}, {hop_samples}")
    if num_samples <= clip_samples:
        return [0]
    starts = list(range(0, num_samples - clip_samples + 1, hop_samples))
    if starts[-1] + clip_samples < num_samples:
        starts.append(num_samples - clip_samples)
    return starts


def split_into_clips(waveform, clip_samples, hop_samples):
    """The package's one clip cutter: ``(num_clips, clip_samples, ...)`` clips of a recording.

    Clips start at :func:`clip_starts` (every ``hop_samples`` while they fit, plus one aligned
    with the end when samples remain) and are cut / zero-padded by :func:`fit_length`. Used for
    training (Zhang presets), ``audioattn evaluate`` and
    :func:`keras_audioattn.models.predict_recording` alike.

    Args:
      waveform: ``(samples,)`` or ``(samples, channels)``.
      clip_samples, hop_samples: clip length and hop, in samples (positive).
    Returns:
      float32 ``(num_clips, clip_samples)`` or ``(num_clips, clip_samples, channels)``.

    Example::

        split_into_clips(np.arange(11.0), 4, 2)[:, 0] == [0, 2, 4, 6, 7]
    """
    waveform = np.asarray(waveform, dtype=np.float32)
    if clip_samples <= 0 or hop_samples <= 0:
        raise ValueError(f"clip_samples and hop_samples must be positive, got {clip_samples}, {hop_samples}.")
    if waveform.ndim == 0 or waveform.shape[0] == 0:
        raise ValueError("empty waveform.")
    return np.stack([fit_length(waveform[s:s + clip_samples], clip_samples)
                     for s in clip_starts(waveform.shape[0], clip_samples, hop_samples)])


def pad_waveforms(waveforms, max_samples=None, dtype="float32"):
    """Zero-pads a list of 1-D waveforms to a common length.

    Args:
      waveforms: list of 1-D arrays (or a 2-D array, returned with full lengths).
      max_samples: crop every clip to at most this many samples first (the paper's "at most the
        first T seconds"); None = no crop.
    Returns:
      ``(batch (n, longest), lengths (n,) int32)``.
    """
    if isinstance(waveforms, np.ndarray) and waveforms.ndim == 2:
        waveforms = list(waveforms)
    if len(waveforms) == 0:
        raise ValueError("pad_waveforms: no waveforms given")
    clips = []
    for i, w in enumerate(waveforms):
        w = np.asarray(w, dtype=dtype)
        if w.ndim != 1:
            raise ValueError(f"pad_waveforms: waveform {i} has shape {w.shape}, expected 1-D (samples,)")
        if max_samples is not None:
            w = fit_length(w, min(len(w), int(max_samples)))
        clips.append(w)
    lengths = np.array([len(w) for w in clips], dtype="int32")
    return np.stack([fit_length(w, int(lengths.max())) for w in clips]).astype(dtype, copy=False), lengths


def _split_element(element):
    """Returns (waveform, lengths, target or None, nested) for the two supported structures."""
    if isinstance(element, (tuple, list)) and len(element) == 2 and isinstance(element[0], (tuple, list)):
        (waveform, lengths), target = element
        return waveform, lengths, target, True
    if isinstance(element, (tuple, list)) and len(element) == 2:
        waveform, lengths = element
        return waveform, lengths, None, False
    raise ValueError("expected dataset elements (waveform, lengths) or ((waveform, lengths), target), got "
                     f"{element!r}")


def _map(dataset, fn):
    import tensorflow as tf

    spec = dataset.element_spec
    _split_element(spec)  # validates the structure with a clear error

    def apply(*args):
        element = args if len(args) > 1 else args[0]
        waveform, lengths, target, nested = _split_element(element)
        if waveform.shape.rank != 2:
            raise ValueError(f"expected batched waveforms (batch, samples), got shape {waveform.shape}")
        waveform, lengths = fn(waveform, tf.cast(lengths, tf.int32))
        return ((waveform, lengths), target) if nested else (waveform, lengths)

    return dataset.map(apply, num_parallel_calls=tf.data.AUTOTUNE)


def truncate_to_shortest(dataset):
    """Cuts every batch to its shortest clip (Lu et al. 2020, §4), on a batched tf.data.Dataset.

    Elements ``(waveform, lengths)`` or ``((waveform, lengths), target)``; afterwards every
    clip's length equals the batch's shortest one (no padding is left).
    """
    import tensorflow as tf

    def cut(waveform, lengths):
        shortest = tf.reduce_min(lengths)
        return waveform[:, :shortest], tf.fill(tf.shape(lengths), shortest)

    return _map(dataset, cut)


def crop_to_seconds(dataset, max_seconds, sample_rate):
    """Keeps at most the first ``max_seconds`` of every clip (the paper's CAB-CNN-Ts inputs)."""
    import tensorflow as tf

    if not (isinstance(max_seconds, (int, float)) and max_seconds > 0):
        raise ValueError(f"crop_to_seconds: max_seconds must be positive, got {max_seconds!r}")
    max_samples = int(round(max_seconds * sample_rate))

    def crop(waveform, lengths):
        return waveform[:, :max_samples], tf.minimum(lengths, max_samples)

    return _map(dataset, crop)


def padded_dataset(waveforms, targets=None, batch_size=128, shuffle=False, seed=0, max_samples=None):
    """A tf.data.Dataset of zero-padded batches from in-memory clips of different lengths.

    Each batch is padded only to its own longest clip. Elements are ``((waveform, lengths),
    target)`` (or ``(waveform, lengths)`` when ``targets`` is None) -- the input format of
    ``CABCNN(length_input=True)``; follow with :func:`truncate_to_shortest` for the paper's
    batching.
    """
    import tensorflow as tf

    if isinstance(waveforms, np.ndarray) and waveforms.ndim == 2:
        waveforms = list(waveforms)
    clips = [np.asarray(w, "float32")[: max_samples] if max_samples else np.asarray(w, "float32")
             for w in waveforms]
    lengths = np.array([len(w) for w in clips], "int32")
    if targets is not None:
        targets = np.asarray(targets, "float32")
        if len(targets) != len(clips):
            raise ValueError(f"padded_dataset: {len(clips)} waveforms but {len(targets)} targets")

    def gen():
        for i in range(len(clips)):
            if targets is None:
                yield clips[i], lengths[i]
            else:
                yield (clips[i], lengths[i]), targets[i]

    wave_spec = (tf.TensorSpec((None,), tf.float32), tf.TensorSpec((), tf.int32))
    spec = wave_spec if targets is None else (wave_spec, tf.TensorSpec(targets.shape[1:], tf.float32))
    ds = tf.data.Dataset.from_generator(gen, output_signature=spec)
    if shuffle:
        ds = ds.shuffle(len(clips), seed=seed, reshuffle_each_iteration=True)
    return ds.padded_batch(batch_size)
