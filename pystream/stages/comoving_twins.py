"""Slow twins of the moving co-moment stages (``moving_cov``, ``moving_corr``,
``moving_beta``; :mod:`pystream.stages.comoving`).

Written for clarity, sharing no code with the C kernel (``csrc/comoving.c``):
a Python loop over windows and pairs of columns, numpy inside, each window's
co-moments computed afresh by two passes over its values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .time_twins import slow_window_starts

__all__ = ["slow_comoving", "slow_moving_beta", "slow_moving_corr", "slow_moving_cov", "slow_moving_ols",
           "slow_pair"]


def slow_pair(stat: str, u: np.ndarray, v: np.ndarray, min_count: int, propagate: bool,
              ddof: float, diagonal: bool = False) -> float:
    """The statistic of one window of the pair of columns (`u`, `v`).

    Records with a NaN in `u` or `v` are left out (pairwise-complete); NaN
    when fewer than `min_count` remain (or, `propagate`, when any was left
    out), or when a value is infinite.  ``beta`` is the slope of `v` on `u`.

    Examples
    --------
    >>> slow_pair("cov", np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 2.0]), 1, False, 1.0)
    0.5
    """
    ok = ~(np.isnan(u) | np.isnan(v))
    n = int(ok.sum())
    if n == 0 or n < min_count or (propagate and n < len(u)):
        return math.nan
    a, b = u[ok], v[ok]
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.nan
    da, db = a - a[0], b - b[0]              # shifted by a value of the window: exact 0 when constant
    da, db = da - da.mean(), db - db.mean()
    c, vu, vv = float(np.dot(da, db)), float(np.dot(da, da)), float(np.dot(db, db))
    if stat == "cov":
        return c / (n - ddof) if n - ddof > 0 else math.nan
    if stat == "corr":
        if diagonal:
            return 1.0 if vu > 0 else math.nan
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.float64(c) / (np.sqrt(vu) * np.sqrt(vv))
        return float(np.clip(r, -1.0, 1.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.float64(c) / np.float64(vu))


def _windows(n: int, window: int | float, times: np.ndarray | None,
             closed: str) -> list[tuple[int, int]]:
    """The row range ``[start, end)`` of each record's window."""
    if times is None:
        return [(max(0, i - int(window) + 1), i + 1) for i in range(n)]
    t = np.asarray(times)
    starts = slow_window_starts(t, window, closed)
    out = []
    for i in range(n):
        if closed in ("right", "both"):
            end = i + 1
        else:       # an open right end leaves out every record at the record's own time
            end = i
            while end > 0 and t[end - 1] == t[i]:
                end -= 1
        out.append((int(starts[i]), end))
    return out


def _columns(x: np.ndarray, columns: Sequence[int] | None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"a multivariate statistic needs records of at least 2 columns, got "
                         f"records of shape {x.shape[1:]}")
    return x if columns is None else x[:, list(columns)]


def slow_comoving(stat: str, x: np.ndarray, window: int | float, min_count: int | None = None,
                  ddof: float = 1, columns: Sequence[int] | None = None,
                  nan_policy: str = "omit", times: np.ndarray | None = None,
                  closed: str = "right") -> np.ndarray:
    """Moving `stat` of the records `x` (``(N, k)``): ``(N,)`` for a pair of columns,
    ``(N, k, k)`` for more.  A number `window` counts records; with `times`, it is a
    duration in their units (``min_count`` then defaults to 1).

    Examples
    --------
    >>> x = np.array([[1.0, 1.0], [2.0, 3.0], [4.0, 2.0]])
    >>> slow_comoving("cov", x, 2).tolist()
    [nan, 1.0, -1.0]
    """
    x = _columns(x, columns)
    n, k = x.shape
    mc = (1 if times is not None else int(window)) if min_count is None else min_count
    propagate = nan_policy == "propagate"
    out = np.full((n,) if k == 2 else (n, k, k), np.nan)
    for i, (s, e) in enumerate(_windows(n, window, times, closed)):
        w = x[s:e]
        if k == 2:
            out[i] = slow_pair(stat, w[:, 0], w[:, 1], mc, propagate, ddof)
            continue
        for a in range(k):
            for b in range(a, k):
                out[i, a, b] = out[i, b, a] = slow_pair(stat, w[:, a], w[:, b], mc, propagate,
                                                        ddof, diagonal=a == b)
    return out


