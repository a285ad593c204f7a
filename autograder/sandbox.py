"""Running untrusted notebooks: a zygote forks one isolated child per submission.

Three processes, three levels of trust:

- the **grader** (trusted) reads every notebook, decides points and writes reports;
  it never runs student code;
- the **zygote** is a fresh interpreter started by the grader with a scrubbed
  environment. It imports what the notebooks need once (TensorFlow costs seconds),
  then forks a child per submission on request. It never sees a notebook, a
  result, a hidden label or a reference output, so a child inherits nothing of
  other students and nothing secret;
- the **child** isolates itself (:mod:`autograder.isolation`: namespaces, its
  own unprivileged uid, a private size-capped ``/tmp``, Landlock, seccomp),
  receives its own notebook from the grader over a socket, runs the cells,
  observes the checks and sends plain data back. It never decides a score.

The grader supervises: a wall-clock timeout, a memory watchdog and a process
count over the child's PID namespace. Killing the child's PID 1 ends every
process it started (the kernel empties a PID namespace whose init dies).
"""

from __future__ import annotations

import io
import json
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder import isolation, wire
from autograder.core import Assignment, describe_exception
from autograder.notebook import CodeCell

GiB = 1024**3
_PAGE = os.sysconf("SC_PAGE_SIZE")
UID_BASE = 640000  # children of a root grader run as UID_BASE + n: a uid of their own each
MAX_NOTES = 50  # notes (cell errors) kept per submission
MAX_NOTE = 500  # characters per note or feedback message
RESULTS_LIMIT = 64 * 1024**2  # bytes of results one submission may send


@dataclass
class Limits:
    """Resource limits of one submission."""

    timeout: float = 120.0  # wall-clock seconds for the whole notebook
    memory: int = 2 * GiB  # bytes of resident memory (all its processes together)
    file_size: int = 64 * 1024**2
    processes: int = 64
    open_files: int = 256
    tmp_size: int = 256 * 1024**2  # its private /tmp (and /dev/shm)
    address_space: bool = True  # cap RLIMIT_AS (fine for NumPy, kills TensorFlow), else RLIMIT_DATA


@dataclass
class RunOutcome:
    """What running one submission produced; plain data only."""

    status: str = "ok"  # ok | timeout | memory | processes | crashed | broken | isolation
    problem: str = ""  # one line for the student when status is not ok
    notes: list[str] = field(default_factory=list)  # cell errors and the like
    observations: dict[str, object] = field(default_factory=dict)  # check name -> plain data
    unreadable: dict[str, str] = field(default_factory=dict)  # check name -> why
    seconds: float = 0.0


