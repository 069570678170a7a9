"""The synthetic corpus: contract, determinism, strong labels, writing, CLI, learnability."""

import json

import numpy as np
import pytest
import soundfile as sf

from keras_audioattn.cli import main
from keras_audioattn.data import load_manifest, synthesize, write_synthetic_corpus
from keras_audioattn.data.synthetic import CLASS_NAMES, DEFAULTS, TASKS, _Stft

SR = 8000


def test_stft_filter_reconstructs_and_noise_is_unit_power():
    stft = _Stft(SR)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(3001)
    np.testing.assert_allclose(stft.filter(x, np.ones(stft.bins)), x, atol=1e-12)
    noise = stft.noise(rng, np.ones((stft.num_frames(40000), stft.bins)), 40000) * np.sqrt(stft.n_fft / 2)
    assert noise.std() == pytest.approx(1.0, rel=0.02)


@pytest.mark.parametrize("task", TASKS)
def test_contract_per_task(task):
    data = synthesize(task, 6, seed=3, sample_rate=SR, duration=1.0 if task != "accents" else (1.0, 2.0))
    assert len(data) == 6 and data.sample_rate == SR and data.task == task
    assert data.class_names == list(CLASS_NAMES[task])
    assert data.targets.shape == (6, len(data.class_names)) and data.targets.dtype == np.float32
    for i, waveform in enumerate(data.waveforms):
        assert waveform.dtype == np.float32 and np.all(np.isfinite(waveform))
        assert 0 < np.max(np.abs(waveform)) <= 0.99
        expected = np.zeros(len(data.class_names), np.float32)
        expected[[data.class_names.index(label) for label in data.labels[i]]] = 1
        np.testing.assert_array_equal(data.targets[i], expected)
    if data.multi_label:
        assert data.targets.sum(1).min() >= 1
        for i, strong in enumerate(data.events):
            assert sorted({label for _, _, label in strong}) == sorted(data.labels[i])
            assert all(0 <= onset < offset <= 1.0 + 1e-6 for onset, offset, _ in strong)
    else:
        np.testing.assert_array_equal(data.targets.sum(1), 1)
        assert data.events == [[] for _ in range(6)]
    if task == "accents":
        assert isinstance(data.waveforms, list)
        assert all(SR <= len(w) <= 2 * SR for w in data.waveforms) and len({len(w) for w in data.waveforms}) > 1
    else:
        assert data.waveforms.shape == (6, SR)


def test_defaults_documented_and_used():
    assert DEFAULTS["accents"] == {"sample_rate": 16000, "duration": (3.0, 8.0)}
    data = synthesize("scenes", 1, seed=0)
    assert data.sample_rate == 16000 and data.waveforms.shape == (1, 160000)


def test_deterministic_per_seed_and_prefix_stable():
    a = synthesize("events", 4, seed=7, sample_rate=SR, duration=1.0)
    b = synthesize("events", 4, seed=7, sample_rate=SR, duration=1.0)
    np.testing.assert_array_equal(a.waveforms, b.waveforms)
    assert a.events == b.events
    c = synthesize("events", 2, seed=7, sample_rate=SR, duration=1.0)
    np.testing.assert_array_equal(a.waveforms[:2], c.waveforms)
    d = synthesize("events", 4, seed=8, sample_rate=SR, duration=1.0)
    assert not np.allclose(a.waveforms, d.waveforms)


def test_single_label_tasks_are_balanced():
    data = synthesize("scenes", 12, seed=1, sample_rate=SR, duration=0.5)
    np.testing.assert_array_equal(data.targets.sum(0), 2)


def test_event_snr_controls_event_to_background_energy():
    """Energy inside the labelled event spans relative to outside grows with the SNR."""

    def contrast(snr):
        data = synthesize("events", 12, seed=5, sample_rate=SR, duration=4.0, snr_db=snr)
        ratios = []
        for waveform, strong in zip(data.waveforms, data.events):
            inside = np.zeros(len(waveform), bool)
            for onset, offset, _ in strong:
                inside[int(onset * SR): int(offset * SR)] = True
            if inside.all() or not inside.any():
                continue
            ratios.append(10 * np.log10(np.mean(waveform[inside] ** 2) / np.mean(waveform[~inside] ** 2)))
        return np.median(ratios)

    low, high = contrast(0), contrast(20)
    assert high > low + 8, (low, high)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown task"):
        synthesize("music", 2)
    with pytest.raises(ValueError, match="num_clips"):
        synthesize("scenes", 0)
    with pytest.raises(ValueError, match="sample_rate"):
        synthesize("scenes", 1, sample_rate=100)
    with pytest.raises(ValueError, match="duration"):
        synthesize("scenes", 1, duration=(3.0, 1.0))
    with pytest.raises(ValueError, match="seed"):
        synthesize("scenes", 1, seed=-1)


