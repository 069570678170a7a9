"""Shared by the notebooks/build_*.py scripts: collect cells, write the .ipynb, optionally execute it.

    from nbbuild import code, md, write
    md("# Title"); code("print(1)")
    write("name.ipynb")          # `python notebooks/build_x.py --execute` also runs it in place
"""

import os
import sys

import nbformat as nbf

cells = []


def md(text):
    cells.append(nbf.v4.new_markdown_cell(text.strip()))


def code(text):
    cells.append(nbf.v4.new_code_cell(text.strip()))


def write(filename, timeout=7200):
    """Writes the collected cells to notebooks/``filename`` (to ``$NBBUILD_OUT/filename`` where that
    variable is set: the test that the committed notebooks match their scripts uses it); with
    ``--execute`` on the command line, executes it in place and keeps the results without
    TensorFlow's start-up log lines."""
    nb = nbf.v4.new_notebook()
    nb["cells"] = cells
    nb["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder = os.environ.get("NBBUILD_OUT") or os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(folder, filename)
    tmp = path + ".tmp"
    nbf.write(nb, tmp)
    os.replace(tmp, path)
    print("wrote", path)
    if "--execute" in sys.argv:
        from nbclient import NotebookClient

        nb = nbf.read(path, as_version=4)
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": os.path.dirname(path)}}).execute()
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = [o for o in cell.outputs if o.get("name") != "stderr"]
        nbf.write(nb, tmp)
        os.replace(tmp, path)
        print("executed", path)
    return path
