"""Data of the training driver: a preset's data settings, the tf.data pipeline, one file as model input.

Crop / pad is :func:`keras_audioattn.data.batching.fit_length` everywhere (manifest decoding,
inference here); mix-up is :mod:`keras_audioattn.data.mixup`. TensorFlow (tf.data) is the data
pipeline on every Keras backend; the models stay backend-agnostic.
"""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np

import keras_audioattn.models  # noqa: F401  (each paper folder registers its presets)
from keras_audioattn import preset_registry
from keras_audioattn.data import crop_to_seconds, dataset_from_manifest, load_audio, truncate_to_shortest
from keras_audioattn.data.audio import AudioFileError, audio_info
from keras_audioattn.data.batching import clip_starts, fit_length, split_into_clips
from keras_audioattn.data.manifest import _to_channels
from keras_audioattn.data.mixup import mixup_dataset
from keras_audioattn.preset_registry import Preset
from keras_audioattn.training.arguments import ArgumentError



def _typed_preset(preset):
    """The registry's :class:`~keras_audioattn.preset_registry.Preset` of ``preset`` (a Preset, a
    name, or the plain-dict view of ``presets.get_preset``, which carries its name)."""
    if isinstance(preset, Preset):
        return preset
    if isinstance(preset, dict):
        preset = preset["name"]
    return preset_registry.get(preset)


def resolve_data(settings, sample_rate=None, duration=None, channels=None):
    """``settings`` (:class:`DataSettings`) with the ``sample_rate`` / ``duration`` / ``channels``
    overrides of a run (``dataclasses.replace``), each checked (ArgumentError naming it)."""
    changes = {}
    if sample_rate is not None:
        changes["sample_rate"] = int(sample_rate)
    if duration is not None:
        changes["duration"] = float(duration)
    if channels is not None:
        if isinstance(channels, bool) or int(channels) != channels or channels < 1:
            raise ArgumentError("channels", f"must be a positive integer, got {channels!r}")
        changes["channels"] = int(channels)
    return dataclasses.replace(settings, **changes)


def data_dict(settings):
    """The data section the pipeline, evaluation and prediction read (``config.json["data"]``):
    each :class:`DataSettings` field by name (a field added there must be added here, where
    the driver reads it; tests/test_training.py checks every field reaches the driver)."""
    return {"sample_rate": int(settings.sample_rate),
            "duration": None if settings.duration is None else float(settings.duration),
            "channels": int(settings.channels), "multi_label": bool(settings.multi_label),
            "batching": settings.batching, "max_seconds": settings.max_seconds,
            "clip_overlap": settings.clip_overlap}


def data_settings(preset, sample_rate=None, duration=None, channels=None):
    """The data section (:func:`data_dict`) of ``preset`` (a name, a Preset or the plain-dict
    view) with ``sample_rate`` / ``duration`` / ``channels`` overrides."""
    return data_dict(resolve_data(_typed_preset(preset).data, sample_rate, duration, channels))


def _sync_model_config(cls, config, data, fixed_length=False):
    """Makes the model's input agree with the data: sample rate, channels and, for a family
    trained at a fixed length (``PresetFamily.fixed_length``), ``num_samples`` = the data's clip
    length ``round(duration * sample_rate)``."""
    params = inspect.signature(cls).parameters  # a class or a builder function
    if "sample_rate" in params:
        config["sample_rate"] = int(data["sample_rate"])
    if fixed_length and data.get("duration") is not None:
        config["num_samples"] = int(round(float(data["duration"]) * int(data["sample_rate"])))
    if "num_channels" in params:
        config["num_channels"] = _channels(data)
    return config


def _channels(data):
    """Channels the model hears: the data section's ``channels`` (Jung 2020: stereo), else mono."""
    return int(data.get("channels") or 1)


def check_sample_rates(manifest, sample_rate, resample=False, what="data"):
    """Raises ValueError when files of ``manifest`` are not at ``sample_rate`` (unless ``resample``)."""

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
        raise ArgumentError(
            "resample",
            f"sample-rate mismatch: {sum(len(v) for v in wrong.values())} of {len(manifest)} files of the {what} "
            f"are not at {sample_rate} Hz, the rate this preset/model expects (e.g. {manifest.where(indices[0])} "
            f"is at {rate} Hz). Pass resample=True to resample them while reading, or "
            f"sample_rate={rate} to build the model for the data's rate.", mentions=("sample_rate",), leading=False)


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
      recipe) mixes the clips of each batch (:func:`keras_audioattn.data.mixup.mixup_dataset`).
    """
    import tensorflow as tf  # deferred: TensorFlow only once a pipeline is built

    sr = int(data["sample_rate"])
    common = dict(class_names=class_names, sample_rate=sr, multi_label=bool(data["multi_label"]),
                  shuffle=shuffle, seed=seed, shuffle_epoch=epoch if shuffle else None,
                  channels=_channels(data) if _channels(data) > 1 else None)
    if data.get("clip_overlap") is not None and data.get("duration"):
        clip = int(round(sr * float(data["duration"])))
        hop = max(1, int(round(clip * (1.0 - float(data["clip_overlap"])))))
        ds = dataset_from_manifest(manifest, duration=None, batch_size=None, **common)

        def expand(waveform, target):
            # The clips evaluation and prediction cut too (split_into_clips: the end-aligned last clip included).
            frames = tf.numpy_function(lambda w: split_into_clips(w, clip, hop), [waveform], tf.float32,
                                       stateful=False)
            frames = tf.ensure_shape(frames, [None, clip, *waveform.shape[1:]])
            targets = tf.repeat(target[None, :], tf.shape(frames)[0], axis=0)
            return tf.data.Dataset.from_tensor_slices((frames, targets))

        ds = ds.flat_map(expand)
        # Known cardinality (from the file headers): Keras then knows the epoch's length.
        total = sum(len(clip_starts(max(n, 1), clip, hop)) for n in _lengths(manifest, sr))
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
    return mixup_dataset(ds, mixup_alpha, seed, epoch) if mixup_alpha else ds


def _lengths(manifest, sample_rate):
    """Lengths in samples at ``sample_rate`` of a manifest's files (from their headers)."""

    out = []
    for path in manifest.paths:
        frames, rate, _ = audio_info(path)
        out.append(-(-frames * int(sample_rate) // int(rate)))
    return out


def _clip_for_model(waveform, data):
    """One decoded file as the model's input batch (inference)."""
    waveform = np.asarray(waveform, np.float32)
    if data.get("duration") is None:
        if data.get("max_seconds"):
            limit = int(round(data["max_seconds"] * data["sample_rate"]))
            waveform = fit_length(waveform, min(limit, waveform.shape[0]))
        return [waveform[None, :], np.array([waveform.shape[0]], np.int32)]
    n = int(round(float(data["duration"]) * int(data["sample_rate"])))
    return fit_length(waveform, n)[None, :]  # (1, samples) or (1, samples, channels)


def _read(path, data, resample, seconds=None):
    channels = _channels(data)
    waveform, rate = load_audio(path, sample_rate=int(data["sample_rate"]) if resample else None, mono=channels == 1,
                                duration=seconds)
    if int(rate) != int(data["sample_rate"]):
        raise ArgumentError("resample", f"{path}: sample-rate mismatch: the file is at {rate} Hz, the model expects "
                                        f"{data['sample_rate']} Hz (pass resample=True to resample it)", leading=False)
    return waveform if channels == 1 else _to_channels(waveform, channels, str(path))


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


__all__ = ["check_sample_rates", "data_dict", "data_settings", "make_dataset", "resolve_data"]
