"""The class report, ``report.html`` next to ``grades.csv``: what the whole class got wrong.

Built from the gradebook in ``--out`` (every student it holds, not only this run's) and
each student's ``<student>/results.json``: a score histogram, per-check mean and full-marks
rate, the mistakes the checks named ranked by how many students made them, run times and
failure counts (timeouts, memory, broken files, not a notebook). Plots are matplotlib (Agg)
PNGs embedded as base64; every text is HTML-escaped (messages can hold student-chosen text).

Nothing here runs student code, and nothing leaks hidden inputs: the report only counts the
feedback messages students already read, with the case labels and numbers taken out.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from autograder.core import Assignment

REPORT = "report.html"
TOP_MISTAKES = 25  # rows in the ranked table (the plot shows the first 10)

# "`corr2d` failed on case 3 of 7 (x of shape (6, 9), ...): <the mistake>"
_CASE_PREFIX = re.compile(r"^`(?P<fn>[^`]+)` failed on case \d+(?: of \d+)?")
# What compare_array and the harness say when no named mistake matched: listed apart.
_GENERIC = re.compile(
    r"^(?:`[^`]+` )?(?:largest difference |output shape \(.*\), expected \(|"
    r"output contains NaN|raised |expected an? \w+|is not defined|is an? \w+, not a function|"
    r"returned an? \w+; return |returned an array of dtype |returned something NumPy cannot|"
    r"got N, expected N$|the grader could not read )"
)
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?", re.IGNORECASE)


@dataclass
class Mistake:
    """One kind of failure message and the students whose feedback names it."""

    checks: tuple[str, ...]  # the checks whose feedback said it
    text: str  # the mistake as students read it, numbers replaced by N where they differ
    students: int
    share: float  # of the class (0..1)
    named: bool  # a mistake the check names, not only "wrong numbers" or "raised"


def mistake_text(message: str) -> str:
    """The mistake a failure message names, without the function's case and its label.

    ``"`corr2d` failed on case 3 of 7 (x of shape (6, 9)): your output equals ..."``
    becomes ``"your output equals ..."``; a message without a case prefix is kept whole."""
    m = _CASE_PREFIX.match(message)
    if not m:
        return message.strip()
    rest = message[m.end() :]
    i = 0
    if rest.startswith(" ("):  # the case's label, parentheses balanced
        depth = 0
        for i, ch in enumerate(rest):
            depth += ch == "("
            depth -= ch == ")"
            if ch == ")" and depth == 0:
                i += 1
                break
        else:
            return message.strip()
    if rest[i : i + 2] != ": ":
        return message.strip()
    return rest[i + 2 :].strip()


def _key(text: str) -> str:
    """Messages equal up to their numbers are one mistake (shapes, differences, tolerances)."""
    return _NUMBER.sub("N", text)


def rank_mistakes(results: dict[str, dict], class_size: int) -> list[Mistake]:
    """Failure messages grouped by their mistake's text, ranked by the students who made it.

    ``results`` is student -> results.json. Texts equal up to their numbers are one mistake,
    whichever checks said it; a student counts once per mistake. Checks that were not run
    (``was not checked``: a timeout, a broken file) are left to the failure counts. Shares
    are of ``class_size``."""
    who: dict[str, set[str]] = {}
    checks: dict[str, dict[str, None]] = {}  # ordered sets
    texts: dict[str, Counter] = {}
    for student, res in results.items():
        for test in res.get("tests", []):
            if test.get("status") == "passed":
                continue
            message = str(test.get("output", ""))
            if not message or "` was not checked: " in message:
                continue
            text = mistake_text(message)
            key = _key(text)
            who.setdefault(key, set()).add(student)
            checks.setdefault(key, {})[str(test.get("name", "")).split(":", 1)[0]] = None
            texts.setdefault(key, Counter())[text] += 1
    ranked = []
    for key, students in who.items():
        text = next(iter(texts[key])) if len(texts[key]) == 1 else key
        share = len(students) / max(class_size, 1)
        named = not _GENERIC.match(key)
        ranked.append(Mistake(tuple(checks[key]), text, len(students), share, named))
    ranked.sort(key=lambda m: (-m.students, m.checks, m.text))
    return ranked


def check_stats(
    assignment: Assignment, rows: dict[str, dict]
) -> list[tuple[str, float, float, float]]:
    """Per check: ``(name, points, mean points, full-marks rate)`` over the class."""
    stats = []
    n = max(len(rows), 1)
    for c in assignment.checks:
        got = [float(r.get("checks", {}).get(c.name, 0.0)) for r in rows.values()]
        full = sum(g >= c.points for g in got)
        stats.append((c.name, float(c.points), sum(got) / n, full / n))
    return stats


def status_counts(rows: dict[str, dict]) -> Counter:
    """Students per grading status: ok, timeout, memory, broken, not a notebook, ..."""
    return Counter(str(r.get("status") or "unknown") for r in rows.values())


def load_results(out: Path, rows: dict[str, dict]) -> dict[str, dict]:
    """Each student's ``results.json`` in ``out`` (a missing or unreadable one is skipped)."""
    results = {}
    root = out.resolve()
    for student in rows:
        path = out / student / "results.json"
        if (out / student).resolve().parent != root:  # an edited gradebook: stay inside out
            continue
        try:
            results[student] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return results


