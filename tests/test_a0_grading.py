"""The fast harness on the a0_neurons corpus: scores, feedback, no TensorFlow, sandboxing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import CORPUS, ROOT, expected, feedback_leaks, feedback_text, read_grades, run_grader

from autograder.core import load_assignment

AID = "a0_neurons"
EXPECTED = expected(AID)
SOLUTION = CORPUS / AID / "submitted" / "solution" / AID / f"{AID}.ipynb"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    out = tmp_path_factory.mktemp("a0")
    proc = run_grader(AID, [CORPUS / AID / "submitted"], out, "--jobs", "2", "--timeout", "20")
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
    assert header[3:] == [c.name for c in load_assignment(AID).checks]
    assert load_assignment(AID).max_score == 22


def test_results_json_is_gradescope_format(graded):
    """Is results.json in Gradescope's format, its score the sum of its tests?"""
    _, out, _ = graded
    for student in EXPECTED:
        data = json.loads((out / student / "results.json").read_text())
        assert abs(data["score"] - sum(t["score"] for t in data["tests"])) < 1e-9
        for test in data["tests"]:
            assert {"name", "score", "max_score", "output", "visibility"} <= set(test)


@pytest.mark.parametrize(
    "student,phrase",
    [
        ("mistake_step_at_zero", "step(0) must be 0"),
        ("mistake_and_is_or", "your AND neuron computes OR"),
        ("mistake_product_first", "appended as the third column"),
        ("mistake_xor_single_neuron", "single line, and no line computes XOR"),
        ("mistake_sigmoid_grad_is_sigmoid", "σ(z)(1 − σ(z)), not σ(z)"),
        ("mistake_tanh_grad_one_minus_tanh", "1 − tanh²(z), not 1 − tanh(z)"),
        ("mistake_relu_grad_negatives", "0 for z < 0, not 1"),
        ("mistake_leaky_keras_default", "Keras's default"),
        ("mistake_softmax_unstable", "subtract each row's maximum"),
        ("mistake_ce_no_clip", "clip the probabilities to at least 1e-7"),
        ("mistake_backprop_no_mean", "times too large"),
        ("mistake_backprop_transposed", "the transpose of the right one"),
        ("mistake_backprop_no_tanh_grad", "miss tanh's derivative"),
        ("mistake_train_fixed_lr", "use the lr you are given"),
        ("hostile_hardcoded_params", "use the lr you are given"),
        ("hostile_memory_hog", "memory"),
        ("hostile_unstoppable_loop", "time limit"),
        ("hostile_infinite_loop", "was stopped after running out of time"),
        ("hostile_os_exit", "ended the grading process early"),
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
    assert feedback_leaks(out, EXPECTED, ("errstate", "xor_accuracy", "_ref()")) == []


def test_mistakes_keep_the_other_checks(graded):
    """Does each mistake keep full points on every check it does not break (train_xor needs a
    working backward pass, so two backprop mistakes lose it too)?"""
    _, _, grades = graded
    own = {
        "mistake_step_at_zero": {"neuron"},
        "mistake_and_is_or": {"gate_weights"},
        "mistake_product_first": {"xor_features"},
        "mistake_xor_single_neuron": {"xor_weights_one_neuron", "xor_two_layer"},
        "mistake_sigmoid_grad_is_sigmoid": {"activation_grad"},
        "mistake_tanh_grad_one_minus_tanh": {"activation_grad"},
        "mistake_relu_grad_negatives": {"activation_grad"},
        "mistake_leaky_keras_default": {"activation", "activation_grad"},
        "mistake_softmax_unstable": {"softmax"},
        "mistake_ce_no_clip": {"cross_entropy"},
        "mistake_backprop_no_mean": {"mlp_backward"},
        "mistake_backprop_transposed": {"mlp_backward", "train_xor"},
        "mistake_backprop_no_tanh_grad": {"mlp_backward", "train_xor"},
        "mistake_train_fixed_lr": {"train_xor"},
    }
    assert set(own) == {s for s, (_, kind) in EXPECTED.items() if kind == "mistake"}
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


def test_forged_results_are_ignored(graded):
    """Does a forged results.json / grades.csv from the notebook earn nothing?"""
    _, out, grades = graded
    assert float(grades["hostile_forged_results"]["score"]) == 0
    assert json.loads((out / "hostile_forged_results" / "results.json").read_text())["score"] == 0


def test_hidden_seeds_are_fresh_per_run():
    """Are train_xor's hidden seeds drawn afresh for each grading run (the given seed 0 first)?"""
    check = load_assignment(AID).check("train_xor")
    import numpy as np

    made = [check.fresh(np.random.default_rng(i)) for i in range(3)]
    runs = [kept["seeds"] for _given, kept in made]
    assert all(r[0] == 0 and len(r) == 3 for r in runs)
    assert len({tuple(r[1:]) for r in runs}) == 3
    # the trainings the grader times are the kept seeds, each sent only in its own round
    for given, kept in made:
        assert [args[2] for args in given["rounds"][:3]] == kept["seeds"]


def test_a_patched_clock_does_not_beat_the_time_budget(tmp_path):
    """Does a slow train_xor lose its points even when the notebook freezes every clock it has?
    (The grader times each call from outside the sandbox.)"""
    import nbformat

    nb = nbformat.read(SOLUTION, as_version=4)
    nb.cells.append(
        nbformat.v4.new_code_cell(
            """
import time
_frozen = time.perf_counter()
time.perf_counter = time.process_time = time.monotonic = time.time = lambda: _frozen
_fast = train_xor


def train_xor(epochs, lr, seed):
    if epochs >= 1000:
        end = _real() + 2.5
        while _real() < end:
            pass
    return _fast(epochs, lr, seed)


import os
_real = lambda: os.times().elapsed
"""
        )
    )
    folder = tmp_path / "nbs"
    folder.mkdir()
    nbformat.write(nb, folder / "slow.ipynb")
    proc = run_grader(AID, [folder], tmp_path / "out", "--timeout", "60")
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = read_grades(tmp_path / "out" / "grades.csv")["slow"]
    assert float(row["train_xor"]) == 0
    assert float(row["score"]) == 22 - 3
    assert "timed by the grader" in feedback_text(tmp_path / "out", "slow")


def test_grading_a0_never_imports_tensorflow(tmp_path):
    """Does grading a NumPy assignment leave TensorFlow and Keras unimported in the grading process?"""
    script = (
        "import sys; from autograder.cli import main; "
        f"main(['grade', '{AID}', '{SOLUTION}', '--out', '{tmp_path}', '--quiet']); "
        "print('TF' if 'tensorflow' in sys.modules or 'keras' in sys.modules else 'NO-TF')"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip().endswith("NO-TF")
    assert float(read_grades(tmp_path / "grades.csv")[AID]["score"]) == 22


def test_checks_and_reference_import_no_tensorflow():
    """Do the checks and the reference of a0 import neither TensorFlow nor Keras?"""
    script = (
        "import sys, autograder.checks.a0_neurons, autograder.reference.neurons; "
        "print('TF' if 'tensorflow' in sys.modules or 'keras' in sys.modules else 'NO-TF')"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "NO-TF"


def _solution_namespace(dtype) -> dict:
    """The solution's functions, every array argument and result cast to ``dtype``."""
    import nbformat
    import numpy as np

    nb = nbformat.read(SOLUTION, as_version=4)
    ns: dict = {"__name__": "__main__"}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (meta.get("solution") or meta.get("grade_id") == "setup"):
            exec(compile(cell.source, meta.get("grade_id", "cell"), "exec"), ns)

    def cast(v):
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            return v.astype(dtype)
        if isinstance(v, dict):
            return {k: cast(x) for k, x in v.items()}
        if isinstance(v, tuple):
            return tuple(cast(x) for x in v)
        return v

    def wrap(fn):
        return lambda *args, **kwargs: cast(fn(*(cast(a) for a in args), **kwargs))

    names = [c.function for c in load_assignment(AID).checks]
    originals = {name: ns[name] for name in names}
    for name in names:  # the wrapped versions call each other, as a float32 notebook would
        ns[name] = wrap(originals[name])
    return ns


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_solution_in_any_float_precision_gets_full_marks(dtype):
    """Does the solution computing in float32 (or float64) throughout get full marks from every
    hidden check, run as nbgrader's harness runs them?"""
    import io
    from contextlib import redirect_stdout

    import numpy as np

    from autograder.core import decode, encode

    ns = _solution_namespace(np.dtype(dtype))
    for check in load_assignment(AID).checks:
        given = kept = None
        if check.fresh is not None:
            given, kept = check.fresh(np.random.default_rng(7))
        with redirect_stdout(io.StringIO()):
            result = check.verify(decode(*encode(check.observe(ns, given))), kept)
        assert result.passed, (dtype, result.message)
