"""Reading submissions: notebooks to plain Python cells, and finding students."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path


class NotebookError(Exception):
    """A submission that cannot be read as a notebook; the message is for the student."""


@dataclass(frozen=True)
class CodeCell:
    index: int  # 1-based position among all the notebook's cells, as Jupyter counts them
    source: str  # plain Python after IPython's transformer


def first_line(source: str, limit: int = 60) -> str:
    """The first non-blank line of a cell, shortened: how a student finds the cell again."""
    line = next((s.strip() for s in source.splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def cell_titles(path: Path) -> dict[int, str]:
    """``{position: first line}`` of the notebook's code cells (1-based among all cells);
    ``{}`` when the file is not a readable notebook."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return {}
    titles = {}
    for position, cell in enumerate(cells if isinstance(cells, list) else [], start=1):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            source = "".join(map(str, source)) if isinstance(source, list) else str(source)
            titles[position] = first_line(source)
    return titles


def read_cells(path: Path) -> list[CodeCell]:
    """The notebook's code cells as Python, magics and ``!cmd`` turned into calls.

    Raises :class:`NotebookError` with one clear line when the file is not a
    notebook. A cell that is not valid Python stays as it is: running it
    records the ``SyntaxError`` like any other failing cell.
    """
    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NotebookError("the submitted file is not text (not a Jupyter notebook)") from None
    except OSError as exc:
        raise NotebookError(f"the submitted file cannot be read ({exc.strerror})") from None
    try:
        json.loads(raw)
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"the submitted file is not a valid notebook: JSON error at line {exc.lineno}, column {exc.colno}"
        ) from None
    try:
        nb = nbformat.reads(raw, as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds
        raise NotebookError(
            f"the submitted file is JSON but not a Jupyter notebook ({type(exc).__name__})"
        ) from None
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise NotebookError("the submitted notebook has no list of cells")
    transformer = TransformerManager()
    out: list[CodeCell] = []
    for position, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(s) for s in source)
        if not isinstance(source, str):
            continue
        try:
            python = transformer.transform_cell(source)
            ast.parse(python)
        except Exception:  # noqa: BLE001 - leave it: executing it reports the SyntaxError
            python = source
        out.append(CodeCell(position, python))
    return out


# Names the grader writes into --out itself: a student folder may never take them.
RESERVED = {
    "grades.csv",
    "grading.json",
    "gradebook.json",
    "history.jsonl",
    "submissions.csv",
    "report.html",
    "canvas.csv",
    "moodle.csv",
}


def safe_student_id(name: str) -> str:
    """A student id that is one plain folder name inside ``--out``: letters, digits and
    ``._-@+`` only, no leading dot (no ``..``, no hidden files), never a grader file's name."""
    cleaned = "".join(ch if ch.isalnum() or ch in "._-@+" else "_" for ch in name).lstrip(".")
    cleaned = cleaned[:100] or "student"
    return cleaned + "_" if cleaned.lower() in RESERVED else cleaned
