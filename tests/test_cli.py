import subprocess
import sys

import pytest

from keras_audioattn import __version__
from keras_audioattn.cli import main


def test_version_flag(capsys):
    try:
        main(["--version"])
    except SystemExit as exit_:
        assert exit_.code == 0
    assert __version__ in capsys.readouterr().out


def test_console_script_installed():
    out = subprocess.run([sys.executable, "-m", "keras_audioattn", "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.strip() == f"audioattn {__version__}"


# ---------------------------------------------------------------------------------------------
# Issue 17: library errors name arguments, the CLI names its flags (one mapping); one model resolver
# ---------------------------------------------------------------------------------------------
def test_argument_errors_are_mapped_to_the_commands_flags():
    import pytest

    from keras_audioattn.cli import common
    from keras_audioattn.files import NonFiniteWeightsError
    from keras_audioattn.training import ArgumentError, check_numeric_arguments

    with pytest.raises(ArgumentError) as info:
        check_numeric_arguments(learning_rate=0.0)
    assert str(info.value) == "learning_rate must be > 0, got 0.0"  # the library says the argument
    assert common.message(info.value, "train") == "--learning-rate must be > 0, got 0.0"
    overrides = ArgumentError("overrides", ": unknown key(s) ['x']")
    assert common.message(overrides, "train") == "--config-overrides: unknown key(s) ['x']"
    assert common.message(overrides, "distill") == "--student-config: unknown key(s) ['x']"
    with pytest.raises(ArgumentError) as info, common.arguments_as({"learning_rate": "teacher_learning_rate"}):
        check_numeric_arguments(learning_rate=float("nan"))
    assert common.message(info.value, "distill").startswith("--teacher-learning-rate must be finite")
    diverged = NonFiniteWeightsError("lower it (learning_rate=0.5, mixup_alpha=None)")
    diverged.arguments = ("learning_rate", "mixup_alpha")
    assert common.message(diverged, "train") == "lower it (--learning-rate 0.5, --mixup-alpha None)"
    assert common.exit_code(info.value) == 2 and common.exit_code(diverged) == 1


def test_one_resolver_takes_a_run_folder_or_a_keras_file(tmp_path, capsys):
    import pytest

    from keras_audioattn.training import ArgumentError, MissingFileArgument, resolve_model

    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"")
    (run / "other.keras").write_bytes(b"")
    assert resolve_model(run) == str(run / "model.keras")  # a run folder: its model.keras
    assert resolve_model(run / "other.keras") == str(run / "other.keras")
    two = tmp_path / "two"
    two.mkdir()
    (two / "a.keras").write_bytes(b"")
    (two / "b.keras").write_bytes(b"")
    with pytest.raises(ArgumentError, match="holds 2 .keras files"):
        resolve_model(two, "teacher")
    (two / "b.keras").unlink()
    assert resolve_model(two) == str(two / "a.keras")
    with pytest.raises(MissingFileArgument, match="^tagger .*no such folder"):
        resolve_model(tmp_path / "nothing", "tagger")
    (tmp_path / "x.h5").write_bytes(b"")
    with pytest.raises(ArgumentError, match="must be a .keras file"):
        resolve_model(tmp_path / "x.h5")
    assert main(["train", "--preset", "chang2020-student-lstm16", "--train", str(tmp_path / "x.h5"),
                 "--out", str(tmp_path / "o"), "--teacher", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert f"--teacher {tmp_path / 'nothing'}: no such folder" in err and not (tmp_path / "o").exists(), err


def test_library_errors_name_arguments_and_the_cli_its_flags(tmp_path):
    """Issue 17: ArgumentError lives in keras_audioattn.validation (old path kept); library
    messages name the argument (``out``, ``resume=True``), the CLI's one mapping renders the
    same error with its flags, as before."""
    from keras_audioattn import backends, validation
    from keras_audioattn.cli.common import message
    from keras_audioattn.training import arguments, run_folder

    assert arguments.ArgumentError is validation.ArgumentError
    assert arguments.MissingFileArgument is validation.MissingFileArgument
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError) as caught:
        run_folder._prepare_out(str(out), False, False, "lu2020-cab-cnn-5s")
    assert str(caught.value) == (f"out {out} exists and is not empty: pass resume=True to continue the run in it "
                                 f"or overwrite=True to start again")
    assert message(caught.value, "train") == (f"--out {out} exists and is not empty: pass --resume to continue the "
                                              f"run in it or --overwrite to start again")
    with pytest.raises(ValueError) as caught:
        run_folder._prepare_out(str(out), True, True, "lu2020-cab-cnn-5s")
    assert "overwrite=True" in str(caught.value) and "--" not in str(caught.value)
    assert message(caught.value, "train") == "choose one of --overwrite (start again) and --resume (continue)"
    with pytest.raises(ValueError) as caught:
        backends.check_training_options("mirrored", backend="jax")
    assert "--" not in str(caught.value) and "drop `strategy` or use backend=tensorflow" in str(caught.value)
    assert message(caught.value, "train") == ("--strategy mirrored needs the TensorFlow backend (tf.distribute "
                                              "strategies); Keras runs on jax here: drop --strategy or use "
                                              "--backend tensorflow")
    with pytest.raises(ValueError) as caught:  # a foreign folder: files' message, named by the argument
        run_folder._prepare_out(str(out), True, False, "lu2020-cab-cnn-5s")
    assert str(caught.value).startswith(f"out {out} ") and message(caught.value, "train").startswith(f"--out {out} ")
