"""The slow twin of ``ewm_cov`` / ``ewm_corr``: pandas' ``ewmcov`` recurrence in
plain Python, written from pandas' formula (not from ``csrc/ewm_pairs.c``'s
rewrite of it), one pair of columns at a time.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["slow_ewm_pairs"]


def _alpha(com: float | None, span: float | None, halflife: float | None,
           alpha: float | None) -> float:
    if com is not None:
        c = float(com)
    elif span is not None:
        c = (float(span) - 1) / 2
    elif halflife is not None:
        c = 1 / (1 - math.exp(math.log(0.5) / float(halflife))) - 1
    else:
        c = (1 - float(alpha)) / float(alpha)  # type: ignore[arg-type]
    return 1.0 / (1.0 + c)


def _ewmcov(x: list[float], y: list[float], a: float, minp: int, adjust: bool,
            ignore_na: bool, bias: bool) -> list[float]:
    """pandas' ``ewmcov(x, y)`` over one series pair (its operations, its order)."""
    f = 1.0 - a
    new_wt = 1.0 if adjust else a
    out: list[float] = []
    mx = my = math.nan
    cov, sum_wt, sum_wt2, old_wt = 0.0, 1.0, 1.0, 1.0
    nobs = 0
    for cx, cy in zip(x, y):
        obs = math.isfinite(cx) and math.isfinite(cy)
        nobs += obs
        if mx == mx:
            if obs or not ignore_na:
                sum_wt *= f
                sum_wt2 *= f * f
                old_wt *= f
                if obs:
                    ox, oy = mx, my
                    if mx != cx:
                        mx = (old_wt * ox + new_wt * cx) / (old_wt + new_wt)
                    if my != cy:
                        my = (old_wt * oy + new_wt * cy) / (old_wt + new_wt)
                    cov = (old_wt * (cov + (ox - mx) * (oy - my))
                           + new_wt * ((cx - mx) * (cy - my))) / (old_wt + new_wt)
                    sum_wt += new_wt
                    sum_wt2 += new_wt * new_wt
                    old_wt += new_wt
                    if not adjust:
                        sum_wt /= old_wt
                        sum_wt2 /= old_wt * old_wt
                        old_wt = 1.0
        elif obs:
            mx, my = cx, cy
        if nobs < minp:
            out.append(math.nan)
        elif bias:
            out.append(cov)
        else:
            num = sum_wt * sum_wt
            den = num - sum_wt2
            out.append(num / den * cov if den > 0 else math.nan)
    return out


def _pair(stat: str, x: list[float], y: list[float], a: float, minp: int, adjust: bool,
          ignore_na: bool, bias: bool) -> list[float]:
    if stat == "cov":
        return _ewmcov(x, y, a, minp, adjust, ignore_na, bias)
    c = _ewmcov(x, y, a, minp, adjust, ignore_na, True)
    vx = _ewmcov(x, x if x is y else [u if math.isfinite(v) else math.nan for u, v in zip(x, y)],
                 a, minp, adjust, ignore_na, True)
    vy = _ewmcov([u if math.isfinite(v) else math.nan for u, v in zip(y, x)], y,
                 a, minp, adjust, ignore_na, True)
    out = []
    for cv, u, v in zip(c, vx, vy):
        s = math.sqrt(u) * math.sqrt(v) if u == u and v == v and u >= 0 and v >= 0 else math.nan
        out.append(min(1.0, max(-1.0, cv / s)) if s > 0 else math.nan)
    return out


def slow_ewm_pairs(stat: str, x: np.ndarray, com: float | None = None, span: float | None = None,
                   halflife: float | None = None, alpha: float | None = None,
                   min_periods: int = 0, adjust: bool = True, ignore_na: bool = False,
                   bias: bool = False, columns: Any = None, **_: Any) -> np.ndarray:
    """``ewm_cov`` / ``ewm_corr`` of the whole 2-d input `x` (records of d >= 2 values).

    Parameters
    ----------
    stat : {"cov", "corr"}
    x : ndarray
        ``(n, d)`` values.
    com, span, halflife, alpha, min_periods, adjust, ignore_na, bias
        As the stages.
    columns : list of int, optional
        Positions of the columns to use.

    Returns
    -------
    ndarray
        ``(n,)`` for 2 columns, ``(n, d, d)`` beyond.

    Examples
    --------
    >>> slow_ewm_pairs("cov", np.array([[1.0, 2.0], [2.0, 1.0], [4.0, 0.0]]), alpha=0.5)
    array([ nan, -0.5, -1.5])
    """
    a = _alpha(com, span, halflife, alpha)
    x = np.asarray(x, dtype=np.float64)
    if columns is not None:
        x = x[:, list(columns)]
    n, d = x.shape
    minp = max(int(min_periods), 1)
    cols = [x[:, j].tolist() for j in range(d)]
    if d == 2:
        return np.array(_pair(stat, cols[0], cols[1], a, minp, adjust, ignore_na, bias),
                        dtype=np.float64).reshape(n)
    out = np.empty((n, d, d))
    for i in range(d):
        for j in range(i, d):
            v = _pair(stat, cols[i], cols[j], a, minp, adjust, ignore_na, bias)
            out[:, i, j] = v
            out[:, j, i] = v
    return out
