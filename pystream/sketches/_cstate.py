"""Serialization plumbing shared by the sketch states' Python wrappers.

Every C state serializes in two calls (size, then bytes) and deserializes
from a bytes-like object into a new state pointer; these helpers do both,
with the ownership lock held while reading the state and clear errors for
non-bytes input.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from .._native import check_status, ffi
from .._checks import StateLock


def serialize(fn: Callable[..., int], state: Any, lock: threading.Lock, what: str) -> bytes:
    """``fn(state, buf, cap, size_out)`` called twice: size, then the bytes."""
    size = ffi.new("size_t *")
    with StateLock(lock, what):
        check_status(fn(state, ffi.NULL, 0, size), what)
        buf = bytearray(size[0])
        check_status(fn(state, ffi.from_buffer(buf), len(buf), size), what)
    return bytes(buf)


def deserialize(fn: Callable[..., int], ctype: str, data: Any, what: str) -> Any:
    """``fn(out, buf, size)`` on bytes-like `data`; returns the new C pointer (not owned).

    Raises TypeError for non-bytes input and ValueError (through
    :func:`check_status`) for truncated, corrupt or unknown-version bytes.
    """
    try:
        raw = bytes(memoryview(data).cast("B"))
    except TypeError:
        raise TypeError(f"{what} expects bytes, not {type(data).__name__}") from None
    out = ffi.new(ctype + " **")
    check_status(fn(out, ffi.from_buffer(raw), len(raw)), what)
    return out[0]
