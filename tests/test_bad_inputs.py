"""Issue 14: nothing a user saved is lost, a crash loses at most one epoch, every bad input gets
a clear error (exit code, a message naming the file or flag, no traceback).

Every case runs the CLI in-process (``main([...])``); the kill test runs ``audioattn train`` in
a subprocess and SIGKILLs it while it writes a checkpoint. The files are written by the tests.
The multi-seed kill bench is ``bench/kill_resume.py``; the 3 h memory bench
``bench/long_audio_memory.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from keras_audioattn.cli import main
from keras_audioattn.data.synthetic import write_synthetic_corpus
from keras_audioattn.files import OWNED_MANIFEST

SR = 8000


# ---------------------------------------------------------------------------------------------
# Fixtures: a tiny tagging corpus, bad clips, and one finished run
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_inputs")
    corpus = write_synthetic_corpus("tagging", root / "tag", 12, sample_rate=SR, duration=0.5).parent
    bad = root / "clips"
    bad.mkdir()
    sf.write(bad / "empty.wav", np.zeros(0, np.float32), SR, subtype="FLOAT")
    nan = np.full(SR // 2, 0.1, np.float32)
    nan[100] = np.nan
    sf.write(bad / "nan.wav", nan, SR, subtype="FLOAT")
    (bad / "garbage.wav").write_bytes(b"RIFF\x00\x00not really a wave file at all" * 10)
    good = sorted((corpus / "audio").glob("*.wav"))[0]
    return {"root": root, "corpus": corpus, "bad": bad, "good": good}


def _manifest(path, rows, header="path,labels"):
    path.write_text(header + "\n" + "".join(f"{r}\n" for r in rows), encoding="utf-8")
    return path


def _train(work, out, *extra, train=None, val=None):
    corpus = work["corpus"]
    return ["train", "--preset", "chang2020-teacher", "--train", str(train or corpus / "train.csv"),
            "--val", str(val or corpus / "validation.csv"), "--out", str(out), "--small", "--sample-rate", str(SR),
            "--duration", "0.5", "--batch-size", "2", "--epochs", "1", "--verbose", "0", *extra]


@pytest.fixture(scope="module")
def run(work):
    out = work["root"] / "run"
    assert main(_train(work, out, "--patience", "0", "--seed", "1")) == 0
    return out


def _cli(capsys, args):
    capsys.readouterr()
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in text, text
    return code, captured.out, captured.err


def _incomplete(run, root, name):
    """A copy of the finished run that looks killed (config not completed, a backup present)."""
    copy = root / name
    shutil.copytree(run, copy)
    config = json.loads((copy / "config.json").read_text())
    config["completed"] = False
    (copy / "config.json").write_text(json.dumps(config))
    return copy


# ---------------------------------------------------------------------------------------------
# Numeric flags and arguments of every command: refused before any work
# ---------------------------------------------------------------------------------------------
TRAIN_FLAGS = [
    (("--learning-rate", "inf"), "--learning-rate"), (("--learning-rate", "nan"), "--learning-rate"),
    (("--learning-rate", "0"), "--learning-rate"), (("--mixup-alpha", "-1"), "--mixup-alpha"),
    (("--patience", "-1"), "--patience"), (("--duration", "1e9"), "--duration"), (("--duration", "0"), "--duration"),
    (("--sample-rate", "0"), "--sample-rate"), (("--epochs", "0"), "--epochs"), (("--batch-size", "0"), "--batch-size"),
    (("--channels", "0"), "--channels"), (("--seed", "-3"), "--seed"),
    (("--config-overrides", '{"dense_unitz": [8]}'), "valid keys"),
    (("--config-overrides", '{"num_classes": 3}'), "num_classes"),
    (("--teacher", "/nonexistent/teacher.keras"), "--teacher"),
]


@pytest.mark.parametrize("flag,expected", TRAIN_FLAGS, ids=[" ".join(f) for f, _ in TRAIN_FLAGS])
def test_train_numeric_flags(work, capsys, flag, expected):
    out = work["root"] / "never"
    args = _train(work, out)
    if flag[0] in args:  # replace a default of _train
        i = args.index(flag[0])
        args[i + 1] = flag[1]
    else:
        args += list(flag)
    code, _, err = _cli(capsys, args)
    assert code == 2 and expected in err, err
    assert not out.exists()  # nothing written


def test_other_commands_numeric_flags(work, run, capsys, tmp_path):
    clip = work["good"]
    cases = [
        (["predict", "--model", run, clip, "--top-k", "0"], "--top-k"),
        (["predict", "--model", run, clip, "--threshold", "2"], "--threshold"),
        (["evaluate", "--model", run, "--data", work["corpus"] / "test.csv", "--batch-size", "0"], "--batch-size"),
        (["make-data", "--task", "accents", "--out", tmp_path / "d", "--num-clips", "0"], "--num-clips"),
        (["make-data", "--task", "accents", "--out", tmp_path / "d", "--sample-rate", "0"], "--sample-rate"),
        (["make-data", "--task", "accents", "--out", tmp_path / "d", "--duration", "1e9"], "--duration"),
        (["make-data", "--task", "accents", "--out", tmp_path / "d", "--seed", "-1"], "--seed"),
        (["export", "--model", run, "--tflite", tmp_path / "m.tflite", "--sample-rate", "0"], "--sample-rate"),
        (["export", "--model", run, "--tflite", tmp_path / "m.tflite", "--num-samples", "0"], "--num-samples"),
        (["distill", "--teacher-preset", "chang2020-teacher", "--train", work["corpus"] / "train.csv", "--val",
          work["corpus"] / "validation.csv", "--out", tmp_path / "x", "--learning-rate", "inf"], "--learning-rate"),
        (["distill", "--teacher-preset", "chang2020-teacher", "--train", work["corpus"] / "train.csv", "--val",
          work["corpus"] / "validation.csv", "--out", tmp_path / "x", "--patience", "-1"], "--patience"),
    ]
    for args, expected in cases:
        code, _, err = _cli(capsys, args)
        assert code == 2 and expected in err, (args, err)
    assert not (tmp_path / "d").exists() and not (tmp_path / "x").exists()


def test_json_paths_checked_before_work(work, run, capsys, tmp_path):
    missing = tmp_path / "nonexistent" / "x.json"
    for args in (["evaluate", "--model", run, "--data", work["corpus"] / "test.csv", "--json", missing],
                 ["predict", "--model", run, work["good"], "--json", missing]):
        code, out, err = _cli(capsys, args)
        assert code == 2 and "--json" in err and "does not exist" in err, err
        assert not missing.parent.exists()  # no folder created outside what the user named
        assert out == ""  # refused before any work
    code, _, err = _cli(capsys, ["evaluate", "--model", run, "--data", work["corpus"] / "test.csv", "--json", tmp_path])
    assert code == 2 and "is a folder" in err


# ---------------------------------------------------------------------------------------------
# 1. Ownership: --overwrite deletes only what audioattn wrote
# ---------------------------------------------------------------------------------------------
def test_train_overwrite_refuses_a_folder_it_did_not_write(work, capsys, tmp_path):
    user = tmp_path / "mine"
    (user / "logs").mkdir(parents=True)
    for name in ("config.json", "model.keras", "training_log.csv", "logs/notes.txt"):
        (user / name).write_text("precious")
    code, _, err = _cli(capsys, _train(work, user, "--overwrite"))
    assert code == 2 and OWNED_MANIFEST in err and "delete it yourself" in err, err
    assert all((user / n).read_text() == "precious" for n in ("config.json", "model.keras", "logs/notes.txt"))


def test_train_overwrite_names_foreign_files_and_deletes_only_owned(work, run, capsys, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "my_notes.txt").write_text("mine")
    code, _, err = _cli(capsys, _train(work, copy, "--overwrite"))
    assert code == 2 and "my_notes.txt" in err and "did not write" in err, err
    assert (copy / "model.keras").exists() and (copy / "my_notes.txt").read_text() == "mine"
    os.remove(copy / "my_notes.txt")
    from keras_audioattn.training import _prepare_out

    _prepare_out(str(copy), True, False, "chang2020-teacher")  # what train --overwrite runs first
    assert sorted(os.listdir(copy)) == [OWNED_MANIFEST]
    assert "model.keras" in json.loads((copy / OWNED_MANIFEST).read_text())["owned"]


def test_make_data_overwrite_ownership(capsys, tmp_path):
    base = ["make-data", "--task", "accents", "--num-clips", "6", "--sample-rate", str(SR), "--duration", "0.5"]
    # A folder written by the user (or an older version): refused, nothing deleted.
    user = tmp_path / "user"
    (user / "audio").mkdir(parents=True)
    (user / "audio" / "take1.wav").write_bytes(b"mine")
    (user / "manifest.csv").write_text("path,labels\n")
    code, _, err = _cli(capsys, base + ["--out", user, "--overwrite"])
    assert code == 2 and OWNED_MANIFEST in err
    assert (user / "audio" / "take1.wav").read_bytes() == b"mine" and (user / "manifest.csv").exists()
    # A corpus the tool wrote, with one foreign file inside audio/: refused, naming it.
    corpus = tmp_path / "corpus"
    assert _cli(capsys, base + ["--out", corpus])[0] == 0
    (corpus / "audio" / "mine.wav").write_bytes(b"mine")
    code, _, err = _cli(capsys, base + ["--out", corpus, "--overwrite"])
    assert code == 2 and "audio/mine.wav" in err, err
    os.remove(corpus / "audio" / "mine.wav")
    code, _, err = _cli(capsys, base + ["--out", corpus, "--overwrite", "--num-clips", "3"])
    assert code == 0
    assert len(list((corpus / "audio").glob("*.wav"))) == 3
    assert "warning: the validation split is empty" in err and "--num-clips" in err  # 3 clips: empty splits


# ---------------------------------------------------------------------------------------------
# 3. Bad audio is found before training, with file and row
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("which,clip,expected", [
    ("train", "empty.wav", "zero samples"), ("train", "garbage.wav", "unreadable or corrupt"),
    ("val", "nan.wav", "non-finite"), ("val", "empty.wav", "zero samples")])
def test_bad_clip_found_before_training(work, capsys, tmp_path, which, clip, expected):
    corpus = work["corpus"]
    source = (corpus / ("train.csv" if which == "train" else "validation.csv")).read_text().splitlines()
    bad = tmp_path / f"{which}.csv"
    header, rows = source[0], source[1:]
    n = len(header.split(","))
    rows = [os.path.join(corpus, r.split(",")[0]) + "," + r.split(",", 1)[1] for r in rows]
    rows.insert(1, f"{work['bad'] / clip},engine" + "," * (n - 2))
    _manifest(bad, rows, header)
    out = tmp_path / "out"
    start = time.perf_counter()
    code, _, err = _cli(capsys, _train(work, out, **{which: bad}))
    assert code == 2 and expected in err and f"{bad}, row 3" in err and clip in err, err
    assert not out.exists(), "the run folder is made only once the data are checked"
    assert time.perf_counter() - start < 30


def test_nan_clip_met_while_training_and_evaluating_gives_one_line(work, run, capsys, tmp_path, monkeypatch):
    """A NaN inside a file whose header is fine surfaces in the tf.data decode step: the CLI
    prints the file and row, never TensorFlow's trace."""
    import keras_audioattn.data.manifest as manifest_module

    monkeypatch.setattr(manifest_module, "LAST_DECODE_ERROR", None)
    data = _manifest(tmp_path / "eval.csv", [f"{work['good']},engine", f"{work['bad'] / 'nan.wav'},dog"])
    code, _, err = _cli(capsys, ["evaluate", "--model", run, "--data", data, "--json", tmp_path / "e.json"])
    assert code == 2 and "nan.wav" in err and "non-finite" in err and f"{data}, row 3" in err, err
    assert not (tmp_path / "e.json").exists()


