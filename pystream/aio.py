"""asyncio: streams from async iterables, and ``async for`` over any stream.

``from_async_iterable(aiter, dtype)`` makes a stream whose chunks arrive
from an async iterable (a socket reader, a queue fed by callbacks...).
Inside an event loop, ``async for chunk in stream`` runs its stages in push
mode (:mod:`pystream.push`) as the items arrive; a chunk of
:data:`OFFLOAD_BYTES` or more is processed in a worker thread (the C
kernels release the GIL), so large chunks do not block the loop.  Outside an
event loop, the same stream can be iterated or reduced synchronously: a
private event loop then drives the async iterable.

``async for`` over a stream with an ordinary source advances the whole pull
chain in a worker thread, one chunk at a time, since any source may block on
I/O (files, pipes) or run C work on large chunks.

Each ``async for`` owns one worker thread, shut down when the loop ends,
breaks or is cancelled (after the chunk being processed, so the stages are
closed in order).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from ._checks import normalize_record_shape
from .stream import _OneShotSource

__all__ = ["OFFLOAD_BYTES", "AsyncSource", "aiter_stream", "from_async_iterable"]

#: Chunks of at least this many bytes are processed in the worker thread.
OFFLOAD_BYTES = 1 << 18

_IN_LOOP = (
    "this stream reads an async iterable, and the calling thread runs an event loop that a "
    "synchronous pass would block; use `async for chunk in stream` (or push the items into "
    "a pipeline: ps.pipeline()...push())"
)


class AsyncSource(_OneShotSource):
    """A one-shot source over an async iterable.

    A synchronous pass (``open``/``peek``) drives it with a private event
    loop; :func:`aiter_stream` reads it in the caller's loop.
    """

    __slots__ = ("_ait", "_offset", "aiterable", "dtype", "record_shape")

    def __init__(self, aiterable: AsyncIterable[Any], dtype: np.dtype,
                 record_shape: tuple[int, ...]) -> None:
        super().__init__(self._sync_chunks)
        self.aiterable = aiterable
        self.dtype = dtype
        self.record_shape = record_shape
        self._ait: AsyncIterator[Any] | None = None
        self._offset = 0

    def convert(self, item: Any) -> np.ndarray:
        """`item` as a chunk of the stream (see :func:`from_async_iterable`)."""
        from .pipeline import as_chunk

        chunk = as_chunk(item, self.dtype, self.record_shape,
                         f"from_async_iterable: the item at record {self._offset}")
        self._offset += len(chunk)
        return chunk

    def _aiterator(self) -> AsyncIterator[Any]:
        if self._ait is None:
            self._ait = aiter(self.aiterable)
        return self._ait

    async def prefetch(self) -> None:
        """Read the first item in the running loop and keep it for a synchronous
        peek (what resolves a ``map``'s output type when it cannot be inferred)."""
        if self._buffer or self._it is not None:
            return
        self._check()
        try:
            item = await anext(self._aiterator())
        except StopAsyncIteration:
            self._it = iter(())                  # nothing more to read
            return
        self._buffer.append(self.convert(item))

    def _sync_chunks(self) -> Iterator[np.ndarray]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(_IN_LOOP)
        loop = asyncio.new_event_loop()
        it = self._aiterator()
        try:
            while True:
                try:
                    item = loop.run_until_complete(anext(it))
                except StopAsyncIteration:
                    return
                yield self.convert(item)
        finally:
            loop.run_until_complete(_aclose(it))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def async_chunks(self, worker: _Worker) -> AsyncIterator[np.ndarray]:
        """The chunks, read in the running loop (once, like ``open``)."""
        self._check()
        self._consumed = True
        while self._buffer:                  # chunks a synchronous peek already read
            yield self._buffer.popleft()
        if self._it is not None:
            # A synchronous peek started the private-loop reader: go on with it.
            sync = self._it
            while True:
                chunk = await worker.run(next, sync, None)
                if chunk is None:
                    return
                yield chunk
        it = self._aiterator()
        try:
            async for item in it:
                yield self.convert(item)
        finally:
            await _aclose(it)


async def _aclose(it: Any) -> None:
    """Close an async generator (its ``finally`` blocks run); other iterators need nothing."""
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        await aclose()


def from_async_iterable(aiterable: AsyncIterable[Any], dtype: DTypeLike,
                        record_shape: tuple[int, ...] = ()) -> Any:
    """Stream the items of an async iterable (chunks, records or scalars).

    Each item is one chunk ``(k, *record_shape)``, one record (an array of
    `record_shape`, or a scalar for scalar records) or a list of either;
    lists and scalars are converted to `dtype`, arrays of another dtype are
    refused.  Push chunks rather than single values: Python runs once per
    item.

    Parameters
    ----------
    aiterable : async iterable
        E.g. an async generator; read once (the stream is one-shot).
    dtype : dtype-like
        The records' dtype.
    record_shape : tuple of int, optional
        Shape of one record (``()``: scalars).

    Returns
    -------
    Stream
        A one-shot stream.  Inside an event loop, iterate it with ``async
        for`` (its stages run in push mode as the items arrive, large chunks
        in a worker thread); outside, any synchronous use (``for``,
        ``to_array()``, ``describe()``...) drives the iterable with a
        private event loop.

    Raises
    ------
    TypeError
        If `aiterable` is not an async iterable, or for an object dtype.

    Examples
    --------
    >>> import asyncio, numpy as np, pystream as ps
    >>> async def readings():
    ...     for block in ([1.0, 2.0], [3.0], 4.0):
    ...         await asyncio.sleep(0)
    ...         yield block
    >>> async def main():
    ...     s = ps.from_async_iterable(readings(), "float64").cumsum()
    ...     return [c.tolist() async for c in s]
    >>> asyncio.run(main())
    [[1.0, 3.0], [6.0], [10.0]]
    >>> ps.from_async_iterable(readings(), "float64").sum()   # no loop running: fine
    np.float64(10.0)
    """
    from .stream import Stream

    if not hasattr(aiterable, "__aiter__"):
        raise TypeError(f"from_async_iterable: expected an async iterable, got "
                        f"{type(aiterable).__name__} (use from_iterable for a plain iterable)")
    dt = np.dtype(dtype)
    if dt.hasobject or dt.kind not in "biufc":
        raise TypeError(f"from_async_iterable: streams hold numbers, not {dt}")
    rs = normalize_record_shape(record_shape, "from_async_iterable")
    return Stream._from_source(AsyncSource(aiterable, dt, rs), dt, rs)


class _Worker:
    """One worker thread for an ``async for``: runs calls in order, off the loop."""

    def __init__(self) -> None:
        self.pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pystream-async")
        self.pending: concurrent.futures.Future[Any] | None = None

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        future = self.pool.submit(fn, *args)
        self.pending = future
        result = await asyncio.wrap_future(future)
        self.pending = None
        return result

    def shutdown(self) -> None:
        """Wait for the call in progress (a cancelled ``await`` leaves it
        running), then stop the thread."""
        if self.pending is not None:
            concurrent.futures.wait([self.pending])
        self.pool.shutdown(wait=True)


def _root(stream: Any) -> Any:
    from .stream import _StageSource

    s = stream
    while isinstance(s._src, _StageSource):
        s = s._src.parent
    return s


async def aiter_stream(stream: Any) -> AsyncIterator[np.ndarray]:
    """``async for chunk in stream`` (see the module docstring)."""
    from .pipeline import _Output
    from .push import ChainConsumer, compile_steps
    from .stream import _close

    root = _root(stream)
    worker = _Worker()
    try:
        if isinstance(root._src, AsyncSource):
            if stream._dtype is None:
                await root._src.prefetch()
            out = _Output(stream._meta())
            chain = ChainConsumer(compile_steps(stream, root), out, root.start)
            try:
                async for chunk in root._src.async_chunks(worker):
                    if not len(chunk):
                        continue
                    if chunk.nbytes >= OFFLOAD_BYTES:
                        await worker.run(chain.send, chunk)
                    else:
                        chain.send(chunk)
                    result = out.take()
                    if len(result):
                        yield result
                    del result
                    if chain.done:
                        break
                chain.flush()
            except BaseException:
                worker.shutdown()
                chain.abort()
                raise
            result = out.take()
            if len(result):
                yield result
        else:
            it = stream._iter()
            try:
                while True:
                    chunk = await worker.run(next, it, None)
                    if chunk is None:
                        return
                    yield chunk
                    del chunk
            finally:
                worker.shutdown()
                _close(it)
    finally:
        worker.shutdown()
