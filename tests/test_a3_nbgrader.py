"""nbgrader's own harness on the honest part of the a3 corpus, and the release."""

from __future__ import annotations

import math

import nbformat
import pytest
from conftest import (
    CORPUS,
    NBGRADER_SAMPLE,
    expected,
    nbgrader_corpus,
    nbgrader_scores_sharded,
    read_grades,
    release_problems,
    run_grader,
    skip_unless_sampled,
)

from autograder.core import load_assignment
from autograder.release import ROOT

AID = "a3_backprop"
EXPECTED = expected(AID)
HONEST = {s: v for s, v in EXPECTED.items() if v[1] in ("solution", "release", "mistake")}


def _notebook(student):
    return CORPUS / AID / "submitted" / student / AID / f"{AID}.ipynb"


def _sample(config) -> dict:
    """nbgrader's share of the honest corpus: conftest's sample (the solution and the release
    unless NBGRADER_SAMPLE names more), all of it with --full."""
    if AID in NBGRADER_SAMPLE:
        return nbgrader_corpus(AID, HONEST, config)
    if config.getoption("--full"):
        return dict(HONEST)
    return {s: v for s, v in HONEST.items() if s in ("solution", "release")}


@pytest.fixture(scope="module")
def nbgrader_scores(tmp_path_factory, request, prepared_course):
    notebooks = {s: _notebook(s) for s in _sample(request.config)}
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
    solution_only = ("dxp[:, rows, cols, :] += dout @ w[u, v].T", "inv_std / m * (m * dy")
    assert release_problems(AID, prepared_course(AID), solution_only) == []


def test_release_gives_the_forward_passes():
    """Does the release keep the read-only conv2d_forward and pool2d_forward the student builds on?"""
    release = nbformat.read(ROOT / "assignments" / AID / f"{AID}.ipynb", as_version=4)
    (helpers,) = [c for c in release.cells if c.metadata["nbgrader"]["grade_id"] == "helpers"]
    assert helpers.metadata["nbgrader"]["locked"]
    assert "def conv2d_forward(" in helpers.source and "def pool2d_forward(" in helpers.source


def test_source_has_one_hidden_test_per_check():
    """Does the source notebook hold one graded cell with hidden tests per check?"""
    source = nbformat.read(ROOT / "solutions" / AID / f"{AID}.ipynb", as_version=4)
    hidden = [c for c in source.cells if "BEGIN HIDDEN TESTS" in c.source]
    assert len(hidden) == len(load_assignment(AID).checks) == 13


def test_grading_imports_no_tensorflow():
    """Do the checks and the reference of a3 stay NumPy-only (TensorFlow only in its tests)?"""
    for path in (
        ROOT / "autograder" / "checks" / "a3_backprop.py",
        ROOT / "autograder" / "reference" / "backprop.py",
    ):
        text = path.read_text()
        assert "import tensorflow" not in text and "import keras" not in text, path.name
