"""A Gradescope autograder bundle: ``autograder gradescope <aid> --out <zip>``.

Gradescope runs every submission in a container of its own, so a class of any size is
graded in parallel on its machines. The bundle (the zip uploaded as the assignment's
autograder) holds:

- ``setup.sh``: run once when Gradescope builds the image (Ubuntu, as root): a Python 3.11 or
  3.12 (installed with apt when the image has neither), a venv in ``/autograder/venv`` and
  the project's pinned dependencies (``requirements.txt``, from ``pyproject.toml``);
- ``run_autograder``: run per submission; it grades the notebook in
  ``/autograder/submission`` (the only ``.ipynb`` there, or the one named ``<aid>.ipynb``)
  with the same sandboxed engine as ``autograder grade`` and writes
  ``/autograder/results/results.json`` in Gradescope's format (``score``,
  ``execution_time``, ``output``, ``tests[]`` with ``name``, ``score``, ``max_score``,
  ``output`` = the feedback line, ``visibility``);
- the grader itself, ``autograder/`` and ``cnn_course/``, with the checks of this one
  assignment and the reference modules those checks import. Nothing else: no solution
  notebooks, no other assignment's checks or reference, no tests.

The bundle holds the hidden checks, as any Gradescope autograder must; Gradescope keeps the
autograder away from students. The grader runs from ``/autograder/source`` (``PYTHONPATH``),
not from a pip-installed copy: the sandbox hides the course root from student code, and a
copy in the venv's site-packages would put the reference where student code can read it.

``AUTOGRADER_ROOT`` (default ``/autograder``) moves the whole layout, and
``AUTOGRADER_PYTHON`` picks the Python, so that a test runs ``run_autograder`` in a
temporary folder laid out like Gradescope's with the project's own venv. That folder must
not be under ``/tmp``: each submission gets a private ``/tmp`` in the sandbox, which would
hide ``cnn_course`` from it.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import time
import tomllib
import zipfile
from pathlib import Path

from autograder.core import Assignment, load_assignment

PACKAGE = Path(__file__).resolve().parent  # autograder/
COURSE_LIB = PACKAGE.parent / "cnn_course"
PYPROJECT = PACKAGE.parent / "pyproject.toml"

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
# Assumes: Gradescope's Ubuntu base image (22.04 or 24.04), network access while building,
# apt-get. Installs: a Python 3.11 or 3.12 (from apt when the image has neither), a venv in
# $ROOT/venv and the project's pinned dependencies (requirements.txt). The grader itself runs
# from $ROOT/source (run_autograder sets PYTHONPATH), never installed into the venv.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
export DEBIAN_FRONTEND=noninteractive
PY=""
for candidate in python3.12 python3.11; do
    if "$candidate" -c "import sys" >/dev/null 2>&1; then  # runs, not only on PATH
        PY="$candidate"
        break
    fi
done
if [ -z "$PY" ]; then
    apt-get update
    for candidate in python3.12 python3.11; do
        if apt-get install -y "$candidate" "$candidate-venv"; then
            PY="$candidate"
            break
        fi
    done
elif ! "$PY" -c "import ensurepip" 2>/dev/null; then  # Ubuntu ships venv's pip apart
    apt-get update
    apt-get install -y "$PY-venv"
fi
if [ -z "$PY" ]; then
    echo "setup.sh: no Python 3.11 or 3.12: choose Gradescope's Ubuntu 24.04 base image" >&2
    exit 1
fi
"$PY" -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --quiet --upgrade pip
"$ROOT/venv/bin/python" -m pip install --quiet -r "$ROOT/source/requirements.txt"
"$ROOT/venv/bin/python" -c "import numpy, nbformat; print('setup.sh: ready')"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for each submission (as /autograder/run_autograder).
# AUTOGRADER_ROOT moves /autograder (a test lays out a temporary folder like it);
# AUTOGRADER_PYTHON picks the Python (default: the venv setup.sh made).
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PY="${AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
export PYTHONPATH="$ROOT/source"
export MPLBACKEND=Agg TF_CPP_MIN_LOG_LEVEL=2 PYTHONDONTWRITEBYTECODE=1
mkdir -p "$ROOT/results"
cd "$ROOT/source"
exec "$PY" -m autograder.gradescope "@AID@" --root "$ROOT"
"""

