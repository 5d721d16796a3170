"""Push mode: compiled steps driven by chunks handed to them, and fan-out to consumers.

A consumer has ``send(chunk)``, ``result()``, ``close()``, ``abort()`` and
``done`` (see :mod:`pystream.terminals.protocol`).  See ``docs/internals/chain.rst``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .generator_pusher import ABORT, END
from .steps import Step, add_note, stage_note, to_native

__all__ = ["ChainConsumer", "ChunkCollector", "ParallelTee", "PushError", "TeeConsumer"]


class PushError(RuntimeError):
    """A push sink (or fan-out) was used after it failed or was closed."""


class ChainConsumer:
    """Chunks through push steps, then into a target consumer.

    Follows the pusher protocol of :mod:`pystream.stages.pushers`: a pusher
    that is ``done`` gets nothing more; one whose ``error`` is set has its
    outputs handed on first, then the error is raised.  Every exception
    leaving a step gets a note naming the step and the global records of the
    input chunk it was working on.
    """

    def __init__(self, steps: list[Step], target: Any, start: int) -> None:
        self.pushers = [st.pusher() for st in steps]
        self.names = [st.name for st in steps]
        self.natives = [st.native for st in steps]
        self.target = target
        self.offsets = [start] * len(steps)

    @property
    def done(self) -> bool:
        return self.target.done or any(p.done for p in self.pushers)

    def _note(self, error: BaseException, i: int, k: int) -> None:
        a = self.offsets[i]
        stage_note(error, self.names[i], a, a + k)

    def _run(self, chunks: list[np.ndarray], first: int) -> None:
        pushers, natives, offsets = self.pushers, self.natives, self.offsets
        for i in range(first, len(pushers)):
            p = pushers[i]
            out: list[np.ndarray] | None = None
            for c in chunks:
                if p.done:
                    break
                if natives[i] and not c.dtype.isnative:
                    c = to_native(c)
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

    def close(self) -> Any:
        self.flush()
        return self.target.close()

    def abort(self) -> None:
        for p in self.pushers:
            abort = getattr(p, "abort", None)
            if abort is not None:
                abort()
        self.target.abort()


class TeeConsumer:
    """Several named consumers fed the same chunks; results are dicts.

    ``share(consumers)``, if given, lets consumers that can share a state do
    so (:func:`~pystream.terminals.protocol.share_states`).
    """

    def __init__(self, branches: dict[str, Any],
                 share: Callable[[list[Any]], None] | None = None) -> None:
        self.branches = branches
        if share is not None:
            share(list(branches.values()))

    @property
    def done(self) -> bool:
        return all(c.done for c in self.branches.values())

    def send(self, chunk: np.ndarray) -> None:
        _send_all(list(self.branches.items()), chunk)

    def result(self) -> dict[str, Any]:
        # Each branch answers from its cache unless new data reached it.
        return {name: c.result() for name, c in self.branches.items()}

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


def _send_all(branches: list[tuple[str, Any]], chunk: np.ndarray) -> None:
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

    def __init__(self, branches: list[tuple[str, Any]], depth: int) -> None:
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
                if item is END or item is ABORT:
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

    def __init__(self, branches: dict[str, Any], workers: int, depth: int = 4,
                 share: Callable[[list[Any]], None] | None = None) -> None:
        super().__init__(branches, share)
        self._batch: list[np.ndarray] = []
        self._batch_bytes = 0
        groups: list[list[tuple[str, Any]]] = [[] for _ in range(max(1, workers))]
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
                g.stop = item is ABORT
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
        self._stop(END)
        return super().close()

    def abort(self) -> None:
        self._stop(ABORT)
        super().abort()


class ChunkCollector:
    """A chain's output collected between pushes (the target of a push sink
    without one, and of the async driver): :meth:`take` hands it over."""

    done = False

    def __init__(self, meta: tuple[np.dtype, tuple[int, ...]]) -> None:
        self.meta = meta
        self.chunks: list[np.ndarray] = []

    def send(self, chunk: np.ndarray) -> None:
        self.chunks.append(chunk)

    def take(self) -> np.ndarray:
        """The output since the last call, as one array (empty if none)."""
        chunks, self.chunks = self.chunks, []
        if len(chunks) == 1:
            return chunks[0]
        if chunks:
            return np.concatenate(chunks)
        dt, rs = self.meta
        return np.empty((0, *rs), dt)

    def result(self) -> Any:
        raise TypeError("result(): this push sink has no target; its output is returned by "
                        "send() and close() (push a reducer, e.g. push('describe'), for a result)")

    def close(self) -> None:
        """Nothing to finish: the output is taken with :meth:`take`."""

    def abort(self) -> None:
        """Nothing to release."""
