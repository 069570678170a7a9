"""Evaluation of a trained run: the paper's metrics, the SVM back end, the report, and the one
recording-level scorer (:func:`recording_scores` / :func:`streamed_recording_scores`, Zhang
et al. 2018 §3.1: 1 s clips at 50 % overlap, clip scores averaged per recording).
"""

from __future__ import annotations

import math
import os

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from keras_audioattn import metrics as m
from keras_audioattn.data import load_manifest
from keras_audioattn.data.audio import AudioFileError, audio_info
from keras_audioattn.data.batching import clip_starts, split_into_clips
from keras_audioattn.data.manifest import _to_channels
from keras_audioattn.files import check_output_file
from keras_audioattn.models.code_svm import svm_back_end
from keras_audioattn.training.datasets import _channels, check_sample_rates, make_dataset
from keras_audioattn.validation import ArgumentError, ExistingFileArgument, as_argument_error
from keras_audioattn.training.run_folder import EVALUATION_FILE, _write_json, load_run, resolve_model

#: Metrics ``evaluate`` can report (the presets' ``evaluate`` lists name them).
METRIC_NAMES = ("accuracy", "classification_error", "unweighted_recall", "macro_f1", "confusion_matrix",
                "average_precision_micro", "average_precision_macro", "roc_auc_macro",
                "dcase2019_task5_auprc_micro", "dcase2019_task5_auprc_macro")


def _metric_table():
    """Metrics printed by ``evaluate``: name -> fn(y_true, y_score, class_names)."""
    labels = lambda c: list(range(len(c)))  # noqa: E731
    return {
        "accuracy": lambda t, s, c: m.accuracy(t, s),
        "classification_error": lambda t, s, c: m.classification_error(t, s),
        "unweighted_recall": lambda t, s, c: m.unweighted_recall(t, s, labels=labels(c)),
        "macro_f1": lambda t, s, c: m.macro_f1(t, s, labels=labels(c)),
        "confusion_matrix": lambda t, s, c: m.confusion_matrix(t, s, labels=labels(c)).tolist(),
        "average_precision_micro": lambda t, s, c: m.average_precision(t, s, average="micro"),
        "average_precision_macro": lambda t, s, c: m.average_precision(t, s, average="macro"),
        "roc_auc_macro": lambda t, s, c: m.roc_auc(t, s, average="macro"),
        "dcase2019_task5_auprc_micro": lambda t, s, c: m.dcase2019_task5_auprc(t, s, average="micro"),
        "dcase2019_task5_auprc_macro": lambda t, s, c: m.dcase2019_task5_auprc(t, s, average="macro"),
    }


def _scores(model, inputs):
    """``(clip scores, frame scores or None)`` of one batch, through the compiled predict step."""
    if isinstance(inputs, tuple):
        inputs = list(inputs)
    out = model.predict_on_batch(inputs)
    if isinstance(out, dict):  # SED models: clip and frame outputs (new names first, issue 17)
        clip = out["scores"] if "scores" in out else out["clip"]
        frame = out["frame_scores"] if "frame_scores" in out else out["frame"]
        return np.asarray(clip), np.asarray(frame)
    return np.asarray(out), None


def score_dataset(model, dataset):
    """``(targets, clip scores)`` of every batch of a ``(x, y)`` dataset, as NumPy arrays.

    Example::

        y_true, y_score = score_dataset(model, make_dataset(manifest, class_names, data, task, 32))
    """
    targets, scores = [], []
    for x, y in dataset:
        scores.append(_scores(model, x)[0])
        targets.append(np.asarray(y))
    return np.concatenate(targets), np.concatenate(scores)


def recording_scores(model, waveforms, data, batch_size=64):
    """Zhang et al. §3.1 for many recordings at once: each cut into ``data["duration"]`` s clips
    with ``data["clip_overlap"]`` (:func:`~keras_audioattn.data.batching.clip_starts`), every
    clip scored in one compiled ``model.predict``, clip scores averaged per recording."""

    clip = int(round(int(data["sample_rate"]) * float(data["duration"])))
    hop = max(1, int(round(clip * (1.0 - float(data["clip_overlap"])))))
    clips = [split_into_clips(w, clip, hop) for w in waveforms]
    scores = model.predict(np.concatenate(clips), batch_size=batch_size, verbose=0)
    bounds = np.cumsum([0] + [c.shape[0] for c in clips])
    return np.stack([scores[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:])])


