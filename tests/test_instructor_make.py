"""`make grade` as instructors type it: a folder name with spaces, options passed through."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ROOT

# A stand-in for .venv/bin/autograder that prints the arguments it was given.
FAKE = f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n"


def _make_grade(tmp_path, *assignments: str) -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "autograder"
    fake.write_text(FAKE)
    fake.chmod(0o755)
    proc = subprocess.run(
        # -o: the venv counts as installed (no pip); BIN: the stand-in above
        ["make", "-s", "-o", ".venv/.installed", "grade", f"BIN={bin_dir}", *assignments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, MAKEFLAGS=""),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_make_grade_keeps_a_folder_name_with_spaces(tmp_path):
    """Does `make grade SUBMISSIONS="Fall 2025 A1"` pass one path, and OUT with spaces too?"""
    folder = tmp_path / "Fall 2025 A1"
    folder.mkdir()
    args = _make_grade(tmp_path, f"SUBMISSIONS={folder}", f"OUT={tmp_path / 'out dir'}", "JOBS=1")
    assert args == ["grade", "a1_convolution", str(folder), "--out", str(tmp_path / "out dir")] + [
        "--jobs",
        "1",
    ]


def test_make_grade_takes_several_paths_and_options(tmp_path):
    """Do several paths (no folder of the whole name) and GRADE_ARGS reach the grader?"""
    a, b = tmp_path / "a", tmp_path / "b"
    args = _make_grade(
        tmp_path, f"SUBMISSIONS={a} {b}", "AID=a0_neurons", "GRADE_ARGS=--resume --quiet"
    )
    assert args[:4] == ["grade", "a0_neurons", str(a), str(b)]
    assert args[-2:] == ["--resume", "--quiet"]
