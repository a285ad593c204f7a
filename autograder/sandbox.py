"""Running untrusted notebooks: one forked child per submission, observed from outside.

The grading process imports what the notebooks need once (``preload``), then
forks a child per submission. The child leaves for its own session and process
group, drops root, limits CPU time, memory, file size, processes and open files,
works in an empty temporary folder with a scrubbed environment, runs the cells
(a cell that raises is recorded and the next one runs), observes the checks and
writes the observations as JSON + ``.npz``. It never decides a score. The parent
supervises: a wall-clock timeout and a memory watchdog that kill every process
the submission started, including those that left its session (the parent is
a child subreaper, so orphans come back to it).
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import resource
import shutil
import signal
import stat
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder.core import Assignment, decode, describe_exception, encode
from autograder.notebook import CodeCell

GiB = 1024**3
NOBODY = 65534
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Limits:
    """Resource limits of one submission."""

    timeout: float = 120.0  # wall-clock seconds for the whole notebook
    memory: int = 2 * GiB  # bytes of resident memory (all its processes together)
    file_size: int = 64 * 1024**2
    processes: int = 64
    open_files: int = 256
    address_space: bool = True  # cap RLIMIT_AS (fine for NumPy, kills TensorFlow), else RLIMIT_DATA


@dataclass
class RunOutcome:
    """What running one submission produced; plain data only."""

    status: str = "ok"  # ok | timeout | memory | processes | crashed | broken
    problem: str = ""  # one line for the student when status is not ok
    notes: list[str] = field(default_factory=list)  # cell errors and the like
    observations: dict[str, object] = field(default_factory=dict)  # check name -> plain data
    unreadable: dict[str, str] = field(default_factory=dict)  # check name -> why
    seconds: float = 0.0


# --- the child ----------------------------------------------------------------------------


class _Interrupt(BaseException):
    """Raised in the child by the alarm that bounds one cell or one check."""


class _Sink(io.TextIOBase):
    """stdout/stderr of the child: keeps nothing, so a print flood costs only time."""

    def write(self, s: str) -> int:
        return len(s)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False


class _ShellDisabled:
    """``get_ipython()`` for transformed cells: magics are no-ops, ``!cmd`` is never run."""

    def __init__(self, namespace: dict) -> None:
        self._ns = namespace
        self.user_ns = namespace

    def run_line_magic(self, name: str, line: str = "", *args, **kwargs):
        return None

    def run_cell_magic(self, name: str, line: str, cell: str):
        if name in ("time", "timeit", "capture", "prun"):
            exec(compile(cell, "<cell magic>", "exec"), self._ns)  # noqa: S102
        return None

    def system(self, cmd: str) -> None:
        return None

    def getoutput(self, cmd: str, *args, **kwargs) -> list:
        return []

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None


class _BlockReference:
    """Import hook that keeps the grader's reference solutions away from student code."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith("autograder.reference"):
            raise ImportError("the grader's reference is not available to submissions")
        return None


def _alarm(seconds: float) -> None:
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))


def _disarm() -> None:
    signal.setitimer(signal.ITIMER_REAL, 0)


def _on_alarm(signum, frame):
    raise _Interrupt()


