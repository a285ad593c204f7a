"""Shared helpers: run the grader as its users do, in a process of its own."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "submissions"


def run_grader(
    aid: str, paths: list[Path], out: Path, *extra: str, timeout: float = 600
) -> subprocess.CompletedProcess:
    """``autograder grade`` exactly as the command line runs it."""
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade",
            aid,
            *map(str, paths),
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def read_grades(path: Path) -> dict[str, dict[str, str]]:
    with path.open() as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def expected(aid: str) -> dict[str, tuple[float, str]]:
    with (CORPUS / aid / "expected.csv").open() as f:
        return {row["student"]: (float(row["score"]), row["kind"]) for row in csv.DictReader(f)}
