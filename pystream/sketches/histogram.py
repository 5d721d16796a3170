"""A streaming, mergeable histogram with exactly :func:`numpy.histogram`'s
semantics (:class:`Histogram`, :class:`HistogramResult`).

How exactness is kept
---------------------
``np.histogram``'s answer depends on dtypes: float32 input gets float32
edges, comparisons run in promoted types, and its equal-width fast path
computes ``((x - first) / (last - first)) * bins`` in numpy's result types
before two one-step corrections against the edges.  This module asks numpy
itself, once per input dtype, for every one of those decisions (the edges,
the comparison types, the scalars of the formula, all converted the way
numpy converts them) and hands them to the C kernel (``csrc/histogram.c``)
as a *plan*; the kernel performs the same IEEE operations in the same
types.  Counts are therefore bit-identical to ``np.histogram`` of the same
values, whatever the chunking.  The only case the kernel does not run is
numpy's float16 arithmetic (float16 input with equal-width bins): those
chunks are binned by ``np.histogram`` itself.

Counts are int64 (numpy's ``intp``); an update or merge that would make the
total number of values exceed ``2**63 - 1`` raises ``OverflowError``.
"""

from __future__ import annotations

import builtins
import math
import operator
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._native import as_array, check_status, ffi, kernel_dtype, lib, prepare_chunk
from .._checks import StateLock, restore_state
from ._cstate import deserialize, serialize

__all__ = ["Histogram", "HistogramResult"]

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


def _decode(tag: int, bits: int) -> Any:
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


# --------------------------------------------------------------------------
# Result


