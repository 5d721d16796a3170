"""Slow twins of the per-bin reductions and of the EWM over irregular times.

Pure Python (``math``), one record at a time, for the tests: they perform
the same floating-point operations in the same order as ``csrc/bins.c`` and
``csrc/ewm_time.c`` (``math.exp2`` is the C library's ``exp2``; the C build
has ``-ffp-contract=off``), so the kernels must match them bit for bit.
They share no code with the kernels' wrappers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["slow_bins", "slow_ewm_time"]


def _min(v: float, m: float) -> float:
    return v if v < m or (v == m and math.copysign(1.0, v) < 0) else m


def _max(v: float, m: float) -> float:
    return v if v > m or (v == m and math.copysign(1.0, v) > 0) else m


LANES = 8


def _chan(c: int, means: list[float], m2s: list[float]) -> float:
    """M2 of the eight Welford lanes merged (Chan et al.) in the tree ((0,1),(2,3)),((4,5),(6,7))."""
    ns = [float((c + LANES - 1 - lane) // LANES) for lane in range(LANES)]
    means, m2s = list(means), list(m2s)
    step = 1
    while step < LANES:
        for a in range(0, LANES - step, 2 * step):
            b = a + step
            if ns[b] == 0.0:
                continue
            if ns[a] == 0.0:
                ns[a], means[a], m2s[a] = ns[b], means[b], m2s[b]
                continue
            tot, delta = ns[a] + ns[b], means[b] - means[a]
            means[a] = means[a] + delta * (ns[b] / tot)
            m2s[a] = m2s[a] + m2s[b] + delta * delta * (ns[a] * ns[b] / tot)
            ns[a] = tot
        step *= 2
    return m2s[0]


def slow_bins(values: np.ndarray, bins: np.ndarray, stats: Sequence[str],
              nan_policy: str = "omit", ddof: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Every bin's statistics of ``values`` ``(n, width)`` (bins ``(n,)`` non-decreasing).

    Returns ``(bin_numbers (k,), out (k, len(stats), width))`` for all bins,
    the last included (as ``update`` + ``flush`` of :class:`BinReducer`).

    Examples
    --------
    >>> slow_bins(np.array([[1.0], [2.0], [5.0]]), np.array([0, 0, 3]), ["mean", "var"])[1][:, :, 0]
    array([[1.5, 0.5],
           [5. , nan]])
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    n, width = values.shape
    propagate = nan_policy == "propagate"
    numbers: list[int] = []
    rows: list[list[list[float]]] = []
    i = 0
    while i < n:
        e = i
        while e < n and bins[e] == bins[i]:
            e += 1
        row = []
        for s in stats:
            col = []
            for j in range(width):
                c, total = 0, 0.0
                wm, m2 = [0.0] * LANES, [0.0] * LANES
                mn, mx, first, last, nan = math.inf, -math.inf, math.nan, math.nan, False
                for r in range(i, e):
                    v = float(values[r, j])
                    if math.isnan(v):
                        nan = True
                        continue
                    lane, m = c % LANES, c // LANES + 1
                    c += 1
                    total += v
                    d = v - wm[lane]
                    wm[lane] += d / m
                    m2[lane] += d * (v - wm[lane])
                    mn, mx = _min(v, mn), _max(v, mx)
                    if c == 1:
                        first = v
                    last = v
                if propagate:
                    first, last = float(values[i, j]), float(values[e - 1, j])
                var = _chan(c, wm, m2) / (c - ddof) if c - ddof > 0 else math.nan
                out = {"count": float(c), "sum": total, "mean": total / c if c else math.nan,
                       "var": var, "std": math.sqrt(var) if not math.isnan(var) else math.nan,
                       "min": mn if c else math.nan, "max": mx if c else math.nan,
                       "first": first, "last": last}[s]
                if propagate and nan and s not in ("count", "first", "last"):
                    out = math.nan
                col.append(out)
            row.append(col)
        numbers.append(int(bins[i]))
        rows.append(row)
        i = e
    return (np.array(numbers, dtype=np.int64),
            np.array(rows, dtype=np.float64).reshape(len(numbers), len(stats), width))


def slow_ewm_time(stat: str, values: np.ndarray, times: np.ndarray, halflife: float,
                  adjust: bool = True, min_periods: int = 0, bias: bool = False) -> np.ndarray:
    """EWM mean / var / std with weights ``0.5 ** ((t_i - t_j) / halflife)``, per column.

    ``ignore_na`` has no parameter: with times it changes nothing (see
    :class:`~pystream.stages.ewm_time_kernels.EwmTimeState`).

    Examples
    --------
    >>> slow_ewm_time("mean", np.array([1.0, 3.0]), np.array([0, 1]), 1.0)
    array([1.        , 2.33333333])
    """
    values = np.asarray(values, dtype=np.float64)
    one_d = values.ndim == 1
    x2 = values[:, None] if one_d else values
    n, width = x2.shape
    is_int = np.asarray(times).dtype.kind in "iu"
    tt = [int(t) for t in times] if is_int else [float(t) for t in times]
    out = np.empty((n, width))
    minp = max(min_periods, 1)
    for j in range(width):
        nobs, tl = 0, None
        s = w = m = 0.0
        mode = 0
        mean = cov = 0.0
        swt = swt2 = owt = 1.0
        for i in range(n):
            x = float(x2[i, j])
            if math.isfinite(x):
                if nobs == 0:
                    s, w, m, mean, cov, swt, swt2, owt = x, 1.0, x, x, 0.0, 1.0, 1.0, 1.0
                else:
                    dt = float(tt[i] - tl)  # exact integer difference, one rounding
                    d = math.exp2(-dt / halflife)
                    if stat == "mean":
                        if not adjust:
                            nw = 1.0 - d
                            if x != m:
                                m = (d * m + nw * x) / (d + nw)
                        else:
                            done = False
                            if mode == 0:
                                s2, w2 = s * d + x, w * d + 1.0
                                if abs(s2) <= 1.7976931348623157e308:
                                    s, w = s2, w2
                                    if x != m:
                                        m = s / w
                                    done = True
                                else:
                                    mode = 1
                            if not done:
                                od = w * d
                                w = od + 1.0
                                if x != m:
                                    m = (od / w) * m + (1.0 / w) * x
                    else:
                        swt, swt2, owt = swt * d, swt2 * (d * d), owt * d
                        nw = 1.0 if adjust else 1.0 - d
                        om = mean
                        if mean != x:
                            mean = (owt * om + nw * x) / (owt + nw)
                        a, b = om - mean, x - mean
                        cov = (owt * (cov + a * a) + nw * (b * b)) / (owt + nw)
                        swt += nw
                        swt2 += nw * nw
                        owt += nw
                        if not adjust:
                            swt /= owt
                            swt2 /= owt * owt
                            owt = 1.0
                nobs += 1
                tl = tt[i]
            if nobs < minp:
                y = math.nan
            elif stat == "mean":
                y = m
            else:
                if bias:
                    y = cov
                else:
                    num = swt * swt
                    den = num - swt2
                    y = num / den * cov if den > 0 else math.nan
                if stat == "std":
                    y = math.sqrt(y) if not math.isnan(y) else math.nan
            out[i, j] = y
    return out[:, 0] if one_d else out
