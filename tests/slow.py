"""Pure-numpy "slow twins" of pystream's C kernels.

:func:`slow_moments` computes, on the whole array at once, the same fields as
:class:`pystream.Description` (count, nan_count, sum, mean, var, std, min,
max).  It is the reference the differential tests in ``test_moments.py``
compare the C core against:

* float input is accumulated in float64 (never in float16 / float32);
* integer sums are exact Python ints (computed from 32-bit halves summed in
  int64, so no overflow for fewer than 2**31 records), and the integer mean is
  the correctly rounded ``exact_sum / count``;
* NaNs follow numpy: ``propagate`` gives NaN statistics where a NaN was seen
  (``np.mean`` & co.), ``omit`` skips them (``np.nanmean`` & co.), ``raise``
  raises ``ValueError`` naming the first record holding a NaN;
* ``var`` is NaN when ``count - ddof <= 0``;
* ``min`` / ``max`` are in the input dtype, NaN for an empty column.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SlowDescription", "slow_moments", "exact_int_sums"]


@dataclass(frozen=True)
class SlowDescription:
    count: Any
    nan_count: Any
    sum: Any
    mean: Any
    var: Any
    std: Any
    min: Any
    max: Any


def exact_int_sums(x: np.ndarray) -> list[int]:
    """Exact column sums of a 2-D integer / bool array, as Python ints."""
    x = np.asarray(x)
    if x.dtype == np.bool_:
        return [int(v) for v in x.sum(axis=0, dtype=np.int64)]
    if x.dtype.itemsize < 8:
        return [int(v) for v in x.astype(np.int64).sum(axis=0, dtype=np.int64)]
    # 64-bit: v = hi * 2**32 + lo with 0 <= lo < 2**32; both halves sum in int64.
    if x.dtype.kind == "u":
        u = x.astype(np.uint64)
        hi = (u >> np.uint64(32)).astype(np.int64)
        lo = (u & np.uint64(0xFFFFFFFF)).astype(np.int64)
    else:
        s = x.astype(np.int64)
        hi = s >> 32  # arithmetic shift: floor division by 2**32
        lo = s & 0xFFFFFFFF
    hs = hi.sum(axis=0, dtype=np.int64)
    ls = lo.sum(axis=0, dtype=np.int64)
    return [int(h) * 2**32 + int(l) for h, l in zip(hs.tolist(), ls.tolist())]


def _shape(values: Any, record_shape: tuple[int, ...]) -> Any:
    arr = np.asarray(values)
    if record_shape == ():
        return arr.reshape(())[()]
    return arr.reshape(record_shape)


def slow_moments(a: np.ndarray, ddof: float = 0, nan_policy: str = "propagate") -> SlowDescription:
    """Reference statistics of a stream given as one array ``(n, *record_shape)``."""
    if nan_policy not in ("propagate", "omit", "raise"):
        raise ValueError(f"bad nan_policy {nan_policy!r}")
    a = np.asarray(a)
    if a.ndim == 0:
        raise ValueError("0-d input")
    n = a.shape[0]
    record_shape = a.shape[1:]
    d = int(np.prod(record_shape, dtype=np.int64)) if record_shape else 1
    flat = np.ascontiguousarray(a).reshape(n, d)
    if flat.dtype.byteorder not in ("=", "|"):
        flat = flat.astype(flat.dtype.newbyteorder("="))
    kind = flat.dtype.kind

    if kind in "biu":
        count = np.full(d, n, dtype=np.int64)
        nan_count = np.zeros(d, dtype=np.int64)
        sums = exact_int_sums(flat)
        if n:
            mean = np.array([s / n for s in sums])  # int / int: correctly rounded
            x = flat.astype(np.float64)
            var = x.var(axis=0, ddof=0) * n  # M2, float64 two-pass
            vmin, vmax = flat.min(axis=0), flat.max(axis=0)
        else:
            mean = np.full(d, np.nan)
            var = np.full(d, np.nan)
            vmin = vmax = np.full(d, np.nan)
        dof = count - ddof
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where(dof > 0, var / np.where(dof > 0, dof, 1), np.nan)
        if record_shape == ():
            total: Any = sums[0]
        else:
            lo, hi = (0, 2**64 - 1) if kind in "bu" else (-(2**63), 2**63 - 1)
            if all(lo <= s <= hi for s in sums):
                total = np.array(sums, dtype=np.uint64 if kind in "bu" else np.int64)
            else:
                total = np.array(sums, dtype=object)
            total = total.reshape(record_shape)
        return SlowDescription(
            _shape(count, record_shape), _shape(nan_count, record_shape), total,
            _shape(mean, record_shape), _shape(var, record_shape),
            _shape(np.sqrt(var), record_shape), _shape(vmin, record_shape),
            _shape(vmax, record_shape))

    if kind != "f":
        raise TypeError(f"unsupported dtype {flat.dtype}")
    x = flat.astype(np.float64)
    isnan = np.isnan(x)
    nan_count = isnan.sum(axis=0).astype(np.int64)
    count = (n - nan_count).astype(np.int64)
    if nan_policy == "raise" and nan_count.any():
        first = int(np.flatnonzero(isnan.any(axis=1))[0])
        raise ValueError(f"NaN at record {first} (nan_policy='raise')")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if nan_policy == "omit":
            total = np.nansum(x, axis=0)
            mean = np.nanmean(x, axis=0) if n else np.full(d, np.nan)
            m2 = np.nanvar(x, axis=0) * count if n else np.full(d, np.nan)
            if n:
                vmin = np.nanmin(flat, axis=0)
                vmax = np.nanmax(flat, axis=0)
        else:
            total = x.sum(axis=0)
            mean = x.mean(axis=0) if n else np.full(d, np.nan)
            m2 = x.var(axis=0) * count if n else np.full(d, np.nan)
            if n:
                vmin = flat.min(axis=0)
                vmax = flat.max(axis=0)
        if not n:
            vmin = vmax = np.full(d, np.nan, dtype=flat.dtype)
        empty = count == 0
        mean = np.where(empty, np.nan, mean)
        dof = count - ddof
        var = np.where(dof > 0, m2 / np.where(dof > 0, dof, 1), np.nan)
        if nan_policy != "omit":
            var = np.where(nan_count > 0, np.nan, var)
        std = np.sqrt(var)
    return SlowDescription(
        _shape(count, record_shape), _shape(nan_count, record_shape),
        _shape(total, record_shape), _shape(mean, record_shape), _shape(var, record_shape),
        _shape(std, record_shape), _shape(vmin, record_shape), _shape(vmax, record_shape))
