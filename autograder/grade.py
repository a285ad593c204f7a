"""Grading a class: run every submission sandboxed, then verify and report."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from autograder.core import Result, load_assignment
from autograder.notebook import NotebookError, find_submissions, read_cells
from autograder.report import StudentReport, summary_table, write_grades_csv, write_student
from autograder.sandbox import MAX_NOTE, GiB, Limits, Runner, RunOutcome, cap_text


def grade(
    aid: str,
    paths: list[Path],
    out: Path,
    jobs: int = 1,
    timeout: float | None = None,
    memory_gib: float = 2.0,
    progress: bool = True,
    isolation: str = "auto",
) -> list[StudentReport]:
    """Grade every submission found under ``paths``; write reports to ``out``."""
    assignment = load_assignment(aid)
    submissions = find_submissions(aid, paths)
    if not submissions:
        raise ValueError(f"no notebooks found under {', '.join(map(str, paths))}")
    limits = Limits(
        timeout=timeout or assignment.default_timeout,
        memory=int(memory_gib * GiB),
        address_space=assignment.address_space_limit,
    )
    out.mkdir(parents=True, exist_ok=True)

    outcomes: dict[str, RunOutcome] = {}
    runnable = []
    for sub in submissions:
        try:
            runnable.append((sub.student, read_cells(sub.path)))
        except NotebookError as exc:
            outcomes[sub.student] = RunOutcome(status="broken", problem=str(exc))
        except FileNotFoundError:
            outcomes[sub.student] = RunOutcome(
                status="broken", problem=f"no notebook found ({sub.path.name} is missing)"
            )

    runner = Runner(assignment, limits, jobs, isolation)
    if progress and not runner.isolation.complete:
        print(f"autograder: isolation {runner.isolation.summary()}", file=sys.stderr)
    bar = _progress(len(submissions), progress)
    bar.update(len(outcomes))
    t0 = time.monotonic()
    try:

        def done(student: str, outcome: RunOutcome) -> None:
            outcomes[student] = outcome
            bar.update(1)

        runner.run(runnable, done)
    finally:
        runner.close()
        bar.close()
    wall = time.monotonic() - t0

    # Verification happens here, in the process that never ran student code.
    reports = [
        _verify(assignment, sub.student, outcomes[sub.student], runner.kept) for sub in submissions
    ]
    write_grades_csv(out / "grades.csv", assignment, reports)
    (out / "grading.json").write_text(
        json.dumps(
            {
                "assignment": aid,
                "submissions": len(reports),
                "isolation": runner.isolation.as_dict(),
                "limits": {"timeout_s": limits.timeout, "memory_gib": memory_gib},
            },
            indent=2,
        )
    )
    for report in reports:
        write_student(out, assignment, report)
    if progress:
        print(summary_table(assignment, reports))
        print(
            f"graded {len(reports)} submission(s) in {wall:.1f} s with {jobs} job(s); grades: {out / 'grades.csv'}"
        )
        print(f"isolation: {runner.isolation.summary()}")
    return reports


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
