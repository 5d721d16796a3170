"""The push form of a generator stage that has none: the generator in a helper thread.

See ``docs/internals/chain.rst`` (push mode).
"""

from __future__ import annotations

import collections
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["END", "ABORT", "GeneratorPusher"]

#: Sentinels handed through a channel or a queue: end of input, give up.
END = object()
ABORT = object()


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
            if item is END:
                return
            if item is ABORT:
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
            self.inbox.append(ABORT)
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
            self._channel.put(END)
        assert self._thread is not None
        self._thread.join()
        return self._take()

    def abort(self) -> None:
        """Stop the generator (its cleanup runs) and join the thread."""
        self._channel.abort(self._thread)
