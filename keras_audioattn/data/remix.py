"""Mixing sound events over background scenes at a chosen SNR (the 2APAE data recipe).

Deshmukh et al. (2020, Sec. IV-A) evaluate 2APAE on DCASE 2019 Task 1 scenes remixed with
DCASE 2018 Task 2 events at 0, 10 and 20 dB following Kong et al.'s recipe: 10 s scenes at
32 kHz, three non-overlapping 2 s events per clip at onsets 0.5, 3.0 and 5.5 s; the scene is
scaled to unit RMS and each event to an RMS of 10^(snr/20), using the RMS of the whole event
file, then cropped to 2 s (``create_mixed_audio.py``); events come from a shuffled list of the
clips (priors follow the data, repeats allowed); 4 folds.
:func:`mix_at_snr` is that scaling; :func:`build_remix` builds a whole mixed set with a
strong-label manifest and folds; :func:`synthetic_remix` is the built-in corpus (synthetic event
files over synthetic scenes, mixed by the same recipe, in memory).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from keras_audioattn.data.batching import fit_length

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


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def plan_remix(event_labels, num_clips, events_per_clip=3, draw="clips", seed=0):
    """Which event clips go into each mixture (the same plan serves every SNR).

    Args:
      event_labels: the label of each event clip (a sequence; its index names the clip).
      num_clips: number of mixtures.
      events_per_clip: events per mixture (three in the paper).
      draw: ``"clips"`` (Kong et al.'s ``create_mixture_yaml.py``, the 2APAE recipe): the event
        clips are shuffled and taken in turn, three per mixture, reshuffling when the list runs
        out, so class priors follow the data and a class may occur twice in a mixture (one weak
        label). ``"distinct_classes"``: three distinct classes drawn uniformly, then a clip of
        each (the package's behaviour before issue 19: balanced priors, no repeats).
      seed: random seed.

    Returns:
      A list of ``num_clips`` lists of event-clip indices.
    """
    _check_choice("draw", draw, ("clips", "distinct_classes"))
    labels = list(event_labels)
    if not labels:
        raise ValueError("need at least one event clip")
    rng = np.random.default_rng(seed)
    plans = []
    if draw == "clips":
        order, pos = [], 0
        for _ in range(int(num_clips)):
            picks = []
            for _ in range(events_per_clip):
                if pos >= len(order):
                    order, pos = list(rng.permutation(len(labels))), 0
                picks.append(int(order[pos]))
                pos += 1
            plans.append(picks)
        return plans
    classes = sorted(set(labels))
    if len(classes) < events_per_clip:
        raise ValueError(f"{events_per_clip} events per clip need as many classes, found {classes}")
    by_label = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    for _ in range(int(num_clips)):
        chosen = rng.choice(classes, size=events_per_clip, replace=False)
        plans.append([int(by_label[c][rng.integers(len(by_label[c]))]) for c in chosen])
    return plans


def place_events(background, events, starts, snr_db, event_length, event_level="file"):
    """One mixture: ``background`` at unit RMS plus each event at ``snr_db``.

    Args:
      background: `(samples,)` scene, already at the mixture length.
      events: the event clips (whole files, any lengths).
      starts: onset of each event in samples.
      snr_db: the SNR of every event over the unit-RMS scene.
      event_length: samples of the excerpt placed (2 s in the paper); shorter files are placed whole.
      event_level: ``"file"`` (Kong et al.'s ``create_mixed_audio.py``, the 2APAE recipe): the
        gain 10^(snr/20) / RMS is computed on the *whole event file*, then the file is cropped to
        ``event_length``; the placed excerpt's own SNR then differs from ``snr_db`` by
        20 log10(RMS(excerpt) / RMS(file)). ``"excerpt"``: the RMS of the placed excerpt (the
        package's behaviour before issue 19; every excerpt exactly at ``snr_db``).

    Returns:
      ``(mixture float64, real lengths of the placed excerpts)``; the mixture is not normalised.
    """
    _check_choice("event_level", event_level, ("file", "excerpt"))
    mixture = np.asarray(background, np.float64)
    level = rms(mixture)
    if level == 0 or not np.isfinite(level):
        raise ValueError("background is silent (zero RMS) or non-finite; its SNR is undefined")
    mixture = mixture / level
    placed = np.zeros_like(mixture)
    lengths = []
    for event, start in zip(events, starts):
        event = np.asarray(event, np.float64)
        excerpt = event[:event_length]
        reference = rms(event) if event_level == "file" else rms(excerpt)
        if reference == 0 or not np.isfinite(reference):
            raise ValueError("event is silent (zero RMS) or non-finite; its SNR is undefined")
        if start < 0 or start + excerpt.shape[0] > mixture.shape[0]:
            raise ValueError(f"event of {excerpt.shape[0]} samples at offset {start} does not fit in "
                             f"{mixture.shape[0]} samples")
        placed[start:start + excerpt.shape[0]] += excerpt * (10.0 ** (snr_db / 20.0) / reference)
        lengths.append(excerpt.shape[0])
    return mixture + placed, lengths


def _check_onsets(onsets, event_duration, duration, sample_rate):
    total = int(round(duration * sample_rate))
    event_len = int(round(event_duration * sample_rate))
    starts = [int(round(o * sample_rate)) for o in onsets]
    ordered = sorted(starts)
    if not starts or ordered[0] < 0 or any(b - a < event_len for a, b in zip(ordered, ordered[1:])) or \
            ordered[-1] + event_len > total:
        raise ValueError(f"onsets {tuple(onsets)} with {event_duration} s events overlap or run past {duration} s")
    return total, event_len, starts


def _fit(x, length):
    """float64 ``x`` cut / zero-padded to ``length`` (:func:`~keras_audioattn.data.batching.fit_length`)."""
    return fit_length(np.asarray(x, np.float64), length)


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
    event_level="file",
    draw="clips",
    num_folds=4,
):
    """Mix event clips over scene clips, one folder and strong-label manifest per SNR.

    Kong et al.'s recipe (``create_mixture_yaml.py`` / ``create_mixed_audio.py``), which 2APAE
    uses (Sec. IV-A): for each mixture a background (taken in turn from ``backgrounds``, cropped
    or zero-padded to ``duration``) at unit RMS and ``len(onsets)`` events from a shuffled list
    of the event clips (``draw="clips"``: class priors follow the data, a class may repeat),
    each scaled to 10^(snr/20) by the RMS of its whole file (``event_level="file"``), cropped to
    ``event_duration`` and placed at its onset. The same plan is used at every SNR (only the SNR
    differs), as in the paper's sets. A mixture whose peak exceeds 1 is divided by its peak
    before it is written (a common gain: the SNRs stay as set). The mixtures are split into
    ``num_folds`` cross-validation folds (mixture ``i`` in fold ``i % num_folds + 1``; the paper
    uses 4).

    Args:
      events: event clips: a :class:`Manifest`, a manifest path, or ``(path, label)`` pairs.
      backgrounds: scene clips: a :class:`Manifest`, a manifest path, or paths.
      out_dir: output folder; gets ``snr_<db>db/mix_<i>.wav``, ``snr_<db>db/manifest.csv`` and
        ``snr_<db>db/fold<k>.csv``.
      snrs: SNRs in dB (paper: 0, 10, 20).
      onsets: event onsets in seconds (paper: 0.5, 3.0, 5.5).
      num_clips: mixtures per SNR (default: the number of backgrounds).
      sample_rate, duration, event_duration: 32 kHz, 10 s and 2 s in the paper.
      seed: random seed for the event draws.
      overwrite: allow writing into a non-empty ``out_dir``.
      event_level: ``"file"`` (recipe) or ``"excerpt"`` (see :func:`place_events`).
      draw: ``"clips"`` (recipe) or ``"distinct_classes"`` (see :func:`plan_remix`).
      num_folds: number of fold manifests per SNR (0: none).

    Returns:
      dict mapping each SNR to its manifest path. The manifest has weak labels on each clip's
      row and one ``onset,offset,event_label`` row per event (offset = onset + the event's
      length before padding).
    """
    import soundfile as sf

    from keras_audioattn.data.audio import load_audio
    from keras_audioattn.data.manifest import write_manifest

    _check_choice("event_level", event_level, ("file", "excerpt"))
    _check_choice("draw", draw, ("clips", "distinct_classes"))
    event_items = _as_items(events, need_labels=True)
    background_paths = _as_items(backgrounds, need_labels=False)
    if not event_items or not background_paths:
        raise ValueError("need at least one event clip and one background clip")
    labels_available = sorted({label for _, label in event_items})
    if draw == "distinct_classes" and len(labels_available) < len(onsets):
        raise ValueError(f"{len(onsets)} events per clip need as many classes, found {labels_available}")
    total, event_len, starts = _check_onsets(onsets, event_duration, duration, sample_rate)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir} is not empty (pass overwrite=True)")
    num_clips = len(background_paths) if num_clips is None else int(num_clips)
    num_folds = int(num_folds)
    cache = {}

    def get(path):
        if path not in cache:
            cache[path] = load_audio(path, sample_rate=sample_rate)[0]
        return cache[path]

    plans = plan_remix([label for _, label in event_items], num_clips, len(onsets), draw=draw, seed=seed)
    manifests = {}
    for snr in snrs:
        folder = out_dir / f"snr_{snr:g}db"
        folder.mkdir(parents=True, exist_ok=True)
        paths, clip_labels, clip_events = [], [], []
        for i, picks in enumerate(plans):
            background = _fit(get(background_paths[i % len(background_paths)]), total)
            waves = [get(event_items[j][0]) for j in picks]
            mixture, lengths = place_events(background, waves, starts, snr, event_len, event_level=event_level)
            strong = [(start / sample_rate, (start + real) / sample_rate, str(event_items[j][1]))
                      for start, real, j in zip(starts, lengths, picks)]
            peak = np.max(np.abs(mixture))
            if peak > 1.0:
                mixture = mixture / peak
            file_path = folder / f"mix_{i:05d}.wav"
            sf.write(file_path, mixture.astype(np.float32), sample_rate, subtype="FLOAT")
            paths.append(str(file_path))
            clip_labels.append(list(dict.fromkeys(label for _, _, label in sorted(strong))))
            clip_events.append(sorted(strong))
        manifests[snr] = write_manifest(folder / "manifest.csv", paths, clip_labels, events=clip_events)
        for k in range(num_folds):
            idx = [i for i in range(len(paths)) if i % num_folds == k]
            write_manifest(folder / f"fold{k + 1}.csv", [paths[i] for i in idx], [clip_labels[i] for i in idx],
                           events=[clip_events[i] for i in idx])
    return manifests


# ----------------------------------------------------------------------------------------------
# The built-in remix corpus: synthetic event "files" over synthetic scenes, mixed by the recipe.

#: Classes of the built-in corpus: the synthetic event and tagging sound types (11, as many as the
#: held-out real-recording check of issue 19).
SYNTHETIC_REMIX_CLASSES = ("siren", "chirp", "harmonic_tone", "impact", "burst", "engine",
                           "machinery_impact", "powered_saw", "alert_signal", "music", "dog")


def synthetic_event_files(num_files, seed=0, sample_rate=16000, classes=SYNTHETIC_REMIX_CLASSES,
                          file_duration=(0.5, 6.0)):
    """Synthetic stand-ins for the DCASE 2018 Task 2 event files.

    Files vary in length (``file_duration`` seconds) and in how much of them is the sound: each
    is one synthetic event of 40-100 % of the file, at a random position, over a quiet tail
    (-40 dB), so the whole-file RMS and the RMS of its first seconds differ as in real files.
    Class frequencies are unequal (weights ``1 / (1 + rank / 2)`` in a seeded order), so a
    clip-drawn remix has non-uniform priors like the real one.

    Returns:
      ``(waveforms, labels)``: a list of float64 arrays and their class names.
    """
    from keras_audioattn.data import synthetic as syn

    rng = np.random.default_rng([seed, 19001])
    classes = list(classes)
    weights = 1.0 / (1.0 + np.arange(len(classes)) / 2.0)
    weights = weights[rng.permutation(len(classes))]
    stft = syn._Stft(sample_rate)
    waves, labels = [], []
    for i in range(int(num_files)):
        label = classes[int(rng.choice(len(classes), p=weights / weights.sum()))]
        n = int(round(rng.uniform(*file_duration) * sample_rate))
        core = syn._event_wave(rng, stft, label, max(0.2, rng.uniform(0.4, 1.0) * n / sample_rate))
        core = np.asarray(core, np.float64)[:n]
        x = 1e-2 * rng.standard_normal(n) * max(rms(core), 1e-9)
        start = int(rng.integers(0, n - core.shape[0] + 1)) if rng.random() < 0.5 else 0
        x[start:start + core.shape[0]] += core
        waves.append(x)
        labels.append(label)
    return waves, labels


def synthetic_remix(num_clips, snrs=PAPER_SNRS, seed=0, sample_rate=16000, duration=5.0,
                    event_duration=1.0, onsets=(0.25, 1.5, 2.75), num_event_files=None,
                    classes=SYNTHETIC_REMIX_CLASSES, event_level="file", draw="clips", num_folds=4):
    """The built-in remix corpus, in memory: synthetic events over synthetic scenes by Kong et
    al.'s recipe (see :func:`build_remix`), one set per SNR with the same plan at every SNR.

    The defaults are the paper's layout at half scale (5 s mixtures, three 1 s events at 0.25,
    1.5 and 2.75 s) to keep CPU benches short; ``duration=10, event_duration=2,
    onsets=PAPER_ONSETS, sample_rate=32000`` is the paper's.

    Args:
      num_clips: mixtures per SNR.
      snrs: SNRs in dB.
      seed: seed of the event files, scenes and draws.
      num_event_files: size of the synthetic event-file pool (default ``num_clips``).
      classes, event_level, draw, num_folds: see :func:`synthetic_event_files`,
        :func:`place_events`, :func:`plan_remix`, :func:`build_remix`.

    Returns:
      ``{snr: dict(waveforms=(clips, samples) float32, targets=(clips, classes) float32,
      class_names, events (strong labels per clip), folds=(clips,) int in 1..num_folds,
      sample_rate)}``.
    """
    from keras_audioattn.data.synthetic import synthesize

    total, event_len, starts = _check_onsets(onsets, event_duration, duration, sample_rate)
    num_clips = int(num_clips)
    num_folds = max(int(num_folds), 1)
    event_waves, event_labels = synthetic_event_files(num_event_files or num_clips, seed=seed,
                                                      sample_rate=sample_rate, classes=classes)
    scenes = synthesize("scenes", num_clips, seed=seed, sample_rate=sample_rate, duration=duration)
    plans = plan_remix(event_labels, num_clips, len(starts), draw=draw, seed=seed)
    classes = list(classes)
    out = {}
    for snr in snrs:
        waves, targets, strong_all = [], np.zeros((num_clips, len(classes)), np.float32), []
        for i, picks in enumerate(plans):
            mixture, lengths = place_events(_fit(scenes.waveforms[i], total), [event_waves[j] for j in picks],
                                            starts, snr, event_len, event_level=event_level)
            peak = np.max(np.abs(mixture))
            waves.append((mixture / max(peak, 1.0)).astype(np.float32))
            strong = sorted((s / sample_rate, (s + n) / sample_rate, event_labels[j])
                            for s, n, j in zip(starts, lengths, picks))
            for j in picks:
                targets[i, classes.index(event_labels[j])] = 1.0
            strong_all.append(strong)
        out[snr] = dict(waveforms=np.stack(waves), targets=targets, class_names=classes, events=strong_all,
                        folds=np.arange(num_clips) % num_folds + 1, sample_rate=sample_rate)
    return out
