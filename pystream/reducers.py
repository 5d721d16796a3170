"""Mergeable, serializable reducer states backed by the C core.

:class:`Moments` accumulates count, NaN count, sum, mean, M2 (for var/std
with any ``ddof``), min and max of a stream, per value of the record.  Its
result is bit-identical for any chunking of the stream, and merging the
states of contiguous partitions gives the bit-identical result of the serial
run (see ``csrc/pystream.h`` for how).
"""

from __future__ import annotations

import math
import operator
import threading
import dataclasses
from dataclasses import dataclass, field
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

__all__ = ["DEFAULT_QUANTILES", "Moments", "Description", "NAN_POLICIES", "check_ddof",
           "check_nan_policy", "format_quantile", "format_statistic", "quantile_label"]

#: The quantiles :meth:`pystream.Stream.describe` estimates by default.
DEFAULT_QUANTILES: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def quantile_label(q: float) -> str:
    """``0.01`` -> ``"p1"``, ``0.999`` -> ``"p99.9"``: the name of a quantile in tables."""
    return "p" + f"{q * 100:.10g}"

def describe_result(m: Moments, sketch: Any, qs: tuple[float, ...], ddof: float,
                    nan_policy: str) -> Description:
    """``describe()``'s result from its state: the moments and, when quantiles
    were asked for, the column sketches (:class:`~pystream.sketches.columns.ColumnQuantiles`)."""
    d = m.result(ddof=ddof, nan_policy=nan_policy)  # type: ignore[arg-type]
    if sketch is not None:
        values = sketch.result(qs, nan_policy, d.record_shape)
        d = dataclasses.replace(
            d, quantiles=values, quantile_method=sketch.make.method,
            quantile_error=sketch.uncertainty(qs, values, nan_policy, d.record_shape))
    return d


