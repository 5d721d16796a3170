"""How a stage's output records map to its input records: what the engines
need to cut a pipeline into partitions that reproduce the serial run.

A stage declares its mapping through ``partitioning()`` (see the plugin
guide); the planner (:mod:`pystream.chain.planner`) composes them.
"""

from __future__ import annotations

import abc
import dataclasses

__all__ = ["Cap", "Mapping", "POINTWISE", "Records", "Shift", "Window"]


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
