"""Bin edges and binning plans of :class:`~pystream.Histogram`: numpy's
scalar rules, edge encoding, the C kernel's plan per input dtype, and the
check of the constructor's arguments (see :doc:`/internals/histogram`)."""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from .._native import ffi, lib

_F16, _F32, _F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
_U8 = np.dtype(np.uint8)
_MASK64 = 2**64 - 1

# Type tags of bounds / edge dtypes (histogram.h).
_DTYPE_TAGS: dict[np.dtype, int] = {
    np.dtype(np.int8): lib.PS_INT8,
    np.dtype(np.int16): lib.PS_INT16,
    np.dtype(np.int32): lib.PS_INT32,
    np.dtype(np.int64): lib.PS_INT64,
    np.dtype(np.uint8): lib.PS_UINT8,
    np.dtype(np.uint16): lib.PS_UINT16,
    np.dtype(np.uint32): lib.PS_UINT32,
    np.dtype(np.uint64): lib.PS_UINT64,
    _F16: lib.PS_HIST_FLOAT16,
    _F32: lib.PS_FLOAT32,
    _F64: lib.PS_FLOAT64,
}
_TAG_DTYPES = {tag: dt for dt, tag in _DTYPE_TAGS.items()}

# dtype codes of the values the kernel reads (float16 is read widened).
_KERNEL_CODES: dict[np.dtype, int] = {
    np.dtype(np.bool_): lib.PS_BOOL,
    **{dt: tag for dt, tag in _DTYPE_TAGS.items() if dt != _F16},
}


# --------------------------------------------------------------------------
# numpy's scalar rules


def _unsigned_subtract(a: Any, b: Any) -> Any:
    """``numpy.lib._histograms_impl._unsigned_subtract`` (copied: private)."""
    signed_to_unsigned = {
        np.byte: np.ubyte,
        np.short: np.ushort,
        np.intc: np.uintc,
        np.int_: np.uint,
        np.longlong: np.ulonglong,
    }
    dt = np.result_type(a, b)
    try:
        unsigned_dt = signed_to_unsigned[dt.type]
    except KeyError:
        return np.subtract(a, b, dtype=dt)
    return np.subtract(np.asarray(a, dtype=dt), np.asarray(b, dtype=dt),
                       casting="unsafe", dtype=unsigned_dt)


def _outer_edges(lo: Any, hi: Any) -> tuple[Any, Any]:
    """numpy's ``_get_outer_edges`` for a given range (checked already)."""
    if lo == hi:
        return lo - 0.5, hi + 0.5
    return lo, hi


def _conv(value: Any, dtype: np.dtype) -> Any:
    """``value`` converted to ``dtype`` the way a ufunc converts an operand:
    a Python scalar is packed (weak), a numpy scalar cast (strong)."""
    if isinstance(value, np.generic):
        return value.astype(dtype)
    return np.array(value, dtype=dtype)[()]