BUNDLE_README = """# Gradescope autograder for {aid}

Built by `autograder gradescope {aid} --out <zip>` from the course's repository.

- `setup.sh` (run once by Gradescope, as root, on its Ubuntu base image: choose 22.04 or
  24.04): installs Python 3.11/3.12 when missing, a venv in `/autograder/venv` and the
  pinned dependencies in `requirements.txt` (TensorFlow included: CPU only).
- `run_autograder` grades `/autograder/submission/{aid}.ipynb` (or the only `.ipynb` there)
  in the grader's sandbox and writes `/autograder/results/results.json`: one test per check,
  its feedback line as the test's output.
- `autograder/`, `cnn_course/`: the grader, the checks of {aid} and the reference modules
  they import. This bundle holds the hidden checks, as any Gradescope autograder must;
  Gradescope keeps it away from students. It holds no solution notebooks.

Gradescope settings: memory at least 3 GB (submissions run with a {memory:g} GiB limit),
timeout at least {timeout:g} s plus start-up.
"""


def needed_reference(aid: str) -> list[str]:
    """The ``autograder.reference`` modules that the checks of ``aid`` import, transitively."""
    todo = [PACKAGE / "checks" / f"{aid}.py"]
    found: list[str] = []
    while todo:
        tree = ast.parse(todo.pop().read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "autograder.reference":
                    names = [a.name for a in node.names]
                elif node.module.startswith("autograder.reference."):
                    names = [node.module.split(".")[2]]
            elif isinstance(node, ast.Import):
                names = [
                    a.name.split(".")[2]
                    for a in node.names
                    if a.name.startswith("autograder.reference.")
                ]
            for name in names:
                if name not in found and (PACKAGE / "reference" / f"{name}.py").is_file():
                    found.append(name)
                    todo.append(PACKAGE / "reference" / f"{name}.py")
    return sorted(found)


def pinned_requirements() -> list[str]:
    """The project's pinned dependencies: ``pyproject.toml`` in a checkout, else the
    installed distribution's metadata."""
    if PYPROJECT.is_file():
        return list(tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"])
    from importlib.metadata import requires

    return [r for r in requires("cnn-course") or [] if "extra ==" not in r]


def bundle_files(aid: str) -> dict[str, Path]:
    """Name in the zip -> file on disk: the grader, the checks of ``aid`` and the reference
    they need, the course library. No other checks, no solutions, no caches."""
    reference = set(needed_reference(aid))
    files: dict[str, Path] = {}
    for root, prefix in ((PACKAGE, "autograder"), (COURSE_LIB, "cnn_course")):
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if not path.is_file() or "__pycache__" in rel.parts or path.suffix == ".pyc":
                continue
            if rel.parts[0] == "checks" and prefix == "autograder":
                if path.name not in ("__init__.py", f"{aid}.py"):
                    continue
            if rel.parts[0] == "reference" and prefix == "autograder":
                if path.name != "__init__.py" and path.stem not in reference:
                    continue
            files[f"{prefix}/{rel.as_posix()}"] = path
    return files


def build_bundle(aid: str, out: Path) -> Path:
    """Write the Gradescope autograder zip for ``aid`` to ``out``; return its path."""
    assignment = load_assignment(aid)
    if out.suffix.lower() != ".zip":
        raise ValueError(f"--out must name a .zip file, not {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:

        def text(name: str, body: str, mode: int = 0o644) -> None:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, body)

        text("setup.sh", SETUP_SH, 0o755)
        text("run_autograder", RUN_AUTOGRADER.replace("@AID@", aid), 0o755)
        text("requirements.txt", "\n".join(pinned_requirements()) + "\n")
        text(
            "README.md",
            BUNDLE_README.format(aid=aid, memory=2.0, timeout=assignment.default_timeout),
        )
        for name, path in bundle_files(aid).items():
            zf.write(path, name)
    tmp.replace(out)
    return out


# --- run_autograder ---------------------------------------------------------------------


def find_notebook(folder: Path, aid: str) -> tuple[Path | None, str]:
    """The submitted notebook: ``<aid>.ipynb`` anywhere in ``folder``, else the only
    ``.ipynb`` there; ``(None, why)`` when there is none or several to choose from."""
    from autograder.submissions import is_ignored

    notebooks = sorted(
        p
        for p in folder.rglob("*.ipynb")
        if p.is_file() and not any(is_ignored(part) for part in p.relative_to(folder).parts)
    )
    named = [p for p in notebooks if p.name == f"{aid}.ipynb"]
    if named:
        return named[0], ""
    if len(notebooks) == 1:
        return notebooks[0], ""
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    if not notebooks:
        shown = ", ".join(files[:10]) or "nothing"
        return None, f"no Jupyter notebook (.ipynb) was submitted (found: {shown})"
    shown = ", ".join(p.relative_to(folder).as_posix() for p in notebooks[:10])
    return None, f"several notebooks and none named {aid}.ipynb ({shown}): submit {aid}.ipynb"


def grade_notebook(
    assignment: Assignment, path: Path | None, problem: str = "", memory_gib: float = 2.0
):
    """Grade one notebook with the sandboxed engine of ``autograder grade``: its
    :class:`~autograder.report.StudentReport` (all zero with ``problem`` when ``path`` is None)."""
    from autograder.grade import _verify
    from autograder.notebook import NotebookError, read_cells
    from autograder.sandbox import GiB, Limits, Runner, RunOutcome

    student = "submission"
    if path is None:
        return _verify(assignment, student, RunOutcome(status="broken", problem=problem), {})
    try:
        cells = read_cells(path)
    except NotebookError as exc:
        return _verify(assignment, student, RunOutcome(status="broken", problem=str(exc)), {})
    limits = Limits(
        timeout=assignment.default_timeout,
        memory=int(memory_gib * GiB),
        address_space=assignment.address_space_limit,
    )
    outcomes: dict[str, object] = {}
    runner = Runner(assignment, limits, 1, "auto")
    try:
        runner.run([(student, cells)], lambda key, outcome: outcomes.update({key: outcome}))
    finally:
        runner.close()
    return _verify(assignment, student, outcomes[student], runner.kept)


def gradescope_results(assignment: Assignment, report, seconds: float, source: str) -> dict:
    """Gradescope's ``results.json`` for one report: the same as ``autograder grade`` writes
    per student, with the whole run's time and which file was graded."""
    from autograder.report import results_json

    results = results_json(assignment, report)
    results["execution_time"] = round(seconds, 1)
    if source:
        results["output"] = f"graded {source}\n{results['output']}"
    return results


def run_autograder(aid: str, root: Path) -> dict:
    """Grade ``root/submission`` and write ``root/results/results.json``; return it."""
    t0 = time.monotonic()
    assignment = load_assignment(aid)
    path, problem = find_notebook(root / "submission", aid)
    try:
        report = grade_notebook(assignment, path, problem)
    except Exception as exc:  # noqa: BLE001 - Gradescope must always get a results.json
        from autograder.grade import _verify
        from autograder.sandbox import RunOutcome

        why = f"the grader failed: {type(exc).__name__}: {exc}; please tell the instructor"
        report = _verify(assignment, "submission", RunOutcome(status="error", problem=why), {})
    source = path.relative_to(root / "submission").as_posix() if path is not None else ""
    results = gradescope_results(assignment, report, time.monotonic() - t0, source)
    (root / "results").mkdir(parents=True, exist_ok=True)
    (root / "results" / "results.json").write_text(json.dumps(results, indent=2))
    return results


def main(argv: list[str] | None = None) -> int:
    """``python -m autograder.gradescope <aid> [--root DIR]``: what run_autograder runs."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m autograder.gradescope")
    p.add_argument("aid")
    p.add_argument(
        "--root", type=Path, default=Path(os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    )
    args = p.parse_args(argv)
    results = run_autograder(args.aid, args.root)
    print(f"{args.aid}: {results['score']:g} points; results in {args.root / 'results'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
