"""nbgrader's own harness on the honest part of the a1 corpus, and the release."""

from __future__ import annotations

import json
import math

import nbformat
import pytest
from conftest import CORPUS, expected, nbgrader_scores_sharded, read_grades, run_grader

from autograder.release import ROOT, bundle, fresh_release

AID = "a1_convolution"
EXPECTED = expected(AID)
HONEST = {s: v for s, v in EXPECTED.items() if v[1] in ("solution", "release", "mistake")}


def _notebook(student):
    return CORPUS / AID / "submitted" / student / AID / f"{AID}.ipynb"


@pytest.fixture(scope="module")
def nbgrader_scores(tmp_path_factory):
    notebooks = {s: _notebook(s) for s in HONEST}
    return nbgrader_scores_sharded(AID, notebooks, tmp_path_factory.mktemp("nbgrader"))


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(HONEST))
def test_nbgrader_autograde_gives_expected_score(nbgrader_scores, student):
    """Does `nbgrader autograde` give each honest sample submission its expected score?"""
    assert not math.isnan(nbgrader_scores[student]), "nbgrader could not grade it"
    assert nbgrader_scores[student] == HONEST[student][0]


@pytest.mark.slow
def test_both_harnesses_agree(nbgrader_scores, tmp_path):
    """Do `autograder grade` and `nbgrader autograde` give the same scores on the honest corpus?"""
    proc = run_grader(
        AID, [_notebook(s).parent.parent for s in HONEST], tmp_path, "--timeout", "60"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    ours = {s: float(row["score"]) for s, row in read_grades(tmp_path / "grades.csv").items()}
    assert ours == nbgrader_scores


def _cells(path):
    nb = nbformat.read(path, as_version=4)
    return [(c.cell_type, c.source, json.dumps(c.metadata, sort_keys=True)) for c in nb.cells]


def test_release_is_in_sync_with_solutions(tmp_path):
    """Does assignments/ equal a fresh nbgrader release of solutions/?"""
    fresh = fresh_release(AID, tmp_path) / f"{AID}.ipynb"
    assert _cells(ROOT / "assignments" / AID / f"{AID}.ipynb") == _cells(fresh), (
        "assignments/ is stale: run `make release` (never edit assignments/ by hand)"
    )


def test_release_has_no_solution_and_no_hidden_tests():
    """Does the released notebook hold stubs only, with no solution code and no hidden test?"""
    release = nbformat.read(ROOT / "assignments" / AID / f"{AID}.ipynb", as_version=4)
    source = nbformat.read(ROOT / "solutions" / AID / f"{AID}.ipynb", as_version=4)
    text = "\n".join(c.source for c in release.cells)
    for leak in (
        "BEGIN SOLUTION",
        "HIDDEN TESTS",
        "run_in_kernel",
        "autograder",
        "np.tensordot(patch",
    ):
        assert leak not in text, leak
    solution_cells = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert solution_cells and all("raise NotImplementedError()" in c.source for c in solution_cells)
    hidden = [c for c in source.cells if "BEGIN HIDDEN TESTS" in c.source]
    assert len(hidden) == 13  # one graded cell per check


def test_student_bundle_holds_no_solutions_or_checks(tmp_path):
    """Does the student bundle leave out solutions/ and the grader's hidden checks?"""
    dest = bundle(tmp_path / "bundle")
    names = {p.relative_to(dest).parts[0] for p in dest.rglob("*")}
    assert {"course", "assignments", "cnn_course", "README.md", "pyproject.toml"} <= names
    assert "solutions" not in names and "autograder" not in names and "tests" not in names
    pyproject = (dest / "pyproject.toml").read_text()
    assert '"autograder*"' not in pyproject and "autograder.cli" not in pyproject
