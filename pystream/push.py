"""Push mode: running a bound chain of stages on chunks handed to it.

A pulled stream is a chain of generators, each pulling from the one before.
Generators cannot be suspended when pushed input runs out (Python has no
stackful coroutines), so push mode runs each stage through its *push form*
(:mod:`pystream.stages.pushers`): ``send(chunk) -> outputs`` and
``close() -> outputs``.  The built-in stages implement the pull form on top
of the push form, so both modes run the same code and give the same output
bit for bit.  A stage without a push form -- a :meth:`Stream.pipe`
generator, a third-party plugin stage -- runs in a helper thread
(:class:`GeneratorPusher`) that hands chunks in and out one at a time.

This module compiles a bound stream into steps (:func:`compile_steps`) and
drives them (:class:`ChainConsumer`); :mod:`pystream.pipeline` builds the
public objects (``ps.pipeline()``, ``push()``, ``fork``, ``tee``) on top.
"""

from __future__ import annotations

import collections
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .terminals.protocol import Consumer, share_states
from .engines.plan import _fn_name, _stage_name, add_note
from .stages.pushers import PusherDefaults

__all__ = ["ChainConsumer", "GeneratorPusher", "ParallelTee", "PushError", "TeeConsumer", "compile_steps"]


class PushError(RuntimeError):
    """A push sink (or fan-out) was used after it failed or was closed."""


# --------------------------------------------------------------------------- steps


class _FnsStep:
    """The fused stateless functions (``map``, ``filter``, ``astype``, ``select``)."""

    __slots__ = ("fns", "name")
    done = False
    error = None

    def __init__(self, fns: tuple[Callable[[np.ndarray], np.ndarray], ...], name: str) -> None:
        self.fns = fns
        self.name = name

    def send(self, chunk: np.ndarray) -> list[np.ndarray]:
        for f in self.fns:
            chunk = f(chunk)
            if not len(chunk):
                return []
        return [chunk]

    def close(self) -> list[np.ndarray]:
        return []


_END = object()
_ABORT = object()


class _Aborted(BaseException):
    """Raised inside an abandoned generator stage so its cleanup runs."""


class _Channel:
    """What a :class:`GeneratorPusher` shares with its thread (never the pusher
    itself, so an abandoned pusher can be collected and its thread stopped)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.inbox: collections.deque[Any] = collections.deque()
        self.outbox: list[np.ndarray] = []
        self.waiting = False
        self.finished = False
        self.error: BaseException | None = None

    def feed(self) -> Iterator[np.ndarray]:
        """The generator stage's upstream: the chunks sent, blocking in between."""
        cond = self.cond
        while True:
            with cond:
                while not self.inbox:
                    self.waiting = True
                    cond.notify_all()
                    cond.wait()
                self.waiting = False
                item = self.inbox.popleft()
            if item is _END:
                return
            if item is _ABORT:
                raise _Aborted
            yield item

    def run(self, make: Callable[[Iterator[np.ndarray]], Iterator[np.ndarray]]) -> None:
        try:
            for out in make(self.feed()):
                if len(out):
                    self.outbox.append(out)
        except _Aborted:
            pass
        except BaseException as e:  # handed to the thread that sends
            self.error = e
        finally:
            with self.cond:
                self.finished = True
                self.cond.notify_all()

    def put(self, item: Any) -> None:
        """Hand `item` to the stage and wait until it wants more input or ends."""
        with self.cond:
            self.inbox.append(item)
            self.waiting = False
            self.cond.notify_all()
            while not self.finished and not (self.waiting and not self.inbox):
                self.cond.wait()

    def abort(self, thread: threading.Thread | None) -> None:
        if thread is None or not thread.is_alive():
            return
        with self.cond:
            self.inbox.clear()
            self.inbox.append(_ABORT)
            self.cond.notify_all()
        if thread is not threading.current_thread():
            thread.join()


