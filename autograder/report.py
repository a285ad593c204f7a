"""Grades and feedback: grades.csv, Gradescope results.json, feedback.html, terminal summary."""

from __future__ import annotations

import csv
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

from autograder.core import Assignment, Result


@dataclass
class StudentReport:
    """Everything one student gets back."""

    student: str
    results: list[Result]
    status: str = "ok"
    problems: list[str] = field(default_factory=list)  # one clear line each
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return float(sum(r.points for r in self.results))

    @property
    def max_score(self) -> float:
        return float(sum(r.max_points for r in self.results))


def _fmt(x: float) -> str:
    return f"{x:g}"


def write_grades_csv(path: Path, assignment: Assignment, reports: list[StudentReport]) -> None:
    names = [c.name for c in assignment.checks]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "score", "max_score", *names])
        for r in sorted(reports, key=lambda r: r.student):
            by_name = {res.name: res.points for res in r.results}
            w.writerow(
                [
                    r.student,
                    _fmt(r.score),
                    _fmt(r.max_score),
                    *(_fmt(by_name.get(n, 0.0)) for n in names),
                ]
            )


def results_json(assignment: Assignment, report: StudentReport) -> dict:
    """Gradescope's autograder ``results.json``."""
    descriptions = {c.name: c.description for c in assignment.checks}
    general = "\n".join(report.problems)
    return {
        "score": report.score,
        "execution_time": round(report.seconds, 3),
        "output": general or f"{assignment.aid}: {_fmt(report.score)} / {_fmt(report.max_score)}",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": f"{res.name}: {descriptions.get(res.name, '')}".rstrip(": "),
                "score": res.points,
                "max_score": res.max_points,
                "status": "passed" if res.passed else "failed",
                "output": res.message,
                "visibility": "visible",
            }
            for res in report.results
        ],
    }


_CSS = """body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}
.pass{color:#176d2c}.fail{color:#a4161a}.note{background:#fff4e5;padding:.5rem .8rem;border-left:4px solid #f0a202;margin:.3rem 0}"""


def feedback_html(assignment: Assignment, report: StudentReport) -> str:
    """What a student reads: per check, points and one line on what went wrong."""
    e = html.escape
    descriptions = {c.name: c.description for c in assignment.checks}
    rows = []
    for res in report.results:
        cls = "pass" if res.passed else "fail"
        rows.append(
            f"<tr><td><b>{e(res.name)}</b><br><small>{e(descriptions.get(res.name, ''))}</small></td>"
            f"<td class='{cls}'>{_fmt(res.points)} / {_fmt(res.max_points)}</td><td>{e(res.message)}</td></tr>"
        )
    notes = "".join(f"<div class='note'>{e(p)}</div>" for p in report.problems)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{e(assignment.aid)}: feedback for {e(report.student)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{e(assignment.aid)}</h1><p>Student: <b>{e(report.student)}</b> &middot; score "
        f"<b>{_fmt(report.score)} / {_fmt(report.max_score)}</b></p>{notes}"
        "<table><tr><th>check</th><th>points</th><th>feedback</th></tr>"
        + "".join(rows)
        + "</table></body></html>\n"
    )


def write_student(out: Path, assignment: Assignment, report: StudentReport) -> None:
    folder = out / report.student
    if folder.resolve().parent != out.resolve():  # ids are made safe when found; never trust that
        raise ValueError(f"student id {report.student!r} is not a plain folder name")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results_json(assignment, report), indent=2))
    (folder / "feedback.html").write_text(feedback_html(assignment, report))


def summary_table(assignment: Assignment, reports: list[StudentReport]) -> str:
    """A plain-text table for the terminal."""
    rows = [("student", "score", "status", "seconds", "first problem")]
    for r in sorted(reports, key=lambda r: r.student):
        first = (
            r.problems[0]
            if r.problems
            else next((x.message for x in r.results if not x.passed), "")
        )
        rows.append(
            (
                r.student,
                f"{_fmt(r.score)}/{_fmt(r.max_score)}",
                r.status,
                f"{r.seconds:.2f}",
                first[:70],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for j, row in enumerate(rows):
        lines.append(
            "  ".join(
                cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(row)
            ).rstrip()
        )
        if j == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 13)
    scores = [r.score for r in reports]
    if scores:
        lines.append(
            f"{len(reports)} graded, mean {sum(scores) / len(scores):.2f} / {_fmt(assignment.max_score)}"
        )
    return "\n".join(lines)
