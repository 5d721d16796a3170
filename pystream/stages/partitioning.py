"""How a stage's output records map to its input records: what the engines
need to cut a pipeline into partitions that reproduce the serial run.

A stage declares its mapping through ``partitioning()`` (see the plugin
guide); the planner (:mod:`pystream.chain.planner`) composes them.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["Cap", "Mapping", "POINTWISE", "Records", "Shift", "TimeWindow", "Window"]


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


class Mapping(abc.ABC):
    """How a step's output indices relate to its input indices.

    Subclasses define three functions of indices counted from the step's
    first input / output record:

    * ``owned(a)``: the number of outputs computed from inputs ``< a``
      (the output boundary matching input boundary ``a``);
    * ``need(q)``: the first input a fresh stage must see to compute
      outputs ``q, q+1, ...`` exactly as the serial run does;
    * ``first(p)``: the index of the first output of a fresh stage fed from
      input ``p`` (outputs before ``q`` are warm-up and are dropped).
    """

    @abc.abstractmethod
    def owned(self, a: int) -> int:
        """Outputs computed from the inputs before input `a`."""

    @abc.abstractmethod
    def need(self, q: int) -> int:
        """First input a fresh stage needs to emit outputs from `q` on exactly."""

    @abc.abstractmethod
    def first(self, p: int) -> int:
        """Index of the first output of a fresh stage fed from input `p`."""


@dataclasses.dataclass(frozen=True)
class Window(Mapping):
    """A window: output ``j`` needs the `history` inputs ending at input ``j``.

    One output per input (``moving_*``; pointwise steps have ``history=1``).
    """

    history: int = 1

    def owned(self, a: int) -> int:
        return a

    def need(self, q: int) -> int:
        return max(0, q - self.history + 1)

    def first(self, p: int) -> int:
        return p


POINTWISE = Window(1)


@dataclasses.dataclass(frozen=True)
class Records(Mapping):
    """Records: output ``j`` is computed from the `size` inputs starting at ``j*step``.

    ``nwise``, ``sliding_window``, ``tumbling``, ``resample``, ``diff``.
    """

    size: int
    step: int = 1

    def owned(self, a: int) -> int:
        return max(0, _ceil_div(a - self.size + 1, self.step))

    def need(self, q: int) -> int:
        return q * self.step

    def first(self, p: int) -> int:
        return p // self.step


@dataclasses.dataclass(frozen=True)
class Shift(Mapping):
    """``skip(n)``: output ``j`` is input ``j + n``.

    The partition's sub-run passes records through; the shift is in the indices.
    """

    n: int

    def owned(self, a: int) -> int:
        return max(0, a - self.n)

    def need(self, q: int) -> int:
        return q + self.n

    def first(self, p: int) -> int:
        return p - self.n


@dataclasses.dataclass(frozen=True)
class Cap(Mapping):
    """``take(n)``: output ``j`` is input ``j``, for the first `n` inputs only.

    The cap is applied by ownership: partitions past `n` own no output.
    """

    n: int

    def owned(self, a: int) -> int:
        return min(a, self.n)

    def need(self, q: int) -> int:
        return q

    def first(self, p: int) -> int:
        return p


class TimeWindow(Mapping):
    """A duration window: output ``j`` needs the inputs whose times are in the
    window of input ``j``'s time (one output per input, as :class:`Window`),
    so the warm-up of a partition is found by reading times, not counted.

    Parameters
    ----------
    width : int or float
        The window's width in the time column's units (ns for calendar times).
    left_closed : bool
        The window's left end is closed (``closed="both"`` or ``"left"``).
    read_times : callable
        ``read_times(a, b)`` -> the times of inputs ``[a, b)`` (int64 or
        float64, as the kernels take them).

    Examples
    --------
    >>> t = [0, 10, 20, 30, 40]
    >>> m = TimeWindow(25, False, lambda a, b: t[a:b])
    >>> m.need(4), m.need(0)         # the window of 40 starts at 20 (index 2); one early
    (1, 0)
    """

    def __init__(self, width: int | float, left_closed: bool,
                 read_times: Callable[[int, int], Sequence[Any]]) -> None:
        self.width = width
        self.left_closed = left_closed
        self.read_times = read_times

    def owned(self, a: int) -> int:
        return a

    def first(self, p: int) -> int:
        return p

    def need(self, q: int) -> int:
        """The first input in the window of input `q`: times read backwards from
        `q` in blocks that double until one starts outside the window."""
        if q <= 0:
            return 0
        block = 1024
        while True:
            lo = max(0, q - block)
            t = np.asarray(self.read_times(lo, q + 1))
            bound = t[-1] - self.width
            side = "left" if self.left_closed else "right"
            i = int(np.searchsorted(t, bound, side=side))
            if i > 0 or lo == 0:
                # One record earlier than the bound says: a warm-up that starts
                # early changes nothing (each output is a function of its own
                # window), one that starts late would, should the kernel's
                # comparison of float times round the other way at the edge.
                return max(0, lo + i - 1)
            block *= 2
