"""Keys to dense slots, and the one grouping pass per chunk every keyed state and
stage makes (see ``docs/keys.rst``).

A keyed state keeps one unkeyed state per key, in a slot: slots are handed
out in the order keys are first seen, so the results list keys in that order.
:class:`KeySlots` maps a chunk's int64 key codes to slots (refusing more than
``max_keys`` live keys, naming the record that would have added one) and frees
the slots of evicted keys for reuse; :func:`group_rows` orders a chunk's rows
by slot, stably, so each key's records are fed to its state in stream order.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._native import check_status, ffi, lib

__all__ = ["BATCH_RECORDS", "KeySlots", "TooManyKeys", "batch_size", "batched", "check_max_keys",
           "group_rows"]


class TooManyKeys(ValueError):
    """More distinct live keys than ``max_keys``: raised before the chunk holding the
    first extra key changes any state (``record`` is its global index)."""

    def __init__(self, where: str, record: int, key: Any, max_keys: int) -> None:
        super().__init__(
            f"{where}: record {record} has key {key!r}, one more than max_keys={max_keys} "
            "distinct keys; raise max_keys (or, for stages per key, let idle keys go with a "
            "ttl)")
        self.record = record
        self.key = key
        self.max_keys = max_keys


def check_max_keys(max_keys: object, where: str) -> int | None:
    """`max_keys` as a positive int, or None (no limit)."""
    if max_keys is None:
        return None
    if isinstance(max_keys, bool):
        raise TypeError(f"{where}: max_keys must be a positive integer or None, got {max_keys!r}")
    try:
        n = operator.index(max_keys)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{where}: max_keys must be a positive integer or None, "
                        f"got {max_keys!r}") from None
    if n < 1:
        raise ValueError(f"{where}: max_keys must be >= 1, got {n}")
    return n


class KeySlots:
    """int64 key codes to dense slots, first-seen order, at most `max_keys` live
    (a ``ps_keymap`` of the C core: a hash table, slots of removed keys reused).

    Examples
    --------
    >>> s = KeySlots()
    >>> s.encode(np.array([7, 3, 7, 9]), 0).tolist(), s.keys().tolist()
    ([0, 1, 0, 2], [7, 3, 9])
    >>> _ = s.remove(np.array([3])); s.encode(np.array([5]), 4).tolist(), s.keys().tolist()
    ([1], [7, 5, 9])
    """

    __slots__ = ("_bad", "_map", "describe_key", "max_keys", "where")

    def __init__(self, max_keys: int | None = None, where: str = "by") -> None:
        self.max_keys = max_keys
        self.where = where
        out = ffi.new("ps_keymap **")
        check_status(lib.ps_keymap_new(out), where)
        self._map = ffi.gc(out[0], lib.ps_keymap_free)
        self._bad = ffi.new("int64_t *")
        #: How a key code is shown in errors (string keys decode it).
        self.describe_key: Any = None

    def __len__(self) -> int:
        return int(lib.ps_keymap_size(self._map))

    @property
    def capacity(self) -> int:
        """Slots ever handed out (the largest slot + 1)."""
        return int(lib.ps_keymap_capacity(self._map))

    def encode(self, keys: np.ndarray, start: int) -> np.ndarray:
        """Slots of `keys` (records ``start, start+1, ...``), adding the new keys.

        Raises
        ------
        TooManyKeys
            When the chunk brings more new keys than ``max_keys`` allows; the
            map is then unchanged.
        """
        k = np.ascontiguousarray(keys, dtype=np.int64)
        ids = np.empty(len(k), np.int64)
        if not len(k):
            return ids
        limit = -1 if self.max_keys is None else self.max_keys
        status = lib.ps_keymap_encode(self._map, ffi.from_buffer("int64_t[]", k), len(k), limit,
                                      ffi.from_buffer("int64_t[]", ids, require_writable=True),
                                      self._bad)
        if status == lib.PS_ERR_KEYS:
            assert self.max_keys is not None
            row = int(self._bad[0])
            code = int(k[row])
            shown = self.describe_key(code) if self.describe_key is not None else code
            raise TooManyKeys(self.where, start + row, shown, self.max_keys)
        check_status(status, self.where)
        return ids

    def slot(self, key: int) -> int:
        """The slot of `key`, or -1."""
        return int(lib.ps_keymap_find(self._map, int(key)))

    def remove(self, keys: np.ndarray) -> None:
        """Forget `keys` (evicted): their slots are free for later keys."""
        for k in np.asarray(keys, np.int64).tolist():
            if lib.ps_keymap_find(self._map, k) >= 0:
                check_status(lib.ps_keymap_remove(self._map, k), self.where)

    def _table(self) -> tuple[np.ndarray, np.ndarray]:
        n = self.capacity
        keys = np.empty(n, np.int64)
        live = np.empty(n, np.uint8)
        if n:
            check_status(lib.ps_keymap_keys(
                self._map, ffi.from_buffer("int64_t[]", keys, require_writable=True),
                ffi.from_buffer("uint8_t[]", live, require_writable=True)), self.where)
        return keys, live.astype(bool)

    def keys(self) -> np.ndarray:
        """The live keys, by slot (first-seen order while nothing is evicted)."""
        keys, live = self._table()
        return keys[live]

    def live_slots(self) -> np.ndarray:
        """The live slots, in slot order (the order of :meth:`keys`)."""
        return np.flatnonzero(self._table()[1]).astype(np.int64)


def group_rows(ids: np.ndarray, nslots: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of a chunk grouped by slot (``0 <= ids < nslots``), stably, by a
    counting sort in C: ``(order, slots, offsets)``.

    ``order[offsets[j]:offsets[j+1]]`` are the rows of slot ``slots[j]`` in
    input order; the slots come in the order they first appear in the chunk.

    Examples
    --------
    >>> o, s, b = group_rows(np.array([2, 0, 2, 1]), 3)
    >>> o.tolist(), s.tolist(), b.tolist()
    ([0, 2, 1, 3], [2, 0, 1], [0, 2, 3, 4])
    """
    n = len(ids)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    order = np.empty(n, np.int64)
    slots = np.empty(n, np.int64)
    offsets = np.empty(n + 1, np.int64)
    scratch = np.zeros(max(nslots, 1), np.int64)
    nseg = ffi.new("int64_t *")
    check_status(lib.ps_group_rows(
        ffi.from_buffer("int64_t[]", ids), n, nslots,
        ffi.from_buffer("int64_t[]", scratch, require_writable=True),
        ffi.from_buffer("int64_t[]", order, require_writable=True),
        ffi.from_buffer("int64_t[]", slots, require_writable=True),
        ffi.from_buffer("int64_t[]", offsets, require_writable=True), nseg), "group_rows")
    m = int(nseg[0])
    return order, slots[:m], offsets[:m + 1]


