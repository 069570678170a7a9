"""``audioattn stream``: run a streaming .tflite over a file chunk by chunk, as a microphone would.

    audioattn stream --model student_stream.tflite recording.wav [--chunk 0.1] [--plot out.png]

The model is a file written by ``export.to_streaming_tflite`` (either state style). The file is
read at the model's sample rate (from its metadata; ``--sample-rate`` otherwise) and fed in
buffers of ``--chunk`` seconds (default: the model's chunk; a multiple of it feeds several model
chunks per buffer, as a microphone driver with a larger buffer would). A tag is reported when its
score rises above ``--threshold`` (onset) and when it falls back below it (offset), with the time
of the end of the buffer that showed it. At the end: real-time factor (processing time / audio
duration) and per-buffer latency (CPU time of ``invoke``, 1 thread). A last partial buffer is
zero-padded.
"""

from __future__ import annotations

import os
import time

import numpy as np

from keras_audioattn.data import load_audio
from keras_audioattn.training.arguments import ArgumentError


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "stream", help="tag a file chunk by chunk with a streaming .tflite (timestamped detections)",
        description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="audio file (wav, flac, ogg, mp3)")
    parser.add_argument("--model", required=True, help="streaming .tflite (export.to_streaming_tflite)")
    parser.add_argument("--chunk", type=float, default=None,
                        help="seconds per buffer (default: the model's chunk; must be a multiple of it)")
    parser.add_argument("--threshold", type=float, default=0.5, help="detection threshold (default 0.5)")
    parser.add_argument("--labels", help="class names file, one per line (default: the model's metadata)")
    parser.add_argument("--sample-rate", type=int, help="Hz, for files without metadata (default 16000)")
    parser.add_argument("--plot", help="write a PNG of the scores over time under the spectrogram")
    parser.add_argument("--threads", type=int, default=1, help="LiteRT threads (default 1)")
    parser.set_defaults(func=run)
    return parser


def _model_info(path, labels_file, sample_rate):
    """``(labels or None, sample rate)``: --labels, else the model's metadata or a .labels.txt beside it."""
    from export.metadata import read_metadata  # deferred: the export stack, as in run()

    labels, rate = None, None
    try:
        meta = read_metadata(path)
        labels, rate = meta.get("labels"), meta.get("sample_rate")
    except Exception:  # noqa: BLE001 (no metadata: external-state files)
        pass
    side = os.path.splitext(path)[0] + ".labels.txt"
    if labels_file:
        if not os.path.isfile(labels_file):
            raise FileNotFoundError(f"--labels {labels_file} does not exist")
        labels = open(labels_file, encoding="utf-8").read().split("\n")
    elif labels is None and os.path.isfile(side):
        labels = open(side, encoding="utf-8").read().split("\n")
    labels = [x.strip() for x in labels if x.strip()] if labels else None
    return labels, int(sample_rate or rate or 16000)


def run(args):
    """Streams the file through the model buffer by buffer, printing onsets and offsets."""
    # Deferred: the export stack (LiteRT runner) loads only when this command runs, not for
    # every `audioattn` command whose parser this module builds.
    from export.streaming import StreamingRunner

    if not os.path.isfile(args.model):
        raise FileNotFoundError(f"--model {args.model} does not exist")
    if not 0.0 < args.threshold < 1.0:
        raise ArgumentError("threshold", f"must be in (0, 1), got {args.threshold}")
    try:
        runner = StreamingRunner(args.model, num_threads=args.threads)
    except ValueError as error:
        raise ValueError(f"--model {args.model}: {error}") from None
    labels, rate = _model_info(args.model, args.labels, args.sample_rate)
    waveform, rate = load_audio(args.file, sample_rate=rate)
    model_chunk = runner.chunk_samples
    buffer = model_chunk if args.chunk is None else int(round(args.chunk * rate))
    if buffer <= 0 or buffer % model_chunk:
        raise ValueError(f"--chunk {args.chunk}: this model takes chunks of {model_chunk / rate:g} s "
                         f"({model_chunk} samples); use a multiple of that")
    padded = -(-len(waveform) // buffer) * buffer
    waveform = np.pad(waveform, (0, padded - len(waveform)))
    num_classes = None
    active, times, scores_log, onsets = None, [], [], []
    print(f"streaming {args.file}: {len(waveform) / rate:.2f} s at {rate} Hz, buffers of "
          f"{buffer / rate * 1000:g} ms ({buffer // model_chunk} model chunk(s) each)")
    wall = time.perf_counter()
    for start in range(0, padded, buffer):
        t0 = time.thread_time()
        for sub in range(start, start + buffer, model_chunk):
            scores = runner.push(waveform[sub:sub + model_chunk])
        times.append((time.thread_time() - t0) * 1000.0)
        now = (start + buffer) / rate
        if num_classes is None:
            num_classes = len(scores)
            if labels is not None and len(labels) != num_classes:
                raise ValueError(f"{len(labels)} labels for a model with {num_classes} scores")
            labels = labels or [f"class_{i}" for i in range(num_classes)]
            active = np.zeros(num_classes, bool)
        scores_log.append(scores)
        above = scores >= args.threshold
        for k in np.flatnonzero(above & ~active):
            print(f"{now:8.2f} s  onset   {labels[k]:<20s} {scores[k]:.3f}", flush=True)
            onsets.append((now, labels[k]))
        for k in np.flatnonzero(~above & active):
            print(f"{now:8.2f} s  offset  {labels[k]:<20s} {scores[k]:.3f}", flush=True)
        active = above
    wall = time.perf_counter() - wall
    duration = padded / rate
    cpu = float(np.sum(times)) / 1000.0
    print(f"{len(onsets)} detection(s); real-time factor {cpu / duration:.4f} (CPU) / {wall / duration:.4f} (wall); "
          f"per-buffer latency median {np.median(times):.3f} ms, p90 {np.percentile(times, 90):.3f} ms, "
          f"max {np.max(times):.3f} ms")
    if args.plot:
        _plot(args.plot, waveform, rate, np.stack(scores_log), buffer, labels, args.threshold)
        print(f"wrote {args.plot}")
    return 0


def _plot(path, waveform, rate, scores, buffer, labels, threshold):
    """Log spectrogram on top, scores over time below; written atomically (temp file + rename)."""
    import matplotlib  # deferred: matplotlib only with --plot

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_fft, hop = 512, 160
    frames = 1 + max(0, len(waveform) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    spec = np.abs(np.fft.rfft(waveform[idx] * np.hanning(n_fft), axis=1)) ** 2
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    top.imshow(np.log(spec.T + 1e-10), origin="lower", aspect="auto", cmap="magma",
               extent=[0, len(waveform) / rate, 0, rate / 2000])
    top.set_ylabel("kHz")
    t = (np.arange(len(scores)) + 1) * buffer / rate
    for k in range(scores.shape[1]):
        bottom.plot(t, scores[:, k], label=labels[k])
    bottom.axhline(threshold, color="grey", linestyle="--", linewidth=0.8)
    bottom.set_ylim(0, 1)
    bottom.set_xlabel("seconds")
    bottom.set_ylabel("score")
    bottom.legend(loc="upper left", fontsize=7, ncol=4)
    fig.tight_layout()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
