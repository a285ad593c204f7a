"""``autograder grade <aid> <path>... --out <dir> [--jobs N] [--timeout SEC]``."""

from __future__ import annotations

import argparse
import os
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
        help="notebooks, folders of notebooks, or nbgrader's submitted/ folder",
    )
    g.add_argument(
        "--out", type=Path, required=True, help="folder for grades.csv and per-student feedback"
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
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
        )
    except (ValueError, FileNotFoundError, SandboxError) as exc:
        print(f"autograder: {exc}", file=sys.stderr)
        return 2
    return 0 if reports is not None else 1


if __name__ == "__main__":
    sys.exit(main())