#: Clips scored per model call when a long recording is read in windows (Zhang presets).
STREAM_CLIPS = 256


def _resample_plan(file_rate, sample_rate):
    """``(up, down, margin)`` of ``resample_poly`` from ``file_rate`` to ``sample_rate`` (reduced by
    their gcd); ``margin``: input samples each side that reach one output sample (the FIR's
    half length, ``10 * max(up, down)`` upsampled taps, in input samples, plus 2)."""
    g = math.gcd(int(file_rate), int(sample_rate))
    up, down = int(sample_rate) // g, int(file_rate) // g
    return up, down, -(-10 * max(up, down) // up) + 2


def _read_resampled(handle, first, end, frames, plan, channels, path):
    """Output samples ``[first, end)`` of ``load_audio(..., sample_rate=...)`` on the whole file,
    computed from an input segment only: the segment starts at a multiple of ``down`` (so its
    output grid is the whole file's, with the same polyphase taps) and reaches ``margin`` input
    samples beyond the FIR's support of ``[first, end)`` each side (so no output sample used sees
    the segment's zero padding). Measured equal to the whole-file result bit for bit (tested to 1e-6)."""
    up, down, margin = plan
    start = max(0, (first * down) // up - margin)
    start -= start % down
    stop = min(frames, -(-end * down // up) + margin)
    block = _read_block(handle, start, stop, channels, path, rate=handle.samplerate)
    out = _resample_block(block, up, down)
    offset = start * up // down
    return out[first - offset:end - offset]


def _resample_block(block, up, down):
    """``resample_poly`` along time in float64, as :func:`keras_audioattn.data.audio.resample`."""

    return resample_poly(np.asarray(block, np.float64), up, down, axis=0).astype(np.float32)


def _read_block(handle, first, end, channels, path, rate):
    """Samples ``[first, end)`` of an open soundfile: ``(samples,)`` mixed to mono as
    :func:`load_audio` does when ``channels == 1``, else ``(samples, channels)`` (mono files
    repeated on every channel); non-finite samples raise AudioFileError naming the file."""

    handle.seek(first)
    block = handle.read(frames=end - first, dtype="float32", always_2d=True)
    if not np.all(np.isfinite(block)):
        raise AudioFileError(path, f"non-finite samples (NaN or Inf) between {first / rate:.1f} s and "
                                   f"{end / rate:.1f} s")
    if channels == 1:
        return block.mean(axis=1, dtype=np.float32)
    return _to_channels(block, channels, str(path))


def streamed_recording_scores(model, path, data, resample=False, clips_per_call=STREAM_CLIPS):
    """:func:`recording_scores` of one file, read in windows of ``clips_per_call`` clips with
    soundfile (seek + read): memory is bounded by the window, not the recording's length. The
    clips, and so the scores, are those of :func:`recording_scores` on the whole recording.

    Multi-channel runs (``data["channels"]`` > 1) read ``(frames, channels)`` blocks (mono files
    repeated on every channel, as :func:`_read`). A file at another rate with ``resample`` is
    resampled window by window with ``scipy.signal.resample_poly`` (the filter of
    :func:`keras_audioattn.data.audio.resample`), each window read with enough input margin that
    its samples equal the whole-file resampling (measured max |diff| of the samples: 0, i.e.
    bit-identical, for 44.1/48/22.05/8 kHz -> 16 kHz; scores within 1e-5 of the whole-file
    path, tested).

    Returns: clip-averaged scores ``(classes,)``.
    Raises: AudioFileError naming the file (unreadable, zero or non-finite samples).
    """

    sr = int(data["sample_rate"])
    channels = _channels(data)
    frames, rate, _ = audio_info(path)
    plan = None
    if int(rate) != sr:
        if not resample:
            raise ArgumentError("resample", f"{path}: sample-rate mismatch: the file is at {rate} Hz, the model "
                                            f"expects {sr} Hz (pass resample=True to resample it)", leading=False)
        plan = _resample_plan(rate, sr)
    if frames == 0:
        raise AudioFileError(path, "zero samples")
    # Length of the signal the clips are cut from (load_audio's resampled length: ceil).
    length = frames if plan is None else -(-frames * plan[0] // plan[1])
    clip = int(round(sr * float(data["duration"])))
    hop = max(1, int(round(clip * (1.0 - float(data["clip_overlap"])))))
    starts = clip_starts(length, clip, hop)
    total, count = None, 0
    try:
        with sf.SoundFile(path) as handle:
            for i in range(0, len(starts), int(clips_per_call)):
                chunk = starts[i:i + int(clips_per_call)]
                first, end = chunk[0], min(chunk[-1] + clip, length)
                if plan is None:
                    block = _read_block(handle, first, end, channels, path, rate=sr)
                else:
                    block = _read_resampled(handle, first, end, frames, plan, channels, path)
                pad = [(0, max(0, chunk[-1] + clip - first - block.shape[0]))] + [(0, 0)] * (block.ndim - 1)
                block = np.pad(block, pad)
                batch = np.stack([block[s - first:s - first + clip] for s in chunk])
                scores = np.asarray(model.predict_on_batch(batch), np.float64)
                total = scores.sum(axis=0) if total is None else total + scores.sum(axis=0)
                count += scores.shape[0]
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioFileError(path, f"unreadable or corrupt audio ({error})") from None
    return (total / count).astype(np.float32)


def evaluate(model_dir, data_manifest, json_path=None, overwrite=False, resample=None, batch_size=None,
             verbose=True):
    """The paper's metrics of a trained run on a manifest; written as JSON.

    ``model_dir``: the run folder, or its ``.keras`` file (:func:`resolve_model`).
    ``json_path`` defaults to ``evaluation.json`` in the run folder; an existing file is only replaced
    with ``overwrite=True``. ``resample`` defaults to the run's setting. Metrics undefined on
    these data (e.g. a class without positives) are ``null`` with the reason under
    ``"undefined"``. Zhang presets score recordings (1 s clips, 50 % overlap, averaged, §3.1).

    Returns: the report dict (also written).
    """

    folder = os.path.dirname(os.path.abspath(resolve_model(model_dir)))  # a run folder or its .keras file
    json_path = os.path.join(folder, EVALUATION_FILE) if json_path is None else json_path
    if os.path.exists(json_path) and not overwrite:
        raise ExistingFileArgument("json_path", f"{json_path} exists: pass overwrite=True to replace it, or "
                                                f"`json_path` to write elsewhere", mentions=("overwrite",), leading=False)
    try:
        check_output_file(json_path, "json_path", overwrite=True)  # a folder, or a missing parent: now
    except ValueError as error:
        raise as_argument_error(error, "json_path") from None
    model, config, class_names = load_run(model_dir)
    data = config["data"]
    resample = config.get("resample", False) if resample is None else resample
    manifest = load_manifest(data_manifest, class_names=class_names)
    manifest.check_audio()
    check_sample_rates(manifest, data["sample_rate"], resample, "evaluation data")
    y_true = manifest.targets(class_names, multi_label=data["multi_label"])

    if data.get("clip_overlap") is not None:
        # Recording by recording, each read in windows (any channel count, resampled window by
        # window with --resample): memory does not grow with the length.
        scores = []
        for i, path in enumerate(manifest.paths):
            try:
                scores.append(streamed_recording_scores(model, path, data, resample))
            except ArgumentError as error:  # the arguments it names stay named (the CLI's flags)
                raise ArgumentError(error.argument, f"{manifest.where(i)}: {error}", error.arguments[1:],
                                    leading=False) from None
            except ValueError as error:
                raise ValueError(f"{manifest.where(i)}: {error}") from None
        scores = np.stack(scores)
    else:
        per_replica = batch_size or config["training"].get("batch_size_per_replica", 32)
        ds = make_dataset(manifest, class_names, data, config["task"], per_replica)
        scores = score_dataset(model, ds)[1]

    table = _metric_table()
    values, undefined = {}, {}
    for name in config["evaluate"]:
        try:
            values[name] = table[name](y_true, scores, class_names)
        except ValueError as error:
            values[name], undefined[name] = None, str(error)
    back_end = None
    if (config.get("training") or {}).get("back_end") and data.get("clip_overlap") is None:
        # Jung et al. 2020 §2.1: the paper's accuracy is an SVM's on the code, fit on the training codes.
        back_end = _svm_back_end(model, config, class_names, ds, resample, per_replica)
        values["svm_accuracy"] = back_end.pop("svm_accuracy")
        if "error" in back_end:
            undefined["svm_accuracy"] = back_end["error"]
    report = {"preset": config["preset"], "model": os.path.abspath(model_dir), "data": os.path.abspath(data_manifest),
              "num_clips": len(manifest), "class_names": class_names, "metrics": values, "undefined": undefined,
              "level": "recording" if data.get("clip_overlap") is not None else "clip"}
    if back_end is not None:
        report["back_end"] = back_end
    _write_json(json_path, report)
    if verbose:
        print(format_report(report))
        print(f"wrote {json_path}")
    return report


def _svm_back_end(model, config, class_names, test_ds, resample, batch_size):
    """SVM accuracy on the code of a run whose recipe names a ``back_end`` (Jung et al.): the SVM is
    fit on the codes of the run's training manifest (no shuffling, no mix-up). Returns the
    :func:`~keras_audioattn.models.code_svm.svm_back_end` dict, with ``svm_accuracy`` None and an
    ``error`` when it cannot be computed (training manifest moved, no code layer, one class)."""

    spec = config["training"]["back_end"]
    kernel = spec.get("svm_kernel", "rbf") if isinstance(spec, dict) else "rbf"
    source = config.get("train_manifest")
    out = {"kernel": kernel, "fit_on": source}
    if not source or not os.path.isfile(source):
        return {**out, "svm_accuracy": None,
                "error": f"the run's training manifest {source!r} (config.json 'train_manifest', relative to the "
                         f"folder training ran in) is not found: run evaluate from that folder, or fix the path"}
    try:
        train_manifest = load_manifest(source, class_names=class_names)
        check_sample_rates(train_manifest, config["data"]["sample_rate"], resample, "training data of the SVM")
        train_ds = make_dataset(train_manifest, class_names, config["data"], config["task"], batch_size)
        result = svm_back_end(model, train_ds, test_ds, kernel=kernel)
    except ValueError as error:
        return {**out, "svm_accuracy": None, "error": str(error)}
    return {**out, **result}


def format_report(report):
    """The report of :func:`evaluate` as text (one metric a line, the confusion matrix as a table)."""
    lines = [f"{report['preset']} on {report['num_clips']} clips ({report['data']}):"]
    names = report["class_names"]
    for name, value in report["metrics"].items():
        if value is None:
            lines.append(f"  {name}: undefined ({report['undefined'][name]})")
        elif name == "confusion_matrix":
            width = max(len(n) for n in names)
            lines.append("  confusion_matrix (rows: actual, columns: predicted):")
            lines.append("    " + " " * width + " " + " ".join(f"{n[:8]:>8}" for n in names))
            for n, row in zip(names, value):
                lines.append(f"    {n:>{width}} " + " ".join(f"{int(v):>8d}" for v in row))
        else:
            lines.append(f"  {name}: {value:.4f}")
    back_end = report.get("back_end")
    if back_end and back_end.get("num_train_clips"):
        lines.append(f"  (accuracy: the network's softmax; svm_accuracy: {back_end['kernel']} SVM on the "
                     f"{back_end['code_dim']}-d code, fit on {back_end['num_train_clips']} training clips -- "
                     f"the paper's metric)")
    return "\n".join(lines)


__all__ = ["METRIC_NAMES", "STREAM_CLIPS", "evaluate", "format_report", "recording_scores",
           "streamed_recording_scores"]
