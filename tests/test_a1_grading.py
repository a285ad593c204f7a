"""The fast harness on the a1_convolution corpus: scores, feedback, sandboxing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS, expected, feedback_leaks, feedback_text, read_grades, run_grader

from autograder.checks.a1_convolution import SPEED_RATIO, SPEED_ROUNDS, _speed_fresh, _verify_speed
from autograder.release import ROOT

AID = "a1_convolution"
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
    out = tmp_path_factory.mktemp("a1")
    proc = run_grader(AID, [CORPUS / AID / "submitted"], out, "--jobs", "2", "--timeout", "20")
    return proc, out, read_grades(out / "grades.csv")


def test_exit_status_and_every_student_graded(graded):
    """Does the batch exit 0 with a row for every submission, hostile ones included?"""
    proc, _, grades = graded
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert set(grades) == set(EXPECTED)
    assert "student" in proc.stdout and f"graded {len(EXPECTED)} submission(s)" in proc.stdout


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
    assert "conv2d_im2col_speed" in header and "make_kernel_unknown_name" in header
    assert len(header) == 3 + 14


def test_results_json_is_gradescope_format(graded):
    """Is results.json in Gradescope's format, its score the sum of its tests?"""
    _, out, _ = graded
    for student in EXPECTED:
        data = json.loads((out / student / "results.json").read_text())
        assert abs(data["score"] - sum(t["score"] for t in data["tests"])) < 1e-9
        for test in data["tests"]:
            assert {"name", "score", "max_score", "output", "visibility"} <= set(test)
            assert 0 <= test["score"] <= test["max_score"]


@pytest.mark.parametrize(
    "student,phrase",
    [
        ("mistake_corr2d_flips", "does not flip the kernel"),
        ("mistake_no_plus_one", "did you forget the + 1?"),
        ("mistake_no_flip", "flips the kernel"),
        ("mistake_no_bias", "bias is missing"),
        ("mistake_same_top_left", "bottom/right"),
        ("mistake_pool_stride_one", "stride should default to pool_size"),
        ("mistake_im2col_cuv", "(c, u, v) order"),
        ("mistake_im2col_slow", "as fast as the four-loop version"),
        ("mistake_gauss_unnormalised", "do not sum to 1"),
        ("mistake_box_blur_sum", "divide by 9"),
        ("mistake_kernel_keyerror", "expected a ValueError, got KeyError"),
        ("hostile_memory_hog", "memory"),
        ("hostile_unstoppable_loop", "time limit"),
        ("hostile_infinite_loop", "was stopped after running out of time"),
        ("hostile_os_exit", "ended the grading process early"),
        ("hostile_rigged_eq", "return an int"),
        ("broken_not_json", "not a valid notebook"),
        ("broken_not_notebook", "not a Jupyter notebook"),
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
    assert feedback_leaks(out, EXPECTED, ("sliding_window_view", "einsum")) == []


def test_mistakes_keep_the_other_checks(graded):
    """Does each mistake keep full points on every check of the other functions?"""
    _, _, grades = graded
    own = {
        "mistake_no_plus_one": {"conv_output_size"},
        "mistake_corr2d_flips": {"corr2d"},
        "mistake_no_flip": {"conv2d_true"},
        "mistake_box_blur_sum": {"make_kernel"},
        "mistake_kernel_keyerror": {"make_kernel_unknown_name"},
        "mistake_no_bias": {"conv2d_forward_basic", "conv2d_forward_options"},
        "mistake_same_top_left": {"conv2d_forward_options", "conv2d_im2col"},
        "mistake_pool_stride_one": {"pool2d_forward"},
        "mistake_im2col_cuv": {"im2col"},
        "mistake_im2col_slow": {"conv2d_im2col_speed"},
        "mistake_gauss_unnormalised": {"gaussian_kernel_1d"},
    }
    solution = grades["solution"]
    for student, checks in own.items():
        row = grades[student]
        for check, points in solution.items():
            if check in ("student", "score", "max_score"):
                continue
            if check in checks:
                assert float(row[check]) == 0, (student, check)
            else:
                assert row[check] == points, (student, check)


def test_no_process_survives_the_batch(graded):
    """Are the processes a submission left running (new sessions, double forks) all gone?"""
    assert _marked_processes() == []


def test_forged_results_are_ignored(graded):
    """Does a forged results.json / grades.csv from the notebook earn nothing?"""
    _, out, grades = graded
    assert float(grades["hostile_forged_results"]["score"]) == 0
    assert json.loads((out / "hostile_forged_results" / "results.json").read_text())["score"] == 0


def _speed_observation(given: dict, kept: dict, seconds: list[float]) -> dict:
    """What a grader would observe from a correct conv2d_im2col taking ``seconds`` per round."""
    return {"seconds": seconds, "outputs": [{"value": e.tolist()} for e in kept["expected"]]}


def test_speed_keeps_the_fastest_of_five_fresh_rounds():
    """Does one fast round earn the speed point although a busy machine slowed the other four,
    and does a function 10x faster than the loops (all rounds) still miss it?"""
    given, kept = _speed_fresh(np.random.default_rng(3))
    assert SPEED_ROUNDS == 5 and len(given["rounds"]) == len(kept["expected"]) == 5
    assert len({r[0].tobytes() for r in given["rounds"]}) == 5, "each round gets a fresh input"
    fast = kept["baseline"] / (2 * SPEED_RATIO)
    descheduled = [fast * 50, fast * 50, fast, fast * 50, fast * 50]
    ok, message = _verify_speed(_speed_observation(given, kept, descheduled), kept)
    assert ok, message
    slow = [kept["baseline"] / 10] * 5
    ok, message = _verify_speed(_speed_observation(given, kept, slow), kept)
    assert not ok and "needs 20x" in message


def test_the_notebook_states_how_the_speed_is_timed():
    """Does the released notebook say how many rounds the grader times and that the fastest counts?"""
    words = {3: "three", 5: "five", 7: "seven"}
    text = (ROOT / "assignments" / AID / f"{AID}.ipynb").read_text(encoding="utf-8")
    assert f"on {words[SPEED_ROUNDS]} fresh inputs" in text and "keeps its fastest round" in text
