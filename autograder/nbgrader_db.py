"""Write ``autograder grade``'s scores into nbgrader's ``gradebook.db`` (``--nbgrader-db``).

Through nbgrader's own API (:class:`nbgrader.api.Gradebook`), so formgrader and
``nbgrader export`` see them. A check's name is the ``grade_id`` of its test cell in
``solutions/<aid>/<aid>.ipynb``, so the grade cells that ``nbgrader generate_assignment``
put in the database are the ones filled in; a database without them gets them, with the
checks' points. Only the autograded score of those cells is written: manual grades,
comments and other cells stay as the instructor left them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from autograder.core import Assignment


def write_back(db: Path, assignment: Assignment, rows: dict[str, dict]) -> int:
    """Store each student's check points as nbgrader auto scores; returns students written."""
    from nbgrader.api import Gradebook, MissingEntry

    # A new database is created by nbgrader with the `alembic` command: the venv's, found on
    # PATH even when the venv is not activated.
    path = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{path}"
    try:
        return _write(Gradebook, MissingEntry, db, assignment, rows)
    finally:
        os.environ["PATH"] = path


def write_back_or_explain(
    db: Path, assignment: Assignment, rows: dict[str, dict], saved: str
) -> int:
    """:func:`write_back`, its failure one ValueError line: ``saved`` (where the grades are
    safe, e.g. "grades saved in out/grades.csv"), then why ``db`` was not written."""
    try:
        return write_back(db, assignment, rows)
    except Exception as exc:  # noqa: BLE001 - the grades are saved; say why the db is not
        raise ValueError(f"{saved}, but not written to {db}: {type(exc).__name__}: {exc}") from None


def _write(Gradebook, MissingEntry, db: Path, assignment: Assignment, rows: dict[str, dict]) -> int:  # noqa: N803
    aid = assignment.aid
    with Gradebook(f"sqlite:///{db.resolve()}") as gb:
        try:
            found = gb.find_assignment(aid)
        except MissingEntry:
            found = gb.add_assignment(aid)
        notebooks = [nb.name for nb in found.notebooks]
        notebook = aid if aid in notebooks or not notebooks else notebooks[0]
        if notebook not in notebooks:
            gb.add_notebook(notebook, aid)
        for check in assignment.checks:
            try:
                gb.find_grade_cell(check.name, notebook, aid)
            except MissingEntry:
                gb.add_grade_cell(
                    check.name, notebook, aid, max_score=check.points, cell_type="code"
                )
        for student, row in sorted(rows.items()):
            try:
                gb.find_student(student)
            except MissingEntry:
                gb.add_student(student, email=row.get("email") or None)
            try:
                gb.find_submission(aid, student)
            except MissingEntry:
                gb.add_submission(aid, student)
            for check in assignment.checks:
                grade = gb.find_grade(check.name, notebook, aid, student)
                grade.auto_score = float(row.get("checks", {}).get(check.name, 0.0))
        gb.db.commit()
    return len(rows)
