"""Execute every lecture notebook in course/ top to bottom, in fast mode, and fail on any error."""

import os
import pathlib
import re
import sys

import pytest
from conftest import stdout_of

REPO = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "course").glob("*.ipynb"))


HIDDEN_TESTS = re.compile(
    r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.M | re.S
)


def _run(path: pathlib.Path, tmp_path: pathlib.Path, source: str = None, hidden: bool = True):
    """``path`` executed in fast mode in a fresh kernel (``hidden=False``: its hidden-test
    blocks removed first, as nbgrader's release removes them)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    if not hidden:
        for cell in nb.cells:
            cell.source = HIDDEN_TESTS.sub("", cell.source)
    if source is not None:
        nb.cells.append(nbformat.v4.new_code_cell(source))
    env = {
        "CNN_COURSE_FAST": "1",
        "MPLBACKEND": "Agg",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the environment of this process
    try:
        client = NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        )
        client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def test_there_are_lecture_notebooks():
    """Are the six first lectures there, numbered in order?"""
    names = [p.name for p in NOTEBOOKS]
    assert [n[:3] for n in names[:6]] == ["00_", "01_", "02_", "03_", "04_", "05_"]


def test_notebooks_are_committed_without_outputs():
    """Are the notebooks stripped of outputs and execution counts (reviewable diffs)?"""
    import nbformat

    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


def test_notebooks_use_no_deprecated_api():
    """Do the notebooks avoid tf.compat, keras.layers.convolutional, Adam(lr=...) and layer.output_shape?"""
    import re

    banned = [
        r"tf\.compat",
        r"keras\.layers\.convolutional",
        r"\blr=",
        r"\.output_shape\b",  # layer.output_shape and model.output_shape are gone in Keras 3
        r"\.input_shape\b",
        r"from tensorflow import keras",
    ]
    for path in [
        *NOTEBOOKS,
        *REPO.glob("solutions/*/*.ipynb"),
        *REPO.glob("assignments/*/*.ipynb"),
    ]:
        text = path.read_text()
        for pattern in banned:
            assert not re.search(pattern, text), f"{path.name} uses {pattern}"


def test_notebooks_import_cnn_course_before_tensorflow():
    """Does every lecture, answers, solution and released notebook import cnn_course before
    keras or tensorflow, so that the first cell shows none of TensorFlow's loading lines
    (cnn_course can drop them only when it comes first)?"""
    import nbformat

    tensorflow = re.compile(r"^\s*(import|from) (keras|tensorflow)\b", re.M)
    course = re.compile(r"^\s*(import|from) cnn_course\b", re.M)
    late = []
    notebooks = [*NOTEBOOKS, *sorted((REPO / "course" / "answers").glob("*.ipynb"))]
    notebooks += [*SOLUTIONS, *sorted((REPO / "assignments").glob("*/*.ipynb"))]
    for path in notebooks:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            tf_import, course_import = tensorflow.search(cell.source), course.search(cell.source)
            if tf_import or course_import:
                if tf_import and (not course_import or tf_import.start() < course_import.start()):
                    late.append(path.name)
                break
    assert late == []


def test_notebooks_follow_the_skeleton():
    """Does every notebook have a title cell, ## Setup, ## Summary and ## Exercises last?"""
    import nbformat

    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        md = [c.source for c in nb.cells if c.cell_type == "markdown"]
        assert (
            md[0].startswith("# ") and "What you will learn" in md[0] and "Time to run" in md[0]
        ), path.name
        assert any(s.startswith("## Setup") for s in md), path.name
        assert any(s.startswith("## Summary") for s in md), path.name
        assert nb.cells[-1].cell_type == "markdown" and nb.cells[-1].source.startswith(
            "## Exercises"
        ), path.name


def test_kernel_is_this_interpreter(tmp_path):
    """Does nbclient's "python3" kernel run the same Python as the tests (the project's venv)?"""
    probe = REPO / "course" / "00_neurons_and_backprop.ipynb"
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("import sys; print(sys.prefix)")]
    )
    NotebookClient(
        nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    assert probe.exists()
    assert stdout_of(nb.cells[0]) == sys.prefix


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_fast_mode(path, tmp_path):
    """Does the notebook run top to bottom in fast mode with no error, writing nothing into the repository?"""

    def files() -> set[pathlib.Path]:
        """The repository's top level and the folders a notebook could write to (not .venv: slow)."""
        found = set(REPO.iterdir())
        for folder in ("course", "cnn_course", "solutions", "assignments"):
            found |= {p for p in (REPO / folder).rglob("*") if "__pycache__" not in p.parts}
        return found

    before = files()
    nb = _run(path, tmp_path, source="from cnn_course import fast_mode\nprint('FAST', fast_mode())")
    assert stdout_of(nb.cells[-1]) == "FAST True"
    written = {"course", "cnn_course"}  # other tests write elsewhere, at the same time
    new = {p for p in files() - before if written & set(p.parts)}
    assert not new, f"{path.name} wrote {sorted(map(str, new))}"


SOLUTIONS = sorted((REPO / "solutions").glob("*/*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_solution_runs_in_fast_mode(path, tmp_path):
    """Does each solution notebook run top to bottom in fast mode with no error, as a student
    who solved it runs it: demo cells and visible tests, the hidden tests removed as the
    release removes them? Grading skips the demos, so only this run covers them; the hidden
    tests on the solution are the nbgrader and fast-harness runs of the grading tests."""
    nb = _run(
        path,
        tmp_path,
        source="from cnn_course import grading_mode\nprint('GRADING', grading_mode())",
        hidden=False,
    )
    assert stdout_of(nb.cells[-1]) == "GRADING False"
    graded = [
        c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
    ]
    assert graded and all(c.execution_count for c in graded)  # every visible test ran and passed
    assert not any("BEGIN HIDDEN TESTS" in c.source for c in nb.cells)


def test_hidden_tests_are_removed_as_nbgrader_removes_them():
    """Does the solution run's removal of hidden tests leave each test cell exactly as the
    committed release has it (the release is nbgrader's own, checked fresh by the grading
    tests)?"""
    import nbformat

    for path in SOLUTIONS:
        release = REPO / "assignments" / path.parent.name / path.name
        released = {
            c.metadata["nbgrader"]["grade_id"]: c.source
            for c in nbformat.read(release, as_version=4).cells
            if c.metadata.get("nbgrader", {}).get("grade")
        }
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution"):
                got = HIDDEN_TESTS.sub("", cell.source)
                assert got.strip() == released[meta["grade_id"]].strip(), (
                    path.name,
                    meta["grade_id"],
                )
