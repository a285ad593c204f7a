"""A student's self-check: the visible tests of a released notebook, run again in one go.

The last cell of an assignment calls ``self_check("a1_convolution.ipynb")``. It reads the
notebook file, runs every graded cell's visible tests against the student's current
functions and prints a points-style summary per section. It never runs hidden checks: a
released notebook holds none, and the block between ``### BEGIN HIDDEN TESTS`` and
``### END HIDDEN TESTS`` of a source notebook is left out. While a grader runs the notebook
it does nothing, so grading is no slower.
"""

from __future__ import annotations

import io
import json
import os
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from cnn_course import grading_mode

__all__ = ["VisibleTest", "find_notebook", "format_summary", "run_visible_tests", "self_check"]

ONLY_VISIBLE = (
    "visible tests only: the grader runs more checks (hidden tests), "
    "so passing all of these does not guarantee full marks"
)


@dataclass
class VisibleTest:
    """One graded cell's visible tests and how they went."""

    section: str  # the heading above the cell, e.g. "## 1. Output size (2 points)"
    name: str  # the cell's nbgrader grade_id (the check's name)
    points: float
    cell: int  # 1-based position among all cells, as Jupyter shows them
    passed: bool = False
    error: str = ""  # the first line of what went wrong


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _visible_part(source: str) -> str:
    """The cell without its hidden-test block (a source notebook has one; a release none)."""
    lines, hidden = [], False
    for line in source.splitlines():
        if "### BEGIN HIDDEN TESTS" in line:
            hidden = True
        elif "### END HIDDEN TESTS" in line:
            hidden = False
        elif not hidden:
            lines.append(line)
    return "\n".join(lines)


def _first_error_line(exc: BaseException, filename: str, source: str) -> str:
    """``AssertionError: message``, or the failing assert's line when it has no message."""
    text = str(exc).strip().splitlines()
    what = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    if text:
        return what[:300]
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    if frames and frames[-1].lineno:
        line = source.splitlines()[frames[-1].lineno - 1].strip()
        what += f" at `{line[:200]}`"
    return what


def find_notebook(notebook: str | os.PathLike | None = None) -> Path | None:
    """The notebook file to read: ``notebook`` if it exists, else the one JupyterLab says is
    open (``JPY_SESSION_NAME``), else the only ``.ipynb`` in the current folder."""
    if notebook is not None and Path(notebook).is_file():
        return Path(notebook)
    session = os.environ.get("JPY_SESSION_NAME", "")
    if session.endswith(".ipynb") and Path(session).is_file():
        return Path(session)
    found = sorted(Path.cwd().glob("*.ipynb"))
    return found[0] if len(found) == 1 else None


def run_visible_tests(notebook: str | os.PathLike, namespace: dict) -> list[VisibleTest]:
    """Run the visible tests of every graded cell of ``notebook`` against ``namespace``.

    Each test runs in a copy of the namespace (its variables do not leak into the
    student's), with its printed output swallowed; an exception fails that test only."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    results: list[VisibleTest] = []
    section = ""
    for position, cell in enumerate(nb.get("cells", []), start=1):
        source = _source(cell)
        if cell.get("cell_type") == "markdown" and source.lstrip().startswith("#"):
            section = source.strip().splitlines()[0]
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") != "code" or not meta.get("grade"):
            continue
        test = VisibleTest(
            section,
            str(meta.get("grade_id", f"cell {position}")),
            float(meta.get("points", 0)),
            position,
        )
        code = _visible_part(source)
        filename = f"<visible tests of {test.name}>"
        try:
            with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
                exec(compile(code, filename, "exec"), dict(namespace))  # noqa: S102 - the student's own code
            test.passed = True
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a failing test, sys.exit included
            test.error = _first_error_line(exc, filename, code)
        results.append(test)
    return results


def _fmt(x: float) -> str:
    return f"{x:g}"


def format_summary(results: list[VisibleTest], notebook: str = "") -> str:
    """Per section, each graded cell passed or failed (with its first error line), then the total."""
    if not results:
        return f"self-check: no graded cells found in {notebook or 'the notebook'}"
    lines = [f"self-check of {notebook}:" if notebook else "self-check:"]
    section = None
    for t in results:
        if t.section != section:
            section = t.section
            group = [u for u in results if u.section == section]
            got = sum(u.points for u in group if u.passed)
            title = section.lstrip("# ") or "(no section)"
            lines.append(f"{title}: {_fmt(got)} / {_fmt(sum(u.points for u in group))}")
        mark = "passed" if t.passed else "FAILED"
        line = f"  {mark}  {t.name} ({_fmt(t.points)} pt, cell {t.cell})"
        lines.append(line + (f": {t.error}" if t.error else ""))
    passed = [t for t in results if t.passed]
    got, total = sum(t.points for t in passed), sum(t.points for t in results)
    lines.append(
        f"visible tests passed in {len(passed)} of {len(results)} graded cells, "
        f"worth {_fmt(got)} of {_fmt(total)} points"
    )
    lines.append(ONLY_VISIBLE)
    return "\n".join(lines)


def self_check(notebook: str | os.PathLike | None = None, namespace: dict | None = None) -> None:
    """Print the visible tests' summary for ``notebook`` (see :func:`find_notebook`), run
    against ``namespace`` (default: the caller's globals, the notebook's namespace).

    Does nothing while the notebook is graded (the grader runs the real checks)."""
    if grading_mode() or os.environ.get("NBGRADER_EXECUTION"):
        print("self-check: skipped while the notebook is graded or validated")
        return
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    path = find_notebook(notebook)
    if path is None:
        print(
            f"self-check: cannot find {notebook or 'the notebook'} in {Path.cwd()}: "
            "save the notebook and pass its path, e.g. self_check('a1_convolution.ipynb')"
        )
        return
    print(format_summary(run_visible_tests(path, namespace), path.name))