def test_write_corpus_manifests_and_splits(tmp_path):
    out = tmp_path / "tagging"
    manifest_path = write_synthetic_corpus("tagging", out, 10, seed=2, sample_rate=SR, duration=1.0)
    manifest = load_manifest(manifest_path)
    assert len(manifest) == 10 and manifest.class_names == list(CLASS_NAMES["tagging"])
    data = synthesize("tagging", 10, seed=2, sample_rate=SR, duration=1.0)
    np.testing.assert_array_equal(manifest.targets(multi_label=True), data.targets)
    assert [[tuple(round(v, 3) if isinstance(v, float) else v for v in e) for e in clip] for clip in manifest.events] == [
        [tuple(round(v, 3) if isinstance(v, float) else v for v in e) for e in clip] for clip in data.events]
    audio, sr = sf.read(manifest.paths[0], dtype="float32")
    assert sr == SR and np.max(np.abs(audio - data.waveforms[0])) < 1e-4  # 16-bit PCM
    splits = [load_manifest(out / f"{name}.csv").paths for name in ("train", "validation", "test")]
    assert sorted(sum(splits, [])) == sorted(manifest.paths)
    assert len(set(splits[0]) & set(splits[1])) == 0 and len(set(splits[0]) & set(splits[2])) == 0
    info = json.loads((out / "info.json").read_text())
    assert info["num_clips"] == 10 and info["seed"] == 2 and info["sample_rate"] == SR
    with pytest.raises(FileExistsError, match="not empty"):
        write_synthetic_corpus("tagging", out, 3, sample_rate=SR, duration=1.0)
    write_synthetic_corpus("tagging", out, 3, sample_rate=SR, duration=1.0, overwrite=True)
    assert len(list((out / "audio").iterdir())) == 3  # stale clips removed


def test_stratified_split_for_single_label(tmp_path):
    write_synthetic_corpus("scenes", tmp_path / "s", 24, seed=0, sample_rate=SR, duration=0.5)
    train = load_manifest(tmp_path / "s" / "train.csv")
    assert np.all(train.targets().sum(0) >= 2)  # every class in the training split


def test_make_data_cli(tmp_path, capsys):
    out = tmp_path / "accents"
    args = ["make-data", "--task", "accents", "--out", str(out), "--num-clips", "4", "--seed", "1",
            "--sample-rate", str(SR), "--duration", "1-1.5"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "wrote 4 accents clips" in printed and str(out / "manifest.csv") in printed
    manifest = load_manifest(out / "manifest.csv")
    assert len(manifest) == 4 and manifest.class_names == list(CLASS_NAMES["accents"])
    assert main(args) == 2  # refuses a non-empty folder
    assert "--overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite", "--num-clips", "2"]) == 0
    assert len(load_manifest(out / "manifest.csv")) == 2
    with pytest.raises(SystemExit):
        main(["make-data", "--task", "accents", "--out", str(out), "--duration", "abc"])
    assert "expected seconds" in capsys.readouterr().err


def _band_statistics(waveform, sr, n_fft=256, bands=16):
    """Mean and standard deviation over time of log energies in log-spaced bands (level removed)."""
    hop = n_fft // 2
    frames = np.lib.stride_tricks.sliding_window_view(waveform, n_fft)[::hop] * np.hanning(n_fft)
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = np.geomspace(60, sr / 2, bands + 1)
    log_bands = np.log(np.stack([power[:, (freqs >= a) & (freqs < b)].sum(1) for a, b in zip(edges[:-1], edges[1:])], 1) + 1e-10)
    log_bands -= log_bands.mean()
    return np.concatenate([log_bands.mean(0), log_bands.std(0)])


@pytest.mark.parametrize("task,num_clips,duration,minimum", [("scenes", 48, 3.0, 0.4), ("accents", 36, (2.0, 3.0), 0.5)])
def test_classes_are_learnable(task, num_clips, duration, minimum):
    """A logistic regression on simple spectral statistics beats chance (1/6 scenes, 1/3 accents)
    by a wide margin in 4-fold cross-validation (measured: about 0.67 for both)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = synthesize(task, num_clips, seed=0, sample_rate=SR, duration=duration)
    features = np.stack([_band_statistics(np.asarray(w), SR) for w in data.waveforms])
    labels = data.targets.argmax(1)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, C=0.5))
    accuracy = cross_val_score(classifier, features, labels, cv=4).mean()
    assert accuracy >= minimum, accuracy


@pytest.mark.parametrize("sample_rate", [4000, 8000, 16000])
def test_every_event_generator_is_audible(sample_rate):
    """Each labelled sound has energy at every supported rate (nothing silenced near Nyquist)."""
    from keras_audioattn.data.synthetic import _SCENE_EVENTS, _TAG_DURATIONS, _event_wave, _scene_event

    stft = _Stft(sample_rate)
    names = sorted(set(CLASS_NAMES["events"]) | set(_TAG_DURATIONS))
    for seed in range(3):
        rng = np.random.default_rng(seed)
        for name in names:
            for duration in (0.25, 1.0):
                wave = _event_wave(rng, stft, name, duration)
                assert np.sqrt(np.mean(wave ** 2)) > 1e-3, (name, duration)
        for scene_events in _SCENE_EVENTS.values():
            for name, *_ in scene_events:
                assert np.sqrt(np.mean(_scene_event(rng, stft, name, 1.0) ** 2)) > 1e-3, name