def cap_text(text: object, limit: int = MAX_NOTE) -> str:
    """One line of at most ``limit`` characters: what a child may put in feedback."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


# --- the child (runs in the sandbox) ------------------------------------------------------


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


def _forget_verify_side(assignment: Assignment) -> None:
    """Drop what decides points from this process before student code runs."""
    for check in assignment.checks:
        for attr in ("compare", "custom_verify"):
            fn = getattr(check, attr)
            if fn is not None:
                module = sys.modules.get(getattr(fn, "__module__", ""), None)
                if module is not None and getattr(module, fn.__name__, None) is fn:
                    delattr(module, fn.__name__)
                setattr(check, attr, None)
    for name in [m for m in sys.modules if m.startswith("autograder.reference")]:
        del sys.modules[name]
    import gc

    gc.collect()


def _set_limits(limits: Limits) -> None:
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
    # Tasks of this uid: processes and threads (NumPy children run one BLAS thread; TensorFlow
    # starts pools per core). The grader's watchdog counts processes as a second line.
    tasks = limits.processes + (8 if limits.address_space else 8 * (os.cpu_count() or 1))
    resource.setrlimit(resource.RLIMIT_NPROC, (tasks, tasks))


def _child(
    assignment: Assignment, sock: socket.socket, plan: isolation.Plan, limits: Limits
) -> None:
    """Body of a forked child; never returns (``os._exit``)."""
    code = 0
    try:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, sock.fileno())
        os.closerange(sock.fileno() + 1, 65536)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        try:
            isolation.enter(plan)  # from here on: PID 1 of the submission's namespace
        except OSError as exc:
            wire.send(sock, {"kind": "isolation", "error": cap_text(exc)})
            os._exit(71)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # too-large writes fail, they do not kill
        signal.signal(signal.SIGALRM, _on_alarm)
        _set_limits(limits)
        work = "/tmp/work" if plan.want.namespaces else tempfile.mkdtemp()
        os.chdir(work)
        os.environ.update({"HOME": work, "TMPDIR": work, "MPLCONFIGDIR": work})
        tempfile.tempdir = work
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(), _Sink(), _Sink()
        sys.meta_path.insert(0, _BlockReference())
        sys.argv = ["notebook"]
        _forget_verify_side(assignment)
        _run_and_observe(assignment, sock, limits)
    except BaseException:  # noqa: BLE001 - the grader reports missing observations
        code = 70
    finally:
        os._exit(code)


def _run_and_observe(assignment: Assignment, sock: socket.socket, limits: Limits) -> None:
    # References captured before student code runs, which may patch modules.
    send, recv, now = wire.send, wire.recv, time.monotonic
    job = recv(sock)
    start = now()
    cell_budget = limits.timeout * 0.5
    namespace: dict = {"__name__": "__main__", "__builtins__": __builtins__}
    namespace["get_ipython"] = lambda: _ShellDisabled(namespace)
    notes: list[str] = []
    for index, source in job["cells"]:
        left = cell_budget - (now() - start)
        if left <= 0:
            notes.append(
                f"cells {index} and later were not run: the notebook used its {cell_budget:.0f} s for cells"
            )
            break
        try:
            code = compile(source, f"<cell {index}>", "exec")
            _alarm(left)
            try:
                exec(code, namespace)  # noqa: S102 - this is the sandbox
            finally:
                _disarm()
        except _Interrupt:
            notes.append(
                f"cell {index} was stopped after running out of time (an infinite loop?); the next cells ran"
            )
        except SystemExit as exc:
            notes.append(f"cell {index} called sys.exit({exc.code!r}); ignored, the next cells ran")
        except BaseException as exc:  # noqa: BLE001
            notes.append(f"cell {index} raised {describe_exception(exc)}")
    send(sock, {"kind": "notes", "notes": notes})
    given = job.get("given", {})
    for i, check in enumerate(assignment.checks):
        left = limits.timeout * 0.95 - (now() - start)
        try:
            if left <= 0:
                raise _Interrupt()
            _alarm(left)
            try:
                if check.timing is not None:
                    _serve_timing(check, i, namespace, sock)
                    continue
                observed = check.observe(namespace, given.get(check.name))
            finally:
                _disarm()
        except _Interrupt:
            observed = {"missing": f"`{check.function}` did not finish in time (an infinite loop?)"}
        except BaseException as exc:  # noqa: BLE001
            observed = {"missing": f"`{check.function}`: {describe_exception(exc)}"}
        try:
            send(sock, {"kind": "observation", "check": i, "value": observed})
        except (TypeError, ValueError) as exc:
            send(
                sock,
                {
                    "kind": "observation",
                    "check": i,
                    "value": {
                        "missing": f"could not record the result of `{check.function}` ({exc})"
                    },
                },
            )
    send(sock, {"kind": "done"})


def _serve_timing(check, index: int, namespace: dict, sock: socket.socket) -> None:
    """Timed rounds: the grader sends fresh inputs and times the answers from outside."""
    fn = namespace.get(check.function)
    if not callable(fn):
        wire.send(sock, {"kind": "observation", "check": index, "value": check.observe(namespace)})
        return
    for _ in range(check.timing.rounds):
        wire.send(sock, {"kind": "ready", "check": index})
        msg = wire.recv(sock)
        out = check.timing.call(fn, tuple(msg["args"]), check.returns)
        wire.send(sock, {"kind": "result", "check": index, "value": out})


# --- the zygote ---------------------------------------------------------------------------


def _zygote_env(config_dir: str) -> dict[str, str]:
    """The zygote's whole environment: nothing of the grader's (no tokens, no paths)."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": config_dir,
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": config_dir,
        "CNN_COURSE_FAST": "1",
        "CNN_COURSE_GRADING": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "KERAS_BACKEND": "tensorflow",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }


def zygote_main(control_fd: int, config: dict) -> None:
    """The zygote's loop: preload, report isolation, fork children on request."""
    from autograder.core import load_assignment

    control = socket.socket(fileno=control_fd)
    assignment = load_assignment(config["aid"])
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
    test_uid = config.get("drop_to_uid")
    if test_uid is not None and os.geteuid() == 0:  # tests: the unprivileged path, as root
        os.setgroups([])
        os.setresgid(test_uid, test_uid, test_uid)
        os.setresuid(test_uid, test_uid, test_uid)
    readable = tuple(config["readable"])
    root = os.geteuid() == 0
    want = _wanted(config["mode"], readable)
    control.send(
        json.dumps({"kind": "ready", "isolation": want.as_dict(), "pid": os.getpid()}).encode()
    )
    limits = Limits(**config["limits"])
    children: dict[int, int] = {}  # pid -> job
    sel = selectors.DefaultSelector()
    sel.register(control, selectors.EVENT_READ)
    while True:
        for _key, _ev in sel.select(timeout=0.05):
            try:
                msg, fds, _flags, _addr = socket.recv_fds(control, 65536, 4)
            except OSError:
                msg, fds = b"", []
            if not msg:  # the grader is gone: take every child with us
                for pid in children:
                    _kill_quietly(pid)
                os._exit(0)
            request = json.loads(msg)
            job_sock = socket.socket(fileno=fds[0])
            uid = UID_BASE + request["job"] % 100000 if root else os.geteuid()
            plan = isolation.Plan(readable, uid, limits.tmp_size, want)
            pid = os.fork()
            if pid == 0:
                control.close()
                _child(assignment, job_sock, plan, limits)
            job_sock.close()
            children[pid] = request["job"]
            pidfd = os.pidfd_open(pid)
            socket.send_fds(
                control,
                [json.dumps({"kind": "started", "job": request["job"], "pid": pid}).encode()],
                [pidfd],
            )
            os.close(pidfd)
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            job = children.pop(pid, None)
            if job is not None:
                control.send(json.dumps({"kind": "exited", "job": job, "status": status}).encode())


def _wanted(mode: str, readable: tuple[str, ...]) -> isolation.Isolation:
    if mode == "none":
        return isolation.NONE
    found = isolation.probe(readable, UID_BASE + 99999 if os.geteuid() == 0 else 0)
    return found


def _kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


# --- the grader's side --------------------------------------------------------------------


_ZYGOTE_DIED = "the grading sandbox stopped before this notebook finished; grade it again"


class SandboxError(RuntimeError):
    """The sandbox cannot be started as asked (for example strict isolation is not available)."""


