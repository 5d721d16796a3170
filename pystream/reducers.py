"""Mergeable, serializable reducer states backed by the C core: :class:`Moments`
(its result, :class:`~pystream.Description`, is in pystream.description).
"""

from __future__ import annotations

import dataclasses
import operator
import threading
from typing import Any

import numpy as np

from ._checks import (
    NAN_POLICIES,
    NanPolicy,
    StateLock,
    check_ddof,
    check_nan_policy,
    restore_state,
)
from ._native import as_array, check_status, dtype_from_code, ffi, lib, prepare_chunk
from .description import (
    DEFAULT_QUANTILES,
    Description,
    _shape_description,
    format_quantile,
    format_statistic,
    quantile_label,
)

__all__ = ["DEFAULT_QUANTILES", "Moments", "Description", "NAN_POLICIES", "check_ddof",
           "check_nan_policy", "format_quantile", "format_statistic", "quantile_label"]


def describe_result(m: Moments, sketch: Any, qs: tuple[float, ...], ddof: float,
                    nan_policy: str) -> Description:
    """``describe()``'s result from its state: the moments and, when quantiles
    were asked for, the column sketches (:class:`~pystream.sketches.columns.ColumnQuantiles`)."""
    return with_quantiles(m.result(ddof=ddof, nan_policy=nan_policy),  # type: ignore[arg-type]
                          sketch, qs, nan_policy)


def with_quantiles(d: Description, sketch: Any, qs: tuple[float, ...],
                   nan_policy: str) -> Description:
    """`d` with the quantiles of the column sketches `sketch` (None: `d` itself)."""
    if sketch is None:
        return d
    values = sketch.result(qs, nan_policy, d.record_shape)
    return dataclasses.replace(
        d, quantiles=values, quantile_method=sketch.make.method,
        quantile_error=sketch.uncertainty(qs, values, nan_policy, d.record_shape))


class _ChunkAt:
    """Names the chunk being added in error messages, formatted lazily."""

    __slots__ = ("state",)

    def __init__(self, state: Any) -> None:
        self.state = state

    def __str__(self) -> str:
        return f"chunk at record {lib.ps_moments_stop(self.state)}"

    __format__ = lambda self, spec: str(self)  # noqa: E731


