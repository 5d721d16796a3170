"""Fan-out to branches that read the time column: the columns of each chunk a
fork sends (:class:`ColumnFeed`) and the consumer of such a branch
(:class:`TimedChainConsumer`).

A fork sends value chunks to its consumers.  A branch whose stages read the
time column (duration windows, calendar bins, sessions, EWM over times)
also needs each chunk's times: the fork puts them in the branch's queue of
the feed before it sends the chunk, and the branch takes them off when the
chunk reaches it -- in order, on the fork's thread or a worker's.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from .generator_pusher import GeneratorPusher
from .steps import Step, Triple, serial_triples

__all__ = ["ColumnFeed", "TimedChainConsumer"]


class ColumnFeed:
    """The time and key columns of the chunks a fork sends, one queue per branch
    that reads them."""

    __slots__ = ("_lock", "queues")

    def __init__(self) -> None:
        self.queues: list[collections.deque[tuple[Any, Any]]] = []
        self._lock = threading.Lock()

    def register(self) -> collections.deque[tuple[Any, Any]]:
        """A new branch's queue."""
        q: collections.deque[tuple[Any, Any]] = collections.deque()
        with self._lock:
            self.queues.append(q)
        return q

    @property
    def wanted(self) -> bool:
        """Whether a branch reads the columns (the fork then iterates them)."""
        return bool(self.queues)

    def put(self, time: np.ndarray | None, key: np.ndarray | None) -> None:
        """The columns of the chunk about to be sent."""
        for q in self.queues:
            q.append((time, key))


class TimedChainConsumer:
    """Chunks with their columns through push steps (some reading the time
    column), then their values into a target consumer."""

    def __init__(self, steps: list[Step], target: Any, start: int,
                 queue: collections.deque[tuple[Any, Any]]) -> None:
        self.target = target
        self.queue = queue

        def make(feed: Iterator[Triple]) -> Iterator[Triple]:
            return serial_triples(steps, feed, start)

        self.pusher = GeneratorPusher(make, " -> ".join(s.name for s in steps))  # type: ignore[arg-type]

    @property
    def done(self) -> bool:
        return self.target.done or self.pusher.done

    def _forward(self, outs: list[Any]) -> None:
        error = self.pusher.error
        for v, _t, _k in outs:
            if len(v):
                self.target.send(v)
        if error is not None:
            self.pusher.error = None
            raise error

    def send(self, chunk: np.ndarray) -> None:
        t, k = self.queue.popleft()
        self._forward(self.pusher.send((chunk, t, k)))  # type: ignore[arg-type]

    def result(self) -> Any:
        return self.target.result()

    def close(self) -> Any:
        self._forward(self.pusher.close())
        return self.target.close()

    def abort(self) -> None:
        self.pusher.abort()
        self.target.abort()
