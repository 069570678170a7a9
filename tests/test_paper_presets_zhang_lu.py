"""Zhang et al. 2018 and Lu et al. 2020 presets = the papers (a table with the source of each value),
CAB-CNN as a plain Keras model (``fit(x, y)``), the paper's batching and ``keep="last"`` reachable
from the presets."""

import json

import keras
import numpy as np
import pytest

from keras_audioattn import presets, training
from keras_audioattn.models import AttentionLSTMClassifier, CABCNN

ZHANG = "../shared/papers/zhang2018_multimodal_attention_lstm.txt"
LU = "../shared/papers/lu2020_cab_cnn.txt"

# (argument, LITIS Rouen value, DCASE 2016 value, source in Zhang et al. 2018)
ZHANG_TABLE = [
    ("num_classes", 19, 15, "§3 dataset list: 19 classes (LITIS Rouen), 15 classes (DCASE2016)"),
    ("sample_rate", 22050, 44100, "§3: 'sampling frequency ... 22050 Hz' / '44100 Hz'"),
    ("units", 128, 128, "§3.2: 'number of LSTM cells as 128, LSTM layers as 1'"),
    ("attention_size", 64, 64, "§3.2: 'attention size of temporal attention LSTM in Eq.4 is 64'"),
    ("num_clusters", 128, 128, "§3.2: 'codebook dimension of semantic attention LSTM in Eq.6 is 128'"),
    ("hidden_units", [128], [128], "§3.2: DNN '128 x 128 x 19(15)' = LSTM output 128, one hidden 128, C outputs "
                                   "(package reading; (128, 128) is the option)"),
    ("dropout", 0.0, 0.5, "§3.2: 'For DCASE2016 dataset, we set dropout rate as 0.5' (none stated for LITIS)"),
    ("l2", 1e-4, 1e-4, "§3.2: 'l2 weight is 1e-4'"),
    ("num_samples", None, None, "§3.1: any length; the '1-second clips' are the data's duration (ZHANG_DATA)"),
    ("num_mel_bins", 64, 64, "§3.1: 'the number of frequency filters is set to be 64'"),
    ("normalize_inputs", False, False, "§3.1: no input normalisation in the paper (the BatchNorm is an option)"),
]
ZHANG_RECIPE = [
    ("optimizer", "adam", "§3.2: 'training is done using the Adam update method'"),
    ("learning_rate", 1e-3, "§3.2: 'the learning rate of 0.001'"),
    ("epochs", 100, "§3.2: 'All these methods are stopped after 100 training epochs'"),
    ("keep", "last", "§3.3 / Table 1: 'comparison of performance ... after 100 training epochs'"),
    ("early_stopping_patience", None, "§3.2: fixed 100 epochs, no early stopping"),
]
ZHANG_DATA = [("duration", 1.0, "§3.1"), ("clip_overlap", 0.5, "§3.1: '50% overlap'")]
ZHANG_VARIANTS = {"vanilla": "vanilla", "ta": "ta", "sa": "sa", "ta-sa": "ta_sa"}  # Table 1 rows

# (argument, value, source in Lu et al. 2020) -- the built model's config (constructor defaults)
LU_TABLE = [
    ("num_classes", 3, "§4: 'three English accents: American (US), Australian (AU) and Great British'"),
    ("sample_rate", 16000, "not stated in the paper: UT-Podcast's distribution rate"),
    ("target_rate", 4000, "§4 Preprocessing: 'for every second ... 4,000 sub-intervals'"),
    ("conv_filters", [16, 32, 32, 128], "Table 2: Conv1D # filters 16, 32, 32, 128"),
    ("conv_kernel_sizes", [4, 4, 10, 10], "Table 2: Conv1D sizes 4, 4, 10, 10"),
    ("pool_sizes", [4, 4, 10, 10], "Table 2: MaxPooling sizes 4, 4, 10, 10"),
    ("pool_strides", [2, 2, 5, 5], "Table 2: MaxPooling strides 2, 2, 5, 5"),
    ("dropout_rates", [0.15, 0.15, 0.1, 0.0], "Table 2: Dropout(0.15), (0.15), (0.1), none after the 4th pooling"),
    ("num_classifiers", 40, "Table 2: 'ACB: 40 Classifiers and 1 attention block'"),
    ("classifier_units", [8, 4], "§4 Model configurations: 'two fully connected layers of eight and four neurons'"),
    ("attention_units", [160, 80], "§4 Model configurations: attention 'two fully connected layers of size 160 and 80'"),
]
LU_RECIPE = [
    ("optimizer", "adam", "§4 Model training: 'Adam optimizer'"),
    ("batch_size", 128, "§4 Model training: 'We set the batch size to 128'"),
    ("loss", "categorical_crossentropy", "§4 Model training: 'the regular cross entropy function'"),
    ("early_stopping_patience", 15, "§4 Model training: 'early stopping technique with patience 15'"),
]
LU_DATA = [
    ("batching", "truncate", "§4 Model training: 'we truncate the sizes of the batch inputs just equal to the "
                             "shortest one of that batch'"),
    ("sample_rate", 16000, "as the model's sample_rate"),
]


