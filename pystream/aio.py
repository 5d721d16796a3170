"""asyncio: streams from async iterables (:func:`from_async_iterable`).

``async for chunk in stream`` is driven by :mod:`pystream.chain.async_driver`;
how both work is described in ``docs/internals/chain.rst``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from ._checks import normalize_record_shape
from .chain import OFFLOAD_BYTES, OneShotSource
from .chain.async_driver import AsyncWorker
from .pipeline import as_chunk
from .stream import Stream

__all__ = ["OFFLOAD_BYTES", "AsyncSource", "from_async_iterable"]

_IN_LOOP = (
    "this stream reads an async iterable, and the calling thread runs an event loop that a "
    "synchronous pass would block; use `async for chunk in stream` (or push the items into "
    "a pipeline: ps.pipeline()...push())"
)


class AsyncSource(OneShotSource):
    """A one-shot source over an async iterable.

    A synchronous pass (``open``/``peek``) drives it with a private event
    loop; :func:`pystream.chain.aiter_chunks` reads it in the caller's loop.
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

    async def async_chunks(self, worker: AsyncWorker) -> AsyncIterator[np.ndarray]:
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
    if not hasattr(aiterable, "__aiter__"):
        raise TypeError(f"from_async_iterable: expected an async iterable, got "
                        f"{type(aiterable).__name__} (use from_iterable for a plain iterable)")
    dt = np.dtype(dtype)
    if dt.hasobject or dt.kind not in "biufc":
        raise TypeError(f"from_async_iterable: streams hold numbers, not {dt}")
    rs = normalize_record_shape(record_shape, "from_async_iterable")
    return Stream._from_source(AsyncSource(aiterable, dt, rs), dt, rs)
