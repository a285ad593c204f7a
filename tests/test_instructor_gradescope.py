"""The Gradescope bundle: what the zip holds, and run_autograder grading a submission in a
folder laid out like Gradescope's /autograder (AUTOGRADER_ROOT), with the project's venv."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import CORPUS, ROOT, expected

from autograder.core import load_assignment
from autograder.gradescope import find_notebook, needed_reference

AID = "a1_convolution"
FULL = load_assignment(AID).max_score
TIMED = {c.name for c in load_assignment(AID).checks if c.timing is not None}


def _sample(name: str) -> Path:
    return CORPUS / AID / "submitted" / name / AID / f"{AID}.ipynb"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gradescope") / "a1 autograder.zip"
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "gradescope", AID, "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def _run_autograder(root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable)
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [str(root / "source" / "run_autograder")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def autograder_root(bundle):
    """A folder laid out as Gradescope's /autograder: source/ (the unzipped bundle),
    submission/, results/. Not under /tmp: each submission gets a private /tmp in the sandbox,
    which would hide the grader's own files (Gradescope's /autograder is not under /tmp)."""
    root = Path(tempfile.mkdtemp(prefix="gradescope-", dir="/var/tmp"))
    try:
        with zipfile.ZipFile(bundle) as zf:
            zf.extractall(root / "source")
            for info in zf.infolist():  # zipfile drops the modes: set them as unzip does
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    os.chmod(root / "source" / info.filename, mode)
        (root / "submission").mkdir()
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


# A last cell that tries to read the bundle's reference from inside the sandbox and says what
# happened through a graded function's error message (it costs that check's point).
SNOOP = """
try:
    open("{root}/source/autograder/reference/convolution.py").read()
    _seen = "LEAKED"
except OSError as exc:
    _seen = "BLOCKED-" + type(exc).__name__

def separable_blur(*args, **kwargs):
    raise RuntimeError(_seen)
"""


@pytest.fixture(scope="module")
def mistake_results(autograder_root):
    """run_autograder on the no-flip mistake, handed in inside a folder next to a README."""
    sub = autograder_root / "submission"
    (sub / "work").mkdir()
    nb = nbformat.read(_sample("mistake_no_flip"), as_version=4)
    cell = nbformat.v4.new_code_cell(SNOOP.format(root=autograder_root))
    cell.pop("id")  # the corpus notebooks are nbformat 4.4, without cell ids
    nb.cells.append(cell)
    nbformat.write(nb, sub / "work" / f"{AID}.ipynb")
    (sub / "README.txt").write_text("my notes\n")
    proc = _run_autograder(autograder_root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((autograder_root / "results" / "results.json").read_text())


def test_bundle_holds_the_grader_and_no_solutions(bundle):
    """Does the zip hold setup.sh, run_autograder (executable), the pinned requirements, a1's
    checks and only the reference they import; no notebook, no solutions, no other checks?"""
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        modes = {i.filename: (i.external_attr >> 16) for i in zf.infolist()}
        requirements = zf.read("requirements.txt").decode().split()
        run = zf.read("run_autograder").decode()
    assert {"setup.sh", "run_autograder", "requirements.txt", "README.md"} <= names
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    assert f'"{AID}"' in run and "AUTOGRADER_ROOT" in run
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert requirements == pins and all("==" in r for r in requirements)
    assert not [n for n in names if n.endswith(".ipynb")]
    assert not [n for n in names if n.split("/")[0] in ("solutions", "tests", "assignments")]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    checks = sorted(n for n in names if n.startswith("autograder/checks/"))
    assert checks == ["autograder/checks/__init__.py", f"autograder/checks/{AID}.py"]
    reference = sorted(n for n in names if n.startswith("autograder/reference/"))
    assert reference == ["autograder/reference/__init__.py", "autograder/reference/convolution.py"]
    assert "autograder/sandbox.py" in names and "cnn_course/testing.py" in names


def test_bundle_scripts_are_valid_bash(autograder_root):
    """Do setup.sh and run_autograder parse as bash?"""
    for name in ("setup.sh", "run_autograder"):
        proc = subprocess.run(["bash", "-n", str(autograder_root / "source" / name)], check=False)
        assert proc.returncode == 0, name


def test_needed_reference_follows_imports():
    """Does the bundle's reference list follow the checks' imports (a1: convolution only;
    a0: neurons only)?"""
    assert needed_reference(AID) == ["convolution"]
    assert needed_reference("a0_neurons") == ["neurons"]


def test_run_autograder_writes_gradescope_results(mistake_results):
    """Does run_autograder grade the submission and write results.json in Gradescope's format,
    with the feedback line as each test's output?"""
    r = mistake_results
    assert {"score", "execution_time", "output", "tests"} <= set(r)
    assert r["execution_time"] > 0
    assert sum(t["max_score"] for t in r["tests"]) == FULL
    for t in r["tests"]:
        assert {"name", "score", "max_score", "output", "visibility"} <= set(t)
        assert t["visibility"] == "visible" and t["output"]
    by_check = {t["name"].split(":")[0]: t for t in r["tests"]}
    assert by_check["conv2d_true"]["score"] == 0
    assert "flips the kernel" in by_check["conv2d_true"]["output"]
    assert by_check["corr2d"]["score"] == by_check["corr2d"]["max_score"]
    untimed = sum(t["score"] for name, t in by_check.items() if name not in TIMED)
    want = expected(AID)["mistake_no_flip"][0] - by_check["separable_blur"]["max_score"]
    assert want - len(TIMED) <= untimed <= want
    assert r["score"] == sum(t["score"] for t in r["tests"])
    assert f"graded work/{AID}.ipynb" in r["output"]


def test_submission_cannot_read_the_bundle(mistake_results):
    """Is the bundle (the hidden checks, the reference) out of reach of the submission's code
    in the sandbox, as the grader runs from /autograder/source and not from the venv?"""
    blur = next(t for t in mistake_results["tests"] if t["name"].startswith("separable_blur"))
    assert blur["score"] == 0 and "BLOCKED-" in blur["output"]
    assert "LEAKED" not in json.dumps(mistake_results)


def test_no_notebook_gets_a_clear_zero(autograder_root, mistake_results):
    """Does a submission with no notebook get zero and one line saying what was found?"""
    shutil.rmtree(autograder_root / "submission")
    (autograder_root / "submission").mkdir()
    (autograder_root / "submission" / "answers.py").write_text("x = 1\n")
    proc = _run_autograder(autograder_root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads((autograder_root / "results" / "results.json").read_text())
    assert r["score"] == 0 and len(r["tests"]) == len(load_assignment(AID).checks)
    assert "no Jupyter notebook (.ipynb) was submitted (found: answers.py)" in r["output"]


def test_find_notebook_picks_the_assignment(tmp_path):
    """Is `<aid>.ipynb` chosen among several notebooks, a lone notebook taken whatever its
    name, checkpoints ignored, and several unnamed ones refused with a line?"""
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / f"{AID}-checkpoint.ipynb").write_text("{}")
    (tmp_path / "mine.ipynb").write_text("{}")
    assert find_notebook(tmp_path, AID) == (tmp_path / "mine.ipynb", "")
    (tmp_path / "scratch.ipynb").write_text("{}")
    path, why = find_notebook(tmp_path, AID)
    assert path is None and f"submit {AID}.ipynb" in why
    (tmp_path / f"{AID}.ipynb").write_text("{}")
    assert find_notebook(tmp_path, AID) == (tmp_path / f"{AID}.ipynb", "")
