"""What a stream carries beside its values: column names, a time column, a key column.

Records stay numpy values of one dtype and one record shape (every C kernel
is unchanged).  A stream may also carry, aligned record by record:

* **names** of its record columns (:class:`Columns.names`);
* a **time column** (:class:`TimeColumn`): int64 nanoseconds since the Unix
  epoch, UTC, shown as ``datetime64[ns]``; or numeric times (seconds,
  sample numbers...) of any real dtype;
* a **key column** (:class:`KeyColumn`): int64 codes; string keys are
  dictionary encoded by a :class:`KeyDictionary` that travels with the
  stream and grows as new keys appear (codes in first-seen order, so the
  codes do not depend on the chunking).

How each stage moves them is a :class:`RowMap` (``docs/design.md``, "Tables").
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

__all__ = ["ALIGNED", "Batch", "Columns", "KeyColumn", "KeyDictionary", "RowMap", "TimeColumn",
           "as_key_codes", "as_time_values", "check_names", "column_position", "column_positions"]

_NS = np.dtype("datetime64[ns]")
_INT64 = np.dtype(np.int64)


# --------------------------------------------------------------------------- key dictionary


class KeyDictionary:
    """String keys and their int64 codes, in first-seen order; grows as keys appear.

    The code of a key is the number of distinct keys seen before its first
    occurrence in the stream, so any chunking of the same stream gives the
    same codes.  A missing key (a null) has code ``-1``.  Safe to share
    between threads (encoding holds a lock).

    Examples
    --------
    >>> d = KeyDictionary()
    >>> d.encode(np.array(["UA", "AA", "UA"])).tolist()
    [0, 1, 0]
    >>> d.encode(np.array(["DL", "AA"])).tolist()
    [2, 1]
    >>> d.keys
    ('UA', 'AA', 'DL')
    >>> d.decode(np.array([2, -1])).tolist()
    ['DL', None]
    """

    __slots__ = ("_codes", "_keys", "_lock")

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._keys: list[str] = []
        self._codes: dict[str, int] = {}
        self._lock = threading.Lock()
        for k in keys:
            self._add(str(k))

    def _add(self, key: str) -> int:
        code = self._codes.get(key)
        if code is None:
            code = self._codes[key] = len(self._keys)
            self._keys.append(key)
        return code

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys, ``keys[code]`` being the key of `code`."""
        return tuple(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        shown = ", ".join(map(repr, self._keys[:6])) + (", ..." if len(self._keys) > 6 else "")
        return f"KeyDictionary([{shown}])"

    def code(self, key: str) -> int:
        """The code of `key` (KeyError if it has not appeared)."""
        return self._codes[key]

    def encode_indexed(self, values: Any, indices: np.ndarray) -> np.ndarray:
        """Codes of a dictionary-encoded column: ``values[indices]`` (indices < 0: null).

        New keys get codes in the order of their first occurrence in
        `indices`, whatever the order of `values`.
        """
        idx = np.asarray(indices)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"key indices must be integers, got dtype {idx.dtype}")
        idx = idx.astype(np.int64, copy=False)
        valid = idx >= 0
        used, first = np.unique(idx[valid], return_index=True)
        remap = np.full(len(values) + 1, -1, dtype=np.int64)  # last slot: nulls
        with self._lock:
            for i in used[np.argsort(first, kind="stable")].tolist():
                v = values[i]
                remap[i] = -1 if v is None else self._add(str(v))
        return remap[np.where(valid, idx, len(values))]

    def encode(self, keys: Any) -> np.ndarray:
        """Codes of an array of keys (strings, bytes or objects; None is null).

        Examples
        --------
        >>> KeyDictionary().encode(["b", None, "a", "b"]).tolist()
        [0, -1, 1, 0]
        """
        arr = np.asarray(keys, dtype=object) if not isinstance(keys, np.ndarray) else keys
        if arr.ndim != 1:
            raise ValueError(f"keys must be 1-d, got shape {arr.shape}")
        if arr.dtype.kind == "O":
            null = np.fromiter((k is None for k in arr), bool, len(arr))
            filled = np.where(null, "", arr).astype(str) if len(arr) else arr.astype(str)
        else:
            null = np.zeros(len(arr), bool)
            filled = arr.astype(str) if arr.dtype.kind == "S" else arr
        uniq, inverse = np.unique(filled, return_inverse=True)
        inverse = inverse.reshape(-1).astype(np.int64)
        values: list[Any] = uniq.tolist()
        return self.encode_indexed(values, np.where(null, -1, inverse))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """The keys of `codes` as an object array (None for ``-1``)."""
        c = np.asarray(codes)
        table = np.empty(len(self._keys) + 1, dtype=object)
        table[:-1] = self._keys
        table[-1] = None
        if len(c) and (c.min() < -1 or c.max() >= len(self._keys)):
            raise ValueError(f"key codes must be in [-1, {len(self._keys)}), got "
                             f"[{c.min()}, {c.max()}]")
        return table[np.where(c < 0, len(self._keys), c)]