def _bound(value: Any, what: str) -> Any:
    """A range bound as numpy sees it: Python int/float or numpy scalar."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.generic):
        if value.dtype not in _DTYPE_TAGS:
            raise TypeError(f"range: {what} must be a real number (int or float), got "
                            f"{value!r} of dtype {value.dtype}")
        bad = not np.isfinite(value)
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"range: {what} must be a real number (int or float), got "
                        f"{value!r} of type {type(value).__name__}")
    elif isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ValueError(f"range: {what}={value} does not fit in int64 "
                             "(np.histogram cannot use it either)")
        bad = False
    else:
        bad = not math.isfinite(value)
    if bad:
        raise ValueError(f"range: {what} must be finite, got {value!r}")
    return value


def _encode(value: Any) -> tuple[int, int]:
    """(tag, 64-bit word) of a bound."""
    if isinstance(value, np.generic):
        tag = _DTYPE_TAGS[value.dtype]
        if value.dtype.kind == "f":
            return tag, int(np.float64(value).view(np.uint64))
        return tag, int(value) & _MASK64
    if isinstance(value, int):
        return lib.PS_HIST_PYINT, value & _MASK64
    return lib.PS_HIST_PYFLOAT, int(np.float64(value).view(np.uint64))


def _decode_bound(tag: int, bits: int) -> Any:
    """The bound encoded by (tag, word); ValueError if the tag is unknown."""
    signed = bits - 2**64 if bits >= 2**63 else bits
    if tag == lib.PS_HIST_PYINT:
        return signed
    if tag == lib.PS_HIST_PYFLOAT:
        return float(np.uint64(bits).view(np.float64))
    dt = _TAG_DTYPES.get(tag)
    if dt is None:
        raise ValueError(f"unknown bound tag {tag}")
    if dt.kind == "f":
        return dt.type(np.uint64(bits).view(np.float64))
    return dt.type(bits if dt.kind == "u" else signed)


def _edge_words(edges: np.ndarray) -> np.ndarray:
    """uint64 words of an edge array (histogram.h: float bits / int64 / uint64)."""
    kind = edges.dtype.kind
    if kind == "f":
        return edges.astype(_F64).view(np.uint64)
    if kind == "u":
        return edges.astype(np.uint64)
    return edges.astype(np.int64).view(np.uint64)


def _words_to_edges(words: np.ndarray, tag: int) -> np.ndarray:
    dt = _TAG_DTYPES[tag]
    if dt.kind == "f":
        out = words.view(_F64).astype(dt)
    elif dt.kind == "u":
        out = words.astype(dt)
    else:
        out = words.view(np.int64).astype(dt)
    out.setflags(write=False)
    return out


def _range_edges(bins: int, lo: Any, hi: Any, dtype: np.dtype) -> np.ndarray:
    """``np.histogram``'s edges for input of ``dtype`` (ValueError naming the
    parameters if numpy cannot make them)."""
    try:
        with np.errstate(all="ignore"):
            edges = np.histogram_bin_edges(np.empty(0, dtype), bins, (lo, hi))
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"bins={bins}, range=({lo!r}, {hi!r}): no edges for {dtype} input "
                         f"({exc})") from None
    if not np.all(np.isfinite(edges)):
        raise ValueError(f"bins={bins}, range=({lo!r}, {hi!r}): the edges of {dtype} input "
                         "are not finite (range too wide for the dtype)")
    return edges


def _log_edges(bins: int, lo: Any, hi: Any) -> np.ndarray:
    with np.errstate(all="ignore"):
        edges = np.geomspace(lo, hi, bins + 1)
    try:
        return _check_edges(edges, "log=True: np.geomspace(lo, hi, bins + 1)")
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from None


def _check_edges(edges: Any, what: str = "edges") -> np.ndarray:
    arr = np.asarray(edges)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be a 1-D sequence, got shape {arr.shape}")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.dtype not in _DTYPE_TAGS:
        raise TypeError(f"{what} must hold real numbers (float or int), got dtype {arr.dtype}")
    if arr.size < 2:
        raise ValueError(f"{what} needs at least 2 values (one bin), got {arr.size}")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError(f"{what} must not contain NaN")
    if np.any(arr[:-1] > arr[1:]):
        raise ValueError(f"{what} must increase monotonically (equal neighbours are "
                         "allowed, as in np.histogram)")
    out = arr.astype(arr.dtype.newbyteorder("="), copy=True)
    out.setflags(write=False)
    return out


# --------------------------------------------------------------------------
# Plans: how numpy bins values of one dtype


class _Plan:
    """A ``ps_hist_plan`` (or the numpy fallback) for one input dtype."""

    __slots__ = ("c", "keep", "edges", "fallback", "all_over", "first", "last")

    def __init__(self) -> None:
        self.c: Any = None
        self.keep: list[Any] = []
        self.edges: np.ndarray | None = None  # range kind: numpy's edges for the dtype
        self.fallback = False
        self.all_over = False
        self.first: Any = None
        self.last: Any = None


_MAX_TABLE = 1 << 20


def _table_guess(e64: np.ndarray) -> tuple[int, float, float, int, int, np.ndarray | None]:
    """A lookup table from cells of the value axis to bins, for explicit /
    log edges: (guess code, a, b, key0, shift, table).

    Two cell layouts are tried: equal-width cells over ``[e0, en]``, and,
    for positive edges, cells equal in the bits of the double (a
    piecewise-linear log2, which suits log bins); the one with fewer cells
    holding more than one edge wins.  Only speed depends on the choice: the
    kernel checks every guess against the edges (histogram.h).
    """
    n = e64.size - 1
    e0, en = float(e64[0]), float(e64[-1])
    none = (lib.PS_HGUESS_BSEARCH, 0.0, 0.0, 0, 0, None)
    if not (math.isfinite(e0) and math.isfinite(en) and e0 < en):
        return none
    cells = min(_MAX_TABLE, max(64, 8 * n))
    inner = e64[:-1]
    best: tuple[int, tuple[int, float, float, int, int, np.ndarray]] | None = None

    def consider(code: int, a: float, b: float, key0: int, shift: int,
                 starts: np.ndarray) -> None:
        nonlocal best
        table = np.searchsorted(inner, starts, side="right") - 1
        table = np.clip(table, 0, n - 1).astype(np.int32)
        crowded = int(np.count_nonzero(np.diff(table) > 1))
        if best is None or crowded < best[0]:
            best = (crowded, (code, a, b, key0, shift, table))

    with np.errstate(all="ignore"):
        b = cells / (en - e0)
        if math.isfinite(b) and b > 0:
            consider(lib.PS_HGUESS_LINEAR, e0, b, 0, 0,
                     e0 + np.arange(cells, dtype=np.float64) / b)
        if e0 > 0:
            k0 = int(np.float64(e0).view(np.uint64))
            k1 = int(np.float64(en).view(np.uint64))
            shift = 0
            while ((k1 >> shift) - (k0 >> shift) + 1) > cells:
                shift += 1
            key0 = k0 >> shift
            ncell = (k1 >> shift) - key0 + 1
            keys = (np.arange(ncell, dtype=np.uint64) + np.uint64(key0)) << np.uint64(shift)
            starts = np.maximum(keys.view(np.float64), e0)
            consider(lib.PS_HGUESS_BITS, 0.0, 0.0, key0, shift, starts)
    if best is None or best[0] > 0.25 * best[1][5].size:
        return none
    return best[1]


def _range_plan(bins: int, lo: Any, hi: Any, dt: np.dtype, code: int) -> _Plan:
    """numpy's equal-width path for input of (semantic) dtype ``dt``, read by
    the kernel as dtype ``code``."""
    plan = _Plan()
    edges = _range_edges(bins, lo, hi, dt)
    first, last = _outer_edges(lo, hi)
    plan.edges, plan.first, plan.last = edges, first, last
    T = edges.dtype
    denom = _unsigned_subtract(last, first)
    R = np.result_type(T, denom)
    if T not in (_F32, _F64) or R not in (_F32, _F64) or np.result_type(T, first) != T:
        plan.fallback = True  # float16 arithmetic: np.histogram itself
        return plan
    c = ffi.new("ps_hist_plan *")
    c.dtype = code
    for side, value in (("lo", first), ("hi", last)):
        K = np.result_type(dt, value)  # the type of `x >= first` / `x <= last`
        if K.kind == "f":
            if K.itemsize > 8:
                plan.fallback = True
                return plan
            dom = lib.PS_HDOM_F64 if K.itemsize == 8 else lib.PS_HDOM_F32
            setattr(c, side + "_f", float(_conv(value, K)))
        else:  # integer input, integer bound: numpy compares exactly
            v = int(value)
            if dt == np.uint64:
                dom = lib.PS_HDOM_U64
                if v < 0:
                    if side == "lo":
                        v = 0  # nothing is below
                    else:
                        plan.all_over = True
                        v = 0
                v = v - 2**64 if v >= 2**63 else v
            else:
                # the data's range fits in int64: clamp the bound just outside
                # it (x < dmax + 1 and x > dmin - 1 always hold), exactly
                info = np.iinfo(dt) if dt.kind in "iu" else np.iinfo(np.uint8)
                v = min(max(v, int(info.min) - 1), int(info.max) + 1)
                v = min(max(v, -(2**63)), 2**63 - 1)
                dom = lib.PS_HDOM_I64
            setattr(c, side + "_i", v)
        setattr(c, side + "_dom", dom)
    c.t_dom = lib.PS_HDOM_F64 if T == _F64 else lib.PS_HDOM_F32
    c.r_dom = lib.PS_HDOM_F64 if R == _F64 else lib.PS_HDOM_F32
    c.first_t = float(_conv(first, T))
    c.denom_r = float(_conv(denom, R))
    c.n_r = float(_conv(bins, R))
    kernel_edges = np.ascontiguousarray(edges)
    c.edges = ffi.cast("const void *", kernel_edges.ctypes.data)
    plan.keep = [kernel_edges]
    plan.c = c
    return plan


def _edges_plan(edges: np.ndarray, dt: np.dtype, code: int) -> _Plan:
    """searchsorted's rules: values and edges compared in their common type."""
    plan = _Plan()
    K = np.promote_types(dt, edges.dtype)
    c = ffi.new("ps_hist_plan *")
    c.dtype = code
    if K.kind == "f":
        if K.itemsize == 8:
            c.t_dom, ke = lib.PS_HDOM_F64, edges.astype(_F64)
        else:  # float32, or float16 compared exactly in float32
            c.t_dom, ke = lib.PS_HDOM_F32, edges.astype(K).astype(_F32)
    elif K.kind == "i":
        c.t_dom, ke = lib.PS_HDOM_I64, edges.astype(K).astype(np.int64)
    else:
        c.t_dom, ke = lib.PS_HDOM_U64, edges.astype(K).astype(np.uint64)
    ke = np.ascontiguousarray(ke)
    c.edges = ffi.cast("const void *", ke.ctypes.data)
    plan.keep = [ke]
    code, a, b, key0, shift, table = _table_guess(ke.astype(_F64))
    c.guess, c.guess_a, c.guess_b, c.key0, c.shift = code, a, b, key0, shift
    if table is not None:
        c.table = ffi.cast("const int32_t *", table.ctypes.data)
        c.ntable = table.size
        plan.keep.append(table)
    plan.c = c
    return plan


