"""``autograder grade <aid> <path>... --out <dir> [--jobs N] [--timeout SEC]``.

Added options (the contract above is unchanged): ``--roster CSV``, ``--resume``,
``--nbgrader-db PATH``, ``--shard K/N``.
Ctrl-C (or SIGTERM) stops cleanly with exit status 130, keeping what was saved.

Other commands: ``autograder merge <shard-out>... --out <dir>`` joins the gradebooks of
``--shard`` runs (:mod:`autograder.shards`); ``autograder gradescope <aid> --out <zip>``
builds a Gradescope autograder bundle (:mod:`autograder.gradescope`).
An unknown assignment id is one line naming the valid ids, exit status 2.
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


def assignment_ids() -> list[str]:
    """The assignments the grader has checks for (``autograder/checks/<aid>.py``)."""
    folder = Path(__file__).resolve().parent / "checks"
    return sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: ...)`` for options that have a default worth saying."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="autograder", description="Grade course notebooks in a sandbox."
    )
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade submissions of one assignment", formatter_class=_Help)
    g.add_argument("aid", help=f"assignment id: {', '.join(assignment_ids())}")
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
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="submissions graded in parallel (default: the number of CPUs, %(default)s here)",
    )
    g.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="wall-clock seconds per submission (default: the assignment's own, "
        "default_timeout in autograder/checks/<aid>.py, e.g. 120 for a1_convolution)",
    )
    g.add_argument("--memory", type=float, default=2.0, help="memory limit per submission in GiB")
    g.add_argument(
        "--isolation",
        choices=["auto", "strict", "none"],
        default="auto",
        help="auto (default): all the kernel isolation this system offers, said in the summary; "
        "strict: refuse to grade without all of it; none: limits and timeouts only (trusted work)",
    )
    g.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar; the summary table and notes are still printed at the end",
    )
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
    g.add_argument(
        "--shard",
        default=None,
        metavar="K/N",
        help="grade only shard K of N (0 <= K < N, split by a hash of the student id) into "
        "--out; `autograder merge` joins the shards (a Slurm array: scripts/grade_array.sbatch)",
    )
    m = sub.add_parser(
        "merge",
        help="join the gradebooks of --shard runs into one",
        description="Join the --out folders of `autograder grade --shard K/N` runs into one "
        "gradebook, as one run over the whole class writes it.",
        formatter_class=_Help,
    )
    m.add_argument("folders", nargs="+", type=Path, help="the shards' --out folders")
    m.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the class's gradebook folder (an existing one is updated)",
    )
    m.add_argument(
        "--nbgrader-db",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the merged class's scores into nbgrader's gradebook.db (one writer, "
        "after every shard: shards never write it)",
    )
    m.add_argument("--quiet", action="store_true", help="print nothing on success")
    s = sub.add_parser(
        "gradescope",
        help="build a Gradescope autograder bundle (.zip) for one assignment",
        description="Build a Gradescope autograder bundle: setup.sh, run_autograder, the "
        "grader and the checks of one assignment; no solutions.",
        formatter_class=_Help,
    )
    s.add_argument("aid", help=f"assignment id: {', '.join(assignment_ids())}")
    s.add_argument("--out", type=Path, required=True, help="the .zip to write")
    return p


def _unknown(aid: str) -> str | None:
    """One line for an unknown assignment id, or None when it is known."""
    ids = assignment_ids()
    if aid in ids:
        return None
    return f"autograder: unknown assignment {aid!r}; valid ids: {', '.join(ids)}"


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("grade", "gradescope") and (line := _unknown(args.aid)):
        print(line, file=sys.stderr)
        return 2
    if args.command == "merge":
        return _merge(args)
    if args.command == "gradescope":
        return _gradescope(args)
    signal.signal(signal.SIGTERM, _terminate)  # a batch system's stop: as Ctrl-C
    from autograder.grade import grade
    from autograder.sandbox import SandboxError

    try:
        shard = None
        if args.shard is not None:
            from autograder.shards import parse_shard

            shard = parse_shard(args.shard)
        reports = grade(
            args.aid,
            args.paths,
            args.out,
            jobs=args.jobs,
            timeout=args.timeout,
            memory_gib=args.memory,
            progress=not args.quiet,
            summary=True,
            isolation=args.isolation,
            roster=args.roster,
            resume=args.resume,
            nbgrader_db=args.nbgrader_db,
            shard=shard,
        )
    except KeyboardInterrupt:
        return 130
    except (ValueError, FileNotFoundError, SandboxError) as exc:
        print(f"autograder: {exc}", file=sys.stderr)
        return 2
    return 0 if reports is not None else 1


def _merge(args: argparse.Namespace) -> int:
    from autograder.shards import merge

    try:
        merge(args.folders, args.out, progress=not args.quiet, nbgrader_db=args.nbgrader_db)
    except (ValueError, FileNotFoundError) as exc:
        print(f"autograder: {exc}", file=sys.stderr)
        return 2
    return 0


def _gradescope(args: argparse.Namespace) -> int:
    from autograder.gradescope import build_bundle

    try:
        path = build_bundle(args.aid, args.out)
    except (ValueError, FileNotFoundError) as exc:
        print(f"autograder: {exc}", file=sys.stderr)
        return 2
    print(f"Gradescope autograder bundle: {path} (upload it as the assignment's autograder)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