def test_predict_reports_every_file_and_fails_at_the_end(work, run, capsys, tmp_path):
    files = [work["good"], work["bad"] / "nan.wav", tmp_path / "missing.wav", work["bad"] / "garbage.wav", work["good"]]
    code, out, err = _cli(capsys, ["predict", "--model", run, *files, "--json", tmp_path / "p.json"])
    assert code == 1
    assert out.count(f"{work['good']}: ") == 2  # the good files are scored, before and after the bad ones
    assert "nan.wav: error:" in err and "missing.wav: error:" in err and "garbage.wav: error:" in err
    assert "3 of 5 files failed" in err
    results = json.loads((tmp_path / "p.json").read_text())
    assert [("error" in r) for r in results] == [False, True, True, True, False]


# ---------------------------------------------------------------------------------------------
# 4. Divergence is an error; non-finite weights are never saved
# ---------------------------------------------------------------------------------------------
def test_diverging_run_is_an_error_and_saves_no_nan_model(work, capsys, tmp_path):
    out = tmp_path / "diverged"
    code, _, err = _cli(capsys, _train(work, out, "--learning-rate", "1e30", "--patience", "0"))
    assert code == 1 and "diverged" in err and "--learning-rate" in err and "mix-up" in err, err
    if (out / "model.keras").exists():
        from keras_audioattn.files import all_finite
        from keras_audioattn.training import load_keras_model

        assert all_finite(load_keras_model(out / "model.keras"))
    assert not json.loads((out / "config.json").read_text())["completed"]