@dataclass(frozen=True, eq=False)
class Description:
    """One-pass summary statistics of a stream.

    For a stream of scalars every attribute is a scalar; for a stream of
    records of shape ``record_shape`` every attribute is an array of that
    shape (statistics along the stream axis, value by value).

    Attributes
    ----------
    count : int or ndarray
        Number of non-NaN values.
    nan_count : int or ndarray
        Number of NaN values (always reported, whatever ``nan_policy``).
    sum : float, int or ndarray
        Sum (float64 for float input; for integer input the exact sum, a
        Python ``int`` for scalar streams).
    mean, var, std : float or ndarray
        float64; ``var`` divides M2 by ``count - ddof`` (NaN when <= 0).
    min, max : scalar or ndarray
        In the dtype the kernel read (the stream's, except float16, which
        is read widened to float32); NaN for an empty stream.
    ddof : float
        Delta degrees of freedom used for ``var`` and ``std``.
    nan_policy : str
        ``"propagate"`` (statistics are NaN where a NaN was seen, like
        numpy) or ``"omit"`` (NaNs skipped, like ``np.nan*``).
    quantiles : dict of float to float or ndarray
        Probability -> estimated quantile; empty when
        ``describe(quantiles=())``.  With ``quantile_method="kll"`` (the
        default) a value of the data whose rank is within 1 % of ``q``
        (probability >= 99 % per quantile); with ``"relative"`` within 1 %
        of ``np.quantile(x, q, method="lower")`` in value.
    quantile_method : str or None
        ``"kll"`` or ``"relative"``; None without quantiles.
    quantile_error : dict of float to float or ndarray
        Probability -> width of the value range the method's guarantee
        leaves for that quantile: ``"kll"``, the difference of the
        estimates at ``q + 0.01`` and ``q - 0.01`` (0: a tied value covers
        that rank range, the value is then exact); ``"relative"``,
        ``0.02 * |value|``.  The printed digits follow it.

    Two descriptions are equal when every statistic is (NaN equal to NaN).
    The repr prints what is meaningful: counts in full, ``sum``, ``mean``,
    ``std`` and ``var`` to 7 significant digits, ``min`` and ``max`` (exact
    values of the data) to 12, and each quantile to one digit finer than
    its ``quantile_error`` (see :meth:`formatted`).
    """

    count: Any
    nan_count: Any
    sum: Any
    mean: Any
    var: Any
    std: Any
    min: Any
    max: Any
    ddof: float = 0
    nan_policy: str = "propagate"
    record_shape: tuple[int, ...] = ()
    dtype: Any = field(default=None, compare=False)
    quantiles: dict[float, Any] = field(default_factory=dict)
    quantile_method: str | None = field(default=None, compare=False)
    quantile_error: dict[float, Any] = field(default_factory=dict, compare=False, repr=False)

    STATS = ("count", "nan_count", "mean", "std", "var", "min", "max", "sum")

    __hash__ = None  # type: ignore[assignment]  # holds arrays and a dict

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Description):
            return NotImplemented
        if (self.ddof, self.nan_policy, tuple(self.record_shape)) != \
                (other.ddof, other.nan_policy, tuple(other.record_shape)):
            return False
        if list(self.quantiles) != list(other.quantiles):
            return False
        pairs = [(getattr(self, n), getattr(other, n)) for n in self.STATS]
        pairs += [(self.quantiles[q], other.quantiles[q]) for q in self.quantiles]
        return all(_same(a, b) for a, b in pairs)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values (ints, floats, nested lists), JSON-friendly
        except that NaN stays ``float('nan')``."""
        out: dict[str, Any] = {}
        for name in self.STATS:
            value = getattr(self, name)
            out[name] = value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value
        if self.quantiles:
            out["quantiles"] = {quantile_label(q): v.tolist() if isinstance(v, np.ndarray) else v
                                for q, v in self.quantiles.items()}
        out["ddof"] = self.ddof
        out["nan_policy"] = self.nan_policy
        return out

    def formatted(self) -> dict[str, list[str]]:
        """Every statistic as text with the digits that are meaningful.

        Returns
        -------
        dict of str to list of str
            Name (``"count"``, ..., ``"p50"``) -> one string per value of the
            record (one for a scalar stream), in C order: counts in full;
            ``sum`` / ``mean`` / ``std`` / ``var`` to 7 significant digits
            (float64 accumulations; more digits would claim more than the
            inputs usually hold); ``min`` / ``max`` (exact values of the
            data) to 12 significant digits for float64, in full for integers
            and float32; quantiles to one digit finer than their
            :attr:`quantile_error` (12 significant digits when that is 0: a
            tied value, exact).  The command line's table uses it.

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> x = 280.0 + np.arange(1000.0) / 100
        >>> f = ps.from_array(x).describe().formatted()
        >>> f["mean"], f["min"], f["p50"]
        (['284.995'], ['280'], ['284.99'])
        """
        out: dict[str, list[str]] = {}
        integral = self.dtype is not None and np.dtype(self.dtype).kind in "iub"
        for name in self.STATS:
            flat = np.asarray(getattr(self, name), dtype=object).reshape(-1)
            kind = "moment" if name in ("sum", "mean", "std", "var") else "exact"
            out[name] = [format_statistic(v, kind) for v in flat]
        for q, value in self.quantiles.items():
            vals = np.asarray(value, dtype=np.float64).reshape(-1)
            err = self.quantile_error.get(q)
            errs = (np.full(vals.shape, np.nan) if err is None
                    else np.asarray(err, dtype=np.float64).reshape(-1))
            out[quantile_label(q)] = [format_quantile(v, e, integral, self.dtype)
                                      for v, e in zip(vals, errs)]
        return out

    def __repr__(self) -> str:
        head = f"Description(dtype={self.dtype}, record_shape={self.record_shape}, " \
               f"ddof={self.ddof}, nan_policy={self.nan_policy!r}" + \
               (f", quantile_method={self.quantile_method!r})" if self.quantile_method else ")")
        rows = []
        for name, texts in self.formatted().items():
            if self.record_shape == ():
                rows.append(f"  {name:<10} {texts[0]}")
                continue
            if len(texts) > 20:
                texts = [*texts[:3], "...", *texts[-3:]]
            rows.append(f"  {name:<10} [{' '.join(texts)}]")
        return "\n".join([head, *rows])


def _special(v: float) -> str | None:
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return None


def format_statistic(value: Any, kind: str = "exact") -> str:
    """`value` as text: ``kind="moment"``: 7 significant digits for floats;
    ``"exact"`` (a value of the data): 12 significant digits for float64
    (beyond them a value is mostly rounding noise such as
    ``1.3999999999999773``), the shortest text for float32 / float16.
    Integers are printed in full either way."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):d}"
    v = float(value)
    special = _special(v)
    if special is not None:
        return special
    if kind == "moment":
        return f"{v:.7g}"
    if isinstance(value, np.floating) and np.finfo(value.dtype).precision < 15:
        return str(value)                    # float32/16: their shortest text
    return f"{v:.12g}"


