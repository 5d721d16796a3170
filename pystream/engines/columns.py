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

from collections.abc import Iterator

import numpy as np

from .._columns import KeyDictionary
from ..chain import Node, add_note, make_plan
from ..chain.steps import Triple, serial_triples
from .options import EngineOptions
from .threads import Cancelled, _Pool, _split_partitions, _threads_where, require_access

__all__ = ["ordered_triples", "threads_triples"]


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


def threads_triples(node: Node, options: EngineOptions) -> Iterator[Triple]:
    """The chunks of `node` with their time and key columns, in order, computed by
    partitions on a thread pool (bit-identical to :meth:`Node.triples`)."""
    plan = make_plan(node)
    access = require_access(plan, "threads")
    if access.triples is None:
        raise ValueError(f"engine='threads': {access.name} cannot read its time and key columns "
                         "by range; use engine='local'")
    read_triples = access.triples
    _, workers, parts = _split_partitions(plan, access, options, ordered=True)
    pool = _Pool(workers)
    cancel = pool.cancel
    key = node.table.key
    local = access.local_keys and key is not None and key.dictionary is not None

    def work(a: int, b: int | None) -> tuple[list[Triple], KeyDictionary | None, _FirstSeen | None]:
        keys = KeyDictionary() if local else None
        firsts = _FirstSeen(a) if local else None

        def read(p: int, stop: int | None) -> Iterator[Triple]:
            at = p
            for v, t, k in read_triples(p, stop, None, keys):
                if cancel.is_set():
                    raise Cancelled
                if firsts is not None and k is not None:
                    firsts.add(at, k)
                at += len(v)
                yield v, t, k

        try:
            if firsts is not None:
                # Records the partition owns but does not read (a skip's): the
                # serial run reads them, so their keys take codes too.
                p = plan.input_start(a, b)
                if p > a:
                    for _ in read(a, p if b is None else min(p, b)):
                        pass
            return list(plan.partition_triples(a, b, read)), keys, firsts
        except Exception as e:
            if not cancel.is_set():
                add_note(e, _threads_where(plan, a, b))
            raise

    def flat() -> Iterator[Triple]:
        for out, keys, firsts in pool.ordered(work, parts, depth=workers + 1):
            if keys is None or firsts is None:
                yield from out
                continue
            assert key is not None and key.dictionary is not None
            table = _remap(key.dictionary, keys, firsts)
            for v, t, k in out:
                yield v, t, None if k is None else table[np.where(k < 0, len(table) - 1, k)]

    first = plan.output_range(0, None)[0] if plan.indexed else 0
    source = flat()
    try:
        yield from serial_triples(plan.suffix, source, plan.start + first)
    finally:
        source.close()
        pool.close()


def ordered_triples(node: Node, options: EngineOptions) -> Iterator[Triple]:
    """The chunks of `node` with their time and key columns, in order, on the engine
    of `options` (``"local"`` or ``"threads"``)."""
    if options.name == "local":
        return node.triples()
    if options.name == "threads":
        return threads_triples(node, options)
    raise ValueError("the time and key columns are computed on engine='local' or 'threads'; "
                     "engine='dask' runs the value terminals (describe, to_array, ...) only")

