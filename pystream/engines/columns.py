"""The time and key columns on the engines: a stream's chunks with their columns,
computed by partitions, the same bytes as the local run.

Each partition runs the plan's parallel prefix over ``(chunk, time, key)``
triples (:meth:`~pystream.chain.Plan.partition_triples`); the sequential
suffix runs in the calling thread.  String keys read by range are encoded
into a dictionary of the partition's own; the calling thread merges those
in partition order (the keys first seen in each partition's own records, in
order), which is exactly the serial run's first-seen order, and remaps the
partition's codes (``docs/design.md``, "Tables").
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._columns import KeyColumn, KeyDictionary
from ..chain import Node, Plan, add_note, make_plan
from ..chain.steps import Triple, serial_triples
from .dask import DEFAULT_PARTITION_BYTES, ORDERED_BATCH, import_dask
from .options import EngineOptions
from .threads import Cancelled, _Pool, _split_partitions, _threads_where, partitions, require_access

__all__ = ["dask_triples", "ordered_triples", "partition_triples", "threads_triples"]


class _FirstSeen:
    """Local key codes in the order they first appear at or after source record `a`."""

    __slots__ = ("a", "order", "seen")

    def __init__(self, a: int) -> None:
        self.a = a
        self.order: list[int] = []
        self.seen: set[int] = set()

    def add(self, at: int, codes: np.ndarray) -> None:
        """Note the codes of source records ``[at, at + len(codes))``."""
        lo = max(0, self.a - at)
        if lo >= len(codes):
            return
        c = codes[lo:]
        c = c[c >= 0]
        uniq, first = np.unique(c, return_index=True)
        for code in uniq[np.argsort(first, kind="stable")].tolist():
            if code not in self.seen:
                self.seen.add(code)
                self.order.append(code)


def _remap(global_keys: KeyDictionary, local: KeyDictionary, firsts: _FirstSeen) -> np.ndarray:
    """Global codes of the local ones (index -1: null), after adding the keys the
    partition saw first, in their order."""
    names = local.keys
    if firsts.order:
        global_keys.encode_indexed(names, np.asarray(firsts.order, dtype=np.int64))
    table = np.empty(len(names) + 1, dtype=np.int64)
    table[-1] = -1
    for i, name in enumerate(names):
        # A key met only in the warm-up (records owned by an earlier partition)
        # is already in the merged dictionary.
        table[i] = global_keys.code(name)
    return table


PartitionColumns = tuple[list[Triple], "KeyDictionary | None", "_FirstSeen | None"]


def partition_triples(plan: Plan, read_triples: Any, local: bool, a: int, b: int | None,
                      cancel: Any = None) -> PartitionColumns:
    """The prefix's output triples for root partition ``[a, b)``, with the
    partition's own key dictionary and first-seen keys when `local` (a
    module-level function: Dask tasks pickle it)."""
    keys = KeyDictionary() if local else None
    firsts = _FirstSeen(a) if local else None

    def read(p: int, stop: int | None) -> Iterator[Triple]:
        at = p
        for v, t, k in read_triples(p, stop, None, keys):
            if cancel is not None and cancel.is_set():
                raise Cancelled
            if firsts is not None and k is not None:
                firsts.add(at, k)
            at += len(v)
            yield v, t, k

    if firsts is not None:
        # Records the partition owns but does not read (a skip's): the serial
        # run reads them, so their keys take codes too.
        p = plan.input_start(a, b)
        if p > a:
            for _ in read(a, p if b is None else min(p, b)):
                pass
    return list(plan.partition_triples(a, b, read)), keys, firsts


def _in_order(results: Iterator[PartitionColumns], key: KeyColumn | None) -> Iterator[Triple]:
    """The partitions' triples in order, their local key codes made the stream's."""
    for out, keys, firsts in results:
        if keys is None or firsts is None:
            yield from out
            continue
        assert key is not None and key.dictionary is not None
        table = _remap(key.dictionary, keys, firsts)
        for v, t, k in out:
            yield v, t, None if k is None else table[np.where(k < 0, len(table) - 1, k)]


def _column_access(plan: Plan, engine: str) -> Any:
    access = require_access(plan, engine)
    if access.triples is None:
        raise ValueError(f"engine={engine!r}: {access.name} cannot read its time and key "
                         "columns by range; use engine='local'")
    return access


def _local_keys(node: Node, access: Any) -> bool:
    key = node.table.key
    return bool(access.local_keys and key is not None and key.dictionary is not None)


def threads_triples(node: Node, options: EngineOptions) -> Iterator[Triple]:
    """The chunks of `node` with their time and key columns, in order, computed by
    partitions on a thread pool (bit-identical to :meth:`Node.triples`)."""
    plan = make_plan(node, columns=True)
    access = _column_access(plan, "threads")
    local = _local_keys(node, access)
    _, workers, parts = _split_partitions(plan, access, options, ordered=True)
    pool = _Pool(workers)

    def work(a: int, b: int | None) -> PartitionColumns:
        try:
            return partition_triples(plan, access.triples, local, a, b, pool.cancel)
        except Exception as e:
            if not pool.cancel.is_set():
                add_note(e, _threads_where(plan, a, b))
            raise

    first = plan.output_range(0, None)[0] if plan.indexed else 0
    source = _in_order(pool.ordered(work, parts, depth=workers + 1), node.table.key)
    try:
        yield from serial_triples(plan.suffix, source, plan.start + first)
    finally:
        source.close()
        pool.close()


def _dask_task(plan: Plan, read_triples: Any, local: bool, a: int, b: int | None
               ) -> PartitionColumns:
    try:
        return partition_triples(plan, read_triples, local, a, b)
    except Exception as e:
        add_note(e, f"pystream: engine='dask', in the partition from record {plan.start + a} "
                    f"to {'the end' if b is None else f'record {plan.start + b}'}")
        raise


def dask_triples(node: Node, options: EngineOptions) -> Iterator[Triple]:
    """The chunks of `node` with their time and key columns, in order, partitions
    computed as Dask tasks a batch at a time (bit-identical to :meth:`Node.triples`).

    Each task reads its records through the source's ``triples`` (a file
    source pickles small; an in-memory array travels with the task).
    """
    import dask

    import_dask()
    plan = make_plan(node, columns=True)
    access = _column_access(plan, "dask")
    local = _local_keys(node, access)
    n = plan.effective_length(access.length())
    size = options.partition_size or max(1, DEFAULT_PARTITION_BYTES // plan.record_nbytes)
    task = dask.delayed(functools.partial(_dask_task, dataclasses.replace(plan, access=None),
                                          access.triples, local), pure=False)
    tasks = [task(a, b) for a, b in partitions(n, size)]

    def computed() -> Iterator[PartitionColumns]:
        for i in range(0, len(tasks), ORDERED_BATCH):
            yield from dask.compute(*tasks[i:i + ORDERED_BATCH])

    first = plan.output_range(0, None)[0] if plan.indexed else 0
    yield from serial_triples(plan.suffix, _in_order(computed(), node.table.key),
                              plan.start + first)


def ordered_triples(node: Node, options: EngineOptions) -> Iterator[Triple]:
    """The chunks of `node` with their time and key columns, in order, on the engine
    of `options`."""
    if options.name == "local":
        return node.triples()
    if options.name == "threads":
        return threads_triples(node, options)
    return dask_triples(node, options)