# --------------------------------------------------------------------------- column metadata


@dataclasses.dataclass(frozen=True)
class TimeColumn:
    """The time column of a stream.

    Attributes
    ----------
    name : str or None
        Its name in the source (None for a time array given to ``from_array``).
    dtype : numpy.dtype
        ``datetime64[ns]`` for calendar times (stored as int64 nanoseconds,
        UTC), or the real dtype of numeric times.
    """

    name: str | None
    dtype: np.dtype

    @property
    def is_datetime(self) -> bool:
        """True for calendar times (``datetime64[ns]``, UTC)."""
        return self.dtype == _NS


@dataclasses.dataclass(frozen=True)
class KeyColumn:
    """The key column of a stream.

    Attributes
    ----------
    name : str or None
        Its name in the source.
    dictionary : KeyDictionary or None
        For string keys: the codes' keys.  None for integer keys (the codes
        are the keys themselves).
    """

    name: str | None
    dictionary: KeyDictionary | None = None

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """The keys of `codes`: strings (object array) or the integers themselves."""
        return codes if self.dictionary is None else self.dictionary.decode(codes)


@dataclasses.dataclass(frozen=True)
class Columns:
    """Names, time and key of a stream (any of them may be absent)."""

    names: tuple[str, ...] | None = None
    time: TimeColumn | None = None
    key: KeyColumn | None = None

    @property
    def carried(self) -> bool:
        """A time or key column travels with the records."""
        return self.time is not None or self.key is not None

    def names_for(self, record_shape: tuple[int, ...]) -> tuple[str, ...] | None:
        """The names, if they still name this record shape's columns, else None."""
        n = self.names
        if n is None:
            return None
        if record_shape == (len(n),) or (record_shape == () and len(n) == 1):
            return n
        return None


NO_COLUMNS = Columns()


class Batch(NamedTuple):
    """Records with their time and key, as :meth:`Stream.batches` yields them.

    Attributes
    ----------
    values : ndarray
        The records (a chunk, as iteration gives it).
    time : ndarray or None
        One time per record (``datetime64[ns]`` or numeric), or None.
    key : ndarray or None
        One int64 key code per record (see :class:`KeyColumn`), or None.
    start : int
        Global index of the first record.
    """

    values: np.ndarray
    time: np.ndarray | None
    key: np.ndarray | None
    start: int


def check_names(names: Any, count: int, where: str) -> tuple[str, ...]:
    """`names` as a tuple of `count` distinct strings, or a clear error."""
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise TypeError(f"{where}: columns must be a sequence of names, got {names!r}")
    out = tuple(names)
    bad = [n for n in out if not isinstance(n, str) or not n]
    if bad:
        raise TypeError(f"{where}: column names must be non-empty strings, got {bad[0]!r}")
    if len(out) != count:
        raise ValueError(f"{where}: {len(out)} column names for records of {count} columns")
    if len(set(out)) != len(out):
        dup = next(n for n in out if out.count(n) > 1)
        raise ValueError(f"{where}: the column name {dup!r} appears twice")
    return out


