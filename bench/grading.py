"""Grading speed: `nbgrader autograde` versus `autograder grade`, same corpus, same run.

Grades the honest part of a sample corpus (solution, release, mistakes) with
both harnesses on this machine, checks that the scores agree and prints the
seconds per submission and the speed ratio. Usage:

    python bench/grading.py [a1_convolution] [--jobs N]
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder.release import ROOT, autograde_with_nbgrader


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("aid", nargs="?", default="a1_convolution")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = p.parse_args()
    corpus = ROOT / "tests" / "submissions" / args.aid
    with (corpus / "expected.csv").open() as f:
        honest = [
            r["student"]
            for r in csv.DictReader(f)
            if r["kind"] in ("solution", "release", "mistake")
        ]
    notebooks = {s: corpus / "submitted" / s / args.aid / f"{args.aid}.ipynb" for s in honest}

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        nb_scores, nb_seconds = autograde_with_nbgrader(args.aid, notebooks, tmp / "course")

        t0 = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "autograder",
                "grade",
                args.aid,
                *[str(n.parent.parent) for n in notebooks.values()],
                "--out",
                str(tmp / "out"),
                "--jobs",
                str(args.jobs),
                "--quiet",
            ],
            capture_output=True,
            text=True,
        )
        ag_seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stderr)
            return 1
        with (tmp / "out" / "grades.csv").open() as f:
            ag_scores = {r["student"]: float(r["score"]) for r in csv.DictReader(f)}

    n = len(notebooks)
    agree = nb_scores == ag_scores
    print(
        f"assignment {args.aid}: {n} honest submissions, {os.cpu_count()} cores, --jobs {args.jobs}"
    )
    print(f"  nbgrader autograde : {nb_seconds:7.1f} s  ({nb_seconds / n:.2f} s per submission)")
    print(
        f"  autograder grade   : {ag_seconds:7.1f} s  ({ag_seconds / n:.2f} s per submission, start-up included)"
    )
    print(f"  speed ratio        : {nb_seconds / ag_seconds:.1f}x")
    print(f"  scores agree       : {agree}")
    if not agree:
        for s in notebooks:
            if nb_scores.get(s) != ag_scores.get(s):
                print(f"    {s}: nbgrader {nb_scores.get(s)}, autograder {ag_scores.get(s)}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
