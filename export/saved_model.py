"""SavedModel export for TensorFlow Serving.

Layout (what TF Serving's ``--model_base_path`` expects)::

    directory/                  # the model base path, e.g. models/tagger
      <version>/                # an integer version directory
        saved_model.pb
        variables/
        assets/labels.txt       # one class name per line, in score order
        assets/audioattn_export.json   # sample rate, input/output names, class count

Signature ``serving_default``: input ``waveform`` float32 ``(batch, samples)`` (``samples`` is
None when the model accepts any length), or ``(batch, samples, channels)`` for a multi-channel
model (Jung et al.'s stereo ``RawWaveformASC``; the JSON asset records ``channels``), outputs ``scores`` plus any extra model outputs under
the names described in :mod:`export.common`.

Signature ``frame_scores`` (models with a ``frame_scores`` output, e.g. the 2APAE SED model):
the same ``waveform`` input, output ``frame_scores`` ``(batch, frames, classes)``; frame ``i``
starts at ``i * frame_hop_seconds`` (the JSON asset's ``frame_hop_seconds``: the log-mel front
end's hop), so ``keras_audioattn.metrics.frame_scores_to_events(frame_scores[0],
info["frame_hop_seconds"], class_names=labels)`` gives events in seconds.
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from export.common import (check_output_path, check_signals, find_sample_rate, replace_path,
                           waveform_channels, waveform_input_spec, waveform_only)
from export.graph import backend_variables, save_module, trace_serving_function


def _check_labels(labels, num_classes=None):
    if labels is None:
        return None
    labels = [str(label) for label in labels]
    if not labels:
        raise ValueError("labels is empty")
    if any("\n" in label for label in labels):
        raise ValueError("labels must not contain newlines")
    if num_classes is not None and len(labels) != num_classes:
        raise ValueError(f"{len(labels)} labels for a model with {num_classes} output scores")
    return labels


def to_saved_model(model, directory, labels, sample_rate, version=1, scores_key=None, overwrite=False,
                   check=True, atol=1e-4):
    """Writes ``directory/<version>/`` as a TF Serving SavedModel and checks it; returns that path.

    Args:
      model: a Keras model whose first input is a float32 waveform ``(batch, samples)`` or
        ``(batch, samples, channels)``.
      directory: the model base path (created if missing).
      labels: the class names, in the order of the ``scores`` output (written to
        ``assets/labels.txt``).
      sample_rate: the sample rate in Hz the model expects (written to the JSON asset).
      version: the integer version directory.
      scores_key: for dict-output models, which output becomes ``scores`` (see
        :mod:`export.common`).
      overwrite: replace an existing version directory instead of raising FileExistsError.
      check: reload the SavedModel and compare its ``scores`` with Keras on silence, noise and a
        tone (max abs difference <= ``atol``; raises ``export.ExportCheckError`` otherwise).
    """
    model = waveform_only(model)
    num_samples = waveform_input_spec(model)
    channels = waveform_channels(model)
    sample_rate = find_sample_rate(model, sample_rate)
    if sample_rate is None:
        raise ValueError("sample_rate is required")
    if not isinstance(version, (int, np.integer)) or isinstance(version, bool) or version < 1:
        raise ValueError(f"version must be a positive integer, got {version!r}")
    # Refuse now; with overwrite=True the old version is replaced only once the new one is saved.
    path = check_output_path(os.path.join(os.fspath(directory), str(int(version))), overwrite, remove=False)

    concrete, mapping = trace_serving_function(model, None, num_samples, scores_key=scores_key, channels=channels)
    num_classes = concrete.structured_outputs["scores"].shape[-1]
    extra_signatures = _frame_signature(concrete, (None, num_samples) if channels is None
                                        else (None, num_samples, int(channels)))
    labels = _check_labels(labels, num_classes)
    with tempfile.TemporaryDirectory() as tmp:
        assets = []
        if labels is not None:
            assets.append(os.path.join(tmp, "labels.txt"))
            with open(assets[-1], "w", encoding="utf-8") as f:
                f.write("\n".join(labels) + "\n")
        info = {
            "sample_rate": sample_rate,
            "num_samples": num_samples,
            "channels": channels or 1,
            "input": "waveform",
            "outputs": sorted(concrete.structured_outputs),
            "scores_key": scores_key,
            "num_classes": num_classes,
            "model_name": model.name,
            "signatures": ["serving_default", *extra_signatures],
        }
        if extra_signatures:
            info["frame_hop_seconds"] = frame_hop_seconds(model, sample_rate)
        assets.append(os.path.join(tmp, "audioattn_export.json"))
        with open(assets[-1], "w", encoding="utf-8") as f:
            json.dump(info, f, indent=1)
        staging = os.path.join(tmp, "saved_model")
        save_module(staging, concrete, backend_variables([model]), assets, extra_signatures)
        replace_path(path, staging)

    if check:
        check_saved_model(path, model, num_samples or sample_rate, sample_rate, mapping, atol=atol,
                          channels=channels)
    return path


FRAME_SCORES = "frame_scores"


def _frame_signature(concrete, shape):
    """``{"frame_scores": function}`` returning only the frame-level scores, when the model has them."""
    import tensorflow as tf

    if FRAME_SCORES not in concrete.structured_outputs:
        return {}
    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, name="waveform")], autograph=False)
    def frames(waveform):
        return {FRAME_SCORES: concrete(waveform=waveform)[FRAME_SCORES]}

    return {FRAME_SCORES: frames.get_concrete_function()}


def frame_hop_seconds(model, sample_rate):
    """Seconds between frame-level outputs: the hop of the model's log-mel front end (layer
    ``log_mel``; the 2APAE encoder keeps the time resolution), or None when it has none."""
    try:
        front_end = model.get_layer("log_mel")
    except ValueError:
        return None
    return float(front_end.frame_step) / float(sample_rate)


def check_saved_model(path, model, num_samples, sample_rate, mapping, atol=1e-4, channels=None):
    """Reloads ``path`` and compares every named output with the Keras model on check signals
    (``(num_samples, channels)`` clips when ``channels`` is given)."""
    import tensorflow as tf

    from export.checks import ExportCheckError, compare_outputs
    from export.common import name_outputs

    signatures = tf.saved_model.load(path).signatures
    signature = signatures["serving_default"]
    batch = np.stack(list(check_signals(num_samples, sample_rate, channels=channels).values()))
    got = {k: v.numpy() for k, v in signature(waveform=tf.constant(batch)).items()}
    if FRAME_SCORES in got:
        if FRAME_SCORES not in signatures:
            raise ExportCheckError(f"SavedModel has no {FRAME_SCORES!r} signature")
        frames = signatures[FRAME_SCORES](waveform=tf.constant(batch))[FRAME_SCORES].numpy()
        compare_outputs(got[FRAME_SCORES], frames, 1e-6, f"SavedModel signature {FRAME_SCORES!r}")
    want = {k: np.asarray(v) for k, v in name_outputs(model(batch, training=False), mapping).items()}
    if set(got) != set(want):
        raise ExportCheckError(f"SavedModel outputs {sorted(got)} != expected {sorted(want)}")
    for key in want:
        compare_outputs(want[key], got[key], atol, f"SavedModel output {key!r}")
    return got
