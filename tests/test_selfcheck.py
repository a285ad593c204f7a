"""The student's self-check (`cnn_course.selfcheck`): visible tests only, a summary per section,
and nothing at all while a grader runs the notebook."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT

from cnn_course.selfcheck import ONLY_VISIBLE, _visible_part, run_visible_tests, self_check

AID = "a0_neurons"
RELEASE = ROOT / "assignments" / AID / f"{AID}.ipynb"
SOURCE = ROOT / "solutions" / AID / f"{AID}.ipynb"


def _namespace(notebook: Path) -> dict:
    """What a student's kernel holds after running the setup and the solution cells (the demo
    cells are skipped: they only plot)."""
    ns: dict = {"__name__": "__main__"}
    for cell in json.loads(notebook.read_text())["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if cell["cell_type"] == "code" and (
            meta.get("grade_id") == "setup" or meta.get("solution")
        ):
            exec("".join(cell["source"]), ns)  # noqa: S102 - the corpus' own notebook
    return ns


def _student(name: str) -> Path:
    return CORPUS / AID / "submitted" / name / AID / f"{AID}.ipynb"


@pytest.fixture(autouse=True)
def not_grading(monkeypatch):
    for var in ("CNN_COURSE_GRADING", "NBGRADER_EXECUTION"):
        monkeypatch.delenv(var, raising=False)


def test_a_mistake_fails_its_own_visible_test_only(capsys):
    """Does the self-check of a notebook with one mistake fail that cell's visible tests, with
    their first error line, pass the others and print a points-style summary per section?"""
    path = _student("mistake_step_at_zero")
    ns = _namespace(path)
    results = run_visible_tests(path, ns)
    failed = [t for t in results if not t.passed]
    assert [t.name for t in failed] == ["neuron"]
    assert failed[0].error.startswith("AssertionError: w = (1, 1), b = -1")
    assert failed[0].section.startswith("## 1. One neuron")
    cells = json.loads(path.read_text())["cells"]
    assert cells[failed[0].cell - 1]["metadata"]["nbgrader"]["grade_id"] == "neuron"
    self_check(path, ns)
    out = capsys.readouterr().out
    assert "1. One neuron (2 points): 0 / 2" in out
    assert "FAILED  neuron (2 pt, cell 6): AssertionError" in out
    assert "passed  gate_weights (2 pt, cell 9)" in out
    assert "worth 20 of 22 points" in out and ONLY_VISIBLE in out


def test_the_release_fails_every_visible_test_and_leaves_the_namespace(capsys):
    """Does every visible test of the untouched release fail on NotImplementedError, with the
    student's namespace left as it was (tests run in a copy)?"""
    ns = _namespace(RELEASE)
    before = set(ns)
    results = run_visible_tests(RELEASE, ns)
    assert len(results) == 12 and not any(t.passed for t in results)
    assert all(t.error.startswith("NotImplementedError") for t in results)
    assert set(ns) == before


def test_hidden_tests_never_run(monkeypatch):
    """Run on the source notebook (which holds hidden tests), are the hidden blocks left out?"""
    calls = []
    fake = types.ModuleType("autograder")
    fake.run_in_kernel = lambda *args: calls.append(args)
    monkeypatch.setitem(sys.modules, "autograder", fake)
    results = run_visible_tests(SOURCE, _namespace(SOURCE))
    assert results and all(t.passed for t in results) and calls == []
    source = "x = 1\n### BEGIN HIDDEN TESTS\nsecret()\n### END HIDDEN TESTS\ny = 2"
    assert _visible_part(source) == "x = 1\ny = 2"


def test_it_does_nothing_while_graded(monkeypatch, capsys, tmp_path):
    """While a grader (ours or nbgrader's autograde/validate) runs the notebook, does the
    self-check return at once, reading no notebook?"""
    for var, value in (("CNN_COURSE_GRADING", "1"), ("NBGRADER_EXECUTION", "validate")):
        monkeypatch.setenv(var, value)
        self_check(tmp_path / "absent.ipynb", {})
        monkeypatch.delenv(var)
    assert capsys.readouterr().out.count("self-check: skipped") == 2


def test_a_missing_notebook_is_one_line(monkeypatch, capsys, tmp_path):
    """Without the notebook file, does the self-check say how to name it, and not raise?"""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    self_check("a0_neurons.ipynb", {})
    assert "cannot find a0_neurons.ipynb" in capsys.readouterr().out


@pytest.mark.parametrize(
    "aid", sorted(p.name for p in (ROOT / "assignments").iterdir() if p.is_dir())
)
def test_each_release_ends_with_the_self_check(aid):
    """Does each released notebook end with a plain (not graded) cell calling the self-check
    on its own file?"""
    cells = json.loads((ROOT / "assignments" / aid / f"{aid}.ipynb").read_text())["cells"]
    last = cells[-1]
    assert last["cell_type"] == "code" and not last["metadata"]["nbgrader"]["grade"]
    assert f'self_check("{aid}.ipynb")' in "".join(last["source"])


def test_the_notebook_is_found_when_renamed(monkeypatch, tmp_path):
    """Is a notebook saved under another name found: the one JupyterLab says is open, else the
    only notebook in the folder?"""
    from cnn_course.selfcheck import find_notebook

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert find_notebook("a0_neurons.ipynb") is None
    (tmp_path / "a0_neurons-Copy1.ipynb").write_text("{}")
    assert find_notebook("a0_neurons.ipynb") == Path("a0_neurons-Copy1.ipynb").resolve()
    (tmp_path / "other.ipynb").write_text("{}")
    assert find_notebook("a0_neurons.ipynb") is None  # two candidates: none is guessed
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "other.ipynb"))
    assert find_notebook("a0_neurons.ipynb") == tmp_path / "other.ipynb"
