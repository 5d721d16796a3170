"""A streaming, mergeable histogram with exactly :func:`numpy.histogram`'s
semantics (:class:`Histogram`, :class:`HistogramResult`); how exactness is
kept: :doc:`/internals/histogram`.
"""

from __future__ import annotations

import builtins
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._native import as_array, check_status, ffi, kernel_dtype, lib, prepare_chunk
from .._checks import StateLock, restore_state
from ._cstate import deserialize, serialize
from .binning import (
    _decode_bound,
    _DTYPE_TAGS,
    _edge_words,
    _edges_plan,
    _encode,
    _F64,
    _KERNEL_CODES,
    _NOT_GIVEN,
    _parse,
    _Plan,
    _range_edges,
    _range_plan,
    _TAG_DTYPES,
    _U8,
    _words_to_edges,
)

__all__ = ["Histogram", "HistogramResult"]


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
                lo = _decode_bound(int(spec.lo_tag), int(spec.lo_bits))
                hi = _decode_bound(int(spec.hi_tag), int(spec.hi_bits))
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