def test_ctrl_c_is_one_line_and_exit_130(work, capsys, tmp_path, monkeypatch):
    from keras_audioattn import training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train", interrupted)
    code, _, err = _cli(capsys, _train(work, tmp_path / "x"))
    assert code == 130 and err.strip() == "audioattn train: interrupted"


# ---------------------------------------------------------------------------------------------
# 2. --resume verifies what it loads
# ---------------------------------------------------------------------------------------------
def test_resume_names_damaged_files(work, run, capsys, tmp_path):
    # A best model cut in half.
    cut = _incomplete(run, tmp_path, "cut")
    data = (cut / "model.keras").read_bytes()
    (cut / "model.keras").write_bytes(data[: len(data) // 2])
    code, _, err = _cli(capsys, _train(work, cut, "--resume"))
    assert code == 2 and str(cut / "model.keras") in err and "damaged" in err and "Delete it" in err, err
    # An empty best-checkpoint state.
    empty = _incomplete(run, tmp_path, "empty")
    (empty / "checkpoint_state.json").write_text("")
    code, _, err = _cli(capsys, _train(work, empty, "--resume"))
    assert code == 2 and str(empty / "checkpoint_state.json") in err and "empty" in err, err
    # Corrupt backup weights.
    backup = _incomplete(run, tmp_path, "backup")
    (backup / "backup").mkdir()
    (backup / "backup" / "training_metadata.json").write_text('{"epoch": 1, "weights": "epoch-1.weights.h5"}')
    (backup / "backup" / "epoch-1.weights.h5").write_bytes(b"\x89HDF\r\n garbage")
    code, _, err = _cli(capsys, _train(work, backup, "--resume"))
    assert code == 2 and "epoch-1.weights.h5" in err and "damaged" in err, err
    # An empty config.json.
    (backup / "config.json").write_text("")
    code, _, err = _cli(capsys, _train(work, backup, "--resume"))
    assert code == 2 and str(backup / "config.json") in err and "empty" in err, err


def test_resume_with_another_architecture_is_one_line_and_keeps_config(work, run, capsys, tmp_path):
    other = _incomplete(run, tmp_path, "other")
    before = (other / "config.json").read_bytes()
    code, _, err = _cli(capsys, _train(work, other, "--resume", "--config-overrides", '{"dense_units": [12]}'))
    assert code == 2 and "another model/data configuration" in err and "dense_units" in err, err
    assert len(err.strip().splitlines()) == 1
    assert (other / "config.json").read_bytes() == before


# ---------------------------------------------------------------------------------------------
# 8. Manifests
# ---------------------------------------------------------------------------------------------
def test_manifest_encoding_and_duplicates(work, run, capsys, tmp_path):
    good = work["good"]
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfpath,labels\n" + f"{good},engine\n".encode())
    code, _, err = _cli(capsys, ["evaluate", "--model", run, "--data", bom, "--json", tmp_path / "bom.json"])
    assert code == 0, err
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"path,labels\n" + f"{good},engine\n".encode() + b"caf\xe9.wav,dog\n")
    code, _, err = _cli(capsys, ["evaluate", "--model", run, "--data", latin])
    assert code == 2 and f"{latin}, line 3" in err and "UTF-8" in err, err
    duplicated = _manifest(tmp_path / "dup.csv", [f"{good},engine", f"{good},dog", f"{good},engine"])
    code, _, err = _cli(capsys, ["evaluate", "--model", run, "--data", duplicated])
    assert code == 2 and "row 4" in err and "duplicate of row 2" in err, err


# ---------------------------------------------------------------------------------------------
# 9. Smaller items: distill checks its configuration before the teacher trains
# ---------------------------------------------------------------------------------------------
# The Chang front end stops at 7.5 kHz: at this corpus' 8 kHz both models get a front end below Nyquist.
_FMAX = '"front_end": {"fmax": 3800.0}'


@pytest.mark.parametrize("config,expected", [('{"blocks": [[8], [16]], %s}' % _FMAX, "pool2"),
                                             ('{"nope": 1, %s}' % _FMAX, "nope")])
def test_distill_teacher_config_checked_before_training(work, capsys, tmp_path, config, expected):
    out = tmp_path / "distill"
    args = ["distill", "--teacher-preset", "chang2020-teacher", "--train", work["corpus"] / "train.csv", "--val",
            work["corpus"] / "validation.csv", "--out", out, "--teacher-config", config, "--sample-rate", SR,
            "--student-config", "{%s}" % _FMAX, "--duration", "0.5", "--teacher-epochs", "1", "--epochs", "1"]
    code, out_text, err = _cli(capsys, args)
    assert code == 2 and "--teacher-config" in err and expected in err, err
    assert "val_micro_auprc" not in out_text and not out.exists()  # no teacher was trained


def test_model_flags_take_the_run_folder_or_its_keras_file(work, run, capsys, tmp_path):
    """Issue 17: every flag that takes a model goes through one resolver (folder or .keras)."""
    for model in (run, run / "model.keras"):
        code, out, err = _cli(capsys, ["predict", "--model", model, work["good"]])
        assert code == 0 and str(work["good"]) in out, err
    code, _, err = _cli(capsys, ["evaluate", "--model", run / "model.keras", "--data", work["corpus"] / "test.csv",
                                 "--json", tmp_path / "e.json"])
    assert code == 0 and (tmp_path / "e.json").exists(), err


# ---------------------------------------------------------------------------------------------
# 7. Export: unsupported cases are clear errors before conversion
# ---------------------------------------------------------------------------------------------
def test_export_errors(run, capsys, tmp_path):
    folder = tmp_path / "out_dir"
    folder.mkdir()
    code, _, err = _cli(capsys, ["export", "--model", run, "--tflite", folder, "--overwrite"])
    assert code == 2 and "is a folder" in err and not os.listdir(folder)
    code, _, err = _cli(capsys, ["export", "--model", run, "--tflite", tmp_path / "m.tflite", "--sample-rate", "16000"])
    assert code == 2 and "--sample-rate 16000 differs" in err and "8000" in err
    assert not (tmp_path / "m.tflite").exists()
    code, _, err = _cli(capsys, ["export", "--model", run, "--tflite", tmp_path / "nope" / "m.tflite"])
    assert code == 2 and "does not exist" in err and not (tmp_path / "nope").exists()


def test_export_takes_stereo_and_explains_lengths_inputs(capsys, tmp_path):
    """A (batch, samples, channels) model exports as it is (issue 14, item 7); a (waveform,
    lengths) model without a waveform-only copy is refused with the fix."""
    import keras

    stereo_in = keras.Input((800, 2), name="waveform")
    stereo = keras.Model(stereo_in, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(stereo_in)))
    wave, lengths = keras.Input((800,), name="waveform"), keras.Input((), dtype="int32", name="lengths")
    two_inputs = keras.Model([wave, lengths], keras.layers.Dense(3)(wave))  # (CAB-CNN's inputs)
    for model, expected in ((stereo, None), (two_inputs, "lengths")):
        folder = tmp_path / model.name
        folder.mkdir()
        model.save(folder / "model.keras")
        (folder / "class_names.txt").write_text("a\nb\nc\n")
        code, _, err = _cli(capsys, ["export", "--model", folder, "--tflite", folder / "m.tflite", "--sample-rate", SR])
        if expected is None:
            assert code == 0, err
            import export

            interpreter = export.checks.interpreter(str(folder / "m.tflite"))
            assert list(interpreter.get_input_details()[0]["shape"]) == [1, 800, 2]
            continue
        assert code == 2 and expected in err, err
        assert not (folder / "m.tflite").exists()


