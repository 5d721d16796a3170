"""Picklable state factories of the terminal reductions, for every engine.

A factory is called with the global index of the partition's first record
and returns a state with ``update(chunk)`` and ``merge(right)``.  They are
module-level classes (not closures) so the Dask engine can send them to
worker processes with plain pickle.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..reducers import Moments

__all__ = ["DescribeFactory", "DescribeState", "ReducerFactory"]


class DescribeState:
    """``describe()``'s one-pass state: :class:`~pystream.Moments` and, if
    quantiles are asked for, one quantile sketch per value of the record
    (``method``: ``"kll"`` or ``"relative"``, see
    :func:`~pystream.sketches.columns.describe_sketch_factory`)."""

    def __init__(self, start: int, quantiles: bool, method: str = "kll") -> None:
        from ..sketches.columns import ColumnQuantiles, describe_sketch_factory

        self.moments = Moments(start=start)
        self.sketch = (ColumnQuantiles(describe_sketch_factory(method), start)
                       if quantiles else None)

    def update(self, chunk: np.ndarray) -> None:
        self.moments.update(chunk)
        if self.sketch is not None:
            self.sketch.update(chunk)

    def merge(self, other: DescribeState) -> DescribeState:
        self.moments.merge(other.moments)
        if self.sketch is not None and other.sketch is not None:
            self.sketch.merge(other.sketch)
        return self


class DescribeFactory:
    """``DescribeFactory(quantiles, method)(start)`` -> a :class:`DescribeState`."""

    def __init__(self, quantiles: bool, method: str = "kll") -> None:
        self.quantiles = quantiles
        self.method = method

    def __call__(self, start: int = 0) -> DescribeState:
        return DescribeState(start, self.quantiles, self.method)


class ReducerFactory:
    """A registered reducer's state factory with its arguments bound.

    With ``positional`` the state takes ``start=`` (its place in the stream).
    """

    def __init__(self, factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                 positional: bool) -> None:
        self.factory = factory
        self.args = args
        self.kwargs = kwargs
        self.positional = positional

    def __call__(self, start: int = 0) -> Any:
        if self.positional:
            return self.factory(*self.args, **self.kwargs, start=start)
        return self.factory(*self.args, **self.kwargs)