class GeneratorPusher:
    """The push form of a generator stage that has none: the generator runs in
    a helper thread, which gets one chunk per :meth:`send`.

    Each ``send`` hands the chunk over and waits until the generator asks for
    the next one, so the outputs returned are exactly those the generator
    yields before needing more input, as in the pull run.  The thread ends
    at :meth:`close`, at :meth:`abort`, or when the pusher is garbage
    collected (the generator's ``finally`` blocks run in every case).

    Parameters
    ----------
    make : callable
        ``make(chunks) -> iterator of chunks``: the stage applied to an
        upstream iterator.
    name : str
        The stage's name (for the thread's name and error notes).
    """

    def __init__(self, make: Callable[[Iterator[np.ndarray]], Iterator[np.ndarray]],
                 name: str) -> None:
        self.name = name
        self._make = make
        self._channel = _Channel()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def _start(self) -> None:
        ch = self._channel
        self._thread = t = threading.Thread(target=ch.run, args=(self._make,),
                                            name=f"pystream-push-{self.name}", daemon=True)
        t.start()
        weakref.finalize(self, ch.abort, t)

    @property
    def done(self) -> bool:
        """True once the generator has returned (it wants no more input)."""
        return self._channel.finished

    def _take(self) -> list[np.ndarray]:
        ch = self._channel
        out, ch.outbox = ch.outbox, []
        if ch.error is not None:
            error, ch.error = ch.error, None
            self.error = error
        return out

    def send(self, chunk: np.ndarray) -> list[np.ndarray]:
        """Feed `chunk`; return what the generator yields before asking for more.

        Outputs yielded before an exception are returned and the exception is
        left in :attr:`error` (the pull run yields them too before raising).
        """
        if self._thread is None:
            self._start()
        if self._channel.finished:
            return self._take()
        self._channel.put(chunk)
        return self._take()

    def close(self) -> list[np.ndarray]:
        """End the input; return the generator's remaining outputs."""
        if self._thread is None:
            self._start()
        if not self._channel.finished:
            self._channel.put(_END)
        assert self._thread is not None
        self._thread.join()
        return self._take()

    def abort(self) -> None:
        """Stop the generator (its cleanup runs) and join the thread."""
        self._channel.abort(self._thread)


class Step:
    """A compiled step of a push chain: a pusher, its name, and whether it wants
    native byte order (stages do; the fused functions take any)."""

    __slots__ = ("name", "native", "pusher")

    def __init__(self, pusher: Any, name: str, native: bool = False) -> None:
        self.pusher = pusher
        self.name = name
        self.native = native


def _stage_step(src: Any) -> Step:
    stage, args, kwargs = src.stage, src.args, src.kwargs
    name = _stage_name(stage, args)
    push = getattr(stage, "push", None)
    if callable(push):
        pusher = push(*args, **kwargs)
        if not (hasattr(pusher, "done") and hasattr(pusher, "error")):
            pusher = PusherDefaults(pusher)
    else:
        pusher = GeneratorPusher(lambda chunks: stage(chunks, *args, **kwargs), name)
    return Step(pusher, name, src.native)


def compile_steps(bound: Any, root: Any) -> list[Step]:
    """The push steps of `bound`, a stream derived from `root` by stages.

    Parameters
    ----------
    bound : Stream
        The pipeline applied to `root`.
    root : Stream
        The stream the chunks are pushed into (its source is never read).

    Raises
    ------
    TypeError
        If `bound` does not derive from `root`.
    """
    from .stream import _StageSource

    bound._meta()                            # fixes the map functions' output metadata
    steps: list[Step] = []
    s = bound
    while True:
        if s._fns:
            name = " -> ".join(_fn_name(f) for f in s._fns)
            steps.append(Step(_FnsStep(s._fns, name), name))
        src = s._src
        if src is root._src:
            break
        if not isinstance(src, _StageSource):
            raise TypeError("a pipeline must only add stages to the stream it is given; this one "
                            "returned a stream of another source")
        steps.append(_stage_step(src))
        s = src.parent
    steps.reverse()
    return steps


# --------------------------------------------------------------------------- consumers


