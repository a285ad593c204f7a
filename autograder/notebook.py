"""Reading submissions: notebooks to plain Python cells, and finding students."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path


class NotebookError(Exception):
    """A submission that cannot be read as a notebook; the message is for the student."""


@dataclass(frozen=True)
class Submission:
    student: str
    path: Path


@dataclass(frozen=True)
class CodeCell:
    index: int  # 1-based position among the notebook's code cells
    source: str  # plain Python after IPython's transformer


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
    for cell in cells:
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
        out.append(CodeCell(len(out) + 1, python))
    return out


def find_submissions(aid: str, paths: list[Path]) -> list[Submission]:
    """Notebooks to grade, with student ids.

    ``path`` may be a notebook (id: file stem), a folder in nbgrader's
    ``submitted/<student>/<aid>/`` layout (id: ``<student>``), a single
    ``<student>/<aid>/`` folder, or a folder of notebooks (ids: file stems).
    ``autograder grade`` finds submissions with :func:`autograder.submissions.collect`,
    which keeps these rules and adds Canvas, Moodle and zip downloads.
    """
    found: list[Submission] = []
    for path in paths:
        if path.is_file():
            found.append(Submission(path.stem, path))
            continue
        if not path.is_dir():
            raise FileNotFoundError(f"no such file or folder: {path}")
        if (path / aid).is_dir():  # submitted/<student> itself
            found.append(Submission(path.name, _pick_notebook(path / aid, aid)))
            continue
        student_dirs = sorted(d for d in path.iterdir() if d.is_dir() and (d / aid).is_dir())
        if student_dirs:
            found.extend(Submission(d.name, _pick_notebook(d / aid, aid)) for d in student_dirs)
            continue
        if path.name == aid and path.parent.name:  # submitted/<student>/<aid>
            found.append(Submission(path.parent.name, _pick_notebook(path, aid)))
            continue
        found.extend(Submission(nb.stem, nb) for nb in sorted(path.glob("*.ipynb")))
    found = [Submission(safe_student_id(sub.student), sub.path) for sub in found]
    seen: dict[str, int] = {}
    unique = []
    for sub in found:
        n = seen.get(sub.student, 0)
        seen[sub.student] = n + 1
        unique.append(sub if n == 0 else Submission(f"{sub.student}-{n + 1}", sub.path))
    return unique


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


def _pick_notebook(folder: Path, aid: str) -> Path:
    preferred = folder / f"{aid}.ipynb"
    if preferred.exists():
        return preferred
    notebooks = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    return notebooks[0] if notebooks else preferred  # a missing file is reported per student