@dataclass(frozen=True, eq=False)
class HistogramResult:
    """Counts and edges of a :class:`Histogram`, as ``np.histogram`` gives them.

    Attributes
    ----------
    counts : ndarray of int64
        ``np.histogram(x, ...)[0]`` of all values seen.
    edges : ndarray
        ``np.histogram(x, ...)[1]``: float64, or float32 (float16) for
        float32 (float16) input with ``bins`` + ``range``; for explicit
        ``edges`` the given array (its dtype kept, as numpy does).
    underflow, overflow : int
        Values below the first / above the last edge (``-inf`` / ``inf``
        included); numpy drops them.
    nan_count : int
        NaN values; numpy drops them too.

    Examples
    --------
    >>> import numpy as np
    >>> from pystream.sketches import Histogram
    >>> r = Histogram(4, range=(0, 4)).update(np.array([0, 1.5, 4, 9, np.nan])).result()
    >>> r.counts, r.edges
    (array([1, 1, 0, 1]), array([0., 1., 2., 3., 4.]))
    >>> r.underflow, r.overflow, r.nan_count, r.total
    (0, 1, 1, 5)
    """

    counts: np.ndarray
    edges: np.ndarray
    underflow: int
    overflow: int
    nan_count: int

    @property
    def total(self) -> int:
        """Every value seen: binned, below, above and NaN."""
        return int(self.counts.sum()) + self.underflow + self.overflow + self.nan_count

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HistogramResult):
            return NotImplemented
        return (self.counts.dtype == other.counts.dtype
                and np.array_equal(self.counts, other.counts)
                and self.edges.dtype == other.edges.dtype
                and np.array_equal(self.edges, other.edges)
                and (self.underflow, self.overflow, self.nan_count)
                == (other.underflow, other.overflow, other.nan_count))

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        n = self.counts.size
        e = self.edges
        head = (f"HistogramResult: {n} bins over [{_num(e[0])}, {_num(e[-1])}] "
                f"({e.dtype} edges), {self.total:,} values: "
                f"{int(self.counts.sum()):,} in bins, {self.underflow:,} below, "
                f"{self.overflow:,} above, {self.nan_count:,} NaN")
        if n == 0:
            return head
        peak = int(self.counts.max())
        if n <= 20:
            width = 30
            labels = [f"[{_num(e[i])}, {_num(e[i + 1])}{']' if i == n - 1 else ')'}"
                      for i in builtins.range(n)]
            pad = max(len(s) for s in labels)
            rows = [f"  {lab:<{pad}}  {int(c):>12,}  "
                    f"{'#' * (round(width * int(c) / peak) if peak else 0)}"
                    for lab, c in zip(labels, self.counts)]
            return "\n".join([head, *rows])
        per = -(-n // 60)  # bins per character
        groups = [self.counts[i:i + per] for i in builtins.range(0, n, per)]
        sums = np.array([g.sum() for g in groups])
        top = int(sums.max())
        bars = " ▁▂▃▄▅▆▇█"
        spark = "".join(bars[0 if top == 0 or s == 0 else max(1, round(8 * int(s) / top))]
                        for s in sums)
        i = int(self.counts.argmax())
        return "\n".join([
            head,
            f"  |{spark}|" + (f"  ({per} bins per mark)" if per > 1 else ""),
            f"  peak: bin {i} [{_num(e[i])}, {_num(e[i + 1])}{']' if i == n - 1 else ')'} "
            f"with {peak:,}",
        ])


def _num(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, (float, np.floating)) else str(v)


# --------------------------------------------------------------------------
# The state


_NOT_GIVEN: Any = object()


class Histogram:
    """Streaming histogram with exactly ``np.histogram``'s counts and edges.

    A mergeable, serializable state: feed it chunks with :meth:`update`,
    combine partitions with :meth:`merge`, read it with :meth:`result`.

    Parameters
    ----------
    bins : int, default 10
        Number of bins (>= 1), with ``range`` (equal-width bins) or with
        ``log=True``.  Not used with ``edges``.
    range : (lo, hi), optional
        Outer edges, as ``np.histogram``'s ``range``: ``lo <= hi``, finite;
        ``lo == hi`` gives ``(lo - 0.5, hi + 0.5)`` as numpy does.  Python
        and numpy scalars are kept as given, since numpy's arithmetic
        depends on their types (``np.float32`` bounds give float32
        arithmetic, as in ``np.histogram(x32)`` without a range).
    edges : array_like, optional
        Explicit bin edges, monotonically increasing (equal neighbours
        allowed): ``np.histogram(x, bins=edges)``.
    log : bool, default False
        With ``bins`` and ``range``: edges ``np.geomspace(lo, hi, bins + 1)``
        (``lo > 0``), binned as explicit edges.

    Raises
    ------
    ValueError
        No ``range`` or ``edges`` (the range cannot be computed from a
        stream in one pass: pass ``range=`` or ``edges=``), ``bins < 1``,
        non-finite range, ``lo > hi``, decreasing or NaN edges, ``log``
        with ``lo <= 0``, or parameters numpy itself refuses ("too many
        bins for data range").
    TypeError
        Non-numeric ``bins``, bounds or edges.

    Notes
    -----
    * ``counts`` and ``edges`` are bit-identical to
      ``np.histogram(np.concatenate(chunks), ...)`` when the chunks share a
      dtype, for any chunking; with ``bins`` + ``range`` the edges follow
      the input dtype (float32 input gets float32 edges), so the first
      chunk fixes it and a chunk of another edge dtype raises
      ``TypeError``.  With explicit edges, each chunk is binned as numpy
      bins that chunk.
    * Values outside the edges are counted in ``underflow`` /
      ``overflow`` (``±inf`` too), NaNs in ``nan_count``; numpy drops both.
    * Counts are int64; exceeding ``2**63 - 1`` values raises
      ``OverflowError``.  Memory is O(bins) (:attr:`nbytes`).
    * One state is owned by one thread at a time: concurrent calls raise
      ``RuntimeError``.  Give each thread its own state and merge.
    * float16 input with ``bins`` + ``range`` uses numpy's float16
      arithmetic, which the C kernel does not implement: those chunks go
      through ``np.histogram`` itself (exact, slower).

    Examples
    --------
    >>> import numpy as np
    >>> from pystream.sketches import Histogram
    >>> x = np.random.default_rng(0).normal(size=1000)
    >>> h = Histogram(bins=20, range=(-3, 3))
    >>> for chunk in np.array_split(x, 7):
    ...     _ = h.update(chunk)
    >>> r = h.result()
    >>> counts, edges = np.histogram(x, bins=20, range=(-3, 3))
    >>> bool((r.counts == counts).all() and (r.edges == edges).all())
    True
    >>> a = Histogram(edges=[0, 1, 2, 10]).update(np.array([0.5, 1, 10]))
    >>> b = Histogram(edges=[0, 1, 2, 10]).update(np.array([-1, 3]))
    >>> a.merge(b).result().counts
    array([1, 1, 2])
    """

    __slots__ = ("_state", "_lock", "_kind", "_bins", "_lo", "_hi", "_edges", "_plans",
                 "_edge_tag", "_edges_cache")

    def __init__(self, bins: int = 10, range: Any = None, edges: Any = None,
                 log: bool = False) -> None:
        kind, nbins, lo, hi, arr = _parse(bins, range, edges, log)
        self._setup(kind, nbins, lo, hi, arr)
        spec = ffi.new("ps_hist_spec *")
        spec.kind = kind
        spec.nbins = nbins
        if kind == lib.PS_HIST_EDGES:
            spec.lo_tag = spec.hi_tag = lib.PS_HIST_NOVALUE
        else:
            spec.lo_tag, spec.lo_bits = _encode(lo)
            spec.hi_tag, spec.hi_bits = _encode(hi)
        if kind == lib.PS_HIST_RANGE:
            init = _range_edges(nbins, lo, hi, _F64)  # what an empty stream gives
            spec.typed = 0
        else:
            init = arr
            spec.typed = 1
        spec.edge_dtype = _DTYPE_TAGS[init.dtype]
        words = np.ascontiguousarray(_edge_words(init))
        out = ffi.new("ps_hist **")
        check_status(lib.ps_hist_new(out, spec, ffi.cast("const uint64_t *", words.ctypes.data)),
                     "Histogram()")
        self._adopt(out[0])

    def _setup(self, kind: int, nbins: int, lo: Any, hi: Any, arr: np.ndarray | None) -> None:
        self._kind, self._bins, self._lo, self._hi = kind, nbins, lo, hi
        self._edges = arr
        self._plans: dict[np.dtype, _Plan] = {}
        self._lock = threading.Lock()

    def _adopt(self, raw: Any) -> None:
        self._state = ffi.gc(raw, lib.ps_hist_free)
        self._read_spec()

    def _read_spec(self) -> None:
        spec = ffi.new("ps_hist_spec *")
        check_status(lib.ps_hist_get_spec(self._state, spec), "Histogram")
        self._edge_tag = int(spec.edge_dtype) if spec.typed else None
        self._edges_cache: np.ndarray | None = None

    # -- properties ---------------------------------------------------------
    @property
    def bins(self) -> int:
        """Number of bins."""
        return self._bins

    @property
    def range(self) -> tuple[Any, Any] | None:
        """``(lo, hi)`` as given (``bins`` + ``range`` or ``log``), else None."""
        return None if self._kind == lib.PS_HIST_EDGES else (self._lo, self._hi)

    @property
    def log(self) -> bool:
        """Whether the edges are logarithmic (``np.geomspace``)."""
        return self._kind == lib.PS_HIST_LOG

    @property
    def edges(self) -> np.ndarray:
        """The edges :meth:`result` reports (read-only): with ``bins`` +
        ``range``, float64 until the first chunk fixes numpy's edge dtype."""
        with StateLock(self._lock, "Histogram.edges"):
            return self._current_edges()

    def _current_edges(self) -> np.ndarray:
        if self._edges_cache is None:
            n = self._bins
            words = np.empty(n + 1, np.uint64)
            check_status(lib.ps_hist_get_edges(self._state, ffi.from_buffer("uint64_t[]", words)),
                         "Histogram.edges")
            spec = ffi.new("ps_hist_spec *")
            lib.ps_hist_get_spec(self._state, spec)
            self._edges_cache = _words_to_edges(words, int(spec.edge_dtype))
        return self._edges_cache

    @property
    def total(self) -> int:
        """Number of values seen (binned, below, above and NaN)."""
        return int(lib.ps_hist_total(self._state))

    @property
    def nbytes(self) -> int:
        """Bytes the C state holds: O(bins), whatever the stream length."""
        return int(lib.ps_hist_nbytes(self._state))

    def __repr__(self) -> str:
        if self._kind == lib.PS_HIST_EDGES:
            what = f"edges [{_num(self._edges[0])} .. {_num(self._edges[-1])}]"
        else:
            what = f"range=({self._lo!r}, {self._hi!r})" + (", log" if self.log else "")
        tag = self._edge_tag
        et = "" if tag is None else f", {_TAG_DTYPES[tag]} edges"
        return f"<pystream.Histogram {self._bins} bins, {what}{et}, {self.total} values>"

    # -- plans --------------------------------------------------------------
    def _plan(self, dt: np.dtype) -> _Plan:
        """The plan for input of native dtype ``dt`` (cached)."""
        plan = self._plans.get(dt)
        if plan is None:
            code = _KERNEL_CODES[kernel_dtype(dt)]  # float16 is read as float32
            sem = _U8 if dt == np.bool_ else dt  # np.histogram bins bool as uint8
            if self._kind == lib.PS_HIST_RANGE:
                plan = _range_plan(self._bins, self._lo, self._hi, sem, code)
            else:
                plan = _edges_plan(self._edges, sem, code)
            self._plans[dt] = plan
        return plan

    def _type_for(self, plan: _Plan, dt: np.dtype) -> None:
        """Range kind: the first chunk fixes the edge dtype."""
        edges = plan.edges
        tag = _DTYPE_TAGS[edges.dtype]
        if self._edge_tag is None:
            words = np.ascontiguousarray(_edge_words(edges))
            check_status(lib.ps_hist_set_edges(self._state, tag,
                                               ffi.cast("const uint64_t *", words.ctypes.data)),
                         "Histogram.update")
            self._read_spec()
        elif tag != self._edge_tag:
            have = _TAG_DTYPES[self._edge_tag]
            raise TypeError(
                f"Histogram.update: np.histogram bins {dt} input with {edges.dtype} edges, "
                f"but this histogram already has {have} edges from earlier chunks; "
                "convert the chunks to one dtype (e.g. chunk.astype(np.float64))"
            )

    # -- updates ------------------------------------------------------------
    def update(self, chunk: Any) -> Histogram:
        """Count the values of ``chunk`` (flattened, as ``np.histogram`` does).

        Parameters
        ----------
        chunk : array_like
            Any shape and layout, any real dtype (bool, integers, float16,
            float32, float64; any byte order).  Strided input is read in
            place; byte-swapped and misaligned input is converted.  Not
            modified.

        Returns
        -------
        Histogram
            ``self``.

        Raises
        ------
        TypeError
            Unsupported dtype (complex, object...), masked arrays, or (with
            ``bins`` + ``range``) a dtype whose numpy edges differ from
            those of the earlier chunks.
        RuntimeError
            The state is in use by another thread.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sketches import Histogram
        >>> r = Histogram(3, range=(0, 3)).update(np.arange(6).reshape(2, 3)).result()
        >>> r.counts, r.overflow  # the last bin is closed: 3 is in it; 4 and 5 are above
        (array([1, 1, 2]), 2)
        """
        if isinstance(chunk, np.ma.MaskedArray):
            raise TypeError("Histogram.update: masked arrays are not supported (the mask "
                            "would be ignored); use a.compressed()")
        a = as_array(chunk, "Histogram.update")  # geometry from the buffer
        kernel_dtype(a.dtype, "Histogram.update")  # refuses non-numeric dtypes
        dt = a.dtype if a.dtype.isnative else a.dtype.newbyteorder("=")
        with StateLock(self._lock, "Histogram.update"):
            plan = self._plan(dt)
            if self._kind == lib.PS_HIST_RANGE:
                self._type_for(plan, dt)
            if a.size == 0:
                return self
            if plan.fallback or plan.all_over:
                self._update_numpy(a, plan)
                return self
            if a.ndim == 0:
                a = a.reshape(1)
            ki = prepare_chunk(a, "Histogram.update")
            status = lib.ps_hist_update(self._state, plan.c, ki.pointer, ki.n, ki.d,
                                        ki.record_stride, ki.value_stride)
            if status:
                check_status(status, "Histogram.update")
        return self

    def _update_numpy(self, a: np.ndarray, plan: _Plan) -> None:
        """np.histogram itself, block by block (float16 arithmetic), or the
        trivial all-above case."""
        flat = a.reshape(-1)
        if not flat.dtype.isnative:
            flat = flat.astype(flat.dtype.newbyteorder("="))
        if plan.all_over:
            check_status(lib.ps_hist_add(self._state, ffi.NULL, 0, flat.size, 0),
                         "Histogram.update")
            return
        counts = np.zeros(self._bins, np.int64)
        under = over = nan = 0
        for s in builtins.range(0, flat.size, 65536):
            blk = flat[s:s + 65536]
            counts += np.histogram(blk, self._bins, (self._lo, self._hi))[0]
            if blk.dtype.kind == "f":
                nan += int(np.count_nonzero(np.isnan(blk)))
            under += int(np.count_nonzero(blk < plan.first))
            over += int(np.count_nonzero(blk > plan.last))
        check_status(lib.ps_hist_add(self._state, ffi.from_buffer("int64_t[]", counts),
                                     under, over, nan), "Histogram.update")

    def merge(self, other: Histogram) -> Histogram:
        """Add the counts of ``other`` to this state, in place.

        Merging is exact and commutative: any partition of the values,
        merged in any order, gives the counts of the whole.

        Parameters
        ----------
        other : Histogram
            Same parameters and edges.  Not modified.

        Returns
        -------
        Histogram
            ``self``.

        Raises
        ------
        ValueError
            Different bins, range, edges, or edge dtype (states of
            float32 and float64 input with ``bins`` + ``range``).
        OverflowError
            More than ``2**63 - 1`` values in total.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sketches import Histogram
        >>> a = Histogram(2, range=(0, 2)).update(np.array([0.5]))
        >>> a.merge(Histogram(2, range=(0, 2)).update(np.array([1.5, 2.0]))).result().counts
        array([1, 2])
        """
        if not isinstance(other, Histogram):
            raise TypeError(f"can only merge a Histogram, not {type(other).__name__}")
        if other is self:
            other = self.copy()
        with StateLock(self._lock, "Histogram.merge"), StateLock(other._lock, "Histogram.merge"):
            status = lib.ps_hist_merge(self._state, other._state)
            if status == lib.PS_ERR_MISMATCH:
                raise ValueError(f"cannot merge {other!r} into {self!r}: the histograms have "
                                 "different parameters or edges (merging needs identical edges)")
            check_status(status, "Histogram.merge")
            self._read_spec()
        return self

    def copy(self) -> Histogram:
        """An independent copy of this state."""
        new = Histogram.__new__(Histogram)
        out = ffi.new("ps_hist **")
        with StateLock(self._lock, "Histogram.copy"):
            check_status(lib.ps_hist_copy(out, self._state), "Histogram.copy")
        new._setup(self._kind, self._bins, self._lo, self._hi, self._edges)
        new._plans = dict(self._plans)  # plans are immutable
        new._adopt(out[0])
        return new

    def __copy__(self) -> Histogram:
        return self.copy()

    def __eq__(self, other: object) -> bool:
        """Same parameters, edges and counts (bit-identical state), as DDSketch."""
        if not isinstance(other, Histogram):
            return NotImplemented
        return other is self or self.to_bytes() == other.to_bytes()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __deepcopy__(self, memo: dict[int, Any]) -> Histogram:
        return self.copy()

    # -- results ------------------------------------------------------------
    def result(self) -> HistogramResult:
        """Counts and edges of the values seen so far.

        Returns
        -------
        HistogramResult
            ``counts`` and ``edges`` exactly as ``np.histogram`` returns
            them, plus ``underflow``, ``overflow`` and ``nan_count``.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sketches import Histogram
        >>> r = Histogram(2, range=(0, 1)).update(np.float32([0.25, 0.5, 2])).result()
        >>> r.counts, r.edges.dtype, r.overflow
        (array([1, 1]), dtype('float32'), 1)
        """
        with StateLock(self._lock, "Histogram.result"):
            counts = np.empty(self._bins, np.int64)
            outside = np.empty(3, np.int64)
            check_status(lib.ps_hist_result(self._state, ffi.from_buffer("int64_t[]", counts),
                                            ffi.from_buffer("int64_t[]", outside)),
                         "Histogram.result")
            edges = self._current_edges()
        counts.setflags(write=False)
        under, over, nan = (int(v) for v in outside)
        return HistogramResult(counts, edges, under, over, nan)

    # -- serialization ------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Serialize: versioned, checksummed, little-endian bytes of size
        O(bins) (parameters, edges, counts).

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sketches import Histogram
        >>> h = Histogram(5, range=(0, 1)).update(np.linspace(0, 1, 11))
        >>> Histogram.from_bytes(h.to_bytes()).result() == h.result()
        True
        """
        return serialize(lib.ps_hist_serialize, self._state, self._lock, "Histogram.to_bytes")

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Histogram:
        """Rebuild a state from :meth:`to_bytes` output.

        Raises
        ------
        ValueError
            Truncated, corrupt or unknown-version bytes (the C layer checks
            the checksum and every field; the edges are then recomputed
            with numpy from the parameters and must match).
        TypeError
            ``data`` is not bytes-like.
        """
        state = ffi.gc(deserialize(lib.ps_hist_deserialize, "ps_hist", data,
                                   "Histogram.from_bytes"), lib.ps_hist_free)
        spec = ffi.new("ps_hist_spec *")
        lib.ps_hist_get_spec(state, spec)
        kind, nbins = int(spec.kind), int(spec.nbins)
        words = np.empty(nbins + 1, np.uint64)
        lib.ps_hist_get_edges(state, ffi.from_buffer("uint64_t[]", words))
        stored = _words_to_edges(words, int(spec.edge_dtype))
        try:
            if kind == lib.PS_HIST_EDGES:
                kind, nbins, lo, hi, arr = _parse(_NOT_GIVEN, None, stored, False)
            else:
                lo = _decode(int(spec.lo_tag), int(spec.lo_bits))
                hi = _decode(int(spec.hi_tag), int(spec.hi_bits))
                _, nbins, lo, hi, arr = _parse(nbins, (lo, hi), None,
                                                   kind == lib.PS_HIST_LOG)
                if kind == lib.PS_HIST_RANGE:
                    probe = _TAG_DTYPES[int(spec.edge_dtype)] if spec.typed else _F64
                    want = _range_edges(nbins, lo, hi, probe)
                else:
                    want = arr
                if want.dtype != stored.dtype or not np.array_equal(want, stored):
                    raise ValueError("the stored edges are not the ones of the parameters")
        except (ValueError, TypeError) as exc:
            raise ValueError(f"Histogram.from_bytes: corrupt state ({exc})") from None
        new = cls.__new__(cls)
        new._setup(kind, nbins, lo, hi, arr)
        new._state = state
        new._read_spec()
        return new

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:

        return (restore_state, (Histogram, self.to_bytes()))


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