class ChainConsumer(Consumer):
    """Chunks through push steps, then into a target consumer.

    Follows the pusher protocol of :mod:`pystream.stages.pushers`: a pusher
    that is ``done`` gets nothing more; one whose ``error`` is set has its
    outputs handed on first, then the error is raised.  Every exception
    leaving a step gets a note naming the step and the global records of the
    input chunk it was working on.
    """

    def __init__(self, steps: list[Step], target: Consumer, start: int) -> None:
        super().__init__()
        self.pushers = [st.pusher for st in steps]
        self.names = [st.name for st in steps]
        self.natives = [st.native for st in steps]
        self.target = target
        self.offsets = [start] * len(steps)

    @property
    def done(self) -> bool:  # type: ignore[override]
        return self.target.done or any(p.done for p in self.pushers)

    def _note(self, error: BaseException, i: int, k: int) -> None:
        a = self.offsets[i]
        add_note(error, f"pystream: raised by the stage {self.names[i]!r} on its input chunk of "
                        f"global records [{a}, {a + k})")

    def _run(self, chunks: list[np.ndarray], first: int) -> None:
        pushers, natives, offsets = self.pushers, self.natives, self.offsets
        for i in range(first, len(pushers)):
            p = pushers[i]
            out: list[np.ndarray] | None = None
            for c in chunks:
                if p.done:
                    break
                if natives[i] and not c.dtype.isnative:
                    c = c.astype(c.dtype.newbyteorder("="))
                k = len(c)
                try:
                    produced = p.send(c)
                except Exception as e:
                    self._note(e, i, k)
                    raise
                if p.done and p.error is not None:
                    # The outputs before the bad record go on first, as in the pull run.
                    if produced:
                        self._run(produced, i + 1)
                    self._note(p.error, i, k)
                    raise p.error
                offsets[i] += k
                if produced:
                    out = produced if out is None else out + produced
            if not out:
                return
            chunks = out
        target = self.target
        for c in chunks:
            target.send(c)

    def send(self, chunk: np.ndarray) -> None:
        self._run([chunk], 0)

    def _update(self, chunk: np.ndarray) -> None:  # send() is overridden
        self._run([chunk], 0)

    def flush(self) -> None:
        """End of input: flush every step, in order, through the ones after it."""
        for i, p in enumerate(self.pushers):
            try:
                tail = p.close()
            except Exception as e:
                add_note(e, f"pystream: raised by the stage {self.names[i]!r} at the end of its "
                            f"input (global record {self.offsets[i]})")
                raise
            if tail:
                self._run(tail, i + 1)

    def result(self) -> Any:
        return self.target.result()

    def _result(self) -> Any:  # result() is overridden
        return self.target.result()

    def close(self) -> Any:
        self.flush()
        return self.target.close()

    def abort(self) -> None:
        for p in self.pushers:
            abort = getattr(p, "abort", None)
            if abort is not None:
                abort()
        self.target.abort()


