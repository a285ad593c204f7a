"""a2_keras_cnn end to end: both harnesses on the sample corpus, feedback, the release."""

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

AID = "a2_keras_cnn"
EXPECTED = expected(AID)
HONEST = {s: v for s, v in EXPECTED.items() if v[1] in ("solution", "release", "mistake")}
CHECKS = [
    "conv_param_count",
    "dense_param_count",
    "batchnorm_param_count",
    "separable_conv_param_count",
    "receptive_field",
    "predict_shapes",
    "predict_param_count",
    "build_from_spec",
    "build_lenet",
    "build_cnn_design",
    "build_cnn_learns",
]


def _notebook(student):
    return CORPUS / AID / "submitted" / student / AID / f"{AID}.ipynb"


@pytest.fixture(scope="module")
def graded(tmp_path_factory, request):
    """The corpus graded by `autograder grade` (its sample in `make test`: each submission trains a
    CNN; all of it in `make test-full`)."""
    out = tmp_path_factory.mktemp("a2") / "out"
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
        ("mistake_conv_no_bias", "the bias is forgotten"),
        ("mistake_bn_all_trainable", "moving mean and variance are counted as trainable"),
        ("mistake_rf_ignores_stride", "the strides are ignored"),
        ("mistake_pool_ceil", "pooling rounds up"),
        ("mistake_spec_ignores_padding", "padding='same' is ignored"),
        ("mistake_lenet_max_pool", "max pooling where LeNet averages"),
        ("mistake_lenet_no_softmax", "not probabilities"),
        ("mistake_cnn_over_budget", "over the budget of 250,000"),
        ("mistake_cnn_no_batchnorm", "has no BatchNormalization layer"),
        ("mistake_cnn_cannot_learn", "does not learn the shapes"),
        ("mistake_cnn_cannot_learn", "threshold 0.60"),
        ("solution", "reached held-out accuracy"),
        ("release", "not implemented yet"),
        ("hostile_memory_hog", "MemoryError"),
        ("broken_missing_function", "`build_lenet` is not defined"),
    ],
)
def test_feedback_names_the_problem(graded, student, phrase):
    """Does the student's feedback name the mistake, or report the accuracy reached?"""
    _, out, grades = graded
    skip_unless_graded(grades, student)
    assert phrase in feedback_text(out, student)


def test_feedback_leaks_no_hidden_tests(graded):
    """Is the feedback free of hidden test code, the reference and tracebacks? (The training
    split has no seed to leak: the grader makes it fresh for each run.)"""
    _, out, grades = graded
    assert feedback_leaks(out, grades) == []


def test_mistakes_keep_the_other_checks(graded):
    """Does each mistake lose the points of its own function's checks and keep all others?"""
    _, _, grades = graded
    own = {
        "mistake_conv_no_bias": {"conv_param_count", "predict_param_count"},  # which calls it
        "mistake_bn_all_trainable": {"batchnorm_param_count"},
        "mistake_rf_ignores_stride": {"receptive_field"},
        "mistake_pool_ceil": {"predict_shapes", "predict_param_count"},
        "mistake_spec_ignores_padding": {"build_from_spec"},
        "mistake_lenet_max_pool": {"build_lenet"},
        "mistake_lenet_no_softmax": {"build_lenet"},
        "mistake_cnn_over_budget": {"build_cnn_design", "build_cnn_learns"},
        "mistake_cnn_no_batchnorm": {"build_cnn_design", "build_cnn_learns"},
        "mistake_cnn_cannot_learn": {"build_cnn_learns"},
        "broken_missing_function": {"build_lenet"},
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
    assert release_problems(AID, prepared_course(AID), ("BatchNormalization()(x)",)) == []


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
    assert points == load_assignment(AID).max_score == 25
