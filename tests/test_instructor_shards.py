"""A class graded as a Slurm job array: `--shard K/N`, `autograder merge`, and the shipped
scripts/grade_array.sbatch. Where Slurm is installed (root, Debian's slurm-wlm and munge) the
array and its merge job run on a private single-node cluster (scripts/slurm_single_node.sh);
elsewhere bash runs the script's tasks as Slurm would. A small a1 class (three notebooks that
run, a broken one, a .py) is graded once whole and once in two shards."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT, read_grades, run_grader

from autograder.core import load_assignment
from autograder.grade import grade
from autograder.release import nbgrader
from autograder.shards import merge, parse_shard, shard_of

AID = "a1_convolution"
ASSIGNMENT = load_assignment(AID)
# A timed check's point can differ between two runs on a loaded machine: compared apart.
TIMED = {c.name: c.points for c in ASSIGNMENT.checks if c.timing is not None}
TEMPLATE = ROOT / "scripts" / "grade_array.sbatch"
N = 2


def _class_folder(base: Path) -> Path:
    folder = base / "Fall 2025 A1"
    folder.mkdir()
    for name in ("solution", "release", "mistake_no_flip", "broken_not_json"):
        shutil.copy(
            CORPUS / AID / "submitted" / name / AID / f"{AID}.ipynb", folder / f"{name}.ipynb"
        )
    (folder / "leeann.py").write_text("def corr2d(x, w): ...\n")
    return folder


def _array_task(base: Path, env: dict, task: str | None) -> subprocess.Popen:
    """One task of the array (or the merge job), as Slurm runs the script: bash, env vars."""
    task_env = dict(env)
    args = ["bash", str(TEMPLATE)]
    if task is None:
        args.append("merge")
    else:
        task_env["SLURM_ARRAY_TASK_ID"] = task
    return subprocess.Popen(
        args, env=task_env, cwd=base, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


SINGLE_NODE = ROOT / "scripts" / "slurm_single_node.sh"
SLURM = os.geteuid() == 0 and all(
    shutil.which(tool) for tool in ("munged", "slurmctld", "slurmd", "sbatch", "sinfo")
)


@contextlib.contextmanager
def _single_node_slurm(folder: Path):
    """A private Slurm cluster on this machine for the duration; yields its slurm.conf."""
    subprocess.run(
        [str(SINGLE_NODE), "start", str(folder)], check=True, capture_output=True, timeout=120
    )
    try:
        yield folder / "slurm.conf"
    finally:
        subprocess.run([str(SINGLE_NODE), "stop", str(folder)], check=False, timeout=60)


def _sbatch(base: Path, env: dict, *options: str, merge: bool = False):
    """sbatch the template with the test machine's resources (its #SBATCH lines ask more)."""
    return subprocess.run(
        ["sbatch", "--cpus-per-task=1", "--mem=1G", *options, str(TEMPLATE)]
        + (["merge"] if merge else []),
        env=env,
        cwd=base,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class graded in one run and as an array of N shards then merged."""
    base = tmp_path_factory.mktemp("shards")
    folder = _class_folder(base)
    wrapper = base / "autograder"  # the command the script calls: this test's Python
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m autograder "$@"\n')
    wrapper.chmod(0o755)
    env = dict(
        os.environ,
        MPLBACKEND="Agg",
        AID=AID,
        SUBMISSIONS=str(folder),
        OUT=str(base / "array"),
        N=str(N),
        COURSE=str(base),
        AUTOGRADER=str(wrapper),
        SLURM_CPUS_PER_TASK="1",
    )
    if SLURM:
        with _single_node_slurm(base / "slurm") as conf:
            env["SLURM_CONF"] = str(conf)
            del env["SLURM_CPUS_PER_TASK"]  # Slurm sets it
            jid = _sbatch(base, env, f"--array=0-{N - 1}", "--parsable").stdout.strip()
            single = run_grader(AID, [folder], base / "single", "--jobs", "1", "--quiet")
            merged = _sbatch(base, env, "--wait", f"--dependency=afterok:{jid}", merge=True)
        logs = [base / f"autograder-{jid}_{k}.log" for k in range(N)]
        rc = 0 if merged.returncode == 0 else 1  # afterok: the merge ran only if every task passed
        outputs = [(log.read_text() if log.is_file() else "", "", rc) for log in logs]
        merge_log = next(base.glob("autograder-*_4294967294.log"), None)  # %a of a non-array job
        merge_out = (merge_log.read_text() if merge_log else "", merged.stderr, merged.returncode)
    else:
        tasks = [_array_task(base, env, str(k)) for k in range(N)]
        single = run_grader(AID, [folder], base / "single", "--jobs", "1", "--quiet")
        outputs = [(*t.communicate(timeout=600), t.returncode) for t in tasks]
        merged = _array_task(base, env, None)
        merge_out = (*merged.communicate(timeout=600), merged.returncode)
    return {
        "runner": "slurm" if SLURM else "bash",
        "base": base,
        "single": single,
        "tasks": outputs,
        "merge": merge_out,
        "one": base / "single",
        "array": base / "array",
        "shards": [base / "array-shards" / str(k) for k in range(N)],
    }


def _normalised(path: Path) -> dict[str, dict[str, str]]:
    """grades.csv rows with the timed checks' points taken out of the score."""
    rows = read_grades(path)
    for row in rows.values():
        for name in TIMED:
            row["score"] = f"{float(row['score']) - float(row.pop(name)):g}"
    return rows


def test_array_tasks_and_merge_succeed(graded):
    """Do the single run, every array task and the merge job exit 0?"""
    assert graded["single"].returncode == 0, graded["single"].stderr[-2000:]
    for k, (stdout, stderr, rc) in enumerate(graded["tasks"]):
        assert rc == 0, (stdout + stderr)[-2000:]
        assert "student" in stdout and f"of shard {k}/{N} in" in stdout  # --quiet: a summary
        assert "grading:" not in stderr  # and drops the progress bar
    stdout, stderr, rc = graded["merge"]
    assert rc == 0, stderr[-2000:]
    assert f"merged {N} folder(s): 5 student(s)" in stdout


def test_array_runs_on_slurm_where_installed(graded):
    """Where Slurm is installed, did the array and its merge job run on it (a log per task)?"""
    if graded["runner"] != "slurm":
        pytest.skip("no Slurm here (root with slurm-wlm and munge): bash ran the tasks")
    assert all(out for out, _, _ in graded["tasks"])


def test_shards_split_the_class(graded):
    """Does each student land in exactly one shard, as its hash says?"""
    one = set(read_grades(graded["one"] / "grades.csv"))
    assert one == {"solution", "release", "mistake_no_flip", "broken_not_json", "leeann"}
    parts = [set(read_grades(folder / "grades.csv")) for folder in graded["shards"]]
    assert set().union(*parts) == one and sum(map(len, parts)) == len(one)
    for k, part in enumerate(parts):
        assert all(shard_of(s, N) == k for s in part)
        info = json.loads((graded["shards"][k] / "grading.json").read_text())
        assert info["shard"] == f"{k}/{N}"


def test_merge_equals_one_run(graded):
    """Are the merged grades.csv, submissions.csv and student folders those of one run
    (the timed check's point aside)?"""
    one, array = graded["one"], graded["array"]
    assert _normalised(array / "grades.csv") == _normalised(one / "grades.csv")
    assert (array / "grades.csv").read_text().splitlines()[0] == (
        one / "grades.csv"
    ).read_text().splitlines()[0]

    def meta(out: Path) -> list[dict]:
        with (out / "submissions.csv").open() as f:
            return [{k: v for k, v in r.items() if k != "graded_at"} for r in csv.DictReader(f)]

    assert meta(array) == meta(one)
    for student in read_grades(one / "grades.csv"):
        a = json.loads((array / student / "results.json").read_text())
        b = json.loads((one / student / "results.json").read_text())
        assert [t["name"] for t in a["tests"]] == [t["name"] for t in b["tests"]]
        untimed = [
            (t["score"], t["output"]) for t in a["tests"] if t["name"].split(":")[0] not in TIMED
        ]
        assert untimed == [
            (t["score"], t["output"]) for t in b["tests"] if t["name"].split(":")[0] not in TIMED
        ]
        assert (array / student / "feedback.html").is_file()


def test_merged_exports_history_and_report(graded):
    """Do the merged canvas.csv, history.jsonl, grading.json and report.html cover the whole
    class as one run's do?"""
    one, array = graded["one"], graded["array"]

    def canvas_ids(out: Path) -> list[list[str]]:
        rows = list(csv.reader(io.StringIO((out / "canvas.csv").read_text())))
        return [r[:5] for r in rows]

    assert canvas_ids(array) == canvas_ids(one)
    history = [json.loads(line) for line in (array / "history.jsonl").read_text().splitlines()]
    single = [json.loads(line) for line in (one / "history.jsonl").read_text().splitlines()]
    assert sorted((h["student"], h["sha256"]) for h in history) == sorted(
        (h["student"], h["sha256"]) for h in single
    )
    info = json.loads((array / "grading.json").read_text())
    assert info["class"] == 5 and info["submissions"] == 5
    report = (array / "report.html").read_text()
    assert "5 student(s) in the gradebook" in report
    assert "true convolution flips the kernel" in report  # mistake_no_flip's, from shard files


def test_merging_again_adds_nothing(graded, tmp_path):
    """Does a second merge of the same shards into the same gradebook keep one history line
    per grading and the same grades?"""
    out = tmp_path / "again"
    merge(graded["shards"], out, progress=False)
    first = (out / "grades.csv").read_text()
    merge(graded["shards"], out, progress=False)
    assert (out / "grades.csv").read_text() == first
    assert len((out / "history.jsonl").read_text().splitlines()) == 5


def test_merge_refuses_a_missing_shard(graded, tmp_path):
    """Does merging without shard 1 of 2 stop with one line naming it, writing nothing?"""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "merge",
            str(graded["shards"][0]),
            "--out",
            str(tmp_path / "m"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert f"shard(s) 1/{N} missing" in proc.stderr
    assert not (tmp_path / "m" / "grades.csv").exists()


def test_merge_writes_the_class_into_the_nbgrader_gradebook(graded, tmp_path):
    """Does the array's merge job with NBGRADER_DB (`autograder merge --nbgrader-db`) write
    the merged class's scores where `nbgrader export` finds them, as one run's
    `--nbgrader-db` does?"""
    db = tmp_path / "gradebook.db"
    env = dict(
        os.environ,
        AID=AID,
        OUT=str(tmp_path / "merged"),
        SHARDS=str(graded["base"] / "array-shards"),
        N=str(N),
        COURSE=str(graded["base"]),
        AUTOGRADER=str(graded["base"] / "autograder"),
        NBGRADER_DB=str(db),
    )
    job = _array_task(graded["base"], env, None)
    stdout, stderr = job.communicate(timeout=300)
    assert job.returncode == 0, stderr[-2000:]
    assert f"nbgrader: 5 student(s) written to {db}" in stdout
    proc = nbgrader(["export"], tmp_path, db)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with (tmp_path / "grades.csv").open() as f:
        exported = {r["student_id"]: float(r["raw_score"]) for r in csv.DictReader(f)}
    merged = read_grades(tmp_path / "merged" / "grades.csv")
    assert exported == {s: float(row["score"]) for s, row in merged.items()}


def test_a_gradebook_db_that_cannot_be_written_keeps_the_merge(graded, tmp_path):
    """When the nbgrader database cannot be written (here a folder), does merge say so in one
    line and keep the merged grades.csv?"""
    (tmp_path / "db").mkdir()
    with pytest.raises(ValueError, match=r"grades merged into .*, but not written to .*db: "):
        merge(graded["shards"], tmp_path / "out", progress=False, nbgrader_db=tmp_path / "db")
    assert len(read_grades(tmp_path / "out" / "grades.csv")) == 5


def test_a_shard_refuses_to_write_the_nbgrader_gradebook(tmp_path):
    """Does `grade --shard K/N --nbgrader-db` stop with one line pointing to `merge`, before
    grading anything (shards on several machines would write one SQLite file at once)?"""
    proc = run_grader(
        AID,
        [tmp_path],
        tmp_path / "out",
        "--shard",
        "0/2",
        "--nbgrader-db",
        str(tmp_path / "gradebook.db"),
    )
    assert proc.returncode == 2
    assert "give --nbgrader-db to `autograder merge`" in proc.stderr
    assert not (tmp_path / "gradebook.db").exists() and not (tmp_path / "out").exists()


def test_shard_of_is_stable_and_even():
    """Does a student's shard depend on the id alone, and do 2,000 ids spread evenly?"""
    ids = [f"student{i:04d}" for i in range(2000)]
    forward = {s: shard_of(s, 4) for s in ids}
    assert {s: shard_of(s, 4) for s in reversed(ids)} == forward
    counts = [list(forward.values()).count(k) for k in range(4)]
    assert all(400 < c < 600 for c in counts), counts


@pytest.mark.parametrize("text", ["2/2", "-1/2", "1", "a/b", "0/0"])
def test_bad_shard_is_refused(text):
    """Is a shard outside 0..N-1, or not K/N, refused with a message?"""
    with pytest.raises(ValueError, match="--shard"):
        parse_shard(text)


def test_an_empty_shard_merges(tmp_path):
    """Does a shard with no student write an empty gradebook, and does merging it with the
    other give the whole class? (Files that are not notebooks: nothing runs.)"""
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("ann", "bob"):  # both in shard 0 of 2: shard 1 is empty
        assert shard_of(name, 2) == 0
        (folder / f"{name}.py").write_text("x = 1\n")
    outs = [tmp_path / f"shard{k}" for k in range(2)]
    for k, out in enumerate(outs):
        grade(AID, [folder], out, shard=(k, 2), progress=False, summary=False)
    assert read_grades(outs[1] / "grades.csv") == {}
    assert json.loads((outs[1] / "grading.json").read_text())["shard"] == "1/2"
    merge(outs, tmp_path / "class-out", progress=False)
    assert sorted(read_grades(tmp_path / "class-out" / "grades.csv")) == ["ann", "bob"]
