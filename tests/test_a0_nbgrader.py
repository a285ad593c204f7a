"""nbgrader's own harness on the honest part of the a0 corpus, and the release."""

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
from autograder.release import ROOT

AID = "a0_neurons"
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
        AID,
        [_notebook(s).parent.parent for s in nbgrader_scores],
        tmp_path,
        "--jobs",
        "2",
        "--timeout",
        "60",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    ours = {s: float(row["score"]) for s, row in read_grades(tmp_path / "grades.csv").items()}
    assert ours == nbgrader_scores


def test_release_is_in_sync_and_leak_free(prepared_course):
    """Does assignments/ equal a fresh nbgrader release, with stubs only and no hidden test?"""
    assert (
        release_problems(AID, prepared_course(AID), ("dz2 /= n", "np.array([1.0, 1.0, -2.0])"))
        == []
    )


def test_source_has_one_hidden_test_per_check():
    """Does the source notebook hold one graded cell with hidden tests per check, its points
    those of the check?"""
    source = nbformat.read(ROOT / "solutions" / AID / f"{AID}.ipynb", as_version=4)
    checks = {c.name: c.points for c in load_assignment(AID).checks}
    hidden = [c for c in source.cells if "BEGIN HIDDEN TESTS" in c.source]
    assert len(hidden) == len(checks) == 12
    for cell in hidden:
        meta = cell.metadata["nbgrader"]
        assert checks[meta["grade_id"]] == meta["points"]
        assert f'run_in_kernel("{AID}", "{meta["grade_id"]}", globals())' in cell.source


def test_notebooks_are_stripped_with_stable_ids():
    """Are the source and the release committed as nbstripout leaves them: no outputs, no
    execution counts, and cell ids numbered in order (stable, so diffs stay readable)?"""
    for path in (
        ROOT / "solutions" / AID / f"{AID}.ipynb",
        ROOT / "assignments" / AID / f"{AID}.ipynb",
    ):
        cells = nbformat.read(path, as_version=4).cells
        assert [c.get("id") for c in cells] == [str(i) for i in range(len(cells))], path.name
        for cell in cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, (path.name, cell.id)
