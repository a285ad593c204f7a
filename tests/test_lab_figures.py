"""Figures in JupyterLab: a kernel started as `make lab` starts it draws inline images."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent

# What the lectures do: import the course helpers, then plot and show.
PLOT_CELL = """\
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from cnn_course.data import load_photo

plt.imshow(np.eye(8), cmap="gray")
plt.title("a plotting cell")
plt.show()
print("backend:", matplotlib.get_backend())
"""

DUMP_ENV = "import json, os; json.dump(dict(os.environ), open(os.environ['LAB_ENV_OUT'], 'w'))"


def make_lab_env(tmp_path: Path) -> dict[str, str]:
    """The environment `make lab` gives JupyterLab (and so its kernels), started from this
    process's environment: under `make test` that one holds MPLBACKEND=Agg."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dump = tmp_path / "dump_env.py"
    dump.write_text(DUMP_ENV)
    out = tmp_path / "lab_env.json"
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env["LAB_ENV_OUT"] = str(out)
    proc = subprocess.run(
        # -o: never reinstall the venv here; JUPYTER replaces `jupyter` by the dump script
        ["make", "-s", "--no-print-directory", "-o", ".venv/.installed", "lab",
         f"JUPYTER={shlex.quote(sys.executable)} {shlex.quote(str(dump))}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lab_env = json.loads(out.read_text())
    lab_env.pop("LAB_ENV_OUT")
    return lab_env


def run_plot_cell(env: dict[str, str], tmp_path: Path) -> list[dict]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PLOT_CELL)])
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute(env=env)
    return nb.cells[0].outputs


def _images(outputs: list[dict]) -> list[dict]:
    return [o for o in outputs if "image/png" in o.get("data", {})]


def test_make_lab_kernel_shows_figures(tmp_path, monkeypatch):
    """Does a kernel with the environment of `make lab` show a plot as an inline image,
    even when the calling shell (CI, `make test`) has MPLBACKEND=Agg?"""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    env = make_lab_env(tmp_path)
    outputs = run_plot_cell(env, tmp_path)
    assert _images(outputs), f"no image/png output: {outputs}"


def test_plain_jupyter_lab_kernel_shows_figures(tmp_path):
    """Does a kernel started by a plain `jupyter lab` (no MPLBACKEND set) show the plot inline,
    i.e. nothing in the project forces a headless backend?"""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    outputs = run_plot_cell(env, tmp_path)
    assert _images(outputs), f"no image/png output: {outputs}"


def test_agg_kernel_shows_no_figure(tmp_path):
    """Does the check above detect the problem: with MPLBACKEND=Agg the cell shows no image?"""
    outputs = run_plot_cell(dict(os.environ, MPLBACKEND="Agg"), tmp_path)
    assert not _images(outputs)
