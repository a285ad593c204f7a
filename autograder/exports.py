"""Grades as the LMSs import them: ``canvas.csv`` and ``moodle.csv`` next to ``grades.csv``.

- **Canvas** (Grades > Import): the gradebook export's columns ``Student, ID, SIS User ID,
  SIS Login ID, Section``, then one column per assignment, and a ``Points Possible`` row.
  Canvas matches a row by ``ID`` (its user id, the number in a Canvas download's file names)
  or by ``SIS Login ID`` (here the student id when the download gave no Canvas id). A column
  that matches no assignment becomes a new one, so ``a1_convolution`` works as it is.
- **Moodle** (Assignment > View all submissions > Upload grading worksheet): the offline
  grading worksheet's columns; ``Identifier`` is ``Participant N``, ``N`` being the number in
  a Moodle download's folder names (``Full Name_N_assignsubmission_file_``).
"""

from __future__ import annotations

import csv
import io

from autograder.core import Assignment

CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_COLUMNS = [
    "Identifier",
    "Full name",
    "Email address",
    "Status",
    "Grade",
    "Maximum Grade",
    "Grade can be changed",
    "Last modified (submission)",
    "Last modified (grade)",
    "Feedback comments",
]


def _fmt(x: object) -> str:
    return f"{float(x):g}"


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        w.writerow([_no_formula(c) for c in row])
    return buf.getvalue()


def _no_formula(cell: str) -> str:
    """A cell a spreadsheet will not run as a formula (names come from students' files)."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@") and not _number(cell) else cell


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def canvas_csv(assignment: Assignment, rows: dict[str, dict]) -> str:
    """Canvas's gradebook import: one row per student with a score for the assignment."""
    out = [[*CANVAS_COLUMNS, assignment.aid]]
    out.append(["Points Possible", "", "", "", "", _fmt(assignment.max_score)])
    for student in sorted(rows):
        r = rows[student]
        canvas_id = r.get("lms_id", "") if r.get("layout") == "canvas" else ""
        name = r.get("name") or student
        out.append([name, canvas_id, "", "" if canvas_id else student, "", _fmt(r["score"])])
    return _csv(out)


def moodle_csv(assignment: Assignment, rows: dict[str, dict]) -> str:
    """Moodle's offline grading worksheet, with the score and a one-line comment."""
    out = [MOODLE_COLUMNS]
    for student in sorted(rows):
        r = rows[student]
        pid = r.get("lms_id", "") if r.get("layout") == "moodle" else ""
        failed = [k for k, v in r.get("checks", {}).items() if float(v) == 0]
        comment = f"{assignment.aid}: {_fmt(r['score'])} / {_fmt(assignment.max_score)}" + (
            f"; no points for {', '.join(failed)}" if failed else ""
        )
        out.append(
            [
                f"Participant {pid}" if pid else "",
                r.get("name") or student,
                r.get("email", ""),
                "Submitted for grading",
                _fmt(r["score"]),
                _fmt(assignment.max_score),
                "Yes",
                "",
                r.get("graded_at", ""),
                comment,
            ]
        )
    return _csv(out)
