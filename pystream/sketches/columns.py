"""One quantile sketch per value of the record, fed chunk by chunk (the
quantile methods: :doc:`/internals/sketches`).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .._native import check_record_values
from .ddsketch import DDSketch
from .kll import KLLSketch
from .params import check_probabilities  # noqa: F401 -- imported from here too

#: alpha of the relative-error sketch of ``describe(quantile_method="relative")``
#: and the default of ``quantile(method="relative")``.
DESCRIBE_ALPHA = 0.01
#: k of the rank-error (KLL) sketch of ``describe()`` and ``quantile()``:
#: DataSketches' 99 % bound 2.296 / k**0.9723 is 0.68 % at k = 400.
RANK_K = 400
#: The rank error promised for ``quantile_method="kll"`` (probability >= 99 %
#: per quantile).
RANK_ERROR = 0.01
#: The quantile methods of ``describe(quantile_method=)`` / ``quantile(method=)``.
QUANTILE_METHODS = ("kll", "relative")


def check_method(method: object, where: str, name: str = "method") -> str:
    """Validate a quantile method name (:data:`QUANTILE_METHODS`)."""
    if not isinstance(method, str) or method not in QUANTILE_METHODS:
        raise ValueError(f"{where}: {name} must be one of "
                         f"{', '.join(map(repr, QUANTILE_METHODS))}; got {method!r}")
    return method


def check_quantiles(quantiles: Any, where: str) -> tuple[float, ...]:
    """Validate the ``quantiles=`` argument: probabilities in [0, 1]."""
    if quantiles is None:
        return ()
    qa = check_probabilities(quantiles, where, "quantiles")
    return tuple(float(q) for q in np.atleast_1d(qa).ravel())


def describe_sketch_factory(method: str) -> SketchFactory:
    """The sketch of ``describe(quantile_method=method)`` (also ``quantile()``'s
    default parameters for that method, so the two share one state in a fork)."""
    if method == "kll":
        return SketchFactory("kll", k=RANK_K, seed=0)
    return SketchFactory("relative", alpha=DESCRIBE_ALPHA)


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
            return DDSketch(**self.params)
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
    def for_describe(cls, quantiles: Any, where: str, start: int = 0,
                     method: str = "kll") -> tuple[ColumnQuantiles | None, tuple]:
        """describe()'s column sketches (:func:`describe_sketch_factory`) and its
        checked probabilities."""
        qs = check_quantiles(quantiles, where)
        check_method(method, where, "quantile_method")
        return (cls(describe_sketch_factory(method), start) if qs else None), qs

    @property
    def key(self) -> tuple[Any, ...]:
        """What makes two column states identical: the sketch's parameters and start."""
        make = self.make
        return (make.method, tuple(sorted(make.params.items())), self.start)

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
        width = check_record_values(chunk.shape[1:], "quantile")
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
                        for _ in range(check_record_values(record_shape, "quantile"))]
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

    def uncertainty(self, qs: tuple[float, ...], values: dict[float, Any], nan_policy: str,
                    record_shape: tuple[int, ...]) -> dict[float, Any]:
        """{q: width of the value range the method's guarantee allows}.

        ``"kll"``: the estimates at ``q - RANK_ERROR`` and ``q + RANK_ERROR``
        (clipped to [0, 1]) bound the value range where the quantile of rank
        ``q`` lies when the rank bound holds; the width is their difference
        (0 when a tied value covers the whole range: the value is then
        exact).  ``"relative"``: ``2 alpha |value|``.  NaN where the value
        is NaN.  Only used to print meaningful digits.
        """
        if self.make.method == "relative":
            alpha = float(self.make.params.get("alpha", DESCRIBE_ALPHA))
            out = {}
            for q in qs:
                v = np.asarray(values[q], dtype=np.float64)
                with np.errstate(invalid="ignore"):
                    w = 2.0 * alpha * np.abs(v)
                out[q] = float(w) if record_shape == () else w
            return out
        qa = np.asarray(qs, dtype=np.float64)
        # both ends in one query: each sketch builds its sorted view once
        ends = np.clip(np.concatenate([qa - RANK_ERROR, qa + RANK_ERROR]), 0.0, 1.0)
        lo, hi = np.split(self.values(ends, nan_policy, record_shape), 2)
        with np.errstate(invalid="ignore"):
            width = hi - lo
        return {q: float(w) if record_shape == () else w for q, w in zip(qs, width)}
