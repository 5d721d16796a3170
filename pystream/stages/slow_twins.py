"""The slow twins: pure-numpy references of every built-in stage, for the tests.

Each recomputes every output from scratch on the whole ``(N, width)`` array
(a Python loop over records, numpy inside), sharing no code with the stage;
the family tables name each stage's twin (see ``docs/internals/stages.rst``).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["slow_cumcount", "slow_cummax", "slow_cummin", "slow_diff", "slow_ewm", "slow_moving",
           "slow_rank", "slow_reduce_bin", "slow_resample", "slow_scan", "slow_session",
           "slow_sliding_window", "slow_tumbling"]


def slow_rank(values: np.ndarray) -> float:
    """bottleneck's move_rank of the last value of `values` (NaNs skipped)."""
    last = values[-1]
    if math.isnan(last):
        return math.nan
    others = values[:-1][~np.isnan(values[:-1])]
    n = len(others) + 1
    if n == 1:
        return 0.0
    g = 2.0 * np.count_nonzero(last > others)
    e = 1.0 + np.count_nonzero(last == others)
    r = 0.5 * (g + e - 1.0)
    r = r / (n - 1.0)
    return 2.0 * (r - 0.5)


def _stat(name: str, v: np.ndarray, ddof: float, q: float | None) -> float:
    if name == "moving_sum":
        return float(np.sum(v))
    if name == "moving_mean":
        return float(np.mean(v))
    if name in ("moving_var", "moving_std"):
        if len(v) - ddof <= 0:
            return math.nan
        var = float(np.sum((v - np.mean(v)) ** 2) / (len(v) - ddof))
        return math.sqrt(var) if name == "moving_std" else var
    if name == "moving_min":
        return float(np.min(v))
    if name == "moving_max":
        return float(np.max(v))
    if name == "moving_median":
        return float(np.median(v))
    if name == "moving_quantile":
        return float(np.quantile(v, q))
    raise AssertionError(name)


def slow_moving(
    name: str,
    x: np.ndarray,
    window: int,
    min_count: int | None = None,
    nan_policy: str = "omit",
    ddof: float = 1,
    q: float | None = None,
) -> np.ndarray:
    """bottleneck-style moving statistic of each column of `x` (N, width); the
    variance's `ddof` defaults to 1, as the stages' (pandas')."""
    min_count = window if min_count is None else min_count
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf in windows is expected
        _fill_moving(name, x, out, window, min_count, nan_policy, ddof, q)
    return out


def _fill_moving(name: str, x: np.ndarray, out: np.ndarray, window: int, min_count: int,
                 nan_policy: str, ddof: float, q: float | None) -> None:
    for i in range(x.shape[0]):
        lo = max(0, i - window + 1)
        for j in range(x.shape[1]):
            w = x[lo : i + 1, j]
            nan = np.isnan(w)
            if nan_policy == "propagate" and nan.any():
                continue
            v = w[~nan]
            if len(v) < min_count:
                continue
            if name == "moving_rank":
                out[i, j] = slow_rank(w)
            elif name in ("moving_argmin", "moving_argmax"):
                # offset from the newest record; ties go to the newest
                rev = w[::-1]
                best = np.min(v) if name == "moving_argmin" else np.max(v)
                out[i, j] = float(np.flatnonzero(rev == best)[0])  # NaN never compares equal
            else:
                out[i, j] = _stat(name, v, ddof, q)


def slow_scan(name: str, x: np.ndarray, nan_policy: str = "propagate", ddof: float = 1) -> np.ndarray:
    """Running statistic of each column of `x` (N, width), float64; the variance's
    `ddof` defaults to 1, as the stages' (pandas' ``expanding``)."""
    x = np.asarray(x, dtype=np.float64)
    if name == "cumsum":
        return np.nancumsum(x, axis=0) if nan_policy == "omit" else np.cumsum(x, axis=0)
    if name == "cumprod":
        return np.nancumprod(x, axis=0) if nan_policy == "omit" else np.cumprod(x, axis=0)
    out = np.full(x.shape, np.nan)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            w = x[: i + 1, j]
            if nan_policy == "propagate" and np.isnan(w).any():
                continue
            v = w[~np.isnan(w)]
            if name == "cummean":
                if len(v):
                    out[i, j] = math.fsum(v) / len(v)
            elif len(v) - ddof > 0:
                m = math.fsum(v) / len(v)
                var = math.fsum((v - m) ** 2) / (len(v) - ddof)
                out[i, j] = math.sqrt(var) if name == "cumstd" else var
    return out


def slow_ewm(
    name: str,
    x: np.ndarray,
    alpha: float,
    adjust: bool = True,
    ignore_na: bool = False,
    min_periods: int = 0,
    bias: bool = False,
) -> np.ndarray:
    """pandas' EWM definitions, recomputed from the explicit weights at each record.

    Weights: with ``adjust`` the observation ``k`` steps back weighs
    ``(1 - alpha) ** k`` (``k`` counts all records, or only non-NaN ones with
    ``ignore_na``); without ``adjust`` the recursive form's weights
    ``alpha (1 - alpha) ** k`` and ``(1 - alpha) ** K`` for the first.
    """
    x = np.asarray(x, dtype=np.float64)
    minp = max(min_periods, 1)
    out = np.full(x.shape, np.nan)
    for j in range(x.shape[1]):
        col = x[:, j]
        for i in range(len(col)):
            idx = np.flatnonzero(~np.isnan(col[: i + 1]))
            if len(idx) < minp or len(idx) == 0:
                continue
            if ignore_na:
                age = (len(idx) - 1 - np.arange(len(idx))).astype(float)
            else:
                age = (i - idx).astype(float)
            f = 1.0 - alpha
            if adjust:
                w = f ** (age - age.min())  # the newest observation weighs 1 (also for alpha=1)
            else:
                # y_t = (1-a) y + a x over observations; NaN gaps age by (1-a) per step
                # without ignore_na, renormalised as pandas does.
                w = np.empty(len(idx))
                w[0] = 1.0
                for k in range(1, len(idx)):
                    gap = (idx[k] - idx[k - 1]) if not ignore_na else 1
                    old = f ** gap
                    w[:k] *= old / (old + alpha)
                    w[k] = alpha / (old + alpha)
            v = col[idx]
            wsum = w.sum()
            mean = float(np.dot(w, v) / wsum)
            if name == "ewm_mean":
                out[i, j] = mean
                continue
            if len(idx) < 2 and not bias:
                continue  # the unbiased estimate needs two observations
            var_b = float(np.dot(w, (v - mean) ** 2) / wsum)
            if bias:
                var = var_b
            else:
                denom = wsum**2 - float(np.dot(w, w))
                var = var_b * wsum**2 / denom if denom > 0 else math.nan
            out[i, j] = math.sqrt(var) if name == "ewm_std" else var
    return out


