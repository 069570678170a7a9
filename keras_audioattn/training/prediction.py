"""Prediction with a trained run: top classes (and SED events) per audio file.

Each file is decoded only as far as the model uses it; Zhang presets go through the one
recording-level scorer of :mod:`keras_audioattn.training.evaluation`.
"""

from __future__ import annotations

import os

import numpy as np

from keras_audioattn.metrics import frame_scores_to_events
from keras_audioattn.training.arguments import ArgumentError
from keras_audioattn.training.datasets import _clip_for_model, _read, _seconds_needed
from keras_audioattn.training.evaluation import _scores, recording_scores, streamed_recording_scores
from keras_audioattn.training.run_folder import load_run

def _predict_file(model, path, config, resample):
    """Clip scores and frame scores (or None) of one file, decoding only what the model uses."""
    data = config["data"]
    if data.get("clip_overlap") is not None:
        return streamed_recording_scores(model, path, data, resample), None
    return _predict_waveform(model, _read(path, data, resample, _seconds_needed(data)), config)


def _predict_waveform(model, waveform, config):
    """Clip scores ``(classes,)`` and frame scores ``(frames, classes)`` or None for one file."""
    data = config["data"]
    if data.get("clip_overlap") is not None:
        return recording_scores(model, [waveform], data)[0], None
    clip, frame = _scores(model, _clip_for_model(waveform, data))
    return clip[0], None if frame is None else frame[0]


def predict(model_dir, files, top_k=3, threshold=0.5, resample=None, on_error="raise", callback=None):
    """Top classes (and, for SED models, events with times) per audio file.

    Each file is decoded only as far as the model uses it (the clip of fixed-duration presets;
    Zhang presets read the recording in windows), so memory does not grow with its length.

    Args:
      on_error: ``"raise"`` (default): the first bad file raises; ``"report"``: a bad file gets
        ``{"file", "error"}`` in the results and the others are still scored.
      callback: called with each result as soon as it is ready (e.g. to print it).

    Returns: a list of ``{"file", "top": [[label, score], ...], "events": [[onset, offset, label], ...]}``
    (``"events"`` only for SED presets, from the frame outputs thresholded at ``threshold``).
    """

    if on_error not in ("raise", "report"):
        raise ArgumentError("on_error", f"must be 'raise' or 'report', got {on_error!r}")
    model, config, class_names = load_run(model_dir)  # a run folder or its .keras file
    data = config["data"]
    resample = config.get("resample", False) if resample is None else resample
    results = []
    for path in files:
        try:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"audio file not found: {path}")
            clip, frame = _predict_file(model, path, config, resample)
            if not np.all(np.isfinite(clip)):
                raise ValueError(f"{path}: the model gives non-finite scores (a diverged model?)")
        except (ValueError, OSError) as error:
            if on_error == "raise":
                raise
            result = {"file": str(path), "error": str(error)}
        else:
            order = np.argsort(-clip, kind="stable")[: max(1, int(top_k))]
            result = {"file": str(path), "top": [[class_names[i], float(clip[i])] for i in order]}
            if frame is not None:
                hop = model.get_layer("log_mel").frame_step / float(data["sample_rate"])
                events = frame_scores_to_events(frame, hop, threshold=threshold, class_names=class_names)
                result["events"] = [[round(on, 3), round(off, 3), label] for on, off, label in events]
        results.append(result)
        if callback is not None:
            callback(result)
    return results


__all__ = ["predict"]
