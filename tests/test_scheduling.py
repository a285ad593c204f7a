"""The order `make test` hands its units to the workers (tests/conftest.py): longest first."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import UNIT_SECONDS, _rank, _unit

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
NOTEBOOK_STEMS = {
    p.stem
    for pattern in ("course/*.ipynb", "course/answers/*.ipynb", "solutions/*/*.ipynb")
    for p in ROOT.glob(pattern)
}


def test_every_timed_unit_exists():
    """Does each unit in UNIT_SECONDS name a test file (and notebook run) that exists? A renamed
    file or notebook would otherwise drop out of the longest-first order without a word."""
    for unit in UNIT_SECONDS:
        name, _, run = unit.partition("::")
        assert (TESTS / name).is_file(), unit
        if run:
            function, stem = re.fullmatch(r"(test_\w+)\[(\w+)\]", run).groups()
            assert f"def {function}(" in (TESTS / name).read_text(encoding="utf-8"), unit
            assert stem in NOTEBOOK_STEMS, unit


def test_units_start_longest_first_and_files_stay_whole():
    """Do the long units go first, notebook runs by their own time, the rest in their order?"""
    nodeids = [
        "tests/test_data.py::test_a",
        "tests/test_course_notebooks.py::test_there_are_lecture_notebooks",
        "tests/test_course_notebooks.py::test_notebook_runs_in_fast_mode[01_convolution]",
        "tests/test_course_notebooks.py::test_solution_runs_in_fast_mode[a5_inside_cnns]",
        "tests/test_a4_grading.py::test_expected_score[solution]",
        "tests/test_glossary.py::test_b",
        "tests/test_a4_grading.py::test_expected_score[release]",
    ]
    assert (
        _unit(nodeids[3])
        == "test_course_notebooks.py::test_solution_runs_in_fast_mode[a5_inside_cnns]"
    )
    assert _unit(nodeids[1]) == "test_course_notebooks.py"
    assert sorted(nodeids, key=_rank) == [
        "tests/test_a4_grading.py::test_expected_score[solution]",
        "tests/test_a4_grading.py::test_expected_score[release]",
        "tests/test_course_notebooks.py::test_solution_runs_in_fast_mode[a5_inside_cnns]",
        "tests/test_data.py::test_a",
        "tests/test_course_notebooks.py::test_there_are_lecture_notebooks",
        "tests/test_course_notebooks.py::test_notebook_runs_in_fast_mode[01_convolution]",
        "tests/test_glossary.py::test_b",
    ]
