"""Exponentially weighted stages, ``ewm_mean``, ``ewm_var``, ``ewm_std`` (C kernels),
and their table.

Parameters and semantics are pandas' ``Series.ewm(...)``; see
``docs/internals/stages.rst``.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

from .._checks import check_count
from .kernel import KernelStage
from .slow_twins import slow_ewm
from .table import StageRow, numpydoc
from .time_ewm import EwmTime, uses_times

__all__ = ["EWM", "EWM_STAGES", "TABLE", "ewm_stage", "resolve_alpha"]


def _number(value: object, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{where}: {name} must be a number, got {value!r}")
    out = float(value)  # type: ignore[arg-type]
    if math.isnan(out):
        raise ValueError(f"{where}: {name} must not be NaN")
    return out


def resolve_alpha(
    com: float | None = None,
    span: float | None = None,
    halflife: float | None = None,
    alpha: float | None = None,
    where: str = "ewm",
) -> float:
    """The smoothing factor for pandas' ``com | span | halflife | alpha``.

    As pandas, the given parameter is turned into a centre of mass ``c`` and
    ``alpha = 1 / (1 + c)``.

    Raises
    ------
    ValueError
        If not exactly one is given, or it is out of range (``com >= 0``,
        ``span >= 1``, ``halflife > 0``, ``0 < alpha <= 1``).

    Examples
    --------
    >>> resolve_alpha(span=3)
    0.5
    >>> resolve_alpha(com=1)
    0.5
    """
    given = [n for n, v in (("com", com), ("span", span), ("halflife", halflife), ("alpha", alpha))
             if v is not None]
    if len(given) != 1:
        raise ValueError(
            f"{where}: pass exactly one of com, span, halflife or alpha (got {given or 'none'})"
        )
    if com is not None:
        c = _number(com, "com", where)
        if c < 0:
            raise ValueError(f"{where}: com must be >= 0, got {com!r}")
    elif span is not None:
        s = _number(span, "span", where)
        if s < 1:
            raise ValueError(f"{where}: span must be >= 1, got {span!r}")
        c = (s - 1) / 2
    elif halflife is not None:
        h = _number(halflife, "halflife", where)
        if h <= 0:
            raise ValueError(f"{where}: halflife must be > 0, got {halflife!r}")
        decay = 1 - math.exp(math.log(0.5) / h)
        c = 1 / decay - 1 if decay > 0 else math.inf  # halflife > ~1.6e16: decay rounds to 0
    else:
        a = _number(alpha, "alpha", where)
        if not 0 < a <= 1:
            raise ValueError(f"{where}: alpha must be in (0, 1], got {alpha!r}")
        c = (1 - a) / a
    if not math.isfinite(c):
        raise ValueError(f"{where}: the decay is too small to represent (centre of mass {c})")
    return 1.0 / (1.0 + c)


class EWM(KernelStage):
    """An exponentially weighted moving statistic (pandas' ``ewm``).

    Parameters
    ----------
    name : {"ewm_mean", "ewm_var", "ewm_std"}
    com, span, halflife, alpha : float, optional
        Exactly one: the decay, as in pandas.
    min_periods : int, default 0
        Least number of non-NaN observations for a non-NaN output.
    adjust : bool, default True
        Divide by the decaying sum of weights (pandas' default) instead of
        the recursive form ``y = (1 - alpha) y + alpha x``.
    ignore_na : bool, default False
        Ignore NaNs when computing weights (pandas' meaning).
    bias : bool, default False
        ``ewm_var`` / ``ewm_std``: the biased (population) estimate.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> ps.from_array(np.array([1.0, 2.0, 3.0])).pipe(EWM("ewm_mean", alpha=0.5)).to_array()
    array([1.        , 1.66666667, 2.42857143])
    """

    nan_policy = "omit"

    def __init__(
        self,
        name: str,
        com: float | None = None,
        span: float | None = None,
        halflife: float | None = None,
        alpha: float | None = None,
        min_periods: int = 0,
        adjust: bool = True,
        ignore_na: bool = False,
        bias: bool = False,
    ) -> None:
        if name not in EWM_STAGES:
            raise ValueError(f"EWM: unknown stage {name!r}; expected one of {EWM_STAGES}")
        self.name = name  # type: ignore[misc]
        self.kernel = name
        a = resolve_alpha(com, span, halflife, alpha, name)
        for flag, value in (("adjust", adjust), ("ignore_na", ignore_na), ("bias", bias)):
            if not isinstance(value, (bool, int)) or value not in (0, 1):
                raise TypeError(f"{name}: {flag} must be True or False, got {value!r}")
        if bias and name == "ewm_mean":
            raise TypeError("ewm_mean: bias applies to ewm_var and ewm_std only")
        params: dict[str, Any] = {
            "alpha": a,
            "min_count": check_count(min_periods, "min_periods", name),
            "adjust": int(adjust),
            "ignore_na": int(ignore_na),
        }
        if name != "ewm_mean":
            params["bias"] = int(bias)
        self.kernel_params = params


def ewm_stage(name: str, com: float | None = None, span: float | None = None,
              halflife: Any = None, alpha: float | None = None, min_periods: int = 0,
              adjust: bool = True, ignore_na: bool = False, bias: bool = False,
              times: Any = None) -> EWM | EwmTime:
    """The EWM stage `name`: decaying per record, or over the time column when
    `times` is given or `halflife` is a duration (``"10s"``).

    Examples
    --------
    >>> type(ewm_stage("ewm_mean", alpha=0.5)).__name__, type(ewm_stage("ewm_mean", halflife="10s")).__name__
    ('EWM', 'EwmTime')
    """
    if uses_times(halflife, times):
        given = [n for n, v in (("com", com), ("span", span), ("alpha", alpha)) if v is not None]
        if given:
            raise ValueError(f"{name}: an EWM over times takes halflife only (pandas' rule), "
                             f"not {', '.join(given)}")
        return EwmTime(name, halflife, True if times is None else times, min_periods, adjust,
                       ignore_na, bias)
    return EWM(name, com, span, halflife, alpha, min_periods, adjust, ignore_na, bias)


# --------------------------------------------------------------------------- the table

_PARAMS = """Parameters
----------
com, span, halflife, alpha : float, optional
    Exactly one: the decay (pandas' definitions).
min_periods : int, default 0
adjust : bool, default True
ignore_na : bool, default False
times : True or str, optional
    Weigh by the stream's time column (True, or its name), as pandas'
    ``ewm(halflife=..., times=...)``: the weight of an observation
    ``dt`` earlier is ``0.5 ** (dt / halflife)``.  A duration
    `halflife` (``"10s"``, a timedelta) implies it; see
    ``docs/time_ewm.rst``."""

_SIGNATURE = ("com: float | None = None, span: float | None = None, "
              "halflife: float | str | None = None, alpha: float | None = None, "
              "min_periods: int = 0, adjust: bool = True, ignore_na: bool = False")
_CALL = "com, span, halflife, alpha, min_periods, adjust, ignore_na"
_TIMES = ", times: bool | str | None = None"


def _ewm_row(name: str, summary: str, example: str, bias: bool = True) -> StageRow:
    doc = numpydoc(summary, _PARAMS + ("\nbias : bool, default False" if bias else ""),
                   "Returns\n-------\nStream\n    float64 records.",
                   "Examples\n--------\n>>> import numpy as np, pystream as ps\n" + example)
    row = StageRow(name, "ewm", doc, partial(ewm_stage, name),
                   _SIGNATURE + (", bias: bool = False" if bias else "") + _TIMES,
                   _CALL + (", bias" if bias else ", False") + ", times=times",
                   partial(slow_ewm, name), {"alpha": 0.3},
                   kinds=(name,))
    row.build.__doc__ = row.docstring  # type: ignore[attr-defined]
    return row


#: The EWM stages, one row each.
TABLE: tuple[StageRow, ...] = (
    _ewm_row("ewm_mean",
             "Exponentially weighted moving mean, as pandas' ``Series.ewm(...).mean()``.",
             ">>> ps.from_array(np.array([1.0, 2.0, 3.0])).ewm_mean(alpha=0.5, adjust=False)"
             ".to_array()\narray([1.  , 1.5 , 2.25])", bias=False),
    _ewm_row("ewm_var",
             "Exponentially weighted moving variance, as pandas' ``Series.ewm(...).var(bias)``.",
             ">>> ps.from_array(np.array([1.0, 1.0, 1.0])).ewm_var(span=2).to_array()\n"
             "array([nan,  0.,  0.])"),
    _ewm_row("ewm_std",
             "Exponentially weighted moving standard deviation (pandas' ``ewm(...).std(bias)``).",
             ">>> ps.from_array(np.array([0.0, 2.0])).ewm_std(alpha=0.5, bias=True).to_array()\n"
             "array([0.        , 0.94280904])"),
)

#: The EWM stage names.
EWM_STAGES: tuple[str, ...] = tuple(row.name for row in TABLE)