class TeeConsumer(Consumer):
    """Several named consumers fed the same chunks; results are dicts.

    Consumers that can share a state do (:func:`~pystream.terminals.protocol.share_states`).
    """

    def __init__(self, branches: dict[str, Consumer]) -> None:
        super().__init__()
        self.branches = branches
        share_states(list(branches.values()))

    @property
    def done(self) -> bool:  # type: ignore[override]
        return all(c.done for c in self.branches.values())

    def send(self, chunk: np.ndarray) -> None:
        _send_all(list(self.branches.items()), chunk)

    def _update(self, chunk: np.ndarray) -> None:  # send() is overridden
        self.send(chunk)

    def result(self) -> dict[str, Any]:
        # Each branch answers from its cache unless new data reached it.
        return {name: c.result() for name, c in self.branches.items()}

    def _result(self) -> dict[str, Any]:  # result() is overridden
        return self.result()

    def close(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        items = list(self.branches.items())
        for i, (name, c) in enumerate(items):
            try:
                out[name] = c.close()
            except BaseException as e:
                if isinstance(e, Exception):
                    add_note(e, f"pystream: in the branch {name!r}")
                for _, rest in items[i + 1:]:
                    rest.abort()
                raise
        return out

    def abort(self) -> None:
        for c in self.branches.values():
            c.abort()


def _send_all(branches: list[tuple[str, Consumer]], chunk: np.ndarray) -> None:
    for name, c in branches:
        if c.done:
            continue
        try:
            c.send(chunk)
        except Exception as e:
            add_note(e, f"pystream: in the branch {name!r}")
            raise


class _Group:
    """Branches run by one worker thread of a :class:`ParallelTee`, in order."""

    def __init__(self, branches: list[tuple[str, Consumer]], depth: int) -> None:
        import queue

        self.branches = branches
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self.stop = False

    def run(self) -> None:
        q = self.queue
        while True:
            item = q.get()
            try:
                if item is _END or item is _ABORT:
                    return
                if self.error is None and not self.stop:   # else drain: the reader never blocks
                    for chunk in item:
                        _send_all(self.branches, chunk)
            except BaseException as e:
                self.error = e
            finally:
                del item
                q.task_done()

    @property
    def done(self) -> bool:
        return all(c.done for _, c in self.branches)


class ParallelTee(TeeConsumer):
    """A :class:`TeeConsumer` whose branches run on `workers` threads.

    Each thread owns a fixed group of branches (consumers sharing a state are
    in the same group) and gets every chunk through a queue of `depth`
    batches of chunks (:attr:`BATCH_BYTES` each), so the branches of
    different groups run at the same time (the C kernels release the GIL)
    while memory stays bounded.  When all the branches share one state (a
    single group), they run in the calling thread.  Each branch still sees
    the chunks in order, so results are those of the sequential tee.
    :meth:`result` and :meth:`close` first wait until every chunk sent has
    been consumed; sinks are closed in the calling thread.
    """

    #: Chunks are handed to the threads in batches of about this many bytes
    #: (one queue operation per batch, not per chunk).
    BATCH_BYTES = 1 << 20

    def __init__(self, branches: dict[str, Consumer], workers: int, depth: int = 4) -> None:
        super().__init__(branches)
        self._batch: list[np.ndarray] = []
        self._batch_bytes = 0
        groups: list[list[tuple[str, Consumer]]] = [[] for _ in range(max(1, workers))]
        # A consumer reading a state another one updates runs in that one's group.
        home: dict[int, int] = {}
        i = 0
        for name, c in branches.items():
            if getattr(c, "owner", None) is None:
                home[id(c)] = g = i % len(groups)
                i += 1
                groups[g].append((name, c))
        for name, c in branches.items():
            owner = getattr(c, "owner", None)
            if owner is not None:
                groups[home[id(owner)]].append((name, c))
        self.groups = [_Group(g, depth) for g in groups if g]
        self._started = False

    def _start(self) -> None:
        self._started = True
        for n, g in enumerate(self.groups):
            g.thread = threading.Thread(target=g.run, name=f"pystream-fork-{n}", daemon=True)
            g.thread.start()

    def _raise(self) -> None:
        for g in self.groups:
            if g.error is not None:
                error, g.error = g.error, None
                raise error

    def send(self, chunk: np.ndarray) -> None:
        if len(self.groups) == 1:            # nothing to run in parallel: no threads
            _send_all(self.groups[0].branches, chunk)
            return
        self._batch.append(chunk)
        self._batch_bytes += chunk.nbytes
        if self._batch_bytes >= self.BATCH_BYTES:
            self._flush()

    def _flush(self) -> None:
        self._raise()
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        if not batch:
            return
        if not self._started:
            self._start()
        for g in self.groups:
            if not g.done:
                g.queue.put(batch)

    def _sync(self) -> None:
        self._flush()
        for g in self.groups:
            g.queue.join()
        self._raise()

    def result(self) -> dict[str, Any]:
        self._sync()
        return super().result()

    def _stop(self, item: Any) -> None:
        if self._started:
            for g in self.groups:
                g.stop = item is _ABORT
                g.queue.put(item)
            for g in self.groups:
                assert g.thread is not None
                g.thread.join()
            self._started = False

    def close(self) -> dict[str, Any]:
        try:
            self._sync()
        except BaseException:
            self.abort()
            raise
        self._stop(_END)
        return super().close()

    def abort(self) -> None:
        self._stop(_ABORT)
        super().abort()
