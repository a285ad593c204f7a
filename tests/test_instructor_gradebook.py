"""The instructor's term with a1 (NumPy, fast): a Canvas and Moodle class graded into one
gradebook, a single re-grade, an interrupt and a resume. Each scenario grades 1-3 notebooks."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import CORPUS, read_grades, run_grader

from autograder.core import load_assignment
from autograder.release import nbgrader

AID = "a1_convolution"
SUBMITTED = CORPUS / AID / "submitted"
FULL = load_assignment(AID).max_score
# A solution earns FULL, or one point less when a loaded machine slows the timed check
# (conv2d_im2col_speed) below its ratio: the scores below allow for that point only.
SOLVED = FULL - 1


def _sample(name: str) -> Path:
    return SUBMITTED / name / AID / f"{AID}.ipynb"


def _history(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    """A class: a Canvas folder (a late resubmission, a .py, macOS files, `...ipynb`) and a Moodle zip
    with a name with spaces, graded with a roster; then one student re-graded."""
    base = tmp_path_factory.mktemp("term")
    canvas = base / "Fall 2025 A1"  # a space in the path, as instructors name folders
    canvas.mkdir()
    shutil.copy(_sample("release"), canvas / f"doejane_23456_78901_{AID}.ipynb")
    shutil.copy(_sample("solution"), canvas / f"doejane_late_23456_78902_{AID}-1.ipynb")
    shutil.copy(_sample("release"), canvas / f"smithbob_34567_78903_{AID}.ipynb")
    (canvas / "leeann_45678_78904_solution.py").write_text("def corr2d(x, w): ...\n")
    (canvas / f"._smithbob_34567_78903_{AID}.ipynb").write_bytes(b"\0\5\x16\7 AppleDouble")
    shutil.copy(_sample("release"), canvas / "...ipynb")  # its stem is `..`: the id `student`
    moodle = base / "moodle.zip"
    with zipfile.ZipFile(moodle, "w") as zf:
        zf.write(_sample("mistake_no_flip"), f"Ann Kim_123_assignsubmission_file_/{AID}.ipynb")
        zf.writestr("__MACOSX/Ann Kim_123_assignsubmission_file_/._x", "x")
    roster = base / "roster.csv"
    roster.write_text(
        "Student,ID,SIS Login ID,Email\n"
        '"Doe, Jane",23456,jdoe,jane@uni.edu\n'
        '"Smith, Bob",34567,bsmith,bob@uni.edu\n'
        '"Park, Min",56789,mpark,min@uni.edu\n'
    )
    out = base / "out"
    tmp = base / "tmp"  # the graders' TMPDIR: the zip is extracted there, and removed
    tmp.mkdir()
    saved_tmpdir = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp)
    try:
        return _grade_term(base, canvas, moodle, roster, out)
    finally:
        if saved_tmpdir is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_tmpdir


def _grade_term(base: Path, canvas: Path, moodle: Path, roster: Path, out: Path) -> dict:
    first = run_grader(AID, [canvas, moodle], out, "--roster", str(roster), "--jobs", "2")
    grades_first = read_grades(out / "grades.csv")
    meta_first = (out / "submissions.csv").read_text()
    # Bob hands in a fixed notebook: re-grade him alone into the same --out.
    fixed = base / f"smithbob_34567_78999_{AID}-2.ipynb"
    shutil.copy(_sample("solution"), fixed)
    db = base / "gradebook.db"
    second = run_grader(AID, [fixed], out, "--roster", str(roster), "--nbgrader-db", str(db))
    return {
        "out": out,
        "first": first,
        "grades_first": grades_first,
        "meta_first": meta_first,
        "second": second,
        "base": base,
    }


def test_every_file_is_a_row_or_counted(term):
    """Is every file found graded or a zero "not a notebook" row, macOS files only counted?"""
    assert term["first"].returncode == 0, term["first"].stderr[-2000:]
    grades = term["grades_first"]
    assert sorted(grades) == ["Ann_Kim", "doejane", "leeann", "smithbob", "student"]
    assert float(grades["doejane"]["score"]) >= SOLVED  # the newest resubmission, not the first
    assert grades["Ann_Kim"]["conv2d_true"] == "0"  # the mistake in Ann's notebook
    assert float(grades["Ann_Kim"]["corr2d"]) == 2 and float(grades["Ann_Kim"]["score"]) > 0
    assert float(grades["leeann"]["score"]) == 0 and float(grades["smithbob"]["score"]) == 0
    stdout = term["first"].stdout
    assert "not a notebook (1, zero rows in grades.csv): leeann" in stdout
    assert "ignored 2 hidden or system file(s)" in stdout
    assert "on the roster, no submission found (1): Park, Min" in stdout
    assert f"doejane_23456_78901_{AID}.ipynb" in stdout.split("superseded")[1]
    feedback = (term["out"] / "leeann" / "feedback.html").read_text()
    assert "solution.py" in feedback and "not a Jupyter notebook" in feedback


def test_roster_and_canvas_data_are_kept(term):
    """Do grades.csv carry the roster's names and emails, and submissions.csv the late flag,
    the resubmission number and the LMS ids?"""
    grades = term["grades_first"]
    assert grades["doejane"]["email"] == "jane@uni.edu"
    assert grades["smithbob"]["name"] == "Smith, Bob"
    header = (term["out"] / "grades.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["student", "score", "max_score"] and header[-2:] == ["name", "email"]
    meta = {r["student"]: r for r in csv.DictReader(term["meta_first"].splitlines())}
    assert (meta["doejane"]["late"], meta["doejane"]["attempt"]) == ("yes", "1")
    assert meta["smithbob"]["late"] == "" and meta["Ann_Kim"]["lms_id"] == "123"
    assert meta["Ann_Kim"]["layout"] == "moodle" and len(meta["doejane"]["sha256"]) == 64


def test_regrading_one_student_keeps_the_class(term):
    """Does re-grading one student replace only their row, keep everyone else's, and say
    that their score changed (summary and history)?"""
    assert term["second"].returncode == 0, term["second"].stderr[-2000:]
    grades = read_grades(term["out"] / "grades.csv")
    assert sorted(grades) == ["Ann_Kim", "doejane", "leeann", "smithbob", "student"]
    score = float(grades["smithbob"]["score"])
    assert score >= SOLVED
    for other in ("Ann_Kim", "doejane", "leeann", "student"):
        assert grades[other] == term["grades_first"][other]
    assert f"changed: smithbob 0 -> {score:g}" in term["second"].stdout
    bob = [h for h in _history(term["out"]) if h["student"] == "smithbob"]
    assert [h["score"] for h in bob] == [0.0, score] and bob[1]["previous_score"] == 0.0
    assert bob[0]["sha256"] != bob[1]["sha256"] and bob[1]["grader"].startswith("0.")
    assert bob[1]["attempt"] == 2


def test_no_report_leaves_out(term):
    """Do names with spaces and `...ipynb` (stem `..`) write only inside --out, nothing next to
    it, not even the zip's temporary folder?"""
    out = term["out"]
    assert sorted(p.name for p in term["base"].iterdir()) == sorted(
        [
            "Fall 2025 A1",
            "tmp",
            "moodle.zip",
            "roster.csv",
            "out",
            "gradebook.db",
            f"smithbob_34567_78999_{AID}-2.ipynb",
        ]
    )
    assert (out / "Ann_Kim" / "feedback.html").is_file()
    assert (out / "student" / "feedback.html").is_file()
    assert list((term["base"] / "tmp").iterdir()) == []


