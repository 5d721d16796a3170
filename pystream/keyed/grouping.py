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

__all__ = ["BATCH_RECORDS", "KeySlots", "TooManyKeys", "batched", "check_max_keys", "group_rows"]


class TooManyKeys(ValueError):
    """More distinct live keys than ``max_keys``: raised before the chunk holding the
    first extra key changes any state (``record`` is its global index)."""

    def __init__(self, where: str, record: int, key: Any, max_keys: int) -> None:
        super().__init__(
            f"{where}: record {record} has key {key!r}, one more than max_keys={max_keys} "
            "distinct keys; raise max_keys, or give the keyed stage a ttl so idle keys are "
            "let go")
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
    """int64 key codes to dense slots, first-seen order, at most `max_keys` live.

    Examples
    --------
    >>> s = KeySlots()
    >>> s.encode(np.array([7, 3, 7, 9]), 0).tolist(), s.keys().tolist()
    ([0, 1, 0, 2], [7, 3, 9])
    >>> _ = s.remove(np.array([3])); s.encode(np.array([5]), 4).tolist(), s.keys().tolist()
    ([1], [7, 5, 9])
    """

    __slots__ = ("_free", "_keys", "_live", "_map", "describe_key", "max_keys", "where")

    def __init__(self, max_keys: int | None = None, where: str = "by") -> None:
        self.max_keys = max_keys
        self.where = where
        self._map: dict[int, int] = {}
        self._keys: list[int] = []        # key of each slot (meaningless when not live)
        self._live: list[bool] = []
        self._free: list[int] = []        # freed slots, reused smallest first
        #: How a key code is shown in errors (string keys decode it).
        self.describe_key: Any = None

    def __len__(self) -> int:
        return len(self._map)

    @property
    def capacity(self) -> int:
        """Slots ever handed out (the largest slot + 1)."""
        return len(self._keys)

    def encode(self, keys: np.ndarray, start: int) -> np.ndarray:
        """Slots of `keys` (records ``start, start+1, ...``), adding the new keys.

        Raises
        ------
        TooManyKeys
            When the chunk brings more new keys than ``max_keys`` allows; the
            map is then unchanged.
        """
        if not len(keys):
            return np.empty(0, np.int64)
        uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        m = self._map
        slot_of = np.empty(len(uniq), np.int64)
        new = []
        for i, k in enumerate(uniq.tolist()):
            s = m.get(k)
            if s is None:
                new.append(i)
            else:
                slot_of[i] = s
        if new:
            new_idx = np.asarray(new, np.int64)
            new_idx = new_idx[np.argsort(first[new_idx], kind="stable")]
            limit = self.max_keys
            if limit is not None and len(m) + len(new_idx) > limit:
                i = int(new_idx[limit - len(m)])
                k = int(uniq[i])
                shown = self.describe_key(k) if self.describe_key is not None else k
                raise TooManyKeys(self.where, start + int(first[i]), shown, limit)
            for i in new_idx.tolist():
                slot_of[i] = self._add(int(uniq[i]))
        return slot_of[inverse.reshape(-1)]

    def _add(self, key: int) -> int:
        if self._free:
            s = self._free.pop()
            self._keys[s] = key
            self._live[s] = True
        else:
            s = len(self._keys)
            self._keys.append(key)
            self._live.append(True)
        self._map[key] = s
        return s

    def slot(self, key: int) -> int:
        """The slot of `key`, or -1."""
        return self._map.get(int(key), -1)

    def remove(self, keys: np.ndarray) -> np.ndarray:
        """Forget `keys` (evicted); return their slots, free for later keys."""
        out = []
        for k in np.asarray(keys, np.int64).tolist():
            s = self._map.pop(k, None)
            if s is not None:
                self._live[s] = False
                out.append(s)
        self._free.extend(out)
        self._free.sort(reverse=True)
        return np.asarray(out, np.int64)

    def keys(self) -> np.ndarray:
        """The live keys, by slot (first-seen order while nothing is evicted)."""
        return np.asarray([k for k, live in zip(self._keys, self._live) if live], np.int64)

    def live_slots(self) -> np.ndarray:
        """The live slots, in slot order (the order of :meth:`keys`)."""
        return np.flatnonzero(np.asarray(self._live, bool)).astype(np.int64)

    def key_at(self, slot: int) -> int:
        """The key of one slot."""
        return self._keys[slot]

    def key_of(self, slots: np.ndarray) -> np.ndarray:
        """The keys of `slots` (live ones)."""
        return np.asarray(self._keys, np.int64)[slots] if len(slots) else np.empty(0, np.int64)


def group_rows(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of a chunk grouped by slot, stably: ``(order, slots, offsets)``.

    ``order[offsets[j]:offsets[j+1]]`` are the rows of slot ``slots[j]`` in
    input order; the slots come in ascending order.

    Examples
    --------
    >>> o, s, b = group_rows(np.array([2, 0, 2, 1]))
    >>> o.tolist(), s.tolist(), b.tolist()
    ([1, 3, 0, 2], [0, 1, 2], [0, 1, 2, 4])
    """
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    cut = np.flatnonzero(sorted_ids[1:] != sorted_ids[:-1]) + 1
    offsets = np.concatenate(([0], cut, [len(ids)])).astype(np.int64)
    slots = sorted_ids[offsets[:-1]] if len(ids) else np.empty(0, np.int64)
    return order.astype(np.int64, copy=False), slots.astype(np.int64, copy=False), offsets


#: Records a keyed pull run hands to the keyed states at once: with many keys, a
#: chunk holds few records of each, and the per-key work (a state's update) is
#: paid per key and call, so consecutive chunks are joined up to this many
#: records (or :data:`BATCH_BYTES` of values).  Results do not depend on it.
BATCH_RECORDS = 1 << 20
BATCH_BYTES = 64 << 20


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
                per = max(1, v.nbytes // len(v))
                limit = max(1, min(BATCH_RECORDS, BATCH_BYTES // per))
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
    v = np.concatenate([i[0] for i in items])
    t = None if items[0][1] is None else np.concatenate([i[1] for i in items])
    k = None if items[0][2] is None else np.concatenate([i[2] for i in items])
    return v, t, k