def format_quantile(value: float, error: float, integral: bool = False,
                    dtype: Any = None) -> str:
    """A quantile estimate to one digit finer than `error`, the width of the
    value range its guarantee allows (NaN: unknown, 7 significant digits;
    0: exact, 12 significant digits, or the shortest text of the float
    `dtype` of the data).  `integral`: the data are integers, so an
    integral value below 2**53 prints as one when its digits are all
    meaningful."""
    v = float(value)
    special = _special(v)
    if special is not None:
        return special
    if not math.isfinite(error):
        return f"{v:.7g}"
    e = math.floor(math.log10(error)) - 1 if error > 0.0 else -1   # resolution 10**e
    if integral and v.is_integer() and abs(v) < 2.0**53 and e < 0:
        return f"{int(v):d}"
    if error <= 0.0:                         # a tied value, exact: as min / max
        if dtype is not None and np.dtype(dtype).kind == "f":
            return format_statistic(np.dtype(dtype).type(v))
        return f"{v:.12g}"
    if v and math.floor(math.log10(abs(v))) - e + 1 > 12:
        return f"{v:.12g}"                   # no more than a value of the data gets
    if abs(v) < 1e15 and e > -10:
        text = f"{v:.{-e}f}" if e < 0 else f"{round(v, -e):.0f}"
        # a small negative value rounded to zero prints as zero, not "-0.000"
        return text[1:] if text.startswith("-") and not text.strip("-0.") else text
    top = math.floor(math.log10(abs(v))) if v else e
    sig = max(1, min(17, top - e + 1))
    return f"{v:#.{sig}g}"                  # "#": trailing zeros are digits too


def _same(a: Any, b: Any) -> bool:
    """Equal values or arrays, NaN equal to NaN (object arrays of ints too)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


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
            isum = _int_sums(exact, unsigned)
            bits = np.uint64 if unsigned else np.int64
            vmin = arrays["imin"].view(bits).astype(dtype)
            vmax = arrays["imax"].view(bits).astype(dtype)
            if empty.any():
                vmin = np.where(empty, np.nan, vmin)
                vmax = np.where(empty, np.nan, vmax)
            return _shape_description(count, nan_count, isum, mean, var, std, vmin,
                                      vmax, ddof, nan_policy, shape, dtype)
        vmin = arrays["min"].astype(dtype)
        vmax = arrays["max"].astype(dtype)
        if nan_policy == "propagate" and first_nan >= 0:
            has_nan = nan_count > 0
            fsum = np.where(has_nan, np.nan, fsum)
            mean = np.where(has_nan, np.nan, mean)
            var = np.where(has_nan, np.nan, var)
            std = np.where(has_nan, np.nan, std)
            vmin = np.where(has_nan, np.nan, vmin).astype(dtype)
            vmax = np.where(has_nan, np.nan, vmax).astype(dtype)
        return _shape_description(count, nan_count, fsum, mean, var, std, vmin, vmax,
                                  ddof, nan_policy, shape, dtype)

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


def _int_sums(exact: list[int], unsigned: bool) -> Any:
    """Exact integer sums: int64/uint64 when they fit, else Python ints."""
    lo, hi = (0, 2**64 - 1) if unsigned else (-(2**63), 2**63 - 1)
    if all(lo <= v <= hi for v in exact):
        return np.array(exact, dtype=np.uint64 if unsigned else np.int64)
    return np.array(exact, dtype=object)


def _shape_description(count: np.ndarray, nan_count: np.ndarray, total: Any,
                       mean: np.ndarray, var: np.ndarray, std: np.ndarray,
                       vmin: np.ndarray, vmax: np.ndarray, ddof: float,
                       nan_policy: str, shape: tuple[int, ...],
                       dtype: np.dtype) -> Description:
    if shape == ():
        def scalar(a: np.ndarray) -> Any:
            return a.reshape(())[()]
        s = total[0]
        s = int(s) if total.dtype.kind in "iuO" else np.float64(s)
        return Description(int(count[0]), int(nan_count[0]), s, np.float64(mean[0]),
                           np.float64(var[0]), np.float64(std[0]), scalar(vmin),
                           scalar(vmax), ddof, nan_policy, (), dtype)
    return Description(count.reshape(shape), nan_count.reshape(shape), total.reshape(shape),
                       mean.reshape(shape), var.reshape(shape), std.reshape(shape),
                       vmin.reshape(shape), vmax.reshape(shape), ddof, nan_policy,
                       shape, dtype)
