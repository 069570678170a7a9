"""keras_audioattn.training: data pipelines, determinism, mixed precision, multi-device equivalence."""

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_audioattn import preset_registry, presets, training
from keras_audioattn.preset_registry import DataSettings, TrainingRecipe
from keras_audioattn.data import load_manifest
from keras_audioattn.data.synthetic import write_synthetic_corpus

SR = 8000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A tiny VGGish teacher without batch norm or dropout: its weights after training depend only
# on the data order, the initial weights and the gradient arithmetic.
TEACHER = dict(preset="chang2020-teacher", small=True, sample_rate=SR, duration=0.5, verbose=0,
               overrides={"normalize_inputs": False})


@pytest.fixture(scope="module")
def tagging(tmp_path_factory):
    """16 training clips of 0.5 s at 8 kHz (multi-label tagging)."""
    return write_synthetic_corpus("tagging", tmp_path_factory.mktemp("tagging"), 24, sample_rate=SR,
                                  duration=0.5).parent


def _weights(run_dir):
    return training.load_keras_model(os.path.join(run_dir, "model.keras")).get_weights()


def test_same_seed_same_weights(tagging, tmp_path):
    from tensorflow.python.framework import config as tf_config

    was_enabled = tf_config.is_op_determinism_enabled()
    try:
        runs = {}
        for name in ("a", "b"):
            result = training.train(train=str(tagging / "train.csv"), out=str(tmp_path / name), epochs=2, batch_size=4,
                                    seed=3, deterministic=True, patience=0, **TEACHER)
            runs[name] = _weights(tmp_path / name)
    finally:
        if not was_enabled:
            tf_config.disable_op_determinism()
    for x, y in zip(runs["a"], runs["b"]):
        np.testing.assert_array_equal(x, y)
    # The seed matters: another seed gives other initial weights (the same config otherwise).
    cls = presets.model_class("chang2020-teacher")
    initial = {}
    for seed in (3, 4):
        keras.utils.set_random_seed(seed)
        initial[seed] = cls(**result["config"]["model"]).get_weights()
    assert any(not np.array_equal(x, y) for x, y in zip(initial[3], initial[4]))
    assert any(not np.array_equal(x, y) for x, y in zip(initial[3], runs["a"]))  # and training moved them


_MIRRORED_SCRIPT = textwrap.dedent("""
    import json, os, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from keras_audioattn import training
    corpus, out = sys.argv[1], sys.argv[2]
    common = dict(preset="chang2020-teacher", train=os.path.join(corpus, "train.csv"), small=True, sample_rate=8000, duration=0.5,
                  overrides={"normalize_inputs": False}, epochs=1, optimizer="sgd", learning_rate=0.5,
                  seed=0, verbose=0, patience=0)
    results = {}
    for name, strategy, batch in (("one", "default", 4), ("two", "mirrored", 2)):
        result = training.train(out=os.path.join(out, name), strategy=strategy, batch_size=batch, **common)
        results[name] = result["config"]["replicas"], result["config"]["training"]["global_batch_size"]
    weights = {n: training.load_keras_model(os.path.join(out, n, "model.keras")).get_weights() for n in results}
    import keras
    from keras_audioattn import presets
    keras.utils.set_random_seed(0)  # the initial weights of both runs
    weights["init"] = presets.model_class("chang2020-teacher")(**result["config"]["model"]).get_weights()
    diff = lambda a, b: max(float(np.max(np.abs(x - y))) for x, y in zip(weights[a], weights[b]))
    print("RESULT " + json.dumps({"runs": results, "one_vs_two": diff("one", "two"),
                                  "trained": diff("one", "init")}))
""")


