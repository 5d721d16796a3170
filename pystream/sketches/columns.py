"""One quantile sketch per value of the record, fed chunk by chunk.

:meth:`pystream.Stream.quantile` and :meth:`pystream.Stream.describe` (its
quantiles) use it: a sketch per column, updated with strided column views
(no copies), created at the first chunk.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

DESCRIBE_ALPHA = 0.01


def check_quantiles(quantiles: Any, where: str) -> tuple[float, ...]:
    """Validate the ``quantiles=`` argument: probabilities in [0, 1]."""
    if quantiles is None:
        return ()
    try:
        qs = tuple(float(q) for q in np.atleast_1d(np.asarray(quantiles, dtype=np.float64)))
    except (TypeError, ValueError):
        raise TypeError(f"{where}: quantiles must be a sequence of floats in [0, 1]; "
                        f"got {quantiles!r}") from None
    bad = [q for q in qs if not 0.0 <= q <= 1.0]
    if bad:
        raise ValueError(f"{where}: quantiles must be in [0, 1]; got {bad}")
    return qs


class SketchFactory:
    """A picklable sketch maker: ``factory(start)`` -> a new sketch.

    ``"relative"`` makes :class:`~pystream.DDSketch` (order-free, `start` is
    not needed); ``"kll"`` makes :class:`~pystream.KLLSketch` placed at
    global index `start`, so partitions merge into the serial sketch.
    """

    __slots__ = ("method", "params")

    def __init__(self, method: str, **params: Any) -> None:
        self.method = method
        self.params = params

    @property
    def positional(self) -> bool:
        """True when the sketch depends on where its values are in the stream."""
        return self.method == "kll"

    def __call__(self, start: int = 0) -> Any:
        if self.method == "relative":
            from .ddsketch import DDSketch

            return DDSketch(**self.params)
        from .kll import KLLSketch

        return KLLSketch(**self.params, start=start)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_make_factory, (self.method, self.params))


def _make_factory(method: str, params: dict[str, Any]) -> SketchFactory:
    return SketchFactory(method, **params)


class ColumnQuantiles:
    """Sketches made by `make`, one per value of the record.

    Parameters
    ----------
    make : SketchFactory
        ``make(start)`` makes one column's sketch.
    start : int, default 0
        Global index of the first record (positional sketches are placed
        there, so states of contiguous partitions merge exactly).
    """

    def __init__(self, make: Callable[[int], Any], start: int = 0) -> None:
        self.make = make
        self.start = start
        self.sketches: list[Any] | None = None

    @classmethod
    def for_describe(cls, quantiles: Any, where: str,
                     start: int = 0) -> tuple[ColumnQuantiles | None, tuple]:
        """describe()'s DDSketches (alpha 1 %) and its checked probabilities."""
        qs = check_quantiles(quantiles, where)
        return (cls(SketchFactory("relative", alpha=DESCRIBE_ALPHA), start) if qs else None), qs

    def merge(self, other: ColumnQuantiles) -> ColumnQuantiles:
        """Merge the state of the records right after this one's, column by column."""
        if other.sketches is None:
            return self
        if self.sketches is None:
            self.sketches = [s.copy() for s in other.sketches]
            return self
        if len(self.sketches) != len(other.sketches):
            raise ValueError(f"cannot merge quantile states of {len(self.sketches)} and "
                             f"{len(other.sketches)} columns")
        for mine, theirs in zip(self.sketches, other.sketches):
            mine.merge(theirs)
        return self

    def update(self, chunk: np.ndarray) -> None:
        width = int(np.prod(chunk.shape[1:], dtype=np.int64))
        if self.sketches is None:
            self.sketches = [self.make(self.start) for _ in range(width)]
        if chunk.ndim == 1:
            self.sketches[0].update(chunk)
            return
        flat = chunk.reshape(len(chunk), width)
        for j, sketch in enumerate(self.sketches):
            sketch.update(flat[:, j])

    def values(self, q: Any, nan_policy: str, record_shape: tuple[int, ...]) -> np.ndarray:
        """Quantiles `q`, shape ``np.shape(q) + record_shape``.

        An empty column gives NaN; with ``nan_policy="propagate"`` a column
        that saw a NaN gives NaN (numpy's ``quantile``).
        """
        sketches = self.sketches
        if sketches is None:                  # no chunk at all
            sketches = [self.make(self.start)
                        for _ in range(int(np.prod(record_shape, dtype=np.int64)))]
        qa = np.asarray(q, dtype=np.float64)
        out = np.stack([np.asarray(s.quantile(qa), dtype=np.float64) for s in sketches], axis=-1)
        if nan_policy == "propagate":
            out[..., [s.nan_count > 0 for s in sketches]] = np.nan
        return out.reshape(qa.shape + tuple(record_shape))

    def result(self, qs: tuple[float, ...], nan_policy: str,
               record_shape: tuple[int, ...]) -> dict[float, Any]:
        """{q: value}: floats for scalar streams, arrays of `record_shape` otherwise."""
        values = self.values(qs, nan_policy, record_shape)
        return {q: float(v) if record_shape == () else v for q, v in zip(qs, values)}
