"""Mixing sound events over background scenes at a chosen SNR (the 2APAE data recipe).

Deshmukh et al. (2020, Sec. IV-A) evaluate 2APAE on DCASE 2019 Task 1 scenes remixed with
DCASE 2018 Task 2 events at 0, 10 and 20 dB following Kong et al.'s recipe: 10 s scenes at
32 kHz, three non-overlapping 2 s events per clip at onsets 0.5, 3.0 and 5.5 s; the scene is
scaled to unit RMS and each event to an RMS of 10^(snr/20), using the event clip's own RMS.
:func:`mix_at_snr` is that scaling; :func:`build_remix` builds a whole mixed set with a
strong-label manifest.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

PAPER_ONSETS = (0.5, 3.0, 5.5)
PAPER_SNRS = (0, 10, 20)


def rms(x, axis=None):
    """Root mean square (float64)."""
    x = np.asarray(x, dtype=np.float64)
    return np.sqrt(np.mean(np.square(x), axis=axis))


def mix_at_snr(event, background, snr_db, offset=0, return_components=False):
    """Mix ``event`` into ``background`` so that RMS(event)/RMS(background) = 10^(snr_db/20).

    The background is scaled to unit RMS and the event to RMS 10^(snr_db/20), each by its own
    RMS over its whole length (Kong et al.'s recipe used for 2APAE; silence inside the event clip
    counts, as in the original).

    Args:
      event: `(event_samples,)` float array, not silent.
      background: `(samples,)` float array, not silent.
      snr_db: signal-to-noise ratio in dB (finite).
      offset: sample index in ``background`` where the event starts; the event must fit.
      return_components: also return the scaled event (placed, full length) and background.

    Returns:
      The mixture, float32 `(samples,)` (same length as ``background``); with
      ``return_components`` a tuple ``(mixture, scaled_event, scaled_background)``.
    """
    event = np.asarray(event, dtype=np.float64)
    background = np.asarray(background, dtype=np.float64)
    if event.ndim != 1 or background.ndim != 1:
        raise ValueError(f"event and background must be 1-D, got shapes {event.shape} and {background.shape}")
    if not np.isfinite(snr_db):
        raise ValueError(f"snr_db must be finite, got {snr_db!r}")
    offset = int(offset)
    if offset < 0 or offset + event.shape[0] > background.shape[0]:
        raise ValueError(
            f"event of {event.shape[0]} samples at offset {offset} does not fit in a background of "
            f"{background.shape[0]} samples"
        )
    event_rms, background_rms = rms(event), rms(background)
    if event_rms == 0 or not np.isfinite(event_rms):
        raise ValueError("event is silent (zero RMS) or non-finite; its SNR is undefined")
    if background_rms == 0 or not np.isfinite(background_rms):
        raise ValueError("background is silent (zero RMS) or non-finite; its SNR is undefined")
    scaled_background = background / background_rms
    placed = np.zeros_like(scaled_background)
    placed[offset:offset + event.shape[0]] = event / event_rms * 10.0 ** (snr_db / 20.0)
    mixture = (scaled_background + placed).astype(np.float32)
    if return_components:
        return mixture, placed.astype(np.float32), scaled_background.astype(np.float32)
    return mixture


def _as_items(source, need_labels):
    """Normalise a Manifest, manifest path or list into (path, label) pairs / paths."""
    from keras_audioattn.data.manifest import Manifest, load_manifest

    if isinstance(source, (str, os.PathLike)):
        source = load_manifest(source)
    if isinstance(source, Manifest):
        if need_labels:
            for i, labels in enumerate(source.labels):
                if len(labels) != 1:
                    raise ValueError(f"{source.where(i)}: an event clip needs exactly one label, got {labels}")
            return [(p, labels[0]) for p, labels in zip(source.paths, source.labels)]
        return list(source.paths)
    items = list(source)
    if need_labels and not all(isinstance(item, (tuple, list)) and len(item) == 2 for item in items):
        raise ValueError("events must be a Manifest, a manifest path or a list of (path, label) pairs")
    return items


def build_remix(
    events,
    backgrounds,
    out_dir,
    snrs=PAPER_SNRS,
    onsets=PAPER_ONSETS,
    num_clips=None,
    sample_rate=32000,
    duration=10.0,
    event_duration=2.0,
    seed=0,
    overwrite=False,
):
    """Mix event clips over scene clips, one folder and strong-label manifest per SNR.

    For each SNR and each mixed clip: a background (taken in turn from ``backgrounds``, cropped
    or zero-padded to ``duration``) and ``len(onsets)`` events drawn at random without repeating
    a class within the clip, each cropped/padded to ``event_duration`` and placed at its onset
    with :func:`mix_at_snr` (the scene at unit RMS once, each event scaled to 10^(snr/20) by its
    own RMS). The same backgrounds and events are used at every SNR (only the SNR differs),
    as in the paper's sets. A mixture whose peak exceeds 1 is divided by its peak before it is
    written (a common gain: the SNRs stay as set).

    Args:
      events: event clips: a :class:`Manifest`, a manifest path, or ``(path, label)`` pairs.
      backgrounds: scene clips: a :class:`Manifest`, a manifest path, or paths.
      out_dir: output folder; gets ``snr_<db>db/mix_<i>.wav`` and ``snr_<db>db/manifest.csv``.
      snrs: SNRs in dB (paper: 0, 10, 20).
      onsets: event onsets in seconds (paper: 0.5, 3.0, 5.5).
      num_clips: mixtures per SNR (default: the number of backgrounds).
      sample_rate, duration, event_duration: 32 kHz, 10 s and 2 s in the paper.
      seed: random seed for the event draws.
      overwrite: allow writing into a non-empty ``out_dir``.

    Returns:
      dict mapping each SNR to its manifest path. The manifest has weak labels on each clip's
      row and one ``onset,offset,event_label`` row per event (offset = onset + the event's
      length before padding).
    """
    import soundfile as sf

    from keras_audioattn.data.audio import load_audio
    from keras_audioattn.data.manifest import write_manifest

    event_items = _as_items(events, need_labels=True)
    background_paths = _as_items(backgrounds, need_labels=False)
    if not event_items or not background_paths:
        raise ValueError("need at least one event clip and one background clip")
    labels_available = sorted({label for _, label in event_items})
    if len(labels_available) < len(onsets):
        raise ValueError(f"{len(onsets)} events per clip need as many classes, found {labels_available}")
    total = int(round(duration * sample_rate))
    event_len = int(round(event_duration * sample_rate))
    starts = [int(round(o * sample_rate)) for o in onsets]
    ordered = sorted(starts)
    if any(b - a < event_len for a, b in zip(ordered, ordered[1:])) or ordered[-1] + event_len > total:
        raise ValueError(f"onsets {onsets} with {event_duration} s events overlap or run past {duration} s")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir} is not empty (pass overwrite=True)")
    num_clips = len(background_paths) if num_clips is None else int(num_clips)

    rng = np.random.default_rng(seed)
    by_label = {}
    for path, label in event_items:
        by_label.setdefault(label, []).append(path)
    cache = {}

    def get(path, length):
        if path not in cache:
            waveform, _ = load_audio(path, sample_rate=sample_rate)
            cache[path] = waveform
        waveform = cache[path]
        real = min(waveform.shape[0], length)
        return np.pad(waveform[:length], (0, length - real)), real

    plans = []
    for i in range(num_clips):
        labels = rng.choice(labels_available, size=len(onsets), replace=False)
        picks = [by_label[label][rng.integers(len(by_label[label]))] for label in labels]
        plans.append((background_paths[i % len(background_paths)], list(zip(starts, labels, picks))))

    manifests = {}
    for snr in snrs:
        folder = out_dir / f"snr_{snr:g}db"
        folder.mkdir(parents=True, exist_ok=True)
        paths, clip_labels, clip_events = [], [], []
        for i, (background_path, placements) in enumerate(plans):
            background, _ = get(background_path, total)
            mixture = background.astype(np.float64) / max(rms(background), 1e-12)
            strong = []
            for start, label, event_path in placements:
                event, real = get(event_path, event_len)
                placed = mix_at_snr(event[:real], mixture, snr, offset=start, return_components=True)[1]
                # The event's RMS is taken over its real (unpadded) samples. mix_at_snr also
                # rescales the background, which is no longer unit RMS once it holds events, so
                # only its scaled event is kept and added to the running mixture.
                mixture = mixture + placed
                strong.append((start / sample_rate, (start + real) / sample_rate, str(label)))
            peak = np.max(np.abs(mixture))
            if peak > 1.0:
                mixture = mixture / peak
            file_path = folder / f"mix_{i:05d}.wav"
            sf.write(file_path, mixture.astype(np.float32), sample_rate, subtype="FLOAT")
            paths.append(str(file_path))
            clip_labels.append([label for _, _, label in strong])
            clip_events.append(sorted(strong))
        manifests[snr] = write_manifest(folder / "manifest.csv", paths, clip_labels, events=clip_events)
    return manifests
