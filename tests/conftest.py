"""Shared helpers: run the grader as its users do, in a process of its own."""

from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from autograder.release import autograde_with_nbgrader, prepare_course

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "submissions"


def pytest_addoption(parser):
    parser.addoption(
        "--full",
        action="store_true",
        help="`make test-full`: run the tests marked `full` (notebooks in full mode) and nbgrader on the whole corpus",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "full: runs notebooks in full mode; only with --full (`make test-full`)"
    )


# `make test` spreads the work over pytest-xdist workers with `--dist loadfile`, adjusted here:
# a test file stays on one worker (its module fixtures are shared), except that each notebook
# run is a unit of its own, so that the dozens of lecture, answer and solution notebooks spread
# over the workers instead of queueing on one; and the units start longest first (longest
# processing time first: the last units to start are short, so both workers finish together).
# UNIT_SECONDS: what each unit of 10 s or more took on one of two workers of `make test` on a
# 2-core machine (measured 2026-11-23); a unit not named counts as short and keeps its place.
# Scheduling only: every test still runs, and a stale number only costs a less even finish.
NOTEBOOK_RUN = re.compile(r"::test_\w+_in_(fast|full)_mode\[")
UNIT_SECONDS = {
    "test_a4_grading.py": 185,
    "test_a2_grading.py": 159,
    "test_isolation.py": 95,
    "test_a5_grading.py": 92,
    "test_course_notebooks.py::test_solution_runs_in_fast_mode[a5_inside_cnns]": 82,
    "test_visible_rules.py": 66,
    "test_course_notebooks.py::test_solution_runs_in_fast_mode[a4_keras_training]": 63,
    "test_a3_grading.py": 60,
    "test_a0_grading.py": 55,
    "test_course_notebooks.py::test_notebook_runs_in_fast_mode[12_fooling_and_shortcuts]": 46,
    "test_instructor_shards.py": 39,
    "test_instructor_gradebook.py": 36,
    "test_a1_nbgrader.py": 34,
    "test_a0_nbgrader.py": 34,
    "test_course_notebooks.py::test_notebook_runs_in_fast_mode[09_transfer_learning]": 33,
    "test_a3_nbgrader.py": 33,
    "test_course_notebooks.py::test_notebook_runs_in_fast_mode[07_regularization]": 32,
    "test_course_notebooks.py::test_solution_runs_in_fast_mode[a2_keras_cnn]": 31,
    "test_course_notebooks.py::test_notebook_runs_in_fast_mode[05_cnn_in_keras]": 30,
    "test_a1_grading.py": 29,
    "test_course_answers.py::test_answers_run_in_fast_mode[05_cnn_in_keras]": 29,
    "test_course_notebooks.py::test_notebook_runs_in_fast_mode[08_optimizers_and_losses]": 28,
    "test_course_answers.py::test_answers_run_in_fast_mode[12_fooling_and_shortcuts]": 23,
    "test_course_answers.py::test_answers_run_in_fast_mode[11_style_transfer]": 20,
    "test_course_answers.py::test_answers_run_in_fast_mode[10_inside_a_cnn]": 19,
    "test_course_answers.py::test_answers_run_in_fast_mode[09_transfer_learning]": 18,
    "test_course_notebooks.py::test_notebook_runs_in_fast_mode[10_inside_a_cnn]": 17,
    "test_models.py": 16,
    "test_a5_reference.py": 16,
    "test_engine.py": 16,
    "test_course_answers.py::test_answers_run_in_fast_mode[07_regularization]": 14,
    "test_quiet_tensorflow.py": 12,
    "test_course_notebooks.py::test_notebook_runs_in_fast_mode[11_style_transfer]": 12,
    "test_course_notebooks.py::test_notebook_runs_in_fast_mode[06_backprop_through_a_cnn]": 11,
    "test_course_notebooks.py::test_notebook_runs_in_fast_mode[03_pooling_and_architectures]": 10,
    "test_course_answers.py::test_answers_run_in_fast_mode[08_optimizers_and_losses]": 10,
}


def _unit(nodeid: str) -> str:
    """The scheduling unit of a test, as UNIT_SECONDS names it: its file, or its notebook run."""
    path, _, rest = nodeid.partition("::")
    name = path.rsplit("/", 1)[-1]
    return f"{name}::{rest}" if NOTEBOOK_RUN.search(nodeid) else name


