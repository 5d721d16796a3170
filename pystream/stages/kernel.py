"""C-backed stages: the checkpointable :class:`StageState` (a ``ps_stage`` of
``csrc/stage.c``), the stage base class :class:`KernelStage` and its pusher,
and :data:`KINDS`, the C kind codes (see ``docs/internals/stages.rst``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

import numpy as np

from .._buffers import BufferPool
from .._columns import ALIGNED, RowMap
from .._native import as_array, check_record_values, check_status, ffi, kernel_dtype, lib
from .._checks import StateLock, as_int, check_nan_policy, first_nan_record, nan_error, restore_state
from .pushers import drive

__all__ = ["KernelPusher", "KernelStage", "StageState", "KINDS", "to_float64_rows"]

#: Stage name -> C kind code.
KINDS: dict[str, int] = {
    "moving_sum": lib.PS_MOVE_SUM,
    "moving_mean": lib.PS_MOVE_MEAN,
    "moving_var": lib.PS_MOVE_VAR,
    "moving_std": lib.PS_MOVE_STD,
    "moving_min": lib.PS_MOVE_MIN,
    "moving_max": lib.PS_MOVE_MAX,
    "moving_argmin": lib.PS_MOVE_ARGMIN,
    "moving_argmax": lib.PS_MOVE_ARGMAX,
    "moving_median": lib.PS_MOVE_MEDIAN,
    "moving_quantile": lib.PS_MOVE_QUANTILE,
    "moving_rank": lib.PS_MOVE_RANK,
    "cumsum": lib.PS_CUMSUM,
    "cumprod": lib.PS_CUMPROD,
    "cummean": lib.PS_CUMMEAN,
    "cumvar": lib.PS_CUMVAR,
    "cumstd": lib.PS_CUMSTD,
    "ewm_mean": lib.PS_EWM_MEAN,
    "ewm_var": lib.PS_EWM_VAR,
    "ewm_std": lib.PS_EWM_STD,
    "resample_sum": lib.PS_RESAMPLE_SUM,
    "resample_mean": lib.PS_RESAMPLE_MEAN,
}
_NAMES = {code: name for name, code in KINDS.items()}
_NAN = {"propagate": lib.PS_NAN_PROPAGATE, "omit": lib.PS_NAN_OMIT}
_F8 = np.dtype(np.float64)
#: Most values per record (csrc/serial.h PS_MAX_WIDTH): every size the C
#: code derives from a width stays far from overflow.
MAX_WIDTH = 2**40
_PARAM_FIELDS = ("window", "min_count", "ddof", "q", "alpha", "adjust", "ignore_na", "bias")


def to_float64_rows(chunk: np.ndarray, where: object) -> np.ndarray:
    """Return `chunk` as a C-contiguous, aligned, native float64 ``(n, width)`` array.

    A view when the chunk already is one; otherwise one conversion copy.
    `where` names the chunk in error messages (formatted only on error).

    Raises
    ------
    TypeError
        For masked arrays and non-numeric dtypes (complex, object, strings...).
    """
    if type(chunk) is not np.ndarray:
        if isinstance(chunk, np.ma.MaskedArray):
            raise TypeError(
                f"{where}: masked arrays are not supported (the mask would be ignored); "
                "use a.filled(np.nan)"
            )
        chunk = np.asarray(chunk)
    if chunk.dtype != np.float64:
        kernel_dtype(chunk.dtype, str(where))  # refuses what is not a real number
    n = chunk.shape[0] if chunk.ndim else 0
    if chunk.ndim == 0:
        raise ValueError(f"{where}: a 0-d array has no stream axis")
    rows = np.require(chunk, np.float64, ["C", "A"])
    return rows.reshape(n, math.prod(chunk.shape[1:]))


class _At:
    """Names the chunk being fed to a state in error messages, formatted lazily."""

    __slots__ = ("state",)

    def __init__(self, state: StageState) -> None:
        self.state = state

    def __str__(self) -> str:
        return f"{self.state.name}: chunk at record {self.state.position}"

    __format__ = lambda self, spec: str(self)  # noqa: E731


class StageState:
    """The checkpointable state of a C-backed stage.

    Feed it chunks with :meth:`update`; it returns the output rows.  Its
    bytes (:meth:`to_bytes`, or pickle) restore a state that continues the
    stream bit for bit.

    Parameters
    ----------
    name : str
        A C stage name: one of ``StageState.names()``, e.g.
        ``"moving_mean"``, ``"cumsum"``, ``"ewm_mean"``.
    record_shape : tuple of int, default ()
        Shape of one record; every value of the record is a separate column
        (at most 2**40 values: ``ValueError`` beyond).
    start : int, default 0
        Global index of the first record this state will see (windows align
        their internal blocks on global indices).
    nan_policy : {"propagate", "omit"}, default "omit"
        NaN handling in the kernel (``"raise"`` is checked by the stage).
    **params
        The kind's parameters, already validated by the stage that built
        them (``window``, ``min_count``, ``ddof``, ``q``, ``alpha``,
        ``adjust``, ``ignore_na``, ``bias``).

    Notes
    -----
    A state is owned by one thread at a time; concurrent calls raise
    ``RuntimeError``.  Outputs are float64 rows of shape
    ``(k, *record_shape)``.

    Examples
    --------
    >>> import numpy as np, pickle
    >>> a = StageState("moving_sum", window=3, min_count=1)
    >>> a.update(np.array([1.0, 2.0]))
    array([1., 3.])
    >>> b = pickle.loads(pickle.dumps(a))      # checkpoint, then resume
    >>> b.update(np.array([3.0, 4.0]))
    array([6., 9.])
    """

    __slots__ = ("_state", "_lock", "_nout", "_record_shape", "_width", "name")

    def __init__(
        self,
        name: str,
        record_shape: tuple[int, ...] = (),
        start: int = 0,
        nan_policy: str = "omit",
        **params: Any,
    ) -> None:
        if name not in KINDS:
            raise ValueError(f"StageState: unknown stage {name!r}; expected one of {sorted(KINDS)}")
        policy = check_nan_policy(nan_policy, name)
        if policy == "raise":
            policy = "omit"  # the stage checks for NaN before the kernel sees it
        unknown = set(params) - set(_PARAM_FIELDS)
        if unknown:
            raise TypeError(f"{name}: unexpected parameters {sorted(unknown)}")
        rs = tuple(as_int(s, "record_shape must hold integers", name) for s in record_shape)
        if any(s < 0 for s in rs):
            raise ValueError(f"{name}: record_shape {rs} has a negative size")
        width = math.prod(rs)  # Python ints: no int64 wrap-around
        if width < 1:
            raise ValueError(f"{name}: records of shape {rs} hold no values")
        if width > MAX_WIDTH:
            raise ValueError(f"{name}: records of shape {rs} hold {width} values, more than "
                             f"the {MAX_WIDTH} (2**40) a stage supports")
        start = as_int(start, "start must be an integer", name)
        p = ffi.new("ps_stage_params *")
        p.kind = KINDS[name]
        p.nan_policy = _NAN[policy]
        for field, value in params.items():
            try:
                setattr(p, field, value)
            except OverflowError:  # beyond int64 / float64
                raise ValueError(f"{name}: {field}={value!r} is out of range") from None
        out = ffi.new("ps_stage **")
        status = lib.ps_stage_new(out, p, width, start)
        if status == lib.PS_ERR_NOMEM:
            check_status(status, f"{name}: a state for records of shape {rs} with {params}")
        check_status(status, f"{name}: invalid parameters {params}")
        self._adopt(out[0], name, rs)

    def _adopt(self, raw: Any, name: str, record_shape: tuple[int, ...]) -> None:
        self._state = ffi.gc(raw, lib.ps_stage_free)
        self._lock = threading.Lock()
        self._nout = ffi.new("int64_t *")
        self.name = name
        self._record_shape = record_shape
        self._width = int(lib.ps_stage_width(raw))

    @staticmethod
    def names() -> list[str]:
        """Names of the C-backed stages."""
        return sorted(KINDS)

    @property
    def record_shape(self) -> tuple[int, ...]:
        """Shape of one input (and output) record."""
        return self._record_shape

    @property
    def position(self) -> int:
        """Global index of the next record this state expects."""
        return int(lib.ps_stage_position(self._state))

    @property
    def params(self) -> dict[str, Any]:
        """The kernel parameters (``nan_policy`` included)."""
        p = ffi.new("ps_stage_params *")
        check_status(lib.ps_stage_get_params(self._state, p), self.name)
        out: dict[str, Any] = {"nan_policy": "omit" if p.nan_policy == lib.PS_NAN_OMIT else "propagate"}
        for field in _PARAM_FIELDS:
            out[field] = getattr(p, field)
        return out

    def __repr__(self) -> str:
        return f"<pystream.StageState {self.name} at record {self.position}>"

    def _rows(self, chunk: np.ndarray) -> np.ndarray:
        rows = to_float64_rows(chunk, _At(self))
        if rows.shape[1] != self._width or (chunk.ndim > 1 and chunk.shape[1:] != self._record_shape):
            raise ValueError(
                f"{self.name}: chunk at record {self.position} has records of shape "
                f"{chunk.shape[1:]}, this state expects {self._record_shape}"
            )
        return rows

    def update(self, chunk: np.ndarray, buffer: np.ndarray | None = None) -> np.ndarray:
        """Feed a chunk of records; return the output rows it completes.

        Parameters
        ----------
        chunk : array_like
            Shape ``(k, *record_shape)`` of any real dtype (converted to
            float64); lists and other array-likes are converted as by
            :func:`numpy.asarray`, and a 0-d array is one scalar record.
        buffer : ndarray of uint8, optional
            Scratch memory of at least ``8 * k * width`` bytes to hold the
            output (which is then a view of it); default: a new array.

        Returns
        -------
        ndarray
            float64, shape ``(m, *record_shape)``: ``m == k`` for all
            stages but block reductions.
        """
        if type(chunk) is not np.ndarray or not chunk.ndim:  # geometry from the buffer
            chunk = as_array(chunk, _At(self))
            if not chunk.ndim:
                chunk = chunk.reshape(1)  # one scalar record
        if (type(chunk) is np.ndarray and chunk.dtype == _F8 and chunk.ndim == 1
                and self._width == 1 and chunk.flags.c_contiguous and chunk.flags.aligned):
            rows = chunk  # the common case, without any conversion
        else:
            rows = self._rows(chunk)
        n = len(rows)
        if buffer is None:
            out = np.empty((n, *self._record_shape))
        else:
            out = buffer[: 8 * n * self._width].view(np.float64)
            if self._record_shape:
                out = out.reshape(n, *self._record_shape)
        nout = self._nout
        with StateLock(self._lock, "StageState.update"):
            status = lib.ps_stage_update(self._state, ffi.from_buffer("double[]", rows), n,
                                         ffi.from_buffer("double[]", out, require_writable=True),
                                         nout)
            m = int(nout[0])
        if status:
            check_status(status, str(_At(self)))
        return out if m == n else out[:m]

    def flush(self) -> np.ndarray:
        """Output pending at the end of the stream (a block reduction's incomplete
        last block); does not change the state.

        Returns
        -------
        ndarray
            float64, shape ``(0 or 1, *record_shape)``.
        """
        out = np.empty((1, *self._record_shape))
        nout = self._nout
        with StateLock(self._lock, "StageState.flush"):
            check_status(lib.ps_stage_flush(self._state, ffi.from_buffer("double[]", out,
                                                                          require_writable=True), nout),
                         f"{self.name}.flush")
            m = int(nout[0])
        return out[:m]

    def copy(self) -> StageState:
        """An independent copy of this state."""
        return StageState.from_bytes(self.to_bytes(), self._record_shape)

    def to_bytes(self) -> bytes:
        """Serialize: versioned, checksummed bytes (see :meth:`from_bytes`).

        The record shape is not part of the bytes (only its size); pass it
        to :meth:`from_bytes`.
        """
        size = ffi.new("size_t *")
        with StateLock(self._lock, "StageState.to_bytes"):
            check_status(lib.ps_stage_serialize(self._state, ffi.NULL, 0, size), self.name)
            buf = bytearray(size[0])
            check_status(lib.ps_stage_serialize(self._state, ffi.from_buffer(buf), len(buf), size),
                         self.name)
        return bytes(buf)

    @classmethod
    def from_bytes(
        cls, data: bytes | bytearray | memoryview, record_shape: tuple[int, ...] | None = None
    ) -> StageState:
        """Rebuild a state from :meth:`to_bytes` output.

        Parameters
        ----------
        data : bytes-like
        record_shape : tuple of int, optional
            Default: flat records of the serialized width (``()`` for width 1).

        Raises
        ------
        ValueError
            Truncated, corrupt or unknown-version bytes (also an
            ``ewm_mean(adjust=True)`` state written in format 1, before its
            kernel changed), a state no data
            could produce (checked field by field even when the checksum
            matches: widths the bytes cannot hold, counts, weights, ...; see
            the design notes, "What from_bytes guarantees"), or a record
            shape of another size.
        """
        try:
            raw = bytes(memoryview(data).cast("B"))
        except TypeError:
            raise TypeError(f"StageState.from_bytes expects bytes, not {type(data).__name__}") from None
        out = ffi.new("ps_stage **")
        status = lib.ps_stage_deserialize(out, ffi.from_buffer(raw), len(raw))
        if status == lib.PS_ERR_VERSION and raw[8:16] == (1).to_bytes(8, "little"):
            raise ValueError(
                "StageState.from_bytes: a state written before issue 17 (format 1) of "
                "ewm_mean(adjust=True), whose kernel has changed; this version cannot "
                "continue it: rebuild the state from the data")
        check_status(status, "StageState.from_bytes")
        state = ffi.gc(out[0], lib.ps_stage_free)
        width = int(lib.ps_stage_width(state))
        if record_shape is None:
            record_shape = () if width == 1 else (width,)
        rs = tuple(int(s) for s in record_shape)
        if any(s < 0 for s in rs) or math.prod(rs) != width:
            raise ValueError(f"StageState.from_bytes: record shape {rs} does not hold {width} values")
        p = ffi.new("ps_stage_params *")
        check_status(lib.ps_stage_get_params(state, p), "StageState.from_bytes")
        new = cls.__new__(cls)
        new._state = state
        new._lock = threading.Lock()
        new._nout = ffi.new("int64_t *")
        new.name = _NAMES[p.kind]
        new._record_shape = rs
        new._width = width
        return new

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:

        return (restore_state, (StageState, self.to_bytes(), self._record_shape))

    def __copy__(self) -> StageState:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> StageState:
        return self.copy()


class KernelStage:
    """Base class of the C-backed stages (protocol: ``output_meta``, ``push`` and ``__call__``).

    Subclasses validate their parameters in ``__init__`` and set
    ``self.kernel`` (the C stage name), ``self.kernel_params`` and
    ``self.nan_policy``.
    """

    name: ClassVar[str] = "kernel"
    #: Whether the end of the stream emits the state's pending output (flush).
    emit_flush: bool = True
    #: ``__call__`` accepts ``alloc``: ``to_array`` lets the stage write in place.
    writes_into: bool = True
    kernel: str
    kernel_params: Mapping[str, Any]
    nan_policy: str

    def rows(self) -> RowMap:
        """Which input record gives each output its time and key: its own
        (:class:`pystream.RowMap`; see ``docs/design.md``, "Tables")."""
        return ALIGNED

    def output_meta(self, dtype: np.dtype, record_shape: tuple[int, ...]) -> tuple[np.dtype, tuple[int, ...]]:
        """float64 records of the input's shape; refuses non-numeric dtypes and
        records that hold no values."""
        kernel_dtype(dtype, self.name)
        check_record_values(record_shape, self.name)
        return np.dtype(np.float64), tuple(record_shape)

    def state(self, record_shape: tuple[int, ...] = (), start: int = 0) -> StageState:
        """A fresh :class:`StageState` for this stage's parameters."""
        return StageState(self.kernel, record_shape, start, self.nan_policy, **self.kernel_params)

    def new_state(self, chunk: np.ndarray, start: int) -> Any:
        """The state a pass feeds, made for its first non-empty `chunk`.

        An object with ``update(chunk, buffer) -> output``, ``flush()`` and
        ``position`` (as :class:`StageState`); by default
        ``self.state(chunk.shape[1:], start)``.  A subclass may pick by the
        chunk's dtype (:class:`~pystream.stages.scans.Scan` does).
        """
        return self.state(tuple(chunk.shape[1:]), start)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kernel_params.items())
        return f"{type(self).__name__}({self.name}: {args})"

    def push(
        self, start: int = 0, alloc: Callable[[int], np.ndarray] | None = None
    ) -> KernelPusher:
        """A fresh pusher for one pass (the push form; see :mod:`pystream.stages.pushers`).

        Parameters
        ----------
        start : int, default 0
            Global index of the first record.
        alloc : callable, optional
            ``alloc(nbytes)`` gives the memory each output chunk is written
            to (a uint8 array of at least `nbytes` bytes); by default a pool
            that reuses buffers the consumer has let go of.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.stages.windows import Moving
        >>> p = Moving("moving_sum", window=2).push()
        >>> p.send(np.array([1.0, 2.0, 3.0]))
        [array([nan,  3.,  5.])]
        """
        return KernelPusher(self, start, alloc)

    def __call__(
        self,
        chunks: Iterator[np.ndarray],
        start: int = 0,
        alloc: Callable[[int], np.ndarray] | None = None,
    ) -> Iterator[np.ndarray]:
        """Run the stage over `chunks` (global index of the first record: `start`).

        The pull form of :meth:`push`.  ``alloc(nbytes)`` gives the memory
        each output chunk is written to; by default a pool that reuses
        buffers the consumer has let go of.
        """
        return drive(self.push(start, alloc), chunks)


