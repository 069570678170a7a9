"""The committed notebooks are what their build scripts write (cells and their order; outputs aside)."""

import glob
import os
import subprocess
import sys

import nbformat
import pytest

NOTEBOOKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "notebooks")
SCRIPTS = sorted(glob.glob(os.path.join(NOTEBOOKS, "build_*.py")))


def _cells(path):
    nb = nbformat.read(path, as_version=4)
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def test_every_notebook_has_a_build_script():
    built = {os.path.basename(s)[len("build_"):-len(".py")] + ".ipynb" for s in SCRIPTS}
    committed = {os.path.basename(p) for p in glob.glob(os.path.join(NOTEBOOKS, "*.ipynb"))}
    assert committed == built


@pytest.mark.parametrize("script", SCRIPTS, ids=os.path.basename)
def test_build_script_reproduces_the_committed_notebook(script, tmp_path):
    env = dict(os.environ, NBBUILD_OUT=str(tmp_path))
    subprocess.run([sys.executable, script], cwd=NOTEBOOKS, env=env, check=True, capture_output=True)
    (written,) = glob.glob(str(tmp_path / "*.ipynb"))
    committed = os.path.join(NOTEBOOKS, os.path.basename(written))
    assert _cells(written) == _cells(committed), (
        f"{os.path.basename(committed)} differs from what {os.path.basename(script)} writes: "
        f"run `.venv/bin/python {os.path.relpath(script)} --execute`")
