"""Scan stages, exact to numpy: ``cummin``, ``cummax``, ``cumcount`` and ``diff``.

Each stage carries a small state across chunks (the last running value, the
running counts, or the last ``n`` records) and gives, for any chunking of
the input, the same output bit for bit as the numpy expression on the whole
array (``np.minimum.accumulate(x, axis=0)``, ``np.diff(x, n, axis=0)``, ...).
They are generator stages for :meth:`pystream.stream.Stream.pipe`: Python
runs once per chunk, empty chunks are never yielded, and the upstream
iterator is closed when the stage stops.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..reducers import check_nan_policy
from .structural import _close, check_count, first_nan_record, nan_error

__all__ = ["CumCount", "CumMax", "CumMin", "Diff"]


class _CumExtreme:
    """Shared implementation of :class:`CumMin` and :class:`CumMax`."""

    name: str = ""
    _ufunc: np.ufunc = np.minimum
    _neutral: float = np.inf  # fills NaNs under nan_policy="omit"

    def __init__(self, nan_policy: str = "propagate") -> None:
        self.nan_policy: str = check_nan_policy(nan_policy, self.name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(nan_policy={self.nan_policy!r})"

    def output_meta(
        self, dtype: np.dtype, record_shape: tuple[int, ...]
    ) -> tuple[np.dtype, tuple[int, ...]]:
        """Return the input's ``(dtype, record_shape)``.

        Raises
        ------
        TypeError
            Unless the dtype is bool, integer or float.

        Examples
        --------
        >>> CumMax().output_meta(np.dtype("u1"), (3,))
        (dtype('uint8'), (3,))
        """
        dt = np.dtype(dtype)
        if dt.kind not in "biuf":
            raise TypeError(f"{self.name}: needs a bool, integer or float dtype, got {dt}")
        return dt, tuple(record_shape)

    def __call__(self, chunks: Iterator[np.ndarray], start: int = 0) -> Iterator[np.ndarray]:
        """Yield the running extreme, chunk by chunk.

        With ``nan_policy="raise"`` the records before the first NaN are
        yielded, then :class:`ValueError` names the NaN's global record index.

        Examples
        --------
        >>> import numpy as np
        >>> [c.tolist() for c in CumMin()(iter([np.array([3, 1]), np.array([2, 0])]))]
        [[3, 1], [1, 0]]
        """
        ufunc = self._ufunc
        omit = self.nan_policy == "omit"
        check = self.nan_policy == "raise"
        try:
            carry: np.ndarray | None = None  # last running value, shape (1, *rs)
            seen: np.ndarray | None = None  # omit: a non-NaN value was seen, per value
            first: np.ndarray | None = None  # omit: the first record (NaN until a value is seen)
            pos = 0
            for c in chunks:
                k = len(c)
                if not k:
                    continue
                floaty = c.dtype.kind == "f"
                bad = -1
                if check and floaty:
                    bad = first_nan_record(c)
                    if bad >= 0:
                        c = c[:bad]
                        k = bad
                if k:
                    if omit and floaty:
                        # fmin/fmax semantics through minimum/maximum (whose ties
                        # are the same in every numpy loop): NaNs become the
                        # neutral element, and the positions where no value has
                        # been seen yet keep the first record's NaN.
                        isnan = np.isnan(c)
                        fill = np.array(self._neutral, dtype=c.dtype)
                        vals = np.where(isnan, fill, c)
                        now = np.logical_or.accumulate(~isnan, axis=0)
                        if carry is None:
                            first = c[:1].copy()
                            acc = ufunc.accumulate(vals, axis=0)
                        else:
                            now |= seen
                            acc = ufunc.accumulate(np.concatenate((carry, vals)), axis=0)[1:]
                        carry = acc[-1:].copy()
                        seen = now[-1:].copy()
                        out = acc if now.all() else np.where(now, acc, first)
                    elif carry is None:
                        out = ufunc.accumulate(c, axis=0)
                        carry = out[-1:].copy()
                    else:
                        # Same sequential recurrence as on the whole array:
                        # out[i] = ufunc(out[i - 1], x[i]), seeded with the carry.
                        out = ufunc.accumulate(np.concatenate((carry, c)), axis=0)[1:]
                        carry = out[-1:].copy()
                    yield out
                    del out
                if bad >= 0:
                    raise nan_error(self.name, start + pos + bad)
                pos += k
        finally:
            _close(chunks)


class CumMin(_CumExtreme):
    """Running minimum per value of the record, bit-identical to numpy.

    ``nan_policy="propagate"`` gives ``np.minimum.accumulate(x, axis=0)`` (a
    NaN propagates to the end of the stream), ``"omit"`` gives the values of
    ``np.fmin.accumulate(x, axis=0)`` (NaNs are skipped; NaN until the first
    non-NaN value), ``"raise"`` raises :class:`ValueError` at the first NaN,
    naming its global record index (the records before it are yielded
    first).  The dtype is kept; bool, integer and float dtypes are accepted
    (others raise :class:`TypeError` in :meth:`output_meta`).

    Notes
    -----
    ``np.fmin`` resolves a tie between ``-0.0`` and ``+0.0`` differently in
    its scalar and SIMD loops, so ``np.fmin.accumulate`` itself depends on
    the array's layout.  To be independent of the chunking, ``"omit"`` is
    computed with ``np.minimum`` (NaNs replaced by ``+inf``), whose ties are
    the same in every loop: the later zero wins, exactly as in
    ``np.minimum.accumulate``; positions with no value yet keep the first
    record's NaN.  Only the sign of such zeros can differ from
    ``np.fmin.accumulate``.

    Parameters
    ----------
    nan_policy : {"propagate", "omit", "raise"}, optional

    Raises
    ------
    ValueError
        If `nan_policy` is not one of the allowed values.

    Examples
    --------
    >>> import numpy as np
    >>> from pystream.sources import from_array
    >>> st = CumMin(nan_policy="omit")
    >>> s = from_array(np.array([np.nan, 3.0, 1.0, np.nan, 2.0]), chunk_size=2)
    >>> s.pipe(st, dtype=s.dtype, record_shape=s.record_shape).to_array()
    array([nan,  3.,  1.,  1.,  1.])
    """

    name: str = "cummin"
    _ufunc = np.minimum
    _neutral = np.inf


class CumMax(_CumExtreme):
    """Running maximum per value of the record, bit-identical to numpy.

    ``nan_policy="propagate"`` gives ``np.maximum.accumulate(x, axis=0)``,
    ``"omit"`` gives the values of ``np.fmax.accumulate(x, axis=0)``,
    ``"raise"`` raises :class:`ValueError` at the first NaN, naming its
    global record index.  The dtype is kept; bool, integer and float dtypes
    are accepted.  Signed-zero ties under ``"omit"`` follow ``np.maximum``
    (see :class:`CumMin`).

    Parameters
    ----------
    nan_policy : {"propagate", "omit", "raise"}, optional

    Raises
    ------
    ValueError
        If `nan_policy` is not one of the allowed values.

    Examples
    --------
    >>> import numpy as np
    >>> from pystream.sources import from_array
    >>> s = from_array(np.array([[1, 5], [4, 2], [3, 6]]), chunk_size=1)
    >>> s.pipe(CumMax(), dtype=s.dtype, record_shape=s.record_shape).to_array()
    array([[1, 5],
           [4, 5],
           [4, 6]])
    """

    name: str = "cummax"
    _ufunc = np.maximum
    _neutral = -np.inf


class CumCount:
    """Running count of values per value of the record (int64).

    At record ``i`` the output is the number of values counted in records
    ``0..i`` at that position of the record.  ``nan_policy="omit"`` (the
    default) counts the non-NaN values, ``"propagate"`` counts every value
    (NaN included, i.e. ``i + 1``), ``"raise"`` counts every value and
    raises :class:`ValueError` at the first NaN, naming its global record
    index.  For bool and integer input (no NaN) the count is ``i + 1``.
    Bool, integer, float and complex dtypes are accepted (a complex value
    is NaN when either part is).

    Parameters
    ----------
    nan_policy : {"omit", "propagate", "raise"}, optional

    Raises
    ------
    ValueError
        If `nan_policy` is not one of the allowed values.

    Examples
    --------
    >>> import numpy as np
    >>> from pystream.sources import from_array
    >>> st = CumCount()
    >>> s = from_array(np.array([1.0, np.nan, 2.0, np.nan]), chunk_size=3)
    >>> dt, rs = st.output_meta(s.dtype, s.record_shape)
    >>> s.pipe(st, dtype=dt, record_shape=rs).to_array()
    array([1, 1, 2, 2])
    """

    name: str = "cumcount"

    def __init__(self, nan_policy: str = "omit") -> None:
        self.nan_policy: str = check_nan_policy(nan_policy, self.name)

    def __repr__(self) -> str:
        return f"CumCount(nan_policy={self.nan_policy!r})"

    def output_meta(
        self, dtype: np.dtype, record_shape: tuple[int, ...]
    ) -> tuple[np.dtype, tuple[int, ...]]:
        """Return ``(int64, record_shape)``.

        Raises
        ------
        TypeError
            Unless the dtype is bool, integer, float or complex.

        Examples
        --------
        >>> CumCount().output_meta(np.dtype("f4"), (2, 2))
        (dtype('int64'), (2, 2))
        """
        dt = np.dtype(dtype)
        if dt.kind not in "biufc":
            raise TypeError(
                f"{self.name}: needs a bool, integer, float or complex dtype, got {dt}"
            )
        return np.dtype(np.int64), tuple(record_shape)

    def __call__(self, chunks: Iterator[np.ndarray], start: int = 0) -> Iterator[np.ndarray]:
        """Yield the running counts, chunk by chunk.

        Examples
        --------
        >>> import numpy as np
        >>> [c.tolist() for c in CumCount()(iter([np.array([1.0, np.nan]), np.array([2.0])]))]
        [[1, 1], [2]]
        """
        policy = self.nan_policy
        try:
            carry: np.ndarray | None = None  # counts so far, shape (1, *rs) (omit only)
            pos = 0
            for c in chunks:
                k = len(c)
                if not k:
                    continue
                floaty = c.dtype.kind in "fc"
                bad = -1
                if policy == "raise" and floaty:
                    bad = first_nan_record(c)
                    if bad >= 0:
                        c = c[:bad]
                        k = bad
                if k:
                    if policy == "omit" and floaty:
                        out = np.cumsum(~np.isnan(c), axis=0, dtype=np.int64)
                        if carry is not None:
                            out += carry
                        carry = out[-1:].copy()
                    else:
                        out = np.empty(c.shape, dtype=np.int64)
                        idx = np.arange(pos + 1, pos + k + 1, dtype=np.int64)
                        out[...] = idx.reshape((k,) + (1,) * (c.ndim - 1))
                        carry = np.full((1, *c.shape[1:]), pos + k, dtype=np.int64)
                    yield out
                    del out
                if bad >= 0:
                    raise nan_error(self.name, start + pos + bad)
                pos += k
        finally:
            _close(chunks)


class Diff:
    """The `n`-th order discrete difference along the stream, exactly :func:`numpy.diff`.

    The output equals ``np.diff(x, n=n, axis=0)`` bit for bit: ``N - n``
    records for ``N > n`` input records (none otherwise), the same record
    shape, and numpy's dtype: bool input uses ``np.not_equal`` (the output is
    bool), integer input keeps its dtype and **wraps around** on overflow (so
    unsigned differences wrap modulo ``2**bits``, e.g. ``uint8`` ``1 - 2`` is
    ``255``), datetime64 gives timedelta64.  ``n=0`` passes the input through
    unchanged.  The last `n` records are carried across chunks.

    Parameters
    ----------
    n : int, optional
        Order of the difference (``>= 0``).

    Raises
    ------
    TypeError
        If `n` is not an integer (bools are refused).
    ValueError
        If `n` < 0.

    Examples
    --------
    >>> import numpy as np
    >>> from pystream.sources import from_array
    >>> st = Diff(2)
    >>> s = from_array(np.array([1, 4, 9, 16, 25], dtype=np.uint8), chunk_size=2)
    >>> dt, rs = st.output_meta(s.dtype, s.record_shape)
    >>> s.pipe(st, dtype=dt, record_shape=rs).to_array()
    array([2, 2, 2], dtype=uint8)
    """

    name: str = "diff"

    def __init__(self, n: int = 1) -> None:
        self.n: int = check_count(n, "n", self.name, minimum=0)

    def __repr__(self) -> str:
        return f"Diff(n={self.n})"

    def partitioning(self) -> Any:
        """How outputs depend on inputs, for the parallel engines
        (:mod:`pystream.engines.plan`): output ``i`` is computed from inputs
        ``[i, i + n]``."""
        from ..engines.plan import POINTWISE, Records

        return Records(self.n + 1, 1) if self.n else POINTWISE

    def output_meta(
        self, dtype: np.dtype, record_shape: tuple[int, ...]
    ) -> tuple[np.dtype, tuple[int, ...]]:
        """Return the dtype :func:`numpy.diff` gives and the input's record shape.

        Raises
        ------
        TypeError
            For object dtypes and dtypes numpy cannot subtract (strings...).

        Examples
        --------
        >>> Diff().output_meta(np.dtype(bool), ())
        (dtype('bool'), ())
        >>> Diff().output_meta(np.dtype("M8[s]"), (2,))
        (dtype('<m8[s]'), (2,))
        """
        dt = np.dtype(dtype)
        rs = tuple(record_shape)
        if dt.kind == "O":
            raise TypeError(f"{self.name}: object dtypes are not supported")
        if self.n == 0:
            return dt, rs
        try:
            out = np.diff(np.zeros((self.n + 1, *rs), dtype=dt), n=self.n, axis=0)
        except TypeError as e:
            raise TypeError(f"{self.name}: unsupported dtype {dt}: {e}") from None
        return out.dtype, rs

    def __call__(self, chunks: Iterator[np.ndarray], start: int = 0) -> Iterator[np.ndarray]:
        """Yield the differences, chunk by chunk.

        Examples
        --------
        >>> import numpy as np
        >>> [c.tolist() for c in Diff()(iter([np.array([1, 3]), np.array([6])]))]
        [[2], [3]]
        """
        n = self.n
        try:
            if n == 0:
                for c in chunks:
                    if len(c):
                        yield c
                return
            pieces: list[np.ndarray] = []  # the last records seen (at most n once output starts)
            npending = 0
            for c in chunks:
                k = len(c)
                if not k:
                    continue
                if npending + k <= n:
                    pieces.append(c)
                    npending += k
                    continue
                buf = np.concatenate((*pieces, c)) if pieces else c
                # Each output record depends on n + 1 consecutive inputs only, and
                # np.diff computes it by the same operations whatever the buffer.
                yield np.diff(buf, n=n, axis=0)
                pieces = [buf[-n:]]
                npending = n
                del buf
        finally:
            _close(chunks)