class Moments:
    """Streaming moments state: count, NaN count, sum, mean, M2, min, max.

    Parameters
    ----------
    start : int, default 0
        Global index (in the stream) of the first record this state will
        see.  States of contiguous partitions merge when
        ``left.stop == right.start``.

    Notes
    -----
    Results are bit-identical for any chunking, and merging contiguous
    partitions in any order reproduces the serial result bit for bit.
    Integer sums are exact (128-bit in C).  One state is owned by one thread
    at a time: concurrent calls raise ``RuntimeError``.  Memory stays
    bounded: at most ~2 * 63 block summaries and two partial blocks (about
    1024 values each) per value of the record.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> a = ps.Moments().update(np.array([1.0, 2.0, 3.0]))
    >>> b = ps.Moments(start=3).update(np.array([4.0, 5.0]))
    >>> a.merge(b)
    <pystream.Moments [0, 5) float64>
    >>> float(a.result().mean), float(a.result(ddof=1).var)
    (3.0, 2.5)
    """

    __slots__ = ("_state", "_lock", "_code", "_shape")

    def __init__(self, start: int = 0) -> None:
        start = operator.index(start)
        if start < 0:
            raise ValueError(f"start must be >= 0; got {start}")
        out = ffi.new("ps_moments **")
        check_status(lib.ps_moments_new(out, lib.PS_DTYPE_UNSET, 0, ffi.NULL, start),
                     "Moments()")
        self._lock = threading.Lock()
        self._adopt(out[0])

    def _adopt(self, raw_state: Any) -> None:
        """Own a new C state; cache its dtype code and record shape (they
        only change when the state object changes or gets its type)."""
        self._state = ffi.gc(raw_state, lib.ps_moments_free)
        self._read_type()

    def _read_type(self) -> None:
        state = self._state
        self._code = int(lib.ps_moments_dtype(state))
        self._shape = tuple(int(lib.ps_moments_shape(state, k))
                            for k in range(lib.ps_moments_ndim(state)))

    # -- properties ---------------------------------------------------------
    @property
    def start(self) -> int:
        """Global index of the first record covered."""
        return int(lib.ps_moments_start(self._state))

    @property
    def stop(self) -> int:
        """Global index one past the last record covered."""
        return int(lib.ps_moments_stop(self._state))

    @property
    def dtype(self) -> np.dtype | None:
        """dtype the kernel reads (None before the first update)."""
        return None if self._code == lib.PS_DTYPE_UNSET else dtype_from_code(self._code)

    @property
    def record_shape(self) -> tuple[int, ...] | None:
        """Shape of one record (None before the first update)."""
        return None if self._code == lib.PS_DTYPE_UNSET else self._shape

    @property
    def first_nan(self) -> int | None:
        """Global index of the first record holding a NaN, or None."""
        k = int(lib.ps_moments_first_nan(self._state))
        return None if k < 0 else k

    def __repr__(self) -> str:
        dt = self.dtype
        shape = self.record_shape
        kind = "untyped" if dt is None else (f"{dt}" + (f" records {shape}" if shape else ""))
        return f"<pystream.Moments [{self.start}, {self.stop}) {kind}>"

    # -- updates ------------------------------------------------------------
    def update(self, chunk: np.ndarray) -> Moments:
        """Add the records of ``chunk`` (shape ``(k, *record_shape)``).

        Parameters
        ----------
        chunk : ndarray
            Any layout: strided input is read in place; byte-swapped,
            misaligned and float16 input is converted.  Not modified.

        Returns
        -------
        Moments
            ``self``.

        Raises
        ------
        TypeError
            Unsupported dtype, or a dtype other than the stream's; input
            that is not an array of numbers.
        ValueError
            A record shape other than the stream's, or records that hold
            no values.  (A 0-d array is one scalar record, as in the
            sketches.)
        """
        chunk = as_array(chunk, "Moments.update")  # geometry from the buffer
        if not self._lock.acquire(False):
            StateLock(self._lock, "Moments.update").__enter__()  # raises the busy error
        try:
            where = _ChunkAt(self._state)
            ki = prepare_chunk(chunk, where)
            if ki.code != self._code or chunk.shape[1:] != self._shape:
                self._set_or_refuse_type(chunk, ki.code, where)
            status = lib.ps_moments_update(self._state, ki.pointer, ki.n,
                                           ki.record_stride, ki.value_stride)
            if status:
                check_status(status, str(where))
        finally:
            self._lock.release()
        return self

    def _set_or_refuse_type(self, chunk: np.ndarray, code: int, where: object) -> None:
        if self._code == lib.PS_DTYPE_UNSET:
            shape = chunk.shape[1:]
            dims = ffi.new("int64_t[]", list(shape)) if shape else ffi.NULL
            check_status(lib.ps_moments_set_type(self._state, code, len(shape), dims),
                         str(where))
            self._read_type()
        elif code != self._code:
            raise TypeError(f"{where}: dtype {chunk.dtype} does not match the stream's "
                            f"{dtype_from_code(self._code)}")
        else:
            raise ValueError(f"{where}: record shape {chunk.shape[1:]} does not match the "
                             f"stream's {self._shape}")

    def merge(self, other: Moments) -> Moments:
        """Merge an adjacent state into this one, in place.

        Parameters
        ----------
        other : Moments
            Covers the records right after this state
            (``self.stop == other.start``) or right before it
            (``other.stop == self.start``).  Not modified.

        Returns
        -------
        Moments
            ``self``, now covering both ranges.

        Raises
        ------
        ValueError
            If the states are not adjacent (merging unordered pieces would
            not be reproducible, so it is refused).
        TypeError
            If the dtypes or record shapes differ.
        """
        if not isinstance(other, Moments):
            raise TypeError(f"can only merge a Moments, not {type(other).__name__}")
        if other is self:
            if self.start == self.stop:
                return self
            raise ValueError("cannot merge a non-empty Moments with itself")
        with StateLock(self._lock, "Moments.merge"), StateLock(other._lock, "Moments.merge"):
            a0, a1 = self.start, self.stop
            b0, b1 = other.start, other.stop
            if a1 == b0:
                check_status(lib.ps_moments_merge(self._state, other._state),
                             f"merging [{a0}, {a1}) with [{b0}, {b1})")
                self._read_type()
            elif b1 == a0:
                out = ffi.new("ps_moments **")
                check_status(lib.ps_moments_copy(out, other._state), "merge")
                left = ffi.gc(out[0], lib.ps_moments_free)
                check_status(lib.ps_moments_merge(left, self._state),
                             f"merging [{b0}, {b1}) with [{a0}, {a1})")
                self._state = left
                self._read_type()
            else:
                raise ValueError(
                    f"cannot merge states covering [{a0}, {a1}) and [{b0}, {b1}): "
                    "they are not adjacent (one must stop where the other starts)"
                )
        return self

    def copy(self) -> Moments:
        """An independent copy of this state."""
        new = Moments.__new__(Moments)
        out = ffi.new("ps_moments **")
        with StateLock(self._lock, "Moments.copy"):
            check_status(lib.ps_moments_copy(out, self._state), "Moments.copy")
        new._lock = threading.Lock()
        new._adopt(out[0])
        return new

    # -- results ------------------------------------------------------------
    def result(self, ddof: float = 0, nan_policy: NanPolicy = "propagate") -> Description:
        """Summary statistics of the records seen so far.

        Parameters
        ----------
        ddof : float, default 0
            Delta degrees of freedom: ``var = M2 / (count - ddof)``, NaN
            when ``count - ddof <= 0`` (as pandas).
        nan_policy : {"propagate", "omit", "raise"}
            What NaNs do: make the statistics NaN (numpy's default), be
            skipped (``np.nanmean`` & co.), or raise ``ValueError`` naming
            the first record holding one.

        Returns
        -------
        Description
        """
        check_ddof(ddof, "Moments.result")
        check_nan_policy(nan_policy, "Moments.result")
        with StateLock(self._lock, "Moments.result"):
            return self._result(ddof, nan_policy)

    def _result(self, ddof: float, nan_policy: str) -> Description:
        state = self._state
        code = lib.ps_moments_dtype(state)
        if code == lib.PS_DTYPE_UNSET:
            nan = np.float64("nan")
            return Description(0, 0, np.float64(0.0), nan, nan, nan, nan, nan,
                               ddof, nan_policy, (), None)
        first_nan = int(lib.ps_moments_first_nan(state))
        if nan_policy == "raise" and first_nan >= 0:
            raise ValueError(f"NaN at record {first_nan} (nan_policy='raise')")
        dtype = dtype_from_code(code)
        shape = self._shape
        d = int(lib.ps_moments_width(state))
        arrays = {
            "count": np.empty(d, np.int64), "nan_count": np.empty(d, np.int64),
            "sum": np.empty(d), "mean": np.empty(d), "m2": np.empty(d),
            "min": np.empty(d), "max": np.empty(d),
            "isum_hi": np.empty(d, np.int64), "isum_lo": np.empty(d, np.uint64),
            "imin": np.empty(d, np.int64), "imax": np.empty(d, np.int64),
        }
        out = ffi.new("ps_moments_out *")
        for name, arr in arrays.items():
            setattr(out, name, ffi.cast(ffi.typeof(getattr(out, name)), arr.ctypes.data))
        check_status(lib.ps_moments_result(state, out), "Moments.result")

        stats = moment_statistics(arrays, dtype, ddof, nan_policy)
        return description_of(stats, slice(None), ddof, nan_policy, shape, dtype)

    # -- serialization ------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Serialize: versioned, checksummed, little-endian bytes."""
        size = ffi.new("size_t *")
        with StateLock(self._lock, "Moments.to_bytes"):
            check_status(lib.ps_moments_serialize(self._state, ffi.NULL, 0, size),
                         "Moments.to_bytes")
            buf = bytearray(size[0])
            check_status(lib.ps_moments_serialize(self._state, ffi.from_buffer(buf),
                                                  len(buf), size), "Moments.to_bytes")
        return bytes(buf)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Moments:
        """Rebuild a state from :meth:`to_bytes` output.

        Raises
        ------
        ValueError
            Truncated, corrupt or unknown-version bytes, or a state no data
            could produce, even under a valid checksum (a negative M2, a mean
            or sum outside what min and max allow, ...; see the design notes,
            "What from_bytes guarantees").
        MemoryError
            A possible state too large for this machine (a header claiming
            records of up to 2**40 values).
        TypeError
            ``data`` is not bytes-like.
        """
        try:
            view = memoryview(data).cast("B")
        except TypeError:
            raise TypeError(f"Moments.from_bytes expects bytes, not {type(data).__name__}") from None
        raw = bytes(view)
        out = ffi.new("ps_moments **")
        check_status(lib.ps_moments_deserialize(out, ffi.from_buffer(raw), len(raw)),
                     "Moments.from_bytes")
        new = cls.__new__(cls)
        new._lock = threading.Lock()
        new._adopt(out[0])
        return new

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (restore_state, (Moments, self.to_bytes()))

    def __copy__(self) -> Moments:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> Moments:
        return self.copy()


