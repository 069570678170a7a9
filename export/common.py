"""Pieces shared by the SavedModel and TFLite exporters.

Every exported artifact takes one float32 waveform ``(batch, samples)`` called ``waveform`` (or
``(batch, samples, channels)`` for a multi-channel model such as Jung et al.'s stereo
``RawWaveformASC``, taken as it is) and returns named outputs. How model outputs become output names (``scores_key``):

- a single tensor becomes ``scores``;
- a list/tuple: the first element becomes ``scores``, the others keep the model's output names;
- a dict: the entry named by ``scores_key`` becomes ``scores`` and every other entry keeps its
  key. When ``scores_key`` is None the first of ``"scores"``, ``"clip"``, ``"clipwise"``,
  ``"logits"`` present is used, else the first key in the model's output order.
"""

from __future__ import annotations

import os
import shutil

import numpy as np

SCORES = "scores"
# Most channels a (batch, samples, channels) input may have to count as a waveform (7.1 audio);
# a larger last axis is taken for a feature axis (mel bins) and refused.
MAX_WAVEFORM_CHANNELS = 8
_SCORES_KEY_CANDIDATES = ("scores", "clip", "clipwise", "logits")
# Layer classes treated as the model's signal-processing front end (kept float in int8 files).
FRONT_END_CLASSES = ("LogMelSpectrogram", "MelSpectrogram", "STFTSpectrogram", "IntervalMaxPooling",
                     "PreEmphasis")

_WRAP_HINT = (
    "Export needs a Keras model whose first input is a float32 waveform of shape (batch, samples) "
    "with the front end inside the graph. Wrap a feature-input model like this:\n"
    "    waveform = keras.Input((num_samples,), name='waveform')\n"
    "    features = keras_audioattn.layers.LogMelSpectrogram(sample_rate=16000, ...)(waveform)\n"
    "    wrapped = keras.Model(waveform, model(features))"
)


def waveform_only(model):
    """``model`` itself, or for a model with an extra per-clip ``lengths`` input that offers
    ``without_length_input()`` (``CABCNN(length_input=True)``) its waveform-only copy with the
    same weights: exported files take the waveform alone (every clip at full length)."""
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) > 1 and callable(getattr(model, "without_length_input", None)):
        return model.without_length_input()
    return model


def frame_scores_model(model, key="frame_scores"):
    """A single-output view of ``model``: waveform in, its frame-level output ``key`` out
    ``(batch, frames, classes)``, sharing the weights, for a frame-output ``.tflite``
    (``to_tflite(frame_scores_model(sed), "sed_frames.tflite", metadata=False)``; frame ``i``
    starts at ``i * frame_hop_seconds``, see :func:`export.saved_model.frame_hop_seconds`).

    Raises:
      ValueError: the model has no output named ``key``.
    """
    import keras

    model = waveform_only(model)
    names = list(getattr(model, "output_names", None) or [])
    if key not in names:
        raise ValueError(f"model {model.name!r} has no output {key!r}; outputs: {names}")
    waveform = keras.Input(shape=model.inputs[0].shape[1:], dtype="float32", name="waveform")
    view = keras.Model(waveform, model(waveform)[key], name=f"{model.name}_{key}")
    for attribute in ("sample_rate",):
        if hasattr(model, attribute):
            setattr(view, attribute, getattr(model, attribute))
    return view


def waveform_input_spec(model):
    """Returns ``num_samples`` (an int or None) of the model's waveform input, or raises ValueError.

    The input is ``(batch, samples)`` or ``(batch, samples, channels)`` with a fixed channel count
    (see :func:`waveform_channels`)."""
    import keras

    if not isinstance(model, keras.Model):
        raise ValueError(f"expected a keras.Model, got {type(model).__name__}. {_WRAP_HINT}")
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ValueError(
            f"model {model.name!r} has no symbolic inputs (a subclassed model that was never built "
            f"on keras.Input). {_WRAP_HINT}")
    if len(inputs) != 1:
        raise ValueError(f"model {model.name!r} has {len(inputs)} inputs; export supports exactly one "
                         f"waveform input. {_WRAP_HINT}")
    spec = inputs[0]
    shape = tuple(spec.shape)
    dtype = str(getattr(spec, "dtype", "float32"))
    # A rank-3 input is a waveform (batch, samples, channels) only with a fixed, small channel
    # count: (batch, frames, bins) feature inputs (16+ bins) must stay refused with the wrap hint.
    multi_channel = (len(shape) == 3 and isinstance(shape[2], (int, np.integer))
                     and 1 <= shape[2] <= MAX_WAVEFORM_CHANNELS)
    if (len(shape) != 2 and not multi_channel) or "float" not in dtype:
        raise ValueError(
            f"model {model.name!r} takes input of shape {shape} and dtype {dtype}, which is not a "
            f"waveform (batch, samples) or (batch, samples, channels <= {MAX_WAVEFORM_CHANNELS}). {_WRAP_HINT}")
    return shape[1]


