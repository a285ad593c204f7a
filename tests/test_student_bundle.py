"""The student bundle (`make release`): what students get, with a Makefile of its own."""

from __future__ import annotations

import os
import re
import subprocess
import zipfile

import pytest

from autograder.release import bundle, zip_path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The bundle written to a temporary folder: (folder, zip)."""
    dest = bundle(tmp_path_factory.mktemp("dist") / "cnn-course-student")
    return dest, zip_path(dest)


def _dry_run(folder, *args: str) -> subprocess.CompletedProcess:
    """``make -n``: the commands a target would run, none of them run."""
    return subprocess.run(
        ["make", "-n", "-C", str(folder), *args], capture_output=True, text=True, timeout=60
    )


def test_bundle_holds_no_solutions_and_no_grader(built):
    """Does the bundle leave out solutions/, the grader with its hidden checks, and tests?"""
    dest, _ = built
    names = {p.relative_to(dest).parts[0] for p in dest.rglob("*")}
    assert {"course", "assignments", "cnn_course", "README.md", "Makefile"} <= names
    assert not {"solutions", "autograder", "tests", "bench"} & names
    assert not list(dest.rglob("checks")) and not list(dest.rglob("*BEGIN HIDDEN*"))
    for nb in dest.glob("assignments/*/*.ipynb"):
        assert "BEGIN HIDDEN TESTS" not in nb.read_text() and "run_in_kernel" not in nb.read_text()


def test_zip_holds_the_same_files(built):
    """Is the zip the bundle folder itself, file for file, under one top folder?"""
    dest, zipped = built
    files = {p.relative_to(dest.parent).as_posix() for p in dest.rglob("*") if p.is_file()}
    with zipfile.ZipFile(zipped) as z:
        inside = {n for n in z.namelist() if not n.endswith("/")}
    assert inside == files and all(n.startswith("cnn-course-student/") for n in inside)


def test_bundle_makefile_has_only_targets_that_work_there(built):
    """Does the bundle's Makefile offer setup and lab only, each naming files the bundle has
    (not the instructor's grade, test or release targets)?"""
    dest, _ = built
    text = (dest / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z][\w-]*):", text, flags=re.M))
    assert targets == {"setup", "lab"}
    assert not re.search(r"autograder|pytest|solutions|bench", text)
    assert "pyproject.toml" in text and (dest / "pyproject.toml").is_file()
    lab = _dry_run(dest, "lab", "LAB_ARGS=--no-browser --port 8890")
    assert lab.returncode == 0, lab.stderr
    assert "jupyter lab" in lab.stdout and "--no-browser --port 8890" in lab.stdout
    assert ("--allow-root" in lab.stdout) == (os.geteuid() == 0)
    assert "pip install" in lab.stdout  # lab sets up first when the venv is missing


def test_bundle_readme_tells_students_how_to_check(built):
    """Does the student README name make lab, the self-check and nbgrader's Validate?"""
    text = (built[0] / "README.md").read_text()
    for phrase in ("make setup", "make lab", "self_check", "Validate", "nbgrader validate"):
        assert phrase in text


def test_instructor_make_lab_takes_args_and_allows_root():
    """Does the instructor's `make lab` pass LAB_ARGS on, and --allow-root as root?"""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    lab = subprocess.run(
        ["make", "-n", "-C", root, "lab", "LAB_ARGS=--no-browser"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert lab.returncode == 0, lab.stderr
    line = next(x for x in lab.stdout.splitlines() if "jupyter" in x and " lab" in x)
    assert "--no-browser" in line and ("--allow-root" in line) == (os.geteuid() == 0)