def test_nbgrader_export_sees_the_scores(term, tmp_path):
    """Does `--nbgrader-db` put the whole class's scores where `nbgrader export` finds them?"""
    assert "nbgrader: 5 student(s) written" in term["second"].stdout
    proc = nbgrader(["export"], tmp_path, term["base"] / "gradebook.db")
    assert proc.returncode == 0, proc.stderr[-2000:]
    with (tmp_path / "grades.csv").open() as f:
        exported = {r["student_id"]: r for r in csv.DictReader(f) if r["assignment"] == AID}
    ours = read_grades(term["out"] / "grades.csv")
    assert sorted(exported) == sorted(ours)
    for student, row in ours.items():
        assert float(exported[student]["raw_score"]) == float(row["score"]), student
        assert float(exported[student]["max_score"]) == FULL


def test_lms_exports(term):
    """Do canvas.csv (Canvas ids, points possible) and moodle.csv (Participant N, full name)
    hold the whole class with the scores of grades.csv?"""
    out = term["out"]
    ours = read_grades(out / "grades.csv")
    with (out / "canvas.csv").open() as f:
        canvas = list(csv.DictReader(f))
    assert list(canvas[0])[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert canvas[0]["Student"] == "Points Possible" and float(canvas[0][AID]) == FULL
    by_id = {r["ID"] or r["SIS Login ID"]: r for r in canvas[1:]}
    assert sorted(by_id) == ["23456", "34567", "45678", "Ann_Kim", "student"]
    assert by_id["23456"]["Student"] == "Doe, Jane"
    assert float(by_id["34567"][AID]) == float(ours["smithbob"]["score"]) >= SOLVED
    with (out / "moodle.csv").open() as f:
        moodle = {r["Full name"]: r for r in csv.DictReader(f)}
    assert moodle["Ann Kim"]["Identifier"] == "Participant 123"
    assert float(moodle["Ann Kim"]["Grade"]) == float(ours["Ann_Kim"]["score"])
    assert "conv2d_true" in moodle["Ann Kim"]["Feedback comments"]  # the check she lost


def test_exports_defuse_formulas():
    """Is a name that a spreadsheet would run as a formula written as text?"""
    from autograder.exports import _no_formula

    assert _no_formula("=HYPERLINK(1)") == "'=HYPERLINK(1)" and _no_formula("-3") == "-3"
    assert _no_formula("@SUM") == "'@SUM" and _no_formula("Ann") == "Ann"


# --- an interrupt, for real -------------------------------------------------------------------


def _ours(tag: str) -> list[int]:
    """Processes whose environment names our temporary folder: the grader, zygote, children."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            env = Path(f"/proc/{name}/environ").read_bytes()
        except OSError:
            continue
        if tag.encode() in env:
            pids.append(int(name))
    return pids


def _with_sleep(sample: str, dest: Path, first: bool) -> None:
    """A sample notebook with a cell that sleeps 300 s, first or last: a notebook still running."""
    nb = nbformat.read(_sample(sample), as_version=4)
    cell = nbformat.v4.new_code_cell("import time\ntime.sleep(300)")
    cell.pop("id", None)  # the samples are nbformat 4.4: cells without ids
    nb.cells.insert(0 if first else len(nb.cells), cell)
    nbformat.write(nb, dest)


def _start_grader(args: list[str], env: dict) -> subprocess.Popen:
    """`autograder grade AID <args>` started as the command line starts it, output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "autograder", "grade", AID, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_interrupt_keeps_what_finished_and_resume_completes(tmp_path):
    """Does Ctrl-C after two results keep them in grades.csv, kill the running notebook, leave
    no temporary folder, exit 130 with a one-line summary; and does --resume grade only the rest?"""
    nbs = tmp_path / "class"
    nbs.mkdir()
    shutil.copy(_sample("solution"), nbs / "a_ann.ipynb")
    shutil.copy(_sample("release"), nbs / "b_bob.ipynb")
    _with_sleep("solution", nbs / "c_sleepy.ipynb", first=False)
    tmp = tmp_path / "tmp"  # the grader's TMPDIR: its temporary folders and its processes' tag
    tmp.mkdir()
    out = tmp_path / "out"
    env = dict(os.environ, TMPDIR=str(tmp), MPLBACKEND="Agg")
    args = [str(nbs), "--out", str(out)]
    proc = _start_grader([*args, "--jobs", "1", "--timeout", "200", "--quiet"], env)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            grades = out / "grades.csv"
            if grades.is_file() and len(read_grades(grades)) == 2:
                break
            time.sleep(0.2)
        time.sleep(1.0)  # the sleeper is running now
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        _stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr[-2000:]
    assert "interrupted: 2 of 3 submission(s) saved" in stderr
    assert "Traceback" not in stderr
    grades = read_grades(out / "grades.csv")
    assert sorted(grades) == ["a_ann", "b_bob"]
    assert float(grades["a_ann"]["score"]) >= SOLVED
    time.sleep(1.0)
    assert _ours(str(tmp)) == []  # no zygote, no child, no grader left
    assert list(tmp.iterdir()) == []  # no temporary folder left

    # --resume: only the sleeper is graded (its sleeping cell stopped by the timeout, the
    # functions still checked); the others keep their rows and are not graded again.
    again = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", AID, *args]
        + ["--resume", "--timeout", "8", "--jobs", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert "--resume: 2 already graded, not graded again" in again.stdout
    grades = read_grades(out / "grades.csv")
    assert sorted(grades) == ["a_ann", "b_bob", "c_sleepy"]
    assert "running out of time" in (out / "c_sleepy" / "feedback.html").read_text()
    assert [h["student"] for h in _history(out)] == ["a_ann", "b_bob", "c_sleepy"]
    assert list(tmp.iterdir()) == []


def test_interrupt_before_any_result(tmp_path):
    """Does Ctrl-C while the sandbox starts or the first notebook runs save nothing wrong,
    leave no process and no temporary folder, and exit 130 saying nothing was saved?"""
    _with_sleep("release", tmp_path / "sleepy.ipynb", first=True)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "out"
    env = dict(os.environ, TMPDIR=str(tmp), MPLBACKEND="Agg")
    proc = _start_grader([str(tmp_path / "sleepy.ipynb"), "--out", str(out), "--quiet"], env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (out / "grades.csv").is_file():
            time.sleep(0.05)  # written before the sandbox starts
        proc.send_signal(signal.SIGINT)
        _stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr[-2000:]
    assert "interrupted: 0 of 1 submission(s) saved" in stderr and "Traceback" not in stderr
    assert read_grades(out / "grades.csv") == {}
    time.sleep(1.0)
    assert _ours(str(tmp)) == []
    assert list(tmp.iterdir()) == []