def slow_moving_cov(x: np.ndarray, window: int | float, min_count: int | None = None,
                    ddof: float = 1, columns: Sequence[int] | None = None,
                    times: np.ndarray | None = None, closed: str = "right") -> np.ndarray:
    """``moving_cov``'s twin (see :func:`slow_comoving`).

    Examples
    --------
    >>> slow_moving_cov(np.array([[1.0, 1.0], [2.0, 3.0]]), 2).tolist()
    [nan, 1.0]
    """
    return slow_comoving("cov", x, window, min_count, ddof, columns, times=times, closed=closed)


def slow_moving_corr(x: np.ndarray, window: int | float, min_count: int | None = None,
                     columns: Sequence[int] | None = None, times: np.ndarray | None = None,
                     closed: str = "right") -> np.ndarray:
    """``moving_corr``'s twin (see :func:`slow_comoving`).

    Examples
    --------
    >>> slow_moving_corr(np.array([[1.0, 1.0], [2.0, 3.0], [3.0, 2.0]]), 3).round(12).tolist()
    [nan, nan, 0.5]
    """
    return slow_comoving("corr", x, window, min_count, 1, columns, times=times, closed=closed)


def slow_moving_beta(values: np.ndarray, window: int | float, *, y: int = 1, x: int = 0,
                     min_count: int | None = None, times: np.ndarray | None = None,
                     closed: str = "right") -> np.ndarray:
    """``moving_beta``'s twin: the slope of column `y` on column `x` per window.

    Examples
    --------
    >>> slow_moving_beta(np.array([[1.0, 1.0], [2.0, 3.0], [3.0, 5.0]]), 3).tolist()
    [nan, nan, 2.0]
    """
    return slow_comoving("beta", values, window, min_count, 1, [x, y], times=times,
                         closed=closed)


def slow_moving_ols(values: np.ndarray, window: int, y: int, x: Sequence[int] | None = None,
                    intercept: bool = True, min_count: int | None = None,
                    nan_policy: str = "omit") -> np.ndarray:
    """``moving_ols``'s twin: ``numpy.linalg.lstsq`` on each window's complete records
    (intercept first); NaN when fewer than `min_count` (default `window`) remain or
    the regressors are collinear in the window.

    Examples
    --------
    >>> v = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0], [3.0, 8.0]])
    >>> slow_moving_ols(v, 3, y=1)[2:].round(4).tolist()
    [[1.0, 2.0], [0.3333, 2.5]]
    """
    v = _columns(values, None)
    d = v.shape[1]
    y = y % d
    xs = [c for c in range(d) if c != y] if x is None else [c % d for c in x]
    mc = window if min_count is None else min_count
    p = len(xs) + bool(intercept)
    out = np.full((len(v), p), np.nan)
    for i in range(len(v)):
        w = v[max(0, i - window + 1):i + 1][:, [*xs, y]]
        w = w[~np.isnan(w).any(axis=1)]
        if len(w) < mc or len(w) == 0 or not np.isfinite(w).all():
            continue
        a = np.column_stack([np.ones(len(w)), w[:, :-1]]) if intercept else w[:, :-1]
        centred = w[:, :-1] - w[:, :-1].mean(axis=0) if intercept else a
        if np.linalg.matrix_rank(centred, tol=1e-9 * max(1.0, float(np.abs(centred).max()))) \
                < centred.shape[1]:
            continue
        out[i] = np.linalg.lstsq(a, w[:, -1], rcond=None)[0]
    return out
