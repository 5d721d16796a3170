"""The push form of a stage: the :class:`Pusher` protocol, and :func:`drive`, the
pull form built on it.

The protocol (``send``, ``close``, ``done``, ``error``, ``passthrough``) is
described in ``docs/internals/stages.rst``, "The pusher protocol".
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["PusherDefaults", "Pusher", "drive"]


@runtime_checkable
class Pusher(Protocol):
    """One pass of a stage, fed chunk by chunk (see ``docs/internals/stages.rst``).

    Attributes
    ----------
    done : bool
        True once nothing more will be output, whatever is sent (also when
        `error` is set).
    error : BaseException or None
        Set by :meth:`send` when the chunk it got holds a bad record: the
        outputs it returned precede that record; the caller raises `error`
        after handing them on.

    Examples
    --------
    >>> import numpy as np
    >>> from pystream.stages.structural import take
    >>> p = take.push(3)
    >>> isinstance(p, Pusher)
    True
    >>> [c.tolist() for c in p.send(np.arange(2))], p.done
    ([[0, 1]], False)
    >>> [c.tolist() for c in p.send(np.arange(2, 6))], p.done
    ([[2]], True)
    >>> p.close()
    []
    """

    done: bool
    error: BaseException | None

    def send(self, chunk: np.ndarray) -> list[np.ndarray]:
        """Feed one chunk; return the non-empty output chunks it completes (maybe ``[]``).

        Parameters
        ----------
        chunk : ndarray
            Shape ``(k, *record_shape)``, native byte order, the stage's
            input dtype; ``k`` may be 0.

        Returns
        -------
        list of ndarray
            The outputs, in order.  If :attr:`error` is set on return, they
            are the outputs completed before the bad record.
        """
        ...

    def close(self) -> list[np.ndarray]:
        """End of the stream: return the pending output (maybe ``[]``); call once.

        Returns
        -------
        list of ndarray
            Non-empty output chunks, in order.
        """
        ...


class PusherDefaults:
    """A third-party pusher with the protocol's optional parts filled in.

    ``done`` and ``error`` are optional for plugins' pushers, ``abort`` too:
    this wrapper reads them when present and gives the defaults (``False``,
    ``None``, nothing to do) otherwise, so a chain reads them directly.
    Subclasses may check what ``send`` / ``close`` return.
    """

    __slots__ = ("pusher",)

    def __init__(self, pusher: Any) -> None:
        self.pusher = pusher

    @property
    def done(self) -> bool:
        return bool(getattr(self.pusher, "done", False))

    @property
    def error(self) -> BaseException | None:
        return getattr(self.pusher, "error", None)

    def send(self, chunk: np.ndarray) -> list[np.ndarray]:
        return self.pusher.send(chunk)

    def close(self) -> list[np.ndarray]:
        return self.pusher.close()

    def abort(self) -> None:
        abort = getattr(self.pusher, "abort", None)
        if abort is not None:
            abort()


def drive(pusher: Pusher, chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """The pull form of a stage: run `pusher` over the upstream iterator `chunks`.

    Sends each upstream chunk and yields the outputs; stops pulling
    upstream as soon as the pusher is ``done``; raises the pusher's
    ``error`` after yielding the outputs that precede it; at the end of the
    input yields the outputs of ``close()`` (not after an error).  Chunks
    the pusher's ``passthrough`` covers are yielded without ``send``.  The
    upstream iterator is always closed when this generator finishes (also
    early: ``done``, an error, or the consumer closing it).

    Parameters
    ----------
    pusher : Pusher
        A fresh pusher (nothing sent to it yet).
    chunks : iterator of ndarray
        Upstream chunks.

    Returns
    -------
    iterator of ndarray
        The stage's output chunks, none empty.

    Raises
    ------
    Exception
        The pusher's ``error``, or whatever its ``send`` / ``close`` raise.

    Examples
    --------
    >>> import itertools
    >>> import numpy as np
    >>> from pystream.stages.structural import take
    >>> endless = (np.arange(i, i + 2) for i in itertools.count(0, 2))
    >>> [c.tolist() for c in drive(take.push(3), endless)]
    [[0, 1], [2]]
    """
    # Both loops are written out inline: the pull path pays one call of
    # `send` per chunk and nothing else (the outputs are let go before the
    # next send, so a stage that reuses its output buffers finds them free).
    try:
        if not pusher.done:
            send = pusher.send
            if not hasattr(pusher, "passthrough"):
                for chunk in chunks:
                    outs = send(chunk)
                    if outs:
                        if len(outs) == 1:
                            yield outs[0]
                        else:
                            yield from outs
                        del outs
                    if pusher.done:
                        break
            else:
                # The chunks `passthrough` covers go out without a send; the
                # budget lives in a local, written back before each send.
                budget = pusher.passthrough
                for chunk in chunks:
                    k = len(chunk)
                    if k <= budget:
                        if k:
                            budget -= k
                            yield chunk
                        continue
                    pusher.passthrough = budget
                    outs = send(chunk)
                    if outs:
                        if len(outs) == 1:
                            yield outs[0]
                        else:
                            yield from outs
                        del outs
                    if pusher.done:
                        break
                    budget = pusher.passthrough
                    if budget == sys.maxsize:  # every record from now on passes
                        for chunk in chunks:
                            if len(chunk):
                                yield chunk
                        break
                else:
                    pusher.passthrough = budget
            error = pusher.error
            if error is not None:
                raise error
        outs = pusher.close()
        if outs:
            yield from outs
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
