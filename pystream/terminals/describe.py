"""``describe`` and the statistics read from it (``count``, ``sum``, ``mean``,
``var``, ``std``, ``min``, ``max``): one moments state (and quantile sketches)."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, ClassVar

import numpy as np

from .._checks import check_ddof, check_nan_policy, nan_policy_error
from ..multivariate.comoments import CoMoments, check_records
from ..reducers import DEFAULT_QUANTILES, Moments, describe_result
from ..sketches.columns import ColumnQuantiles, check_method, check_quantiles, describe_sketch_factory
from .protocol import Meta, MetaFn, ReducerConsumer, ReducerTerminal, terminal

__all__ = ["CountTerminal", "DescribeConsumer", "DescribeState", "DescribeTerminal", "MaxTerminal",
           "MeanTerminal", "MinTerminal", "StdTerminal", "SumTerminal", "VarTerminal"]


class DescribeState:
    """``describe()``'s one-pass state: :class:`~pystream.Moments` and, if
    quantiles are asked for, one quantile sketch per value of the record
    (``method``: ``"kll"`` or ``"relative"``, see
    :func:`~pystream.sketches.columns.describe_sketch_factory`) and, with
    ``cov=True``, a :class:`~pystream.CoMoments` of the record's columns."""

    def __init__(self, start: int, quantiles: bool, method: str = "kll",
                 cov: bool = False) -> None:
        self.moments = Moments(start=start)
        self.sketch = (ColumnQuantiles(describe_sketch_factory(method), start)
                       if quantiles else None)
        self.comoments = CoMoments(start) if cov else None

    def update(self, chunk: np.ndarray) -> None:
        if self.comoments is not None:       # checks the records before anything is fed
            self.comoments.update(check_records(np.asarray(chunk), "describe(cov=True)"))
        self.moments.update(chunk)
        if self.sketch is not None:
            self.sketch.update(chunk)

    def merge(self, other: DescribeState) -> DescribeState:
        self.moments.merge(other.moments)
        if self.sketch is not None and other.sketch is not None:
            self.sketch.merge(other.sketch)
        if self.comoments is not None and other.comoments is not None:
            self.comoments.merge(other.comoments)
        return self


class DescribeConsumer(ReducerConsumer):
    """The describe family in push form; branches fed the same chunks share
    one state (:func:`~pystream.terminals.protocol.share_states`)."""

    share_phases = (0, 1)
    spec: DescribeTerminal

    @property
    def sketch(self) -> ColumnQuantiles | None:
        """The column sketches this consumer's state updates (or reads)."""
        return self.state.sketch

    def share(self, phase: int, pool: dict[Any, Any]) -> None:
        if phase == 0:               # follow the first describe state that can serve it
            owners = pool.setdefault("describe", [])
            owner = next((o for o in owners if self._can_follow(o)), None)
            if owner is None:
                owners.append(self)
            else:
                if owner.state.sketch is None and self.state.sketch is not None:
                    owner.state.sketch = self.state.sketch   # the owner computes it for both
                if owner.state.comoments is None and self.state.comoments is not None:
                    owner.state.comoments = self.state.comoments
                self.state = owner.state
                self.owner = owner
        elif self.owner is None and self.state.sketch is not None:
            # a quantile branch may read this state's sketches (phase 2)
            pool.setdefault("sketches", {}).setdefault(self.state.sketch.key,
                                                        (self, self.state.sketch))

    names: tuple[str, ...] | None = None

    def label_columns(self, names: tuple[str, ...] | None) -> None:
        """Label the Description by the names of the input's columns."""
        self.names = names

    def _result(self) -> Any:
        result = super()._result()
        if self.names is not None and self.spec.pick is None:
            return result.with_names(self.names)
        return result

    def _can_follow(self, owner: DescribeConsumer) -> bool:
        """Same start, and no quantile sketches of different methods."""
        mine, theirs = self.state.sketch, owner.state.sketch
        return (owner.start == self.start and
                (theirs is None or mine is None or theirs.key == mine.key))