def _child(
    assignment: Assignment,
    cells: list[CodeCell],
    work: Path,
    obs: Path,
    limits: Limits,
    uid: int | None,
) -> None:
    """Body of the forked child; never returns (``os._exit``)."""
    code = 0
    try:
        os.setsid()  # own session and process group
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, 4096)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # too-large writes fail, they do not kill
        signal.signal(signal.SIGALRM, _on_alarm)

        # CPU seconds of all threads: NumPy children run one BLAS thread, TensorFlow uses every core.
        threads = 1 if limits.address_space else (os.cpu_count() or 1)
        cpu = int(limits.timeout * threads) + 2
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size, limits.file_size))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if limits.address_space:
            cap = _vsize(os.getpid()) + limits.memory
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        else:  # TensorFlow reserves gigabytes of address space but writes little of it
            cap = _data_size(os.getpid()) + limits.memory
            resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))
        if uid is not None:  # running as root: become nobody, so RLIMIT_NPROC counts
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))

        os.chdir(work)
        path = os.environ.get("PATH", "/usr/bin:/bin")
        os.environ.clear()
        os.environ.update(
            {
                "PATH": path,
                "HOME": str(work),
                "TMPDIR": str(work),
                "LANG": "C.UTF-8",
                "MPLBACKEND": "Agg",
                "MPLCONFIGDIR": str(work),
                "CNN_COURSE_FAST": "1",
                "CNN_COURSE_GRADING": "1",
                "OMP_NUM_THREADS": "1",
                "OPENBLAS_NUM_THREADS": "1",
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "KERAS_BACKEND": "tensorflow",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        tempfile.tempdir = str(work)
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(), _Sink(), _Sink()
        for name in [m for m in sys.modules if m.startswith("autograder.reference")]:
            del sys.modules[name]
        sys.meta_path.insert(0, _BlockReference())
        sys.argv = ["notebook"]

        _run_and_observe(assignment, cells, obs, limits)
    except BaseException:  # noqa: BLE001 - the parent reports missing observations
        code = 70
    finally:
        os._exit(code)


def _run_and_observe(
    assignment: Assignment, cells: list[CodeCell], obs: Path, limits: Limits
) -> None:
    # References captured before student code runs, which may patch modules.
    dumps, savez, write_text, now = json.dumps, np.savez, Path.write_text, time.monotonic
    start = now()
    cell_budget = limits.timeout * 0.5
    namespace: dict = {"__name__": "__main__", "__builtins__": __builtins__}
    namespace["get_ipython"] = lambda: _ShellDisabled(namespace)
    notes: list[str] = []
    for cell in cells:
        left = cell_budget - (now() - start)
        if left <= 0:
            notes.append(
                f"cells {cell.index} and later were not run: the notebook used its {cell_budget:.0f} s for cells"
            )
            break
        try:
            code = compile(cell.source, f"<cell {cell.index}>", "exec")
            _alarm(left)
            try:
                exec(code, namespace)  # noqa: S102 - this is the sandbox
            finally:
                _disarm()
        except _Interrupt:
            notes.append(
                f"cell {cell.index} was stopped after running out of time (an infinite loop?); the next cells ran"
            )
        except SystemExit as exc:
            notes.append(
                f"cell {cell.index} called sys.exit({exc.code!r}); ignored, the next cells ran"
            )
        except BaseException as exc:  # noqa: BLE001
            notes.append(f"cell {cell.index} raised {describe_exception(exc)}")
    write_text(obs / "cells.json", dumps(notes))
    for i, check in enumerate(assignment.checks):
        left = limits.timeout * 0.95 - (now() - start)
        try:
            if left <= 0:
                raise _Interrupt()
            _alarm(left)
            try:
                observed = check.observe(namespace)
            finally:
                _disarm()
        except _Interrupt:
            observed = {"missing": f"`{check.function}` did not finish in time (an infinite loop?)"}
        except BaseException as exc:  # noqa: BLE001
            observed = {"missing": f"`{check.function}`: {describe_exception(exc)}"}
        try:
            text, arrays = encode(observed)
        except Exception as exc:  # noqa: BLE001
            text, arrays = (
                dumps({"missing": f"could not record the result of `{check.function}` ({exc})"}),
                {},
            )
        savez(obs / f"check{i}.npz", **arrays)
        write_text(obs / f"check{i}.json", text)


# --- the parent ---------------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[int, int, int, int] | None:
    """(ppid, pgrp, session, rss pages) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    return int(fields[1]), int(fields[2]), int(fields[3]), int(fields[21])


def _vsize(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    return int(data[data.rindex(b")") + 2 :].split()[20])


def _data_size(pid: int) -> int:
    """Bytes of private writable memory (heap, anonymous maps, stacks): what RLIMIT_DATA counts."""
    with open(f"/proc/{pid}/statm", "rb") as f:
        return int(f.read().split()[5]) * _PAGE


def _all_procs() -> dict[int, tuple[int, int, int, int]]:
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            info = _proc_stat(int(name))
            if info is not None:
                procs[int(name)] = info
    return procs


def _members(root: int, procs: dict[int, tuple[int, int, int, int]]) -> set[int]:
    """Processes of a submission: its session or group, and every descendant."""
    found = {p for p, (_, pgrp, sid, _) in procs.items() if sid == root or pgrp == root}
    if root in procs:
        found.add(root)
    children: dict[int, list[int]] = {}
    for p, (ppid, *_rest) in procs.items():
        children.setdefault(ppid, []).append(p)
    todo = list(found)
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in found:
                found.add(c)
                todo.append(c)
    return found


def _kill(pids: set[int]) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def become_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process (Linux), so none escape."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _world_readable_path(path: Path) -> bool:
    """Can an unprivileged user reach ``path`` (every parent searchable)?"""
    for p in [path, *path.parents]:
        try:
            if not p.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def sandbox_uid() -> int | None:
    """The uid children drop to: nobody when we are root and the environment is readable."""
    if os.geteuid() != 0:
        return None
    import autograder

    needed = [
        Path(sys.prefix),
        Path(sys.base_prefix),
        Path(os.__file__).parent,
        Path(np.__file__).parent,
        Path(autograder.__file__).parent,
    ]
    return NOBODY if all(_world_readable_path(p) for p in needed) else None


@dataclass
class _Job:
    key: str
    pid: int
    start: float
    base: Path
    obs: Path
    killed: str = ""


class Runner:
    """Runs submissions of one assignment, ``jobs`` at a time, in forked children."""

    def __init__(self, assignment: Assignment, limits: Limits, jobs: int = 1) -> None:
        self.assignment = assignment
        self.limits = limits
        self.jobs = max(1, jobs)
        self.uid = sandbox_uid()
        self._root = Path(tempfile.mkdtemp(prefix="autograder-"))
        os.chmod(self._root, 0o711)
        for module in assignment.preload:
            try:
                __import__(module)
            except ImportError:
                pass
        if assignment.warmup is not None:
            try:
                assignment.warmup()
            except Exception:  # noqa: BLE001 - a cold start is slower, not wrong
                pass
        for check in assignment.checks:  # build (and cache) inputs once, before forking
            if check.cases is not None:
                check.cases()
        become_subreaper()

    def close(self) -> None:
        self._sweep(set())
        shutil.rmtree(self._root, ignore_errors=True)

    def run(
        self, items: list[tuple[str, list[CodeCell]]], on_done: Callable[[str, RunOutcome], None]
    ) -> None:
        """Run ``(key, cells)`` items; call ``on_done`` as each finishes."""
        pending = deque(items)
        running: dict[int, _Job] = {}
        last_memory_check = 0.0
        while pending or running:
            while pending and len(running) < self.jobs:
                key, cells = pending.popleft()
                job = self._start(key, cells)
                running[job.pid] = job
            self._reap(running, on_done)
            now = time.monotonic()
            for job in list(running.values()):
                if not job.killed and now - job.start > self.limits.timeout:
                    job.killed = "timeout"
                    _kill(_members(job.pid, _all_procs()))
            if running and now - last_memory_check > 0.1:
                last_memory_check = now
                procs = _all_procs()
                for job in running.values():
                    if job.killed:
                        continue
                    members = _members(job.pid, procs)
                    rss = sum(procs[p][3] for p in members if p in procs) * _PAGE
                    if rss > self.limits.memory:
                        job.killed = "memory"
                    elif len(members) > self.limits.processes:  # RLIMIT_NPROC means nothing to root
                        job.killed = "processes"
                    if job.killed:
                        _kill(members)
            time.sleep(0.005)

    def _start(self, key: str, cells: list[CodeCell]) -> _Job:
        base = Path(tempfile.mkdtemp(prefix="s-", dir=self._root))
        work, obs = base / "work", base / "obs"
        work.mkdir()
        obs.mkdir()
        if self.uid is not None:
            for p in (base, work, obs):
                os.chown(p, self.uid, self.uid)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(self.assignment, cells, work, obs, self.limits, self.uid)
        return _Job(key, pid, time.monotonic(), base, obs)

    def _reap(self, running: dict[int, _Job], on_done) -> None:
        while True:
            try:
                pid, status, _usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            job = running.pop(pid, None)
            if job is None:
                continue  # an orphan of some submission, re-parented to us
            members = _members(pid, _all_procs())
            _kill(members)
            self._sweep(set(running))
            outcome = self._collect(job, status)
            shutil.rmtree(job.base, ignore_errors=True)
            on_done(job.key, outcome)

    def _sweep(self, active: set[int]) -> None:
        """Kill every process that left its submission and came back to us as an orphan."""
        me = os.getpid()
        for _ in range(50):
            procs = _all_procs()
            strays = {p for p, (ppid, *_rest) in procs.items() if ppid == me and p not in active}
            victims = set()
            for p in strays:
                victims |= _members(p, procs)
            if not victims:
                break
            _kill(victims)
            for p in strays:
                try:
                    os.waitpid(p, os.WNOHANG)
                except ChildProcessError:
                    pass
            time.sleep(0.01)

    def _collect(self, job: _Job, status: int) -> RunOutcome:
        out = RunOutcome(seconds=time.monotonic() - job.start)
        try:
            out.notes = [str(n) for n in json.loads((job.obs / "cells.json").read_text())][:50]
        except Exception:  # noqa: BLE001 - missing or forged
            pass
        for i, check in enumerate(self.assignment.checks):
            text_path, npz_path = job.obs / f"check{i}.json", job.obs / f"check{i}.npz"
            if not text_path.exists():
                continue
            try:
                with np.load(npz_path, allow_pickle=False) as npz:
                    arrays = {k: npz[k] for k in npz.files}
                out.observations[check.name] = decode(text_path.read_text(), arrays)
            except Exception as exc:  # noqa: BLE001 - a forged or truncated file
                out.unreadable[check.name] = (
                    f"the results of `{check.function}` could not be read ({type(exc).__name__}); was a grader file overwritten?"
                )
        done = len(out.observations) + len(out.unreadable) == len(self.assignment.checks)
        if job.killed == "timeout":
            out.status, out.problem = (
                "timeout",
                f"the notebook did not finish within the time limit of {self.limits.timeout:.0f} s and was stopped (an infinite loop?)",
            )
        elif job.killed == "memory":
            out.status, out.problem = (
                "memory",
                f"the notebook used more than the memory limit of {self.limits.memory / GiB:.1f} GiB and was stopped",
            )
        elif job.killed == "processes":
            out.status, out.problem = (
                "processes",
                f"the notebook started more than {self.limits.processes} processes and was stopped",
            )
        elif os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if sig == signal.SIGXCPU:
                out.status, out.problem = (
                    "timeout",
                    "the notebook used up its CPU time limit and was stopped (an infinite loop?)",
                )
            else:
                out.status, out.problem = (
                    "crashed",
                    f"the notebook's process was killed by signal {signal.Signals(sig).name} before grading finished",
                )
        elif not done:
            code = os.WEXITSTATUS(status)
            out.status, out.problem = (
                "crashed",
                f"the notebook ended the grading process early (exit code {code}, e.g. os._exit) before every function was checked",
            )
        return out