def as_time_values(t: Any, n: int, where: str) -> tuple[np.ndarray, np.dtype]:
    """A time array of `n` records as stored (int64 ns or numeric) and its shown dtype.

    datetime64 of any unit is converted to nanoseconds (an error where it
    would overflow); NaT is refused (a record's time must be known).
    """
    arr = np.asarray(t)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"{where}: time must be 1-d with one time per record ({n}), "
                         f"got shape {arr.shape}")
    if arr.dtype.kind == "M":
        if np.isnat(arr).any():
            i = int(np.flatnonzero(np.isnat(arr))[0])
            raise ValueError(f"{where}: time is NaT (missing) at record {i}")
        if arr.dtype == _NS:            # already nanoseconds: a view, nothing to check
            return (arr if arr.dtype.isnative else arr.astype(_NS)).view(_INT64), _NS
        ns = arr.astype(_NS)
        if not np.array_equal(ns.astype(arr.dtype), arr):
            raise OverflowError(f"{where}: times outside datetime64[ns]'s range "
                                "(years 1678-2262)")
        return ns.view(_INT64), _NS
    if arr.dtype.kind in "iuf" and arr.dtype.itemsize <= 8:
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            i = int(np.flatnonzero(np.isnan(arr))[0])
            raise ValueError(f"{where}: time is NaN at record {i}")
        native = arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))
        return native, native.dtype
    raise TypeError(f"{where}: time must be datetime64 or real numbers, got dtype {arr.dtype}")


def as_key_codes(k: Any, n: int, where: str) -> tuple[np.ndarray, KeyDictionary | None]:
    """A key array of `n` records as int64 codes, with its dictionary for string keys."""
    arr = np.asarray(k) if not isinstance(k, np.ndarray) else k
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"{where}: key must be 1-d with one key per record ({n}), "
                         f"got shape {arr.shape}")
    if arr.dtype.kind in "iub":
        if arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and len(arr) and arr.max() > 2**63 - 1:
            raise OverflowError(f"{where}: uint64 keys above 2**63-1 do not fit int64 codes")
        return arr.astype(np.int64, copy=False), None
    if arr.dtype.kind in "USO":
        d = KeyDictionary()
        return d.encode(arr), d
    raise TypeError(f"{where}: keys must be integers or strings, got dtype {arr.dtype}")


# --------------------------------------------------------------------------- row maps


@dataclasses.dataclass(frozen=True)
class RowMap:
    """Which input record gives output record ``j`` its time and key: ``j*step + offset``.

    Elementwise stages, moving windows, scans and EWM are ``RowMap()`` (each
    output keeps its own record's time); ``skip(n)`` is ``RowMap(offset=n)``;
    ``diff(n)`` labels each difference by its later record,
    ``RowMap(offset=n)``; blocks of `size` inputs every `step` are
    ``RowMap(step, 0)`` when labelled by their first record (``tumbling``,
    ``resample``) and ``RowMap(step, size - 1)`` by their last (``nwise``,
    ``sliding_window``).
    """

    step: int = 1
    offset: int = 0


ALIGNED = RowMap()


