"""The grading engine on hand-made notebooks: parsing, sandbox limits, plain-data boundary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from conftest import CORPUS, ROOT, read_grades, run_grader

from autograder.core import Case, Check, decode, encode, load_assignment, to_plain_output
from autograder.notebook import NotebookError, read_cells
from autograder.submissions import collect

AID = "a1_convolution"
SOLUTION = CORPUS / AID / "submitted" / "solution" / AID / f"{AID}.ipynb"
FULL = load_assignment(AID).max_score


def _write(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nbformat.write(nb, path)
    return path


def _solution_code() -> str:
    """Every code cell of the sample solution, as one string (no tests, no metadata)."""
    nb = nbformat.read(SOLUTION, as_version=4)
    return "\n\n".join(
        c.source
        for c in nb.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
    )


def test_encode_decode_round_trip():
    """Do plain observations survive the JSON + npz encoding unchanged?"""
    tree = {
        "cases": [
            {"value": np.arange(6.0).reshape(2, 3), "dtype": "float32"},
            {"error": "x", "mro": ["A"]},
        ],
        "t": float("inf"),
    }
    text, arrays = encode(tree)
    back = decode(json.loads(json.dumps(text)), arrays)
    assert np.array_equal(back["cases"][0]["value"], tree["cases"][0]["value"])
    assert back["cases"][1] == {"error": "x", "mro": ["A"]} and back["t"] == float("inf")


def test_encode_rejects_objects():
    """Does the encoder refuse anything that is not plain data (no pickles cross over)?"""
    with pytest.raises(TypeError):
        encode({"x": object()})
    with pytest.raises(TypeError):
        encode({"x": np.array([object()])})


def test_subclass_with_rigged_eq_keeps_only_its_data():
    """Does an ndarray subclass with a rigged __eq__ reduce to its plain data?"""

    class Rigged(np.ndarray):
        def __eq__(self, other):
            return True

    out = to_plain_output(np.zeros(3).view(Rigged), "array")
    assert type(out["value"]) is np.ndarray and not np.array_equal(out["value"], np.ones(3))


def test_verify_reports_the_case_not_the_reference():
    """Does a failing check say which case failed, with the shape, and not the expected values?"""
    check = Check(
        "double",
        1,
        "double",
        "doubles",
        lambda: [Case((np.ones((2, 2)),), {}, "x (2, 2)")],
        lambda case, got: None if np.allclose(got["value"], 2 * case.args[0]) else "wrong values",
    )
    ok = check.verify(check.observe({"double": lambda x: 2 * x}))
    bad = check.verify(check.observe({"double": lambda x: x}))
    missing = check.verify(check.observe({}))
    wrong_sig = check.verify(check.observe({"double": lambda: 0}))
    assert ok.points == 1 and bad.points == 0 and missing.points == 0
    assert "case 1 of 1 (x (2, 2))" in bad.message and "wrong values" in bad.message
    assert "not defined" in missing.message
    assert "check the signature" in wrong_sig.message


def test_read_cells_transforms_magics(tmp_path):
    """Are magics and !shell lines turned into Python calls by IPython's transformer?"""
    cells = read_cells(
        _write(tmp_path / "m.ipynb", "%matplotlib inline\nx = 1", "!echo hi\nfiles = !ls")
    )
    assert "run_line_magic" in cells[0].source and "get_ipython().system" in cells[1].source


@pytest.mark.parametrize(
    "text,phrase",
    [("{not json", "not a valid notebook"), ('{"cells": 3}', "not a Jupyter notebook")],
)
def test_read_cells_rejects_broken_files(tmp_path, text, phrase):
    """Does a malformed notebook give one clear line, not a traceback?"""
    path = tmp_path / "b.ipynb"
    path.write_text(text)
    with pytest.raises(NotebookError, match=phrase):
        read_cells(path)