def slow_resample(x: np.ndarray, n: int, how: str, nan_policy: str = "propagate",
                  partial: bool = True) -> np.ndarray:
    """Block reductions of `x` (N, width) over blocks of `n` records."""
    x = np.asarray(x, dtype=np.float64)
    rows = []
    for b in range(0, x.shape[0], n):
        block = x[b : b + n]
        if len(block) < n and not partial:
            break
        row = []
        for j in range(x.shape[1]):
            v = block[:, j]
            if nan_policy == "omit":
                v = v[~np.isnan(v)]
            total = float(np.cumsum(v)[-1]) if len(v) else 0.0
            if how == "sum":
                row.append(total)
            else:
                row.append(total / len(v) if len(v) else math.nan)
        rows.append(row)
    return np.array(rows, dtype=np.float64).reshape(len(rows), x.shape[1])


def slow_sliding_window(x: np.ndarray, n: int, step: int = 1) -> np.ndarray:
    """Windows of `n` records every `step` records, the window axis first."""
    if len(x) < n:
        return np.empty((0, n, *x.shape[1:]), x.dtype)
    v = sliding_window_view(x, n, axis=0)[::step]
    return np.moveaxis(v, -1, 1)


def slow_tumbling(x: np.ndarray, n: int) -> np.ndarray:
    """Blocks of `n` records (the incomplete last one dropped)."""
    return slow_sliding_window(x, n, n)


def slow_cummin(x: np.ndarray) -> np.ndarray:
    """``np.minimum.accumulate`` along the stream."""
    return np.minimum.accumulate(x, axis=0)


def slow_cummax(x: np.ndarray) -> np.ndarray:
    """``np.maximum.accumulate`` along the stream."""
    return np.maximum.accumulate(x, axis=0)


def slow_cumcount(x: np.ndarray) -> np.ndarray:
    """The running count of non-NaN values."""
    return np.cumsum(~np.isnan(x), axis=0)


def slow_diff(x: np.ndarray, n: int = 1) -> np.ndarray:
    """``np.diff`` along the stream."""
    return np.diff(x, n, axis=0)


def slow_reduce_bin(v: np.ndarray, how: str, nan_policy: str = "omit", ddof: float = 1,
                    q: float | None = None) -> float:
    """One reducer of calendar bins and sessions over the values `v` of one bin
    (pandas' resample reducers: NaNs skipped under ``"omit"``; sum of none 0)."""
    if nan_policy == "propagate" and np.isnan(v).any() and how not in ("count", "first", "last"):
        return math.nan
    if nan_policy == "propagate" and how in ("first", "last"):
        return float(v[0] if how == "first" else v[-1])
    ok = v[~np.isnan(v)]
    n = len(ok)
    if how == "count":
        return float(n)
    if how == "sum":
        total = 0.0
        for value in ok:        # in record order, as the stage accumulates
            total += float(value)
        return total
    if n == 0:
        return math.nan
    if how == "mean":
        return float(ok.sum() / n)
    if how in ("var", "std"):
        if n - ddof <= 0:
            return math.nan
        var = float(np.var(ok) * n / (n - ddof))
        return math.sqrt(var) if how == "std" else var
    if how in ("min", "max"):
        return float(ok.min() if how == "min" else ok.max())
    if how in ("first", "last"):
        return float(ok[0] if how == "first" else ok[-1])
    assert how == "quantile" and q is not None
    return float(np.quantile(ok, q))


def slow_session(x: np.ndarray, gap: float, how: str | list[str] = "mean", label: str = "start",
                 nan_policy: str | None = None, partial: bool = True, q: float | None = None,
                 ddof: float | None = None, times: np.ndarray | None = None) -> np.ndarray:
    """``session(gap, how)`` of the ``(N, width)`` array `x` at numeric `times`."""
    assert times is not None
    hows = [how] if isinstance(how, str) else list(how)
    policy = "omit" if nan_policy is None else nan_policy
    d = 1.0 if ddof is None else ddof
    width = x.shape[1]
    cuts = [0] + [i for i in range(1, len(times)) if times[i] - times[i - 1] > gap] + [len(times)]
    rows = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        if b <= a:
            continue
        vals = []
        for c in range(width):
            for h in hows:
                if h == "duration":
                    vals.append(float(times[b - 1] - times[a]))
                else:
                    vals.append(slow_reduce_bin(x[a:b, c], h, policy, d, q))
        rows.append(vals)
    if not partial and rows:
        rows.pop()
    out = np.array(rows, dtype=np.float64).reshape(len(rows), width * len(hows))
    return out[:, 0] if isinstance(how, str) and width == 1 else out
