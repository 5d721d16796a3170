"""Moving co-moments (issue 21): the C kernel's Python face (:func:`comoving`,
``csrc/comoving.c``) and the checkpointable state of a window of records
(:class:`CoMovingState`).

Each output is a function of its window's values and global row indices only
(the split rule of ``csrc/comoving.c``: no value is ever subtracted), so a
call on [the last ``window - 1`` records + a chunk] gives the same bytes as one
call over everything: the state keeps those records, which is also all a
checkpoint holds.  The slow twins are in :mod:`pystream.stages.comoving_twins`.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._checks import StateLock, restore_state
from .._columns import column_positions
from .._native import check_status, ffi, kernel_dtype, lib

__all__ = ["COMOVING_STATS", "CoMovingState", "comoving", "out_shape", "positions", "comoving_columns"]

#: The statistics of :func:`comoving`, in the C enum's order (``PS_COMOVE_*``).
COMOVING_STATS: tuple[str, ...] = ("cov", "corr", "beta")

_CODE = {name: code for code, name in enumerate(COMOVING_STATS)}
_MAGIC = b"PSCOMOV1"
_HEADER = struct.Struct("<8sqqqqqdq")   # magic, stat, window, min_count, propagate, k, ddof, position


def out_shape(k: int) -> tuple[int, ...]:
    """The output record's shape for `k` columns: a value for a pair, else ``(k, k)``.

    Examples
    --------
    >>> out_shape(2), out_shape(3)
    ((), (3, 3))
    """
    return () if k == 2 else (k, k)


def comoving(stat: str, values: np.ndarray, starts: np.ndarray | None, base: int, *,
             end0: int | None = None, ends: np.ndarray | None = None, nout: int | None = None,
             window: int = 0, min_count: int = 1, propagate: bool = False, ddof: float = 1.0,
             out: np.ndarray | None = None) -> np.ndarray:
    """Moving covariance, correlation or slope over windows given as row ranges.

    Parameters
    ----------
    stat : {"cov", "corr", "beta"}
        ``beta`` (two columns only) is the slope of column 1 on column 0.
    values : ndarray
        ``(n, k)`` C-contiguous float64 rows, ``k >= 2``.
    starts : ndarray or None
        int64, one per output: the first row of its window (non-decreasing);
        None: windows of `window` rows (``max(0, end - window)``).
    base : int
        Global index of row 0 (the split rule works on global rows).
    end0 : int, optional
        Window ``i`` ends at ``end0 + i`` (exclusive); or give `ends`.
    ends : ndarray, optional
        int64, the end (exclusive) of each window (non-decreasing).
    nout : int, optional
        Number of outputs when `starts` and `ends` are None.
    window : int
        Rows per window when `starts` is None.
    min_count : int, default 1
        Least number of records valid for a pair for a non-NaN output.
    propagate : bool, default False
        A record with a NaN in a pair's columns makes the pair's output NaN.
    ddof : float, default 1
        ``cov`` only: divisor ``count - ddof``.
    out : ndarray, optional
        C-contiguous float64 of the output's shape, written in place.

    Returns
    -------
    ndarray
        float64 of shape ``(nout, *out_shape(k))``.

    Raises
    ------
    ValueError
        For windows out of range or out of order, or bad parameters.

    Examples
    --------
    >>> x = np.array([[1.0, 2.0], [2.0, 4.0], [4.0, 5.0]])
    >>> comoving("cov", x, np.array([0, 0, 1]), 0, end0=1, min_count=2)
    array([nan,  1.,  1.])
    >>> comoving("cov", x, None, 0, end0=1, nout=3, window=2, min_count=2)
    array([nan,  1.,  1.])
    """
    # The kernel reads aligned float64 rows: a misaligned (or strided) view is
    # copied here, whatever the caller checked (np.ascontiguousarray keeps a
    # contiguous but misaligned array as it is).
    values = np.require(values, np.float64, ["C_CONTIGUOUS", "ALIGNED"])
    n, k = values.shape
    bad = ffi.new("int64_t *")
    starts_p = ends_p = ffi.NULL
    if starts is not None:
        starts = np.ascontiguousarray(starts, dtype=np.int64)
        starts_p = ffi.from_buffer("int64_t[]", starts)
        nout = len(starts)
    if ends is not None:
        ends = np.ascontiguousarray(ends, dtype=np.int64)
        if nout is not None and len(ends) != nout:
            raise ValueError(f"comoving: {nout} windows but {len(ends)} ends")
        ends_p = ffi.from_buffer("int64_t[]", ends)
        nout = len(ends)
    elif end0 is None:
        raise TypeError("comoving: give end0 or ends")
    if nout is None:
        raise TypeError("comoving: give starts, ends or nout")
    if out is None:
        out = np.empty((nout, *out_shape(k)))
    status = lib.ps_comoving(_CODE[stat], ffi.from_buffer("double[]", values), n, k, starts_p,
                             ends_p, 0 if end0 is None else end0, nout, window, base, min_count,
                             1 if propagate else 0, ddof,
                             ffi.from_buffer("double[]", out, require_writable=True), bad)
    if status == lib.PS_ERR_ARG:
        where = f" (window {bad[0]})" if bad[0] >= 0 else ""
        raise ValueError(f"comoving: invalid arguments{where}: stat={stat!r}, {n} rows of {k} "
                         f"columns, min_count={min_count}, ddof={ddof}, base={base}")
    check_status(status, f"comoving: {n} rows of {k} columns")
    return out


def comoving_columns(columns: Any, names: Sequence[str] | None, where: str) -> list[int] | None:
    """`columns` (names or integer positions, as ``select``) as positions; None stays None.
    Positions are checked against the records' width later (:func:`positions`).

    Examples
    --------
    >>> comoving_columns(["b", 0], ("a", "b"), "moving_cov")
    [1, 0]
    """
    return None if columns is None else column_positions(columns, None, names, where)


def positions(columns: list[int] | None, record_shape: tuple[int, ...], where: str) -> np.ndarray:
    """The column positions read from records of `record_shape` (checked)."""
    if len(record_shape) != 1 or record_shape[0] < 2:
        raise ValueError(f"{where}: a multivariate statistic needs records of at least 2 "
                         f"columns (record shape (d,) with d >= 2), got records of shape "
                         f"{tuple(record_shape)}")
    d = record_shape[0]
    if columns is None:
        return np.arange(d)
    for c in columns:
        if not -d <= c < d:
            raise IndexError(f"{where}: column {c} is out of range for records of {d} columns")
    return np.array([c % d for c in columns], dtype=np.intp)


class CoMovingState:
    """The checkpointable state of a moving covariance / correlation / slope over a
    window of records: the last ``window - 1`` records (selected columns, float64)
    and the global position.

    Parameters
    ----------
    stat : {"cov", "corr", "beta"}
    window : int
        Records per window, ``>= 1``.
    min_count : int
        Least number of records valid for a pair for a non-NaN output.
    propagate : bool
        A NaN in a pair's window gives NaN.
    ddof : float
        ``cov`` only.
    columns : ndarray of int
        Positions of the columns read from each input record (at least 2).
    start : int, default 0
        Global index of the first record.

    Examples
    --------
    >>> import pickle
    >>> s = CoMovingState("corr", 3, 3, False, 1.0, np.array([0, 1]))
    >>> s.update(np.array([[1.0, 2.0], [2.0, 3.0]]))
    array([nan, nan])
    >>> t = pickle.loads(pickle.dumps(s))     # a checkpoint continues bit for bit
    >>> t.update(np.array([[3.0, 1.0]]))
    array([-0.5])
    """

    __slots__ = ("_lock", "columns", "ddof", "min_count", "position", "propagate", "stat",
                 "tail", "window")

    def __init__(self, stat: str, window: int, min_count: int, propagate: bool, ddof: float,
                 columns: np.ndarray, start: int = 0) -> None:
        if stat not in _CODE:
            raise ValueError(f"CoMovingState: unknown statistic {stat!r}; expected one of "
                             f"{COMOVING_STATS}")
        self.stat = stat
        self.window = int(window)
        self.min_count = int(min_count)
        self.propagate = bool(propagate)
        self.ddof = float(ddof)
        self.columns = np.asarray(columns, dtype=np.intp)
        self.position = int(start)
        self.tail = np.empty((0, len(self.columns)))
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<CoMovingState moving_{self.stat}({self.window}) at record {self.position}>"

    def update(self, chunk: np.ndarray, buffer: np.ndarray | None = None) -> np.ndarray:
        """Feed records of shape ``(m,)`` (``m`` > every column read); return their outputs.

        `buffer` (a uint8 array) holds the output when it is large enough
        (the pusher's pooled memory); otherwise a new array does.
        """
        chunk = np.asarray(chunk)
        if chunk.dtype != np.float64:
            kernel_dtype(chunk.dtype, f"moving_{self.stat}")
        k = len(self.columns)
        if chunk.ndim != 2 or chunk.shape[1] <= int(self.columns.max()):
            raise ValueError(f"moving_{self.stat}: chunk at record {self.position} has records "
                             f"of shape {chunk.shape[1:]}, this state reads columns "
                             f"{self.columns.tolist()}")
        whole = chunk.shape[1] == k and bool((self.columns == np.arange(k)).all())
        if whole and chunk.dtype == np.float64 and chunk.flags.c_contiguous \
                and chunk.flags.aligned:
            rows = chunk                               # no copy
        else:
            rows = np.ascontiguousarray(chunk if whole else chunk[:, self.columns],
                                        dtype=np.float64)
        n = len(rows)
        shape = out_shape(k)
        size = n * (1 if k == 2 else k * k)
        if buffer is not None and buffer.nbytes >= 8 * size:
            out = buffer[:8 * size].view(np.float64).reshape(n, *shape)
        else:
            out = np.empty((n, *shape))
        w = self.window
        kw = {"window": w, "min_count": self.min_count, "propagate": self.propagate,
              "ddof": self.ddof}
        with StateLock(self._lock, "CoMovingState.update"):
            tail = self.tail
            held = len(tail)
            # the first outputs, whose windows reach back into the kept records, from
            # [kept + their rows]; the others straight from the chunk (no copy of it)
            m = min(n, w - 1) if held else 0
            if m:
                head = np.concatenate([tail, rows[:m]])
                comoving(self.stat, head, None, self.position - held, end0=held + 1, nout=m,
                         out=out[:m], **kw)
            if n > m:
                comoving(self.stat, rows, None, self.position, end0=m + 1, nout=n - m,
                         out=out[m:], **kw)
            keep = w - 1
            if n >= keep:
                self.tail = rows[n - keep:].copy()
            else:
                self.tail = np.concatenate([tail, rows])[-keep:].copy() if keep else tail
            self.position += n
        return out

    def flush(self) -> np.ndarray:
        """Nothing is pending at the end of a stream: an empty array."""
        return np.empty((0, *out_shape(len(self.columns))))

    def to_bytes(self) -> bytes:
        """Serialize: the parameters, the position and the kept records, checksummed."""
        head = _HEADER.pack(_MAGIC, _CODE[self.stat], self.window, self.min_count,
                            int(self.propagate), len(self.columns), self.ddof, self.position)
        body = head + self.columns.astype("<i8").tobytes() + struct.pack("<q", len(self.tail)) \
            + self.tail.astype("<f8").tobytes()
        return body + struct.pack("<I", zlib.crc32(body))

    @classmethod
    def from_bytes(cls, data: bytes) -> CoMovingState:
        """Rebuild a state from :meth:`to_bytes`; ``ValueError`` for corrupt bytes."""
        data = bytes(data)
        bad = ValueError("CoMovingState.from_bytes: truncated or corrupt bytes")
        if len(data) < _HEADER.size + 12 or struct.unpack("<I", data[-4:])[0] != \
                zlib.crc32(data[:-4]):
            raise bad
        magic, code, window, mc, prop, k, ddof, pos = _HEADER.unpack_from(data)
        if magic != _MAGIC or not 0 <= code < len(COMOVING_STATS) or window < 1 or \
                not 1 <= mc <= max(window, 1) or prop not in (0, 1) or k < 2 or \
                not ddof >= 0 or pos < 0:
            raise bad
        at = _HEADER.size
        if len(data) < at + 8 * k + 12:
            raise bad
        columns = np.frombuffer(data, "<i8", k, at).astype(np.intp)
        (held,) = struct.unpack_from("<q", data, at + 8 * k)
        at += 8 * k + 8
        if columns.min() < 0 or held < 0 or held > min(window - 1, pos) or \
                len(data) != at + 8 * held * k + 4:
            raise bad
        state = cls(COMOVING_STATS[code], window, mc, bool(prop), ddof, columns, pos)
        state.tail = np.frombuffer(data, "<f8", held * k, at).astype(np.float64).reshape(held, k)
        return state

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (restore_state, (CoMovingState, self.to_bytes()))
