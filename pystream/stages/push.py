"""The push form of a stage: a *pusher*, and :func:`drive`, the pull form built on it.

A generator stage ``stage(chunks, ...)`` *pulls* its input.  Push mode (a
pipeline fed with ``sink.send(chunk)``) cannot use it: a generator that has
asked its upstream for the next chunk cannot be suspended until someone
pushes one.  So every built-in stage keeps its state machine in a
**pusher** object, fed one chunk at a time, and its pull form is
:func:`drive` over a fresh pusher: one implementation, so push and pull give
the same chunks, bit for bit, by construction.

The protocol
------------
A stage offers ``stage.push(*args, **kwargs)``, taking the same arguments
as its pull call after ``chunks``: where a :class:`~pystream.stream.Stream`
calls ``stage(chunks, start=s)`` (C stages also take ``alloc=``), push mode
calls ``stage.push(start=s)`` and gets a fresh pusher for one pass.  The
structural functions are called as ``take(chunks, n)``, ``skip(chunks, n)``
and ``rechunk(chunks, size)``; their pushers are ``take.push(n)``,
``skip.push(n)`` and ``rechunk.push(size)``.

A pusher (see :class:`Pusher`) has:

``send(chunk) -> list[ndarray]``
    Feed one chunk: native byte order, the stage's input dtype, shape
    ``(k, *record_shape)``; ``k`` may be 0 (then the result is ``[]``).
    Returns the output chunks this input completes, in order, each
    non-empty; often ``[]`` (a window still filling) or one chunk.  They
    may be views (of the input, or of a buffer the stage reuses once the
    caller has let go of them), exactly as the pull form yields them.
``close() -> list[ndarray]``
    End of the stream: returns the pending output (e.g. an incomplete last
    block).  Called at most once, and nothing is sent after it.
``done: bool``
    True once the pusher will output nothing more, whatever it is sent:
    ``take`` after its ``n`` records, and any pusher whose ``error`` is
    set.  A caller stops sending then (the pull form stops pulling
    upstream, so ``take`` works on infinite sources).
``error: BaseException | None``
    The error of the data seen so far, or None.  When a chunk holds a bad
    record (a NaN under ``nan_policy="raise"``), ``send`` returns the
    outputs completed *before* that record and sets ``error`` (and
    ``done``).  The caller hands those outputs on, then raises ``error``:
    that is what the pull form does (it yields the records before the NaN,
    then raises), so the outputs that precede an error do not depend on
    the chunking.

Errors are thus reported in one of two ways, and a caller handles both:

1. ``send`` returns and ``error`` is set: emit the returned outputs, then
   ``raise pusher.error``.
2. ``send`` (or ``close``) raises: that call produced no output to keep
   (invalid chunks, a C kernel's status, an integer overflow of an exact
   ``cumsum``: the pull form raises them before yielding anything of that
   chunk too).

Either way the pusher is broken: send it nothing more and do not close it.

A caller checks ``done`` after each ``send`` (one attribute load) and
looks at ``error`` only when ``done`` is true::

    outs = pusher.send(chunk)
    emit(outs)
    if pusher.done:
        if pusher.error is not None:
            raise pusher.error
        ...  # stop feeding this pusher; its close() gives nothing

Optional: ``passthrough``
~~~~~~~~~~~~~~~~~~~~~~~~~
``passthrough: int`` (a pusher without it counts as 0) is the pusher's
promise about the records coming next: a chunk of ``k <= passthrough``
records would come out unchanged, ``send(chunk) == [chunk]`` (``[]`` for
``k == 0``), with no effect but lowering ``passthrough`` by ``k``.  A caller
may then skip ``send``: emit the chunk itself and lower ``passthrough`` by
``k`` (before its next ``send`` or ``close``).  ``take(n)`` passes
``n - 1`` records this way, ``skip(n)`` every record after the first
``n``; ``sys.maxsize`` means every record from now on.  :func:`drive` uses
it, so a pure pass-through costs the pull form no call per chunk; a push
pipeline may use it or ignore it (``send`` gives the same result).

Stages without ``push``
-----------------------
Third-party generator stages need not offer ``push``: push mode then runs
the generator in a helper thread that it feeds through a queue.  A plugin
stage that offers ``push`` avoids that thread; :func:`drive` gives its pull
form from the same pusher.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["PusherDefaults", "Pusher", "drive"]


@runtime_checkable
class Pusher(Protocol):
    """One pass of a stage, fed chunk by chunk (see the module docstring).

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
