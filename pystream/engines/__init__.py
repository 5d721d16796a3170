"""Engines: what drives a pipeline -- the local pull loop, threads, or Dask.

Every terminal operation takes ``engine="local" | "threads" | "dask"``,
``workers`` and ``partition_size``; the result is bit-identical whatever the
engine (see the "Engines" page and ``docs/internals/chain.rst``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..chain import Node, compile_chain
from ..chain.steps import has_timed, values_of
from .columns import ordered_triples
from .dask import dask_chunks, dask_reduce
from .options import (
    ENGINES,
    EngineOptions,
    Reduction,
    check_engine,
    default_workers,
    per_partition,
    reduce_in_order,
)
from .threads import threads_chunks, threads_reduce

__all__ = ["ENGINES", "EngineOptions", "Reduction", "check_engine", "default_workers",
           "ordered_chunks", "per_partition", "reduce", "reduce_in_order"]


def reduce(node: Node, reduction: Reduction, options: EngineOptions) -> Any:
    """Run `reduction` over the chain `node` on the engine of `options`; return the state."""
    if options.name == "local":
        return reduce_in_order(node.chunks(), reduction, node.start)
    if _reads_time(node):
        return reduce_in_order(values_of(ordered_triples(node, options)), reduction, node.start)
    if options.name == "threads":
        return threads_reduce(node, reduction, options)
    return dask_reduce(node, reduction, options)


def ordered_chunks(node: Node, options: EngineOptions) -> Iterator[np.ndarray]:
    """The chunks of the chain `node`, in order, computed on the engine of `options`."""
    if options.name == "local":
        return node.chunks()
    if _reads_time(node):
        return values_of(ordered_triples(node, options))
    if options.name == "threads":
        return threads_chunks(node, options)
    return dask_chunks(node, options)


def _reads_time(node: Node) -> bool:
    """Whether a stage of the chain reads the time column: the engines then run it
    over chunks with their columns (its partitions carry the time; the stage
    itself runs in order in the calling thread, as every sequential step)."""
    return has_timed(compile_chain(node)[1])