def test_int8_export_of_nested_rnn_is_refused_before_conversion(tmp_path):
    """AttentionLSTMClassifier's RNN sits inside the AttentionLSTM layer (not in model.layers):
    its int8 calibration segfaulted in the TFLite calibrator; now a ValueError comes first."""
    from export import to_tflite
    from keras_audioattn import presets

    model = presets.build_model("zhang2018-ta-sa", num_classes=3, small=True, sample_rate=SR)
    samples = model.inputs[0].shape[1] or SR
    with pytest.raises(ValueError, match="WHILE loop") as info:
        to_tflite(model, tmp_path / "z.tflite", "int8", representative_data=np.zeros((2, samples), np.float32),
                  labels=["a", "b", "c"], sample_rate=SR)
    assert "dynamic" in str(info.value)
    assert not os.listdir(tmp_path)


# ---------------------------------------------------------------------------------------------
# 6. Long recordings are read in windows
# ---------------------------------------------------------------------------------------------
class _MeanModel:
    """A stand-in model (no TensorFlow): three 'scores' per clip from its samples."""

    def predict_on_batch(self, batch):
        return np.stack([batch.mean(1), np.abs(batch).mean(1), batch.max(1)], 1)

    def predict(self, batch, batch_size=None, verbose=0):
        return self.predict_on_batch(batch)


