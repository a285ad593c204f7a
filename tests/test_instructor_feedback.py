"""feedback.html as a student reads it: code spans, which notebook and when, cells named as
Jupyter shows them, one line for a notebook that is untouched or could not run.

The unit tests build reports by hand; one module fixture grades five a0 notebooks (NumPy,
seconds) with ``autograder grade`` as the command line runs it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import CORPUS, feedback_text, run_grader

from autograder.core import Result, load_assignment
from autograder.notebook import cell_titles, read_cells
from autograder.report import (
    StudentReport,
    feedback_html,
    headline,
    name_cells,
    render,
    results_json,
)

AID = "a0_neurons"
A0 = load_assignment(AID)
HOSTILE = "<img src=x onerror=alert(1)> `<b>bold</b>`"


def _notebook(student: str) -> Path:
    return CORPUS / AID / "submitted" / student / AID / f"{AID}.ipynb"


def _report(messages: dict[str, str], problems: list[str] | None = None) -> StudentReport:
    """Every a0 check passes except those in ``messages`` (0 points, that message)."""
    results = [
        Result(c.name, 0.0, c.points, messages[c.name], "failed")
        if c.name in messages
        else Result(c.name, c.points, c.points, "all cases correct")
        for c in A0.checks
    ]
    return StudentReport("ann", results, problems=problems or [])


def test_code_spans_render_and_student_text_stays_escaped():
    """Are `x` spans rendered as <code>, while markup a student put in a message stays text?"""
    assert (
        render("`neuron` returned `<b>`") == "<code>neuron</code> returned <code>&lt;b&gt;</code>"
    )
    page = feedback_html(A0, _report({"neuron": f"`neuron` raised ValueError: {HOSTILE}"}))
    assert "<code>neuron</code> raised" in page
    assert "<img" not in page and "<b>bold" not in page
    assert "<code>&lt;b&gt;bold&lt;/b&gt;</code>" in page


def test_cells_are_counted_among_all_cells_with_their_first_line(tmp_path):
    """Is a code cell numbered by its position among all cells (markdown included), as Jupyter
    shows it, and named with its first line in feedback?"""
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"id": "0", "cell_type": "markdown", "metadata": {}, "source": "# Title"},
            {
                "id": "1",
                "cell_type": "code",
                "metadata": {},
                "source": "\nimport numpy as np",
                "outputs": [],
            },
            {"id": "2", "cell_type": "markdown", "metadata": {}, "source": "text"},
            {"id": "3", "cell_type": "code", "metadata": {}, "source": ["def f(x):\n", "return 1"]},
        ],
    }
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb))
    assert [c.index for c in read_cells(path)] == [2, 4]
    titles = cell_titles(path)
    assert titles == {2: "import numpy as np", 4: "def f(x):"}
    assert name_cells("cell 4 raised NameError", titles) == "cell 4 (`def f(x):`) raised NameError"
    assert name_cells("cells 9 and later", titles) == "cells 9 and later"  # unknown: unchanged
    assert cell_titles(tmp_path / "missing.ipynb") == {}


def test_a_notebook_that_could_not_run_is_one_line():
    """Does a notebook with no check graded get one line, not a row of 'not checked' per check?"""
    why = "the submitted file is not a valid notebook: JSON error at line 1, column 1"
    report = _report({c.name: f"`{c.function}` was not checked: {why}" for c in A0.checks}, [why])
    for r in report.results:
        r.status = "error"
    line = headline(report)
    assert line is not None and line.startswith("Nothing could be graded: " + why)
    page = feedback_html(A0, report)
    assert "<table" not in page and "was not checked" not in page
    assert headline(_report({"neuron": "`neuron` failed on case 1"})) is None
    odd = "the submitted file 'a.py' is not a Jupyter notebook (.ipynb): nothing could be graded"
    report.problems = [odd]
    assert headline(report) == "T" + odd[1:] + ". All 12 checks: 0 points."  # said once


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Five a0 notebooks graded by ``autograder grade``: (out, grading.json)."""
    tmp = tmp_path_factory.mktemp("feedback")
    subs = tmp / "subs"
    subs.mkdir()
    for student in ("solution", "release", "broken_not_json", "broken_syntax_error"):
        shutil.copy(_notebook(student), subs / f"{student}.ipynb")
    nb = json.loads(_notebook("solution").read_text())
    impl = next(
        c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "neuron_impl"
    )
    impl["source"] = f'def neuron(x, w, b, activation="step"):\n    raise ValueError({HOSTILE!r})\n'
    (subs / "hostile_message.ipynb").write_text(json.dumps(nb))
    out = tmp / "out"
    proc = run_grader(AID, [subs], out, "--jobs", "2", "--timeout", "30")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, json.loads((out / "grading.json").read_text())


def test_feedback_says_which_notebook_when_and_which_grader(graded):
    """Does the feedback name the graded file, the time it was graded and the grader version?"""
    out, info = graded
    page = (out / "solution" / "feedback.html").read_text()
    assert "<code>solution.ipynb</code>" in page
    assert re.search(r"graded \d{4}-\d\d-\d\d \d\d:\d\d UTC", page)
    assert f"grader {info['grader']}" in page and info["grader"]
    assert "<table" in page


def test_the_release_is_one_line(graded):
    """Does the untouched release get one line saying nothing is implemented, not 12 rows?"""
    out, _ = graded
    page = (out / "release" / "feedback.html").read_text()
    assert "<table" not in page
    assert "Nothing is implemented yet" in page and "<code>NotImplementedError</code>" in page
    assert "not implemented yet" in feedback_text(out, "release")  # the grading tests' phrase


def test_a_broken_file_is_one_line(graded):
    """Does a file that is not JSON get one line saying why nothing could be graded?"""
    out, _ = graded
    page = (out / "broken_not_json" / "feedback.html").read_text()
    assert "<table" not in page and "Nothing could be graded" in page
    assert "not a valid notebook" in page


def test_cell_errors_name_the_cell_as_jupyter_shows_it(graded):
    """Does a cell's error name the cell by its position among all cells and its first line?"""
    out, _ = graded
    text = feedback_text(out, "broken_syntax_error")
    cells = json.loads(_notebook("broken_syntax_error").read_text())["cells"]
    n = next(
        i
        for i, c in enumerate(cells, start=1)
        if c["cell_type"] == "code" and "".join(c["source"]).startswith("def softmax(z)\n")
    )
    assert f"cell {n} (`def softmax(z)`) raised SyntaxError" in text


def test_student_text_in_graded_feedback_stays_escaped(graded):
    """Does an exception message with markup reach the feedback as text, code spans rendered?"""
    out, _ = graded
    page = (out / "hostile_message" / "feedback.html").read_text()
    assert "<img" not in page and "&lt;img src=x" in page
    assert "<code>&lt;b&gt;bold&lt;/b&gt;</code>" in page


def test_results_json_keeps_gradescopes_format(graded):
    """Does results.json keep Gradescope's keys (no HTML in it), with cells named in outputs?"""
    out, _ = graded
    data = json.loads((out / "broken_syntax_error" / "results.json").read_text())
    assert {"score", "execution_time", "output", "visibility", "tests"} <= set(data)
    for test in data["tests"]:
        assert {"name", "score", "max_score", "output", "visibility"} <= set(test)
        assert "<code>" not in test["output"]
    assert "(`def softmax(z)`)" in data["output"]
    report = _report({})
    assert set(results_json(A0, report)) == set(data)