@terminal
class DescribeTerminal(ReducerTerminal):
    """``describe()``; the statistics are subclasses reading one field."""

    name: ClassVar[str] = "describe"
    whole_array = True
    doc = """Summarise the stream in one pass: count, NaN count, sum, mean, var, std, min, max
    and quantiles.

    Parameters
    ----------
    ddof : int or float, optional
        Delta degrees of freedom of ``var`` / ``std`` (divisor ``n - ddof``).
    nan_policy : {"propagate", "omit", "raise"}, optional
        ``"propagate"``: NaNs make the statistics NaN; ``"omit"``: NaNs
        are ignored; ``"raise"``: ValueError at the first NaN (iteration
        stops there).
    quantiles : sequence of float, optional
        Probabilities of the quantiles to estimate in the same pass.
        Default p1, p5, p25, p50, p75, p95, p99; ``()`` skips the sketch
        (several times faster).
    quantile_method : {"kll", "relative"}, optional
        ``"kll"`` (default): accurate in **rank**, whatever the values'
        magnitude, offset or ties: each quantile's rank error is at most
        1 % with probability >= 99 % (a :class:`pystream.KLLSketch`,
        ``k=400``, whose a-priori 99 % bound is 0.68 %); the values
        returned are values of the data.  ``"relative"``: accurate in
        **value** relative to the value (a :class:`pystream.DDSketch`,
        alpha 1 %: each within 1 % of ``np.quantile(x, q,
        method="lower")``), for positive data spanning orders of
        magnitude (latencies, sizes); meaningless for data far from zero
        compared with its spread (temperatures in kelvin, timestamps).
        Both are bit-identical for any chunking, partitioning and
        engine; see :ref:`which-quantile-method`.
    cov : bool, optional
        Also compute, in the same pass, the covariance and correlation
        matrices of the record's columns (``Description.cov``,
        ``Description.corr``; a :class:`pystream.CoMoments`): the
        covariance divides by ``count - ddof`` (so its diagonal is
        ``var``), ``nan_policy="omit"`` is pairwise-complete as pandas'
        ``DataFrame.cov``/``corr``.  Needs records of at least 2 columns.

    {engine_parameters}

    Returns
    -------
    pystream.reducers.Description
        Scalars for a scalar stream, arrays of ``record_shape`` for a
        record stream; ``quantiles`` maps each probability to its value.

    Raises
    ------
    ValueError
        For an invalid `ddof` / `nan_policy` / `quantile_method`, a
        probability outside [0, 1], or a NaN with
        ``nan_policy="raise"`` (the message names the record).
    TypeError
        If `ddof` or `quantiles` are not numbers, or the dtype is not
        supported.

    Examples
    --------
    >>> import numpy as np
    >>> from pystream.sources import from_array
    >>> d = from_array(np.array([1.0, 2.0, 3.0])).describe(ddof=1)
    >>> float(d.mean), float(d.var), d.quantiles[0.5]
    (2.0, 1.0, 2.0)
    >>> x = np.array([[1.0, 2.0], [2.0, 4.5], [4.0, 7.0]])
    >>> from_array(x).describe(cov=True, quantiles=()).corr.round(4).tolist()
    [[1.0, 0.982], [0.982, 1.0]]
    """
    #: The Description field a statistic returns (None: the whole Description).
    pick: ClassVar[str | None] = None
    #: The names of the input's columns (set by :meth:`prepare`), labelling the Description.
    names: tuple[str, ...] | None = None

    def __init__(self, ddof: float = 0, nan_policy: str = "propagate",
                 quantiles: Any = DEFAULT_QUANTILES, quantile_method: str = "kll",
                 cov: bool = False) -> None:
        where = self.name
        if not isinstance(cov, (bool, np.bool_)):
            raise TypeError(f"{where}: cov must be True or False, got {cov!r}")
        self.with_cov = bool(cov)
        self.ddof = check_ddof(ddof, where)
        self.policy = check_nan_policy(nan_policy, where)
        self.method = check_method(quantile_method, where, "quantile_method")
        self.qs = check_quantiles(quantiles, where)
        self.raises_nan = self.policy == "raise"

    def state(self, start: int) -> DescribeState:
        return DescribeState(start, bool(self.qs), self.method, self.with_cov)

    def prepare(self, node: Any, options: Any) -> DescribeTerminal:
        """The spec labelled by the names of the stream's columns, if it has any
        (read from the chain node's table, the same on every engine)."""
        if self.pick is not None:
            return self
        names = node.table.names_for(node.meta()[1])
        if names is None:
            return self
        spec = copy.copy(self)
        spec.names = names
        return spec

    def early(self, state: DescribeState) -> None:
        if self.raises_nan and state.moments.first_nan is not None:
            raise nan_policy_error(self.name, state.moments.first_nan)

    def finish(self, state: DescribeState, meta: MetaFn) -> Any:
        m = state.moments
        if m.dtype is None:                   # no chunk at all: the input's dtype
            dt, rs = meta()
            m = m.copy().update(np.empty((0, *rs), dt))
        self.early(state)
        d = describe_result(m, state.sketch if self.qs else None, self.qs, self.ddof, self.policy)
        if self.with_cov:
            d = self._with_cov(d, state.comoments, meta)
        pick = self.pick
        if pick is None:
            return d if self.names is None else d.with_names(self.names)
        if pick in ("min", "max") and m.stop == m.start:
            raise ValueError(f"{pick}: the stream is empty; a "
                             f"{'minimum' if pick == 'min' else 'maximum'} of zero records "
                             "is undefined")
        return getattr(d, pick)

    def consumer(self, meta: Meta, start: int) -> DescribeConsumer:
        return DescribeConsumer(self, meta, start)

    def _with_cov(self, d: Any, c: CoMoments | None, meta: MetaFn) -> Any:
        """`d` with the cov and corr matrices of the co-moments `c`."""
        if c is None or c.width is None:      # no record: NaN matrices of the input's width
            shape = meta()[1]
            if len(shape) != 1 or shape[0] < 2:
                raise ValueError("describe(cov=True): a multivariate statistic needs records "
                                 f"of at least 2 columns; the stream's records have shape {shape}")
            nan = np.full((shape[0], shape[0]), np.nan)
            return dataclasses.replace(d, cov=nan, corr=nan.copy())
        return dataclasses.replace(d, cov=c.cov(ddof=self.ddof, nan_policy=self.policy),
                                   corr=c.corr(nan_policy=self.policy))