def test_long_recording_scores_are_streamed_exactly(tmp_path):
    """Windowed scoring gives the scores of the whole-file path, and its peak memory does not
    grow with the recording (tracemalloc, 1 min vs 20 min at 16 kHz)."""
    import tracemalloc

    from keras_audioattn.training import recording_scores, streamed_recording_scores

    data = {"sample_rate": 16000, "duration": 1.0, "clip_overlap": 0.5}
    rng = np.random.default_rng(0)
    short = (0.1 * rng.standard_normal(16000 * 37 + 123)).astype(np.float32)
    sf.write(tmp_path / "short.wav", short, 16000, subtype="FLOAT")
    whole = recording_scores(_MeanModel(), [sf.read(tmp_path / "short.wav", dtype="float32")[0]], data)[0]
    streamed = streamed_recording_scores(_MeanModel(), tmp_path / "short.wav", data, clips_per_call=7)
    np.testing.assert_allclose(streamed, whole, rtol=1e-5, atol=1e-6)

    peaks = {}
    for minutes in (2, 12):
        path = tmp_path / f"{minutes}.wav"
        with sf.SoundFile(path, "w", samplerate=16000, channels=1, subtype="PCM_16") as f:
            for _ in range(minutes):
                f.write((0.1 * rng.standard_normal(16000 * 60)).astype(np.float32))
        tracemalloc.start()
        streamed_recording_scores(_MeanModel(), path, data, clips_per_call=64)
        peaks[minutes] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        os.remove(path)
    # A whole-file read would cost 6x (12 min of float32: 46 MB).
    assert peaks[12] < 1.2 * peaks[2], peaks


