"""Length-prefixed JSON messages between the host and a worker (over pipes).

JSON, not pickle: neither side ever unpickles what the other sent.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time

_HEADER = struct.Struct(">I")


class WireTimeout(Exception):
    """No complete message arrived before the deadline."""


def encode(obj: object) -> bytes:
    """One message as it goes over the pipe (header included)."""
    data = json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return _HEADER.pack(len(data)) + data


def send(fd: int, obj: object) -> None:
    send_bytes(fd, encode(obj))


def send_bytes(fd: int, message: bytes) -> None:
    view = memoryview(message)
    while view:
        view = view[os.write(fd, view):]


def recv(fd: int, deadline: float | None = None) -> object | None:
    """The next message, or None at end of file. ``deadline`` is time.monotonic()."""
    head = _read_exact(fd, _HEADER.size, deadline)
    if head is None:
        return None
    body = _read_exact(fd, _HEADER.unpack(head)[0], deadline)
    if body is None:
        return None
    return json.loads(body.decode("utf-8", "surrogatepass"))


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise WireTimeout(f"no reply within the deadline ({len(buf)}/{n} bytes)")
        chunk = os.read(fd, min(n - len(buf), 1 << 20))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)