def _vsize(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    return int(data[data.rindex(b")") + 2 :].split()[20])


def _data_size(pid: int) -> int:
    """Bytes of private writable memory (heap, anonymous maps, stacks): what RLIMIT_DATA counts."""
    with open(f"/proc/{pid}/statm", "rb") as f:
        return int(f.read().split()[5]) * _PAGE


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(ppid, rss pages) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    return int(fields[1]), int(fields[21])


def _descendants(root: int) -> dict[int, int]:
    """``{pid: rss pages}`` of ``root`` and everything below it."""
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            info = _proc_stat(int(name))
            if info is not None:
                procs[int(name)] = info
    children: dict[int, list[int]] = {}
    for p, (ppid, _rss) in procs.items():
        children.setdefault(ppid, []).append(p)
    found, todo = {}, [root]
    while todo:
        p = todo.pop()
        if p in procs and p not in found:
            found[p] = procs[p][1]
            todo.extend(children.get(p, []))
    return found


@dataclass
class _Job:
    number: int
    key: str
    sock: socket.socket
    outgoing: bytes
    start: float
    reader: wire.FrameReader
    pid: int = 0
    pidfd: int = -1
    status: int | None = None
    ended: float = 0.0  # when the zygote reported the exit
    eof: bool = False
    killed: str = ""
    notes: list[str] = field(default_factory=list)
    observations: dict[int, object] = field(default_factory=dict)
    isolation_error: str = ""
    timing: dict[int, dict] = field(default_factory=dict)  # check -> {"seconds", "outputs"}
    broken_stream: str = ""


class Runner:
    """Runs submissions of one assignment, ``jobs`` at a time, through a zygote."""

    def __init__(
        self, assignment: Assignment, limits: Limits, jobs: int = 1, isolation_mode: str = "auto"
    ) -> None:
        if isolation_mode not in ("auto", "strict", "none"):
            raise ValueError(f"unknown isolation mode {isolation_mode!r}")
        self.assignment = assignment
        self.limits = limits
        self.jobs = max(1, jobs)
        self._count = 0
        # Inputs made fresh for this run, in this (trusted) process: given to children, kept for verify.
        rng = np.random.default_rng(int.from_bytes(os.urandom(8), "little"))
        self.given: dict[str, object] = {}
        self.kept: dict[str, object] = {}
        for check in assignment.checks:
            if check.fresh is not None:
                self.given[check.name], self.kept[check.name] = check.fresh(rng)
        self._tmp = tempfile.mkdtemp(prefix="autograder-")
        try:
            self._start_zygote(assignment, limits, isolation_mode)
        except BaseException:  # Ctrl-C or a failure while starting: no zygote, no folder left
            if getattr(self, "_zygote", None) is not None and self._zygote.poll() is None:
                self._zygote.kill()
            self.close()
            raise

    def _start_zygote(self, assignment: Assignment, limits: Limits, isolation_mode: str) -> None:
        """Start the zygote and wait until it reports the isolation it can give."""
        self._control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        import autograder

        course_root = Path(autograder.__file__).resolve().parent.parent
        import cnn_course

        config = {
            "aid": assignment.aid,
            "mode": "none" if isolation_mode == "none" else "probe",
            "limits": limits.__dict__,
            "readable": isolation.readable_paths(course_root, [Path(cnn_course.__file__).parent]),
            "drop_to_uid": int(os.environ["AUTOGRADER_SANDBOX_UID"])
            if os.environ.get("AUTOGRADER_SANDBOX_UID")
            else None,
        }
        bootstrap = (
            "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
            "from autograder.sandbox import zygote_main; "
            "zygote_main(int(sys.argv[2]), json.loads(sys.argv[3]))"
        )
        path = [p for p in sys.path if p]
        self._log = open(os.path.join(self._tmp, "zygote.log"), "wb")  # noqa: SIM115
        self._zygote = subprocess.Popen(
            [
                sys.executable,
                "-I",
                "-c",
                bootstrap,
                json.dumps(path),
                str(theirs.fileno()),
                json.dumps(config),
            ],
            env=_zygote_env(self._tmp),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            pass_fds=[theirs.fileno()],
            cwd="/",
            start_new_session=True,
        )
        theirs.close()
        ready = self._recv_control(timeout=300)
        if ready is None or ready[0].get("kind") != "ready":
            raise SandboxError(f"the grading sandbox did not start: {self._zygote_log()}")
        self.isolation = isolation.Isolation(
            **{
                k: ready[0]["isolation"][k]
                for k in ("namespaces", "private_proc", "unprivileged", "landlock_abi", "seccomp")
            }
        )
        if isolation_mode == "strict" and not self.isolation.complete:
            raise SandboxError(
                "strict isolation is not available on this system (missing: "
                + ", ".join(self.isolation.missing())
                + "); --isolation auto grades with what there is"
            )

    def _zygote_log(self) -> str:
        try:
            text = Path(self._tmp, "zygote.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return text[-1] if text else f"exit code {self._zygote.poll()}"

    def _recv_control(self, timeout: float) -> tuple[dict, list[int]] | None:
        sel = selectors.DefaultSelector()
        sel.register(self._control, selectors.EVENT_READ)
        if not sel.select(timeout):
            return None
        msg, fds, _f, _a = socket.recv_fds(self._control, 65536, 4)
        if not msg:
            return None
        return json.loads(msg), fds

    def close(self) -> None:
        try:
            self._control.close()
        except (OSError, AttributeError):  # AttributeError: stopped before it was made
            pass
        if getattr(self, "_zygote", None) is not None:
            try:
                self._zygote.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._zygote.kill()
                self._zygote.wait()
        self._log.close() if getattr(self, "_log", None) else None
        import shutil

        shutil.rmtree(self._tmp, ignore_errors=True)

    # The loop --------------------------------------------------------------------------

    def run(
        self, items: list[tuple[str, list[CodeCell]]], on_done: Callable[[str, RunOutcome], None]
    ) -> None:
        """Run ``(key, cells)`` items; call ``on_done`` as each finishes."""
        pending = deque(items)
        running: dict[int, _Job] = {}
        sel = selectors.DefaultSelector()
        sel.register(self._control, selectors.EVENT_READ, None)
        last_watch = 0.0
        try:
            self._loop(pending, running, sel, last_watch, on_done)
        except BaseException:  # Ctrl-C (KeyboardInterrupt) or an error: nothing keeps running
            for job in running.values():
                self._kill(job, job.killed or "interrupted")
                job.sock.close()
                if job.pidfd >= 0:
                    os.close(job.pidfd)
            raise  # close() then ends the zygote, which kills any child not yet reported

    def _loop(self, pending, running, sel, last_watch, on_done) -> None:
        """The body of :meth:`run`: start, watch and collect until nothing is left."""
        while pending or running:
            while pending and len(running) < self.jobs:
                job = self._start(*pending.popleft())
                running[job.number] = job
                sel.register(job.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, job)
            for key, events in sel.select(timeout=0.05):
                if key.data is None:
                    self._on_control(running)
                else:
                    self._on_job(key.data, events, sel)
            now = time.monotonic()
            if now - last_watch > 0.1:
                last_watch = now
                self._watch(running, now)
            for number in [
                n for n, j in running.items() if j.status is not None and (j.eof or j.killed)
            ]:
                job = running.pop(number)
                try:
                    sel.unregister(job.sock)
                except (KeyError, ValueError):
                    pass
                job.sock.close()
                if job.pidfd >= 0:
                    os.close(job.pidfd)
                on_done(job.key, self._collect(job))
            if self._zygote.poll() is not None:  # the zygote died: nothing more will start or end
                for job in running.values():
                    job.killed = job.killed or "crashed"
                    job.status = job.status if job.status is not None else 0
                    job.eof = True
                while pending:
                    key, _cells = pending.popleft()
                    on_done(key, RunOutcome(status="crashed", problem=_ZYGOTE_DIED))

    def _start(self, key: str, cells: list[CodeCell]) -> _Job:
        self._count += 1
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        timed = {c.name for c in self.assignment.checks if c.timing is not None}
        payload = wire.pack(
            {
                "cells": [[c.index, c.source] for c in cells],
                # a timed check's inputs are sent round by round, never in advance
                "given": {k: v for k, v in self.given.items() if k not in timed},
            }
        )
        reader = wire.FrameReader(max_body=RESULTS_LIMIT, max_total=RESULTS_LIMIT)
        job = _Job(self._count, key, mine, payload, time.monotonic(), reader)
        mine.setblocking(False)
        try:
            request = json.dumps({"kind": "spawn", "job": self._count}).encode()
            socket.send_fds(self._control, [request], [theirs.fileno()])
        except OSError:  # the zygote is gone
            job.killed, job.status, job.eof = "crashed", 0, True
        finally:
            theirs.close()
        return job

    def _on_control(self, running: dict[int, _Job]) -> None:
        try:
            msg, fds, _f, _a = socket.recv_fds(self._control, 65536, 4)
        except BlockingIOError:
            return
        if not msg:
            return
        data = json.loads(msg)
        job = running.get(data.get("job"))
        if job is None:
            for fd in fds:
                os.close(fd)
            return
        if data["kind"] == "started":
            job.pid = data["pid"]
            job.pidfd = fds[0] if fds else -1
        elif data["kind"] == "exited":
            job.status = data["status"]
            job.ended = time.monotonic()

    def _on_job(self, job: _Job, events: int, sel) -> None:
        if events & selectors.EVENT_WRITE and job.outgoing:
            try:
                sent = job.sock.send(job.outgoing)
                job.outgoing = job.outgoing[sent:]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                job.outgoing = b""
            if not job.outgoing:
                sel.modify(job.sock, selectors.EVENT_READ, job)
        if events & selectors.EVENT_READ:
            try:
                data = job.sock.recv(1 << 20)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                job.eof = True
                sel.modify(
                    job.sock, selectors.EVENT_WRITE, job
                ) if job.outgoing else sel.unregister(job.sock)
                return
            try:
                frames = job.reader.feed(data)
            except wire.FrameError as exc:
                job.broken_stream = str(exc)
                self._kill(job, "stream")
                return
            for frame in frames:
                self._on_frame(job, frame)

    def _on_frame(self, job: _Job, frame) -> None:
        if not isinstance(frame, dict):
            return
        kind = frame.get("kind")
        checks = self.assignment.checks
        index = frame.get("check")
        valid = isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(checks)
        if kind == "notes" and isinstance(frame.get("notes"), list) and not job.notes:
            job.notes = [cap_text(n) for n in frame["notes"][:MAX_NOTES]] or [""]
        elif kind == "observation" and valid and index not in job.observations:
            value = frame.get("value")
            if checks[index].timing is not None and not (
                isinstance(value, dict) and "missing" in value
            ):
                value = {
                    "missing": f"`{checks[index].function}`'s timing is measured by the grader, not reported"
                }
            job.observations[index] = value
        elif kind == "isolation":
            job.isolation_error = cap_text(frame.get("error", ""))
        elif kind == "ready" and valid and checks[index].timing is not None:
            self._time_round(job, index)

    def _time_round(self, job: _Job, index: int) -> None:
        """One timed round, synchronously: send a fresh input, start the clock, wait for
        the answer. The clock is the grader's, so nothing in the child can bend it."""
        check = self.assignment.checks[index]
        state = job.timing.setdefault(index, {"seconds": [], "outputs": []})
        rounds = self.given[check.name]["rounds"]
        r = len(state["seconds"])
        if r >= len(rounds) or index in job.observations:
            return
        frame = wire.pack({"args": list(rounds[r])})
        limit = max(
            1.0, min(check.timing.limit, self.limits.timeout - (time.monotonic() - job.start))
        )
        frames: list = []
        try:
            job.sock.settimeout(limit)
            # The clock starts before the input leaves: a grader descheduled between the send
            # and a later start would miss the child's work and time a slow function as fast.
            t0 = time.perf_counter()
            job.sock.sendall(frame)
            while not frames:
                data = job.sock.recv(1 << 20)
                t1 = time.perf_counter()
                if not data:
                    job.eof = True
                    return
                frames = job.reader.feed(data)
        except TimeoutError:
            job.observations[index] = {
                "missing": f"`{check.function}` took more than {limit:.0f} s on a timed round"
            }
            return
        except (OSError, wire.FrameError) as exc:
            job.broken_stream = str(exc)
            self._kill(job, "stream")
            return
        finally:
            job.sock.setblocking(False)
        first, rest = frames[0], frames[1:]
        if (
            isinstance(first, dict)
            and first.get("kind") == "result"
            and first.get("check") == index
        ):
            state["seconds"].append(t1 - t0)
            state["outputs"].append(first.get("value"))
            if len(state["seconds"]) == len(rounds):
                job.observations[index] = {"seconds": state["seconds"], "outputs": state["outputs"]}
        else:
            job.observations[index] = {
                "missing": f"`{check.function}` did not answer a timed round"
            }
        for f in rest:
            self._on_frame(job, f)

    def _watch(self, running: dict[int, _Job], now: float) -> None:
        for job in running.values():
            if job.status is not None and not job.eof and now - job.ended > 2.0:
                # Without a PID namespace, a process that escaped may hold the socket open.
                self._kill(job, job.killed)
                job.eof = True
            if job.killed or not job.pid or job.status is not None:
                continue
            if now - job.start > self.limits.timeout:
                self._kill(job, "timeout")
                continue
            members = _descendants(job.pid)
            if sum(members.values()) * _PAGE > self.limits.memory:
                self._kill(job, "memory")
            elif len(members) > self.limits.processes + 2:  # the process outside + PID 1
                self._kill(job, "processes")

    def _kill(self, job: _Job, why: str) -> None:
        job.killed = job.killed or why
        if why and job.status is None and job.pid == 0:
            job.status = 0  # never started: nothing will be reported
        if job.pidfd >= 0:
            try:
                signal.pidfd_send_signal(job.pidfd, signal.SIGKILL)
            except OSError:
                pass
        for pid in _descendants(job.pid) if job.pid else ():
            _kill_quietly(pid)

    def _collect(self, job: _Job) -> RunOutcome:
        out = RunOutcome(seconds=time.monotonic() - job.start)
        out.notes = [n for n in job.notes if n]
        for i, check in enumerate(self.assignment.checks):
            if i in job.observations:
                out.observations[check.name] = job.observations[i]
        status = job.status or 0
        done = len(out.observations) == len(self.assignment.checks)
        if job.isolation_error:
            out.status, out.problem = (
                "isolation",
                f"the grader could not isolate this notebook ({job.isolation_error}); it was not run",
            )
        elif job.killed == "timeout":
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
        elif job.killed == "stream":
            out.status, out.problem = (
                "crashed",
                f"the notebook's results could not be read ({job.broken_stream}) and it was stopped",
            )
        elif job.killed == "crashed":
            out.status, out.problem = (
                "crashed",
                "the grading sandbox stopped before this notebook finished",
            )
        elif os.WIFSIGNALED(status) or (os.WIFEXITED(status) and os.WEXITSTATUS(status) > 128):
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status) - 128
            if sig == signal.SIGXCPU:
                out.status, out.problem = (
                    "timeout",
                    "the notebook used up its CPU time limit and was stopped (an infinite loop?)",
                )
            elif not done:
                out.status, out.problem = (
                    "crashed",
                    f"the notebook's process was killed by signal {_signame(sig)} before grading finished",
                )
        elif not done:
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
            out.status, out.problem = (
                "crashed",
                f"the notebook ended the grading process early (exit code {code}, e.g. os._exit) before every function was checked",
            )
        return out


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)
