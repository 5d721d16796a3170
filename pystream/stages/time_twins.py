"""Slow twins of the duration-window kernels (:mod:`pystream.stages.time_kernels`).

Written for clarity, sharing no code with the C kernels: a Python loop per
window, numpy inside.  Sums and variances spell out the split rule of
``csrc/timewin.c`` (FRONT folded right to left, BACK left to right, Chan's
merge) with the same float64 operations in the same order, so they are
bit-identical to C; the order statistics sort the window (IEEE total order,
-0.0 before +0.0) and read numpy's "linear" quantile off it.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

__all__ = ["slow_time_window", "slow_window_starts", "split_point"]


def slow_window_starts(times: np.ndarray, width: int | float, closed: str = "right",
                       first: int = 0) -> np.ndarray:
    """:func:`~pystream.stages.time_kernels.window_starts`, one row at a time with
    exact arithmetic (Python ints, or :class:`fractions.Fraction` for floats).

    Examples
    --------
    >>> slow_window_starts(np.array([0, 1, 1, 3, 6]), 2).tolist()
    [0, 0, 0, 3, 4]
    """
    t = np.asarray(times)
    exact = [int(v) for v in t] if t.dtype.kind in "iu" else [Fraction(float(v)) for v in t]
    w = int(width) if t.dtype.kind in "iu" else (math.inf if math.isinf(width)
                                                   else Fraction(float(width)))
    left_closed = closed in ("both", "left")
    out = []
    for i in range(first, len(t)):
        j = 0
        while not (exact[i] - exact[j] <= w if left_closed else exact[i] - exact[j] < w):
            j += 1
        out.append(j)
    return np.array(out, dtype=np.int64)


def split_point(s: int, e: int) -> int:
    """The most aligned point of the global rows ``(s, e]`` (``s < e``).

    Examples
    --------
    >>> split_point(5, 9), split_point(8, 9), split_point(0, 1), split_point(3, 20)
    (8, 9, 1, 16)
    """
    k = (s ^ e).bit_length() - 1
    return (e >> k) << k


def _fold_sum(vals: np.ndarray) -> tuple[float, int]:
    acc, count = -0.0, 0
    for v in vals:
        if not math.isnan(v):
            acc = acc + float(v)
            count += 1
    return acc, count


def _welford(vals: np.ndarray) -> tuple[int, float, float]:
    n, mean, m2 = 0, 0.0, 0.0
    for v in vals:
        v = float(v)
        if not math.isnan(v):
            n += 1
            d = v - mean
            mean += d * (1.0 / n)
            m2 += d * (v - mean)
    return n, mean, m2


def _split_sum(x: np.ndarray, s: int, e: int, base: int) -> tuple[float, int]:
    m = split_point(base + s, base + e) - base
    front, cf = _fold_sum(x[s:m][::-1])  # right to left, from m-1 down to s
    back, cb = _fold_sum(x[m:e])
    return front + back, cf + cb


def _split_m2(x: np.ndarray, s: int, e: int, base: int) -> tuple[int, float]:
    m = split_point(base + s, base + e) - base
    nf, mf, qf = _welford(x[s:m][::-1])
    nb, mb, qb = _welford(x[m:e])
    n = nf + nb
    if nf == 0:
        return n, qb
    if nb == 0:
        return n, qf
    delta = mb - mf
    return n, (qf + qb) + (delta * delta) * ((float(nf) * float(nb)) * (1.0 / n))


def _total_order(v: np.ndarray) -> np.ndarray:
    """`v` sorted, -0.0 before +0.0 (the kernels' key order)."""
    return v[np.lexsort((~np.signbit(v), v))]


def _scalar_lerp(a: float, b: float, t: float) -> float:
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def _order_stat(stat: str, v: np.ndarray, q: float | None) -> float:
    srt = _total_order(v)
    c = len(srt)
    if stat == "median":
        lo = float(srt[(c + 1) // 2 - 1])
        return lo if c % 2 else (lo + float(srt[c // 2])) / 2.0
    h = (c - 1) * float(q)  # type: ignore[arg-type]
    if h >= c - 1:
        return _scalar_lerp(float(srt[-1]), float(srt[-1]), h + 1.0)
    lo = math.floor(h)
    return _scalar_lerp(float(srt[lo]), float(srt[lo + 1]), h - lo)


def _one(stat: str, x: np.ndarray, s: int, e: int, base: int, min_count: int,
         propagate: bool, ddof: float, q: float | None) -> float:
    w = x[s:e]
    nan = np.isnan(w)
    v = w[~nan]
    if stat == "rank" and (e == s or math.isnan(w[-1])):
        return math.nan
    if len(v) < min_count or (propagate and nan.any()):
        return math.nan
    if stat in ("sum", "mean"):
        total, count = _split_sum(x, s, e, base)
        return total if stat == "sum" else total / count
    if stat in ("var", "std"):
        count, m2 = _split_m2(x, s, e, base)
        if count - ddof <= 0:
            return math.nan
        var = m2 * (1.0 / (count - ddof))
        return math.sqrt(var) if stat == "std" else var
    if stat in ("min", "max", "argmin", "argmax"):
        best = np.min(v) if stat in ("min", "argmin") else np.max(v)
        back = int(np.flatnonzero(w[::-1] == best)[0])  # ties go to the newest row
        return float(back) if stat.startswith("arg") else float(w[len(w) - 1 - back])
    if stat == "rank":
        last, others = w[-1], v[:-1]  # the newest is non-NaN, so it is v[-1]
        if len(v) == 1:
            return 0.0
        g = 2.0 * np.count_nonzero(others < last)
        eq = 1.0 + np.count_nonzero(others == last)
        r = 0.5 * (g + eq - 1.0) / (len(v) - 1.0)
        return 2.0 * (r - 0.5)
    return _order_stat(stat, v, q)


def slow_time_window(stat: str, values: np.ndarray, starts: np.ndarray, first: int, closed: str,
                     base: int, min_count: int = 1, nan_policy: str = "omit", ddof: float = 1.0,
                     q: float | None = None, *, ends: np.ndarray | None = None) -> np.ndarray:
    """:func:`~pystream.stages.time_kernels.time_window`, one window at a time.

    Examples
    --------
    >>> x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    >>> slow_time_window("sum", x, np.array([0, 0, 0, 3, 4]), 0, "right", 0).tolist()
    [1.0, 3.0, 7.0, 8.0, 16.0]
    """
    arr = np.asarray(values, dtype=np.float64)
    x = arr.reshape(-1, 1) if arr.ndim == 1 else arr
    n = x.shape[0]
    if ends is None:
        shift = 1 if closed in ("right", "both") else 0
        ends = np.arange(first + shift, n + shift)
    out = np.full((n - first, x.shape[1]), np.nan)
    with np.errstate(invalid="ignore", over="ignore"):
        for k in range(n - first):
            s, e = int(starts[k]), int(ends[k])
            for j in range(x.shape[1]):
                if e > s:
                    out[k, j] = _one(stat, x[:, j], s, e, base, min_count,
                                     nan_policy == "propagate", float(ddof), q)
    return out[:, 0] if arr.ndim == 1 else out
