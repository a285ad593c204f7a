"""`make test-full`: every lecture and solution notebook top to bottom in full mode.

Full mode is what a learner runs (no ``CNN_COURSE_FAST``): all the data, all the epochs,
every case. It takes longer than the 15-minute budget of `make test`, so these tests run
only with ``--full``; any cell error fails them.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from conftest import stdout_of
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = (
    sorted(ROOT.glob("course/*.ipynb"))
    + sorted(ROOT.glob("course/answers/*.ipynb"))
    + sorted(ROOT.glob("solutions/*/*.ipynb"))
)
CELL_TIMEOUT = 1800  # seconds for one cell; full-mode training cells take minutes on a laptop


def full_mode_env() -> dict[str, str]:
    """The kernel's environment: this one without the fast and grading switches, headless plots."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CNN_COURSE_FAST", "CNN_COURSE_GRADING", "NBGRADER_EXECUTION")
    }
    env.update(MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


@pytest.mark.full
@pytest.mark.parametrize(
    "path", NOTEBOOKS, ids=[str(p.relative_to(ROOT).with_suffix("")) for p in NOTEBOOKS]
)
def test_notebook_runs_in_full_mode(path, tmp_path):
    """Does the notebook run top to bottom in full mode, every cell without an error?"""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(
        nbformat.v4.new_code_cell("from cnn_course import fast_mode\nprint('FAST', fast_mode())")
    )
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(env=full_mode_env())  # raises CellExecutionError on the first failing cell
    assert stdout_of(nb.cells[-1]) == "FAST False"


def test_full_mode_notebooks_are_found():
    """Does `make test-full` cover the lectures, their answers and the solution notebooks?"""
    names = {p.relative_to(ROOT).parts[0] for p in NOTEBOOKS}
    assert names == {"course", "solutions"}
    assert any(p.parent.name == "answers" for p in NOTEBOOKS)
    assert len([p for p in NOTEBOOKS if p.parts[-3] == "solutions"]) >= 2
