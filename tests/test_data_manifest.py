"""CSV manifests, class folders and the tf.data pipeline built from them."""

import numpy as np
import pytest
import soundfile as sf

from keras_audioattn.data import (
    Manifest,
    dataset_from_folder,
    dataset_from_manifest,
    load_audio,
    load_class_names,
    load_manifest,
    manifest_from_folder,
    save_class_names,
    write_manifest,
)

SR = 8000
LENGTHS = [4000, 9000, 6000, 12000, 5000, 7000]
LABELS = [["dog"], ["siren"], ["dog"], ["engine"], ["siren"], ["engine"]]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Six clips of different lengths whose samples encode (clip index, position)."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "audio").mkdir()
    paths = []
    for i, n in enumerate(LENGTHS):
        x = (0.1 * (i + 1) + np.arange(n) / 1e6).astype(np.float32)
        path = root / "audio" / f"clip{i}.wav"
        sf.write(path, x, SR, subtype="FLOAT")
        paths.append(path)
    lines = ["path,labels"] + [f"audio/clip{i}.wav,{LABELS[i][0]}" for i in range(len(LENGTHS))]
    (root / "single.csv").write_text("\n".join(lines) + "\n")
    multi = [
        "path,labels,onset,offset,event_label",
        "audio/clip0.wav,dog;siren,,,",
        "audio/clip0.wav,,0.10,0.30,dog",
        "audio/clip1.wav,,0.20,0.90,engine",
        "audio/clip1.wav,,0.50,1.00,siren",
        "audio/clip2.wav,,,,",
    ]
    (root / "multi.csv").write_text("\n".join(multi) + "\n")
    return root, paths


def _write(root, name, text):
    path = root / name
    path.write_text(text)
    return path


def test_load_single_label_manifest(corpus):
    root, paths = corpus
    manifest = load_manifest(root / "single.csv")
    assert len(manifest) == 6
    assert manifest.paths == [str(p) for p in paths]  # relative paths resolved from the CSV's folder
    assert manifest.labels == LABELS
    assert manifest.class_names == ["dog", "engine", "siren"]
    assert manifest.rows == [2, 3, 4, 5, 6, 7]
    targets = manifest.targets()
    np.testing.assert_array_equal(targets.argmax(1), [0, 2, 0, 1, 2, 1])
    np.testing.assert_array_equal(targets.sum(1), 1)


def test_load_strong_labels_merges_rows(corpus):
    root, _ = corpus
    manifest = load_manifest(root / "multi.csv")
    assert len(manifest) == 3
    assert manifest.labels == [["dog", "siren"], ["engine", "siren"], []]
    assert manifest.events[0] == [(0.1, 0.3, "dog")]
    assert manifest.events[1] == [(0.2, 0.9, "engine"), (0.5, 1.0, "siren")]
    assert manifest.rows == [2, 4, 6]
    targets = manifest.targets(multi_label=True)
    np.testing.assert_array_equal(targets, [[1, 0, 1], [0, 1, 1], [0, 0, 0]])
    with pytest.raises(ValueError, match=r"row 2: single-label data needs exactly one label"):
        manifest.targets(multi_label=False)


@pytest.mark.parametrize(
    "text,kwargs,fragment",
    [
        ("path,labels\naudio/clip0.wav,dog\naudio/clip1.wav,cat\n", {"class_names": ["dog"]}, "row 3: unknown label 'cat'"),
        ("path,labels\naudio/clip0.wav,dog\n\naudio/missing.wav,dog\n", {}, "row 4: audio file not found"),
        ("path,labels,onset,offset,event_label\naudio/clip0.wav,,x,1,dog\n", {}, "row 2: onset/offset must be numbers"),
        ("path,labels,onset,offset,event_label\naudio/clip0.wav,,0.5,0.2,dog\n", {}, "row 2: need 0 <= onset < offset"),
        ("path,labels,onset,offset,event_label\naudio/clip0.wav,dog,0.1,0.2,\n", {}, "row 2: onset/offset given without"),
        ("path,labels,onset\naudio/clip0.wav,dog,0.1\n", {}, "strong labels need all of the columns"),
        ("file,labels\naudio/clip0.wav,dog\n", {}, "must have a 'path' column"),
        ("path,labels\n", {}, "no rows"),
        ("path,labels\n,dog\n", {}, "row 2: empty path"),
        ("path,labels\naudio/clip0.wav,dog,extra\n", {}, "row 2: more fields"),
    ],
)
def test_manifest_errors_name_the_row(corpus, tmp_path, text, kwargs, fragment):
    root, _ = corpus
    path = _write(root, "bad.csv", text)
    with pytest.raises(ValueError) as info:
        load_manifest(path, **kwargs)
    assert fragment in str(info.value) and "bad.csv" in str(info.value)


