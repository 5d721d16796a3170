"""``histogram`` and ``quantile``: bounded-memory reductions on the sketch
states (C kernels, GIL released), for every engine, push and fork."""

from __future__ import annotations

import copy
import operator
from typing import Any, ClassVar

import numpy as np

from .._checks import check_nan_policy, first_nan_record, nan_error
from ..sketches.columns import (
    DESCRIBE_ALPHA,
    RANK_K,
    ColumnQuantiles,
    SketchFactory,
    check_method,
    check_probabilities,
)
from ..sketches.histogram import Histogram
from .describe import DescribeTerminal
from .protocol import Meta, MetaFn, ReducerConsumer, ReducerTerminal, terminal
from .run import run_terminal

__all__ = ["HistogramTerminal", "QuantileConsumer", "QuantileTerminal"]


def _data_range(node: Any, options: Any) -> tuple[Any, Any]:
    """numpy's default histogram range: the data's min and max (a first pass)."""
    if node.one_shot:
        raise ValueError(
            "histogram: this stream can be read only once, and numpy's default range "
            "(the data's min and max) needs a first pass: pass range=(lo, hi) or edges=")
    d = run_terminal(node, DescribeTerminal(nan_policy="omit", quantiles=()), options)
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


@terminal
class HistogramTerminal(ReducerTerminal):
    """``histogram()``: a :class:`~pystream.Histogram` (order-free: `start` unused).

    Its parameters are checked once the range is known: a pull run finds
    numpy's default range in a first pass (:meth:`prepare`); a push/fork
    branch reads its input once, so it needs `range` or `edges`.
    """

    name: ClassVar[str] = "histogram"
    positional = False
    doc = """Histogram of the stream's values with numpy's bins and edge rules, in bounded memory.

    Values are counted as :func:`numpy.histogram` counts them (records
    are flattened): the last bin is closed, a value on an edge goes to
    the bin on its right, float32 data get float32 edges.  Unlike numpy,
    values outside the range are counted (``underflow``, ``overflow``)
    and NaNs are reported (``nan_count``) instead of silently dropped.
    Counts are exact integers, so the result is the same for any chunking.
    One pass over the stream, two without `range` and `edges`.

    Parameters
    ----------
    bins : int, optional
        Number of equal-width bins over `range` (or of logarithmic bins
        with ``log=True``).
    range : (float, float), optional
        Lower and upper edge.  Default: the data's min and max, as numpy
        does -- found by a first pass over the stream (NaNs skipped), so a
        one-shot stream needs `range` or `edges`.
    edges : array_like, optional
        Explicit, increasing bin edges (``np.histogram(x, bins=edges)``);
        excludes `bins`/`range`.
    log : bool, optional
        Logarithmic bins: edges ``np.geomspace(lo, hi, bins + 1)``
        (requires ``lo > 0``).

    {engine_parameters}

    Returns
    -------
    pystream.HistogramResult
        ``counts``, ``edges``, ``underflow``, ``overflow``, ``nan_count``.

    Raises
    ------
    ValueError
        For invalid bins/range/edges, a one-shot stream without `range` or
        `edges`, or a non-finite autodetected range.

    See Also
    --------
    pystream.Histogram : the mergeable state behind this method.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> h = ps.from_array(np.array([1.0, 2.0, 2.5, 4.0, 9.0])).histogram(bins=2, range=(0, 4))
    >>> h.counts.tolist(), h.overflow
    ([1, 3], 1)
    """

    def __init__(self, bins: int = 10, range: tuple[float, float] | None = None,
                 edges: Any = None, log: bool = False) -> None:
        self.params = {"bins": bins, "range": range, "edges": edges, "log": log}

    def state(self, start: int) -> Histogram:
        return Histogram(**self.params)

    def prepare(self, node: Any, options: Any) -> HistogramTerminal:
        ready = self
        if self.params["edges"] is None and self.params["range"] is None:
            ready = copy.copy(self)
            ready.params = {**self.params, "range": _data_range(node, options)}
        ready.state(0)                       # checks the parameters before any work
        return ready

    def for_branch(self) -> HistogramTerminal:
        if self.params["range"] is None and self.params["edges"] is None:
            raise ValueError(
                "histogram: a push sink or fan-out branch reads the data once, and numpy's "
                "default range (the data's min and max) needs a first pass: pass "
                "range=(lo, hi) or edges=")
        self.state(0)                        # checks the parameters now
        return self


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