def test_mirrored_two_cpu_devices_matches_one_device(tagging, tmp_path):
    """MirroredStrategy over two logical CPUs, 2 clips per replica = one device with batch 4."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-c", _MIRRORED_SCRIPT, str(tagging), str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT "):])
    # --batch-size is per replica: the global batch is batch x replicas.
    assert result["runs"] == {"one": [1, 4], "two": [2, 4]}
    assert result["one_vs_two"] < 1e-5, result
    assert result["trained"] > 1e-2, result  # the weights moved far more than the tolerance


def _tiny_inputs(preset, num_classes):
    entry = presets.get_preset(preset)
    data = training.data_settings(preset, sample_rate=SR, duration=0.5 if entry["data"].get("duration") else None)
    _, cfg = training.network_config(preset, num_classes, data, small=True)
    rng = np.random.default_rng(0)
    x = (0.1 * rng.normal(size=(2, SR // 2))).astype("float32")
    if data.get("duration") is None:  # CAB-CNN: waveform + lengths
        x = [x, np.array([SR // 2, SR // 4], np.int32)]
    y = np.zeros((2, num_classes), np.float32)
    y[:, 0] = 1.0
    return entry, cfg, x, y


@pytest.mark.parametrize("preset", ["zhang2018-ta-sa", "lu2020-cab-cnn-5s", "deshmukh2020-2apae",
                                    "chang2020-teacher", "chang2020-student-lstm16"])
@pytest.mark.parametrize("precision", ["float16", "bfloat16"])
def test_mixed_precision_outputs_float32_and_trains(preset, precision):
    entry, cfg, x, y = _tiny_inputs(preset, 3)
    with training.dtype_policy(precision):
        assert keras.config.dtype_policy().name == f"mixed_{precision}"
        model = presets.model_class(preset)(**cfg)
        steps = training.step_arguments(training.resolve_settings(preset, epochs=1, learning_rate=1e-3))
        training._compile(model, entry["task"], ["a", "b", "c"], **steps["compile"])
        model.run_eagerly = True  # one step: eager is faster than tracing here
        outputs = model(x, training=False)
        outputs = outputs if isinstance(outputs, dict) else {"scores": outputs}
        for key in ("scores", "clip", "frame"):
            if key in outputs:
                assert outputs[key].dtype == "float32", (preset, key, outputs[key].dtype)
        # Most of the network runs in float16 (else the policy did nothing).
        assert any(layer.compute_dtype == precision for layer in model.layers), preset
        logs = model.train_on_batch(x, y, return_dict=True)
    assert keras.config.dtype_policy().name == "float32"
    assert np.isfinite(logs["loss"]), (preset, logs)


def test_zhang_recordings_become_overlapping_clips(tmp_path):
    """1 s clips with 50 % overlap from 2 s recordings: 3 clips each, shuffled per epoch statelessly."""
    import tensorflow as tf

    corpus = write_synthetic_corpus("scenes", tmp_path / "scenes", 6, sample_rate=SR, duration=2.0).parent
    manifest = load_manifest(corpus / "manifest.csv")
    entry = presets.get_preset("zhang2018-ta-sa")
    data = training.data_settings(entry, sample_rate=SR)
    assert data["duration"] == 1.0 and data["clip_overlap"] == 0.5
    ds = training.make_dataset(manifest, manifest.class_names, data, entry["task"], 4)
    x = np.concatenate([b[0].numpy() for b in ds])
    assert x.shape == (18, SR)
    first = load_manifest(corpus / "manifest.csv").paths[0]
    from keras_audioattn.data import load_audio

    wave, _ = load_audio(first, sample_rate=SR)
    np.testing.assert_allclose(x[1], wave[SR // 2: SR // 2 + SR], atol=1e-6)  # second clip starts at 0.5 s

    epoch = tf.Variable(0, dtype=tf.int64)
    shuffled = training.make_dataset(manifest, manifest.class_names, data, entry["task"], 4, shuffle=True,
                                     seed=1, epoch=epoch)
    order = lambda: np.concatenate([b[0].numpy()[:, 100] for b in shuffled])  # noqa: E731
    a, b = order(), order()
    epoch.assign(1)
    c = order()
    np.testing.assert_array_equal(a, b)  # same epoch: same order, whatever the iterator
    assert not np.array_equal(a, c)  # next epoch: another order
    np.testing.assert_allclose(np.sort(a), np.sort(x[:, 100]))  # same clips


def test_zhang_training_clips_are_the_evaluation_clips(tmp_path):
    """Training cuts a recording into the clips evaluation and predict_recording score: the one
    clip cutter, with the end-aligned last clip of a 2.3 s recording (0, 0.5, 1.0 and 1.3 s)."""
    from keras_audioattn.data import load_audio
    from keras_audioattn.data.batching import split_into_clips

    corpus = write_synthetic_corpus("scenes", tmp_path / "scenes", 3, sample_rate=SR, duration=2.3).parent
    manifest = load_manifest(corpus / "manifest.csv")
    entry = presets.get_preset("zhang2018-ta-sa")
    data = training.data_settings(entry, sample_rate=SR)
    x = np.concatenate([b[0].numpy() for b in training.make_dataset(manifest, manifest.class_names, data,
                                                                      entry["task"], 4)])
    expected = np.concatenate([split_into_clips(load_audio(p, sample_rate=SR)[0], SR, SR // 2)
                               for p in manifest.paths])
    assert x.shape == expected.shape == (12, SR)
    np.testing.assert_allclose(x, expected, atol=1e-6)


def test_sample_rate_mismatch_is_an_error(tagging, tmp_path):
    with pytest.raises(ValueError, match=r"sample-rate mismatch.*8000 Hz.*resample=True"):
        training.train("chang2020-teacher", str(tagging / "train.csv"), out=str(tmp_path / "run"), small=True,
                       epochs=1, verbose=0)  # the preset expects 16 kHz
    assert not (tmp_path / "run").exists()


_WORKER_SCRIPT = textwrap.dedent("""
    import json, os, sys
    from keras_audioattn import training
    corpus, out = sys.argv[1], sys.argv[2]
    result = training.train("chang2020-teacher", os.path.join(corpus, "train.csv"), out=out, small=True,
                            sample_rate=8000, duration=0.5, overrides={"normalize_inputs": False}, epochs=1,
                            optimizer="sgd", learning_rate=0.5, seed=0, verbose=0, patience=0,
                            strategy="multi-worker", batch_size=2)
    print("RESULT " + json.dumps([result["config"]["replicas"], result["config"]["training"]["global_batch_size"]]))
