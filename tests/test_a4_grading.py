"""a4_keras_training end to end: both harnesses on the sample corpus, feedback, the release."""

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

AID = "a4_keras_training"
EXPECTED = expected(AID)
HONEST = {s: v for s, v in EXPECTED.items() if v[1] in ("solution", "release", "mistake")}
CHECKS = [
    "step_decay",
    "exponential_decay",
    "make_callbacks",
    "make_augmenter",
    "balanced_class_weights",
    "mask_iou",
    "soft_iou_loss",
    "edge_aware_loss",
    "build_transfer_model",
    "transfer_learns",
    "fine_tune",
]


def _notebook(student):
    return CORPUS / AID / "submitted" / student / AID / f"{AID}.ipynb"


@pytest.fixture(scope="module")
def graded(tmp_path_factory, request):
    """The corpus graded by `autograder grade` (its sample in `make test`: each notebook costs
    about 19 s of CPU; all 17 in `make test-full`)."""
    out = tmp_path_factory.mktemp("a4") / "out"
    students = fast_corpus(AID, EXPECTED, request.config)
    proc = grade_corpus(AID, students, out, "--jobs", "2", "--timeout", "180")
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
        ("mistake_step_off_by_one", "off by one epoch"),
        ("mistake_callback_on_loss", "watches `loss`, not `val_loss`"),
        ("mistake_augmenter_at_inference", "active at inference"),
        ("mistake_class_weights_inverse_count", "1 / count_c"),
        ("mistake_iou_empty_nan", "return 1.0"),
        ("mistake_soft_iou_threshold", "no gradient reaches y_pred"),
        ("mistake_edge_nan_gradient", "the gradient is NaN"),
        ("mistake_base_not_frozen", "the base is not frozen"),
        ("mistake_base_not_frozen", "frozen-feature reference reaches 0.81-0.85"),
        ("mistake_base_not_frozen", "from scratch 0.31-0.46"),
        ("mistake_base_training_mode", "calls the base with training=True"),
        ("mistake_fine_tune_all_layers", "every layer of the base was trained"),
        ("mistake_fine_tune_bn_unfrozen", "batch-norm layers changed"),
        ("mistake_fine_tune_lr_not_lowered", "the learning rate was not lowered"),
        ("solution", "reached held-out accuracy"),
        ("solution", "Threshold 0.65"),
        ("release", "not implemented yet"),
        ("hostile_memory_hog", "MemoryError"),
        ("broken_missing_function", "`fine_tune` is not defined"),
    ],
)
def test_feedback_names_the_problem(graded, student, phrase):
    """Does the student's feedback name the mistake, or report the accuracies reached?"""
    _, out, grades = graded
    skip_unless_graded(grades, student)
    assert phrase in feedback_text(out, student)


def test_feedback_leaks_no_hidden_tests(graded):
    """Is the feedback free of hidden test code, the reference and tracebacks? (The target-task
    split has no seed to leak: the grader makes it fresh for each run.)"""
    _, out, grades = graded
    assert feedback_leaks(out, grades) == []


def test_mistakes_keep_the_other_checks(graded):
    """Does each mistake lose the points of its own function's checks and keep all others?"""
    _, _, grades = graded
    own = {
        "mistake_step_off_by_one": {"step_decay"},
        "mistake_callback_on_loss": {"make_callbacks"},
        "mistake_augmenter_at_inference": {"make_augmenter"},
        "mistake_class_weights_inverse_count": {"balanced_class_weights"},
        "mistake_iou_empty_nan": {"mask_iou"},
        "mistake_soft_iou_threshold": {"soft_iou_loss"},
        "mistake_edge_nan_gradient": {"edge_aware_loss"},
        "mistake_base_not_frozen": {"build_transfer_model", "transfer_learns"},
        "mistake_base_training_mode": {"build_transfer_model"},
        "mistake_fine_tune_all_layers": {"fine_tune"},
        "mistake_fine_tune_bn_unfrozen": {"fine_tune"},
        "mistake_fine_tune_lr_not_lowered": {"fine_tune"},
        "broken_missing_function": {"fine_tune"},
        "hostile_memory_hog": set(),
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
            AID, prepared_course(AID), ("math.floor(epoch / every)", "sobel_edges(y_pred)")
        )
        == []
    )


def test_source_has_one_hidden_test_per_check():
    """Does the source notebook hold one graded cell with hidden tests per check, 25 points?"""
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
    assert points == load_assignment(AID).max_score == 25
