"""Stream reductions built on the sketches: ``histogram`` and ``quantile``.

:meth:`pystream.Stream.histogram` and :meth:`pystream.Stream.quantile` call
these.  They feed each chunk to a sketch state (C kernels, GIL released) and
return its result, so memory stays bounded whatever the stream's length.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any

import numpy as np

from .._checks import check_nan_policy, first_nan_record, nan_error
from .columns import (
    DESCRIBE_ALPHA,
    RANK_K,
    ColumnQuantiles,
    SketchFactory,
    check_method,
    check_probabilities,
)

if TYPE_CHECKING:
    from ..stream import Stream


def _data_range(stream: Stream, options: Any) -> tuple[Any, Any]:
    """numpy's default histogram range: the data's min and max (a first pass)."""
    if stream.one_shot:
        raise ValueError(
            "histogram: this stream can be read only once, and numpy's default range "
            "(the data's min and max) needs a first pass: pass range=(lo, hi) or edges=")
    d = stream.describe(nan_policy="omit", quantiles=(), engine=options.name,
                        workers=options.workers, partition_size=options.partition_size)
    count = int(np.sum(d.count))
    if count == 0:
        return 0.0, 1.0                      # numpy's range for an empty array
    # numpy scalars of the data's dtype, as np.histogram's own x.min(), x.max():
    # float32 data then get numpy's float32 edges.
    lo, hi = np.min(d.min), np.max(d.max)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(
            f"histogram: autodetected range of [{lo}, {hi}] is not finite; pass range=")
    return lo, hi


class _HistogramFactory:
    """``factory(start)`` -> an empty :class:`Histogram` (order-free: `start` unused)."""

    def __init__(self, **params: Any) -> None:
        self.params = params

    def __call__(self, start: int = 0) -> Any:
        from .histogram import Histogram

        return Histogram(**self.params)


def histogram(stream: Stream, bins: Any = 10, range: Any = None, edges: Any = None,
              log: bool = False, options: Any = None) -> Any:
    """See :meth:`pystream.Stream.histogram`."""
    from ..engines import EngineOptions, Reduction, reduce
    from ..stream import node_of

    options = options or EngineOptions()
    if edges is None and range is None:
        range = _data_range(stream, options)
    make = _HistogramFactory(bins=bins, range=range, edges=edges, log=log)
    make()                                   # checks the parameters before any work
    state = reduce(node_of(stream), Reduction(make, positional=False, name="histogram"), options)
    return state.result()


def _sketch_factory(method: str, alpha: float, k: int, seed: int) -> SketchFactory:
    relative = SketchFactory("relative", alpha=alpha)
    kll = SketchFactory("kll", k=k, seed=seed)
    # Both checked now, not per column (an invalid parameter of the other
    # method is a mistake too, e.g. alpha= given with the default method).
    relative()
    kll()
    return relative if check_method(method, "quantile") == "relative" else kll


class _QuantileState:
    """One sketch per column; with ``nan_policy="raise"`` a NaN raises naming its record."""

    def __init__(self, make: SketchFactory, start: int, check_nan: bool) -> None:
        self.columns = ColumnQuantiles(make, start)
        self.position = start
        self.check_nan = check_nan

    def update(self, chunk: np.ndarray) -> None:

        if self.check_nan:
            bad = first_nan_record(chunk)
            if bad >= 0:
                raise nan_error("quantile", self.position + bad)
        self.position += len(chunk)
        self.columns.update(chunk)

    def merge(self, other: _QuantileState) -> _QuantileState:
        self.columns.merge(other.columns)
        self.position = other.position
        return self


class _QuantileFactory:
    def __init__(self, make: SketchFactory, check_nan: bool) -> None:
        self.make = make
        self.check_nan = check_nan

    def __call__(self, start: int = 0) -> _QuantileState:
        return _QuantileState(self.make, start, self.check_nan)


class QuantileSpec:
    """``quantile()``'s checked parameters: its state factory and its finisher.

    Shared by :meth:`pystream.Stream.quantile` and the push/fan-out branch
    of the same name (:mod:`pystream.consumers`).
    """

    def __init__(self, q: Any, method: str = "kll", alpha: float = DESCRIBE_ALPHA,
                 k: int = RANK_K, seed: int = 0, nan_policy: str = "propagate") -> None:

        self.policy = check_nan_policy(nan_policy, "quantile")
        self.qa = check_probabilities(q, "quantile")
        make = _sketch_factory(method, alpha, operator.index(k), seed)
        self.factory = _QuantileFactory(make, self.policy == "raise")
        # A NaN error names its record, so "raise" needs the global indices.
        self.positional = make.positional or self.policy == "raise"

    def finish(self, columns: ColumnQuantiles, record_shape: tuple[int, ...]) -> Any:
        """The quantiles from the column sketches (a state's ``columns``): a float
        for a scalar stream and scalar `q`."""
        values = columns.values(self.qa, self.policy, record_shape)
        return float(values) if values.ndim == 0 else values


def quantile(stream: Stream, q: Any, method: str = "kll", alpha: float = DESCRIBE_ALPHA,
             k: int = RANK_K, seed: int = 0, nan_policy: str = "propagate",
             options: Any = None) -> Any:
    """See :meth:`pystream.Stream.quantile`."""
    from ..engines import EngineOptions, Reduction, reduce
    from ..stream import node_of

    spec = QuantileSpec(q, method, alpha, k, seed, nan_policy)
    reduction = Reduction(spec.factory, positional=spec.positional, name="quantile")
    state = reduce(node_of(stream), reduction, options or EngineOptions())
    return spec.finish(state.columns, stream.record_shape)