class QuantileConsumer(ReducerConsumer):
    """``quantile`` in push form: it may read the column sketches of a
    ``describe`` branch or of another quantile branch with the same parameters."""

    share_phases = (2,)
    spec: QuantileTerminal

    def __init__(self, spec: QuantileTerminal, meta: Meta, start: int) -> None:
        super().__init__(spec, meta, start)
        self.columns = self.state.columns

    def share(self, phase: int, pool: dict[Any, Any]) -> None:
        sketches = pool.setdefault("sketches", {})
        key = self.columns.key
        if key in sketches:
            self.owner, self.columns = sketches[key]
        else:
            sketches[key] = (self, self.columns)

    def _result(self) -> Any:
        return self.spec.values(self.columns, self.meta[1])


@terminal
class QuantileTerminal(ReducerTerminal):
    """``quantile()``: one sketch per column of the record."""

    name: ClassVar[str] = "quantile"
    doc = """Quantiles of the stream in bounded memory, from a quantile sketch.

    Parameters
    ----------
    q : float or array_like of float
        Probabilities in [0, 1] (numbers: a string raises TypeError).
    method : {"kll", "relative"}, optional
        ``"kll"`` (default, as :meth:`describe`): a KLL sketch, accurate
        in rank: the rank error of each quantile is within the KLL bound
        for `k` with probability >= 99 % (0.68 % at the default k=400,
        1.33 % at k=200; :meth:`pystream.KLLSketch.normalized_rank_error`),
        exact while the stream has at most `k` values.  ``"relative"``:
        a DDSketch-style sketch; every returned quantile is within
        relative error `alpha` of the true one (``np.quantile(x, q,
        method="lower")``), for positive data spanning orders of
        magnitude (latencies); meaningless in rank for data far from
        zero compared with its spread.  Both are bit-identical for any
        chunking and partitioning (see :ref:`which-quantile-method`).
    alpha : float, optional
        Relative accuracy of ``method="relative"`` (default 0.01).
    k : int, optional
        Size parameter of ``method="kll"`` (default 400, as
        :meth:`describe`).
    seed : int, optional
        Seed of ``method="kll"``'s random compactions (default 0).
    nan_policy : {"propagate", "omit", "raise"}, optional
        ``"propagate"``: NaN where a NaN was seen (numpy's
        ``quantile``); ``"omit"``: NaNs skipped (``np.nanquantile``);
        ``"raise"``: ValueError naming the first NaN record.

    {engine_parameters}

    Returns
    -------
    float or ndarray
        A float for a scalar stream and a float `q`; otherwise an array of
        shape ``np.shape(q) + record_shape`` (one quantile per value of
        the record, like ``np.quantile(x, q, axis=0)``).

    Raises
    ------
    TypeError
        If `q` is not numeric (e.g. the string ``"0.5"``).
    ValueError
        If a `q` is NaN or outside [0, 1], or `method` is unknown.

    See Also
    --------
    pystream.DDSketch, pystream.KLLSketch : the states, mergeable and
        serializable, for partitions reduced separately.
    moving_quantile : exact quantiles over a moving window.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> x = 280.0 + np.random.default_rng(0).normal(size=100_000)
    >>> med = ps.from_array(x).quantile(0.5)
    >>> bool(abs(np.mean(x <= med) - 0.5) <= 0.01)      # rank error within 1 %
    True
    >>> ps.from_array(x).quantile([0.0, 1.0]).tolist() == [x.min(), x.max()]
    True
    >>> lat = np.arange(1.0, 1001.0)
    >>> abs(ps.from_array(lat).quantile(0.5, method="relative") - 500.0) <= 0.01 * 500.0
    True
    """

    def __init__(self, q: Any, method: str = "kll", alpha: float = DESCRIBE_ALPHA,
                 k: int = RANK_K, seed: int = 0, nan_policy: str = "propagate") -> None:
        self.policy = check_nan_policy(nan_policy, "quantile")
        self.qa = check_probabilities(q, "quantile")
        self.make = _sketch_factory(method, alpha, operator.index(k), seed)
        self.raises_nan = self.policy == "raise"
        # A NaN error names its record, so "raise" needs the global indices.
        self.positional = self.make.positional or self.raises_nan

    def state(self, start: int) -> _QuantileState:
        return _QuantileState(self.make, start, self.raises_nan)

    def finish(self, state: _QuantileState, meta: MetaFn) -> Any:
        return self.values(state.columns, meta()[1])

    def values(self, columns: ColumnQuantiles, record_shape: tuple[int, ...]) -> Any:
        """The quantiles from the column sketches: a float for a scalar
        stream and scalar `q`."""
        values = columns.values(self.qa, self.policy, record_shape)
        return float(values) if values.ndim == 0 else values

    def consumer(self, meta: Meta, start: int) -> QuantileConsumer:
        return QuantileConsumer(self, meta, start)
