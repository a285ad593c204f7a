"""a5_inside_cnns end to end: both harnesses on the sample corpus, feedback, the release.

The corpus is graded once for the module (the fast harness, two jobs); nbgrader grades its
sample (the solution and the release) in `make test`, all of the honest corpus in `make test-full`."""

from __future__ import annotations

import json
import math

import nbformat
import pytest
from conftest import (
    CORPUS,
    expected,
    fast_corpus,
    feedback_leaks,
    feedback_text,
    grade_corpus,
    nbgrader_corpus,
    nbgrader_scores_sharded,
    read_grades,
    release_problems,
    skip_unless_graded,
    skip_unless_sampled,
)

from autograder.core import load_assignment
from autograder.release import ROOT

AID = "a5_inside_cnns"
EXPECTED = expected(AID)
HONEST = {s: v for s, v in EXPECTED.items() if v[1] in ("solution", "release", "mistake")}
CHECKS = [
    "gram_matrix",
    "content_loss",
    "style_layer_loss",
    "style_loss",
    "total_variation_loss",
    "saliency_map",
    "class_visualization_step",
    "deep_dream_step",
    "fgsm",
    "fgsm_attack",
    "shortcut_gap",
    "train_without_shortcut",
]
FIX = "train_without_shortcut"


def _notebook(student):
    return CORPUS / AID / "submitted" / student / AID / f"{AID}.ipynb"


@pytest.fixture(scope="module")
def graded(tmp_path_factory, request):
    """The corpus graded by `autograder grade` (its sample in `make test` when conftest's
    FAST_SAMPLE names one; all of it in `make test-full`)."""
    out = tmp_path_factory.mktemp("a5") / "out"
    students = fast_corpus(AID, EXPECTED, request.config)
    proc = grade_corpus(AID, students, out, "--jobs", "2", "--timeout", "150")
    return proc, out, read_grades(out / "grades.csv")


@pytest.fixture(scope="module")
def nbgrader_scores(tmp_path_factory, request, prepared_course):
    sample = nbgrader_corpus(AID, HONEST, request.config)
    notebooks = {s: _notebook(s) for s in sample}
    return nbgrader_scores_sharded(
        AID, notebooks, tmp_path_factory.mktemp("nbgrader"), prepared_course(AID)
    )


def test_exit_status_and_every_student_graded(graded, request):
    """Does the batch exit 0 with a row for every submission, with one column per check?"""
    proc, out, grades = graded
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert set(grades) == set(fast_corpus(AID, EXPECTED, request.config))
    header = (out / "grades.csv").read_text().splitlines()[0].split(",")
    assert header == ["student", "score", "max_score", *CHECKS]


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_expected_score(graded, student):
    """Does each sample submission get its expected score from `autograder grade`?"""
    _, out, grades = graded
    skip_unless_graded(grades, student)
    score, kind = EXPECTED[student]
    assert float(grades[student]["score"]) == score, (
        kind,
        (out / student / "results.json").read_text()[:4000],
    )


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(HONEST))
def test_nbgrader_autograde_gives_expected_score(nbgrader_scores, student):
    """Does `nbgrader autograde` give each honest sample submission its expected score?"""
    skip_unless_sampled(nbgrader_scores, student)
    assert not math.isnan(nbgrader_scores[student]), "nbgrader could not grade it"
    assert nbgrader_scores[student] == HONEST[student][0]


@pytest.mark.slow
def test_both_harnesses_agree(graded, nbgrader_scores):
    """Do `autograder grade` and `nbgrader autograde` give the same scores on the honest corpus
    (its sample in `make test`, all of it in `make test-full`)?"""
    _, _, grades = graded
    ours = {s: float(grades[s]["score"]) for s in nbgrader_scores}
    assert ours == nbgrader_scores