def _rank(nodeid: str) -> int:
    return -UNIT_SECONDS.get(_unit(nodeid), 0)


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class NotebooksApart(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return nodeid if NOTEBOOK_RUN.search(nodeid) else super()._split_scope(nodeid)

    config.option.loadscopereorder = False  # keep the order below, not "most tests first"
    return NotebooksApart(config, log)


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: _rank(item.nodeid))  # stable: a file's tests keep their order
    if config.getoption("--full"):
        return
    skip = pytest.mark.skip(reason="full mode is `make test-full`, not part of `make test`")
    for item in items:
        if "full" in item.keywords:
            item.add_marker(skip)


def run_grader(
    aid: str, paths: list[Path], out: Path, *extra: str, timeout: float = 600
) -> subprocess.CompletedProcess:
    """``autograder grade`` exactly as the command line runs it."""
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade",
            aid,
            *map(str, paths),
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def read_grades(path: Path) -> dict[str, dict[str, str]]:
    with path.open() as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def expected(aid: str) -> dict[str, tuple[float, str]]:
    with (CORPUS / aid / "expected.csv").open() as f:
        return {row["student"]: (float(row["score"]), row["kind"]) for row in csv.DictReader(f)}


# nbgrader's own harness costs a kernel start and the whole notebook per submission. `make test`
# runs it on this part of each honest corpus: the solution, and for the NumPy assignments the
# untouched release and a mistake in a timed or trained check (a Keras notebook costs half a
# minute under nbgrader: a2 adds a CNN that cannot learn); `make test-full` (`--full`) on all of
# it. The fast harness grades its corpus (or FAST_SAMPLE of it) in both. An assignment not named
# here gets DEFAULT_SAMPLE.
DEFAULT_SAMPLE = ("solution", "release")
NBGRADER_SAMPLE = {
    "a0_neurons": ("solution", "release", "mistake_train_fixed_lr"),
    "a1_convolution": ("solution", "release", "mistake_im2col_slow"),
    "a2_keras_cnn": ("solution", "mistake_cnn_cannot_learn"),
    "a3_backprop": ("solution", "release", "mistake_cnn_ignores_input"),
    "a4_keras_training": ("solution",),
    "a5_inside_cnns": ("solution",),
}


def nbgrader_corpus(aid: str, honest: dict, config) -> dict:
    """The honest submissions that nbgrader grades in this run: all with ``--full``, else the sample."""
    sample = NBGRADER_SAMPLE.get(aid, DEFAULT_SAMPLE)
    missing = set(sample) - set(honest)
    assert not missing, f"NBGRADER_SAMPLE names submissions that are not in the corpus: {missing}"
    if config.getoption("--full"):
        return dict(honest)
    return {s: v for s, v in honest.items() if s in sample}


# The fast harness on a Keras assignment's corpus: every submission trains a model (seconds of CPU
# each). `make test` grades this sample of it: the solution, the release, every hostile and broken
# submission, and mistakes that fail different kinds of check; `make test-full` all of it. NumPy
# assignments' corpora are graded whole in both.
FAST_SAMPLE = {
    "a2_keras_cnn": (
        "mistake_spec_ignores_padding",
        "mistake_cnn_over_budget",
        "mistake_cnn_cannot_learn",
    ),
    "a4_keras_training": (
        "mistake_step_off_by_one",
        "mistake_callback_on_loss",
        "mistake_soft_iou_threshold",
        "mistake_base_not_frozen",
        "mistake_fine_tune_bn_unfrozen",
    ),
    "a5_inside_cnns": (
        "mistake_gram_scrambled",
        "mistake_content_numpy",
        "mistake_saliency_softmax",
        "mistake_fgsm_no_clip",
        "mistake_fix_memorises_test_cue",
    ),
}


def fast_corpus(aid: str, expected: dict, config) -> dict:
    """The submissions the fast harness grades in this run: all with ``--full`` or for an
    assignment not in FAST_SAMPLE, else the sampled mistakes and every other kind."""
    if aid not in FAST_SAMPLE or config.getoption("--full"):
        return dict(expected)
    missing = set(FAST_SAMPLE[aid]) - set(expected)
    assert not missing, f"FAST_SAMPLE names submissions that are not in the corpus: {missing}"
    return {s: v for s, v in expected.items() if v[1] != "mistake" or s in FAST_SAMPLE[aid]}


