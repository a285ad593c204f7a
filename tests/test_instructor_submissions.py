"""Finding a class in what instructors download: Canvas, Moodle, zips, rosters (no grading here)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from autograder import submissions
from autograder.submissions import NOT_NOTEBOOK, NOTEBOOK, ArchiveError, collect, load_roster

AID = "a1_convolution"
NB = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def _put(path: Path, text: str = NB) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


def _by_id(found) -> dict:
    return {e.student: e for e in found.entries}


def test_canvas_download(tmp_path):
    """Are Canvas ids the name part, with the late flag, user id and resubmission number kept
    as data, the newest resubmission graded, and a .py, a student's zip and macOS files accounted for?"""
    d = tmp_path / "canvas"
    _put(d / f"doejane_23456_78901_{AID}.ipynb")
    _put(d / f"doejane_late_23456_78902_{AID}-1.ipynb")
    _put(d / f"smithbob_34567_78903_{AID}.ipynb")
    _put(d / "leeann_45678_78904_solution.py", "print(1)")
    _zip(d / "kimtom_56789_78905_work.zip", {f"work/{AID}.ipynb": NB, "__MACOSX/work/._x": "x"})
    _put(d / f"._doejane_23456_78901_{AID}.ipynb", "\0\5\x16\7")
    _put(d / ".DS_Store", "x")
    work = tmp_path / "work"
    work.mkdir()
    found = collect(AID, [d], work)
    got = _by_id(found)
    assert sorted(got) == ["doejane", "kimtom", "leeann", "smithbob"]
    jane = got["doejane"]
    assert (jane.late, jane.attempt, jane.lms_id) == (True, 1, "23456")
    assert jane.path.name.endswith("-1.ipynb")
    assert [e.path.name for e in found.superseded] == [f"doejane_23456_78901_{AID}.ipynb"]
    assert got["leeann"].kind == NOT_NOTEBOOK
    assert got["kimtom"].kind == NOTEBOOK and got["kimtom"].path.name == f"{AID}.ipynb"
    assert work in got["kimtom"].path.parents  # extracted into the work folder
    assert len(found.ignored) == 3  # ._doejane..., .DS_Store, the zip's __MACOSX


def test_moodle_download(tmp_path):
    """Does a Moodle download give one row per participant folder, named from the folder,
    a PDF as "not a notebook" and an empty folder as a missing notebook?"""
    d = tmp_path / "moodle"
    _put(d / "Jane Doe_123_assignsubmission_file_" / f"{AID}.ipynb")
    _put(d / "Jane Doe_123_assignsubmission_file_" / "scratch.ipynb")
    _put(d / "Bob Smith_456_assignsubmission_file_" / "answers.pdf", "%PDF")
    (d / "Ann O'Neil_789_assignsubmission_file_").mkdir(parents=True)
    found = collect(AID, [d], tmp_path)
    got = _by_id(found)
    assert sorted(got) == ["Ann_O_Neil", "Bob_Smith", "Jane_Doe"]
    assert got["Jane_Doe"].path.name == f"{AID}.ipynb" and got["Jane_Doe"].lms_id == "123"
    assert got["Jane_Doe"].name == "Jane Doe"
    assert got["Bob_Smith"].kind == NOT_NOTEBOOK
    assert not got["Ann_O_Neil"].path.exists()  # graded as "no notebook found"
    assert [e.path.name for e in found.superseded] == ["scratch.ipynb"]


def test_zip_of_nbgrader_layout_keeps_ids(tmp_path):
    """Does a zip of nbgrader's submitted/ folder give the same ids as the folder itself?"""
    members = {f"submitted/{s}/{AID}/{AID}.ipynb": NB for s in ("ann", "bob")}
    members["__MACOSX/submitted/._ann"] = "x"
    archive = _zip(tmp_path / "class.zip", members)
    work = tmp_path / "work"
    work.mkdir()
    found = collect(AID, [archive], work)
    assert [e.student for e in found.entries] == ["ann", "bob"]
    assert [e.layout for e in found.entries] == ["nbgrader", "nbgrader"]


