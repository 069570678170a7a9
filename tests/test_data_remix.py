"""mix_at_snr and the 2APAE remix builder: SNRs measured back from the mixtures."""

import numpy as np
import pytest
import soundfile as sf

from keras_audioattn.data import build_remix, load_audio, load_manifest, mix_at_snr, rms
from keras_audioattn.data.remix import PAPER_ONSETS, PAPER_SNRS


def _snr_db(event, background):
    return 20 * np.log10(rms(event) / rms(background))


@pytest.mark.parametrize("snr", [-5.0, 0.0, 10.0, 20.0])
def test_mix_at_snr_measured_back(snr):
    rng = np.random.default_rng(0)
    background = 0.3 * rng.standard_normal(8000)
    event = 0.01 * np.sin(np.arange(2000) * 0.3)
    mixture, placed, scaled = mix_at_snr(event, background, snr, offset=1000, return_components=True)
    assert mixture.dtype == np.float32 and mixture.shape == (8000,)
    assert rms(scaled) == pytest.approx(1.0, rel=1e-6)  # scene at unit RMS
    assert rms(placed[1000:3000]) == pytest.approx(10 ** (snr / 20), rel=1e-5)  # event by its own RMS
    assert _snr_db(placed[1000:3000], scaled) == pytest.approx(snr, abs=1e-4)
    np.testing.assert_allclose(mixture, scaled + placed, atol=1e-6)
    assert np.all(placed[:1000] == 0) and np.all(placed[3000:] == 0)
    # The mixture minus the unit-RMS scene recovers the event at the requested SNR.
    recovered = mixture.astype(np.float64) - background / rms(background)
    assert _snr_db(recovered[1000:3000], background / rms(background)) == pytest.approx(snr, abs=1e-3)


def test_mix_at_snr_errors():
    background, event = np.ones(100), np.ones(10)
    with pytest.raises(ValueError, match="does not fit"):
        mix_at_snr(event, background, 0, offset=95)
    with pytest.raises(ValueError, match="event is silent"):
        mix_at_snr(np.zeros(10), background, 0)
    with pytest.raises(ValueError, match="background is silent"):
        mix_at_snr(event, np.zeros(100), 0)
    with pytest.raises(ValueError, match="finite"):
        mix_at_snr(event, background, float("inf"))
    with pytest.raises(ValueError, match="1-D"):
        mix_at_snr(event[None], background, 0)


SR = 4000


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("remix_sources")
    rng = np.random.default_rng(1)
    events = []
    for k, (label, seconds) in enumerate([("dog", 2.0), ("bell", 1.5), ("car", 2.5), ("dog", 1.0), ("bell", 2.0)]):
        t = np.arange(int(seconds * SR)) / SR
        x = (0.2 + 0.1 * k) * np.sin(2 * np.pi * (200 + 150 * k) * t) * np.hanning(len(t))
        path = root / f"event{k}.wav"
        sf.write(path, x.astype(np.float32), SR, subtype="FLOAT")
        events.append((str(path), label))
    backgrounds = []
    for k in range(2):
        path = root / f"scene{k}.wav"
        sf.write(path, (0.05 * (k + 1) * rng.standard_normal(11 * SR)).astype(np.float32), SR, subtype="FLOAT")
        backgrounds.append(str(path))
    return root, events, backgrounds