class RowCarrier:
    """The time and key of a step's inputs, kept until the step's outputs claim them."""

    __slots__ = ("_base", "_parts", "_rows", "out")

    def __init__(self, rows: RowMap, out: int = 0, base: int = 0) -> None:
        self._rows = rows
        self._parts: list[tuple[np.ndarray | None, np.ndarray | None]] = []
        self._base = base       # input index of the first record held
        self.out = out          # index of the next output to claim

    def push(self, time: np.ndarray | None, key: np.ndarray | None) -> None:
        """Hold one input chunk's columns (in input order)."""
        n = len(time) if time is not None else len(key) if key is not None else 0
        if n:
            self._parts.append((time, key))

    def claim(self, m: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The columns of the next `m` outputs."""
        step, off = self._rows.step, self._rows.offset
        lo = self.out * step + off - self._base          # relative to the held records
        hi = lo + (m - 1) * step + 1 if m else lo
        self.out += m
        parts = self._parts
        # whole parts before lo are no longer needed
        while parts and _length(parts[0]) <= lo:
            n0 = _length(parts[0])
            lo -= n0
            hi -= n0
            self._base += n0
            parts.pop(0)
        cols: list[np.ndarray | None] = []
        for c in (0, 1):
            if not parts or parts[0][c] is None:
                cols.append(None)
                continue
            first = parts[0][c]
            assert first is not None
            if hi <= len(first):
                seg = first[lo:hi]
            else:
                seg = np.concatenate([p[c] for p in _cover(parts, hi)])[lo:hi]  # type: ignore[misc]
            if len(seg) < hi - lo:
                raise RuntimeError("a stage emitted records before reading the inputs they "
                                   "come from; its row map is wrong")
            cols.append(seg[::step] if step != 1 else seg)
        return cols[0], cols[1]


def _length(part: tuple[np.ndarray | None, np.ndarray | None]) -> int:
    a = part[0] if part[0] is not None else part[1]
    return 0 if a is None else len(a)


def _cover(parts: list[tuple[np.ndarray | None, np.ndarray | None]], hi: int
           ) -> list[tuple[np.ndarray | None, np.ndarray | None]]:
    out, total = [], 0
    for p in parts:
        if total >= hi:
            break
        out.append(p)
        total += _length(p)
    return out


def column_position(c: Any, width: int | None, names: Any, where: str,
                    what: str = "column") -> int:
    """The position of one column, given by name or by integer position.

    One rule for every statistic that picks columns (``cov``, ``ols``,
    ``moving_cov``, ``ewm_cov``...), as :meth:`Stream.select` reads them.

    Parameters
    ----------
    c : str or int
        A column name (looked up in `names`) or a position (negative counts
        from the end).
    width : int or None
        Values per record; None when not known yet (a negative position is
        then returned as is, and checked later).
    names : sequence of str or None
        The stream's column names, if it has any.
    where, what : str
        The call and the argument, named in errors.

    Raises
    ------
    KeyError
        A name the stream does not have, or a name on a stream without names.
    IndexError
        A position out of range.
    TypeError
        Neither a name nor an integer.

    Examples
    --------
    >>> column_position("b", 3, ("a", "b", "c"), "cov")
    1
    >>> column_position(-1, 3, None, "cov")
    2
    """
    if isinstance(c, str):
        if names is None:
            raise KeyError(f"{where}: {what} {c!r} is asked by name, but the stream has no "
                           "column names (rename() or a table source gives it some, or pass "
                           "positions)")
        names = list(names)
        if c not in names:
            raise KeyError(f"{where}: no column named {c!r} ({what}); the columns are {names}")
        return names.index(c)
    if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, np.integer)):
        raise TypeError(f"{where}: {what} must be a column name or position (columns are "
                        f"names or integer positions), got {c!r}")
    i = int(c)
    if width is None:
        return i
    if not -width <= i < width:
        raise IndexError(f"{where}: {what} {i} is out of range for records of {width} columns")
    return i % width


def column_positions(columns: Any, width: int | None, names: Any, where: str) -> list[int]:
    """The positions of `columns` (a name, a position, or a sequence of them): at
    least 2 distinct columns, as a multivariate statistic needs.

    Examples
    --------
    >>> column_positions(["b", 0], 3, ("a", "b", "c"), "moving_cov")
    [1, 0]
    """
    if isinstance(columns, (str, int, np.integer)):
        items: list[Any] = [columns]
    else:
        try:
            items = list(columns)
        except TypeError:
            raise TypeError(f"{where}: columns must be column names or positions, "
                            f"got {columns!r}") from None
    out = [column_position(c, width, names, where) for c in items]
    if len(out) < 2:
        raise ValueError(f"{where}: a multivariate statistic needs at least 2 columns; "
                         f"columns={columns!r} picks {len(out)}")
    if len(set(out)) != len(out):
        raise ValueError(f"{where}: columns={columns!r} names a column twice")
    return out