def test_old_rules_hold_and_odd_names_stay_safe(tmp_path):
    """Do the old id rules hold (stems, `-2` for a repeat, `...ipynb` and `.hidden.ipynb` made
    safe) while AppleDouble `._` files and checkpoints are ignored, not graded?"""
    d = tmp_path / "flat"
    for name in ("carol.ipynb", "...ipynb", ".hidden.ipynb", "._carol.ipynb", "Fall 2025 A1.ipynb"):
        _put(d / name)
    _put(d / ".ipynb_checkpoints" / "carol-checkpoint.ipynb")
    found = collect(AID, [d, d / "carol.ipynb"], tmp_path)
    ids = [e.student for e in found.entries]
    assert ids == ["student", "hidden", "Fall_2025_A1", "carol", "carol-2"]
    assert sorted(Path(p).name for p in found.ignored) == ["._carol.ipynb", ".ipynb_checkpoints"]


def test_out_inside_the_submissions_is_not_a_student(tmp_path):
    """Is a --out folder inside the submissions folder left out, its files not zero rows?"""
    d = tmp_path / "subs"
    _put(d / "carol.ipynb")
    _put(d / "README.md", "# the class")
    _put(d / "grades" / "grades.csv", "student,score")
    _put(d / "grades" / "carol" / "feedback.html", "<p>")
    found = collect(AID, [d], tmp_path, skip=(d / "grades",))
    assert [(e.student, e.kind) for e in found.entries] == [
        ("README", NOT_NOTEBOOK),
        ("carol", NOTEBOOK),
    ]


@pytest.mark.parametrize(
    "member",
    ["../evil.ipynb", "/abs/evil.ipynb", "a/../../evil.ipynb", "C:/evil.ipynb", "a\\..\\..\\evil"],
)
def test_unsafe_zip_members_are_refused(tmp_path, member):
    """Is a zip member that would land outside the extraction folder refused, nothing written?"""
    archive = _zip(tmp_path / "class.zip", {"ok.ipynb": NB, member: NB})
    work = tmp_path / "deep" / "work"
    work.mkdir(parents=True)
    with pytest.raises(ArchiveError, match="unsafe|leaves"):
        collect(AID, [archive], work)
    assert not list(tmp_path.rglob("evil*"))


def test_zip_caps(tmp_path, monkeypatch):
    """Do the member-count and size caps stop an oversized archive with a clear error?"""
    archive = _zip(tmp_path / "many.zip", {f"n{i}.ipynb": NB for i in range(5)})
    monkeypatch.setattr(submissions, "ZIP_MAX_MEMBERS", 4)
    with pytest.raises(ArchiveError, match="5 members"):
        submissions.extract_zip(archive, tmp_path / "a")
    monkeypatch.setattr(submissions, "ZIP_MAX_MEMBERS", 100)
    monkeypatch.setattr(submissions, "ZIP_MAX_BYTES", 3 * len(NB))
    with pytest.raises(ArchiveError, match="too large"):
        submissions.extract_zip(archive, tmp_path / "b")


def test_roster_maps_canvas_and_moodle_ids(tmp_path):
    """Does a roster CSV give names and emails to Canvas (`doejane`, user id) and Moodle ids,
    and name who handed in nothing?"""
    roster = _put(
        tmp_path / "roster.csv",
        "Student,ID,SIS Login ID,Email\n"
        '"Doe, Jane",23456,jdoe,jane@uni.edu\n'
        '"Smith, Bob",34567,bsmith,bob@uni.edu\n'
        '"Lee, Ann",99999,alee,ann@uni.edu\n'
        '"Park, Min",56789,mpark,\n',
    )
    names = load_roster(roster)
    entries = [
        submissions.Entry("doejane", Path("x"), layout="canvas"),
        submissions.Entry("someone", Path("x"), layout="canvas", lms_id="34567"),
        submissions.Entry("Ann_Lee", Path("x"), layout="moodle", name="Ann Lee"),
        submissions.Entry("nobody", Path("x")),
    ]
    got = [submissions.with_roster(e, names) for e in entries]
    assert [(e.name, e.email) for e in got] == [
        ("Doe, Jane", "jane@uni.edu"),
        ("Smith, Bob", "bob@uni.edu"),
        ("Lee, Ann", "ann@uni.edu"),
        ("", ""),
    ]
    assert submissions.absent(entries, names) == ["Park, Min"]  # on the roster, nothing handed in