def waveform_channels(model):
    """The channel count of a ``(batch, samples, channels)`` waveform input; None for ``(batch, samples)``.

    Example: ``waveform_channels(RawWaveformASC(num_channels=2, ...))`` is 2.
    """
    waveform_input_spec(model)
    shape = tuple(model.inputs[0].shape)
    return int(shape[2]) if len(shape) == 3 else None


def input_shape(num_samples, channels=None):
    """The shape of one clip without the batch axis: ``(num_samples,)`` or ``(num_samples, channels)``."""
    return (num_samples,) if channels is None else (num_samples, int(channels))


def find_sample_rate(model, sample_rate=None):
    """``sample_rate`` if given, else the model's or its front end's ``sample_rate`` attribute."""
    if sample_rate is not None:
        sample_rate = int(sample_rate)
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        return sample_rate
    for obj in [model] + list(_iter_layers(model)):
        value = getattr(obj, "sample_rate", None)
        if isinstance(value, (int, np.integer)) and value > 0:
            return int(value)
    return None


def _iter_layers(model):
    for layer in getattr(model, "layers", []):
        yield layer
        if hasattr(layer, "layers"):
            yield from _iter_layers(layer)


def front_end_layers(model, names=None):
    """The layers kept in float in int8 files: ``names`` if given, else the front-end classes."""
    layers = list(_iter_layers(model))
    if names is not None:
        by_name = {layer.name: layer for layer in layers}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ValueError(f"unknown layer names {missing}; available: {sorted(by_name)}")
        return [by_name[n] for n in names]
    return [layer for layer in layers if type(layer).__name__ in FRONT_END_CLASSES]


def output_names(model, scores_key=None):
    """The serving names of the model's outputs, in model output order (see module docstring)."""
    structure = getattr(model, "_outputs_struct", None)
    if structure is None:
        structure = model.outputs
    if isinstance(structure, dict):
        keys = list(structure.keys())
        if scores_key is None:
            scores_key = next((k for k in _SCORES_KEY_CANDIDATES if k in keys), keys[0])
        if scores_key not in keys:
            raise ValueError(f"scores_key {scores_key!r} is not an output of the model; outputs: {keys}")
        if scores_key != SCORES and SCORES in keys:
            raise ValueError(f"the model has an output named 'scores' and scores_key={scores_key!r}; "
                             f"pass scores_key='scores'")
        return {k: (SCORES if k == scores_key else k) for k in keys}
    if isinstance(structure, (list, tuple)) and len(structure) > 1:
        if scores_key is not None:
            raise ValueError("scores_key applies to models with dict outputs only")
        names = list(getattr(model, "output_names", []) or [])
        if len(names) != len(structure):
            names = [f"output_{i}" for i in range(len(structure))]
        result = {0: SCORES}
        for i in range(1, len(structure)):
            name = names[i] if names[i] != SCORES else f"output_{i}"
            result[i] = name
        return result
    return {None: SCORES}


def name_outputs(outputs, mapping):
    """Applies :func:`output_names`'s mapping to a model call result: a dict name -> tensor."""
    if None in mapping:
        if isinstance(outputs, (list, tuple)):
            outputs = outputs[0]
        if isinstance(outputs, dict):
            outputs = next(iter(outputs.values()))
        return {SCORES: outputs}
    if isinstance(outputs, dict):
        return {mapping[k]: outputs[k] for k in mapping}
    return {mapping[i]: outputs[i] for i in mapping}


