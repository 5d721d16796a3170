"""Structural stages: ``take``, ``skip`` and ``rechunk``, each the pull form
(:func:`~pystream.stages.pushers.drive`) of a pusher class (:class:`Take`,
:class:`Skip`, :class:`Rechunk`) that is also its push form (``take.push(n)``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import numpy as np

from .._checks import check_count
from .pushers import drive

__all__ = ["Rechunk", "Skip", "Take", "rechunk", "skip", "take"]


class Take:
    """The pusher of :func:`take`: passes the first `n` records, then is ``done``.

    See :mod:`pystream.stages.pushers` for the protocol.  Its ``passthrough``
    covers the first ``n - 1`` records (they pass unchanged); the chunk
    holding the `n`-th record is cut there and makes it ``done``.

    Parameters
    ----------
    n : int
        Number of records to keep (``>= 0``).

    Raises
    ------
    TypeError
        If `n` is not an integer (bools are refused).
    ValueError
        If `n` is negative.

    Examples
    --------
    >>> import numpy as np
    >>> p = Take(3)
    >>> [c.tolist() for c in p.send(np.arange(2))], p.done
    ([[0, 1]], False)
    >>> [c.tolist() for c in p.send(np.arange(5))], p.done
    ([[0]], True)
    """

    __slots__ = ("done", "error", "passthrough")

    def __init__(self, n: int) -> None:
        n = check_count(n, "n", "take")
        #: Records that pass unchanged before the last one (the one that cuts).
        self.passthrough: int = max(n - 1, 0)
        self.done: bool = n == 0
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        left = 0 if self.done else self.passthrough + 1
        return f"<take pusher: {left} records to go>"

    def send(self, chunk: np.ndarray) -> list[np.ndarray]:
        """Pass `chunk`, cut at the `n`-th record; see :class:`~pystream.stages.pushers.Pusher`."""
        k = len(chunk)
        passthrough = self.passthrough
        if k <= passthrough:
            if k:
                self.passthrough = passthrough - k
                return [chunk]
            return []
        if self.done:
            return []
        remaining = passthrough + 1
        self.passthrough = 0
        self.done = True
        return [chunk[:remaining] if k > remaining else chunk]

    def close(self) -> list[np.ndarray]:
        """End of the stream: nothing is pending."""
        return []


class Skip:
    """The pusher of :func:`skip`: drops the first `n` records, passes the rest.

    See :mod:`pystream.stages.pushers` for the protocol.  Once the `n` records
    are dropped its ``passthrough`` is ``sys.maxsize``: every chunk passes
    unchanged.

    Parameters
    ----------
    n : int
        Number of records to drop (``>= 0``).

    Raises
    ------
    TypeError
        If `n` is not an integer (bools are refused).
    ValueError
        If `n` is negative.

    Examples
    --------
    >>> import numpy as np
    >>> p = Skip(3)
    >>> p.send(np.arange(2))
    []
    >>> [c.tolist() for c in p.send(np.arange(4))]
    [[1, 2, 3]]
    """

    __slots__ = ("_remaining", "done", "error", "passthrough")

    def __init__(self, n: int) -> None:
        self._remaining: int = check_count(n, "n", "skip")
        self.passthrough: int = 0 if self._remaining else sys.maxsize
        self.done: bool = False
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        return f"<skip pusher: {self._remaining} records to drop>"

    def send(self, chunk: np.ndarray) -> list[np.ndarray]:
        """Drop what is left to drop of `chunk`; see :class:`~pystream.stages.pushers.Pusher`."""
        remaining = self._remaining
        if not remaining:
            return [chunk] if len(chunk) else []
        k = len(chunk)
        if k <= remaining:
            self._remaining = remaining - k
            if k == remaining:
                self.passthrough = sys.maxsize
            return []
        self._remaining = 0
        self.passthrough = sys.maxsize
        return [chunk[remaining:]]

    def close(self) -> list[np.ndarray]:
        """End of the stream: nothing is pending."""
        return []


class Rechunk:
    """The pusher of :func:`rechunk`: regroups records into chunks of `size` records.

    See :mod:`pystream.stages.pushers` for the protocol.  :meth:`close` gives
    the shorter last chunk, if any.

    Parameters
    ----------
    size : int
        Records per output chunk (``>= 1``).

    Raises
    ------
    TypeError
        If `size` is not an integer (bools are refused).
    ValueError
        If `size` is smaller than 1.

    Examples
    --------
    >>> import numpy as np
    >>> p = Rechunk(3)
    >>> [c.tolist() for c in p.send(np.arange(4))]
    [[0, 1, 2]]
    >>> [c.tolist() for c in p.send(np.arange(4, 6))]
    [[3, 4, 5]]
    >>> [c.tolist() for c in p.send(np.arange(6, 8))], [c.tolist() for c in p.close()]
    ([], [[6, 7]])
    """

    __slots__ = ("_npending", "_pending", "_size", "done", "error")

    def __init__(self, size: int) -> None:
        self._size: int = check_count(size, "size", "rechunk", minimum=1)
        self._pending: list[np.ndarray] = []  # pieces of the next output chunk
        self._npending = 0
        self.done: bool = False
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        return f"<rechunk pusher: size {self._size}, {self._npending} records pending>"

    def send(self, chunk: np.ndarray) -> list[np.ndarray]:
        """Cut `chunk` into the complete chunks it gives; see :class:`~pystream.stages.pushers.Pusher`.

        A chunk that lies inside `chunk` is a view of it; one that joins
        records of several input chunks is a new array.
        """
        k = len(chunk)
        size = self._size
        npending = self._npending
        if npending:
            need = size - npending
            if k < need:
                if k:
                    self._pending.append(chunk)
                    self._npending = npending + k
                return []
            pending = self._pending
            pending.append(chunk if k == need else chunk[:need])
            self._pending = []
            joined = np.concatenate(pending)
            if k == need:
                self._npending = 0
                return [joined]
            i = need
        elif k == size:
            return [chunk]
        elif k < size:
            if k:
                self._pending.append(chunk)
                self._npending = k
            return []
        else:
            i = 0
        m = (k - i) // size
        end = i + m * size  # the complete chunks lie in [i, end)
        # Views of the chunk (splitting its first axis never copies).
        whole = chunk[i:end].reshape((m, size) + chunk.shape[1:])
        outs = [joined, *whole] if i else [*whole]
        if end < k:
            self._pending.append(chunk[end:])
            self._npending = k - end
        else:
            self._npending = 0
        return outs

    def close(self) -> list[np.ndarray]:
        """End of the stream: the last, shorter chunk (if records are pending)."""
        if not self._npending:
            return []
        pending = self._pending
        self._pending = []
        self._npending = 0
        return [pending[0] if len(pending) == 1 else np.concatenate(pending)]


def take(chunks: Iterator[np.ndarray], n: int) -> Iterator[np.ndarray]:
    """Yield the first `n` records of `chunks`, then stop pulling upstream.

    The pull form of the :class:`Take` pusher (``take.push(n)``).

    Parameters
    ----------
    chunks : iterator of ndarray
        Upstream chunks.
    n : int
        Number of records to keep (``>= 0``).

    Returns
    -------
    iterator of ndarray
        Chunks (views of the upstream chunks) holding at most `n` records
        in total.  Once `n` records are out, upstream is not pulled again
        and is closed.

    Examples
    --------
    >>> import numpy as np
    >>> [c.tolist() for c in take(iter([np.arange(3), np.arange(3)]), 4)]
    [[0, 1, 2], [0]]
    """
    return drive(Take(n), chunks)


def skip(chunks: Iterator[np.ndarray], n: int) -> Iterator[np.ndarray]:
    """Drop the first `n` records of `chunks` and yield the rest.

    The pull form of the :class:`Skip` pusher (``skip.push(n)``).

    Parameters
    ----------
    chunks : iterator of ndarray
        Upstream chunks.
    n : int
        Number of records to drop (``>= 0``).

    Returns
    -------
    iterator of ndarray
        The remaining chunks; the first one may be a view starting inside
        an upstream chunk.

    Examples
    --------
    >>> import numpy as np
    >>> [c.tolist() for c in skip(iter([np.arange(3), np.arange(3)]), 4)]
    [[1, 2]]
    """
    return drive(Skip(n), chunks)


def rechunk(chunks: Iterator[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Regroup records into chunks of exactly `size` records (the last may be shorter).

    The pull form of the :class:`Rechunk` pusher (``rechunk.push(size)``).

    Parameters
    ----------
    chunks : iterator of ndarray
        Upstream chunks.
    size : int
        Records per output chunk (``>= 1``).

    Returns
    -------
    iterator of ndarray
        Chunks of `size` records, except possibly the last.  A chunk that
        lies inside one upstream chunk is a view; one that spans several is
        a new array (``np.concatenate``).

    Examples
    --------
    >>> import numpy as np
    >>> [c.tolist() for c in rechunk(iter([np.arange(3), np.arange(3, 8)]), 3)]
    [[0, 1, 2], [3, 4, 5], [6, 7]]
    """
    return drive(Rechunk(size), chunks)


take.push = Take  # type: ignore[attr-defined]
skip.push = Skip  # type: ignore[attr-defined]
rechunk.push = Rechunk  # type: ignore[attr-defined]