@pytest.mark.parametrize("slug", sorted(ZHANG_VARIANTS))
@pytest.mark.parametrize("dataset", ["litis", "dcase2016"])
def test_zhang_presets_are_the_paper(slug, dataset):
    name = f"zhang2018-{slug}" + ("-dcase2016" if dataset == "dcase2016" else "")
    entry = presets.get_preset(name)
    model_args = entry["model"]
    assert model_args["variant"] == ZHANG_VARIANTS[slug], "Table 1 row"
    for key, litis, dcase, source in ZHANG_TABLE:
        want = litis if dataset == "litis" else dcase
        assert model_args[key] == want, f"{name}: {key}={model_args[key]!r}, paper {want!r} ({source})"
    for key, want, source in ZHANG_RECIPE:
        assert entry["training"].get(key) == want, f"{name}: training {key} ({source})"
    for key, want, source in ZHANG_DATA:
        assert entry["data"][key] == want, f"{name}: data {key} ({source})"
    assert entry["data"]["sample_rate"] == model_args["sample_rate"]


def test_zhang_class_defaults_are_a_paper_setting():
    """Class defaults = the DCASE 2016 setting of §3 / §3.2 (44.1 kHz, dropout 0.5), no input BatchNorm."""
    config = AttentionLSTMClassifier(15).get_config()
    paper = presets.get_preset("zhang2018-ta-sa-dcase2016")["model"]
    for key, _, _, source in ZHANG_TABLE:
        value = config[key]
        assert (list(value) if isinstance(value, tuple) else value) == paper[key], (key, source)
    options = AttentionLSTMClassifier(3, include_front_end=False, num_mel_bins=6, units=4, attention_size=2,
                                      num_clusters=2, hidden_units=(4, 4), normalize_inputs=True)
    names = [layer.name for layer in options.layers]
    assert "feature_norm" in names and "dense_1" in names  # the two named options still exist
    default = AttentionLSTMClassifier(3, include_front_end=False, num_mel_bins=6, units=4, attention_size=2,
                                      num_clusters=2, hidden_units=(4,))
    assert "feature_norm" not in [layer.name for layer in default.layers]


@pytest.mark.parametrize("seconds", [5, 10, 30, 60])
def test_lu_presets_are_the_paper(seconds):
    name = f"lu2020-cab-cnn-{seconds}s"
    entry = presets.get_preset(name)
    assert entry["model"]["max_seconds"] == seconds == entry["data"]["max_seconds"], "Table 4: CAB-CNN-Ts"
    config = presets.build_model(name).get_config()  # preset + constructor defaults
    for key, want, source in LU_TABLE:
        assert config[key] == want, f"{name}: {key}={config[key]!r}, paper {want!r} ({source})"
    for key, want, source in LU_RECIPE:
        assert entry["training"][key] == want, f"{name}: training {key} ({source})"
    for key, want, source in LU_DATA:
        assert entry["data"][key] == want, f"{name}: data {key} ({source})"
    assert "batching" not in entry["training"]  # one place only: the data section the driver reads


