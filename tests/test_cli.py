import subprocess
import sys

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
