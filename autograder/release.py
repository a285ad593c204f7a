"""Release: ``solutions/`` -> ``assignments/`` with nbgrader, and the student bundle.

``python -m autograder.release a1_convolution [...]`` regenerates the released
notebooks with ``nbgrader generate_assignment`` (never by hand);
``--bundle DIR`` also writes what students get, as ``DIR`` and ``DIR.zip``:
``course/``, ``assignments/``, ``cnn_course/``, the environment files, a student
README and a Makefile of its own (``make setup``, ``make lab``), never
``solutions/`` nor the hidden checks.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def nbgrader(args: list[str], root: Path, db: Path | None = None) -> subprocess.CompletedProcess:
    """Run nbgrader in course root ``root`` with gradebook ``db`` (a throw-away one by default)."""
    env = dict(os.environ)
    env["PATH"] = (
        f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # nbgrader calls alembic
    )
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{db or Path(tmp) / 'gradebook.db'}"
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "nbgrader",
                *args,
                f"--CourseDirectory.root={root}",
                f"--CourseDirectory.db_url={url}",
            ],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )


def prepare_course(aid: str, workdir: Path) -> Path:
    """A scratch course root for ``aid``: ``solutions/<aid>``, the course's nbgrader config, a
    gradebook (``gradebook.db``) that knows the assignment and its release in ``assignments/``;
    one ``nbgrader generate_assignment``. Returns ``workdir``."""
    shutil.copytree(ROOT / "solutions" / aid, workdir / "solutions" / aid)
    shutil.copy(ROOT / "nbgrader_config.py", workdir / "nbgrader_config.py")
    generate(aid, workdir, workdir / "gradebook.db")
    return workdir


def autograde_with_nbgrader(
    aid: str, submissions: dict[str, Path], workdir: Path, prepared: Path | None = None
) -> tuple[dict[str, float], float]:
    """Grade ``{student: notebook}`` with ``nbgrader autograde`` in a scratch course root.

    The course root is ``prepared`` (made by :func:`prepare_course`, which several runs may
    share: it is copied, never written) copied to ``workdir``, else prepared there. Returns
    each student's score from nbgrader's gradebook and the seconds ``nbgrader autograde``
    took. This is nbgrader's own harness: hidden tests run inside the student's kernel.
    """
    from nbgrader.api import Gradebook

    if prepared is None:
        prepare_course(aid, workdir)
    else:
        shutil.copytree(prepared, workdir)
    db = workdir / "gradebook.db"
    for student, notebook in submissions.items():
        dest = workdir / "submitted" / student / aid
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(notebook, dest / f"{aid}.ipynb")
    t0 = time.perf_counter()
    nbgrader(["autograde", aid, "--force"], workdir, db)
    seconds = time.perf_counter() - t0
    scores = {}
    with Gradebook(f"sqlite:///{db}") as gb:
        for student in submissions:
            try:
                scores[student] = float(gb.find_submission(aid, student).score)
            except Exception:  # noqa: BLE001 - nbgrader could not grade it
                scores[student] = float("nan")
    return scores, seconds


def generate(aid: str, root: Path = ROOT, db: Path | None = None) -> Path:
    """Regenerate ``assignments/<aid>`` from ``solutions/<aid>`` (recording it in gradebook
    ``db``, by default a throw-away one); return the folder."""
    proc = nbgrader(["generate_assignment", aid, "--force"], root, db)
    out = root / "assignments" / aid
    if proc.returncode != 0 or not out.is_dir():
        raise RuntimeError(
            f"nbgrader generate_assignment {aid} failed:\n{proc.stdout}\n{proc.stderr}"
        )
    return out


STUDENT_README = """# CNN course: student bundle

Set up once (Python 3.11, needs the network once): `make setup` (a `.venv` with everything
pinned), or `python -m venv .venv && .venv/bin/pip install -e .`, or
`conda env create -f environment.yml`. Then `make lab` opens JupyterLab
(`make lab LAB_ARGS="--no-browser --port 8890"` passes options on; as root it adds
`--allow-root`). Everything after the set-up runs offline.

- `course/`: the lectures, in order; run them top to bottom (`CNN_COURSE_FAST=1` for a quick pass).
- `assignments/<id>/<id>.ipynb`: fill in every `raise NotImplementedError()` and run the
  visible tests under each function.

Before you submit:

1. *Kernel → Restart Kernel and Run All Cells*: every visible test prints "passed".
2. The last cell, `self_check(...)`, runs every visible test again and prints a summary per
   section (points of the tests that pass). The grader runs more checks (hidden tests), so a
   full self-check is not yet full marks.
3. If your course uses nbgrader's Assignments tab, its *Validate* button (or
   `nbgrader validate assignments/<id>/<id>.ipynb` in a terminal of this environment) runs
   the whole notebook the way the grader will and lists the cells that fail.

Then submit the `.ipynb` file.
"""

STUDENT_MAKEFILE = """# The student bundle: `make setup` once (needs the network), then `make lab`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Options for JupyterLab: make lab LAB_ARGS="--no-browser --port 8890"
LAB_ARGS ?=
# Jupyter refuses to start as root unless told: a container's root user is common.
ROOT_ARGS := $(if $(filter 0,$(shell id -u)),--allow-root)
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: setup lab

setup: $(STAMP)

$(STAMP): pyproject.toml
\ttest -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
\t$(BIN)/python -m pip install --quiet --upgrade pip
\t$(BIN)/python -m pip install --quiet -e .
\ttouch $(STAMP)

lab: setup
\tenv -u MPLBACKEND $(BIN)/jupyter lab $(ROOT_ARGS) $(LAB_ARGS)
"""


def bundle(dest: Path) -> Path:
    """Write the student bundle to ``dest`` (replaced if it exists) and zip it next to it
    (:func:`zip_path`); return ``dest``. Never ``solutions/``, the grader or its checks."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "*.pyc")
    for name in ("course", "assignments", "cnn_course"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    shutil.copy(ROOT / "environment.yml", dest / "environment.yml")
    text = (ROOT / "pyproject.toml").read_text()
    # The student package is cnn_course alone: no grader, no hidden checks.
    text = text.replace('include = ["cnn_course*", "autograder*"]', 'include = ["cnn_course*"]')
    text = "\n".join(line for line in text.splitlines() if not line.startswith("autograder = "))
    (dest / "pyproject.toml").write_text(text + "\n")
    (dest / "README.md").write_text(STUDENT_README)
    (dest / "Makefile").write_text(STUDENT_MAKEFILE)
    shutil.make_archive(str(dest), "zip", root_dir=dest.parent, base_dir=dest.name)
    return dest


def zip_path(dest: Path) -> Path:
    """Where :func:`bundle` writes the zip of ``dest``."""
    return dest.with_name(dest.name + ".zip")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m autograder.release", description=__doc__.splitlines()[0]
    )
    p.add_argument("aids", nargs="+", help="assignment ids")
    p.add_argument("--bundle", type=Path, help="also write the student bundle to this folder")
    args = p.parse_args(argv)
    for aid in args.aids:
        print(f"released {generate(aid).relative_to(ROOT)}")
    if args.bundle:
        print(f"student bundle in {bundle(args.bundle)} and {zip_path(args.bundle)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