""")


def _free_ports(n):
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_two_processes_match_one_device(tagging, tmp_path):
    """MultiWorkerMirroredStrategy: two worker processes (TF_CONFIG, localhost), 2 clips each per
    step, give the weights of one device with batch 4; only the chief writes the run folder."""
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT,
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen([sys.executable, "-c", _WORKER_SCRIPT, str(tagging), str(tmp_path / "mw")],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err[-3000:]
            outputs.append(json.loads([ln for ln in out.splitlines() if ln.startswith("RESULT ")][-1][7:]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert outputs == [[2, 4], [2, 4]]
    training.train(train=str(tagging / "train.csv"), out=str(tmp_path / "one"), epochs=1, batch_size=4, seed=0,
                   optimizer="sgd", learning_rate=0.5, patience=0, **TEACHER)
    one, two = _weights(tmp_path / "one"), _weights(tmp_path / "mw")
    assert max(float(np.max(np.abs(x - y))) for x, y in zip(one, two)) < 1e-5
    assert sorted(os.listdir(tmp_path / "mw" / ".workers")) == ["1"]  # the other worker's own folder
    assert json.loads((tmp_path / "mw" / "config.json").read_text())["replicas"] == 2


def test_mixup_batches_are_convex_mixes_and_reproducible(tmp_path):
    """Jung et al.'s recipe mixes training clips (mixup_alpha 0.2): soft targets that still sum
    to 1, waveforms mixed with the same weights, the same batches for the same (seed, epoch)."""
    import tensorflow as tf

    from keras_audioattn.data.synthetic import write_synthetic_corpus
    from keras_audioattn.training import make_dataset

    corpus = write_synthetic_corpus("scenes", tmp_path / "scenes", 8, sample_rate=8000, duration=0.25).parent
    from keras_audioattn.data import load_manifest

    manifest = load_manifest(corpus / "manifest.csv")
    data = {"sample_rate": 8000, "duration": 0.25, "multi_label": False}
    epoch = tf.Variable(0, dtype=tf.int64)
    plain = make_dataset(manifest, manifest.class_names, data, "single_label", 8, shuffle=True, seed=3, epoch=epoch)
    mixed = make_dataset(manifest, manifest.class_names, data, "single_label", 8, shuffle=True, seed=3, epoch=epoch,
                         mixup_alpha=0.2)
    (x0, y0), = list(plain)
    (x1, y1), = list(mixed)
    (x2, y2), = list(mixed)
    np.testing.assert_allclose(np.sum(y1, axis=1), 1.0, atol=1e-6)
    assert np.any((y1 > 0.01) & (y1 < 0.99))  # soft targets
    np.testing.assert_array_equal(x1, x2)  # stateless: same (seed, epoch), same batch
    # Each mixed clip is lam * clip_i + (1 - lam) * clip_j of the unmixed batch, lam from its target.
    for i in range(8):
        errors = []
        for j in range(8):
            lam = None
            a, b = np.asarray(y0[i]), np.asarray(y0[j])
            # the target is lam a + (1 - lam) b: recover lam from a class where a and b differ
            k = np.flatnonzero(a != b)
            lam = 1.0 if not len(k) else float((np.asarray(y1[i])[k[0]] - b[k[0]]) / (a[k[0]] - b[k[0]]))
            errors.append(np.abs(lam * np.asarray(x0[i]) + (1 - lam) * np.asarray(x0[j]) - np.asarray(x1[i])).max())
        assert min(errors) < 1e-5, (i, errors)
    epoch.assign(1)
    (x3, _), = list(mixed)
    assert not np.array_equal(x3, x1)


def test_one_mixup_one_crop_pad_one_clip_cutter():
    """Issue 17: one mix-up formula behind the NumPy and tf.data paths; one crop/pad; the clips
    of the recording-level scorer are those of ``split_into_clips`` (Zhang et al. 2018, §3.1)."""
    from keras_audioattn.data.batching import clip_starts, fit_length
    from keras_audioattn.data.mixup import mixup_batch
    from keras_audioattn.data.batching import split_into_clips
    from keras_audioattn.models.attention_lstm_classifier import split_into_clips as split_mono

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 5, 2)).astype(np.float32), np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2]]
    x2, y2 = mixup_batch(x, y, alpha=0.2, rng=np.random.default_rng(1))
    draw = np.random.default_rng(1)
    lam, perm = draw.beta(0.2, 0.2, size=6).astype(np.float32), draw.permutation(6)
    np.testing.assert_allclose(x2, lam[:, None, None] * x + (1 - lam[:, None, None]) * x[perm], rtol=1e-6)
    np.testing.assert_allclose(y2, lam[:, None] * y + (1 - lam[:, None]) * y[perm], rtol=1e-6)
    np.testing.assert_allclose(y2.sum(axis=1), 1.0, atol=1e-6)
    assert fit_length(np.arange(5.0), 3).tolist() == [0.0, 1.0, 2.0]
    assert fit_length(np.arange(5.0), 3, crop="center").tolist() == [1.0, 2.0, 3.0]
    assert fit_length(np.ones((2, 2)), 4).tolist() == [[1, 1], [1, 1], [0, 0], [0, 0]]
    assert clip_starts(25, 10, 5) == [0, 5, 10, 15] and clip_starts(22, 10, 5) == [0, 5, 10, 12]
    assert clip_starts(7, 10, 5) == [0]
    for n in (3, 10, 22, 25, 31):
        wave = rng.normal(size=n).astype(np.float32)
        clips = split_into_clips(wave, 10, 5)
        assert [c[0] for c in clips] == [wave[s] for s in clip_starts(n, 10, 5)]
        np.testing.assert_array_equal(split_mono(wave, 10, 5), clips)
    stereo = rng.normal(size=(22, 2)).astype(np.float32)
    assert split_into_clips(stereo, 10, 5).shape == (4, 10, 2)


# ---------------------------------------------------------------- every recipe / data field reaches the driver

def _changed(field, value):
    """Another valid value of a TrainingRecipe / DataSettings field."""
    other = {
        "optimizer": lambda v: "sgd" if v != "sgd" else "adam",
        "learning_rate": lambda v: v * 2,
        "batch_size": lambda v: v + 1,
        "epochs": lambda v: 7 if v is None else v + 1,
        "early_stopping_patience": lambda v: 3 if v is None else v + 1,
        "monitor": lambda v: "val_other" if v != "val_other" else "val_loss",
        "monitor_mode": lambda v: "max" if v == "min" else "min",
        "loss": lambda v: "mean_squared_error",
        "distillation": lambda v: "bce+kd" if v != "bce+kd" else "bce",
        "mixup_alpha": lambda v: 0.4 if v is None else v + 0.1,
        "keep": lambda v: "last" if v == "best" else "best",
        "evaluate": lambda v: tuple(v) + ("macro_f1",),
        "back_end": lambda v: {"svm_kernel": "sigmoid"} if v is None else None,
        "tagger_preset": lambda v: "jung2020-tagger" if v is None else "chang2020-teacher",
        "sample_rate": lambda v: v + 1000,
        "duration": lambda v: 2.0 if v is None else v + 1.0,
        "channels": lambda v: v + 1,
        "multi_label": lambda v: not v,
        "batching": lambda v: "truncate" if v == "pad" else "pad",
        "max_seconds": lambda v: 3.0 if v is None else v + 1.0,
        "clip_overlap": lambda v: 0.25 if v is None else None,
    }
    return other[field](value)


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    """A teacher ``.keras`` and a tagger run folder (of family jung2020-tagger): only their paths
    and the tagger's config.json are read by the resolving step."""
    root = tmp_path_factory.mktemp("model_files")
    (root / "teacher.keras").write_bytes(b"")
    (root / "tagger").mkdir()
    (root / "tagger" / "model.keras").write_bytes(b"")
    (root / "tagger" / "config.json").write_text(json.dumps({"preset": "jung2020-tagger", "family": "jung2020-tagger"}))
    return {"teacher": str(root / "teacher.keras"), "tagger": str(root / "tagger")}


