"""The class report (report.html): built from a synthetic a1 class, no grading run.

The messages below are worded as a1's checks word them (`compare_array` mistakes after the
"`fn` failed on case i of n (label): " prefix), with different cases and numbers per student."""

from __future__ import annotations

import base64
import json
import re
import warnings
from pathlib import Path

import pytest

from autograder import grade as grade_module
from autograder.classreport import REPORT, mistake_text, rank_mistakes, report_html, write_report
from autograder.core import load_assignment

AID = "a1_convolution"
A1 = load_assignment(AID)
NO_FLIP = (
    "your output equals true convolution: Keras's Conv2D does not flip the kernel "
    "(cross-correlation)"
)
HOSTILE = "<script>alert('x')</script> & `<img src=x onerror=alert(1)>`"
BIAS = "the bias is missing: add b[k] to every output of filter k"


def _corr_fail(case: int, problem: str) -> str:
    return (
        f"`corr2d` failed on case {case} of 7 (image (6, 9) float64, kernel (3, 2) float64): "
        f"{problem}"
    )


def _student(failures: dict[str, str], status: str = "ok", seconds: float = 1.5):
    """A gradebook row and a results.json: every a1 check passes except ``failures``."""
    checks = {c.name: (0.0 if c.name in failures else float(c.points)) for c in A1.checks}
    row = {"score": sum(checks.values()), "max_score": A1.max_score, "checks": checks}
    row["status"] = status
    tests = [
        {
            "name": f"{c.name}: {c.description}",
            "score": checks[c.name],
            "max_score": c.points,
            "status": "failed" if c.name in failures else "passed",
            "output": failures.get(c.name, f"`{c.function}`: all cases correct"),
        }
        for c in A1.checks
    ]
    return row, {"score": row["score"], "execution_time": seconds, "tests": tests}


def _not_run(status: str, why: str):
    """A student whose notebook did not run: every check 'was not checked'."""
    failures = {c.name: f"`{c.function}` was not checked: {why}" for c in A1.checks}
    return _student(failures, status=status, seconds=0.0)


@pytest.fixture(scope="module")
def klass():
    """11 students: 4 flipped the kernel in corr2d (on different cases), 2 wrong numbers
    (different differences), 1 with a hostile error and the bias missing in two checks,
    1 solved, 1 timeout, 1 broken file, 1 not a notebook."""
    students = {
        "s0": _student({}),
        "s1": _student({"corr2d": _corr_fail(1, NO_FLIP)}, seconds=2.0),
        "s2": _student({"corr2d": _corr_fail(3, NO_FLIP)}),
        "s3": _student({"corr2d": _corr_fail(1, NO_FLIP), "zero_pad": _pad_fail()}),
        "s4": _student({"corr2d": _corr_fail(5, NO_FLIP)}),
        "s5": _student(
            {"corr2d": _corr_fail(2, "largest difference 0.31 exceeds the tolerance 0.0001")}
        ),
        "s6": _student(
            {"corr2d": _corr_fail(4, "largest difference 2.5 exceeds the tolerance 0.0001")}
        ),
        "s7": _student(
            {
                "im2col": f"`im2col` failed on case 1 of 3: raised ValueError: {HOSTILE}",
                "conv2d_forward_basic": f"`conv2d_forward` failed on case 2 of 6 (x (1, 5, 5, 1)): {BIAS}",
                "conv2d_forward_options": f"`conv2d_forward` failed on case 1 of 9: {BIAS}",
                "conv2d_im2col": "`conv2d_im2col` failed on case 1 of 5: returned a Rigged; return a NumPy array",
            }
        ),
        "t1": _not_run("timeout", "the notebook ran past the 120 s limit"),
        "b1": _not_run("broken", "the file is not valid JSON"),
        "n1": _not_run("not a notebook", "the submitted file 'x.py' is not a notebook"),
    }
    rows = {k: v[0] for k, v in students.items()}
    results = {k: v[1] for k, v in students.items()}
    return rows, results


@pytest.fixture(scope="module")
def page(klass) -> str:
    """The class's report, rendered once (plots take a second)."""
    return report_html(A1, *klass)


def _pad_fail() -> str:
    return (
        "`zero_pad` failed on case 2 of 4 (x (2, 5, 5, 3) float64, pad=((1, 2), (0, 1))): "
        "before and after are swapped: pad is ((top, bottom), (left, right))"
    )