def grade_corpus(aid: str, students, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """``autograder grade`` on ``students`` of the corpus, copied into one nbgrader-layout folder
    next to ``out`` (the whole corpus folder when that is all of it)."""
    folder = CORPUS / aid / "submitted"
    if set(students) != {p.name for p in folder.iterdir() if p.is_dir()}:
        sample = out.parent / f"{out.name}-submitted"
        for student in students:
            shutil.copytree(folder / student, sample / student)
        folder = sample
    return run_grader(aid, [folder], out, *extra)


def skip_unless_graded(grades: dict, student: str) -> None:
    """Skip a per-student test for a submission this run did not grade."""
    if student not in grades:
        pytest.skip("the fast harness grades the whole corpus in `make test-full`")


def skip_unless_sampled(scores: dict, student: str) -> None:
    """Skip a per-student nbgrader test for a submission this run did not give to nbgrader."""
    if student not in scores:
        pytest.skip("nbgrader grades the whole corpus in `make test-full`")


@pytest.fixture(scope="session")
def prepared_course(tmp_path_factory):
    """``prepared_course(aid)``: a scratch course root with a fresh nbgrader release of
    ``solutions/<aid>`` and a gradebook that knows it, made once per test process (one
    ``generate_assignment``, ten seconds) and shared, read-only, by the release checks and
    every nbgrader run of the assignment."""
    made: dict[str, Path] = {}

    def get(aid: str) -> Path:
        if aid not in made:
            made[aid] = prepare_course(aid, tmp_path_factory.mktemp(f"course-{aid}"))
        return made[aid]

    return get


def nbgrader_scores_sharded(
    aid: str, notebooks: dict[str, Path], workdir: Path, prepared: Path, shards: int = 2
):
    """``nbgrader autograde`` on ``{student: notebook}``, in ``shards`` copies of the course
    root ``prepared`` at once.

    Each notebook pays a kernel start and its imports, mostly single-threaded work that a
    second core overlaps; the scores are nbgrader's own, from its gradebooks.
    """
    students = sorted(notebooks)
    parts = [students[i::shards] for i in range(shards)]
    with ThreadPoolExecutor(shards) as pool:
        runs = [
            pool.submit(
                autograde_with_nbgrader,
                aid,
                {s: notebooks[s] for s in part},
                workdir / f"course{i}",
                prepared,
            )
            for i, part in enumerate(parts)
            if part
        ]
        scores: dict[str, float] = {}
        for run in runs:
            scores.update(run.result()[0])
    return scores


def release_problems(aid: str, course: Path, solution_only: tuple[str, ...] = ()) -> list[str]:
    """What is wrong with ``assignments/<aid>``: stale against the fresh nbgrader release of
    ``solutions/<aid>`` in the prepared ``course`` root, or holding solution code, hidden tests
    or ``solution_only`` snippets."""

    def cells(path):
        nb = nbformat.read(path, as_version=4)
        return [(c.cell_type, c.source, json.dumps(c.metadata, sort_keys=True)) for c in nb.cells]

    released = ROOT / "assignments" / aid / f"{aid}.ipynb"
    problems = []
    if cells(released) != cells(course / "assignments" / aid / f"{aid}.ipynb"):
        problems.append("assignments/ is stale: run `make release` (never edit it by hand)")
    release = nbformat.read(released, as_version=4)
    text = "\n".join(c.source for c in release.cells)
    hidden = (
        "BEGIN SOLUTION",
        "HIDDEN TESTS",
        "run_in_kernel",
        "from autograder",
        "import autograder",
    )
    for leak in (*hidden, *solution_only):
        if leak in text:
            problems.append(f"the release holds {leak!r}")
    stubs = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("solution")]
    if not stubs or not all("raise NotImplementedError()" in c.source for c in stubs):
        problems.append(
            "a solution cell of the release is not a `raise NotImplementedError()` stub"
        )
    return problems


def feedback_text(out: Path, student: str) -> str:
    """What the student reads in ``feedback.html``, HTML entities decoded and code spans
    written back as `x`."""
    return html.unescape(re.sub("</?code>", "`", (out / student / "feedback.html").read_text()))


def feedback_leaks(out: Path, students, extra: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """``(student, marker)`` for every hidden-test marker, traceback or ``extra`` secret that
    a student's ``feedback.html`` shows."""
    markers = ("run_in_kernel", "HIDDEN TESTS", "autograder.reference", "Traceback", *extra)
    return [
        (student, marker)
        for student in students
        for marker in markers
        if marker in (out / student / "feedback.html").read_text()
    ]


def stdout_of(cell) -> str:
    """All the text a code cell printed: a kernel may deliver one print in several stream messages."""
    return "".join(
        o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream"
    ).strip()