class _ChannelModel:
    """A stand-in model for (batch, clip, channels) clips: per-channel means, their product, a max."""

    def predict_on_batch(self, batch):
        if batch.ndim == 2:
            batch = batch[..., None]
        return np.stack([batch[..., 0].mean(1), batch[..., -1].mean(1), (batch[..., 0] * batch[..., -1]).mean(1),
                         batch.max((1, 2))], 1)


def _whole_file_scores(path, data, resample):
    """The whole-file path: decode (and resample) everything, cut clips along time, average."""
    from keras_audioattn.models.attention_lstm_classifier import split_into_clips
    from keras_audioattn.training import _read

    wave = _read(path, data, resample)
    clip = int(round(data["sample_rate"] * data["duration"]))
    hop = int(round(clip * (1 - data["clip_overlap"])))
    columns = wave[:, None] if wave.ndim == 1 else wave
    clips = np.stack([split_into_clips(columns[:, c], clip, hop) for c in range(columns.shape[1])], -1)
    return _ChannelModel().predict_on_batch(clips if wave.ndim == 2 else clips[..., 0]).mean(0)


@pytest.mark.parametrize("file_rate,file_channels,channels", [
    (16000, 2, 2),   # stereo run, stereo file
    (16000, 1, 2),   # stereo run, mono file (repeated on both channels)
    (44100, 1, 1),   # mono run, --resample 44.1 kHz -> 16 kHz (up 160, down 441)
    (48000, 2, 2),   # stereo run, --resample 48 kHz -> 16 kHz
    (22050, 2, 1),   # mono run from a stereo file (mixed down), --resample 22.05 kHz -> 16 kHz
])
def test_windowed_reading_of_multichannel_and_resampled_files_equals_whole_file(tmp_path, file_rate, file_channels,
                                                                               channels):
    """Issue 14, bounded memory: multi-channel runs and --resample runs are read in windows too;
    the scores equal the whole-file path's (resampling window by window with enough margin)."""
    from keras_audioattn.data.audio import resample
    from keras_audioattn.training import _read_resampled, _resample_plan, streamed_recording_scores

    data = {"sample_rate": 16000, "duration": 0.25, "clip_overlap": 0.5, "channels": channels}
    rng = np.random.default_rng(file_rate + channels)
    n = int(file_rate * 3.1) + 7
    t = np.arange(n) / file_rate
    wave = 0.3 * np.sin(2 * np.pi * 997 * t)[:, None] + 0.1 * rng.standard_normal((n, file_channels))
    path = tmp_path / "clip.wav"
    sf.write(path, wave.astype(np.float32), file_rate, subtype="FLOAT")
    whole = _whole_file_scores(path, data, resample=file_rate != 16000)
    for per_call in (1, 3, 64):  # many windows, a few, one
        streamed = streamed_recording_scores(_ChannelModel(), path, data, resample=file_rate != 16000,
                                             clips_per_call=per_call)
        np.testing.assert_allclose(streamed, whole, rtol=0, atol=1e-5, err_msg=f"clips_per_call={per_call}")
    if file_rate != 16000:
        # Sample level: every window of the resampled signal equals the whole-file resampling.
        mono = sf.read(path, dtype="float32", always_2d=True)[0].mean(axis=1, dtype=np.float32)
        full = resample(mono if channels == 1 else sf.read(path, dtype="float32", always_2d=True)[0], file_rate, 16000)
        plan = _resample_plan(file_rate, 16000)
        with sf.SoundFile(path) as handle:
            for first, end in ((0, 1000), (1, 777), (4321, 9000), (len(full) - 500, len(full))):
                got = _read_resampled(handle, first, end, n, plan, channels, path)
                want = full[first:end]
                assert got.shape == want.shape
                assert np.max(np.abs(got - want)) <= 1e-6, (first, end, np.max(np.abs(got - want)))


