"""Pure-numpy "slow twin" of :class:`pystream.sketches.Histogram`.

:func:`slow_histogram` returns, for a whole array at once, what a
``Histogram`` with the same parameters must report after seeing it:

* ``counts`` and ``edges`` of ``np.histogram`` itself (the specification);
* ``underflow`` / ``overflow``: values numpy drops as outside the range,
  found with numpy's own comparisons (``x < first_edge`` / ``x > last_edge``
  in the promoted type numpy uses, after its ``lo == hi`` widening), and
  ``nan_count``.

It also recomputes every value's bin a second way, written out step by
step from numpy's algorithm (the equal-width formula with its decrement /
increment corrections; the "last edge <= x" rule of ``searchsorted`` for
explicit edges), and checks that both ways agree: a test that passes
therefore also shows that the rules the C kernel implements are numpy's.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SlowHistogram", "slow_histogram", "outer_edges", "slow_bin_indices"]


@dataclass(frozen=True)
class SlowHistogram:
    counts: np.ndarray
    edges: np.ndarray
    underflow: int
    overflow: int
    nan_count: int


def outer_edges(lo: Any, hi: Any) -> tuple[Any, Any]:
    """numpy's ``_get_outer_edges`` for an explicit range."""
    if lo == hi:
        return lo - 0.5, hi + 0.5
    return lo, hi


def _unsigned_subtract(a: Any, b: Any) -> Any:
    signed_to_unsigned = {np.byte: np.ubyte, np.short: np.ushort, np.intc: np.uintc,
                          np.int_: np.uint, np.longlong: np.ulonglong}
    dt = np.result_type(a, b)
    try:
        unsigned_dt = signed_to_unsigned[dt.type]
    except KeyError:
        return np.subtract(a, b, dtype=dt)
    return np.subtract(np.asarray(a, dtype=dt), np.asarray(b, dtype=dt), casting="unsafe",
                       dtype=unsigned_dt)


def slow_bin_indices(a: np.ndarray, bins: int | None = None, range: Any = None,
                     edges: Any = None) -> np.ndarray:
    """Bin of every value of the flat array ``a`` (-1 for values numpy drops),
    from numpy's rules written out (no searchsorted, no bincount)."""
    out = np.full(a.size, -1, dtype=np.intp)
    if edges is not None:
        e = np.asarray(edges)
        common = np.promote_types(a.dtype, e.dtype)  # searchsorted's common type
        ac, ec = a.astype(common), e.astype(common)
        inside = (ac >= ec[0]) & (ac <= ec[-1])  # NaN is neither
        # the last bin i < n with e[i] <= v: how many of e[:-1] are <= v, minus 1
        le = ec[:-1][None, :] <= ac[inside][:, None]
        out[inside] = le.sum(axis=1) - 1
        return out
    first, last = outer_edges(*range)
    with np.errstate(all="ignore"):
        e = np.histogram_bin_edges(a[:0], bins, range)
        keep = (a >= first) & (a <= last)  # in numpy's promoted comparison types
        t = a[keep].astype(e.dtype)
        f = (_unsigned_subtract(t, first) / _unsigned_subtract(last, first)) * bins
    i = f.astype(np.intp)
    i[i == bins] -= 1
    i -= t < e[i]  # one decrement, one increment: numpy's corrections
    i += (t >= e[i + 1]) & (i != bins - 1)
    out[keep] = i
    return out


def slow_histogram(x: Any, bins: int = 10, range: Any = None, edges: Any = None,
                   log: bool = False, check_bins: bool | None = None) -> SlowHistogram:
    """What ``Histogram(bins, range, edges, log)`` reports after seeing ``x``.

    ``check_bins`` (default: for arrays of at most 2000 values) also bins
    every value with :func:`slow_bin_indices` and asserts the counts agree
    with ``np.histogram``'s.
    """
    a = np.asarray(x).ravel()
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)  # what np.histogram does (with a warning)
    if log:
        edges = np.geomspace(range[0], range[1], bins + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if edges is not None:
            e = np.asarray(edges)
            counts, out_edges = np.histogram(a, bins=e)
            first, last = e[0], e[-1]
        else:
            counts, out_edges = np.histogram(a, bins=bins, range=range)
            first, last = outer_edges(*range)
        nan = int(np.count_nonzero(np.isnan(a))) if a.dtype.kind == "f" else 0
        under = int(np.count_nonzero(a < first))
        over = int(np.count_nonzero(a > last))
    if check_bins is None:
        check_bins = a.size <= 2000
    if check_bins:
        idx = slow_bin_indices(a, bins, range, edges)
        twin = np.bincount(idx[idx >= 0], minlength=counts.size)
        assert np.array_equal(twin, counts), (twin, counts)
        assert int(np.count_nonzero(idx < 0)) == under + over + nan
    assert int(counts.sum()) + under + over + nan == a.size
    return SlowHistogram(counts, out_edges, under, over, nan)
