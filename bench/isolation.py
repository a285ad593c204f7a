"""What isolation costs per submission, measured side by side in one run.

1. The bare mechanism: fork a child that enters its namespaces, mounts, uid,
   Landlock and seccomp (:func:`autograder.isolation.enter`) and exits, versus a
   plain fork that exits; milliseconds per child.
2. Whole grading: the honest a1 corpus graded with ``--isolation none`` and
   ``--isolation strict``, alternately, ``--jobs 1``; seconds per submission.

    python bench/isolation.py [--rounds 2]
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

from autograder import isolation
from autograder.release import ROOT

AID = "a1_convolution"


def _fork_ms(n: int, plan: isolation.Plan | None) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            try:
                if plan is not None:
                    isolation.enter(plan)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
    return (time.perf_counter() - t0) / n * 1000


def _grade_seconds(folder: Path, mode: str, out: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "autograder", "grade", AID, str(folder), "--out", str(out)]
        + ["--jobs", "1", "--quiet", "--isolation", mode],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--forks", type=int, default=40)
    args = p.parse_args()

    import cnn_course

    readable = isolation.readable_paths(ROOT, [Path(cnn_course.__file__).parent])
    found = isolation.probe(readable)
    print(f"isolation here: {found.summary()}")
    plan = isolation.Plan(readable, 640999, 64 * 1024**2, found)
    plain, isolated = [], []
    for _ in range(args.rounds):
        plain.append(_fork_ms(args.forks, None))
        isolated.append(_fork_ms(args.forks, plan))
    print(
        f"fork + exit          : {min(plain):6.1f} ms per child\n"
        f"fork + isolate + exit: {min(isolated):6.1f} ms per child "
        f"(isolation adds {min(isolated) - min(plain):.1f} ms)"
    )

    corpus = ROOT / "tests" / "submissions" / AID
    with (corpus / "expected.csv").open() as f:
        honest = [r["student"] for r in csv.DictReader(f) if r["kind"] != "hostile"]
    honest = [s for s in honest if not s.startswith("broken")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "submitted"
        folder.mkdir()
        for s in honest:
            os.symlink(corpus / "submitted" / s, folder / s)
        times: dict[str, list[float]] = {"none": [], "strict": []}
        for r in range(args.rounds):
            for mode in ("none", "strict"):
                times[mode].append(_grade_seconds(folder, mode, Path(tmp) / f"out-{mode}-{r}"))
        scores = {}
        for mode in times:
            with (Path(tmp) / f"out-{mode}-0" / "grades.csv").open() as f:
                scores[mode] = {row["student"]: row["score"] for row in csv.DictReader(f)}
    n = len(honest)
    none, strict = min(times["none"]), min(times["strict"])
    print(f"a1, {n} honest submissions, --jobs 1, best of {args.rounds}:")
    print(
        f"  --isolation none   : {none:6.1f} s ({none / n:.2f} s per submission, start-up included)"
    )
    print(
        f"  --isolation strict : {strict:6.1f} s ({strict / n:.2f} s per submission, start-up included)"
    )
    print(f"  cost of isolation  : {(strict - none) / n * 1000:+.0f} ms per submission")
    print(f"  same scores        : {scores['none'] == scores['strict']}")
    return 0 if scores["none"] == scores["strict"] else 1


if __name__ == "__main__":
    sys.exit(main())