def _run_times(results: dict[str, dict]) -> list[float]:
    """Seconds per notebook that ran (a file that never ran has none)."""
    times = [float(r.get("execution_time", 0.0) or 0.0) for r in results.values()]
    return [t for t in times if t > 0]


def _bars_height(n: int) -> float:
    """Inches for a horizontal bar chart of ``n`` bars: room for the title and the axis label
    even with one bar (a shorter figure cannot be laid out and clips them)."""
    return max(2.0, 1.0 + 0.32 * n)


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img alt='plot' src='data:image/png;base64,{data}'>"


def _plots(
    assignment: Assignment,
    rows: dict[str, dict],
    results: dict[str, dict],
    stats: list,
    mistakes: list[Mistake],
) -> dict[str, str]:
    """The report's figures as ``<img>`` tags. Labels are our own text (never messages)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figs = {}
    scores = [float(r.get("score", 0.0)) for r in rows.values()]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    top = assignment.max_score
    # one bar per whole point up to 40 points (half points share a bar), else 20 bars
    bins = [k - 0.5 for k in range(int(top) + 2)] if top <= 40 else 20
    ax.hist(scores, bins=bins, color="#3b6ea8", edgecolor="white")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(
        title=f"Scores ({len(scores)} students)", xlabel=f"score out of {top:g}", ylabel="students"
    )
    figs["scores"] = _png(fig)

    fig, ax = plt.subplots(figsize=(7, _bars_height(len(stats))))
    names = [s[0] for s in stats][::-1]
    ax.barh(names, [100 * s[3] for s in stats][::-1], color="#2a9d5c")
    ax.set(title="Full marks per check", xlabel="% of students with full marks", xlim=(0, 100))
    figs["checks"] = _png(fig)

    named = [m for m in mistakes if m.named]
    if named:
        shown = named[:10]
        fig, ax = plt.subplots(figsize=(7, _bars_height(len(shown))))
        labels = [
            f"#{i} {m.checks[0]}{' +' if len(m.checks) > 1 else ''}" for i, m in enumerate(shown, 1)
        ][::-1]
        ax.barh(labels, [100 * m.share for m in shown][::-1], color="#c0392b")
        ax.set(title="Most common mistakes (see the table)", xlabel="% of students")
        figs["mistakes"] = _png(fig)

    seconds = _run_times(results)
    if seconds:
        fig, ax = plt.subplots(figsize=(7, 3.0))
        ax.hist(seconds, bins=20, color="#7a5195", edgecolor="white")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(title="Run time per notebook", xlabel="seconds", ylabel="students")
        figs["seconds"] = _png(fig)
    return figs


_CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}td,th{border-bottom:1px solid #ddd;padding:.35rem;text-align:left;vertical-align:top}
td.n{text-align:right;white-space:nowrap}img{max-width:100%}"""


