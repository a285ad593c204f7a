"""Frames of plain data between the grader and a sandboxed child, read defensively.

A frame is ``u32 header length, u64 body length, header JSON, body bytes``. The
header is :func:`autograder.core.encode`'s JSON plus a table of the arrays
(dtype, shape, offset into the body); arrays are raw bytes, never pickles, never
compressed, so what the reader allocates is known before it reads. The reader
never blocks on a child: :class:`FrameReader` takes whatever bytes arrived and
refuses a frame over its caps before buffering it.
"""

from __future__ import annotations

import json
import os
import socket
import struct

import numpy as np

from autograder.core import Plain, decode, encode

_HEAD = struct.Struct("<IQ")
MAX_HEADER = 4 * 1024**2  # JSON: notes, messages, small numbers
MAX_BODY = 256 * 1024**2  # arrays


class FrameError(ValueError):
    """A frame that is malformed or over its caps (a forged or runaway stream)."""


def pack(tree: Plain) -> bytes:
    """Plain data -> one frame."""
    text, arrays = encode(tree)
    table, chunks, offset = {}, [], 0
    for key, arr in arrays.items():
        raw = np.ascontiguousarray(arr).tobytes()
        table[key] = [arr.dtype.str, list(arr.shape), offset, len(raw)]
        chunks.append(raw)
        offset += len(raw)
    header = json.dumps({"tree": text, "arrays": table}).encode()
    return _HEAD.pack(len(header), offset) + header + b"".join(chunks)


def unpack(header: bytes, body: bytes) -> Plain:
    """One frame's header and body -> plain data; :class:`FrameError` when malformed."""
    try:
        meta = json.loads(header)
        arrays = {}
        for key, (dtype, shape, offset, nbytes) in meta["arrays"].items():
            dt = np.dtype(dtype)
            if dt.kind not in "biuf" or dt.hasobject:
                raise FrameError(f"array of dtype {dt} is not plain data")
            shape = tuple(int(s) for s in shape)
            if (
                any(s < 0 for s in shape)
                or int(np.prod(shape, dtype=np.int64)) * dt.itemsize != nbytes
            ):
                raise FrameError("array size does not match its shape")
            if offset < 0 or offset + nbytes > len(body):
                raise FrameError("array outside the frame")
            arrays[key] = np.frombuffer(
                body, dtype=dt, count=nbytes // dt.itemsize, offset=offset
            ).reshape(shape)
        return decode(meta["tree"], arrays)
    except FrameError:
        raise
    except Exception as exc:  # noqa: BLE001 - anything malformed
        raise FrameError(f"malformed frame ({type(exc).__name__})") from None


class FrameReader:
    """Bytes in, frames out; a frame over the caps raises :class:`FrameError` at once."""

    def __init__(
        self, max_header: int = MAX_HEADER, max_body: int = MAX_BODY, max_total: int = MAX_BODY
    ) -> None:
        self.max_header, self.max_body, self.max_total = max_header, max_body, max_total
        self._buf = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> list[Plain]:
        self.total += len(data)
        if self.total > self.max_total:
            raise FrameError(f"more than {self.max_total // 1024**2} MiB of results")
        self._buf += data
        frames = []
        while len(self._buf) >= _HEAD.size:
            hlen, blen = _HEAD.unpack_from(self._buf)
            if hlen > self.max_header or blen > self.max_body:
                raise FrameError("a result frame over the size limit")
            end = _HEAD.size + hlen + blen
            if len(self._buf) < end:
                break
            header = bytes(self._buf[_HEAD.size : _HEAD.size + hlen])
            body = bytes(self._buf[_HEAD.size + hlen : end])
            del self._buf[:end]
            frames.append(unpack(header, body))
        return frames


# --- blocking use, in the child -----------------------------------------------------------


def send(sock: socket.socket, tree: Plain) -> None:
    sock.sendall(pack(tree))


def recv(sock: socket.socket) -> Plain:
    """Read one frame (blocking); ``EOFError`` when the other side closed."""
    head = _read_exact(sock, _HEAD.size)
    hlen, blen = _HEAD.unpack(head)
    if hlen > MAX_HEADER or blen > MAX_BODY:
        raise FrameError("frame over the size limit")
    return unpack(_read_exact(sock, hlen), _read_exact(sock, blen))


def _read_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the connection")
        buf += chunk
    return bytes(buf)


def set_blocking(sock: socket.socket, blocking: bool) -> None:
    os.set_blocking(sock.fileno(), blocking)
