"""``make demo`` (``python -m keras_audioattn.demo``) end to end, at its tiny ``--small`` size."""

import os

import numpy as np
import pytest

from keras_audioattn import demo


def test_small_demo_runs_end_to_end_and_reruns(tmp_path, capsys):
    out = tmp_path / "demo"
    result = demo.run(str(out), small=True)
    for path in ("data/train.csv", "teacher/model.keras", "teacher/evaluation.json", "student_lstm16/model.keras",
                 "student_lstm16/evaluation.json", "student_lstm16/config.json",
                 "saved_model/student/1/saved_model.pb", "student_int8.tflite"):
        assert (out / path).exists(), path
    # The int8 file on LiteRT agrees with the float Keras student on the held-out clip.
    assert result["lite_scores"].shape == result["keras_scores"].shape == (8,)
    np.testing.assert_allclose(result["lite_scores"], result["keras_scores"], atol=0.05)
    printed = capsys.readouterr().out
    assert "LiteRT int8 top tags" in printed and "Test micro-AUPRC" in printed
    assert "audioattn train --preset chang2020-student-lstm16 --teacher" in printed
    # A second run replaces the demo's own folder (make demo twice works).
    stale = out / "data" / "stale.txt"
    stale.write_text("x")
    demo.run(str(out), small=True)
    assert not stale.exists()


def test_demo_refuses_a_folder_it_did_not_write(tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "results.csv").write_text("precious")
    with pytest.raises(SystemExit, match="not written by the demo"):
        demo.run(str(user), small=True)
    assert (user / "results.csv").read_text() == "precious"
    assert os.listdir(user) == ["results.csv"]