def test_windowed_resampling_of_stereo_files_has_bounded_memory(tmp_path):
    """Peak traced memory of a stereo 48 kHz file resampled to 16 kHz: 8 min costs what 2 min
    costs (measured: 62 MB and 58 MB; the whole-file path, decode + resample: 169 MB and 676 MB)."""
    import tracemalloc

    from keras_audioattn.training import streamed_recording_scores

    data = {"sample_rate": 16000, "duration": 1.0, "clip_overlap": 0.5, "channels": 2}
    rng = np.random.default_rng(1)
    peaks = {}
    for minutes in (2, 8):
        path = tmp_path / f"{minutes}.wav"
        with sf.SoundFile(path, "w", samplerate=48000, channels=2, subtype="PCM_16") as f:
            for _ in range(minutes):
                f.write((0.1 * rng.standard_normal((48000 * 60, 2))).astype(np.float32))
        tracemalloc.start()
        streamed_recording_scores(_ChannelModel(), path, data, resample=True, clips_per_call=64)
        peaks[minutes] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        os.remove(path)
    assert peaks[8] < 1.2 * peaks[2], peaks


def test_sample_rate_mismatch_without_resample_is_refused_in_windowed_reading(tmp_path):
    from keras_audioattn.training import streamed_recording_scores

    sf.write(tmp_path / "a.wav", np.zeros((4410, 2), np.float32), 44100)
    # The library names the argument (resample=True); the CLI renders it as --resample.
    with pytest.raises(ValueError, match=r"resample=True"):
        streamed_recording_scores(_ChannelModel(), tmp_path / "a.wav",
                                  {"sample_rate": 16000, "duration": 0.25, "clip_overlap": 0.5, "channels": 2})


