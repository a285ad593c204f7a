"""Grading a class: run every submission sandboxed, verify, and save each result at once."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from autograder.core import Assignment, Result, load_assignment
from autograder.gradebook import Gradebook, file_hash
from autograder.notebook import NotebookError, read_cells
from autograder.report import StudentReport, summary_table
from autograder.sandbox import MAX_NOTE, GiB, Limits, Runner, RunOutcome, cap_text
from autograder.submissions import (
    NOT_NOTEBOOK,
    Entry,
    absent,
    collect,
    load_roster,
    remove_tree,
    with_roster,
)


def grade(
    aid: str,
    paths: list[Path],
    out: Path,
    jobs: int = 1,
    timeout: float | None = None,
    memory_gib: float = 2.0,
    progress: bool = True,
    isolation: str = "auto",
    roster: Path | None = None,
    resume: bool = False,
    nbgrader_db: Path | None = None,
    shard: tuple[int, int] | None = None,
    summary: bool = True,
) -> list[StudentReport]:
    """Grade every submission found under ``paths`` into the gradebook in ``out``.

    Each result is saved as it arrives (grades.csv is rewritten, the student's folder
    written, a line added to history.jsonl), so an interrupt loses only the notebooks in
    flight. Students already in ``out`` keep their rows; with ``resume`` a student whose
    notebook (by content hash) is already graded is not graded again. On Ctrl-C the running
    notebooks are killed, temporary folders removed, one line says what was saved, and
    ``KeyboardInterrupt`` is raised again. With ``nbgrader_db``, the whole class's scores
    are then written into nbgrader's gradebook. With ``shard=(K, N)`` only the students of
    shard K of N are graded (:mod:`autograder.shards`; ``autograder merge`` joins the shards).
    ``progress`` shows the progress bar, ``summary`` the summary table and notes at the end.
    Returns the reports of this run. A shard never writes ``nbgrader_db`` (shards on several
    machines would write one SQLite file at once): ``autograder merge`` does, once.
    """
    if shard is not None and nbgrader_db is not None:
        raise ValueError(
            "--nbgrader-db with --shard: shards on several machines would write one "
            "SQLite file at once; give --nbgrader-db to `autograder merge` instead"
        )
    assignment = load_assignment(aid)
    workdir = Path(tempfile.mkdtemp(prefix="autograder-in-"))  # zips are extracted here
    book: Gradebook | None = None
    reports: list[StudentReport] = []
    total = 0
    try:
        found = collect(aid, paths, workdir, skip=(out,))
        if not found.entries:
            raise ValueError(f"no notebooks found under {', '.join(map(str, paths))}")
        entries = found.entries
        missing: list[str] = []
        if roster is not None:
            names = load_roster(roster)
            entries = [with_roster(e, names) for e in entries]
            missing = absent(found.entries, names)
        if shard is not None:  # after the roster: its "no submission" list is the whole class's
            from autograder.shards import shard_of

            entries = [e for e in entries if shard_of(e.student, shard[1]) == shard[0]]
        limits = Limits(
            timeout=timeout or assignment.default_timeout,
            memory=int(memory_gib * GiB),
            address_space=assignment.address_space_limit,
        )
        book = Gradebook.open(out, assignment)
        hashes = {e.student: file_hash(e.path) for e in entries}
        skipped = [e for e in entries if resume and book.has(e.student, hashes[e.student])]
        todo = [e for e in entries if e not in skipped]
        total = len(todo)
        by_id = {e.student: e for e in todo}

        def save(student: str, outcome: RunOutcome, kept: dict) -> None:
            report = _verify(assignment, student, outcome, kept)
            book.record(by_id[student], report, hashes[student])
            reports.append(report)

        runnable = []
        for entry in todo:
            outcome = _unrunnable(entry)
            if outcome is None:
                try:
                    runnable.append((entry.student, read_cells(entry.path)))
                    continue
                except NotebookError as exc:
                    outcome = RunOutcome(status="broken", problem=str(exc))
            save(entry.student, outcome, {})
        book.save()  # the class's files exist from the start, even with nothing to run

        t0 = time.monotonic()
        runner = None
        bar = _progress(len(todo), progress)
        bar.update(len(todo) - len(runnable))
        try:
            if runnable:
                runner = Runner(assignment, limits, jobs, isolation)
                if progress and not runner.isolation.complete:
                    print(f"autograder: isolation {runner.isolation.summary()}", file=sys.stderr)

                def done(student: str, outcome: RunOutcome) -> None:
                    save(student, outcome, runner.kept)
                    bar.update(1)

                runner.run(runnable, done)
        finally:
            with _no_second_interrupt():
                if runner is not None:
                    runner.close()
                bar.close()
        wall = time.monotonic() - t0
        written = None
        if nbgrader_db is not None:
            from autograder.nbgrader_db import write_back_or_explain

            written = write_back_or_explain(
                nbgrader_db, assignment, book.rows, f"grades saved in {out / 'grades.csv'}"
            )
        isolation_info = runner.isolation if runner is not None else None
        (out / "grading.json").write_text(
            json.dumps(
                {
                    "assignment": aid,
                    "submissions": len(reports),
                    "class": len(book.rows),
                    "resumed_skipped": len(skipped),
                    "roster_without_submission": missing,
                    "ignored": found.ignored,
                    "superseded": [e.source for e in found.superseded],
                    "grader": book.version,
                    "isolation": isolation_info.as_dict() if isolation_info else None,
                    "limits": {"timeout_s": limits.timeout, "memory_gib": memory_gib},
                    "shard": f"{shard[0]}/{shard[1]}" if shard is not None else None,
                },
                indent=2,
            )
        )
        report_line = _class_report(out, assignment)
        if summary:
            if reports:
                print(summary_table(assignment, reports))
            if missing:
                print(f"on the roster, no submission found ({len(missing)}): {'; '.join(missing)}")
            for line in _notes(found, book, skipped, todo):
                print(line)
            print(
                f"graded {len(reports)} submission(s)"
                + (f" of shard {shard[0]}/{shard[1]}" if shard is not None else "")
                + f" in {wall:.1f} s with {jobs} job(s); "
                f"grades: {out / 'grades.csv'} ({len(book.rows)} student(s) in the class)"
            )
            if written is not None:
                print(f"nbgrader: {written} student(s) written to {nbgrader_db}")
            if report_line:
                print(report_line)
            if isolation_info is not None:
                print(f"isolation: {isolation_info.summary()}")
        return reports
    except KeyboardInterrupt:
        saved = len(reports)
        where = out / "grades.csv"
        print(
            f"\nautograder: interrupted: {saved} of {total} submission(s) saved in {where}; "
            f"{total - saved} not graded (run again with --resume to grade only those)",
            file=sys.stderr,
        )
        raise
    finally:
        remove_tree(workdir)
        if book is not None:
            book.close()


def _class_report(out: Path, assignment: Assignment) -> str:
    """Write ``report.html`` for the whole class; a failure is one line, never lost grades."""
    from autograder.classreport import write_report

    try:
        return f"class report: {write_report(out, assignment)}"
    except Exception as exc:  # noqa: BLE001 - grades are saved already; the report is extra
        print(
            f"autograder: warning: report.html not written ({type(exc).__name__}: {exc}); "
            "the grades are saved",
            file=sys.stderr,
        )
        return ""


@contextlib.contextmanager
def _no_second_interrupt():
    """A second Ctrl-C waits until the sandbox is closed (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _unrunnable(entry: Entry) -> RunOutcome | None:
    """The outcome of a submission that cannot run at all, or None."""
    if entry.kind == NOT_NOTEBOOK:
        return RunOutcome(
            status="not a notebook",
            problem=f"the submitted file {entry.source.rsplit('/', 1)[-1]!r} is not a Jupyter "
            f"notebook (.ipynb){': ' + entry.problem if entry.problem else ''}: "
            "nothing could be graded",
        )
    if not entry.path.is_file():
        return RunOutcome(
            status="broken", problem=f"no notebook found ({entry.path.name} is missing)"
        )
    return None


def _notes(found, book: Gradebook, skipped: list[Entry], todo: list[Entry]) -> list[str]:
    """Lines for the terminal: nothing found is left unmentioned."""
    lines = []
    odd = [e for e in todo if e.kind == NOT_NOTEBOOK]
    if odd:
        lines.append(
            f"not a notebook ({len(odd)}, zero rows in grades.csv): "
            + ", ".join(f"{e.student} ({e.path.name})" for e in odd)
        )
    late = [e.student for e in todo if e.late]
    if late:
        lines.append(f"late ({len(late)}): {', '.join(late)}")
    if found.superseded:
        lines.append(
            f"superseded, not graded ({len(found.superseded)}): "
            + ", ".join(e.source for e in found.superseded)
        )
    if found.ignored:
        lines.append(f"ignored {len(found.ignored)} hidden or system file(s) (__MACOSX, ._*, .*)")
    if skipped:
        lines.append(f"--resume: {len(skipped)} already graded, not graded again")
    for c in book.changes:
        lines.append(f"changed: {c.student} {c.before:g} -> {c.after:g} (see history.jsonl)")
    return lines


def _verify(assignment, student: str, outcome: RunOutcome, kept: dict) -> StudentReport:
    problems = [outcome.problem] if outcome.problem else []
    problems += outcome.notes
    results = []
    for check in assignment.checks:
        if check.name in outcome.observations:
            result = check.verify(outcome.observations[check.name], kept.get(check.name))
            result.message = cap_text(result.message, 2 * MAX_NOTE)  # text from the child, bounded
            results.append(result)
        else:
            why = outcome.unreadable.get(check.name) or outcome.problem or "not graded"
            results.append(
                Result(
                    check.name,
                    0.0,
                    check.points,
                    f"`{check.function}` was not checked: {why}",
                    "error",
                )
            )
    return StudentReport(student, results, outcome.status, problems, outcome.seconds)


class _NoBar:
    def update(self, n: int = 1) -> None: ...

    def close(self) -> None: ...


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc="grading", unit="nb", file=sys.stderr, dynamic_ncols=True)