def test_cab_cnn_fits_plain_arrays_and_keeps_the_lengths_path(tmp_path):
    """``CABCNN(...).fit(x, y)`` on fixed-length clips (lengths absent = full length), predict and
    export with the waveform alone; ``[waveform, lengths]`` still works and agrees."""
    keras.utils.set_random_seed(0)
    # The tiny preset without its 5 s cut: the lengths path must be the model's default here.
    model = CABCNN.from_preset("lu2020-tiny", num_classes=5, sample_rate=8000, max_seconds=None,
                               length_input=CABCNN(5).length_input)
    assert model.length_input  # default unchanged: padded batches with lengths still work
    rng = np.random.default_rng(0)
    x = (0.3 * rng.normal(size=(10, 4000))).astype("float32")
    y = keras.utils.to_categorical(np.arange(10) % 5, 5)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=5, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    plain = model.predict(x, verbose=0)
    full = np.full(10, 4000, "int32")
    np.testing.assert_allclose(model.predict([x, full], verbose=0), plain, atol=1e-6)
    np.testing.assert_allclose(np.asarray(model({"waveform": x})), plain, atol=1e-6)
    inp = keras.Input((4000,))
    nested = keras.Model(inp, model(inp))  # a waveform-only symbolic call stays connected
    np.testing.assert_allclose(nested.predict(x, verbose=0), plain, atol=1e-6)
    # Shorter valid lengths still change the scores (the lengths path is kept).
    assert np.abs(np.asarray(model([x, full // 2])) - plain).max() > 1e-5
    export = pytest.importorskip("export")
    path = export.to_tflite(model, str(tmp_path / "cab.tflite"), quantization="float32", num_samples=4000,
                            metadata=False)
    from export.checks import run_tflite

    np.testing.assert_allclose(run_tflite(path, x[:2])["scores"], plain[:2], atol=1e-4)


def test_cab_cnn_paper_batching_is_selected_by_the_preset(tmp_path):
    from keras_audioattn.data import load_manifest
    from keras_audioattn.data.synthetic import write_synthetic_corpus

    corpus = write_synthetic_corpus("accents", tmp_path / "acc", 6, sample_rate=8000, duration=(0.3, 0.9)).parent
    manifest = load_manifest(corpus / "manifest.csv")
    entry = presets.get_preset("lu2020-cab-cnn-5s")
    data = training.data_settings(entry, sample_rate=8000)
    assert data["batching"] == "truncate"
    lengths = sorted(int(np.ceil(n)) for n in training._lengths(manifest, 8000))
    train_ds = training.make_dataset(manifest, manifest.class_names, data, entry["task"], 6, shuffle=True, seed=0)
    (w, n), _ = next(iter(train_ds))
    assert w.shape[1] == lengths[0] and set(n.numpy().tolist()) == {lengths[0]}  # cut to the shortest clip
    eval_ds = training.make_dataset(manifest, manifest.class_names, data, entry["task"], 6)
    (w, n), _ = next(iter(eval_ds))
    assert w.shape[1] == lengths[-1] and sorted(n.numpy().tolist()) == lengths  # evaluation: every clip whole
    pad = training.make_dataset(manifest, manifest.class_names, {**data, "batching": "pad"}, entry["task"], 6,
                                shuffle=True, seed=0)
    (w, n), _ = next(iter(pad))
    assert w.shape[1] == lengths[-1]


def test_keep_last_saves_the_final_epoch(tmp_path, monkeypatch):
    """The Zhang presets' recipe says keep="last": the run's model.keras holds the last epoch's
    weights, not the best validation epoch's."""
    from keras_audioattn.data.synthetic import write_synthetic_corpus

    snapshots = []
    original = training._best_saver

    def spy(target, *args, **kwargs):  # records the network's weights after every epoch
        saver = original(target, *args, **kwargs)
        inner = saver.on_epoch_end

        def on_epoch_end(epoch, logs=None):
            inner(epoch, logs)
            snapshots.append([np.array(w) for w in target.get_weights()])

        saver.on_epoch_end = on_epoch_end
        return saver

    monkeypatch.setattr(training.callbacks, "_best_saver", spy)  # issue 17: the saver lives in training/callbacks.py
    corpus = write_synthetic_corpus("scenes", tmp_path / "scenes", 6, sample_rate=8000, duration=1.0).parent
    assert presets.get_preset("zhang2018-ta")["training"]["keep"] == "last"
    out = tmp_path / "run"
    result = training.train("zhang2018-ta", str(corpus / "manifest.csv"), out=str(out), small=True,
                            sample_rate=8000, epochs=3, verbose=0)
    assert result["config"]["training"]["keep"] == "last" and len(snapshots) == 3
    saved = training.load_keras_model(str(out / "model.keras")).get_weights()
    for got, want in zip(saved, snapshots[-1]):
        np.testing.assert_array_equal(got, want)
    assert any(not np.array_equal(a, b) for a, b in zip(snapshots[0], snapshots[-1]))  # it did train