@pytest.mark.parametrize(
    "student,phrase",
    [
        ("mistake_gram_normalised", "normalised (divided by H*W)"),
        ("mistake_gram_transposed", "F F^T over positions"),
        ("mistake_gram_scrambled", "the channels are scrambled"),
        ("mistake_content_no_half", "the 1/2 of Gatys"),
        ("mistake_content_numpy", "is not differentiable by tf.GradientTape"),
        ("mistake_style_no_norm", "1 / (4 C^2 (H W)^2) is missing"),
        ("mistake_tv_squares", "the differences are squared"),
        ("mistake_saliency_softmax", "the score is the softmax probability"),
        ("mistake_dream_minimises", "minimising the activation"),
        ("mistake_fgsm_no_clip", "not clipped to [0, 1]"),
        ("mistake_fgsm_gradient", "FGSM steps by eps * sign(gradient)"),
        ("mistake_fgsm_gradient", "more than epsilon = 0.03"),
        ("mistake_gap_reversed", "that is swapped minus aligned"),
        ("mistake_fix_plain", "the model still follows the cue"),
        ("mistake_fix_memorises_test_cue", "the cue the other way round"),
        ("solution", "a plainly trained model shows a gap"),
        ("solution", "rose over 5 steps"),
        ("release", "not implemented yet"),
        ("hostile_memory_hog", "MemoryError"),
        ("broken_missing_function", "`fgsm` is not defined"),
    ],
)
def test_feedback_names_the_problem(graded, student, phrase):
    """Does the student's feedback name the mistake, or report the accuracy reached?"""
    _, out, grades = graded
    skip_unless_graded(grades, student)
    assert phrase in feedback_text(out, student)


def test_feedback_leaks_no_hidden_tests(graded):
    """Is the feedback free of hidden test code, the reference and tracebacks? (The hidden
    shortcut data and FGSM batch have no seed to leak: the grader makes them fresh for each run.)"""
    _, out, grades = graded
    assert feedback_leaks(out, grades) == []


def test_mistakes_keep_the_other_checks(graded):
    """Does each mistake lose the points of its own function's checks (and of the functions that
    call it) and keep all others? Mistakes outside section 11 leave it unsolved (it is the slow
    part to grade), so they lose train_without_shortcut too."""
    _, _, grades = graded
    style = {"gram_matrix", "style_layer_loss", "style_loss"}  # style_layer_loss calls gram_matrix
    own = {
        "mistake_gram_normalised": style | {FIX},
        "mistake_gram_transposed": style | {FIX},
        "mistake_gram_scrambled": style | {FIX},
        "mistake_content_no_half": {"content_loss", FIX},
        "mistake_content_numpy": {"content_loss", FIX},
        "mistake_style_no_norm": {"style_layer_loss", "style_loss", FIX},
        "mistake_tv_squares": {"total_variation_loss", FIX},
        "mistake_saliency_softmax": {"saliency_map", FIX},
        "mistake_dream_minimises": {"deep_dream_step", FIX},
        "mistake_fgsm_no_clip": {"fgsm", "fgsm_attack", FIX},
        "mistake_fgsm_gradient": {"fgsm", "fgsm_attack", FIX},
        "mistake_gap_reversed": {"shortcut_gap", FIX},
        "mistake_fix_plain": {FIX},
        "mistake_fix_memorises_test_cue": {FIX},
        "broken_missing_function": {"fgsm", "fgsm_attack", FIX},
        "hostile_memory_hog": {FIX},
    }
    solution = grades["solution"]
    for student, checks in own.items():
        if student not in grades:
            continue  # not in this run's sample
        for check in CHECKS:
            got = float(grades[student][check])
            if check in checks:
                assert got < float(solution[check]), (student, check)
            else:
                assert got == float(solution[check]), (student, check)


def test_results_json_is_gradescope_format(graded):
    """Is results.json in Gradescope's format, its score the sum of its tests?"""
    _, out, grades = graded
    for student in grades:
        data = json.loads((out / student / "results.json").read_text())
        assert abs(data["score"] - sum(t["score"] for t in data["tests"])) < 1e-9
        assert [t["name"] for t in data["tests"]] and all(
            0 <= t["score"] <= t["max_score"] for t in data["tests"]
        )


def test_release_is_in_sync_and_leak_free(prepared_course):
    """Does assignments/ equal a fresh nbgrader release, with stubs only and no hidden test?"""
    assert (
        release_problems(
            AID,
            prepared_course(AID),
            ("tf.matmul(f, f, transpose_a=True)", "sample_weight=weights"),
        )
        == []
    )


def test_source_has_one_hidden_test_per_check():
    """Does the source notebook hold one graded cell with hidden tests per check?"""
    source = nbformat.read(ROOT / "solutions" / AID / f"{AID}.ipynb", as_version=4)
    graded_ids = [
        c.metadata["nbgrader"]["grade_id"]
        for c in source.cells
        if c.metadata.get("nbgrader", {}).get("grade") and "BEGIN HIDDEN TESTS" in c.source
    ]
    assert graded_ids == CHECKS  # one graded cell per check, in order
    points = sum(
        c.metadata["nbgrader"].get("points", 0)
        for c in source.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    )
    assert points == load_assignment(AID).max_score == 30