#: The statistics' parameters, documented once (``{nan_policy}``, ``{ddof}`` in their docs).
_STATISTIC_PARAMETERS = {
    "{nan_policy}": """nan_policy : {"propagate", "omit", "raise"}, optional
        See :meth:`describe`.""",
    "{ddof}": """ddof : int or float, optional
        Delta degrees of freedom (divisor ``n - ddof``).""",
}


class _Statistic(DescribeTerminal):
    """A statistic of ``describe()`` without `ddof`: one field of its result."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for key, text in _STATISTIC_PARAMETERS.items():
            cls.doc = cls.doc.replace(key, text)

    def __init__(self, nan_policy: str = "propagate") -> None:
        super().__init__(0, nan_policy, ())


class _SpreadStatistic(_Statistic):
    """A statistic of ``describe()`` with `ddof` (``var``, ``std``)."""

    def __init__(self, ddof: float = 0, nan_policy: str = "propagate") -> None:  # noqa: D107
        DescribeTerminal.__init__(self, ddof, nan_policy, ())


def _statistic_doc(summary: str, returns: str, example: str, result: str, *,
                   spread: bool = False, empty: bool = False) -> str:
    """The docstring of one statistic of ``describe()`` (the sections they share
    written once; ``{nan_policy}``, ``{ddof}`` and ``{engine_parameters}`` are
    filled in later)."""
    if spread:
        params, raises = "{ddof}\n    {nan_policy}", (
            "For an invalid `ddof` / `nan_policy`, or a NaN with\n"
            "        ``nan_policy=\"raise\"``.\n"
            "    TypeError\n"
            "        If `ddof` is not a number.")
    elif empty:
        params, raises = "{nan_policy}", (
            "If the stream is empty (like numpy's zero-size reduction), for an\n"
            "        invalid `nan_policy`, or a NaN with ``nan_policy=\"raise\"``.")
    else:
        params, raises = "{nan_policy}", (
            "For an invalid `nan_policy`, or a NaN with ``nan_policy=\"raise\"``.")
    return f"""{summary}

    Parameters
    ----------
    {params}

    {{engine_parameters}}

    Returns
    -------
    {returns}

    Raises
    ------
    ValueError
        {raises}

    Examples
    --------
    >>> import numpy as np
    >>> from pystream.sources import from_array
    >>> {example}
    {result}
    """


@terminal
class CountTerminal(_Statistic):
    name = pick = "count"
    doc = _statistic_doc(
        'Number of values, as reported by :meth:`describe` (``Description.count``).',
        'int or ndarray\n        Per value of the record for record streams.',
        'int(from_array(np.arange(5.0)).count())', '5')


@terminal
class SumTerminal(_Statistic):
    name = pick = "sum"
    doc = _statistic_doc(
        'Sum of the records (one pass, accumulated in float64; integers exactly).',
        'scalar or ndarray\n        Per value of the record for record streams.',
        'float(from_array(np.arange(5.0)).sum())', '10.0')


@terminal
class MeanTerminal(_Statistic):
    name = pick = "mean"
    doc = _statistic_doc(
        'Arithmetic mean of the records (one pass).',
        'scalar or ndarray\n        NaN for an empty stream.',
        'float(from_array(np.arange(5.0)).mean())', '2.0')


@terminal
class VarTerminal(_SpreadStatistic):
    name = pick = "var"
    doc = _statistic_doc(
        'Variance of the records (one pass).',
        'scalar or ndarray',
        'float(from_array(np.array([1.0, 2.0, 3.0])).var(ddof=1))', '1.0', spread=True)


@terminal
class StdTerminal(_SpreadStatistic):
    name = pick = "std"
    doc = _statistic_doc(
        'Standard deviation of the records (one pass).',
        'scalar or ndarray',
        'float(from_array(np.array([1.0, 3.0])).std())', '1.0', spread=True)


@terminal
class MinTerminal(_Statistic):
    name = pick = "min"
    doc = _statistic_doc(
        'Minimum of the records (one pass).',
        'scalar or ndarray',
        'float(from_array(np.array([3.0, -1.0, 2.0])).min())', '-1.0', empty=True)


@terminal
class MaxTerminal(_Statistic):
    name = pick = "max"
    doc = _statistic_doc(
        'Maximum of the records (one pass).',
        'scalar or ndarray',
        'float(from_array(np.array([3.0, -1.0, 2.0])).max())', '3.0', empty=True)
