"""Per-bin reductions over a stream of records with bin numbers (C kernel ``csrc/bins.c``).

``resample("1h", how=...)`` and ``session(gap=...)`` give every record a bin
number (int64, non-decreasing along the stream); :class:`BinReducer` computes
several statistics of each value of the record per bin, in one sequential
pass, streaming: a bin is complete when a record of a later bin arrives, or
at :meth:`BinReducer.flush`.  :class:`BinQuantile` does the same for a
quantile (numpy, vectorised per chunk).

Why sequential accumulation (and not ``np.add.reduceat`` or pairwise sums):
the running state of the open bin is carried from call to call and every
record is added in arrival order, so any chunking of the stream gives the
same bits (the design's invariant 1).  The slow twins are in
:mod:`pystream.stages.time_reduce_twins`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._checks import StateLock, adopt_arrays, check_ddof, check_nan_policy
from .._native import check_status, ffi, lib

__all__ = ["BIN_STATS", "BinQuantile", "BinReducer", "as_values", "as_int64_column"]

#: The statistics :class:`BinReducer` computes, in the order of the C codes.
BIN_STATS: tuple[str, ...] = ("count", "sum", "mean", "var", "std", "min", "max", "first", "last")

_SLOTS = int(lib.PS_BIN_SLOTS)
_OUT_BUDGET = 1 << 20  # output values per C call (8 MB) when the chunk is long


def as_values(values: Any, width: int, where: str) -> np.ndarray:
    """``values`` as a C-contiguous ``(n, width)`` float64 array.

    A 1-d array is ``(n, 1)``.  Integer, boolean-free real input is converted
    to float64 (float32 is widened exactly).

    Raises
    ------
    TypeError
        For a non-real dtype (complex, object, bool, datetime...).
    ValueError
        For a shape other than ``(n,)`` / ``(n, width)``.

    Examples
    --------
    >>> as_values(np.arange(3, dtype=np.int32), 1, "f").shape
    (3, 1)
    """
    a = np.asarray(values)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{where}: values must be real numbers (int or float), got dtype {a.dtype}")
    if a.ndim == 1 and width == 1:
        a = a.reshape(-1, 1)
    if a.ndim != 2 or a.shape[1] != width:
        raise ValueError(f"{where}: values must have shape (n, {width})"
                         f"{' or (n,)' if width == 1 else ''}, got {a.shape}")
    return np.ascontiguousarray(a, dtype=np.float64)


def as_int64_column(column: Any, n: int, name: str, where: str) -> np.ndarray:
    """``column`` as a contiguous int64 array of length ``n``.

    Raises
    ------
    TypeError
        If it is not of an integer dtype.
    ValueError
        If its length is not ``n`` or an unsigned value exceeds the int64 range.

    Examples
    --------
    >>> as_int64_column(np.array([1, 2], dtype=np.uint8), 2, "bins", "f")
    array([1, 2])
    """
    a = np.asarray(column)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{where}: {name} must be integers, got dtype {a.dtype}")
    if a.shape != (n,):
        raise ValueError(f"{where}: {name} must have shape ({n},) like the values, got {a.shape}")
    if a.dtype.kind == "u" and a.dtype.itemsize == 8 and n and int(a.max()) > np.iinfo(np.int64).max:
        row = int(np.argmax(a > np.iinfo(np.int64).max))
        raise ValueError(f"{where}: {name} at row {row} ({a[row]}) exceeds the int64 range")
    return np.ascontiguousarray(a, dtype=np.int64)


def _check_width(width: object, where: str) -> int:
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"{where}: width must be an integer >= 1, got {width!r}")
    return int(width)


def _order_error(where: str, row: int, bins: np.ndarray, previous: int) -> ValueError:
    before = previous if row == 0 else int(bins[row - 1])
    return ValueError(
        f"{where}: bin numbers must be non-decreasing: row {row} has bin {int(bins[row])} "
        f"after bin {before}{' (the open bin of the previous call)' if row == 0 else ''}"
    )


class BinReducer:
    """Several statistics per bin of every value of the record, in one streaming pass.

    Parameters
    ----------
    stats : sequence of str
        Statistics from :data:`BIN_STATS`, in the order wanted in the output.
    width : int
        Values per record.
    nan_policy : {"omit", "propagate"}
        ``"omit"`` (pandas' resample reducers): NaN is missing everywhere.
        ``"propagate"``: a NaN in a bin makes its sum, mean, var, std, min and
        max NaN, and first / last are the bin's first / last record values as
        they are.  ``count`` is the non-NaN count under both.
    ddof : float
        Divisor of var / std is ``count - ddof`` (NaN while <= 0).

    Notes
    -----
    Semantics per value (pandas' ``resample().count/sum/mean/var/std/min/max/
    first/last``): sum is the sequential float64 sum of the non-NaN values
    (0.0 for none), mean = sum / count (NaN for none), var by Welford's
    recurrence in eight interleaved lanes fixed by the position of the value
    in its bin (the k-th non-NaN value goes to lane k % 8), merged at the end
    of the bin by Chan et al.'s formula in a fixed tree: the lanes run in
    parallel (one Welford chain has a division on its critical path), the
    result does not depend on the chunking, and a constant bin gives exactly
    0 (``csrc/bins.c``).  min / max are IEEE minimum
    / maximum (-0.0 < +0.0, so the result does not depend on order), first /
    last skip NaN.  ±inf are values (pandas: the mean is inf, the var NaN).
    The state is a few numpy arrays: the object pickles, and a restored
    checkpoint resumes bit for bit.  One thread at a time (concurrent use
    raises).

    Examples
    --------
    >>> r = BinReducer(["count", "mean", "max"], width=1)
    >>> bins, out = r.update(np.array([1.0, 3.0, np.nan, 10.0]), np.array([0, 0, 0, 5]))
    >>> bins, out[:, :, 0]
    (array([0]), array([[2., 2., 3.]]))
    >>> r.flush()[1][:, :, 0]
    array([[ 1., 10., 10.]])
    """

    def __init__(self, stats: Sequence[str], width: int, nan_policy: str = "omit",
                 ddof: float = 1.0) -> None:
        where = "BinReducer"
        if isinstance(stats, str) or not isinstance(stats, Sequence) or not stats:
            raise ValueError(f"{where}: stats must be a non-empty sequence of names from "
                             f"{BIN_STATS}, got {stats!r}")
        for s in stats:
            if s not in BIN_STATS:
                raise ValueError(f"{where}: unknown statistic {s!r}; choose from {BIN_STATS}")
        self.stats = tuple(stats)
        self.width = _check_width(width, where)
        self.nan_policy = check_nan_policy(nan_policy, f"{where}: nan_policy")
        if self.nan_policy not in ("omit", "propagate"):
            raise ValueError(f"{where}: nan_policy must be 'omit' or 'propagate', got {nan_policy!r}")
        self.ddof = check_ddof(ddof, f"{where}: ddof")
        self._codes = np.array([BIN_STATS.index(s) for s in self.stats], dtype=np.int32)
        self.head = np.zeros(3, dtype=np.int64)
        self.acc = np.empty(self.width * _SLOTS, dtype=np.float64)
        self.count = np.zeros(self.width, dtype=np.int64)
        self._lock = threading.Lock()
        self._call(lib.ps_bins_reset, self.head, self.acc, self.count, self.width)

    # -- pickling: plain arrays; the lock is made afresh -------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        fresh = BinReducer(state["stats"], state["width"], state["nan_policy"], state["ddof"])
        adopt_arrays(fresh, state, ("head", "acc", "count"), "BinReducer")
        if fresh.head[0] not in (0, 1) or fresh.head[2] < 0 or (fresh.count < 0).any() or \
                (fresh.count > fresh.head[2]).any():
            raise ValueError("BinReducer: corrupt state: inconsistent counts")
        self.__dict__.update(fresh.__dict__)

    @staticmethod
    def _call(fn: Any, head: np.ndarray, acc: np.ndarray, count: np.ndarray, width: int) -> None:
        check_status(fn(ffi.from_buffer("int64_t[]", head), ffi.from_buffer("double[]", acc),
                        ffi.from_buffer("int64_t[]", count), width), "BinReducer")

    def _buffers(self) -> tuple[Any, ...]:
        return (ffi.from_buffer("int64_t[]", self.head), ffi.from_buffer("double[]", self.acc),
                ffi.from_buffer("int64_t[]", self.count), self.width,
                ffi.from_buffer("int32_t[]", self._codes), len(self._codes),
                int(self.nan_policy == "propagate"), self.ddof)

    def update(self, values: np.ndarray, bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add records; return the bins they complete.

        Parameters
        ----------
        values : ndarray
            ``(n, width)`` real values (1-d is ``(n, 1)``), converted to float64.
        bins : ndarray
            ``(n,)`` integer bin numbers, non-decreasing, also across calls.

        Returns
        -------
        bin_numbers : ndarray
            int64 ``(k,)``, the completed bins.
        out : ndarray
            float64 ``(k, len(stats), width)``.

        Raises
        ------
        ValueError
            For a bin number smaller than the one before it (naming the row);
            the state is then unchanged.
        """
        where = "BinReducer.update"
        v = as_values(values, self.width, where)
        n = v.shape[0]
        b = as_int64_column(bins, n, "bins", where)
        # Output rows per C call: all n when that is small, else about 8 MB of
        # output (the completed bins are few unless the bins are tiny); the
        # call stops when its output is full and is called again on the rest.
        per_row = len(self._codes) * self.width
        cap = max(1, min(n, max(_OUT_BUDGET // per_row, 1)))
        nout = ffi.new("int64_t *")
        used = ffi.new("int64_t *")
        bad = ffi.new("int64_t *")
        nums: list[np.ndarray] = []
        outs: list[np.ndarray] = []
        start = 0
        with StateLock(self._lock, where):
            previous = int(self.head[1])
            while True:
                out_bins = np.empty(cap, dtype=np.int64)
                out = np.empty((cap, len(self._codes), self.width), dtype=np.float64)
                status = lib.ps_bins_update(
                    *self._buffers(), ffi.from_buffer("double[]", v[start:]),
                    ffi.from_buffer("int64_t[]", b[start:]), n - start, int(start == 0), cap,
                    ffi.from_buffer("int64_t[]", out_bins), ffi.from_buffer("double[]", out),
                    nout, used, bad)
                if status != lib.PS_OK:
                    break
                k = int(nout[0])
                nums.append(out_bins[:k].copy() if k < cap else out_bins)
                outs.append(out[:k].copy() if k < cap else out)
                start += int(used[0])
                if start >= n:
                    break
        if status == lib.PS_ERR_ARG and bad[0] >= 0:
            raise _order_error(where, int(bad[0]), b, previous)
        check_status(status, where)
        if len(nums) == 1:
            return nums[0], outs[0]
        return np.concatenate(nums), np.concatenate(outs)

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        """Complete the open bin (``k = 1``; ``k = 0`` when none) and empty the state.

        Returns
        -------
        tuple of ndarray
            As :meth:`update`.
        """
        where = "BinReducer.flush"
        out_bins = np.empty(1, dtype=np.int64)
        out = np.empty((1, len(self._codes), self.width), dtype=np.float64)
        nout = ffi.new("int64_t *")
        with StateLock(self._lock, where):
            status = lib.ps_bins_flush(*self._buffers(), ffi.from_buffer("int64_t[]", out_bins),
                                       ffi.from_buffer("double[]", out), nout)
        check_status(status, where)
        k = int(nout[0])
        return out_bins[:k].copy(), out[:k].copy()


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """numpy's ``_lerp`` (np.quantile, method "linear"), elementwise."""
    with np.errstate(invalid="ignore"):  # inf - inf is NaN, as in np.quantile
        diff = b - a
        out = a + diff * t
        return np.where(t >= 0.5, b - diff * (1 - t), out)


class BinQuantile:
    """Quantiles per bin of every value of the record (np.quantile, "linear", NaN skipped).

    Parameters
    ----------
    q : float or sequence of float
        Quantile(s) in [0, 1].
    width : int
        Values per record.

    Notes
    -----
    Memory: the state keeps the open bin's values (all of them, a copy), so
    it is as large as the largest bin (times ``width``), not bounded like
    :class:`BinReducer`'s.  Each call sorts the chunk (with the carried
    values) once per value of the record by ``(bin, value)`` (``np.lexsort``)
    and reads the quantiles of all completed bins with vectorised indexing,
    without a Python loop per bin.  A bin without non-NaN values gives NaN.
    The result depends only on each bin's multiset of values, so any chunking
    gives the same bits.  Output ``(k, len(q), width)`` (``len(q) = 1`` for a
    scalar ``q``).  Picklable (plain arrays).

    Examples
    --------
    >>> bq = BinQuantile(0.5, width=1)
    >>> bq.update(np.array([3.0, 1.0, 2.0, 7.0]), np.array([0, 0, 0, 1]))[1][:, 0, 0]
    array([2.])
    >>> bq.flush()[1][:, 0, 0]
    array([7.])
    """

    def __init__(self, q: float | Sequence[float], width: int) -> None:
        where = "BinQuantile"
        qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
        if qs.ndim != 1 or qs.size == 0 or not np.all((qs >= 0) & (qs <= 1)):
            raise ValueError(f"{where}: q must be a number or a non-empty sequence in [0, 1], "
                             f"got {q!r}")
        self.q = qs
        self.width = _check_width(width, where)
        self.open_bin: int | None = None
        # the open bin's values, as the pieces that came (joined only when the
        # bin completes, so a long bin in many chunks costs linear time)
        self.pieces: list[np.ndarray] = []

    def update(self, values: np.ndarray, bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add records; return the bins they complete (see :meth:`BinReducer.update`)."""
        where = "BinQuantile.update"
        v = as_values(values, self.width, where)
        b = as_int64_column(bins, v.shape[0], "bins", where)
        if len(b):
            prev = np.concatenate(([self.open_bin if self.open_bin is not None else b[0]], b[:-1]))
            bad = np.flatnonzero(b < prev)
            if len(bad):
                raise _order_error(where, int(bad[0]), b,
                                   self.open_bin if self.open_bin is not None else 0)
        if not len(b):
            return np.empty(0, dtype=np.int64), np.empty((0, len(self.q), self.width))
        if self.open_bin is not None and b[-1] == self.open_bin:
            self.pieces.append(v.copy())  # all in the open bin
            return np.empty(0, dtype=np.int64), np.empty((0, len(self.q), self.width))
        if self.open_bin is not None:
            held = np.concatenate(self.pieces) if self.pieces else np.empty((0, self.width))
            v = np.concatenate((held, v))
            b = np.concatenate((np.full(len(held), self.open_bin, dtype=np.int64), b))
        last = int(b[-1])
        done = int(np.searchsorted(b, last, side="left"))
        self.pieces = [v[done:].copy()]
        self.open_bin = last
        return self._quantiles(v[:done], b[:done])

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        """Complete the open bin and empty the state (see :meth:`BinReducer.flush`)."""
        if self.open_bin is None:
            return np.empty(0, dtype=np.int64), np.empty((0, len(self.q), self.width))
        v = np.concatenate(self.pieces)
        b = np.full(len(v), self.open_bin, dtype=np.int64)
        self.open_bin = None
        self.pieces = []
        return self._quantiles(v, b)

    def _quantiles(self, v: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nq = len(self.q)
        if not len(b):
            return np.empty(0, dtype=np.int64), np.empty((0, nq, self.width))
        starts = np.flatnonzero(np.concatenate(([True], b[1:] != b[:-1])))
        ids = np.cumsum(np.concatenate(([0], (b[1:] != b[:-1]).astype(np.int64))))
        k = len(starts)
        out = np.empty((k, nq, self.width), dtype=np.float64)
        for j in range(self.width):  # a Python loop per value of the record, not per bin
            col = v[:, j]
            order = np.lexsort((col, b))  # by bin, then value; NaN last within a bin
            s = col[order]
            good = np.bincount(ids, weights=~np.isnan(col), minlength=k).astype(np.int64)
            for qi, q in enumerate(self.q):
                pos = q * (good - 1).astype(np.float64)
                lo = np.floor(pos).astype(np.int64)
                hi = np.minimum(lo + 1, np.maximum(good - 1, 0))
                frac = pos - lo
                lo_v = s[starts + np.maximum(lo, 0)]
                hi_v = s[starts + hi]
                res = _lerp(lo_v, hi_v, frac)
                out[:, qi, j] = np.where(good > 0, res, np.nan)
        return b[starts].copy(), out