_NOT_GIVEN: Any = object()


def _parse(bins: Any, range: Any, edges: Any, log: Any) -> tuple[int, int, Any, Any, Any]:
    """Validate the parameters: (kind, nbins, lo, hi, edges array or None)."""
    if not isinstance(log, (bool, np.bool_)):
        raise TypeError(f"log must be True or False, got {log!r}")
    if edges is not None:
        if range is not None or log:
            raise ValueError("pass either edges= or bins= with range= (and log=), not both")
        if bins is not _NOT_GIVEN and bins != 10:
            raise ValueError(f"bins={bins!r} conflicts with edges= (edges give "
                             "len(edges) - 1 bins)")
        arr = _check_edges(edges)
        return lib.PS_HIST_EDGES, arr.size - 1, None, None, arr
    if isinstance(bins, (bool, np.bool_)):
        raise TypeError(f"bins must be an integer, got {bins!r}")
    try:
        nbins = operator.index(bins)
    except TypeError:
        raise TypeError(f"bins must be an integer (or pass edges=), got {bins!r}") from None
    if nbins < 1:
        raise ValueError(f"bins must be >= 1, got {nbins}")
    if range is None:
        raise ValueError(
            "Histogram needs its edges before the first value: pass range=(lo, hi) "
            "(with bins=, optionally log=True) or edges=[...] (a stream's "
            "histogram() computes the range with a first pass)"
        )
    try:
        lo, hi = range
    except (TypeError, ValueError):
        raise ValueError(f"range must be a pair (lo, hi), got {range!r}") from None
    lo, hi = _bound(lo, "lo"), _bound(hi, "hi")
    if lo > hi:
        raise ValueError(f"range: lo must be <= hi, got ({lo!r}, {hi!r})")
    if log:
        if not lo > 0:
            raise ValueError(f"range: log=True needs lo > 0, got ({lo!r}, {hi!r})")
        return lib.PS_HIST_LOG, nbins, lo, hi, _log_edges(nbins, lo, hi)
    _range_edges(nbins, lo, hi, _F64)  # numpy's own refusals, now
    return lib.PS_HIST_RANGE, nbins, lo, hi, None
