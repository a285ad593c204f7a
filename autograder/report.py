"""Grades and feedback: grades.csv, Gradescope results.json, feedback.html, terminal summary."""

from __future__ import annotations

import csv
import html
import json
import re
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
    notebook: str = ""  # the graded file, as found in the submissions
    graded_at: str = ""  # ISO time, UTC
    grader: str = ""  # grader version (package + checks hash)
    cells: dict[int, str] = field(default_factory=dict)  # code cell position -> first line

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


_CELL = re.compile(r"\b(cells?) (\d+)\b")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
UNTOUCHED = "NotImplementedError"


def name_cells(text: str, cells: dict[int, str]) -> str:
    """``cell 7`` -> ``cell 7 (`def corr2d(x, w):`)``: the position Jupyter shows and the
    cell's first line, so a student finds it (backticks in that line become quotes)."""

    def named(m: re.Match) -> str:
        title = cells.get(int(m.group(2)))
        if not title:
            return m.group(0)
        return f"{m.group(0)} (`{title.replace('`', chr(39))}`)"

    return _CELL.sub(named, text) if cells else text


def render(text: str) -> str:
    """A message as HTML: escaped first (student text stays text), then `code` spans."""
    return _CODE_SPAN.sub(r"<code>\1</code>", html.escape(text))


def headline(report: StudentReport) -> str | None:
    """One line instead of one row per check, when no check could say anything of its own:
    the notebook could not run, or every function is still the released stub; else None."""
    results = report.results
    if not results or any(r.points > 0 for r in results):
        return None
    if all(r.status == "error" and " was not checked: " in r.message for r in results):
        why = report.problems[0] if report.problems else results[0].message.split(": ", 1)[1]
        why = why.rstrip(". ")
        if "nothing could be graded" in why.lower():  # the problem says so itself
            return f"{why[:1].upper()}{why[1:]}. All {len(results)} checks: 0 points."
        return f"Nothing could be graded: {why}. All {len(results)} checks: 0 points."
    if all(UNTOUCHED in r.message for r in results):
        return (
            "Nothing is implemented yet: every function still raises `NotImplementedError`, as in "
            "the released notebook. Replace each `raise NotImplementedError()` with your code; "
            f"all {len(results)} checks: 0 points."
        )
    return None


def results_json(assignment: Assignment, report: StudentReport) -> dict:
    """Gradescope's autograder ``results.json``."""
    descriptions = {c.name: c.description for c in assignment.checks}
    general = name_cells("\n".join(report.problems), report.cells)
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
                "output": name_cells(res.message, report.cells),
                "visibility": "visible",
            }
            for res in report.results
        ],
    }


_CSS = """body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}
code{background:#f3f3f3;padding:0 .2rem;border-radius:3px}.meta{color:#555;font-size:.9rem}
.pass{color:#176d2c}.fail{color:#a4161a}.note{background:#fff4e5;padding:.5rem .8rem;border-left:4px solid #f0a202;margin:.3rem 0}"""


def _when(iso: str) -> str:
    """``2026-11-23T17:30:05+00:00`` -> ``2026-11-23 17:30 UTC``."""
    return f"{iso[:10]} {iso[11:16]} UTC" if len(iso) >= 16 and iso[10] == "T" else iso


def feedback_html(assignment: Assignment, report: StudentReport) -> str:
    """What a student reads: which notebook was graded and when, then per check the points
    and one line on what went wrong (or one line for the whole notebook, see :func:`headline`)."""
    e = html.escape
    descriptions = {c.name: c.description for c in assignment.checks}
    meta = [f"notebook <code>{e(report.notebook)}</code>"] if report.notebook else []
    meta += [f"graded {e(_when(report.graded_at))}"] if report.graded_at else []
    meta += [f"grader {e(report.grader)}"] if report.grader else []
    problems = [render(name_cells(p, report.cells)) for p in report.problems]
    one_line = headline(report)
    if one_line is not None:
        body = f"<p class='note fail'>{render(one_line)}</p>"
        if len(problems) > 1 or (problems and not one_line.startswith("Nothing")):
            items = "".join(f"<li>{p}</li>" for p in problems)
            body += f"<details><summary>what the grader saw ({len(problems)})</summary><ul>{items}</ul></details>"
    else:
        rows = []
        for res in report.results:
            cls = "pass" if res.passed else "fail"
            rows.append(
                f"<tr><td><b>{e(res.name)}</b><br><small>{render(descriptions.get(res.name, ''))}</small></td>"
                f"<td class='{cls}'>{_fmt(res.points)} / {_fmt(res.max_points)}</td>"
                f"<td>{render(name_cells(res.message, report.cells))}</td></tr>"
            )
        body = "".join(f"<div class='note'>{p}</div>" for p in problems)
        body += (
            "<table><tr><th>check</th><th>points</th><th>feedback</th></tr>"
            + "".join(rows)
            + "</table>"
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{e(assignment.aid)}: feedback for {e(report.student)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{e(assignment.aid)}</h1><p>Student: <b>{e(report.student)}</b> &middot; score "
        f"<b>{_fmt(report.score)} / {_fmt(report.max_score)}</b></p>"
        + (f"<p class='meta'>{' &middot; '.join(meta)}</p>" if meta else "")
        + body
        + "</body></html>\n"
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