class KernelPusher:
    """The pusher of a :class:`KernelStage`: feeds a :class:`StageState`.

    The state is made on the first non-empty chunk (by the stage's
    ``new_state(chunk, start)``: the record shape is the chunk's).  Each
    output is written to memory from ``alloc``.  With ``nan_policy="raise"``
    the records before a NaN are fed and output, then ``error`` is set (see
    :mod:`pystream.stages.pushers`).
    """

    __slots__ = ("_alloc", "_check_nan", "_stage", "_start", "_state", "done", "error")

    def __init__(self, stage: KernelStage, start: int = 0,
                 alloc: Callable[[int], np.ndarray] | None = None) -> None:
        self._stage = stage
        self._start = start
        self._alloc = BufferPool(0).get if alloc is None else alloc
        self._check_nan = stage.nan_policy == "raise"
        self._state: Any = None  # a StageState (or what the stage's new_state makes)
        self.done = False
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        return f"<{self._stage.name} pusher: {self._state!r}>"

    def send(self, chunk: np.ndarray) -> list[np.ndarray]:
        """Feed `chunk` to the state; see :class:`~pystream.stages.pushers.Pusher`."""
        if not len(chunk):
            return []
        state = self._state
        if state is None:
            state = self._state = self._stage.new_state(chunk, self._start)
        if self._check_nan:
            return self._send_checked(state, chunk)
        out = state.update(chunk, self._alloc(8 * chunk.size))
        return [out] if len(out) else []

    def _send_checked(self, state: Any, chunk: np.ndarray) -> list[np.ndarray]:
        """`send` for ``nan_policy="raise"``: the records before a NaN go in first,
        as in the numpy stages, so what precedes the error is chunk-invariant."""
        bad = first_nan_record(chunk)
        if bad >= 0:
            chunk = chunk[:bad]
        outs: list[np.ndarray] = []
        if len(chunk):
            out = state.update(chunk, self._alloc(8 * chunk.size))
            if len(out):
                outs.append(out)
        if bad >= 0:
            self.error = nan_error(self._stage.name, state.position)
            self.done = True
        return outs

    def close(self) -> list[np.ndarray]:
        """End of the stream: the state's pending output (a block reduction's
        incomplete last block) if the stage emits it."""
        state = self._state
        if state is not None and self._stage.emit_flush:
            tail = state.flush()
            if len(tail):
                return [tail]
        return []
