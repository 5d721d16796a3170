"""Python wrappers of the keyed C core (``csrc/keyed.h``): per-key moments
and per-key stages, moved one chunk at a time with one grouping pass in C.

For every key, the results are those of the unkeyed state (:class:`~pystream.Moments`,
:class:`~pystream.stages.kernel.StageState`) fed that key's records alone, bit
for bit; a key's global index is its own record index (plus its preset start).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .._checks import StateLock, as_int, restore_state
from .._native import as_array, check_status, dtype_from_code, ffi, lib, prepare_chunk
from ..stages.kernel import _NAMES, StageState, to_float64_rows

__all__ = ["KeyLimitError", "KeyedMomentsState", "KeyedStageState", "as_keys"]

#: The fields of :meth:`KeyedMomentsState.results` and their dtypes.
RESULT_FIELDS: dict[str, type] = {
    "count": np.int64, "nan_count": np.int64, "sum": np.float64, "mean": np.float64,
    "m2": np.float64, "min": np.float64, "max": np.float64, "isum_hi": np.int64,
    "isum_lo": np.uint64, "imin": np.int64, "imax": np.int64,
}


class KeyLimitError(ValueError):
    """More distinct keys than ``max_keys``.

    Attributes
    ----------
    row : int
        Row of the chunk (0-based, relative to the chunk) holding the first
        key beyond the limit; the caller adds the chunk's global offset.
        -1 for a merge (the key comes from the other state).
    key : int
        That key.
    limit : int
        ``max_keys``.
    """

    def __init__(self, where: str, row: int, key: int, limit: int) -> None:
        at = f"at row {row} of the chunk " if row >= 0 else ""
        super().__init__(f"{where}: key {key} {at}would be key number {limit + 1}, more than "
                         f"max_keys={limit}")
        self.row, self.key, self.limit = row, key, limit


def as_keys(keys: Any, n: int, where: str) -> np.ndarray:
    """`keys` as a native, C-contiguous int64 array of length `n`.

    Integer arrays of any width and byte order are converted when every
    value fits int64; bools, floats and anything else are refused (string
    keys are dictionary-encoded to int64 codes before they get here).

    Raises
    ------
    TypeError
        Keys that are not integers.
    ValueError
        Not 1-d, a length other than `n`, or uint64 keys above 2**63 - 1.

    Examples
    --------
    >>> as_keys(np.array([3, 1], dtype=">i2"), 2, "update")
    array([3, 1])
    """
    k = as_array(keys, where)
    if k.dtype.kind not in "iu":
        raise TypeError(f"{where}: keys must be integers (int64 codes), not {k.dtype}")
    if k.ndim != 1:
        raise ValueError(f"{where}: keys must be 1-d; got shape {k.shape}")
    if len(k) != n:
        raise ValueError(f"{where}: {len(k)} keys for {n} records")
    if k.dtype.kind == "u" and k.dtype.itemsize == 8 and len(k) and k.max() > np.iinfo(np.int64).max:
        row = int(np.argmax(k > np.iinfo(np.int64).max))
        raise ValueError(f"{where}: key {int(k[row])} at row {row} does not fit int64")
    return np.ascontiguousarray(k, dtype=np.int64)


def _limit(max_keys: int, where: str) -> int:
    max_keys = as_int(max_keys, "max_keys must be an integer", where)
    return -1 if max_keys < 0 else max_keys


def _bytes_of(data: Any, where: str) -> bytes:
    try:
        return bytes(memoryview(data).cast("B"))
    except TypeError:
        raise TypeError(f"{where} expects bytes, not {type(data).__name__}") from None


def _serialize(fn: Any, state: Any, where: str) -> bytes:
    size = ffi.new("size_t *")
    check_status(fn(state, ffi.NULL, 0, size), where)
    buf = bytearray(size[0])
    check_status(fn(state, ffi.from_buffer(buf), len(buf), size), where)
    return bytes(buf)


class _Keyed:
    """What both keyed states share: the lock and the broken flag (an
    allocation failure inside one key's update may leave earlier keys of
    that chunk updated; the state then refuses further use)."""

    __slots__ = ("_state", "_lock", "_broken", "_out")

    def _use(self, what: str) -> StateLock:
        if self._broken:
            raise RuntimeError(f"{what}: this state ran out of memory in an earlier update and "
                               "may be partly updated; rebuild it from a checkpoint")
        return StateLock(self._lock, what)

    def _fail(self, status: int, where: str, keys: np.ndarray, limit: int) -> None:
        row = int(self._out[0])
        if status == lib.PS_ERR_KEYS:
            raise KeyLimitError(where, row, int(keys[row]), limit)
        if status == lib.PS_ERR_OVERFLOW:
            raise OverflowError(f"{where}: the record index of key {int(keys[row])} (row {row} "
                                "of the chunk) would overflow int64")
        if status == lib.PS_ERR_NOMEM:
            self._broken = True
        check_status(status, where)


class KeyedMomentsState(_Keyed):
    """Per-key streaming moments: a :class:`~pystream.Moments` per key, in C.

    Parameters
    ----------
    max_keys : int, default -1
        Refuse a chunk (:class:`KeyLimitError`, state unchanged) that would
        bring more distinct keys; negative: no limit.  Preset keys count.

    Notes
    -----
    Keys are reported in first-seen order.  A key's records have global
    indices 0, 1, 2... among that key's records (plus its :meth:`preset`
    start), so states of contiguous partitions merge bit for bit.

    Examples
    --------
    >>> import numpy as np
    >>> s = KeyedMomentsState().update(np.array([1.0, 10.0, 3.0]), np.array([7, 5, 7]))
    >>> s.keys()
    array([7, 5])
    >>> s.results()["mean"]
    array([ 2., 10.])
    """

    __slots__ = ("_max_keys",)

    def __init__(self, max_keys: int = -1) -> None:
        self._max_keys = _limit(max_keys, "KeyedMomentsState")
        out = ffi.new("ps_keyed_moments **")
        check_status(lib.ps_keyed_moments_new(out, lib.PS_DTYPE_UNSET, 0, ffi.NULL,
                                              self._max_keys), "KeyedMomentsState")
        self._adopt(out[0])

    def _adopt(self, raw: Any) -> None:
        self._state = ffi.gc(raw, lib.ps_keyed_moments_free)
        self._lock = threading.Lock()
        self._broken = False
        self._out = ffi.new("int64_t *")
        self._max_keys = int(lib.ps_keyed_moments_max_keys(raw))

    @property
    def dtype(self) -> np.dtype | None:
        """dtype the kernel reads (None before the first update)."""
        code = lib.ps_keyed_moments_dtype(self._state)
        return None if code == lib.PS_DTYPE_UNSET else dtype_from_code(code)

    @property
    def record_shape(self) -> tuple[int, ...] | None:
        """Shape of one record (None before the first update)."""
        if self.dtype is None:
            return None
        return tuple(int(lib.ps_keyed_moments_shape(self._state, a))
                     for a in range(lib.ps_keyed_moments_ndim(self._state)))

    @property
    def max_keys(self) -> int:
        """The key limit (-1: none)."""
        return self._max_keys

    @property
    def nkeys(self) -> int:
        """Keys holding at least one record."""
        return int(lib.ps_keyed_moments_nkeys(self._state))

    @property
    def nbytes(self) -> int:
        """Approximate bytes held: the key tables plus each key's serialized
        size (O(keys) to compute)."""
        return int(lib.ps_keyed_moments_nbytes(self._state))

    def __repr__(self) -> str:
        return f"<pystream.KeyedMomentsState {self.nkeys} keys {self.dtype}>"

    def _type(self, chunk: np.ndarray, code: int, where: str) -> None:
        state = self._state
        shape = tuple(chunk.shape[1:])
        cur = lib.ps_keyed_moments_dtype(state)
        if cur == lib.PS_DTYPE_UNSET:
            dims = ffi.new("int64_t[]", list(shape)) if shape else ffi.NULL
            check_status(lib.ps_keyed_moments_set_type(state, code, len(shape), dims), where)
        elif cur != code:
            raise TypeError(f"{where}: dtype {chunk.dtype} does not match the stream's "
                            f"{dtype_from_code(cur)}")
        elif shape != self.record_shape:
            raise ValueError(f"{where}: record shape {shape} does not match the stream's "
                             f"{self.record_shape}")

    def update(self, chunk: Any, keys: Any) -> KeyedMomentsState:
        """Add the records of `chunk` (shape ``(k, *record_shape)``), record i under key ``keys[i]``.

        `chunk` is checked and converted as by :meth:`pystream.Moments.update`
        (strided input read in place; byte-swapped, misaligned and float16
        input converted).  On any error the state is unchanged.

        Returns
        -------
        KeyedMomentsState
            ``self``.

        Raises
        ------
        KeyLimitError
            A key beyond ``max_keys`` (its row in the chunk is ``.row``).
        TypeError, ValueError
            Bad dtype, record shape or keys (see :func:`as_keys`).
        """
        where = "KeyedMomentsState.update"
        chunk = as_array(chunk, where)
        ki = prepare_chunk(chunk, where)
        if chunk.ndim == 0:
            chunk = chunk.reshape(1)
        k = as_keys(keys, ki.n, where)
        with self._use(where):
            self._type(chunk, ki.code, where)
            status = lib.ps_keyed_moments_update(
                self._state, ki.pointer, ki.n, ki.record_stride, ki.value_stride,
                ffi.from_buffer("int64_t[]", k), self._out)
            if status:
                self._fail(status, where, k, self._max_keys)
        return self

    def preset(self, keys: Any, starts: Any) -> KeyedMomentsState:
        """Start `keys` at global indices `starts` (their records in earlier partitions).

        Only for keys without records in this state.  Preset keys that never
        get a record stay out of :meth:`keys`, but carry their start through
        :meth:`merge`.

        Raises
        ------
        ValueError
            A negative start, or a key that already has records.
        KeyLimitError
            More keys than ``max_keys``.
        """
        where = "KeyedMomentsState.preset"
        st = as_array(starts, where)
        if st.dtype.kind not in "iu" or st.ndim != 1:
            raise TypeError(f"{where}: starts must be a 1-d array of integers, not "
                            f"{st.dtype} of shape {st.shape}")
        k = as_keys(keys, len(st), where)
        st = np.ascontiguousarray(st, dtype=np.int64)
        with self._use(where):
            status = lib.ps_keyed_moments_preset(self._state, ffi.from_buffer("int64_t[]", k),
                                                 ffi.from_buffer("int64_t[]", st), len(k), self._out)
            if status == lib.PS_ERR_ARG:
                row = int(self._out[0])
                raise ValueError(f"{where}: key {int(k[row])} (entry {row}): start "
                                 f"{int(st[row])} is negative or too large, or the key "
                                 "already has records")
            if status:
                self._fail(status, where, k, self._max_keys)
        return self

    def merge(self, right: KeyedMomentsState) -> KeyedMomentsState:
        """Merge the state of the next partition into this one, key by key, in place.

        For every key of `right`, this state's stop must equal right's start
        (a key absent here stops at 0): presets make it so.

        Raises
        ------
        ValueError
            A key whose ranges are not adjacent (named).
        TypeError
            Different dtype or record shape.
        """
        if not isinstance(right, KeyedMomentsState):
            raise TypeError(f"can only merge a KeyedMomentsState, not {type(right).__name__}")
        if right is self:
            raise ValueError("cannot merge a KeyedMomentsState with itself")
        where = "KeyedMomentsState.merge"
        with self._use(where), right._use(where):
            status = lib.ps_keyed_moments_merge(self._state, right._state, self._out)
            if status == lib.PS_ERR_NOT_ADJACENT:
                raise ValueError(f"{where}: key {int(self._out[0])} is not adjacent: this "
                                 "state's records of it do not stop where the other's start")
            if status == lib.PS_ERR_KEYS:
                raise KeyLimitError(where, -1, int(self._out[0]), self._max_keys)
            if status == lib.PS_ERR_NOMEM:
                self._broken = True
            check_status(status, where)
        return self

    def _per_key(self, fn: Any, where: str) -> np.ndarray:
        with self._use(where):
            out = np.empty(self.nkeys, np.int64)
            check_status(fn(self._state, ffi.from_buffer("int64_t[]", out, require_writable=True)),
                         where)
        return out

    def keys(self) -> np.ndarray:
        """int64 keys holding records, in first-seen order."""
        return self._per_key(lib.ps_keyed_moments_keys, "KeyedMomentsState.keys")

    def first_nan(self) -> np.ndarray:
        """Per key (as :meth:`keys`): the key's index of its first record holding a NaN, -1 for none."""
        return self._per_key(lib.ps_keyed_moments_first_nan, "KeyedMomentsState.first_nan")

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per key (as :meth:`keys`): the start and stop of its record indices."""
        with self._use("KeyedMomentsState.bounds"):
            n = self.nkeys
            a, b = np.empty(n, np.int64), np.empty(n, np.int64)
            check_status(lib.ps_keyed_moments_bounds(self._state, ffi.from_buffer("int64_t[]", a, require_writable=True),
                                                     ffi.from_buffer("int64_t[]", b, require_writable=True)),
                         "KeyedMomentsState.bounds")
        return a, b

    def results(self) -> dict[str, np.ndarray]:
        """Per key (as :meth:`keys`), the raw fields of ``ps_moments_result``.

        Returns
        -------
        dict of ndarray
            ``count, nan_count, sum, mean, m2, min, max`` and the exact
            integer fields ``isum_hi, isum_lo`` (sum = hi * 2**64 + lo),
            ``imin, imax`` (uint64 bits for unsigned dtypes), each shaped
            ``(nkeys, *record_shape)``.  Empty / NaN semantics as
            :class:`~pystream.Moments` before its NaN policy is applied.

        Raises
        ------
        OverflowError
            A key's exact 128-bit integer sum overflowed.
        """
        where = "KeyedMomentsState.results"
        with self._use(where):
            n = self.nkeys
            shape = self.record_shape or ()
            arrays = {name: np.empty((n, *shape), dt) for name, dt in RESULT_FIELDS.items()}
            out = ffi.new("ps_moments_out *")
            for name, arr in arrays.items():
                setattr(out, name, ffi.cast(ffi.typeof(getattr(out, name)), arr.ctypes.data))
            check_status(lib.ps_keyed_moments_result(self._state, out), where)
        return arrays

    def to_bytes(self) -> bytes:
        """Serialize: versioned, checksummed, little-endian bytes."""
        with self._use("KeyedMomentsState.to_bytes"):
            return _serialize(lib.ps_keyed_moments_serialize, self._state,
                              "KeyedMomentsState.to_bytes")

    @classmethod
    def from_bytes(cls, data: Any) -> KeyedMomentsState:
        """Rebuild a state from :meth:`to_bytes` output.

        Raises
        ------
        ValueError
            Truncated, corrupt or unknown-version bytes.
        """
        raw = _bytes_of(data, "KeyedMomentsState.from_bytes")
        out = ffi.new("ps_keyed_moments **")
        check_status(lib.ps_keyed_moments_deserialize(out, ffi.from_buffer(raw), len(raw)),
                     "KeyedMomentsState.from_bytes")
        new = cls.__new__(cls)
        new._adopt(out[0])
        return new

    def copy(self) -> KeyedMomentsState:
        """An independent copy."""
        out = ffi.new("ps_keyed_moments **")
        with self._use("KeyedMomentsState.copy"):
            check_status(lib.ps_keyed_moments_copy(out, self._state), "KeyedMomentsState.copy")
        new = KeyedMomentsState.__new__(KeyedMomentsState)
        new._adopt(out[0])
        return new

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (restore_state, (KeyedMomentsState, self.to_bytes()))


class KeyedStageState(_Keyed):
    """Per-key C stage: a :class:`~pystream.stages.kernel.StageState` per key.

    Parameters
    ----------
    kind_name : str
        A count-preserving C stage (moving windows, scans, EWM; not
        ``resample_*``).
    record_shape : tuple of int, default ()
    max_keys : int, default -1
        As :class:`KeyedMomentsState`; live keys count (evicted ones do not).
    nan_policy : str, default "omit"
    **kernel_params
        As :class:`~pystream.stages.kernel.StageState` (checked by it).

    Examples
    --------
    >>> import numpy as np
    >>> s = KeyedStageState("cumsum")
    >>> s.update(np.array([1.0, 10.0, 2.0, 20.0]), np.array([1, 2, 1, 2]))
    array([ 1., 10.,  3., 30.])
    >>> _ = s.evict([1]); s.update(np.array([5.0]), np.array([1]))
    array([5.])
    """

    __slots__ = ("_record_shape", "_width", "_max_keys", "name")

    def __init__(self, kind_name: str, record_shape: tuple[int, ...] = (), max_keys: int = -1,
                 nan_policy: str = "omit", **kernel_params: Any) -> None:
        if kind_name.startswith("resample"):
            raise ValueError(f"KeyedStageState: {kind_name} changes the record count; keyed "
                             "stages take moving windows, scans and EWM")
        # StageState is the one conversion and check of the parameters
        proto = StageState(kind_name, record_shape, 0, nan_policy, **kernel_params)
        p = ffi.new("ps_stage_params *")
        check_status(lib.ps_stage_get_params(proto._state, p), kind_name)
        out = ffi.new("ps_keyed_stage **")
        check_status(lib.ps_keyed_stage_new(out, p, proto._width, _limit(max_keys, kind_name)),
                     kind_name)
        self._adopt(out[0], proto.record_shape)

    def _adopt(self, raw: Any, record_shape: tuple[int, ...]) -> None:
        self._state = ffi.gc(raw, lib.ps_keyed_stage_free)
        self._lock = threading.Lock()
        self._broken = False
        self._out = ffi.new("int64_t *")
        self._record_shape = tuple(record_shape)
        self._width = int(lib.ps_keyed_stage_width(raw))
        self._max_keys = int(lib.ps_keyed_stage_max_keys(raw))
        p = ffi.new("ps_stage_params *")
        lib.ps_keyed_stage_get_params(raw, p)
        self.name = _NAMES[p.kind]

    @property
    def record_shape(self) -> tuple[int, ...]:
        """Shape of one input (and output) record."""
        return self._record_shape

    @property
    def nkeys(self) -> int:
        """Live keys."""
        return int(lib.ps_keyed_stage_nkeys(self._state))

    def __repr__(self) -> str:
        return f"<pystream.KeyedStageState {self.name} {self.nkeys} keys>"

    def update(self, rows: Any, keys: Any) -> np.ndarray:
        """Feed records with their keys; output i is key ``keys[i]``'s own stage output.

        Parameters
        ----------
        rows : array_like
            Shape ``(k, *record_shape)``, any real dtype (converted to float64).
        keys : array_like of int
            ``k`` keys.

        Returns
        -------
        ndarray
            float64, shape ``(k, *record_shape)``, in input order.

        Raises
        ------
        KeyLimitError
            A key beyond ``max_keys`` (state unchanged).
        """
        where = f"KeyedStageState({self.name}).update"
        chunk = as_array(rows, where)
        if chunk.ndim == 0:
            chunk = chunk.reshape(1)
        r = to_float64_rows(chunk, where)
        if r.shape[1] != self._width or (chunk.ndim > 1 and chunk.shape[1:] != self._record_shape):
            raise ValueError(f"{where}: records of shape {chunk.shape[1:]}, this state expects "
                             f"{self._record_shape}")
        n = len(r)
        k = as_keys(keys, n, where)
        out = np.empty((n, *self._record_shape))
        with self._use(where):
            status = lib.ps_keyed_stage_update(
                self._state, ffi.from_buffer("double[]", r), ffi.from_buffer("int64_t[]", k), n,
                ffi.from_buffer("double[]", out, require_writable=True), self._out)
            if status:
                self._fail(status, where, k, self._max_keys)
        return out

    def evict(self, keys: Any) -> KeyedStageState:
        """Drop the states of `keys` (absent ones are ignored); a key that comes
        back starts afresh, as if never seen."""
        where = f"KeyedStageState({self.name}).evict"
        k = as_array(keys, where).reshape(-1)
        k = as_keys(k, len(k), where)
        with self._use(where):
            check_status(lib.ps_keyed_stage_evict(self._state, ffi.from_buffer("int64_t[]", k),
                                                  len(k)), where)
        return self

    def _per_key(self, fn: Any, where: str) -> np.ndarray:
        with self._use(where):
            out = np.empty(self.nkeys, np.int64)
            check_status(fn(self._state, ffi.from_buffer("int64_t[]", out, require_writable=True)),
                         where)
        return out

    def keys(self) -> np.ndarray:
        """Live keys in slot order (first seen; a new key may take an evicted key's slot)."""
        return self._per_key(lib.ps_keyed_stage_keys, "KeyedStageState.keys")

    def positions(self) -> np.ndarray:
        """Per live key (as :meth:`keys`): records it has seen."""
        return self._per_key(lib.ps_keyed_stage_positions, "KeyedStageState.positions")

    def to_bytes(self) -> bytes:
        """Serialize: versioned, checksummed bytes (the record shape is not in them)."""
        with self._use("KeyedStageState.to_bytes"):
            return _serialize(lib.ps_keyed_stage_serialize, self._state, "KeyedStageState.to_bytes")

    @classmethod
    def from_bytes(cls, data: Any, record_shape: tuple[int, ...] | None = None) -> KeyedStageState:
        """Rebuild a state from :meth:`to_bytes` output.

        Raises
        ------
        ValueError
            Truncated, corrupt or unknown-version bytes, or a record shape of
            another size.
        """
        raw = _bytes_of(data, "KeyedStageState.from_bytes")
        out = ffi.new("ps_keyed_stage **")
        check_status(lib.ps_keyed_stage_deserialize(out, ffi.from_buffer(raw), len(raw)),
                     "KeyedStageState.from_bytes")
        new = cls.__new__(cls)
        new._adopt(out[0], ())
        width = new._width
        rs = (() if width == 1 else (width,)) if record_shape is None else tuple(map(int, record_shape))
        if any(s < 0 for s in rs) or int(np.prod(rs, dtype=object)) != width:
            raise ValueError(f"KeyedStageState.from_bytes: record shape {rs} does not hold {width} values")
        new._record_shape = rs
        return new

    def copy(self) -> KeyedStageState:
        """An independent copy."""
        out = ffi.new("ps_keyed_stage **")
        with self._use("KeyedStageState.copy"):
            check_status(lib.ps_keyed_stage_copy(out, self._state), "KeyedStageState.copy")
        new = KeyedStageState.__new__(KeyedStageState)
        new._adopt(out[0], self._record_shape)
        return new

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (restore_state, (KeyedStageState, self.to_bytes(), self._record_shape))