def _driver_view(preset, model_files, changed_field, original):
    """What the driver's steps are given (``step_arguments`` of ``resolve_settings``), or the
    ArgumentError it raises. A teacher / tagger is passed where the original or the changed
    preset takes one (so a change of ``distillation`` / ``tagger_preset`` shows)."""
    args = {}
    if original.recipe.epochs is None and changed_field != "epochs":
        args["epochs"] = 2  # Deshmukh et al. give none: the driver asks for one
    if original.recipe.tagger_preset is not None or preset.recipe.tagger_preset is not None:
        args["tagger"] = model_files["tagger"]
    if changed_field == "distillation":
        args["teacher"] = model_files["teacher"]
    try:
        return training.step_arguments(training.resolve_settings(preset, **args))
    except training.ArgumentError as error:
        return ("error", error.argument, str(error))


RECIPE_FIELDS = [f.name for f in dataclasses.fields(TrainingRecipe)]
DATA_FIELDS = [f.name for f in dataclasses.fields(DataSettings)]


@pytest.mark.parametrize("field", RECIPE_FIELDS + DATA_FIELDS)
def test_every_recipe_and_data_field_reaches_the_driver(field, model_files):
    """Issue 17: for every registered preset, a changed recipe / data field changes what the
    training driver's steps are given (compile, fit, datasets, callbacks, distillation,
    evaluation) or makes it refuse the run naming an argument; a field no code reads fails here."""
    part = "recipe" if field in RECIPE_FIELDS else "data"
    for name, preset in preset_registry.presets().items():
        settings = getattr(preset, part)
        changed = dataclasses.replace(preset, **{part: dataclasses.replace(
            settings, **{field: _changed(field, getattr(settings, field))})})
        before = _driver_view(preset, model_files, field, preset)
        after = _driver_view(changed, model_files, field, preset)
        assert before != after, f"{name}: {part}.{field} changed, the driver's steps did not ({before})"