#: Records a keyed pull run hands to the keyed states at once: with many keys, a
#: chunk holds few records of each, and the per-key work (a state's update) is
#: paid per key and call, so consecutive chunks are joined up to this many
#: records (or :data:`BATCH_BYTES` of values).  Results do not depend on it.
BATCH_RECORDS = 1 << 20
BATCH_BYTES = 64 << 20


def batch_size(dtype: np.dtype | None, record_shape: tuple[int, ...] | None) -> int:
    """Records per batch for records of this type: :data:`BATCH_RECORDS`, or fewer
    so a batch's values stay within :data:`BATCH_BYTES`.

    Examples
    --------
    >>> batch_size(np.dtype(np.float64), ()), batch_size(np.dtype(np.float64), (100,))
    (1048576, 83886)
    """
    if dtype is None or record_shape is None:
        return BATCH_RECORDS
    per = max(1, int(np.prod(record_shape, dtype=np.int64)) * dtype.itemsize)
    return max(1, min(BATCH_RECORDS, BATCH_BYTES // per))


def batched(triples: Iterator[Any]) -> Iterator[Any]:
    """Consecutive ``(values, time, key)`` chunks joined into batches of about
    :data:`BATCH_RECORDS` records (at most :data:`BATCH_BYTES` of values); a
    chunk as large alone passes as it is.

    Examples
    --------
    >>> chunks = [(np.arange(3.0), None, np.zeros(3, np.int64))] * 2
    >>> [len(v) for v, t, k in batched(iter(chunks))]
    [6]
    """
    pending: list[Any] = []
    count = 0
    limit = BATCH_RECORDS
    try:
        for item in triples:
            v = item[0]
            if not len(v):
                continue
            if not pending:
                limit = batch_size(v.dtype, v.shape[1:])
            pending.append(item)
            count += len(v)
            if count >= limit:
                yield _join(pending)
                pending, count = [], 0
        if pending:
            yield _join(pending)
    finally:
        close = getattr(triples, "close", None)
        if close is not None:
            close()


def _join(items: list[Any]) -> Any:
    if len(items) == 1:
        return items[0]
    return tuple(None if items[0][c] is None else _joined([i[c] for i in items])
                 for c in range(3))


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """`parts` as one array: a view when they are consecutive pieces of one buffer
    (an in-memory source's chunks, read-only as they were), else a copy.

    Examples
    --------
    >>> a = np.arange(6.0)
    >>> j = _joined([a[:2], a[2:6]])
    >>> j.tolist(), np.shares_memory(j, a)
    ([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], True)
    """
    first = parts[0]
    base = first.base
    ok = base is not None and first.ndim >= 1 and len(first) > 0
    end = first.__array_interface__["data"][0] + len(first) * first.strides[0] if ok else 0
    for p in parts[1:]:
        if not ok:
            break
        ok = (p.base is base and p.dtype == first.dtype and p.strides == first.strides
              and p.shape[1:] == first.shape[1:] and len(p) > 0
              and p.__array_interface__["data"][0] == end)
        end += len(p) * first.strides[0]
    if not ok or first.strides[0] <= 0:
        return np.concatenate(parts)
    n = sum(len(p) for p in parts)
    view = np.lib.stride_tricks.as_strided(first, shape=(n, *first.shape[1:]),
                                           strides=first.strides, writeable=False)
    return view
