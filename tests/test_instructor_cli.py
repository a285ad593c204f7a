"""The command line's frictions: an unknown assignment, --help, --quiet, a bad --shard."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import read_grades, run_grader

from autograder.cli import assignment_ids


def _autograder(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograder", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("command", ["grade", "gradescope"])
def test_unknown_assignment_lists_the_valid_ids(command, tmp_path):
    """Does an unknown assignment id stop with one line naming every valid id, exit 2?"""
    args = [command, "a1_convolutoin", str(tmp_path), "--out", str(tmp_path / "out")]
    if command == "gradescope":
        args = [command, "a1_convolutoin", "--out", str(tmp_path / "b.zip")]
    proc = _autograder(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown assignment 'a1_convolutoin'" in lines[0]
    assert all(aid in lines[0] for aid in assignment_ids())
    assert not (tmp_path / "out").exists() and not (tmp_path / "b.zip").exists()


def test_assignment_ids_are_the_checks_modules():
    """Are the valid ids exactly the assignments with a checks module?"""
    ids = assignment_ids()
    assert {"a0_neurons", "a1_convolution", "a2_keras_cnn"} <= set(ids)
    assert not [i for i in ids if i.startswith("_")]


def test_help_shows_defaults():
    """Does `grade --help` say the default of every option that has one?"""
    text = " ".join(_autograder("grade", "--help").stdout.split())
    assert "(default: 2.0)" in text  # --memory
    assert "default: the number of CPUs" in text  # --jobs
    assert "default: the assignment's own" in text  # --timeout
    assert "auto (default)" in text  # --isolation
    assert "(default: None)" not in text and "(default: False)" not in text
    for command in ("merge", "gradescope"):
        assert _autograder(command, "--help").returncode == 0


def test_quiet_keeps_the_summary(tmp_path):
    """Does --quiet drop the progress bar but keep the summary table and the notes?"""
    (tmp_path / "leeann.py").write_text("def corr2d(x, w): ...\n")
    proc = run_grader("a1_convolution", [tmp_path / "leeann.py"], tmp_path / "out", "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "grading:" not in proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["student", "score", "status"]
    assert any(line.startswith("leeann ") and "not a notebook" in line for line in lines)
    assert "not a notebook (1, zero rows in grades.csv): leeann" in proc.stdout
    assert "graded 1 submission(s)" in proc.stdout
    assert read_grades(tmp_path / "out" / "grades.csv")["leeann"]["score"] == "0"


@pytest.mark.parametrize("shard", ["2/2", "x"])
def test_bad_shard_is_one_line(shard, tmp_path):
    """Does a --shard outside 0..N-1 stop with one line before anything is written?"""
    proc = run_grader("a1_convolution", [tmp_path], tmp_path / "out", "--shard", shard)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "--shard" in proc.stderr
    assert not (tmp_path / "out").exists()