def test_missing_manifest(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest not found"):
        load_manifest(tmp_path / "none.csv")


def test_write_manifest_round_trip(corpus, tmp_path):
    root, paths = corpus
    events = [[(0.1, 0.2, "dog")], [], [(0.0, 0.5, "siren"), (0.6, 0.7, "dog")]]
    out = write_manifest(root / "written.csv", paths[:3], [["dog"], ["engine"], ["dog", "siren"]], events=events)
    manifest = load_manifest(out)
    assert manifest.paths == [str(p) for p in paths[:3]]
    assert manifest.labels == [["dog"], ["engine"], ["dog", "siren"]]
    assert manifest.events == events
    assert "audio/clip0.wav" in out.read_text()  # written relative to the CSV


@pytest.mark.parametrize("name", ["labels.txt", "labels.json"])
def test_class_names_round_trip(tmp_path, name):
    names = ["dog", "siren", "engine idling"]
    save_class_names(tmp_path / name, names)
    assert load_class_names(tmp_path / name) == names
    with pytest.raises(ValueError, match="duplicate"):
        save_class_names(tmp_path / name, ["a", "a"])


def test_class_names_file_beside_manifest_is_used(corpus, tmp_path):
    root, paths = corpus
    folder = tmp_path / "split"
    folder.mkdir()
    write_manifest(folder / "train.csv", paths[:1], [["dog"]])
    save_class_names(folder / "class_names.txt", ["siren", "dog", "engine"])
    assert load_manifest(folder / "train.csv").class_names == ["siren", "dog", "engine"]


def _collect(ds):
    xs, ys = [], []
    for x, y in ds:
        xs.append(x.numpy())
        ys.append(y.numpy())
    return xs, ys


def test_fixed_duration_crop_pad_and_one_hot(corpus):
    root, paths = corpus
    ds = dataset_from_manifest(root / "single.csv", sample_rate=SR, duration=1.0, batch_size=4, shuffle=False)
    assert ds.class_names == ["dog", "engine", "siren"]
    xs, ys = _collect(ds)
    assert [x.shape for x in xs] == [(4, SR), (2, SR)]
    assert all(x.dtype == np.float32 for x in xs)
    x, y = np.concatenate(xs), np.concatenate(ys)
    np.testing.assert_array_equal(y, load_manifest(root / "single.csv").targets())
    for i, path in enumerate(paths):
        audio, _ = load_audio(path)
        n = min(len(audio), SR)
        np.testing.assert_array_equal(x[i, :n], audio[:n])  # cropped at the start
        np.testing.assert_array_equal(x[i, n:], 0.0)  # zero-padded at the end


def test_center_crop_and_resampling(corpus):
    root, paths = corpus
    ds = dataset_from_manifest(root / "single.csv", sample_rate=SR, duration=0.5, crop="center", batch_size=None, shuffle=False)
    x = [w.numpy() for w, _ in ds]
    audio, _ = load_audio(paths[3])
    start = (len(audio) - SR // 2) // 2
    np.testing.assert_array_equal(x[3], audio[start: start + SR // 2])
    ds = dataset_from_manifest(root / "single.csv", sample_rate=4000, duration=1.0, batch_size=6, shuffle=False)
    x, _ = next(iter(ds))
    assert x.shape == (6, 4000)


def test_pad_to_batch_with_lengths(corpus):
    root, _ = corpus
    ds = dataset_from_manifest(root / "single.csv", sample_rate=SR, batch_size=3, shuffle=False,
                               pad_to_batch=True, return_lengths=True)
    batches = list(ds)
    (x0, n0), _ = batches[0]
    assert x0.shape == (3, 9000)  # padded to the longest clip of the batch
    np.testing.assert_array_equal(n0.numpy(), LENGTHS[:3])
    assert np.all(x0.numpy()[0, LENGTHS[0]:] == 0)
    (x1, n1), _ = batches[1]
    assert x1.shape == (3, 12000)
    np.testing.assert_array_equal(n1.numpy(), LENGTHS[3:])


def test_multi_hot_targets_from_strong_labels(corpus):
    root, _ = corpus
    ds = dataset_from_manifest(root / "multi.csv", sample_rate=SR, duration=0.5, multi_label=True,
                               batch_size=3, shuffle=False)
    _, y = next(iter(ds))
    np.testing.assert_array_equal(y.numpy(), [[1, 0, 1], [0, 1, 1], [0, 0, 0]])


def test_seeded_shuffle_and_cache(corpus):
    root, _ = corpus

    def order(seed, cache=False, epochs=1):
        ds = dataset_from_manifest(root / "single.csv", sample_rate=SR, duration=0.1, batch_size=None,
                                   seed=seed, cache=cache)
        return [[round(float(x[0]) * 10) for x, _ in ds] for _ in range(epochs)]

    first = order(0, epochs=2)
    assert sorted(first[0]) == [1, 2, 3, 4, 5, 6]
    assert first == order(0, epochs=2)  # same seed, same orders
    assert first[0] != first[1]  # reshuffled each epoch
    assert order(0)[0] != order(1)[0]
    cached = order(0, cache=True, epochs=2)
    assert cached == order(0, cache=True, epochs=2) and sorted(cached[1]) == [1, 2, 3, 4, 5, 6]


def test_decoding_error_names_row_and_file(corpus, tmp_path):
    import tensorflow as tf

    root, paths = corpus
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF0000WAVEjunkjunkjunk")
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,labels\n{paths[0]},dog\n{broken},dog\n")
    ds = dataset_from_manifest(manifest, sample_rate=SR, duration=0.1, batch_size=None, shuffle=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"m.csv, row 3: .*broken.wav: unreadable or corrupt"):
        list(ds)


def test_dataset_argument_errors(corpus):
    root, _ = corpus
    with pytest.raises(ValueError, match=r"clips differ in length .*row 2: 4000 samples, .*row 3: 9000 .*pad_to_batch=True"):
        dataset_from_manifest(root / "single.csv", sample_rate=SR, batch_size=2)
    with pytest.raises(ValueError, match="row 3: unknown label 'siren'"):
        dataset_from_manifest(root / "single.csv", class_names=["dog", "engine"], duration=1.0)
    with pytest.raises(ValueError, match="crop"):
        dataset_from_manifest(root / "single.csv", duration=1.0, crop="random")
    with pytest.raises(ValueError, match="sample_rate"):
        dataset_from_manifest(root / "single.csv", duration=1.0, sample_rate=0)
    manifest = load_manifest(root / "single.csv")
    gone = Manifest(paths=manifest.paths[:1] + ["/nonexistent/x.wav"], labels=[["dog"], ["dog"]], class_names=["dog"])
    with pytest.raises(ValueError, match=r"clip 1 .*audio file not found"):
        dataset_from_manifest(gone, duration=1.0)


def test_folder_of_class_subfolders(tmp_path):
    for name, count in (("rain", 2), ("birds", 3)):
        (tmp_path / name / "sub").mkdir(parents=True)
        for i in range(count):
            sf.write(tmp_path / name / "sub" / f"{i}.wav", np.full(800, 0.1 * (i + 1), np.float32), SR)
    (tmp_path / "rain" / "notes.txt").write_text("ignored")
    manifest = manifest_from_folder(tmp_path)
    assert manifest.class_names == ["birds", "rain"] and len(manifest) == 5
    ds = dataset_from_folder(tmp_path, sample_rate=SR, duration=0.1, batch_size=5, shuffle=False)
    x, y = next(iter(ds))
    assert x.shape == (5, 800) and ds.class_names == ["birds", "rain"]
    np.testing.assert_array_equal(y.numpy().argmax(1), [0, 0, 0, 1, 1])
    # Equal lengths batch without duration= or padding (lengths read from the headers).
    x, _ = next(iter(dataset_from_folder(tmp_path, sample_rate=SR // 2, batch_size=5, shuffle=False)))
    assert x.shape == (5, 400)
    with pytest.raises(ValueError, match="no sub-folder for classes"):
        manifest_from_folder(tmp_path, class_names=["birds", "cars"])


def test_feeds_model_fit(corpus):
    import keras

    root, _ = corpus
    ds = dataset_from_manifest(root / "single.csv", sample_rate=SR, duration=0.25, batch_size=3, seed=0)
    model = keras.Sequential([keras.Input((SR // 4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    history = model.fit(ds, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])


def test_channels_keeps_stereo_and_repeats_mono(tmp_path):
    """channels=2: stereo files keep both channels, mono files are repeated on both, a
    3-channel file is an error naming its row; channels=None mixes to mono."""
    left, right = np.full(800, 0.25, np.float32), np.full(800, -0.5, np.float32)
    sf.write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), SR, subtype="FLOAT")
    sf.write(tmp_path / "mono.wav", np.full(600, 0.125, np.float32), SR, subtype="FLOAT")
    sf.write(tmp_path / "three.wav", np.zeros((800, 3), np.float32), SR, subtype="FLOAT")
    (tmp_path / "ok.csv").write_text("path,labels\nstereo.wav,a\nmono.wav,b\n")
    (tmp_path / "bad.csv").write_text("path,labels\nstereo.wav,a\nthree.wav,b\n")
    ds = dataset_from_manifest(tmp_path / "ok.csv", sample_rate=SR, duration=0.1, batch_size=2, shuffle=False,
                               channels=2)
    (x, _), = list(ds)
    x = np.asarray(x)
    assert x.shape == (2, 800, 2)
    np.testing.assert_allclose(x[0, :, 0], 0.25)
    np.testing.assert_allclose(x[0, :, 1], -0.5)
    np.testing.assert_allclose(x[1, :600], 0.125)  # mono file on both channels, then zero padding
    np.testing.assert_allclose(x[1, 600:], 0.0)
    (mixed, _), = list(dataset_from_manifest(tmp_path / "ok.csv", sample_rate=SR, duration=0.1, batch_size=2,
                                             shuffle=False))
    np.testing.assert_allclose(np.asarray(mixed)[0], -0.125)  # (0.25 - 0.5) / 2
    bad = dataset_from_manifest(tmp_path / "bad.csv", sample_rate=SR, duration=0.1, batch_size=2, shuffle=False,
                                channels=2)
    with pytest.raises(Exception, match=r"row 3.*3 channels, expected 2"):
        list(bad)
    with pytest.raises(ValueError, match="channels"):
        dataset_from_manifest(tmp_path / "ok.csv", sample_rate=SR, channels=0)
