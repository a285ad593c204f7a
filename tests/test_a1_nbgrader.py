"""nbgrader's own harness on the honest part of the a1 corpus, and the release."""

from __future__ import annotations

import math

import nbformat
import pytest
from conftest import (
    CORPUS,
    expected,
    nbgrader_corpus,
    nbgrader_scores_sharded,
    read_grades,
    release_problems,
    run_grader,
    skip_unless_sampled,
)

from autograder.core import load_assignment
from autograder.release import ROOT, bundle

AID = "a1_convolution"
EXPECTED = expected(AID)
HONEST = {s: v for s, v in EXPECTED.items() if v[1] in ("solution", "release", "mistake")}


def _notebook(student):
    return CORPUS / AID / "submitted" / student / AID / f"{AID}.ipynb"


@pytest.fixture(scope="module")
def nbgrader_scores(tmp_path_factory, request, prepared_course):
    sample = nbgrader_corpus(AID, HONEST, request.config)
    notebooks = {s: _notebook(s) for s in sample}
    return nbgrader_scores_sharded(
        AID, notebooks, tmp_path_factory.mktemp("nbgrader"), prepared_course(AID)
    )


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(HONEST))
def test_nbgrader_autograde_gives_expected_score(nbgrader_scores, student):
    """Does `nbgrader autograde` give each honest sample submission its expected score?"""
    skip_unless_sampled(nbgrader_scores, student)
    assert not math.isnan(nbgrader_scores[student]), "nbgrader could not grade it"
    assert nbgrader_scores[student] == HONEST[student][0]


@pytest.mark.slow
def test_both_harnesses_agree(nbgrader_scores, tmp_path):
    """Do `autograder grade` and `nbgrader autograde` give the same scores on the honest corpus
    (its sample in `make test`, all of it in `make test-full`)?"""
    proc = run_grader(
        AID, [_notebook(s).parent.parent for s in nbgrader_scores], tmp_path, "--timeout", "60"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    ours = {s: float(row["score"]) for s, row in read_grades(tmp_path / "grades.csv").items()}
    assert ours == nbgrader_scores


def test_release_is_in_sync_and_leak_free(prepared_course):
    """Does assignments/ equal a fresh nbgrader release, with stubs only and no hidden test?"""
    assert release_problems(AID, prepared_course(AID), ("np.tensordot(patch",)) == []


def test_source_has_one_hidden_test_per_check():
    """Does the source notebook hold one graded cell with hidden tests per check?"""
    source = nbformat.read(ROOT / "solutions" / AID / f"{AID}.ipynb", as_version=4)
    hidden = [c for c in source.cells if "BEGIN HIDDEN TESTS" in c.source]
    assert len(hidden) == len(load_assignment(AID).checks) == 14  # one graded cell per check


def test_student_bundle_holds_no_solutions_or_checks(tmp_path):
    """Does the student bundle leave out solutions/ and the grader's hidden checks?"""
    dest = bundle(tmp_path / "bundle")
    names = {p.relative_to(dest).parts[0] for p in dest.rglob("*")}
    assert {"course", "assignments", "cnn_course", "README.md", "pyproject.toml"} <= names
    assert "solutions" not in names and "autograder" not in names and "tests" not in names
    pyproject = (dest / "pyproject.toml").read_text()
    assert '"autograder*"' not in pyproject and "autograder.cli" not in pyproject