# ---------------------------------------------------------------------------------------------
# 2. A SIGKILL inside a checkpoint write: --resume loses nothing but the epoch in progress
# ---------------------------------------------------------------------------------------------
def test_kill_during_checkpoint_write_then_resume_matches_uninterrupted(work, tmp_path):
    """The run is killed while its 2nd checkpoint file (a temporary .keras / .weights.h5) is being
    written; the resumed run's log and best checkpoint equal an uninterrupted run with the same
    seed (--deterministic). The reference runs in this process while the killed one runs."""
    from tensorflow.python.util import _pywrap_determinism

    from tests import kill_helpers as kh

    reference, killed = tmp_path / "reference", tmp_path / "killed"
    command = kh.train_command(work["corpus"], killed, seed=3, epochs=4)
    result = {}
    thread = threading.Thread(target=lambda: result.update(kill=kh.run_and_kill(command, str(killed), "save", 2)))
    thread.start()
    try:
        assert main(kh.train_command(work["corpus"], reference, seed=3, epochs=4)[3:]) == 0
        thread.join()
        was_killed, what = result["kill"]
        assert was_killed, "the run finished before the kill"
        config = json.loads((killed / "config.json").read_text())
        assert not config["completed"]
        assert main(kh.train_command(work["corpus"], killed, seed=3, epochs=4, extra=["--resume"])[3:]) == 0
    finally:
        thread.join()
        _pywrap_determinism.enable(False)  # --deterministic in this process: undo for the other tests
    kh.compare_runs(str(reference), str(killed))
    assert not (killed / "backup").exists() and not [n for n in os.listdir(killed) if n.startswith(kh.TMP_PREFIX)]