def test_mistake_text_drops_case_and_label():
    """Is the mistake the text after the case prefix, with a label holding parentheses?"""
    assert mistake_text(_corr_fail(3, NO_FLIP)) == NO_FLIP
    assert mistake_text(_pad_fail()).startswith("before and after are swapped: pad is ((top")
    assert (
        mistake_text("`f` is not defined in your notebook") == "`f` is not defined in your notebook"
    )


def test_ranking_and_percentages(klass, page):
    """Is the kernel mistake first, 4 of 11 students (36%), one row whatever the case numbers?"""
    rows, results = klass
    ranked = rank_mistakes(results, len(rows))
    first = ranked[0]
    assert (first.checks, first.text, first.students, first.named) == (
        ("corr2d",),
        NO_FLIP,
        4,
        True,
    )
    assert first.share == pytest.approx(4 / 11)
    assert sum(m.text == NO_FLIP for m in ranked) == 1
    # wrong numbers group up to their numbers, and are not a named mistake
    diff = [m for m in ranked if m.text.startswith("largest difference")]
    assert len(diff) == 1 and diff[0].students == 2 and not diff[0].named
    assert diff[0].text == "largest difference N exceeds the tolerance N"
    pad = [m for m in ranked if "zero_pad" in m.checks]
    assert len(pad) == 1 and pad[0].named and pad[0].students == 1
    # one mistake said by two checks is one row, its student counted once
    bias = [m for m in ranked if m.text == BIAS]
    assert len(bias) == 1 and bias[0].students == 1
    assert bias[0].checks == ("conv2d_forward_basic", "conv2d_forward_options")
    # a wrong return type is not a named mistake
    assert not next(m for m in ranked if m.text.startswith("returned a Rigged")).named
    # checks that never ran are failure counts, not mistakes
    assert not any("was not checked" in m.text for m in ranked)

    assert "case 3 of 7" not in page and "kernel (3, 2)" not in page  # no case, no inputs
    assert f"36% (4)</td><td>{NO_FLIP.replace(chr(39), '&#x27;')}</td><td>corr2d</td>" in page


def test_hostile_message_is_escaped(page):
    """Is a student-chosen error text escaped, never live markup?"""
    assert "<script>" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; " in page
    assert "<code>&lt;img src=x onerror=alert(1)&gt;</code>" in page  # a code span, escaped


def test_plots_present(page):
    """Are the histogram, per-check, mistakes and run-time plots embedded PNGs?"""
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 4
    assert all(base64.b64decode(img).startswith(b"\x89PNG") for img in images)
    assert "<h2>Scores</h2>" in page and "<h2>Checks</h2>" in page


def test_a_class_with_one_mistake_lays_out_its_plots():
    """Is a report whose mistakes chart has a single bar laid out whole (title and axis label
    inside the figure: matplotlib warns when it cannot)?"""
    students = {"s0": _student({}), "s1": _student({"corr2d": _corr_fail(1, NO_FLIP)})}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        page = report_html(
            A1, {k: v[0] for k, v in students.items()}, {k: v[1] for k, v in students.items()}
        )
    assert len(re.findall(r"src='data:image/png;base64,", page)) == 4


def test_failures_counted(page):
    """Are timeouts, broken files and not-a-notebook rows counted, and per-check rates right?"""
    assert "<td>ok</td><td class='n'>8</td>" in page
    for status in ("timeout", "broken", "not a notebook"):
        assert f"<td>{status}</td><td class='n'>1</td>" in page
    assert "1 broken, 1 not a notebook, 1 timeout" in page
    # corr2d: 2 points; 8 - 6 = 2 of 11 students got full marks (18%), mean 4/11
    assert (
        "<td>corr2d</td><td class='n'>2</td><td class='n'>0.36</td><td class='n'>18%</td>" in page
    )


def test_write_report_reads_the_gradebook(tmp_path: Path, klass):
    """Does write_report build report.html from gradebook.json and the students' results.json?"""
    rows, results = klass
    (tmp_path / "gradebook.json").write_text(json.dumps({"assignment": AID, "students": rows}))
    for student, res in results.items():
        (tmp_path / student).mkdir()
        (tmp_path / student / "results.json").write_text(json.dumps(res))
    path = write_report(tmp_path, A1)
    assert path == tmp_path / REPORT
    page = path.read_text(encoding="utf-8")
    assert "11 student(s) in the gradebook" in page and "36% (4)" in page


def test_report_failure_is_a_warning(tmp_path: Path, capsys):
    """Does a report that cannot be written give one warning line, not an exception?"""
    (tmp_path / "gradebook.json").write_text("{not json")
    line = grade_module._class_report(tmp_path, A1)
    assert line == ""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("autograder: warning: report.html not written")
    assert not (tmp_path / REPORT).exists()
