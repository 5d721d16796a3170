"""``async for chunk in stream``: a chain driven without blocking the event loop.

A chain whose source reads an async iterable (it has ``async_chunks``) runs
in push mode as the items arrive; any other is pulled in a worker thread.
See ``docs/internals/chain.rst``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

from .nodes import Node, push_steps
from .push_runner import ChunkCollector
from .push_runner import ChainConsumer
from .steps import close_iterator

__all__ = ["OFFLOAD_BYTES", "AsyncWorker", "aiter_chunks"]

#: Chunks of at least this many bytes are processed in the worker thread.
OFFLOAD_BYTES = 1 << 18


class AsyncWorker:
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


    def abort(self) -> None:
        pass


async def aiter_chunks(node: Node) -> AsyncIterator[np.ndarray]:
    """The output chunks of `node` for ``async for`` (see the module docstring)."""
    root = node.root()
    source: Any = root.source
    worker = AsyncWorker()
    try:
        if callable(getattr(source, "async_chunks", None)):
            if node.dtype is None:
                await source.prefetch()
            out = ChunkCollector(node.meta())
            chain = ChainConsumer(push_steps(node, root), out, root.start)
            try:
                async for chunk in source.async_chunks(worker):
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
            it = node.chunks()
            try:
                while True:
                    chunk = await worker.run(next, it, None)
                    if chunk is None:
                        return
                    yield chunk
                    del chunk
            finally:
                worker.shutdown()
                close_iterator(it)
    finally:
        worker.shutdown()
