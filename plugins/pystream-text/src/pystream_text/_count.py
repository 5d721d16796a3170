"""``count_by``: a mergeable reducer counting records by the value of one column."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, Iterator, Sequence

import numpy as np

__all__ = ["CountBy", "CountByResult"]

_MAGIC = b"PSTXCNTB"
_VERSION = 1
_HEADER = struct.Struct("<8sHHII")  # magic, version, reserved, payload length, crc32
_SCALE = 1074  # every finite float64 is an integer multiple of 2**-1074
_PIECE = 1 << 24  # records per bincount (its float64 sums of 27-bit parts stay exact)


def _check_col(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"count_by: {name} must be an int column index, got {value!r}")
    return int(value)


class CountByResult(Mapping):
    """Counts (and optional sums) per distinct key, keys sorted ascending (NaN last).

    A read-only mapping ``{key: count}`` (keys as Python numbers), so it
    compares equal to a dict or ``collections.Counter`` with the same counts,
    plus arrays:

    Attributes
    ----------
    unique_keys : ndarray
        Distinct keys, sorted (the stream's dtype; all NaNs are one key).
        (Not ``keys``: that is the mapping method.)
    counts : ndarray of int64
        Records per key.
    sums : ndarray or None
        Shape ``(len(unique_keys), len(values))``: per key, the sum of each column
        of `values` (None without `values`).  Float inputs: the exact sum,
        rounded once to float64 (NaN if the key saw a NaN, or both infinities;
        +-inf if it saw one, or if the exact sum is beyond the float64 range).
        Integer inputs: exact, int64 (object if it overflows int64).
    """

    def __init__(self, keys: np.ndarray, counts: np.ndarray, sums: np.ndarray | None) -> None:
        self.unique_keys = keys
        self.counts = counts
        self.sums = sums
        self._dict = dict(zip(keys.tolist(), counts.tolist()))

    def __getitem__(self, key: Any) -> int:
        if isinstance(key, float) and key != key:
            for k, c in self._dict.items():
                if k != k:
                    return c
        return self._dict[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def as_dict(self) -> dict:
        """``{key: count}``, keys in ascending order."""
        return dict(self._dict)

    def sums_dict(self) -> dict:
        """``{key: [sum of each value column]}`` (empty without `values`)."""
        if self.sums is None:
            return {}
        return dict(zip(self.unique_keys.tolist(), self.sums.tolist()))

    def __repr__(self) -> str:
        s = f"CountByResult({self._dict!r}"
        return s + (")" if self.sums is None else f", sums={self.sums.tolist()!r})")


class CountBy:
    """Count records by the value of one column, optionally summing other columns per key.

    A mergeable reducer: ``update(chunk)``, ``merge(other)`` (``other`` =
    the state of the records that follow), ``result()`` -> :class:`CountByResult`,
    ``to_bytes()`` / ``from_bytes()``.  Vectorised per chunk
    (``np.unique(..., return_inverse=True, return_counts=True)``); the Python
    work per chunk is per distinct key (and, with `values`, per key and
    binary exponent), never per record.  Sums are exact (integer
    arithmetic on the float64 mantissas), so the result is identical for
    any chunking and any split merged in order.

    Parameters
    ----------
    key : int, optional
        Column of the records to group by (negative counts from the end);
        default 0.  Scalar records: must be 0 or -1.
    values : int or sequence of int, optional
        Columns to sum per key.

    Raises
    ------
    TypeError
        For non-integer column indices; at the first chunk, for a complex,
        object, string or structured dtype.
    ValueError
        For duplicate `values`; at the first chunk, for an index out of range
        or records of more than one dimension.

    Examples
    --------
    >>> import numpy as np
    >>> from pystream_text import CountBy
    >>> c = CountBy(key=0, values=[1]).update(np.array([[200, 10], [404, 1], [200, 5]]))
    >>> r = c.result()
    >>> dict(r), r.sums.tolist()
    ({200: 2, 404: 1}, [[15], [1]])
    """

    name = "count_by"
    #: Order-free: the state does not depend on where its records are in the
    #: stream, so the parallel engines reduce it per partition even after a
    #: ``filter`` (the plugin guide, "Reducers on the parallel engines").
    positional = False

    def __init__(self, key: int = 0, values: int | Sequence[int] | None = None) -> None:
        self.key = _check_col(key, "key")
        if values is None:
            vals: tuple[int, ...] = ()
        elif isinstance(values, (int, np.integer)) and not isinstance(values, bool):
            vals = (int(values),)
        else:
            if isinstance(values, (str, bytes, bool)):
                raise TypeError(f"count_by: values must be an int or a sequence of ints, got {values!r}")
            try:
                vals = tuple(_check_col(v, "values") for v in values)  # type: ignore[union-attr]
            except TypeError as e:
                if str(e).startswith("count_by"):
                    raise
                raise TypeError(f"count_by: values must be an int or a sequence of ints, got {values!r}") from None
            if not vals:
                raise ValueError("count_by: values is empty; pass None to only count")
            if len(set(vals)) != len(vals):
                raise ValueError(f"count_by: values has duplicates: {list(vals)}")
        self.values = vals
        self.with_sums = values is not None
        self._dtype: np.dtype | None = None
        self._keys = np.empty(0)
        self._counts = np.zeros(0, dtype=np.int64)
        # per key: list over value columns of [exact sum (int), nan, +inf, -inf]
        self._acc: list = []

    # -------------------------------------------------------------- helpers
    def _columns(self, chunk: np.ndarray) -> tuple[np.ndarray, list]:
        if chunk.ndim == 1:
            ncol = 1
            get = lambda c: chunk  # noqa: E731
        elif chunk.ndim == 2:
            ncol = chunk.shape[1]
            get = lambda c: chunk[:, c]  # noqa: E731
        else:
            raise ValueError(f"count_by: records must be scalars or 1-d, got record shape {chunk.shape[1:]}")
        for c in (self.key, *self.values):
            if not -ncol <= c < ncol:
                raise ValueError(f"count_by: column {c} is out of range for records of {ncol} value(s)")
        return get(self.key), [get(c) for c in self.values]

    def _check_dtype(self, dt: np.dtype) -> None:
        if dt.kind not in "biuf" or dt.fields is not None:
            raise TypeError(f"count_by: unsupported dtype {dt}; need a real numeric dtype")
        dt = dt.newbyteorder("=") if dt.byteorder not in "=|" else dt
        if self._dtype is None:
            self._dtype = dt
            self._keys = self._keys.astype(dt)
        elif dt != self._dtype:
            raise TypeError(f"count_by: chunk of dtype {dt} after chunks of dtype {self._dtype}")

    @staticmethod
    def _normalize_keys(keys: np.ndarray) -> np.ndarray:
        if keys.dtype.kind == "f":
            keys = keys + keys.dtype.type(0)  # -0.0 -> 0.0
            nan = np.isnan(keys)
            if nan.any():
                keys[nan] = np.nan  # one NaN payload
        return keys

    def _zero(self) -> list:
        return [[0, 0, 0, 0] for _ in self.values]

    def _absorb(self, keys: np.ndarray, counts: np.ndarray, acc: list) -> None:
        """Add sorted distinct `keys` with their counts and accumulators to the state."""
        if not len(self._keys):
            self._keys, self._counts, self._acc = keys, counts, acc
            return
        if np.array_equal(keys, self._keys, equal_nan=True):
            self._counts = self._counts + counts
            pos = range(len(keys))
            new_acc = self._acc
        else:
            both = np.concatenate([self._keys, keys])
            uk, inv = np.unique(both, return_inverse=True)
            inv = inv.reshape(-1)
            n0 = len(self._keys)
            new_counts = np.zeros(len(uk), dtype=np.int64)
            new_counts[inv[:n0]] = self._counts
            np.add.at(new_counts, inv[n0:], counts)
            new_acc = [None] * len(uk)
            for i, j in enumerate(inv[:n0].tolist()):
                new_acc[j] = self._acc[i]
            for j in range(len(uk)):
                if new_acc[j] is None:
                    new_acc[j] = self._zero()
            pos = inv[n0:].tolist()
            self._keys, self._counts = self._normalize_keys(uk), new_counts
        for i, j in enumerate(pos):
            mine, theirs = new_acc[j], acc[i]
            for a, b in zip(mine, theirs):
                for t in range(4):
                    a[t] += b[t]
        self._acc = new_acc

    def _chunk_sums(self, inv: np.ndarray, nk: int, col: np.ndarray) -> list:
        """Per key: [exact sum, nan, +inf, -inf] of `col` (exact sum scaled by 2**_SCALE for floats)."""
        out = [[0, 0, 0, 0] for _ in range(nk)]
        if col.dtype.kind == "f":
            v = col.astype(np.float64, copy=False)
            finite = np.isfinite(v)
            if not finite.all():
                for t, mask in ((1, np.isnan(v)), (2, v == np.inf), (3, v == -np.inf)):
                    if mask.any():
                        for k, c in enumerate(np.bincount(inv[mask], minlength=nk).tolist()):
                            out[k][t] += c
                v, inv = v[finite], inv[finite]
            m, e = np.frexp(v)
            mant = (m * 9007199254740992.0).astype(np.int64)  # * 2**53: exact integers
            parts = ((mant >> 26, 26), (mant & ((1 << 26) - 1), 0))
            code = inv.astype(np.int64) * 4096 + (e.astype(np.int64) + 2048)
            shift0 = _SCALE - 53
        else:
            w = col.astype(np.uint64 if col.dtype.kind == "u" else np.int64, copy=False)
            mask22 = (1 << 22) - 1
            parts = ((w >> 44, 44), ((w >> 22) & mask22, 22), (w & mask22, 0))
            code = inv.astype(np.int64) * 4096 + 2048
            shift0 = 0
        if not len(code):
            return out
        groups, gi = np.unique(code, return_inverse=True)
        gi = gi.reshape(-1)
        gk = (groups >> 12).tolist()
        ge = ((groups & 4095) - 2048).tolist()
        total = [0] * len(groups)
        for arr, sh in parts:
            for lo in range(0, len(gi), _PIECE):
                s = np.bincount(gi[lo:lo + _PIECE], weights=arr[lo:lo + _PIECE].astype(np.float64),
                                minlength=len(groups))
                for g, x in enumerate(s.tolist()):
                    if x:
                        total[g] += int(x) << sh
        for g, S in enumerate(total):
            if S:
                sh = ge[g] + shift0
                out[gk[g]][0] += (S << sh) if sh >= 0 else (S >> -sh)
        return out

    # -------------------------------------------------------------- protocol
    def update(self, chunk: Any) -> CountBy:
        """Add a chunk of records (shape ``(k,)`` or ``(k, ncol)``); returns self."""
        chunk = np.asarray(chunk)
        self._check_dtype(chunk.dtype)
        if chunk.ndim == 0:
            raise ValueError("count_by: a chunk must have shape (k, *record_shape), got a 0-d array")
        if not len(chunk):
            self._columns(chunk)
            return self
        key_col, value_cols = self._columns(chunk)
        keys, inv, counts = np.unique(self._normalize_keys(key_col), return_inverse=True,
                                      return_counts=True)
        inv = inv.reshape(-1)
        keys = self._normalize_keys(keys)
        nk = len(keys)
        if value_cols:
            per_col = [self._chunk_sums(inv, nk, c) for c in value_cols]
            acc = [[per_col[j][k] for j in range(len(value_cols))] for k in range(nk)]
        else:
            acc = [[] for _ in range(nk)]
        self._absorb(keys, counts.astype(np.int64), acc)
        return self

    def merge(self, other: CountBy) -> CountBy:
        """Add the state of the records that follow (counts add; order does not matter)."""
        if not isinstance(other, CountBy):
            raise TypeError(f"count_by: cannot merge a {type(other).__name__}")
        if (other.key, other.values, other.with_sums) != (self.key, self.values, self.with_sums):
            raise ValueError(
                f"count_by: cannot merge states of different parameters (key={self.key}, "
                f"values={list(self.values)} vs key={other.key}, values={list(other.values)})")
        if other._dtype is None:
            return self
        self._check_dtype(other._dtype)
        if len(other._keys):
            self._absorb(other._keys.copy(), other._counts.copy(),
                         [[list(a) for a in row] for row in other._acc])
        return self

    def _final_sum(self, a: list) -> Any:
        S, nan, pinf, ninf = a
        if self._dtype is not None and self._dtype.kind == "f":
            if nan or (pinf and ninf):
                return np.nan
            if pinf:
                return np.inf
            if ninf:
                return -np.inf
            try:
                return float(Fraction(S, 1 << _SCALE))
            except OverflowError:
                return np.inf if S > 0 else -np.inf
        return S

    def result(self) -> CountByResult:
        """The counts (and sums) so far, as a :class:`CountByResult`."""
        keys = self._keys.copy()
        counts = self._counts.copy()
        sums = None
        if self.with_sums:
            rows = [[self._final_sum(a) for a in row] for row in self._acc]
            if self._dtype is not None and self._dtype.kind == "f" or self._dtype is None:
                sums = np.array(rows, dtype=np.float64).reshape(len(keys), len(self.values))
            else:
                try:
                    sums = np.array(rows, dtype=np.int64).reshape(len(keys), len(self.values))
                except OverflowError:
                    sums = np.array(rows, dtype=object).reshape(len(keys), len(self.values))
        return CountByResult(keys, counts, sums)

    # -------------------------------------------------------------- bytes
    def to_bytes(self) -> bytes:
        """Serialize: magic, version, length and CRC-32 checked; little-endian."""
        dt = self._dtype
        payload = {
            "key": self.key,
            "values": list(self.values),
            "with_sums": self.with_sums,
            "dtype": None if dt is None else dt.newbyteorder("<").str,
            "keys": "" if dt is None else self._keys.astype(dt.newbyteorder("<")).tobytes().hex(),
            "counts": self._counts.tolist(),
            "acc": [[[hex(a[0]), a[1], a[2], a[3]] for a in row] for row in self._acc],
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        return _HEADER.pack(_MAGIC, _VERSION, 0, len(body), zlib.crc32(body)) + body

    @classmethod
    def from_bytes(cls, data: Any) -> CountBy:
        """Rebuild a state from :meth:`to_bytes`; ValueError for corrupt or unknown bytes."""
        try:
            data = bytes(data)
        except TypeError:
            raise TypeError(f"count_by.from_bytes expects bytes, not {type(data).__name__}") from None
        if len(data) < _HEADER.size:
            raise ValueError(f"count_by.from_bytes: truncated data ({len(data)} bytes)")
        magic, version, _, n, crc = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise ValueError("count_by.from_bytes: not a count_by state (bad magic)")
        if version != _VERSION:
            raise ValueError(f"count_by.from_bytes: unsupported version {version} (this is {_VERSION})")
        body = data[_HEADER.size:]
        if len(body) != n:
            raise ValueError(f"count_by.from_bytes: payload of {len(body)} bytes, expected {n}")
        if zlib.crc32(body) != crc:
            raise ValueError("count_by.from_bytes: checksum mismatch (corrupt data)")
        try:
            p = json.loads(body)
            state = cls(key=p["key"], values=p["values"] if p["with_sums"] else None)
            if p["dtype"] is not None:
                dt = np.dtype(p["dtype"])
                state._check_dtype(dt)
                keys = np.frombuffer(bytes.fromhex(p["keys"]), dtype=dt).astype(state._dtype)
                counts = np.array(p["counts"], dtype=np.int64).reshape(-1)
                acc = [[[int(a[0], 16), int(a[1]), int(a[2]), int(a[3])] for a in row] for row in p["acc"]]
                if len(counts) != len(keys) or len(acc) != len(keys) or any(
                        len(row) != len(state.values) for row in acc) or (counts < 1).any():
                    raise ValueError("inconsistent lengths")
                real = keys[~np.isnan(keys)] if keys.dtype.kind == "f" else keys
                if not (real[1:] > real[:-1]).all() or len(keys) - len(real) > 1 or (
                        len(real) < len(keys) and not np.isnan(keys[-1])):
                    raise ValueError("keys not sorted and distinct")
                state._keys, state._counts, state._acc = keys, counts, acc
        except ValueError as e:
            if str(e).startswith("count_by.from_bytes"):
                raise
            raise ValueError(f"count_by.from_bytes: invalid payload: {e}") from None
        except (KeyError, TypeError, IndexError, AttributeError) as e:
            raise ValueError(f"count_by.from_bytes: invalid payload: {type(e).__name__}: {e}") from None
        return state

    def __reduce__(self) -> Any:
        return (CountBy.from_bytes, (self.to_bytes(),))
