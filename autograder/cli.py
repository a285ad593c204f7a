"""``autograder grade <aid> <path>... --out <dir> [--jobs N] [--timeout SEC]``.

Added options (the contract above is unchanged): ``--roster CSV``, ``--resume``,
``--nbgrader-db PATH``.
Ctrl-C (or SIGTERM) stops cleanly with exit status 130, keeping what was saved.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

# Before NumPy loads: one BLAS thread per submission, since submissions run in parallel.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="autograder", description="Grade course notebooks in a sandbox."
    )
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade submissions of one assignment")
    g.add_argument("aid", help="assignment id, e.g. a1_convolution")
    g.add_argument(
        "paths",
        nargs="+",
        type=Path,
        help="notebooks, folders of notebooks, nbgrader's submitted/ folder, a Canvas or "
        "Moodle download, or a .zip of any of these",
    )
    g.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the class's gradebook folder: grades.csv, per-student feedback, history.jsonl; "
        "grading into it again updates the students graded and keeps everyone else",
    )
    g.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="submissions graded in parallel"
    )
    g.add_argument("--timeout", type=float, default=None, help="wall-clock seconds per submission")
    g.add_argument(
        "--memory", type=float, default=2.0, help="memory limit per submission in GiB (default 2)"
    )
    g.add_argument(
        "--isolation",
        choices=["auto", "strict", "none"],
        default="auto",
        help="auto (default): all the kernel isolation this system offers, said in the summary; "
        "strict: refuse to grade without all of it; none: limits and timeouts only (trusted work)",
    )
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument(
        "--roster",
        type=Path,
        default=None,
        help="CSV of the class (an id column such as id/login_id/username, a name, an email): "
        "adds name and email columns to grades.csv",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="grade only the submissions --out does not hold yet (same notebook content)",
    )
    g.add_argument(
        "--nbgrader-db",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the class's scores into nbgrader's gradebook.db (formgrader, "
        "nbgrader export)",
    )
    return p


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)  # a batch system's stop: as Ctrl-C
    from autograder.grade import grade
    from autograder.sandbox import SandboxError

    try:
        reports = grade(
            args.aid,
            args.paths,
            args.out,
            jobs=args.jobs,
            timeout=args.timeout,
            memory_gib=args.memory,
            progress=not args.quiet,
            isolation=args.isolation,
            roster=args.roster,
            resume=args.resume,
            nbgrader_db=args.nbgrader_db,
        )
    except KeyboardInterrupt:
        return 130
    except (ValueError, FileNotFoundError, SandboxError) as exc:
        print(f"autograder: {exc}", file=sys.stderr)
        return 2
    return 0 if reports is not None else 1


if __name__ == "__main__":
    sys.exit(main())
