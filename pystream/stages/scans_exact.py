"""The scans exact to numpy, ``cummin``, ``cummax``, ``cumcount`` and ``diff``
(their rows are in :mod:`pystream.stages.scans`' table): bit for bit the numpy
expression on the whole array, for any chunking (``docs/internals/stages.rst``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .._checks import check_count, check_nan_policy, first_nan_record, nan_error
from .._columns import ALIGNED, RowMap
from .pushers import drive
from .partitioning import POINTWISE, Records

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

    def rows(self) -> RowMap:
        """Which input record gives each output its time and key: its own
        (:class:`pystream.RowMap`; see ``docs/design.md``, "Tables")."""
        return ALIGNED

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

    def push(self, start: int = 0) -> _CumExtremePusher:
        """A fresh pusher for one pass (the push form; see :mod:`pystream.stages.pushers`).

        Parameters
        ----------
        start : int, optional
            Global index of the first record (named in the NaN error).

        Examples
        --------
        >>> import numpy as np
        >>> p = CumMax().push()
        >>> [c.tolist() for c in p.send(np.array([1, 3]))], [c.tolist() for c in p.send(np.array([2]))]
        ([[1, 3]], [[3]])
        """
        return _CumExtremePusher(self, start)

    def __call__(self, chunks: Iterator[np.ndarray], start: int = 0) -> Iterator[np.ndarray]:
        """Yield the running extreme, chunk by chunk (the pull form of :meth:`push`).

        With ``nan_policy="raise"`` the records before the first NaN are
        yielded, then :class:`ValueError` names the NaN's global record index.

        Examples
        --------
        >>> import numpy as np
        >>> [c.tolist() for c in CumMin()(iter([np.array([3, 1]), np.array([2, 0])]))]
        [[3, 1], [1, 0]]
        """
        return drive(self.push(start), chunks)


class _CumExtremePusher:
    """The state machine of :class:`CumMin` / :class:`CumMax` (a pusher)."""

    __slots__ = ("_carry", "_check", "_first", "_name", "_neutral", "_omit", "_pos", "_seen",
                 "_start", "_ufunc", "done", "error")

    def __init__(self, stage: _CumExtreme, start: int) -> None:
        self._name = stage.name
        self._ufunc = stage._ufunc
        self._neutral = stage._neutral
        self._omit = stage.nan_policy == "omit"
        self._check = stage.nan_policy == "raise"
        self._start = start
        self._pos = 0  # records seen (counted with nan_policy="raise" only)
        self._carry: np.ndarray | None = None  # last running value, shape (1, *rs)
        self._seen: np.ndarray | None = None  # omit: a non-NaN value was seen, per value
        self._first: np.ndarray | None = None  # omit: the first record (NaN until a value is seen)
        self.done = False
        self.error: BaseException | None = None

    def send(self, chunk: np.ndarray) -> list[np.ndarray]:
        """The running extreme of `chunk`'s records; see :class:`~pystream.stages.pushers.Pusher`."""
        c = chunk
        k = len(c)
        if not k:
            return []
        floaty = c.dtype.kind == "f"
        if self._check and floaty:
            bad = first_nan_record(c)
            if bad >= 0:
                # the records before the NaN come out, then the error
                self.error = nan_error(self._name, self._start + self._pos + bad)
                self.done = True
                if not bad:
                    return []
                c = c[:bad]
            self._pos += k
        ufunc = self._ufunc
        carry = self._carry
        if self._omit and floaty:
            # fmin/fmax semantics through minimum/maximum (whose ties
            # are the same in every numpy loop): NaNs become the
            # neutral element, and the positions where no value has
            # been seen yet keep the first record's NaN.
            isnan = np.isnan(c)
            fill = np.array(self._neutral, dtype=c.dtype)
            vals = np.where(isnan, fill, c)
            now = np.logical_or.accumulate(~isnan, axis=0)
            if carry is None:
                self._first = c[:1].copy()
                acc = ufunc.accumulate(vals, axis=0)
            else:
                now |= self._seen
                acc = ufunc.accumulate(np.concatenate((carry, vals)), axis=0)[1:]
            self._carry = acc[-1:].copy()
            self._seen = now[-1:].copy()
            out = acc if now.all() else np.where(now, acc, self._first)
        elif carry is None:
            out = ufunc.accumulate(c, axis=0)
            self._carry = out[-1:].copy()
        else:
            # Same sequential recurrence as on the whole array:
            # out[i] = ufunc(out[i - 1], x[i]), seeded with the carry.
            out = ufunc.accumulate(np.concatenate((carry, c)), axis=0)[1:]
            self._carry = out[-1:].copy()
        return [out]

    def close(self) -> list[np.ndarray]:
        """End of the stream: nothing is pending."""
        return []


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

    def rows(self) -> RowMap:
        """Which input record gives each output its time and key: its own
        (:class:`pystream.RowMap`; see ``docs/design.md``, "Tables")."""
        return ALIGNED

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

    def push(self, start: int = 0) -> _CumCountPusher:
        """A fresh pusher for one pass (the push form; see :mod:`pystream.stages.pushers`).

        Parameters
        ----------
        start : int, optional
            Global index of the first record (named in the NaN error).

        Examples
        --------
        >>> import numpy as np
        >>> p = CumCount().push()
        >>> [c.tolist() for c in p.send(np.array([1.0, np.nan]))]
        [[1, 1]]
        """
        return _CumCountPusher(self, start)

    def __call__(self, chunks: Iterator[np.ndarray], start: int = 0) -> Iterator[np.ndarray]:
        """Yield the running counts, chunk by chunk (the pull form of :meth:`push`).

        Examples
        --------
        >>> import numpy as np
        >>> [c.tolist() for c in CumCount()(iter([np.array([1.0, np.nan]), np.array([2.0])]))]
        [[1, 1], [2]]
        """
        return drive(self.push(start), chunks)


