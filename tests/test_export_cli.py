"""``audioattn export``: .keras + calibration manifest -> SavedModel + int8 .tflite, refusal to overwrite."""

import os

import keras
import numpy as np
import soundfile as sf

import export
from keras_audioattn.cli import main
from keras_audioattn.data.manifest import save_class_names, write_manifest
from tests.export_models import LABELS, SAMPLE_RATE, tiny_conv_model, waveforms


def test_export_command(tmp_path, capsys, monkeypatch):
    keras.utils.set_random_seed(0)
    model = tiny_conv_model()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    model.save(run_dir / "model.keras")
    save_class_names(run_dir / "class_names.txt", LABELS)
    clips = waveforms(4, seed=2)
    paths = []
    for i, clip in enumerate(clips):
        paths.append(tmp_path / f"clip{i}.wav")
        sf.write(paths[-1], clip, SAMPLE_RATE)
    manifest = write_manifest(tmp_path / "calib.csv", paths, [[LABELS[i % 3]] for i in range(4)])

    args = ["export", "--model", str(run_dir), "--saved-model", str(tmp_path / "serving"),
            "--tflite", str(tmp_path / "model.tflite"), "--quantization", "int8",
            "--representative", str(manifest)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "SavedModel" in out and "int8" in out
    assert os.path.isfile(tmp_path / "serving" / "1" / "saved_model.pb")
    meta = export.read_metadata(tmp_path / "model.tflite")
    assert meta["labels"] == LABELS and meta["sample_rate"] == SAMPLE_RATE
    got = export.run_tflite(tmp_path / "model.tflite", clips[:2])["scores"]
    np.testing.assert_allclose(got, np.asarray(model(clips[:2])), atol=export.TOLERANCES["int8"])

    # A second run refuses to overwrite (exit status 2, message names --overwrite) ...
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    # ... and int8 without a manifest is a usage error, not a trace.
    assert main(["export", "--model", str(run_dir), "--tflite", str(tmp_path / "x.tflite"),
                 "--quantization", "int8"]) == 2
    assert "--representative" in capsys.readouterr().err

    # A file that fails its check: exit status 1, one line naming every failing input, what passed,
    # and the flag to try (the tolerance is made impossible here; tests/test_export_tflite.py checks
    # that the check itself fails on a wrong file).
    monkeypatch.setitem(export.TOLERANCES, "int8", 1e-9)
    failing = tmp_path / "strict.tflite"
    assert main(["export", "--model", str(run_dir), "--tflite", str(failing), "--quantization", "int8",
                 "--representative", str(manifest)]) == 1
    err = capsys.readouterr().err
    assert "int8 .tflite on silence" in err and "int8 .tflite on noise" in err and "Traceback" not in err
    assert "--quantization dynamic" in err and f"{failing}.failed" in err, err
    assert os.path.isfile(f"{failing}.failed") and not os.path.exists(failing)
