"""Pieces of the sandbox that need no notebook: frames, student ids, the isolation probe."""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from autograder import isolation, sandbox, wire
from autograder.core import Timing
from autograder.notebook import safe_student_id


def test_frames_round_trip_plain_data():
    """Does a frame carry nested plain data and arrays of several dtypes unchanged?"""
    tree = {"a": [1, 2.5, None, "x"], "arr": np.arange(6, dtype=np.float32).reshape(2, 3)}
    tree["ints"] = np.array([[1, 2]], dtype=np.int64)
    (got,) = wire.FrameReader().feed(wire.pack(tree))
    assert got["a"] == [1, 2.5, None, "x"]
    assert got["arr"].dtype == np.float32 and np.array_equal(got["arr"], tree["arr"])
    assert np.array_equal(got["ints"], tree["ints"])


def test_frames_arrive_in_pieces():
    """Does the reader wait for the rest of a frame that arrives a byte at a time?"""
    data = wire.pack({"x": np.ones(10)}) + wire.pack({"y": 2})
    reader, frames = wire.FrameReader(), []
    for i in range(len(data)):
        frames += reader.feed(data[i : i + 1])
    assert [sorted(f) for f in frames] == [["x"], ["y"]]


def _frame(header: dict, body: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<IQ", len(raw), len(body)) + raw + body


@pytest.mark.parametrize(
    "frame, phrase",
    [
        # an array whose shape claims more bytes than the body holds
        (
            _frame(
                {"tree": '{"__array__": "a0"}', "arrays": {"a0": ["<f8", [1000], 0, 8000]}},
                b"x" * 8,
            ),
            "outside",
        ),
        # shape and byte count disagree
        (
            _frame({"tree": '{"__array__": "a0"}', "arrays": {"a0": ["<f8", [3], 0, 8]}}, b"x" * 8),
            "does not match",
        ),
        # objects are not plain data
        (
            _frame({"tree": '{"__array__": "a0"}', "arrays": {"a0": ["|O", [1], 0, 8]}}, b"x" * 8),
            "not plain",
        ),
        (_frame({"tree": "{not json"}), "malformed"),
    ],
)
def test_malformed_frames_are_refused(frame, phrase):
    """Is a forged frame refused with a reason instead of being trusted or crashing the grader?"""
    with pytest.raises(wire.FrameError, match=phrase):
        wire.FrameReader().feed(frame)


def test_oversized_frame_is_refused_before_it_is_buffered():
    """Does a header announcing a huge body fail at once, before gigabytes are read?"""
    reader = wire.FrameReader(max_body=1024)
    with pytest.raises(wire.FrameError, match="size limit"):
        reader.feed(struct.pack("<IQ", 10, 10**12))


def test_total_results_are_capped():
    """Does a stream of many small frames stop at the total cap (a results flood)?"""
    reader = wire.FrameReader(max_total=10_000)
    with pytest.raises(wire.FrameError, match="MiB of results"):
        for _ in range(1000):
            reader.feed(wire.pack({"note": "x" * 100}))


@pytest.mark.parametrize(
    "name, expected",
    [
        ("alice", "alice"),
        ("..", "student"),
        ("...", "student"),
        ("grades.csv", "grades.csv_"),
        ("GRADING.JSON", "GRADING.JSON_"),
        (".hidden", "hidden"),
        ("a/../../etc", "a_.._.._etc"),
        ("Fall 2025 A1", "Fall_2025_A1"),
        ("doe.jane@uni.edu", "doe.jane@uni.edu"),
    ],
)
def test_student_ids_stay_inside_out(name, expected):
    """Can a file or folder name never address a path outside --out or a grader file?"""
    got = safe_student_id(name)
    assert got == expected
    assert "/" not in got and not got.startswith(".") and got not in ("grades.csv", "grading.json")


def test_readable_paths_exclude_the_course_root():
    """Does the sandbox's read list leave out the course root (solutions, hidden checks, reference)?"""
    import autograder
    import cnn_course

    root = os.path.dirname(os.path.dirname(autograder.__file__))
    paths = isolation.readable_paths(
        __import__("pathlib").Path(root), [__import__("pathlib").Path(cnn_course.__file__).parent]
    )
    assert os.path.realpath(root) not in paths
    for p in paths:
        inside = os.path.realpath(p).startswith(os.path.realpath(root) + os.sep)
        assert not inside or p.endswith(("/cnn_course", "/.venv")), p


def test_isolation_summary_names_what_is_missing():
    """Does a partial isolation say exactly which protections are missing?"""
    partial = isolation.Isolation(
        namespaces=True, private_proc=True, unprivileged=True, landlock_abi=3
    )
    assert not partial.complete
    text = partial.summary()
    assert "seccomp" in text and "ABI 4" in text and "ABI 6" in text and "namespaces" not in text
    full = isolation.Isolation(True, True, True, 6, True)
    assert full.complete and full.summary().startswith("strict")
    assert isolation.NONE.summary().startswith("none")


def test_probe_matches_the_kernel():
    """Does the probe find Landlock exactly when the kernel reports an ABI for it?"""
    found = isolation.probe()
    assert found.landlock_abi == (
        isolation.landlock_abi() if found.namespaces else found.landlock_abi
    )
    if isolation.landlock_abi() >= 6 and os.path.exists("/proc/self/ns/user"):
        assert found.complete, found.missing()


class _DescheduledAfterSend:
    """The grader's end of a child's socket, as if the grader lost the CPU for ``pause``
    seconds right after the input left: the child works meanwhile."""

    def __init__(self, sock: socket.socket, pause: float) -> None:
        self.sock, self.pause = sock, pause

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)
        time.sleep(self.pause)

    def __getattr__(self, name):
        return getattr(self.sock, name)


def test_timed_round_counts_the_work_done_while_the_grader_waits_for_the_cpu():
    """Does the grader's clock for a timed round start before the input leaves, so that a
    child that computes while the grader is descheduled is not timed as fast (a loaded
    machine made a four-loop convolution look 20x faster)?"""
    parent, child = socket.socketpair()
    work = 0.3

    def answer():  # the child: read the round's input, work, answer
        reader, frames = wire.FrameReader(), []
        while not frames:
            frames = reader.feed(child.recv(1 << 20))
        time.sleep(work)
        wire.send(child, {"kind": "result", "check": 0, "value": {"value": 1}})

    check = SimpleNamespace(name="speed", function="f", timing=Timing(rounds=1, limit=10.0))
    runner = sandbox.Runner.__new__(sandbox.Runner)
    runner.assignment = SimpleNamespace(checks=[check])
    runner.given = {"speed": {"rounds": [(np.ones(3),)]}}
    runner.limits = SimpleNamespace(timeout=60.0)
    job = sandbox._Job(
        1, "s", _DescheduledAfterSend(parent, work), b"", time.monotonic(), wire.FrameReader()
    )
    worker = threading.Thread(target=answer)
    worker.start()
    try:
        runner._time_round(job, 0)
    finally:
        worker.join()
        parent.close()
        child.close()
    (seconds,) = job.observations[0]["seconds"]
    assert seconds >= work, f"the round took {work} s of the child's time, timed as {seconds:.3f} s"