def check_output_path(path, overwrite, remove=True):
    """Raises FileExistsError for an existing path unless ``overwrite``; then removes it if ``remove``."""
    path = os.fspath(path)
    if os.path.lexists(path):
        if not overwrite:
            raise FileExistsError(f"{path} already exists; pass overwrite=True (CLI: --overwrite)")
        if remove:
            replace_path(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    return path


def replace_path(path, new=None):
    """Removes ``path`` (file or folder); then moves ``new`` there when given."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)
    if new is not None:
        shutil.move(new, path)  # works across file systems (the staging folder is in /tmp)


def check_signals(num_samples, sample_rate=None, seed=0, channels=None):
    """Silence, white noise and a 440 Hz tone, float32 ``(num_samples,)`` each: the re-check inputs.

    With ``channels`` each is ``(num_samples, channels)``: the noise is independent per channel,
    the tone is the same on every channel (a centred source)."""
    rate = sample_rate or 16000
    t = np.arange(num_samples, dtype=np.float64) / rate
    rng = np.random.default_rng(seed)
    shape = input_shape(num_samples, channels)
    tone = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    if channels is not None:
        tone = np.repeat(tone[:, None], int(channels), axis=1)
    return {
        "silence": np.zeros(shape, np.float32),
        "noise": (0.1 * rng.standard_normal(shape)).astype(np.float32),
        "tone": tone.astype(np.float32),
    }


def fit_length(waveform, num_samples, channels=None):
    """Crops or zero-pads a 1-D waveform (or, with ``channels``, a ``(samples, channels)`` one) to
    ``num_samples`` along time."""
    if channels is None:
        waveform = np.asarray(waveform, np.float32).reshape(-1)
    else:
        waveform = np.asarray(waveform, np.float32).reshape(-1, int(channels))
    if waveform.shape[0] >= num_samples:
        return waveform[:num_samples]
    return np.pad(waveform, [(0, num_samples - waveform.shape[0])] + [(0, 0)] * (waveform.ndim - 1))


def representative_waveforms(data, num_samples=None, max_examples=200, sample_rate=None, channels=None):
    """Normalises ``representative_data`` into a list of 1-D float32 waveforms (``(samples,
    channels)`` ones with ``channels``).

    Accepts an array ``(n, samples)`` (``(n, samples, channels)``), a list of such clips, a
    ``tf.data.Dataset`` or any iterable of waveforms or of ``(waveform, target)`` pairs (batched
    or not), or a manifest path (CSV read by ``keras_audioattn.data.load_manifest``; with
    ``channels`` mono files are repeated on every channel, as in ``dataset_from_manifest``).
    ``num_samples`` crops/pads each waveform.
    """
    if data is None:
        return None
    if isinstance(data, (str, os.PathLike)):
        data = _manifest_waveforms(os.fspath(data), max_examples, sample_rate, channels)
    waves = []
    clip_rank = 1 if channels is None else 2
    if isinstance(data, np.ndarray):
        items = [data] if data.ndim == clip_rank else list(data)
    else:
        items = data
    for item in items:
        if isinstance(item, (tuple, list)) and len(item) and not np.isscalar(item[0]):
            item = item[0]
        if isinstance(item, dict):
            item = item.get("waveform", next(iter(item.values())))
        array = np.asarray(item, np.float32)
        if channels is None:
            rows = [array] if array.ndim == 1 else list(array.reshape(-1, array.shape[-1]))
        else:
            if array.ndim < 2 or array.shape[-1] != int(channels):
                raise ValueError(f"representative_data clips must be (samples, {int(channels)}) for a "
                                 f"{int(channels)}-channel model, got an array of shape {array.shape}")
            rows = [array] if array.ndim == 2 else list(array.reshape((-1,) + array.shape[-2:]))
        for row in rows:
            waves.append(row if num_samples is None else fit_length(row, num_samples, channels))
            if len(waves) >= max_examples:
                break
        if len(waves) >= max_examples:
            break
    if not waves:
        raise ValueError("representative_data is empty")
    for w in waves:
        if not np.all(np.isfinite(w)):
            raise ValueError("representative_data contains non-finite samples")
    return waves


def _manifest_waveforms(path, max_examples, sample_rate=None, channels=None):
    if not os.path.exists(path):
        raise FileNotFoundError(f"representative manifest {path} does not exist")
    from keras_audioattn.data import load_audio, load_manifest

    manifest = load_manifest(path)
    paths = list(manifest.paths)[:max_examples]
    if channels is None:
        return [load_audio(p, sample_rate=sample_rate)[0] for p in paths]
    from keras_audioattn.data.manifest import _to_channels

    return [_to_channels(load_audio(p, sample_rate=sample_rate, mono=False)[0], int(channels), f"{path}: {p}")
            for p in paths]
