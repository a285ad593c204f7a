"""Hostile and honest notebooks for the isolation test, built from the release at test time.

A hostile notebook is the released notebook, unsolved (so it earns 0 points by itself), with
attack cells after its setup cell: the parameters ``P`` (paths, ports, tokens the test picks),
``cells/common.py``, the attacks, then ``cells/report.py``, which smuggles out what they found.
Cells appended at the end (after the release's stubs) define the functions some attacks need,
and the last cell installs whatever graded functions an attack managed to take.
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
CELLS = HERE / "cells"
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "submissions"))
from corpus import Corpus  # noqa: E402

TIMING = ["timing_clock", "timing_slow_sum", "timing_memo", "timing_gil", "timing_patch_baseline", "timing_forge_obs"]  # fmt: skip


@dataclass
class Hostile:
    """One hostile submission: its class of attack, what it tries, what it may honestly earn."""

    student: str
    kind: str  # the class of the first list
    attacks: list[str]
    append: list[str] = field(default_factory=list)
    allowed: dict[str, float] = field(default_factory=dict)  # check -> points honestly computed
    flood_cells: int = 0


# Names sort so that, two at a time, the attacks on classmates run beside honest ones.
A1 = [
    Hostile("b_hurt_signals", "hurt others", ["hurt_signals"]),
    Hostile("c_hurt_files", "hurt others", ["hurt_files"], ["hurt_files_tail"]),
    Hostile("c_flood_notes", "hurt others", [], flood_cells=300),
    Hostile("e_copy_classmate", "copy a classmate's work", ["copy_classmate"]),
    Hostile("f_take_answers", "take the answers", ["take_answers"]),
    Hostile("g_exfiltrate", "exfiltrate", ["exfiltrate"], ["exfiltrate_tail"]),
    *[
        Hostile(
            f"h{i}_{name}", "cheat a measurement", [], ["slow_conv", name], {"conv2d_im2col": 2}
        )
        for i, name in enumerate(TIMING)
    ],
    Hostile("i_write_anywhere", "write anywhere", ["write_anywhere"]),
    Hostile("j_network", "reach the network", ["network"]),
    # Student ids taken from file names that collide with the grader's own files or paths.
    Hostile("grades.csv", "hurt others (file name)", []),
    Hostile("..", "hurt others (file name)", []),
    Hostile(".hidden", "hurt others (file name)", []),
]
A2 = [
    Hostile("b_hurt", "hurt others", ["hurt_signals", "hurt_files"], ["hurt_files_tail"]),
    Hostile("c_copy_classmate", "copy a classmate's work", ["copy_classmate"]),
    Hostile("d_take_answers", "take the answers", ["take_answers", "a2_labels"]),
    Hostile("e_exfiltrate", "exfiltrate", ["exfiltrate"], ["exfiltrate_tail"]),
    Hostile("f_cheat_design", "cheat a measurement", [], ["a2_lying_model"]),
    Hostile("g_write_anywhere", "write anywhere", ["write_anywhere"]),
    Hostile("h_network", "reach the network", ["network"]),
]
HOSTILE = {"a1_convolution": A1, "a2_keras_cnn": A2}
HONEST = {
    "a1_convolution": ["a_honest_ada", "d_honest_ben", "k_honest_cleo"],
    "a2_keras_cnn": ["a_honest_ada", "i_honest_ben"],
}


def cells_of(name: str) -> list[str]:
    """The cells of ``cells/<name>.py`` (split at ``# %%`` lines), lint pragmas dropped."""
    text = (CELLS / f"{name}.py").read_text()
    text = "\n".join(line for line in text.splitlines() if not line.startswith("# ruff:"))
    return [cell.strip() + "\n" for cell in text.split("\n# %%\n")]


def _code(source: str):
    return nbformat.v4.new_code_cell(source)


def hostile_notebook(corpus: Corpus, hostile: Hostile, params: dict):
    nb = copy.deepcopy(corpus.release)
    p = dict(params, student=hostile.student, aid=corpus.aid)
    head = [f"import json\n\nP = json.loads({json.dumps(json.dumps(p, sort_keys=True))})\n"]
    head += cells_of("common")
    for attack in hostile.attacks:
        head += cells_of(attack)
    head += cells_of("report")
    setup = next(
        i
        for i, c in enumerate(nb.cells)
        if c.metadata.get("nbgrader", {}).get("grade_id") == "setup"
    )
    nb.cells[setup + 1 : setup + 1] = [_code(s) for s in head]
    for attack in hostile.append:
        nb.cells += [_code(s) for s in cells_of(attack)]
    nb.cells += [_code(s) for s in cells_of("install")]
    for i in range(hostile.flood_cells):  # one note each, with a 20,000-character type name
        nb.cells.append(
            _code(f'raise type("Flood{i}_" + "F" * 20_000, (Exception,), {{}})("n" * 300)')
        )
    return nb


def honest_notebook(corpus: Corpus, marker: str):
    """The solution, as a student hands it in, with a marker in each solution cell."""
    nb = corpus.notebook()
    first = True
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            line = f"# {marker}\n"
            if first:
                line += f'CLASSMATE_MARKER = "{marker}"\n'
                first = False
            cell.source = line + cell.source
    return nb


def write_notebook(nb, path: Path) -> None:
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        cell.pop("id", None)
    nb.nbformat_minor = 4
    path.write_text(nbformat.writes(nb))