class _CumCountPusher:
    """The state machine of :class:`CumCount` (a pusher)."""

    __slots__ = ("_carry", "_check", "_name", "_omit", "_pos", "_start", "done", "error")

    def __init__(self, stage: CumCount, start: int) -> None:
        self._name = stage.name
        self._omit = stage.nan_policy == "omit"
        self._check = stage.nan_policy == "raise"
        self._start = start
        self._pos = 0  # records seen
        self._carry: np.ndarray | None = None  # omit: counts so far, shape (1, *rs); None: pos
        self.done = False
        self.error: BaseException | None = None

    def send(self, chunk: np.ndarray) -> list[np.ndarray]:
        """The running counts at `chunk`'s records; see :class:`~pystream.stages.pushers.Pusher`."""
        c = chunk
        k = len(c)
        if not k:
            return []
        pos = self._pos
        floaty = c.dtype.kind in "fc"
        if floaty and self._check:
            bad = first_nan_record(c)
            if bad >= 0:
                # the records before the NaN come out, then the error
                self.error = nan_error(self._name, self._start + pos + bad)
                self.done = True
                if not bad:
                    return []
                c = c[:bad]
                k = bad
        if floaty and self._omit:
            out = np.cumsum(~np.isnan(c), axis=0, dtype=np.int64)
            carry = self._carry
            if carry is not None:
                out += carry
            elif pos:  # after records counted whole (no carry kept for them)
                out += pos
            self._carry = out[-1:].copy()
        else:
            out = np.empty(c.shape, dtype=np.int64)
            idx = np.arange(pos + 1, pos + k + 1, dtype=np.int64)
            out[...] = idx.reshape((k,) + (1,) * (c.ndim - 1))
            self._carry = None  # every value counted: the count is `pos`
        self._pos = pos + k
        return [out]

    def close(self) -> list[np.ndarray]:
        """End of the stream: nothing is pending."""
        return []


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
        (:mod:`pystream.stages.partitioning`): output ``i`` is computed from inputs
        ``[i, i + n]``."""
        return Records(self.n + 1, 1) if self.n else POINTWISE

    def rows(self) -> RowMap:
        """Which input record gives each difference its time and key: the later
        record (``x[i + n] - ...`` is labelled by record ``i + n``)."""
        return RowMap(1, self.n)

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
            # the dtype after one difference is the dtype after any number:
            # probe with 2 records (never an array sized by n or the record)
            out = np.diff(np.zeros(min(self.n, 2) + 1, dtype=dt), n=min(self.n, 2))
        except TypeError as e:
            raise TypeError(f"{self.name}: unsupported dtype {dt}: {e}") from None
        return out.dtype, rs

    def push(self, start: int = 0) -> _DiffPusher:
        """A fresh pusher for one pass (the push form; see :mod:`pystream.stages.pushers`).

        Parameters
        ----------
        start : int, optional
            Global index of the first record (accepted for the stage
            protocol; the differences do not depend on it).

        Examples
        --------
        >>> import numpy as np
        >>> p = Diff().push()
        >>> p.send(np.array([1])), [c.tolist() for c in p.send(np.array([3, 6]))]
        ([], [[2, 3]])
        """
        return _DiffPusher(self.n)

    def __call__(self, chunks: Iterator[np.ndarray], start: int = 0) -> Iterator[np.ndarray]:
        """Yield the differences, chunk by chunk (the pull form of :meth:`push`).

        Examples
        --------
        >>> import numpy as np
        >>> [c.tolist() for c in Diff()(iter([np.array([1, 3]), np.array([6])]))]
        [[2], [3]]
        """
        return drive(self.push(start), chunks)


class _DiffPusher:
    """The state machine of :class:`Diff` (a pusher): carries the last `n` records."""

    __slots__ = ("_n", "_npending", "_pieces", "done", "error")

    def __init__(self, n: int) -> None:
        self._n = n
        self._pieces: list[np.ndarray] = []  # the last records seen (n once output starts)
        self._npending = 0
        self.done = False
        self.error: BaseException | None = None

    def send(self, chunk: np.ndarray) -> list[np.ndarray]:
        """The differences `chunk` completes; see :class:`~pystream.stages.pushers.Pusher`."""
        k = len(chunk)
        if not k:
            return []
        n = self._n
        if not n:
            return [chunk]
        pieces = self._pieces
        if self._npending + k <= n:
            pieces.append(chunk)
            self._npending += k
            return []
        buf = np.concatenate((*pieces, chunk)) if pieces else chunk
        # Each output record depends on n + 1 consecutive inputs only, and is
        # computed by the same operations whatever the buffer: np.diff's own
        # loop (for axis 0), written out to save its per-call overhead.
        op = np.not_equal if buf.dtype.kind == "b" else np.subtract
        out = buf
        for _ in range(n):
            out = op(out[1:], out[:-1])
        self._pieces = [buf[-n:]]
        self._npending = n
        return [out]

    def close(self) -> list[np.ndarray]:
        """End of the stream: nothing is pending (fewer than ``n + 1`` records give nothing)."""
        return []
