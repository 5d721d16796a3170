"""The built-in stage methods of :class:`~pystream.stream.Stream`.

Kept out of ``stream.py`` (which holds the plumbing) as a mixin: each method
builds the stage registered under its name (:mod:`pystream.builtin_entries`;
a loaded plugin may replace one with ``override=True``), which validates its
parameters now, and pipes it with ``Stream._add_stage``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._extensions import find as find_entry

if TYPE_CHECKING:  # pragma: no cover
    from ..stream import Stream

__all__ = ["StageMethods"]

_WINDOW_PARAMS = """
        Parameters
        ----------
        window : int
            Window length in records, ``1 <= window <= 2**52``.  Memory
            follows the records seen, not the window: a window longer than
            the stream costs what the stream holds.
        min_count : int, optional
            Least number of non-NaN values in the window for a non-NaN
            output (``1 <= min_count <= window``); default `window`, so the
            first ``window - 1`` outputs are NaN (bottleneck's rule).
        nan_policy : {"omit", "propagate", "raise"}, default "omit"
            ``"omit"`` skips NaNs (bottleneck, pandas); ``"propagate"``
            gives NaN for every window holding a NaN; ``"raise"`` raises
            ``ValueError`` naming the record of the first NaN."""

_RETURNS = """
        Returns
        -------
        Stream
            A lazy stream of float64 records of this stream's record shape,
            one per input record (the statistic is taken per value of the
            record)."""


_DDOF_PARAM = """
        ddof : float, default 1
            Delta degrees of freedom: divisor ``count - ddof``.  The default
            1 is pandas' and polars' (``rolling(w).std()``); ``ddof=0`` is
            bottleneck's ``move_std`` and numpy's ``np.std``.  The reducers
            (:meth:`std`, :meth:`describe`) keep numpy's default 0."""


def _doc(summary: str, params: str, example: str, extra: str = "") -> str:
    return f"""{summary}
{params}{extra}
{_RETURNS}

        Raises
        ------
        TypeError, ValueError
            For invalid parameters, when the stage is added (not mid-stream).

        Examples
        --------
        >>> import numpy as np, pystream as ps
{example}
        """


def _ewm_doc(summary: str, example: str) -> str:
    return f"""{summary}

        Parameters
        ----------
        com, span, halflife, alpha : float, optional
            Exactly one: the decay (pandas' definitions).
        min_periods : int, default 0
        adjust : bool, default True
        ignore_na : bool, default False
        bias : bool, default False

        Returns
        -------
        Stream
            float64 records.

        Examples
        --------
        >>> import numpy as np, pystream as ps
{example}
        """


class StageMethods:
    """Mixin: the built-in stages as :class:`~pystream.stream.Stream` methods."""

    __slots__ = ()

    if TYPE_CHECKING:  # pragma: no cover
        def _add_stage(self, stage: Any) -> Stream: ...

    def _registered(self, name: str, *args: Any, **kwargs: Any) -> Stream:
        """Pipe the stage registered as `name` (a built-in unless a plugin
        replaced it with ``override=True``), built from the arguments."""
        return self._add_stage(find_entry("stages", name).factory(*args, **kwargs))

    # --------------------------------------------------------------- moving windows
    def moving_sum(self, window: int, min_count: int | None = None, nan_policy: str = "omit") -> Stream:
        return self._registered("moving_sum", window, min_count, nan_policy)

    moving_sum.__doc__ = _doc(
        "Moving-window sum (bottleneck's ``move_sum``), drift-free.", _WINDOW_PARAMS,
        "        >>> ps.from_array(np.arange(5.0)).moving_sum(3).to_array()\n"
        "        array([nan, nan,  3.,  6.,  9.])")

    def moving_mean(self, window: int, min_count: int | None = None, nan_policy: str = "omit") -> Stream:
        return self._registered("moving_mean", window, min_count, nan_policy)

    moving_mean.__doc__ = _doc(
        "Moving-window mean (bottleneck's ``move_mean``), drift-free.", _WINDOW_PARAMS,
        "        >>> ps.from_array(np.arange(5.0)).moving_mean(2, min_count=1).to_array()\n"
        "        array([0. , 0.5, 1.5, 2.5, 3.5])")

    def moving_var(self, window: int, min_count: int | None = None, nan_policy: str = "omit",
                   ddof: float = 1) -> Stream:
        return self._registered("moving_var", window, min_count, nan_policy, ddof=ddof)

    moving_var.__doc__ = _doc(
        "Moving-window variance, the sample variance by default (pandas' "
        "``rolling(w).var()``; bottleneck's ``move_var`` is ``ddof=0``): NaN while "
        "``count - ddof <= 0``; a constant window gives exactly 0.", _WINDOW_PARAMS,
        "        >>> x = ps.from_array(np.array([1e12, 1.0, 1.0, 1.0]))\n"
        "        >>> x.moving_var(2).to_array()                  # ddof=1, as pandas\n"
        "        array([   nan, 5.e+23, 0.e+00, 0.e+00])\n"
        "        >>> x.moving_var(2, ddof=0).to_array()          # as bottleneck's move_var\n"
        "        array([    nan, 2.5e+23, 0.0e+00, 0.0e+00])",
        _DDOF_PARAM)

    def moving_std(self, window: int, min_count: int | None = None, nan_policy: str = "omit",
                   ddof: float = 1) -> Stream:
        return self._registered("moving_std", window, min_count, nan_policy, ddof=ddof)

    moving_std.__doc__ = _doc(
        "Moving-window standard deviation, the sample one by default (pandas' "
        "``rolling(w).std()``; bottleneck's ``move_std`` is ``ddof=0``), drift-free.",
        _WINDOW_PARAMS,
        "        >>> x = ps.from_array(np.array([1.0, 3.0, 3.0]))\n"
        "        >>> x.moving_std(2).to_array()                  # ddof=1, as pandas\n"
        "        array([       nan, 1.41421356, 0.        ])\n"
        "        >>> x.moving_std(2, ddof=0).to_array()          # as bottleneck's move_std\n"
        "        array([nan,  1.,  0.])",
        _DDOF_PARAM)

    def moving_min(self, window: int, min_count: int | None = None, nan_policy: str = "omit") -> Stream:
        return self._registered("moving_min", window, min_count, nan_policy)

    moving_min.__doc__ = _doc(
        "Moving-window minimum (bottleneck's ``move_min``).", _WINDOW_PARAMS,
        "        >>> ps.from_array(np.array([3.0, 1.0, 2.0, 5.0])).moving_min(2).to_array()\n"
        "        array([nan,  1.,  1.,  2.])")

    def moving_max(self, window: int, min_count: int | None = None, nan_policy: str = "omit") -> Stream:
        return self._registered("moving_max", window, min_count, nan_policy)

    moving_max.__doc__ = _doc(
        "Moving-window maximum (bottleneck's ``move_max``).", _WINDOW_PARAMS,
        "        >>> ps.from_array(np.array([3.0, 1.0, 2.0, 5.0])).moving_max(2).to_array()\n"
        "        array([nan,  3.,  2.,  5.])")

    def moving_argmin(self, window: int, min_count: int | None = None, nan_policy: str = "omit") -> Stream:
        return self._registered("moving_argmin", window, min_count, nan_policy)

    moving_argmin.__doc__ = _doc(
        "Where the window's minimum is, counted back from the newest record (0 = newest; "
        "ties go to the newest), as bottleneck's ``move_argmin``.", _WINDOW_PARAMS,
        "        >>> ps.from_array(np.array([3.0, 1.0, 2.0, 5.0])).moving_argmin(3).to_array()\n"
        "        array([nan, nan,  1.,  2.])")

    def moving_argmax(self, window: int, min_count: int | None = None, nan_policy: str = "omit") -> Stream:
        return self._registered("moving_argmax", window, min_count, nan_policy)

    moving_argmax.__doc__ = _doc(
        "Where the window's maximum is, counted back from the newest record (0 = newest; "
        "ties go to the newest), as bottleneck's ``move_argmax``.", _WINDOW_PARAMS,
        "        >>> ps.from_array(np.array([3.0, 1.0, 2.0, 5.0])).moving_argmax(3).to_array()\n"
        "        array([nan, nan,  2.,  0.])")

    def moving_median(self, window: int, min_count: int | None = None, nan_policy: str = "omit") -> Stream:
        return self._registered("moving_median", window, min_count, nan_policy)

    moving_median.__doc__ = _doc(
        "Moving-window median (bottleneck's ``move_median``; the mean of the two middle "
        "values for an even count, as ``np.median``).  O(log window) per record.",
        _WINDOW_PARAMS,
        "        >>> ps.from_array(np.array([1.0, 9.0, 2.0, 8.0])).moving_median(3).to_array()\n"
        "        array([nan, nan,  2.,  8.])")

    def moving_quantile(self, window: int, q: float, min_count: int | None = None,
                        nan_policy: str = "omit") -> Stream:
        return self._registered("moving_quantile", window, min_count, nan_policy, q=q)

    moving_quantile.__doc__ = _doc(
        "Moving-window quantile, equal to ``np.quantile(window_values, q)`` (linear "
        "interpolation).  O(log window) per record.  Exact, over the last `window` "
        "records; for the quantiles of a whole stream in bounded memory use "
        ":meth:`quantile` (a sketch).", _WINDOW_PARAMS,
        "        >>> ps.from_array(np.arange(6.0)).moving_quantile(4, q=0.25).to_array()\n"
        "        array([ nan,  nan,  nan, 0.75, 1.75, 2.75])",
        "\n        q : float\n            The quantile, in [0, 1].")

    def moving_rank(self, window: int, min_count: int | None = None, nan_policy: str = "omit") -> Stream:
        return self._registered("moving_rank", window, min_count, nan_policy)

    moving_rank.__doc__ = _doc(
        "Rank of the newest record within its window, scaled to [-1, 1] (ties averaged), "
        "as bottleneck's ``move_rank``.", _WINDOW_PARAMS,
        "        >>> ps.from_array(np.array([1.0, 3.0, 2.0, 0.0])).moving_rank(3).to_array()\n"
        "        array([nan, nan,  0., -1.])")

    # ------------------------------------------------------------------------- scans
    def cumsum(self, nan_policy: str = "propagate") -> Stream:
        """Running sum (``np.cumsum``; ``np.nancumsum`` with ``nan_policy="omit"``).

        Floats accumulate in float64 (bit-identical to ``np.cumsum`` on
        float64); integers and bools exactly in int64, an overflow raising
        ``OverflowError`` with the record's index.

        Parameters
        ----------
        nan_policy : {"propagate", "omit", "raise"}, default "propagate"

        Returns
        -------
        Stream
            float64 records (int64 for integer input).

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> ps.from_array(np.arange(5), chunk_size=2).cumsum().to_array()
        array([ 0,  1,  3,  6, 10])
        """
        return self._registered("cumsum", nan_policy)

    def cumprod(self, nan_policy: str = "propagate") -> Stream:
        """Running product (``np.cumprod``; ``np.nancumprod`` with ``nan_policy="omit"``).

        Same dtype rules as :meth:`cumsum`.

        Parameters
        ----------
        nan_policy : {"propagate", "omit", "raise"}, default "propagate"

        Returns
        -------
        Stream

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> ps.from_array(np.array([1.0, 2.0, np.nan, 4.0])).cumprod(nan_policy="omit").to_array()
        array([1., 2., 2., 8.])
        """
        return self._registered("cumprod", nan_policy)

    def cummean(self, nan_policy: str = "propagate") -> Stream:
        """Running mean at every record (compensated sum / count; float64).

        Parameters
        ----------
        nan_policy : {"propagate", "omit", "raise"}, default "propagate"
            ``"omit"``: the mean of the non-NaN values so far (NaN before
            the first one).

        Returns
        -------
        Stream

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> ps.from_array(np.array([2.0, 4.0, np.nan, 6.0])).cummean(nan_policy="omit").to_array()
        array([2., 3., 3., 4.])
        """
        return self._registered("cummean", nan_policy)

    def cumvar(self, ddof: float = 1, nan_policy: str = "propagate") -> Stream:
        """Running variance at every record (Welford; NaN while ``count - ddof <= 0``).

        Parameters
        ----------
        ddof : float, default 1
            Delta degrees of freedom: divisor ``count - ddof``.  The default
            1 is pandas' ``expanding().var()``; ``ddof=0`` divides by the
            count, as ``np.var`` of the records so far.  The reducers
            (:meth:`var`, :meth:`describe`) keep numpy's default 0.
        nan_policy : {"propagate", "omit", "raise"}, default "propagate"

        Returns
        -------
        Stream

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> ps.from_array(np.array([1.0, 3.0, 5.0])).cumvar().to_array()
        array([nan,  2.,  4.])
        >>> ps.from_array(np.array([1.0, 3.0, 5.0])).cumvar(ddof=0).to_array()
        array([0.        , 1.        , 2.66666667])
        """
        return self._registered("cumvar", nan_policy, ddof)

    def cumstd(self, ddof: float = 1, nan_policy: str = "propagate") -> Stream:
        """Running standard deviation at every record (the square root of :meth:`cumvar`).

        Parameters
        ----------
        ddof : float, default 1
            Delta degrees of freedom: divisor ``count - ddof``; 1 is pandas'
            ``expanding().std()``, 0 is ``np.std`` of the records so far.
        nan_policy : {"propagate", "omit", "raise"}, default "propagate"

        Returns
        -------
        Stream

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> ps.from_array(np.array([1.0, 3.0, 5.0])).cumstd().to_array()
        array([       nan, 1.41421356, 2.        ])
        """
        return self._registered("cumstd", nan_policy, ddof)

    def cummin(self, nan_policy: str = "propagate") -> Stream:
        """Running minimum (``np.minimum.accumulate``; ``np.fmin.accumulate`` with
        ``nan_policy="omit"``); the dtype is kept.

        Parameters
        ----------
        nan_policy : {"propagate", "omit", "raise"}, default "propagate"

        Returns
        -------
        Stream

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> ps.from_array(np.array([3, 1, 2, 0])).cummin().to_array()
        array([3, 1, 1, 0])
        """
        return self._registered("cummin", nan_policy)

    def cummax(self, nan_policy: str = "propagate") -> Stream:
        """Running maximum (``np.maximum.accumulate``; ``np.fmax.accumulate`` with
        ``nan_policy="omit"``); the dtype is kept.

        Parameters
        ----------
        nan_policy : {"propagate", "omit", "raise"}, default "propagate"

        Returns
        -------
        Stream

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> ps.from_array(np.array([1, 3, 2, 4])).cummax().to_array()
        array([1, 3, 3, 4])
        """
        return self._registered("cummax", nan_policy)

    def cumcount(self, nan_policy: str = "omit") -> Stream:
        """Running count of values (int64): at each record, how many non-NaN values
        there were so far, this record included.

        Parameters
        ----------
        nan_policy : {"omit", "propagate", "raise"}, default "omit"
            ``"propagate"`` counts NaNs too.

        Returns
        -------
        Stream

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> ps.from_array(np.array([1.0, np.nan, 2.0])).cumcount().to_array()
        array([1, 1, 2])
        """
        return self._registered("cumcount", nan_policy)

    def diff(self, n: int = 1) -> Stream:
        """The `n`-th discrete difference along the stream, as ``np.diff(x, n, axis=0)``.

        The output has ``n`` records fewer than the input and numpy's dtype
        (``not_equal`` for bools; unsigned integers wrap around as in numpy).

        Parameters
        ----------
        n : int, default 1
            Order of the difference (``>= 0``).

        Returns
        -------
        Stream

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> ps.from_array(np.array([1, 4, 9, 16]), chunk_size=3).diff().to_array()
        array([3, 5, 7])
        """
        return self._registered("diff", n)

    # --------------------------------------------------------------------------- EWM
    def ewm_mean(self, com: float | None = None, span: float | None = None,
                 halflife: float | None = None, alpha: float | None = None,
                 min_periods: int = 0, adjust: bool = True, ignore_na: bool = False) -> Stream:
        """Exponentially weighted moving mean, as pandas' ``Series.ewm(...).mean()``.

        Parameters
        ----------
        com, span, halflife, alpha : float, optional
            Exactly one: the decay (pandas' definitions).
        min_periods : int, default 0
        adjust : bool, default True
        ignore_na : bool, default False

        Returns
        -------
        Stream
            float64 records.

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> ps.from_array(np.array([1.0, 2.0, 3.0])).ewm_mean(alpha=0.5, adjust=False).to_array()
        array([1.  , 1.5 , 2.25])
        """
        return self._registered("ewm_mean", com, span, halflife, alpha, min_periods, adjust,
                                ignore_na)

    def ewm_var(self, com: float | None = None, span: float | None = None,
                halflife: float | None = None, alpha: float | None = None,
                min_periods: int = 0, adjust: bool = True, ignore_na: bool = False,
                bias: bool = False) -> Stream:
        return self._registered("ewm_var", com, span, halflife, alpha, min_periods, adjust,
                                ignore_na, bias)

    ewm_var.__doc__ = _ewm_doc(
        "Exponentially weighted moving variance, as pandas' ``Series.ewm(...).var(bias)``.",
        "        >>> ps.from_array(np.array([1.0, 1.0, 1.0])).ewm_var(span=2).to_array()\n"
        "        array([nan,  0.,  0.])")

    def ewm_std(self, com: float | None = None, span: float | None = None,
                halflife: float | None = None, alpha: float | None = None,
                min_periods: int = 0, adjust: bool = True, ignore_na: bool = False,
                bias: bool = False) -> Stream:
        return self._registered("ewm_std", com, span, halflife, alpha, min_periods, adjust,
                                ignore_na, bias)

    ewm_std.__doc__ = _ewm_doc(
        "Exponentially weighted moving standard deviation (pandas' ``ewm(...).std(bias)``).",
        "        >>> ps.from_array(np.array([0.0, 2.0])).ewm_std(alpha=0.5, bias=True).to_array()\n"
        "        array([0.        , 0.94280904])")

    # ---------------------------------------------------------------- windows as records
    def nwise(self, n: int) -> Stream:
        """Overlapping windows of `n` consecutive records, as records of shape ``(n, ...)``.

        Same as :meth:`sliding_window` with ``step=1``: windows span chunk
        boundaries; outputs are read-only views.

        Parameters
        ----------
        n : int
            Records per window (``>= 1``).

        Returns
        -------
        Stream

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> ps.from_array(np.arange(4), chunk_size=3).nwise(2).to_array()
        array([[0, 1],
               [1, 2],
               [2, 3]])
        """
        return self._registered("nwise", n)

    def sliding_window(self, n: int, step: int = 1) -> Stream:
        """Windows of `n` consecutive records every `step` records, as records of shape
        ``(n, ...)`` (``sliding_window_view(x, n, axis=0)[::step]`` with the window axis first).

        Parameters
        ----------
        n : int
            Records per window (``>= 1``).
        step : int, default 1
            Records between window starts (``>= 1``).

        Returns
        -------
        Stream

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> ps.from_array(np.arange(6), chunk_size=4).sliding_window(3, step=2).to_array()
        array([[0, 1, 2],
               [2, 3, 4]])
        """
        return self._registered("sliding_window", n, step)

    def tumbling(self, n: int) -> Stream:
        """Non-overlapping blocks of `n` records, as records of shape ``(n, ...)``
        (zero-copy where a chunk holds whole blocks; an incomplete last block is dropped).

        Parameters
        ----------
        n : int
            Records per block (``>= 1``).

        Returns
        -------
        Stream

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> ps.from_array(np.arange(5)).tumbling(2).to_array()
        array([[0, 1],
               [2, 3]])
        """
        return self._registered("tumbling", n)

    def resample(self, n: int, how: str = "mean", nan_policy: str = "propagate",
                 partial: bool = True) -> Stream:
        """Reduce each block of `n` consecutive records to one record (decimation).

        Parameters
        ----------
        n : int
            Records per block (``>= 1``), aligned on the stream's first record.
        how : {"mean", "sum", "min", "max", "first", "last"}, default "mean"
            ``"sum"`` and ``"mean"`` accumulate in float64 in record order
            and give float64; the others keep the dtype.
        nan_policy : {"propagate", "omit", "raise"}, default "propagate"
        partial : bool, default True
            Emit the reduction of an incomplete last block at the end.

        Returns
        -------
        Stream

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> ps.from_array(np.arange(7.0), chunk_size=3).resample(3).to_array()
        array([1., 4., 6.])
        >>> ps.from_array(np.arange(7), chunk_size=3).resample(3, how="max", partial=False).to_array()
        array([2, 5])
        """
        return self._registered("resample", n, how, nan_policy, partial)


def _suggest_keywords_on_methods(cls: type) -> None:
    """A misspelled keyword of a stage method (``moving_mean(windw=3)``)
    raises a TypeError that suggests the parameter meant, as the command
    line does (:mod:`pystream._arguments`)."""
    import inspect

    from .._arguments import suggest_keywords

    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, suggest_keywords(member))


_suggest_keywords_on_methods(StageMethods)
