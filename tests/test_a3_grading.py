"""The fast harness on the a3_backprop corpus: scores, named mistakes, feedback, sandboxing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import CORPUS, expected, feedback_leaks, feedback_text, read_grades, run_grader

AID = "a3_backprop"
EXPECTED = expected(AID)
MARK = "cnn-course-orphan-marker"


def _marked_processes() -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if MARK in cmd:
            found.append(int(pid))
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    out = tmp_path_factory.mktemp("a3")
    # 30 s: half for the cells (an infinite loop burns it), half for the checks, training included
    # (the solution needs under 2 s in all; the two endless loops set the pace of this batch)
    proc = run_grader(AID, [CORPUS / AID / "submitted"], out, "--jobs", "2", "--timeout", "30")
    return proc, out, read_grades(out / "grades.csv")


def test_exit_status_and_every_student_graded(graded):
    """Does the batch exit 0 with a row for every submission, hostile ones included?"""
    proc, _, grades = graded
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert set(grades) == set(EXPECTED)
    assert f"graded {len(EXPECTED)} submission(s)" in proc.stdout


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_expected_score(graded, student):
    """Does each sample submission get its expected score from `autograder grade`?"""
    _, out, grades = graded
    score, kind = EXPECTED[student]
    assert float(grades[student]["score"]) == score, (
        kind,
        (out / student / "results.json").read_text()[:3000],
    )


def test_grades_csv_columns(graded):
    """Does grades.csv have student,score,max_score and then one column per check?"""
    _, out, _ = graded
    header = (out / "grades.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["student", "score", "max_score"]
    assert "train_numpy_cnn" in header and "conv2d_backward_options" in header
    assert len(header) == 3 + 13


@pytest.mark.parametrize(
    "student,phrase",
    [
        ("mistake_numgrad_one_sided", "use central differences"),
        ("mistake_conv_unflipped", "kernel unflipped"),
        ("mistake_conv_db_mean", "db is the mean of dout"),
        ("mistake_conv_no_crop", "crop the padding"),
        ("mistake_max_spread", "went to every element of the window"),
        ("mistake_avg_not_divided", "gradient is not divided"),
        ("mistake_bn_unbiased", "the variance is unbiased"),
        ("mistake_bn_momentum_swapped", "momentum is the wrong way round"),
        ("mistake_bn_update_at_inference", "changed at inference"),
        ("mistake_bn_no_mean_terms", "misses the terms through the batch mean"),
        ("mistake_dropout_not_rescaled", "kept values are not rescaled"),
        ("mistake_dropout_keep_prob", "not to keep it"),
        ("mistake_dropout_backward_not_rescaled", "the gradient is not rescaled"),
        ("mistake_ce_sum", "take the mean"),
        ("mistake_rmsprop_eps_outside", "epsilon is outside the square root"),
        ("mistake_adam_no_bias_correction", "no bias correction"),
        ("mistake_adam_cs231n", "CS231n's form"),
        ("mistake_cnn_ignores_input", "below the threshold 85%"),
        ("solution", "held-out accuracy"),
        ("hostile_memory_hog", "memory"),
        ("hostile_unstoppable_loop", "time limit"),
        ("hostile_infinite_loop", "was stopped after running out of time"),
        ("hostile_os_exit", "ended the grading process early"),
        ("hostile_rigged_eq", "return the tuple (dx, dw, db)"),
        ("broken_not_json", "not a valid notebook"),
        ("broken_syntax_error", "SyntaxError"),
        ("release", "not implemented yet"),
    ],
)
def test_feedback_names_the_problem(graded, student, phrase):
    """Does the student's feedback name the mistake or the problem in one clear line?"""
    _, out, _ = graded
    assert phrase in feedback_text(out, student)


def test_feedback_leaks_no_hidden_tests(graded):
    """Is the feedback free of hidden test code, the reference and tracebacks?"""
    _, out, _ = graded
    assert feedback_leaks(out, EXPECTED, ("sliding_window_view", "einsum", "y_test")) == []


OWN = {  # the checks each mistake must fail; every other check keeps the solution's points
    "mistake_numgrad_one_sided": {"numerical_gradient"},
    "mistake_conv_unflipped": {"conv2d_backward_basic", "conv2d_backward_options"},
    "mistake_conv_db_mean": {"conv2d_backward_basic", "conv2d_backward_options"},
    "mistake_conv_no_crop": {"conv2d_backward_options"},
    "mistake_max_spread": {"pool2d_backward"},
    "mistake_avg_not_divided": {"pool2d_backward"},
    "mistake_bn_unbiased": {"batchnorm_forward"},
    "mistake_bn_momentum_swapped": {"batchnorm_forward"},
    "mistake_bn_update_at_inference": {"batchnorm_forward"},
    "mistake_bn_no_mean_terms": {"batchnorm_backward"},
    "mistake_dropout_not_rescaled": {"dropout_forward"},
    "mistake_dropout_keep_prob": {"dropout_forward"},
    "mistake_dropout_backward_not_rescaled": {"dropout_backward"},
    "mistake_ce_sum": {"softmax_cross_entropy"},
    "mistake_rmsprop_eps_outside": {"rmsprop_step"},
    "mistake_adam_no_bias_correction": {"adam_step"},
    "mistake_adam_cs231n": {"adam_step"},
    "mistake_cnn_ignores_input": {"train_numpy_cnn"},
}


def test_mistakes_keep_the_other_checks(graded):
    """Does each mistake lose exactly the points of its own checks and keep all the others?"""
    _, _, grades = graded
    assert set(OWN) == {s for s, (_, kind) in EXPECTED.items() if kind == "mistake"}
    solution = grades["solution"]
    for student, checks in OWN.items():
        row = grades[student]
        for check, points in solution.items():
            if check in ("student", "score", "max_score"):
                continue
            if check in checks:
                assert float(row[check]) == 0, (student, check)
            else:
                assert row[check] == points, (student, check)


def test_training_feedback_reports_accuracy_and_threshold(graded):
    """Does the training check report the accuracy reached, the threshold and the time taken?"""
    _, out, _ = graded
    data = json.loads((out / "solution" / "results.json").read_text())
    (train,) = [t for t in data["tests"] if t["name"].startswith("train_numpy_cnn")]
    assert "threshold 85%" in train["output"] and " s" in train["output"]
    accuracy = float(train["output"].split("held-out accuracy ")[1].split("%")[0])
    assert accuracy >= 90.0  # the reference design meets 85% comfortably


def test_no_process_survives_the_batch(graded):
    """Are the processes a submission left running (new sessions, double forks) all gone?"""
    assert _marked_processes() == []


def test_forged_results_are_ignored(graded):
    """Does a forged results.json from the notebook earn nothing?"""
    _, out, grades = graded
    assert float(grades["hostile_forged_results"]["score"]) == 0
    assert json.loads((out / "hostile_forged_results" / "results.json").read_text())["score"] == 0
