"""`audioattn train / evaluate / predict` end to end on tiny synthetic corpora, resume, bad usage."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from keras_audioattn import presets
from keras_audioattn.cli import main
from keras_audioattn.data.synthetic import write_synthetic_corpus

SR = 8000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpora")
    return {
        "accents": write_synthetic_corpus("accents", root / "accents", 12, sample_rate=SR, duration=(0.5, 1.0)).parent,
        "events": write_synthetic_corpus("events", root / "events", 16, sample_rate=SR, duration=0.5).parent,
        "scenes": write_synthetic_corpus("scenes", root / "scenes", 24, sample_rate=SR, duration=1.5).parent,
        "tagging": write_synthetic_corpus("tagging", root / "tagging", 24, sample_rate=SR, duration=0.5).parent,
    }


def _train_args(preset, corpus, out, *extra):
    return ["train", "--preset", preset, "--train", str(corpus / "train.csv"), "--val", str(corpus / "validation.csv"),
            "--out", str(out), "--small", "--sample-rate", str(SR), "--verbose", "0", *extra]


def _log_epochs(run):
    with open(run / "training_log.csv", newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_cab_cnn_train_evaluate_predict(corpora, tmp_path, capsys):
    corpus, run = corpora["accents"], tmp_path / "cab"
    assert main(_train_args("lu2020-cab-cnn-5s", corpus, run, "--epochs", "2", "--batch-size", "4")) == 0
    for name in ("model.keras", "config.json", "class_names.txt", "training_log.csv", "logs"):
        assert (run / name).exists(), name
    assert not (run / "backup").exists()  # removed when training completes
    config = json.loads((run / "config.json").read_text())
    assert config["preset"] == "lu2020-cab-cnn-5s" and config["completed"] and config["epochs_completed"] == 2
    assert config["data"]["sample_rate"] == SR and config["model"]["sample_rate"] == SR
    assert config["training"]["early_stopping_patience"] == 15 and config["training"]["global_batch_size"] == 4
    assert (run / "class_names.txt").read_text().split() == config["class_names"] == ["american", "australian",
                                                                                        "british"]
    assert _log_epochs(run) == [0, 1]
    capsys.readouterr()

    assert main(["evaluate", "--model", str(run), "--data", str(corpus / "test.csv")]) == 0
    out = capsys.readouterr().out
    report = json.loads((run / "evaluation.json").read_text())
    assert list(report["metrics"]) == ["accuracy", "unweighted_recall", "macro_f1", "confusion_matrix"]
    matrix = report["metrics"]["confusion_matrix"]
    assert len(matrix) == 3 and sum(map(sum, matrix)) == report["num_clips"] == 3
    assert 0.0 <= report["metrics"]["accuracy"] <= 1.0
    assert "confusion_matrix (rows: actual" in out and "macro_f1:" in out
    # An existing JSON file is never replaced without --overwrite.
    assert main(["evaluate", "--model", str(run), "--data", str(corpus / "test.csv")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(run), "--data", str(corpus / "test.csv"), "--overwrite"]) == 0

    clip = sorted((corpus / "audio").glob("*.wav"))[0]
    capsys.readouterr()
    assert main(["predict", "--model", str(run), str(clip), "--top-k", "2"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[0]
    assert line.startswith(f"{clip}: ") and len(line.split(", ")) == 2


def test_jung_tagger_then_tag_conditioned_asc(corpora, tmp_path, capsys):
    """Jung et al. 2020 from files: a tagger trained on tagging data, then the ASC conditioned on
    its frozen tags; evaluate, predict and export take the run folder like any other."""
    import keras
    import numpy as np

    import export

    tagger_run, asc_run = tmp_path / "tagger", tmp_path / "asc"
    assert main(_train_args("jung2020-tagger", corpora["tagging"], tagger_run, "--epochs", "1", "--batch-size", "4",
                            "--duration", "0.5")) == 0
    # The tag-conditioned presets refuse to start without the tag source.
    assert main(_train_args("jung2020-tag-asc", corpora["scenes"], asc_run, "--epochs", "1")) == 2
    assert "--tagger" in capsys.readouterr().err
    assert main(_train_args("jung2020-tag-asc", corpora["scenes"], asc_run, "--epochs", "2", "--batch-size", "4",
                            "--duration", "1.5", "--tagger", str(tagger_run / "model.keras"))) == 0
    config = json.loads((asc_run / "config.json").read_text())
    assert config["model"]["tagger_model"] == str(tagger_run / "model.keras")
    assert config["model"]["num_channels"] == 2 and config["training"]["mixup_alpha"] == 0.2  # the paper: stereo
    model = keras.saving.load_model(asc_run / "model.keras", compile=False)
    tagger = keras.saving.load_model(tagger_run / "model.keras", compile=False)
    frozen = [layer for layer in model.layers if layer.name == tagger.name]
    assert frozen and not frozen[0].trainable_weights  # the tag source stays frozen
    np.testing.assert_array_equal(frozen[0].get_weights()[0], tagger.get_weights()[0])
    capsys.readouterr()
    assert main(["evaluate", "--model", str(asc_run), "--data", str(corpora["scenes"] / "test.csv")]) == 0
    out = capsys.readouterr().out
    report = json.loads((asc_run / "evaluation.json").read_text())
    # The paper's metric (an SVM on the code, fit on the run's training clips) beside the softmax one.
    assert list(report["metrics"]) == ["accuracy", "svm_accuracy"] and not report["undefined"]
    assert 0.0 <= report["metrics"]["accuracy"] <= 1.0 and 0.0 <= report["metrics"]["svm_accuracy"] <= 1.0
    train_rows = len((corpora["scenes"] / "train.csv").read_text().strip().splitlines()) - 1
    assert report["back_end"] == {"kernel": "rbf", "fit_on": str(corpora["scenes"] / "train.csv"),
                                  "num_train_clips": train_rows, "code_dim": 6}
    assert "svm_accuracy:" in out and "accuracy:" in out and f"fit on {train_rows} training clips" in out
    # A moved training manifest leaves the SVM undefined (with the reason), the softmax accuracy stands.
    moved = dict(json.loads((asc_run / "config.json").read_text()), train_manifest=str(tmp_path / "gone.csv"))
    (asc_run / "config.json").write_text(json.dumps(moved))
    assert main(["evaluate", "--model", str(asc_run), "--data", str(corpora["scenes"] / "test.csv"),
                 "--json", str(tmp_path / "moved.json")]) == 0
    report = json.loads((tmp_path / "moved.json").read_text())
    assert report["metrics"]["svm_accuracy"] is None and "gone.csv" in report["undefined"]["svm_accuracy"]
    assert report["metrics"]["accuracy"] is not None
    clip = sorted((corpora["scenes"] / "audio").glob("*.wav"))[0]
    capsys.readouterr()
    assert main(["predict", "--model", str(asc_run), str(clip)]) == 0
    assert capsys.readouterr().out.startswith(f"{clip}: ")
    # The stereo run (the paper's input) exports as it is: (1, samples, 2) float32 and int8 files, calibrated
    # on the manifest's clips read with 2 channels, and a SavedModel serving (batch, samples, 2).
    capsys.readouterr()
    assert main(["export", "--model", str(asc_run), "--tflite", str(tmp_path / "stereo.tflite"),
                 "--saved-model", str(tmp_path / "stereo_sm")]) == 0, capsys.readouterr().err
    assert "MediaPipe's AudioClassifier takes rank <= 2" in capsys.readouterr().out
    assert main(["export", "--model", str(asc_run), "--tflite", str(tmp_path / "stereo_int8.tflite"), "--quantization",
                 "int8", "--representative", str(corpora["scenes"] / "train.csv")]) == 0, capsys.readouterr().err
    for name in ("stereo.tflite", "stereo_int8.tflite"):
        assert list(export.checks.interpreter(str(tmp_path / name)).get_input_details()[0]["shape"])[2:] == [2]
        assert export.read_metadata(tmp_path / name)["channels"] == 2
    assert "QUANTIZE" in export.tflite_ops(tmp_path / "stereo_int8.tflite")
    info = json.loads((tmp_path / "stereo_sm" / "1" / "assets" / "audioattn_export.json").read_text())
    assert info["channels"] == 2 and info["sample_rate"] == SR
    # A mono run (--channels 1) exports a (1, samples) file.
    mono_run = tmp_path / "asc_mono"
    assert main(_train_args("jung2020-tag-asc", corpora["scenes"], mono_run, "--epochs", "1", "--batch-size", "4",
                            "--duration", "1.5", "--channels", "1", "--tagger", str(tagger_run / "model.keras"))) == 0
    assert main(["export", "--model", str(mono_run), "--tflite", str(tmp_path / "asc.tflite")]) == 0
    assert {"CONV_2D", "SOFTMAX"} <= set(export.tflite_ops(tmp_path / "asc.tflite"))  # checked by export itself


def test_sed_predict_prints_events_with_times(corpora, tmp_path, capsys):
    corpus, run = corpora["events"], tmp_path / "sed"
    assert main(_train_args("deshmukh2020-2apae", corpus, run, "--epochs", "1", "--batch-size", "4",
                            "--duration", "0.5")) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["include_front_end"] is True and config["adapted_normalization"] is True
    capsys.readouterr()
    clip = sorted((corpus / "audio").glob("*.wav"))[0]
    out_json = tmp_path / "pred.json"
    assert main(["predict", "--model", str(run), str(clip), "--threshold", "0.0", "--json", str(out_json)]) == 0
    printed = capsys.readouterr().out
    result = json.loads(out_json.read_text())[0]
    # Threshold 0: every class is active over the whole clip; frames of 128 samples at 8 kHz.
    assert {label for _, _, label in result["events"]} == set(config["class_names"])
    frames = 1 + (SR // 2 - 256) // 128
    assert all(on == 0.0 and off == pytest.approx(frames * 128 / SR, abs=1e-3) for on, off, _ in result["events"])
    assert " s -" in printed
    assert main(["evaluate", "--model", str(run), "--data", str(corpus / "test.csv")]) == 0
    report = json.loads((run / "evaluation.json").read_text())
    assert list(report["metrics"]) == ["average_precision_micro", "average_precision_macro", "roc_auc_macro"]
    assert report["metrics"]["average_precision_micro"] is not None


def test_zhang_evaluates_recordings(corpora, tmp_path, capsys):
    corpus, run = corpora["scenes"], tmp_path / "zhang"
    assert main(_train_args("zhang2018-ta-sa", corpus, run, "--epochs", "1", "--batch-size", "8")) == 0
    assert main(["evaluate", "--model", str(run), "--data", str(corpus / "manifest.csv"), "--json",
                 str(tmp_path / "eval.json")]) == 0
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["level"] == "recording" and report["num_clips"] == 24
    assert report["metrics"]["accuracy"] + report["metrics"]["classification_error"] == pytest.approx(1.0)
    # A recording at another rate (and stereo) with --resample is read and resampled in windows: the
    # scores of the whole-file path (decode everything, resample, cut 1 s clips, average).
    import numpy as np
    import soundfile as sf

    from keras_audioattn.training import load_run, predict, recording_scores, _read

    wave, _ = sf.read(sorted((corpus / "audio").glob("*.wav"))[0], dtype="float32", always_2d=True)
    long = np.tile(wave, (4, 2))  # 6 s, 2 channels
    sf.write(tmp_path / "long_11k.wav", long, 11025, subtype="FLOAT")
    model, config, names = load_run(str(run))
    whole = recording_scores(model, [_read(tmp_path / "long_11k.wav", config["data"], True)], config["data"])[0]
    result = predict(str(run), [str(tmp_path / "long_11k.wav")], top_k=len(names), resample=True)[0]
    got = dict((name, score) for name, score in result["top"])
    np.testing.assert_allclose([got[n] for n in names], whole, atol=1e-5)


def test_killed_run_resumes_from_last_epoch(corpora, tmp_path):
    """Kill training after an epoch's backup exists; --resume continues from that epoch."""
    corpus, run = corpora["tagging"], tmp_path / "resume"
    epochs = 8
    args = [sys.executable, "-m", "keras_audioattn", *_train_args("chang2020-teacher", corpus, run, "--epochs",
                                                                   str(epochs), "--batch-size", "2", "--duration",
                                                                   "0.5", "--patience", "0")]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    metadata = run / "backup" / "training_metadata.json"
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not metadata.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "training ended before it could be killed: " + proc.stderr.read().decode()[-2000:]
        assert metadata.exists(), "no backup appeared"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    proc.stderr.close()
    resume_at = json.loads(metadata.read_text())["epoch"]
    assert 1 <= resume_at < epochs
    before = _log_epochs(run)
    assert not json.loads((run / "config.json").read_text())["completed"]

    # Without --resume / --overwrite the folder is refused.
    assert main(_train_args("chang2020-teacher", corpus, run, "--epochs", str(epochs), "--duration", "0.5")) == 2
    done = subprocess.run(args + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    after = _log_epochs(run)
    assert after[: len(before)] == before
    assert after[len(before):] == list(range(resume_at, epochs)), (before, after)  # continued, not restarted
    config = json.loads((run / "config.json").read_text())
    assert config["completed"] and config["epochs_completed"] == epochs
    assert not (run / "backup").exists() and (run / "model.keras").exists()


def test_bad_usage_gets_clear_messages(corpora, tmp_path, capsys):
    corpus = corpora["accents"]
    assert main(_train_args("lu2020-cab-cnn-3s", corpus, tmp_path / "a")) == 2
    assert "unknown preset 'lu2020-cab-cnn-3s'; did you mean" in capsys.readouterr().err

    # A validation manifest with a label outside the training classes names its row.
    bad = tmp_path / "bad" / "val.csv"
    bad.parent.mkdir()
    clip = sorted((corpus / "audio").glob("*.wav"))[0]
    bad.write_text(f"path,labels\n{clip},american\n{clip},scottish\n")
    args = _train_args("lu2020-cab-cnn-5s", corpus, tmp_path / "b")
    args[args.index("--val") + 1] = str(bad)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "row 3" in err and "unknown label 'scottish'" in err
    assert not (tmp_path / "b").exists()

    # Sample rate of the data differs from the preset's (16 kHz).
    args = _train_args("lu2020-cab-cnn-5s", corpus, tmp_path / "c")
    del args[args.index("--sample-rate"): args.index("--sample-rate") + 2]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "sample-rate mismatch" in err and "--resample" in err and "Traceback" not in err

    # An output folder that exists and is not empty.
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    assert main(_train_args("lu2020-cab-cnn-5s", corpus, occupied)) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "--overwrite" in err
    assert main(_train_args("lu2020-cab-cnn-5s", corpus, occupied, "--resume")) == 2
    assert "not a training run folder" in capsys.readouterr().err
    assert (occupied / "notes.txt").read_text() == "mine"

    assert main(["evaluate", "--model", str(tmp_path / "nothing"), "--data", str(corpus / "test.csv")]) == 2
    assert "no such folder" in capsys.readouterr().err


# ------------------------------------------------ run folders written before the redesign (issue 17)

#: Written by ``audioattn train --small --sample-rate 8000 --epochs 1 --batch-size 4`` at commit
#: 229e503 (before issue 17) on 12-clip synthetic corpora: their config.json stores the old
#: argument names (``clip_duration``; ``input``, ``front_end_config``) and the old data section.
OLD_RUNS = os.path.join(ROOT, "tests", "data", "runs_before_redesign")


def _old_run(preset, tmp_path):
    import shutil

    run = tmp_path / preset
    shutil.copytree(os.path.join(OLD_RUNS, preset), run)
    return run


@pytest.mark.parametrize("preset, corpus", [("chang2020-student-lstm16", "tagging"), ("deshmukh2020-2apae", "events")])
def test_run_folder_written_before_the_redesign(preset, corpus, corpora, tmp_path, capsys):
    """evaluate, predict and --resume of a pre-redesign run folder: the stored old argument
    names are compared under the new ones (a real difference is still refused)."""
    run, corpus = _old_run(preset, tmp_path), corpora[corpus]
    old = json.loads((run / "config.json").read_text())
    assert {"clip_duration"} <= set(old["model"]) or {"input", "front_end_config"} <= set(old["model"])
    assert main(["evaluate", "--model", str(run), "--data", str(corpus / "test.csv")]) == 0
    report = json.loads((run / "evaluation.json").read_text())
    assert list(report["metrics"]) == presets.get_preset(preset)["evaluate"]
    clip = sorted((corpus / "audio").glob("*.wav"))[0]
    capsys.readouterr()
    assert main(["predict", "--model", str(run), str(clip), "--top-k", "2"]) == 0
    assert capsys.readouterr().out.startswith(f"{clip}: ")

    # An interrupted run (completed: false) resumes under the new names ...
    old["completed"] = False
    (run / "config.json").write_text(json.dumps(old))
    (run / "evaluation.json").unlink()
    different = ["--config-overrides", json.dumps({"encoder_filters": [4, 6]} if "deshmukh" in preset
                                                  else {"lstm_units": 5})]
    assert main(_train_args(preset, corpus, run, "--resume", "--epochs", "1", "--batch-size", "4", *different)) == 2
    err = capsys.readouterr().err
    assert "was trained with another model/data configuration" in err and ("lstm_units" in err or "encoder_filters" in err)
    assert "clip_duration" not in err and "front_end_config" not in err  # the old names alone are no difference
    own = []
    if "chang2020" in preset:  # issue 15: the preset's readout is now "max"; the old run's "last" is a real difference
        assert main(_train_args(preset, corpus, run, "--resume", "--epochs", "1", "--batch-size", "4")) == 2
        err = capsys.readouterr().err
        assert "another model/data configuration" in err and "readout" in err, err
        own = ["--config-overrides", json.dumps({"readout": "last"})]
    assert main(_train_args(preset, corpus, run, "--resume", "--epochs", "1", "--batch-size", "4", *own)) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["completed"] and ("num_samples" in config["model"] or "include_front_end" in config["model"])
