"""Reusable output buffers: reuse a buffer only when nothing else refers to it."""

from __future__ import annotations

import sys

import numpy as np

__all__ = ["BufferPool"]


class BufferPool:
    """A few reusable byte buffers (for ``from_file`` reads and stage outputs).

    A buffer is handed out again only when nothing but the pool refers to
    it (``sys.getrefcount`` back at its baseline): every chunk made from a
    buffer is a view whose ``.base`` chain holds the buffer, so a chunk still
    alive anywhere (a list, a pending ``rechunk`` piece, a user variable)
    keeps its buffer busy and a fresh one is allocated instead.  Two buffers
    suffice for the usual ``for chunk in stream`` loop, where the previous
    chunk is still bound while the next one is made.  Reusing buffers keeps
    a pipeline's memory hot in cache and avoids a page fault per fresh page.

    Parameters
    ----------
    nbytes : int
        Default size of a buffer in bytes.
    size : int, default 2
        Buffers kept for reuse.

    Examples
    --------
    >>> pool = BufferPool(16)
    >>> a = pool.get()
    >>> b = pool.get()
    >>> a is b           # `a` is still referenced here
    False
    >>> del a
    >>> len(pool.get()) == 16
    True
    """

    __slots__ = ("_base", "_bufs", "nbytes", "size")

    def __init__(self, nbytes: int, size: int = 2) -> None:
        self.nbytes = nbytes
        self.size = size
        self._bufs: list[np.ndarray] = [np.empty(0, np.uint8)]
        # Baseline: referenced by the list only (+1 for getrefcount's argument).
        # Without refcounts (PyPy) a buffer is never reused.
        self._base = sys.getrefcount(self._bufs[0]) if hasattr(sys, "getrefcount") else -1
        self._bufs.clear()

    def get(self, nbytes: int | None = None) -> np.ndarray:
        """A free buffer of at least `nbytes` bytes (default: the pool's size)."""
        need = self.nbytes if nbytes is None else nbytes
        bufs = self._bufs
        if self._base >= 0:
            for i in range(len(bufs)):
                if sys.getrefcount(bufs[i]) == self._base:
                    if len(bufs[i]) >= need:
                        return bufs[i]
                    del bufs[i]  # free but too small: replace it
                    break
        buf = np.empty(max(need, self.nbytes), np.uint8)
        bufs.append(buf)
        if len(bufs) > self.size:
            del bufs[0]  # still in use downstream: the consumer owns it now
        return buf