def moment_statistics(arrays: dict[str, np.ndarray], dtype: np.dtype, ddof: float,
                      nan_policy: str) -> dict[str, Any]:
    """The statistics of ``ps_moments_result``'s arrays, value by value (arrays of any
    length: one state's values, or several keys' states one after the other).

    ``sum`` is a list of exact Python ints for integer dtypes (see
    :func:`description_of`), a float64 array otherwise; under
    ``nan_policy="propagate"`` the statistics of a value that saw a NaN are NaN.
    """
    count, nan_count = arrays["count"], arrays["nan_count"]
    empty = count == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        dof = count - ddof
        var = np.where(dof > 0, arrays["m2"] / np.where(dof > 0, dof, 1), np.nan)
        std = np.sqrt(var)
    mean, fsum = arrays["mean"], arrays["sum"]
    if dtype.kind in "biu":
        unsigned = dtype.kind in "bu"
        lo = arrays["isum_lo"].tolist()
        hi = arrays["isum_hi"].tolist()
        exact = [h * 2**64 + l for h, l in zip(hi, lo)]
        bits = np.uint64 if unsigned else np.int64
        vmin = arrays["imin"].view(bits).astype(dtype)
        vmax = arrays["imax"].view(bits).astype(dtype)
        if empty.any():
            vmin = np.where(empty, np.nan, vmin)
            vmax = np.where(empty, np.nan, vmax)
        return {"count": count, "nan_count": nan_count, "sum": exact, "mean": mean, "var": var,
                "std": std, "min": vmin, "max": vmax}
    vmin = arrays["min"].astype(dtype)
    vmax = arrays["max"].astype(dtype)
    if nan_policy == "propagate":
        has_nan = nan_count > 0
        if has_nan.any():
            fsum = np.where(has_nan, np.nan, fsum)
            mean = np.where(has_nan, np.nan, mean)
            var = np.where(has_nan, np.nan, var)
            std = np.where(has_nan, np.nan, std)
            vmin = np.where(has_nan, np.nan, vmin).astype(dtype)
            vmax = np.where(has_nan, np.nan, vmax).astype(dtype)
    return {"count": count, "nan_count": nan_count, "sum": fsum, "mean": mean, "var": var,
            "std": std, "min": vmin, "max": vmax}


def description_of(stats: dict[str, Any], part: slice, ddof: float, nan_policy: str,
                   shape: tuple[int, ...], dtype: np.dtype) -> Description:
    """The :class:`Description` of the values `part` of :func:`moment_statistics`'s
    output (one state's, or one key's)."""
    total = stats["sum"][part]
    if dtype.kind in "biu":
        total = _int_sums(total, dtype.kind in "bu")
    return _shape_description(stats["count"][part], stats["nan_count"][part], total,
                              stats["mean"][part], stats["var"][part], stats["std"][part],
                              stats["min"][part], stats["max"][part], ddof, nan_policy, shape,
                              dtype)


def _int_sums(exact: list[int], unsigned: bool) -> Any:
    """Exact integer sums: int64/uint64 when they fit, else Python ints."""
    lo, hi = (0, 2**64 - 1) if unsigned else (-(2**63), 2**63 - 1)
    if all(lo <= v <= hi for v in exact):
        return np.array(exact, dtype=np.uint64 if unsigned else np.int64)
    return np.array(exact, dtype=object)