def test_find_submissions_layouts(tmp_path):
    """Are student ids the nbgrader folder names, or else the notebook stems?"""
    for student in ("ann", "bob"):
        (tmp_path / "submitted" / student / AID).mkdir(parents=True)
        _write(tmp_path / "submitted" / student / AID / f"{AID}.ipynb", "x = 1")
    (tmp_path / "flat").mkdir()
    _write(tmp_path / "flat" / "carol.ipynb", "x = 1")
    found = collect(
        AID,
        [tmp_path / "submitted", tmp_path / "flat", tmp_path / "flat" / "carol.ipynb"],
        tmp_path / "work",
    )
    assert [s.student for s in found.entries] == ["ann", "bob", "carol", "carol-2"]


@pytest.mark.slow
def test_sandbox_end_to_end(tmp_path):
    """One batch: shell escapes are not run, structure does not matter, memory is capped, noise is free."""
    marker = tmp_path / "shell-ran"
    code = _solution_code()
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    # all the code in one cell without nbgrader metadata, plus a shell escape and a magic
    _write(
        nbs / "one_cell.ipynb", f"%matplotlib inline\n!touch {marker}\nimport numpy as np\n" + code
    )
    # memory spread over child processes: only the watchdog sees it
    _write(
        nbs / "forked_hog.ipynb",
        "import numpy as np\n" + code,
        """
import subprocess, sys, time
hog = "import numpy as np, time; a = np.ones(40 * 2**20); time.sleep(30)"
procs = [subprocess.Popen([sys.executable, "-c", hog]) for _ in range(4)]
time.sleep(20)
""",
    )
    proc = run_grader(AID, [nbs], tmp_path / "out", "--memory", "0.75", "--timeout", "40")
    assert proc.returncode == 0, proc.stderr[-2000:]
    grades = read_grades(tmp_path / "out" / "grades.csv")
    assert not marker.exists(), "a !shell line was executed"
    assert float(grades["one_cell"]["score"]) == FULL, (
        tmp_path / "out" / "one_cell" / "results.json"
    ).read_text()
    assert float(grades["forked_hog"]["score"]) == 0
    feedback = (tmp_path / "out" / "forked_hog" / "feedback.html").read_text()
    assert "memory limit of 0.8 GiB" in feedback


def test_grading_a1_never_imports_tensorflow(tmp_path):
    """Does grading a NumPy assignment leave TensorFlow unimported in the grading process?"""
    script = (
        "import sys; from autograder.cli import main; "
        f"main(['grade', '{AID}', '{SOLUTION}', '--out', '{tmp_path}', '--quiet']); "
        "print('TF' if 'tensorflow' in sys.modules or 'keras' in sys.modules else 'NO-TF')"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip().endswith("NO-TF")
    assert float(read_grades(tmp_path / "grades.csv")["a1_convolution"]["score"]) == FULL


def test_bad_arguments_exit_nonzero(tmp_path):
    """Does an unknown assignment or a missing path stop the grader with a clear message?"""
    proc = run_grader("a9_nothing", [SOLUTION], tmp_path)
    assert proc.returncode == 2 and "unknown assignment" in proc.stderr
    proc = run_grader(AID, [tmp_path / "missing"], tmp_path)
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_too_many_processes_are_stopped(tmp_path):
    """Is a notebook that starts more processes than allowed stopped, even when run as root?"""
    nb = _write(
        tmp_path / "spawner.ipynb",
        "import subprocess\nprocs = [subprocess.Popen(['sleep', '60']) for _ in range(100)]\nimport time\ntime.sleep(30)",
    )
    proc = run_grader(AID, [nb], tmp_path / "out", "--timeout", "40")
    assert proc.returncode == 0, proc.stderr[-2000:]
    feedback = (tmp_path / "out" / "spawner" / "feedback.html").read_text()
    # the kernel refuses the processes past the limit (the cell says so), or the watchdog stops
    # the notebook when it sees too many: either way the notebook is stopped and told why
    assert "started too many processes" in feedback or "started more than 64 processes" in feedback
