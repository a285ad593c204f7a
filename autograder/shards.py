"""A class graded in parallel on a cluster: ``--shard K/N`` and ``autograder merge``.

``autograder grade ... --shard K/N`` grades only the submissions whose student id falls in
shard ``K`` of ``N`` (``0 <= K < N``): a hash of the id, so the split does not depend on
the order the files are found in, on the machine, or on which other students handed in.
Every shard finds the whole class (so Canvas resubmissions, the roster and the ignored
files are judged the same way everywhere) and grades its part into a gradebook of its own.

``autograder merge <shard-out>... --out <dir>`` combines the shards' gradebooks into one:
``grades.csv``, the per-student folders, ``submissions.csv``, the LMS exports,
``history.jsonl``, ``grading.json`` and ``report.html``, as one run over the whole class
would have written them. Merging into an existing gradebook updates the students the shards
hold and keeps everyone else, as ``autograder grade`` does. A Slurm job array that does
both is ``scripts/grade_array.sbatch``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from autograder.core import load_assignment
from autograder.gradebook import BOOK, HISTORY, Gradebook


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with ``0 <= K < N``; a ValueError says what is wrong."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard wants K/N (e.g. 0/8), not {text!r}") from None
    if n < 1 or not 0 <= k < n:
        raise ValueError(f"--shard {text}: K must be 0 to N-1 (Slurm: --array=0-{max(n - 1, 0)})")
    return k, n


def shard_of(student: str, n: int) -> int:
    """The shard (0 to n-1) of a student id: the first 8 bytes of its sha256, modulo n."""
    digest = hashlib.sha256(student.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n


def _read_shard(folder: Path) -> tuple[dict, dict]:
    """A shard's ``gradebook.json`` and ``grading.json`` (empty when it has none)."""
    book = folder / BOOK
    if not book.is_file():
        raise ValueError(f"{folder} holds no gradebook ({BOOK}): not an `autograder grade` --out")
    info = folder / "grading.json"
    grading = json.loads(info.read_text(encoding="utf-8")) if info.is_file() else {}
    return json.loads(book.read_text(encoding="utf-8")), grading


def _missing_shards(gradings: list[dict]) -> list[str]:
    """Shards of ``K/N`` that none of the folders holds (empty when none were sharded)."""
    seen: dict[int, set[int]] = {}
    for g in gradings:
        if g.get("shard"):
            k, n = parse_shard(g["shard"])
            seen.setdefault(n, set()).add(k)
    return [f"{k}/{n}" for n, ks in sorted(seen.items()) for k in range(n) if k not in ks]


def merge(
    folders: list[Path], out: Path, progress: bool = True, nbgrader_db: Path | None = None
) -> Gradebook:
    """Combine the gradebooks in ``folders`` (shards) into the gradebook in ``out``.

    The students' rows and folders are copied, the history lines added once (merging
    twice adds nothing), then grades.csv, the exports, grading.json and report.html are
    written for the whole class, and with ``nbgrader_db`` the class's scores are written into
    nbgrader's gradebook, as ``autograder grade --nbgrader-db`` does for one run. Raises
    ValueError for folders of different assignments, a folder that is ``out`` itself, a shard
    of ``K/N`` that is missing, or a gradebook.db that cannot be written (``out`` is saved).
    """
    if not folders:
        raise ValueError("merge needs at least one shard folder")
    out_resolved = out.resolve()
    shards = []
    for folder in folders:
        if folder.resolve() == out_resolved:
            raise ValueError(f"{folder} is the --out folder itself: merge into another folder")
        shards.append((folder, *_read_shard(folder)))
    aids = {data.get("assignment") for _, data, _ in shards}
    if len(aids) != 1:
        raise ValueError(f"the folders hold different assignments: {', '.join(map(str, aids))}")
    gradings = [g for _, _, g in shards]
    missing = _missing_shards(gradings)
    if missing:
        raise ValueError(
            f"shard(s) {', '.join(missing)} missing: grade them (`autograder grade ... --shard "
            "K/N --resume --out <its folder>`) and merge again"
        )
    assignment = load_assignment(aids.pop())
    book = Gradebook.open(out, assignment)
    try:
        known = set(_lines(out / HISTORY))
        new_lines: list[tuple[str, str]] = []
        for folder, data, _ in shards:
            for student, row in sorted(data.get("students", {}).items()):
                old = book.rows.get(student)
                if old is not None and old.get("graded_at", "") > row.get("graded_at", ""):
                    continue  # the gradebook holds a newer grading of this student
                _copy_student(folder, out, student)
                book.rows[student] = row
            for line in _lines(folder / HISTORY):
                if line not in known:
                    known.add(line)
                    new_lines.append((json.loads(line).get("graded_at", ""), line))
        with (out / HISTORY).open("a", encoding="utf-8") as f:
            for _, line in sorted(new_lines, key=lambda t: t[0]):  # stable: a shard's order kept
                f.write(line + "\n")
        book.save()
        _write_grading(out, assignment.aid, book, folders, gradings)
        from autograder.grade import _class_report

        line = _class_report(out, assignment)
        written = None
        if nbgrader_db is not None:
            from autograder.nbgrader_db import write_back_or_explain

            written = write_back_or_explain(
                nbgrader_db, assignment, book.rows, f"grades merged into {out / 'grades.csv'}"
            )
        if progress:
            print(
                f"merged {len(folders)} folder(s): {len(book.rows)} student(s) in "
                f"{out / 'grades.csv'}"
            )
            if written is not None:
                print(f"nbgrader: {written} student(s) written to {nbgrader_db}")
            if line:
                print(line)
        return book
    finally:
        book.close()


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _copy_student(folder: Path, out: Path, student: str) -> None:
    """Copy ``folder/<student>/`` (results.json, feedback.html) into ``out/<student>/``."""
    source, target = folder / student, out / student
    if target.resolve().parent != out.resolve() or source.resolve().parent != folder.resolve():
        raise ValueError(f"student id {student!r} is not a plain folder name")
    if source.is_dir():
        if target.is_dir():
            shutil.rmtree(target)
        shutil.copytree(source, target)


def _write_grading(
    out: Path, aid: str, book: Gradebook, folders: list[Path], gradings: list[dict]
) -> None:
    """``grading.json`` for the merged class: sums of the shards' counts, lists joined."""

    def joined(key: str) -> list:
        return list(dict.fromkeys(x for g in gradings for x in g.get(key) or []))

    first = next((g for g in gradings if g), {})
    info = {
        "assignment": aid,
        "submissions": sum(int(g.get("submissions", 0)) for g in gradings),
        "class": len(book.rows),
        "resumed_skipped": sum(int(g.get("resumed_skipped", 0)) for g in gradings),
        "roster_without_submission": first.get("roster_without_submission", []),
        "ignored": joined("ignored"),
        "superseded": joined("superseded"),
        "grader": book.version,
        "isolation": next((g["isolation"] for g in gradings if g.get("isolation")), None),
        "limits": first.get("limits"),
        "merged_from": [str(f) for f in folders],
    }
    tmp = out / ".grading.json.tmp"
    tmp.write_text(json.dumps(info, indent=2), encoding="utf-8")
    tmp.replace(out / "grading.json")
