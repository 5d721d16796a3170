"""Streaming least squares: :class:`LeastSquares`, the mergeable state of exact
cross-products behind ``Stream.ols`` (C kernel ``csrc/crossprod.c``)."""

from __future__ import annotations

import json
import struct
import threading
from fractions import Fraction
from typing import Any

import numpy as np

from .._checks import StateLock, check_nan_policy, restore_state
from .._native import as_array, check_status, ffi, lib, prepare_chunk
from .exact import BIN_BIAS, BIN_BITS, RankDeficient, entry_ints, solve, sqrt_float, to_float, triangle_index
from .result import OLSResult, column_label, resolve_columns

__all__ = ["LeastSquares", "OLSResult", "bad_record_error"]

_MAGIC = b"PSLSQ\x00\x00\x01"
_NAN = float("nan")


def bad_record_error(bad: tuple[int, int], names: tuple[str, ...] | None) -> ValueError:
    """The error of ``nan_policy="raise"`` for a NaN or infinity at (record, column)."""
    rec, col = bad
    return ValueError(f"ols: NaN or infinity at record {rec}, column "
                      f"{column_label(col, names)!r} (nan_policy='raise'); use "
                      "nan_policy='omit' to drop records with NaN")


class LeastSquares:
    """Mergeable state of an ordinary least-squares fit, exact in the data.

    For records ``z = (1, x..., y)`` (the 1 with `intercept`) the state
    holds ``n`` and the exact sums of every product ``z_a * z_b``: ``X'X``,
    ``X'y``, ``y'y`` and the column sums, in fixed-point integers wide
    enough for any product of two doubles (no rounding, no overflow).
    :meth:`result` solves the normal equations exactly on those integers
    and rounds each statistic once to float64: the exact least-squares
    fit of the float64 data.  Because the sums are exact, any chunking,
    any partitioning and any merge order give the same bytes.

    Cost: ``m (m + 1) / 2`` integer multiply-adds per record for ``m =
    len(x) + 1 + intercept`` columns; memory a few hundred bytes per pair
    for data within a few binades (at most 8.6 KB per pair), whatever the
    number of records.

    Parameters
    ----------
    y : int
        Position of the response in each record (negative counts from
        the end).
    x : sequence of int, optional
        Positions of the regressors; default every column but `y`
        (resolved at the first update).
    intercept : bool, optional
        Add a constant term (default True).
    start : int, optional
        Global index of the first record (named in NaN errors).
    names : sequence of str, optional
        Names of the record's columns, used to label the terms.

    Notes
    -----
    Records are read as float64 (float32 and integers are converted, so
    int64 values beyond 2**53 are rounded as ``astype(float64)`` does).
    Records with a NaN or an infinity in `y` or `x` never enter the sums:
    they are counted, and :meth:`result` applies `nan_policy`.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> a = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0], [3.0, 7.5]])
    >>> left, right = ps.LeastSquares(1), ps.LeastSquares(1, start=2)
    >>> left.update(a[:2]).merge(right.update(a[2:])).result().coef.tolist()
    [0.9, 2.15]

    The exact answer rounded once (numpy's lstsq is within a few ulps of it):

    >>> coef = np.linalg.lstsq(np.c_[np.ones(4), a[:, 0]], a[:, 1], rcond=None)[0]
    >>> np.allclose(coef, [0.9, 2.15], rtol=1e-14, atol=0)
    True
    """

    __slots__ = ("_y", "_x", "_intercept", "_start", "_names", "_width", "_state", "_lock")

    def __init__(self, y: int, x: Any = None, *, intercept: bool = True, start: int = 0,
                 names: Any = None) -> None:
        if not isinstance(intercept, (bool, np.bool_)):
            raise TypeError(f"LeastSquares: intercept must be True or False, got {intercept!r}")
        xs = None if x is None else ([x] if isinstance(x, (str, int, np.integer)) else list(x))
        if isinstance(y, str) or (xs is not None and any(isinstance(c, str) for c in xs)):
            raise TypeError("LeastSquares: y and x are positions here; Stream.ols resolves "
                            "column names")
        self._y = y
        self._x = xs
        self._intercept = bool(intercept)
        self._start = int(start)
        if self._start < 0:
            raise ValueError(f"LeastSquares: start must be >= 0, got {start}")
        self._names = None if names is None else tuple(str(n) for n in names)
        self._width: int | None = None  # record width, fixed by the first update
        self._state: Any = None
        self._lock = threading.Lock()

    # -- properties ------------------------------------------------------------
    @property
    def start(self) -> int:
        """Global index of the first record."""
        return self._start

    @property
    def stop(self) -> int:
        """Global index after the last record seen."""
        return self._start if self._state is None else self._info().stop

    @property
    def nobs(self) -> int:
        """Records in the sums (every value finite)."""
        return 0 if self._state is None else self._info().nobs

    @property
    def first_bad(self) -> tuple[int, int] | None:
        """(global record, column) of the first NaN or infinity, or None."""
        if self._state is None:
            return None
        info = self._info()
        if info.first_bad < 0:
            return None
        return int(info.first_bad), int(self._cols()[info.first_bad_col])

    def _info(self) -> Any:
        info = ffi.new("ps_xprod_info *")
        check_status(lib.ps_xprod_info_of(self._state, info), "LeastSquares")
        return info

    def _cols(self) -> list[int]:
        """The columns read, in the kernel's order: the regressors, then y."""
        assert self._x is not None
        return [*self._x, self._y]

    def __repr__(self) -> str:
        return (f"<pystream.LeastSquares y={self._y} x={self._x} intercept={self._intercept} "
                f"[{self.start}, {self.stop}) nobs={self.nobs}>")

    # -- updates ---------------------------------------------------------------
    def _bind(self, d: int) -> None:
        """Resolve the columns for records of `d` values and make the C state."""
        y, xs = resolve_columns(self._y, self._x, d, None, "LeastSquares")
        self._y, self._x = y, list(xs)
        self._width = d
        out = ffi.new("ps_xprod **")
        check_status(lib.ps_xprod_new(out, len(xs) + 1, int(self._intercept), self._start),
                     "LeastSquares")
        self._state = ffi.gc(out[0], lib.ps_xprod_free)

    def update(self, chunk: Any) -> LeastSquares:
        """Add the records of `chunk` (shape ``(k, d)``, ``d >= 2``).

        Any layout is read in place (strided, negative strides, read-only);
        byte-swapped, misaligned, float32 and integer input is converted to
        float64.

        Returns
        -------
        LeastSquares
            ``self``.

        Raises
        ------
        ValueError
            Scalar records (a 1-D stream), or another record width than
            the state's.
        TypeError
            Input that is not real numbers.
        """
        a = as_array(chunk, "LeastSquares.update")
        if a.ndim != 2 or a.shape[1] < 2:
            raise ValueError(
                "LeastSquares.update: a multivariate statistic needs records of at least 2 "
                f"columns (a chunk of shape (k, d), d >= 2); got a chunk of shape {a.shape}")
        if a.dtype.kind not in "fiub":
            raise TypeError(f"LeastSquares.update: expected real numbers, got dtype {a.dtype}")
        if a.dtype != np.float64:
            a = a.astype(np.float64)
        with StateLock(self._lock, "LeastSquares.update"):
            if self._state is None:
                self._bind(a.shape[1])
            if self._width is not None and a.shape[1] != self._width:
                raise ValueError(f"LeastSquares.update: records of {a.shape[1]} columns, but "
                                 f"the state's records have {self._width}")
            cols = self._cols()
            ki = prepare_chunk(a, "LeastSquares.update")
            offsets = ffi.new("int64_t[]", [c * ki.value_stride for c in cols])
            check_status(lib.ps_xprod_update(self._state, ki.pointer, ki.n, ki.record_stride,
                                             offsets), "LeastSquares.update")
        return self

    def merge(self, other: LeastSquares) -> LeastSquares:
        """Add the state of the records right after this state's, in place.

        Raises
        ------
        ValueError
            Not adjacent (``self.stop != other.start``), or another choice
            of columns or intercept.
        """
        if not isinstance(other, LeastSquares):
            raise TypeError(f"can only merge a LeastSquares, not {type(other).__name__}")
        if other is self:
            raise ValueError("cannot merge a LeastSquares with itself")
        with StateLock(self._lock, "LeastSquares.merge"), \
                StateLock(other._lock, "LeastSquares.merge"):
            if self.stop != other.start:
                raise ValueError(f"cannot merge states covering [{self.start}, {self.stop}) and "
                                 f"[{other.start}, {other.stop}): they are not adjacent")
            if other._state is None:
                return self
            if self._intercept != other._intercept:
                raise ValueError("LeastSquares.merge: one state fits an intercept and the "
                                 "other does not")
            if self._state is None:
                self._y, self._x = other._y, list(other._cols()[:-1])
                self._width = other._width
                out = ffi.new("ps_xprod **")
                check_status(lib.ps_xprod_copy(out, other._state), "LeastSquares.merge")
                self._state = ffi.gc(out[0], lib.ps_xprod_free)
                return self
            if self._cols() != other._cols() or self._width != other._width:
                raise ValueError("LeastSquares.merge: the states read other columns "
                                 f"(y={self._y}, x={self._x}, intercept={self._intercept} vs "
                                 f"y={other._y}, x={other._x}, intercept={other._intercept})")
            check_status(lib.ps_xprod_merge(self._state, other._state), "LeastSquares.merge")
        return self

    def copy(self) -> LeastSquares:
        """An independent copy."""
        return LeastSquares.from_bytes(self.to_bytes())

    # -- results ---------------------------------------------------------------
    def gram(self) -> tuple[list[list[int]], int]:
        """The exact sums as integers: ``(G, s)`` with ``G[a][b] * 2**s`` the sum of
        ``z_a * z_b`` over the records, ``z = (1, x..., y)`` (1 with the intercept).

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> g, s = ps.LeastSquares(1).update(np.array([[0.5, 2.0], [1.5, 4.0]])).gram()
        >>> [[v * 2.0 ** s for v in row] for row in g]
        [[2.0, 2.0, 6.0], [2.0, 2.5, 7.0], [6.0, 7.0, 20.0]]
        """
        with StateLock(self._lock, "LeastSquares.gram"):
            if self._state is None:
                m = 1 + int(self._intercept) + (len(self._x) if self._x is not None else 0)
                return [[0] * m for _ in range(m)], 0
            info = self._info()
            m, entries, width = int(info.m), int(info.entries), int(info.width)
            low = np.zeros((entries, max(width - 1, 0)), np.uint8)
            top = np.zeros(entries, np.int64)
            check_status(lib.ps_xprod_sums(self._state, ffi.from_buffer(low),
                                           ffi.cast("int64_t *", top.ctypes.data)),
                         "LeastSquares.gram")
            ints = entry_ints(low, top) if width else [0] * entries
            idx = triangle_index(m)
            return [[ints[idx[a][b]] for b in range(m)] for a in range(m)], \
                BIN_BITS * int(info.lo) - BIN_BIAS

    def result(self, nan_policy: str = "propagate", y_name: str | None = None) -> OLSResult:
        """The least-squares fit of the records seen so far.

        Parameters
        ----------
        nan_policy : {"propagate", "omit", "raise"}
            ``"propagate"``: every statistic NaN if a record held a NaN or
            an infinity in y or x; ``"omit"``: records with a NaN in y or
            any x are dropped (statsmodels' ``missing="drop"``), an
            infinity still gives NaN; ``"raise"``: ValueError naming the
            first record with a NaN or infinity and its column.
        y_name : str, optional
            The response's label (default its column name or position).

        Raises
        ------
        ValueError
            No records, or `nan_policy` "raise" with a NaN or infinity.
        pystream.multivariate.exact.RankDeficient
            (a ValueError) The regressors are linearly dependent over the
            records (a constant column besides the intercept, fewer records
            than terms...): the message names the dependent columns.
        """
        check_nan_policy(nan_policy, "LeastSquares.result")
        names = self._term_names()
        yl = y_name or (column_label(self._y, self._names) if isinstance(self._y, int)
                        else str(self._y))
        bad = self.first_bad
        if bad is not None and nan_policy == "raise":
            raise bad_record_error(bad, self._names)
        info = self._info() if self._state is not None else None
        p = len(names)
        if info is not None and (info.inf_records or (nan_policy == "propagate"
                                                      and info.nan_records)):
            nan = np.full(p, _NAN)
            return OLSResult(nan, nan.copy(), _NAN, _NAN, int(info.nobs),
                             int(info.nobs) - p, _NAN, names, yl)
        n = 0 if info is None else int(info.nobs)
        if n == 0:
            raise ValueError("ols: no records to fit" + (" (every record held a NaN)"
                                                         if info is not None and
                                                         info.nan_records else ""))
        gram, _scale = self.gram()
        try:
            sol = solve(gram, p)
        except RankDeficient as e:
            raise RankDeficient(self._rank_message(e.dependent, names, n), e.dependent) from None
        df = n - p
        coef = np.array([to_float(c) for c in sol.coef])
        if df > 0:
            s2 = sol.rss / df                      # in units of 2**scale; inv_diag in 2**-scale
            stderr = np.array([sqrt_float(s2 * v) for v in sol.inv_diag])
            resid_std = sqrt_float(sol.rss * Fraction(2) ** _scale / df)
        else:
            stderr = np.full(p, _NAN)
            resid_std = _NAN
        yy = Fraction(gram[p][p])
        if self._intercept:
            tss = yy - Fraction(gram[0][p]) ** 2 / gram[0][0]
        else:
            tss = yy
        r2 = to_float(1 - sol.rss / tss) if tss != 0 else _NAN
        rss = to_float(sol.rss * Fraction(2) ** _scale)
        return OLSResult(coef, stderr, resid_std, r2, n, df, rss, names, yl)

    def _term_names(self) -> tuple[str, ...]:
        xs = self._x or []
        terms = [column_label(c, self._names) if isinstance(c, int) else str(c) for c in xs]
        return ("intercept", *terms) if self._intercept else tuple(terms)

    @staticmethod
    def _rank_message(dependent: list[int], names: tuple[str, ...], n: int) -> str:
        dep = [names[i] for i in dependent]
        first = dependent[0]
        before = ", ".join(repr(t) for t in names[:first]) or "nothing"
        why = (f" (only {n} records for {len(names)} terms)" if n < len(names) else "")
        return (f"ols: the regressors are linearly dependent{why}: {dep[0]!r} is an exact "
                f"linear combination of {before} over the {n} records"
                + (f"; dependent terms: {dep}" if len(dep) > 1 else "")
                + "; drop it (or intercept=False for a constant column)")

    # -- serialization ---------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Versioned bytes: a small header (columns, intercept, start, names) and the
        C state's checksummed little-endian bytes."""
        header = json.dumps({"y": self._y, "x": self._x, "intercept": self._intercept,
                             "start": self._start, "names": self._names,
                             "width": self._width}).encode()
        body = b""
        with StateLock(self._lock, "LeastSquares.to_bytes"):
            if self._state is not None:
                size = ffi.new("size_t *")
                check_status(lib.ps_xprod_serialize(self._state, ffi.NULL, 0, size),
                             "LeastSquares.to_bytes")
                buf = bytearray(size[0])
                check_status(lib.ps_xprod_serialize(self._state, ffi.from_buffer(buf),
                                                    len(buf), size), "LeastSquares.to_bytes")
                body = bytes(buf)
        return _MAGIC + struct.pack("<Q", len(header)) + header + body

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> LeastSquares:
        """Rebuild a state from :meth:`to_bytes` output.

        Raises
        ------
        ValueError
            Truncated, corrupt or unknown bytes.
        """
        raw = bytes(memoryview(data).cast("B"))
        where = "LeastSquares.from_bytes"
        if len(raw) < 16 or raw[:8] != _MAGIC:
            raise ValueError(f"{where}: not a LeastSquares state (bad magic or truncated)")
        (hlen,) = struct.unpack("<Q", raw[8:16])
        if hlen > len(raw) - 16:
            raise ValueError(f"{where}: corrupt state (header length)")
        try:
            h = json.loads(raw[16:16 + hlen].decode())
            y, x, intercept, start, names, width = (h["y"], h["x"], h["intercept"], h["start"],
                                                    h["names"], h["width"])
            ok = (isinstance(y, int) and isinstance(intercept, bool) and isinstance(start, int)
                  and (x is None or (isinstance(x, list) and all(isinstance(c, int) for c in x)))
                  and (width is None or (isinstance(width, int) and width >= 2))
                  and (names is None or (isinstance(names, list)
                                         and all(isinstance(c, str) for c in names))))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            ok = False
        if not ok or start < 0:
            raise ValueError(f"{where}: corrupt state (header)")
        new = cls(y, x, intercept=intercept, start=start, names=names)
        body = raw[16 + hlen:]
        if body:
            if x is None or width is None or not 0 <= y < width or min(x, default=0) < 0 \
                    or max(x, default=0) >= width:
                raise ValueError(f"{where}: corrupt state (unresolved columns with data)")
            out = ffi.new("ps_xprod **")
            check_status(lib.ps_xprod_deserialize(out, ffi.from_buffer(body), len(body)), where)
            new._state = ffi.gc(out[0], lib.ps_xprod_free)
            new._width = width
            info = new._info()
            if (info.ncols != len(x) + 1 or bool(info.intercept) != intercept
                    or info.start != start):
                raise ValueError(f"{where}: corrupt state (header and body disagree)")
        return new

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (restore_state, (LeastSquares, self.to_bytes()))

    def __copy__(self) -> LeastSquares:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> LeastSquares:
        return self.copy()
