"""A reducer state per key: :class:`PerKeyStates`, the keyed form of any terminal's
mergeable state (sketches, histograms, plugin reducers; the moments family has
a C state of its own, :mod:`pystream.keyed.describe`).

Each key's state is the terminal's own unkeyed state, made for the key's first
record with the key's own record index as its start, and fed
that key's records in stream order: so the result of each key is, bit for
bit, the unkeyed result over that key's records alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .grouping import KeySlots, group_rows

__all__ = ["PerKeyStates"]


class PerKeyStates:
    """One state per key, ``make(start)`` for a key's first record.

    Parameters
    ----------
    make : callable
        ``make(start, code)``: a fresh unkeyed state (``update(chunk)``) for
        key `code`, whose first record has index `start`
        among its key's.
    max_keys : int or None
        At most this many keys (:class:`~pystream.keyed.grouping.TooManyKeys`).
    where : str
        The terminal's name, for errors.
    start : int
        Global index of the first record (:attr:`position` counts on).

    Examples
    --------
    >>> from pystream.reducers import Moments
    >>> s = PerKeyStates(lambda start, code: Moments(start=start))
    >>> s.update(np.array([1.0, 10.0, 3.0]), np.array([5, 6, 5]))
    >>> [float(m.result().mean) for m in s.states_in_order()], s.keys().tolist()
    ([2.0, 10.0], [5, 6])
    """

    def __init__(self, make: Callable[[int, int], Any], max_keys: int | None = None,
                 where: str = "by", start: int = 0) -> None:
        self.make = make
        self.position = start
        self.slots = KeySlots(max_keys, where)
        self.states: list[Any] = []

    def update(self, chunk: np.ndarray, keys: np.ndarray) -> None:
        """Feed the next records (from :attr:`position` on) with their key codes."""
        n = len(chunk)
        if len(keys) != n:
            raise ValueError(f"{self.slots.where}: {n} records but {len(keys)} keys")
        if not n:
            return
        ids = self.slots.encode(keys, self.position)
        self.position += n
        while len(self.states) < self.slots.capacity:
            self.states.append(None)
        order, slots, offsets = group_rows(ids, self.slots.capacity)
        codes = keys[order[offsets[:-1]]].tolist()
        if len(slots) == 1:
            self._feed(int(slots[0]), codes[0], chunk)
            return
        grouped = chunk[order]
        for j, slot in enumerate(slots.tolist()):
            self._feed(slot, codes[j], grouped[offsets[j]:offsets[j + 1]])

    def _feed(self, slot: int, code: int, part: np.ndarray) -> None:
        state = self.states[slot]
        if state is None:
            state = self.states[slot] = self.make(0, code)
        state.update(part)

    def keys(self) -> np.ndarray:
        """The keys' codes, first-seen order."""
        return self.slots.keys()

    def states_in_order(self) -> list[Any]:
        """The keys' states, in the order of :meth:`keys`."""
        return [self.states[s] for s in self.slots.live_slots().tolist()]
