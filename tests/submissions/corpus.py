"""Building sample submissions: the release, filled in as a student would.

Shared by ``make_a1_corpus.py`` and ``make_a2_corpus.py``. A student's notebook
is the released one with each solution cell filled in with the solution's code,
or with a known mistake, or with something hostile added; ``write_corpus``
writes nbgrader's ``submitted/<student>/<aid>/<aid>.ipynb`` layout and
``expected.csv``.
"""

from __future__ import annotations

import copy
import csv
import shutil
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]


def _strip_markers(src: str) -> str:
    return "\n".join(line for line in src.splitlines() if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)


class Corpus:
    """Notebooks of one assignment, derived from its release and its solution."""

    def __init__(self, aid: str) -> None:
        self.aid = aid
        self.out = ROOT / "tests" / "submissions" / aid
        source = nbformat.read(ROOT / "solutions" / aid / f"{aid}.ipynb", as_version=4)
        self.code = {c.metadata["nbgrader"]["grade_id"]: _strip_markers(c.source) for c in source.cells
                     if c.metadata.get("nbgrader", {}).get("solution")}
        self.release = nbformat.read(ROOT / "assignments" / aid / f"{aid}.ipynb", as_version=4)

    def notebook(self, replace: dict[str, str] | None = None, append: list[str] | None = None,
                 prepend: list[str] | None = None, solved: bool = True):
        """The release, solved (or not), with some solution cells replaced and cells added."""
        nb = copy.deepcopy(self.release)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.metadata.get("nbgrader", {}).get("solution"):
                if replace and gid in replace:
                    cell.source = replace[gid].strip()
                elif solved:
                    cell.source = self.code[gid]
        for src in prepend or []:
            nb.cells.insert(2, nbformat.v4.new_code_cell(src.strip()))
        for src in append or []:
            nb.cells.append(nbformat.v4.new_code_cell(src.strip()))
        return nb

    def sub(self, name: str, function: str, old: str, new: str) -> dict[str, str]:
        """The solution cell ``name`` with one edit inside ``function``."""
        src = self.code[name]
        assert old in src, (name, function, old)
        return {name: src.replace(old, new)}

    def redefine(self, name: str, new: str) -> dict[str, str]:
        """The solution cell ``name`` with a function redefined after it, as a student's own version."""
        return {name: self.code[name] + "\n\n\n" + new.strip() + "\n"}

    def write(self, rows: list[tuple[str, object, float, str]]) -> None:
        """Write ``(student, notebook or text, expected score, kind)`` rows and ``expected.csv``."""
        submitted = self.out / "submitted"
        if submitted.exists():
            shutil.rmtree(submitted)
        for student, nb, _score, _kind in rows:
            path = submitted / student / self.aid / f"{self.aid}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(nb, str):
                path.write_text(nb)
            else:
                for cell in nb.cells:  # clean ids so the files stay stable between runs
                    cell.pop("id", None)
                nb.nbformat_minor = 4
                nbformat.write(nb, path)
        with (self.out / "expected.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["student", "score", "kind"])
            w.writerows([(student, score, kind) for student, _nb, score, kind in rows])
        print(f"wrote {len(rows)} submissions to {submitted.relative_to(ROOT)}")