def test_build_remix_excerpt_level_distinct_classes(sources, tmp_path):
    """The options that keep the behaviour before issue 19: excerpt RMS, three distinct classes."""
    _, events, backgrounds = sources
    manifests = build_remix(events, backgrounds, tmp_path / "mix", sample_rate=SR, num_clips=3, seed=0,
                            event_level="excerpt", draw="distinct_classes")
    assert set(manifests) == set(PAPER_SNRS)
    durations = {path: len(load_audio(path)[0]) / SR for path, _ in events}
    by_snr = {snr: load_manifest(path) for snr, path in manifests.items()}
    for snr, manifest in by_snr.items():
        assert len(manifest) == 3
        for i, path in enumerate(manifest.paths):
            mixture, sr = load_audio(path)
            assert sr == SR and len(mixture) == 10 * SR
            strong = manifest.events[i]
            assert [onset for onset, _, _ in strong] == list(PAPER_ONSETS)
            assert len({label for _, _, label in strong}) == 3  # no class twice in a clip
            assert sorted(manifest.labels[i]) == sorted(label for _, _, label in strong)
            background, _ = load_audio(backgrounds[i % len(backgrounds)])
            unit = background[: 10 * SR].astype(np.float64) / rms(background[: 10 * SR])
            # Common gain (peak normalisation) from the event-free first 0.5 s.
            gain = np.dot(mixture[: SR // 2], unit[: SR // 2]) / np.dot(unit[: SR // 2], unit[: SR // 2])
            residual = mixture / gain - unit
            for onset, offset, _ in strong:
                assert offset - onset <= 2.0 + 1e-9
                a, b = int(round(onset * SR)), int(round(offset * SR))
                # SNR re the unit-RMS scene, measured over the event's real samples.
                assert 20 * np.log10(rms(residual[a:b])) == pytest.approx(snr, abs=0.01)
                assert np.all(np.abs(residual[b: b + SR // 10]) < 1e-4)  # silence after the event
    # The same scenes and events at every SNR.
    assert by_snr[0].labels == by_snr[10].labels == by_snr[20].labels
    assert by_snr[0].events == by_snr[20].events
    # Offsets: events shorter than 2 s end early, longer ones are cut at 2 s.
    some_clip = by_snr[0].events[0]
    assert all(offset - onset in (pytest.approx(min(d, 2.0)) for d in durations.values()) for onset, offset, _ in some_clip)


def test_build_remix_kong_recipe_file_level_clip_draws_and_folds(sources, tmp_path):
    """Default = Kong et al.'s recipe: gain from the whole event file's RMS, then crop to 2 s;
    events from a shuffled list of clips (each clip used once per pass); 4 fold manifests."""
    _, events, backgrounds = sources
    manifests = build_remix(events, backgrounds, tmp_path / "mix", snrs=(10,), sample_rate=SR, num_clips=5, seed=1)
    manifest = load_manifest(manifests[10])
    files = {path: load_audio(path)[0].astype(np.float64) for path, _ in events}
    by_label = {}
    for path, label in events:
        by_label.setdefault(label, []).append(path)
    used = []
    for i, path in enumerate(manifest.paths):
        mixture = load_audio(path)[0].astype(np.float64)
        background = load_audio(backgrounds[i % len(backgrounds)])[0][: 10 * SR].astype(np.float64)
        unit = background / rms(background)
        gain = np.dot(mixture[: SR // 2], unit[: SR // 2]) / np.dot(unit[: SR // 2], unit[: SR // 2])
        residual = mixture / gain - unit
        for onset, offset, label in manifest.events[i]:
            a, b = int(round(onset * SR)), int(round(offset * SR))
            # Which file: the one whose excerpt matches (labels can repeat within a clip).
            match = [p for p in by_label[label] if len(files[p][: 2 * SR]) == b - a and
                     np.allclose(residual[a:b] / np.max(np.abs(residual[a:b])),
                                 files[p][: 2 * SR] / np.max(np.abs(files[p][: 2 * SR])), atol=1e-3)]
            assert match, (i, label)
            whole = files[match[0]]
            want = 10 + 20 * np.log10(rms(whole[: 2 * SR]) / rms(whole))  # effective excerpt SNR
            assert 20 * np.log10(rms(residual[a:b])) == pytest.approx(want, abs=0.01)
            used.append(match[0])
    # 15 draws over 5 clips: each clip three times (a shuffled list, reshuffled when used up).
    assert sorted(used) == sorted([p for p, _ in events] * 3)
    folds = [load_manifest(tmp_path / "mix" / "snr_10db" / f"fold{k}.csv") for k in (1, 2, 3, 4)]
    assert sorted(p for f in folds for p in f.paths) == sorted(manifest.paths)
    assert [len(f) for f in folds] == [2, 1, 1, 1]


def test_synthetic_remix_priors_follow_the_clip_list():
    from keras_audioattn.data.remix import SYNTHETIC_REMIX_CLASSES, synthetic_remix

    sets = synthetic_remix(24, snrs=(0, 20), seed=3, sample_rate=8000)
    a, b = sets[0], sets[20]
    assert a["waveforms"].shape == (24, 5 * 8000) and a["class_names"] == list(SYNTHETIC_REMIX_CLASSES)
    assert a["events"] == b["events"] and np.array_equal(a["targets"], b["targets"])  # same plan at every SNR
    assert sorted(set(a["folds"].tolist())) == [1, 2, 3, 4]
    assert all(len(e) == 3 for e in a["events"]) and np.all(a["targets"].sum(1) >= 1)
    assert np.all(np.abs(a["waveforms"]) <= 1.0)


def test_build_remix_errors(sources, tmp_path):
    _, events, backgrounds = sources
    with pytest.raises(ValueError, match="overlap"):
        build_remix(events, backgrounds, tmp_path / "a", onsets=(0.5, 1.0, 5.5), sample_rate=SR)
    with pytest.raises(ValueError, match="need as many classes"):
        build_remix(events[:2], backgrounds, tmp_path / "b", sample_rate=SR, draw="distinct_classes")
    with pytest.raises(ValueError, match="event_level"):
        build_remix(events, backgrounds, tmp_path / "d", sample_rate=SR, event_level="peak")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "x").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        build_remix(events, backgrounds, tmp_path / "c", sample_rate=SR)
