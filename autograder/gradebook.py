"""The class's gradebook in ``--out``: kept across runs, written as each submission finishes.

Files (all rewritten atomically, so an interrupt never leaves half a file):

- ``grades.csv``: the whole class, ``student,score,max_score`` then one column per check
  (then ``name,email`` when a roster or the download gave names);
- ``submissions.csv``: per student, where the graded file came from, its status, the
  Canvas ``late`` flag and resubmission number, the LMS id, the content hash and when;
- ``gradebook.json``: the same rows as data, read back by the next run;
- ``canvas.csv`` and ``moodle.csv``: the scores as those LMSs import them
  (:mod:`autograder.exports`);
- ``history.jsonl``: one line per grading ever done (content hash, time, grader version,
  scores, the previous score), so a regrade that changed a score can be seen.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from autograder.core import Assignment
from autograder.exports import canvas_csv, moodle_csv
from autograder.notebook import cell_titles
from autograder.report import StudentReport, write_student
from autograder.submissions import Entry

BOOK = "gradebook.json"
HISTORY = "history.jsonl"
META_COLUMNS = (
    "student",
    "name",
    "email",
    "status",
    "late",
    "attempt",
    "lms_id",
    "layout",
    "source",
    "sha256",
    "graded_at",
    "grader",
)


def file_hash(path: Path) -> str:
    """The sha256 of a file's bytes ('' when it cannot be read)."""
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError:
        return ""
    return h.hexdigest()


def grader_version(aid: str) -> str:
    """The package version and a hash of the assignment's checks: a change of either is a
    different grader."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        pkg = version("cnn-course")
    except PackageNotFoundError:
        pkg = "0"
    checks = Path(__file__).resolve().parent / "checks" / f"{aid}.py"
    return f"{pkg}+checks.{file_hash(checks)[:12]}"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class Change:
    """A student whose score changed on regrading."""

    student: str
    before: float
    after: float


@dataclass
class Gradebook:
    """The rows of ``--out``, student -> row; see the module's docstring for the files."""

    out: Path
    assignment: Assignment
    version: str
    rows: dict[str, dict] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    _lock: io.IOBase | None = None

    @classmethod
    def open(cls, out: Path, assignment: Assignment) -> Gradebook:
        """The gradebook in ``out`` (created when new; imported from an older grades.csv).

        Holds a lock on ``out`` until :meth:`close`: two graders never write one gradebook."""
        out.mkdir(parents=True, exist_ok=True)
        book = cls(out, assignment, grader_version(assignment.aid))
        book._lock = open(out / ".autograder.lock", "w")  # noqa: SIM115
        try:
            fcntl.flock(book._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            book._lock.close()
            raise ValueError(f"another `autograder grade` is writing to {out}") from None
        path = out / BOOK
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("assignment") != assignment.aid:
                book.close()
                raise ValueError(
                    f"{out} holds grades of {data.get('assignment')!r}, not {assignment.aid!r}: "
                    "choose another --out"
                )
            book.rows = data.get("students", {})
        elif (out / "grades.csv").is_file():
            book.rows = _import_grades_csv(out / "grades.csv", assignment)
        return book

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def has(self, student: str, sha256: str) -> bool:
        """Is this exact notebook (same content hash) already graded for this student?

        A notebook the sandbox lost (status ``crashed``) counts as not graded."""
        row = self.rows.get(student)
        if not row or not sha256 or row.get("status") == "crashed":
            return False
        return row.get("sha256") == sha256

    def record(self, entry: Entry, report: StudentReport, sha256: str) -> None:
        """Save one graded submission: its row, its feedback, a history line; at once."""
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        checks = {r.name: r.points for r in report.results}
        old = self.rows.get(entry.student)
        row = {
            "score": report.score,
            "max_score": report.max_score,
            "checks": checks,
            "status": report.status,
            "name": entry.name,
            "email": entry.email,
            "late": entry.late,
            "attempt": entry.attempt,
            "lms_id": entry.lms_id,
            "layout": entry.layout,
            "source": entry.source,
            "sha256": sha256,
            "graded_at": now,
            "grader": self.version,
        }
        if old is not None and float(old.get("score", 0.0)) != report.score:
            self.changes.append(Change(entry.student, float(old["score"]), report.score))
        self.rows[entry.student] = row
        report.notebook, report.graded_at, report.grader = entry.path.name, now, self.version
        report.cells = report.cells or cell_titles(entry.path)
        write_student(self.out, self.assignment, report)
        history = {"student": entry.student, **{k: row[k] for k in row if k != "checks"}}
        history["checks"] = checks
        history["previous_score"] = None if old is None else old.get("score")
        with (self.out / HISTORY).open("a", encoding="utf-8") as f:
            f.write(json.dumps(history) + "\n")
        self.save()

    def save(self) -> None:
        """Rewrite grades.csv, submissions.csv, the LMS exports and gradebook.json."""
        _write_atomic(
            self.out / BOOK,
            json.dumps({"assignment": self.assignment.aid, "students": self.rows}, indent=1),
        )
        _write_atomic(self.out / "grades.csv", self.grades_csv())
        _write_atomic(self.out / "submissions.csv", self._meta_csv())
        _write_atomic(self.out / "canvas.csv", canvas_csv(self.assignment, self.rows))
        _write_atomic(self.out / "moodle.csv", moodle_csv(self.assignment, self.rows))

    def grades_csv(self) -> str:
        names = [c.name for c in self.assignment.checks]
        named = any(r.get("name") or r.get("email") for r in self.rows.values())
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(["student", "score", "max_score", *names, *(["name", "email"] if named else [])])
        for student in sorted(self.rows):
            r = self.rows[student]
            by_name = r.get("checks", {})
            w.writerow(
                [
                    student,
                    _fmt(r["score"]),
                    _fmt(r["max_score"]),
                    *(_fmt(by_name.get(n, 0.0)) for n in names),
                    *([r.get("name", ""), r.get("email", "")] if named else []),
                ]
            )
        return buf.getvalue()

    def _meta_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(META_COLUMNS)
        for student in sorted(self.rows):
            r = self.rows[student]
            w.writerow([student, *(_cell(r.get(k, "")) for k in META_COLUMNS[1:])])
        return buf.getvalue()


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else ""
    return str(value)


def _fmt(x: float) -> str:
    return f"{float(x):g}"


def _import_grades_csv(path: Path, assignment: Assignment) -> dict[str, dict]:
    """Rows of a grades.csv written before the gradebook existed: scores only, no hash."""
    names = {c.name for c in assignment.checks}
    rows: dict[str, dict] = {}
    try:
        with path.open(newline="", encoding="utf-8") as f:
            for rec in csv.DictReader(f):
                rows[rec["student"]] = {
                    "score": float(rec["score"]),
                    "max_score": float(rec["max_score"]),
                    "checks": {k: float(v) for k, v in rec.items() if k in names and v},
                    "status": "",
                    "name": rec.get("name", ""),
                    "email": rec.get("email", ""),
                }
    except (OSError, KeyError, ValueError, TypeError):
        return {}
    return rows