def test_overrides_reach_the_resolved_settings():
    """CLI overrides replace the recipe's fields (dataclasses.replace); 0 disables patience / mix-up."""
    settings = training.resolve_settings("jung2020-tagger", epochs=3, batch_size=5, learning_rate=0.01,
                                         optimizer="sgd", patience=4, mixup_alpha=0, sample_rate=8000,
                                         duration=0.5, channels=1)
    assert isinstance(settings.recipe, TrainingRecipe) and isinstance(settings.data, DataSettings)
    assert (settings.recipe.epochs, settings.recipe.batch_size, settings.recipe.learning_rate,
            settings.recipe.optimizer, settings.recipe.early_stopping_patience, settings.recipe.mixup_alpha) == (
        3, 5, 0.01, "sgd", 4, None)
    assert (settings.data.sample_rate, settings.data.duration, settings.data.channels) == (8000, 0.5, 1)
    assert preset_registry.get("jung2020-tagger").recipe.mixup_alpha == 0.2  # the preset is untouched
    with pytest.raises(training.ArgumentError, match="epochs"):
        training.resolve_settings("deshmukh2020-2apae")  # no number of epochs in the paper


def test_fixed_length_families_get_num_samples_from_the_data():
    """``PresetFamily.fixed_length``: the driver sets ``num_samples`` = duration x sample rate
    (Chang, Zhang: trained on clips of one length); the other families keep theirs."""
    data = training.data_settings("chang2020-student-lstm16", sample_rate=8000, duration=0.5)
    cls, config = training.network_config("chang2020-student-lstm16", 3, data, small=True)
    assert config["num_samples"] == 4000 and config["sample_rate"] == 8000
    assert tuple(cls(**config).input.shape) == (None, 4000)
    fixed = {name for name, family in preset_registry.families().items() if family.fixed_length}
    assert fixed == {"zhang2018", "chang2020-teacher", "chang2020-student"}
    _, config = training.network_config("jung2020-tagger", 3, training.data_settings("jung2020-tagger", 8000, 0.5),
                                        small=True)
    assert config.get("num_samples") is None


def test_adapt_fits_the_standardisation_and_the_output_bias_on_training_batches():
    """The driver's data-dependent step: 2APAE's dataset standardisation and its label-prior
    output biases (``output_bias_init="label_prior"``) from the training batches it reads."""
    import tensorflow as tf

    from keras_audioattn.models import TwoStepAttentionSED
    from keras_audioattn.training.train import _adapt

    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, (10, 6, 8)).astype("float32")
    y = (rng.random((10, 3)) < [0.2, 0.5, 0.9]).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    model = TwoStepAttentionSED(3, encoder_filters=(4,), num_mel_bins=8)
    assert _adapt(model, ds)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.normalizer.mean), x.reshape(-1, 8).mean(0), rtol=1e-5)
    p = (y.sum(0) + 0.5) / 11.0
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.pooling_layer.time_classification_bias),
                               np.log(p / (1 - p)), rtol=1e-5)
    zeros = TwoStepAttentionSED(3, encoder_filters=(4,), num_mel_bins=8, normalization=None, output_bias_init="zeros")
    assert not _adapt(zeros, ds)  # nothing data-dependent to fit