def _table(head: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    e = html.escape
    out = ["<table><tr>", *(f"<th>{e(h)}</th>" for h in head), "</tr>"]
    for row in rows:
        cells = "".join(
            f"<td class='n'>{e(c)}</td>" if i in numeric else f"<td>{e(c)}</td>"
            for i, c in enumerate(row)
        )
        out.append(f"<tr>{cells}</tr>")
    out.append("</table>")
    return "".join(out)


def _code_spans(text: str) -> str:
    """Escaped text with its `code` spans as <code> (escaped first: nothing else is markup)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _mistake_table(mistakes: list[Mistake]) -> str:
    e = html.escape
    out = ["<table><tr><th>#</th><th>students</th><th>mistake</th><th>checks</th></tr>"]
    for i, m in enumerate(mistakes, 1):
        out.append(
            f"<tr><td class='n'>{i}</td><td class='n'>{100 * m.share:.0f}% ({m.students})</td>"
            f"<td>{_code_spans(m.text)}</td><td>{e(', '.join(m.checks))}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def report_html(assignment: Assignment, rows: dict[str, dict], results: dict[str, dict]) -> str:
    """The class report: ``rows`` are the gradebook's (student -> row), ``results`` each
    student's results.json (student -> dict)."""
    e = html.escape
    n = len(rows)
    stats = check_stats(assignment, rows)
    mistakes = rank_mistakes(results, n)
    statuses = status_counts(rows)
    figs = _plots(assignment, rows, results, stats, mistakes)
    scores = sorted(float(r.get("score", 0.0)) for r in rows.values())
    mean = sum(scores) / n if n else 0.0
    median = scores[n // 2] if n % 2 else (sum(scores[n // 2 - 1 : n // 2 + 1]) / 2 if n else 0.0)
    seconds = sorted(_run_times(results))
    failures = {k: v for k, v in statuses.items() if k != "ok"}

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{e(assignment.aid)}: class report</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(assignment.aid)}: class report</h1>",
        f"<p>{n} student(s) in the gradebook &middot; mean <b>{mean:.2f}</b> &middot; median "
        f"<b>{median:g}</b> out of {assignment.max_score:g} &middot; "
        f"{sum(s >= assignment.max_score for s in scores)} with full marks</p>",
        "<h2>Scores</h2>",
        figs["scores"],
        "<h2>Checks</h2>",
        figs["checks"],
        _table(
            ["check", "points", "mean", "full marks"],
            [[c, f"{p:g}", f"{m:.2f}", f"{100 * r:.0f}%"] for c, p, m, r in stats],
            {1, 2, 3},
        ),
        "<h2>Mistakes the class made</h2>",
        "<p>The mistakes the checks named in the feedback students read, grouped by their text "
        "(case details left out; N where the numbers differ between students), ranked by the "
        "students who made each; a student counts once per mistake, whichever checks said it."
        "</p>",
    ]
    named = [m for m in mistakes if m.named][:TOP_MISTAKES]
    other = [m for m in mistakes if not m.named][:TOP_MISTAKES]
    if named:
        parts += [figs["mistakes"], _mistake_table(named)]
    else:
        parts.append("<p>No named mistakes.</p>")
    parts.append("<h2>Other failures</h2>")
    parts.append(
        "<p>Wrong values, wrong shapes and errors raised that match no named mistake.</p>"
        + (_mistake_table(other) if other else "<p>None.</p>")
    )
    parts.append("<h2>Running and failures</h2>")
    if seconds:
        parts.append(figs["seconds"])
        parts.append(
            f"<p>Run time per notebook: median {seconds[len(seconds) // 2]:.1f} s, "
            f"longest {seconds[-1]:.1f} s.</p>"
        )
    parts.append(
        _table(
            ["status", "students"],
            [[k, str(v)] for k, v in sorted(statuses.items(), key=lambda kv: (-kv[1], kv[0]))],
            {1},
        )
    )
    if failures:
        parts.append(
            "<p>Not graded normally: "
            + e(", ".join(f"{v} {k}" for k, v in sorted(failures.items())))
            + ".</p>"
        )
    parts.append("</body></html>\n")
    return "".join(parts)


def write_report(out: Path, assignment: Assignment) -> Path:
    """Write ``out/report.html`` from the gradebook in ``out`` (the whole class)."""
    data = json.loads((out / "gradebook.json").read_text(encoding="utf-8"))
    rows = data.get("students", {})
    text = report_html(assignment, rows, load_results(out, rows))
    path = out / REPORT
    tmp = path.with_name(f".{REPORT}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
