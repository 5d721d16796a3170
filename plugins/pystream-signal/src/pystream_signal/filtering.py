"""Streaming IIR filtering (``sosfilt``) and decimation (``decimate``).

Both stages carry their filter state from chunk to chunk, so the streamed
output equals scipy's on the whole array, bit for bit, for any chunking:

- ``sosfilt(sos, zi=None)`` == ``scipy.signal.sosfilt(sos, x, axis=0, zi=zi)[0]``;
- ``decimate(q, n=None, ftype="iir")`` ==
  ``scipy.signal.decimate(x, q, n, ftype, axis=0, zero_phase=False)``.

scipy is imported when a stage is built or run, never when this module is
imported.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import Any

import numpy as np

from ._common import as_chunk, check_int, check_real_dtype, close_iter, pack, unpack

__all__ = ["SosFilt", "SosfiltState", "Decimate", "DecimateState"]


def _check_sos(sos: Any, where: str) -> np.ndarray:
    try:
        a = np.asarray(sos)
    except Exception as e:  # ragged lists and the like
        raise TypeError(f"{where}: sos must be an array of shape (n_sections, 6) ({e})") from None
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{where}: sos must hold real numbers, not {a.dtype}")
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] != 6 or a.shape[0] < 1:
        raise ValueError(f"{where}: sos must have shape (n_sections, 6), got {np.shape(sos)}")
    if a.dtype.kind != "f":
        a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{where}: sos holds non-finite coefficients")
    if not (a[:, 3] == 1).all():
        raise ValueError(f"{where}: sos[:, 3] should be all ones (normalized sections)")
    return np.array(a, copy=True)  # private and writable (scipy's Cython code needs that)


def _out_dtype(where: str, *dtypes: np.dtype) -> np.dtype:
    dt = np.result_type(*dtypes)
    if dt.char not in "fdg":
        raise TypeError(f"{where}: unsupported input dtype (computation type would be {dt})")
    return dt


class _Driver(abc.ABC):
    """The stage protocol over a state: the push form (:meth:`push`, a fresh
    :class:`_Pusher`) and the pull form (:meth:`__call__`, a generator that
    feeds a pusher); subclasses make the state."""

    name: str

    @abc.abstractmethod
    def state(self, record_shape: tuple[int, ...] = (), start: int = 0) -> Any:
        """A fresh state for records of `record_shape`, first record at global index `start`."""

    def push(self, start: int = 0) -> _Pusher:
        """A fresh pusher for one pass: ``send(chunk) -> list of chunks``, ``close() -> []``.

        This is pystream's push protocol (``pystream.stages.pushers``): push
        mode feeds it directly instead of running :meth:`__call__` in a
        helper thread.
        """
        return _Pusher(self, check_int(start, "start", self.name, minimum=0))

    def __call__(self, chunks: Iterator[np.ndarray], start: int = 0) -> Iterator[np.ndarray]:
        pusher = self.push(start)
        try:
            for chunk in chunks:
                yield from pusher.send(chunk)
        finally:
            close_iter(chunks)


class _Pusher:
    """One pass of a :class:`_Driver` stage, fed chunk by chunk.

    The state is made on the first non-empty chunk (its record shape is the
    chunk's).  ``done`` stays False and ``error`` None: a filter outputs
    for every chunk, and a bad chunk raises from :meth:`send` before any
    output of it.
    """

    __slots__ = ("_stage", "_start", "_state", "done", "error")

    def __init__(self, stage: _Driver, start: int) -> None:
        self._stage = stage
        self._start = start
        self._state: Any = None
        self.done = False
        self.error: BaseException | None = None

    def send(self, chunk: np.ndarray) -> list[np.ndarray]:
        """Filter one chunk; return ``[output]`` (``[]`` when nothing comes out)."""
        chunk = as_chunk(chunk, f"{self._stage.name}: chunk")
        if not len(chunk):
            return []
        state = self._state
        if state is None:
            state = self._state = self._stage.state(tuple(chunk.shape[1:]), self._start)
        out = state.update(chunk)
        return [out] if len(out) else []

    def close(self) -> list[np.ndarray]:
        """End of the stream: filters have nothing pending."""
        return []


class SosfiltState:
    """Checkpointable state of :class:`SosFilt`: the sections' delays ``zi``.

    ``update(chunk)`` filters a chunk and returns it; ``to_bytes()`` /
    ``from_bytes()`` checkpoint the state (versioned, CRC-checked bytes).
    """

    _KIND = "sosfilt"

    def __init__(self, sos: Any, zi: Any = None, record_shape: tuple[int, ...] = (),
                 start: int = 0) -> None:
        self.sos = _check_sos(sos, "sosfilt")
        self.record_shape = tuple(check_int(s, "record_shape", "sosfilt", 0) for s in record_shape)
        self.start = check_int(start, "start", "sosfilt", minimum=0)
        self.position = self.start
        shape = (len(self.sos), 2, *self.record_shape)
        if zi is None:
            self.zi: np.ndarray | None = None  # zeros of the computation dtype, made on first use
        else:
            z = np.asarray(zi)
            if z.dtype.kind not in "iuf":
                raise TypeError(f"sosfilt: zi must hold real numbers, not {z.dtype}")
            try:
                z = np.broadcast_to(z, shape)
            except ValueError:
                raise ValueError(f"sosfilt: zi of shape {np.shape(zi)} does not broadcast to "
                                 f"(n_sections, 2, *record_shape) = {shape}") from None
            self.zi = np.array(z, dtype=np.result_type(z.dtype, self.sos.dtype), copy=True)

    def __repr__(self) -> str:
        return f"<SosfiltState {len(self.sos)} sections at record {self.position}>"

    def update(self, chunk: np.ndarray) -> np.ndarray:
        """Filter `chunk` (shape ``(k, *record_shape)``); return the filtered chunk."""
        from scipy.signal import sosfilt

        chunk = as_chunk(chunk, f"sosfilt: chunk at record {self.position}")
        if chunk.shape[1:] != self.record_shape:
            raise ValueError(f"sosfilt: chunk at record {self.position} has records of shape "
                             f"{chunk.shape[1:]}, this state expects {self.record_shape}")
        dt = _out_dtype("sosfilt", self.sos.dtype, chunk.dtype,
                        *(() if self.zi is None else (self.zi.dtype,)))
        if self.zi is None:
            self.zi = np.zeros((len(self.sos), 2, *self.record_shape), dt)
        if not len(chunk):
            return np.empty(chunk.shape, dt)
        y, zf = sosfilt(self.sos, chunk, axis=0, zi=self.zi)
        self.zi = zf
        self.position += len(chunk)
        return y

    def to_bytes(self) -> bytes:
        meta = {"start": self.start, "position": self.position,
                "record_shape": list(self.record_shape), "has_zi": self.zi is not None}
        arrays = {"sos": self.sos}
        if self.zi is not None:
            arrays["zi"] = self.zi
        return pack(self._KIND, meta, arrays)

    @classmethod
    def from_bytes(cls, data: Any) -> SosfiltState:
        """Rebuild a state from :meth:`to_bytes`; ValueError for corrupt bytes."""
        meta, arrays = unpack(cls._KIND, data, "SosfiltState.from_bytes")
        try:
            new = cls(arrays["sos"], arrays.get("zi"), tuple(meta["record_shape"]), meta["start"])
            new.position = check_int(meta["position"], "position", "SosfiltState", new.start)
        except (KeyError, TypeError) as e:
            raise ValueError(f"SosfiltState.from_bytes: malformed state ({e})") from None
        return new

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (type(self).from_bytes, (self.to_bytes(),))


class SosFilt(_Driver):
    """Causal IIR filtering by second-order sections, state carried across chunks.

    Equals ``scipy.signal.sosfilt(sos, x, axis=0, zi=zi)`` on the whole
    stream (bit for bit); each value of a record is filtered as a separate
    column.  Output dtype: ``np.result_type(sos, x, zi)`` (float64 for
    float64 coefficients), as scipy.

    Parameters
    ----------
    sos : array_like, shape (n_sections, 6)
        Second-order sections (e.g. ``scipy.signal.butter(..., output="sos")``),
        ``sos[:, 3] == 1``.
    zi : array_like, optional
        Initial delays, broadcastable to ``(n_sections, 2, *record_shape)``
        (scipy's layout for ``axis=0``).  Default: zeros.
    """

    name = "sosfilt"

    def __init__(self, sos: Any, zi: Any = None) -> None:
        self.sos = _check_sos(sos, self.name)
        if zi is not None:
            z = np.asarray(zi)
            if z.dtype.kind not in "iuf":
                raise TypeError(f"{self.name}: zi must hold real numbers, not {z.dtype}")
            if z.ndim < 2 or z.shape[:2] not in ((len(self.sos), 2), (1, 2), (len(self.sos), 1), (1, 1)):
                raise ValueError(f"{self.name}: zi must have shape (n_sections, 2, *record_shape) "
                                 f"= ({len(self.sos)}, 2, ...), got {z.shape}")
            zi = z
        self.zi = zi

    def __repr__(self) -> str:
        return f"SosFilt({len(self.sos)} sections{'' if self.zi is None else ', zi'})"

    def output_meta(self, dtype: np.dtype, record_shape: tuple[int, ...]) -> tuple[np.dtype, tuple[int, ...]]:
        """``(result_type(sos, dtype, zi), record_shape)``; TypeError for non-real dtypes."""
        dt = check_real_dtype(dtype, self.name)
        extra = () if self.zi is None else (self.zi.dtype,)
        return _out_dtype(self.name, self.sos.dtype, dt, *extra), tuple(record_shape)

    def state(self, record_shape: tuple[int, ...] = (), start: int = 0) -> SosfiltState:
        """A fresh checkpointable :class:`SosfiltState`."""
        return SosfiltState(self.sos, self.zi, record_shape, start)


class DecimateState:
    """Checkpointable state of :class:`Decimate` (filter delays + phase)."""

    _KIND = "decimate"

    def __init__(self, q: int, n: int | None = None, ftype: str = "iir",
                 record_shape: tuple[int, ...] = (), start: int = 0) -> None:
        self.q, self.n, self.ftype, self._coef = _decimate_params(q, n, ftype)
        self.record_shape = tuple(check_int(s, "record_shape", "decimate", 0) for s in record_shape)
        self.start = check_int(start, "start", "decimate", minimum=0)
        self.position = self.start
        self.mem: np.ndarray | None = None  # iir: zi (n_sections, 2, *rs); fir: last L-1 inputs

    def __repr__(self) -> str:
        return f"<DecimateState q={self.q} {self.ftype} at record {self.position}>"

    def update(self, chunk: np.ndarray) -> np.ndarray:
        """Filter `chunk` and return the records at offsets ``0, q, 2q, ...`` from `start`."""
        from scipy.signal import sosfilt

        where = f"decimate: chunk at record {self.position}"
        chunk = as_chunk(chunk, where)
        if chunk.shape[1:] != self.record_shape:
            raise ValueError(f"{where} has records of shape {chunk.shape[1:]}, this state "
                             f"expects {self.record_shape}")
        dt = _decimate_dtype(chunk.dtype)
        if self.mem is not None:
            dt = np.result_type(dt, self.mem.dtype)
        coef = self._coef.astype(dt)
        k = len(chunk)
        first = (self.start - self.position) % self.q  # first kept offset in this chunk
        if self.ftype == "iir":
            if self.mem is None:
                self.mem = np.zeros((len(coef), 2, *self.record_shape), np.result_type(coef, chunk))
            if not k:
                return np.empty((0, *self.record_shape), dt)
            y, self.mem = sosfilt(coef, chunk, axis=0, zi=self.mem)
            out = y[first::self.q]
        else:
            L = len(coef)
            if self.mem is None:
                self.mem = np.zeros((L - 1, *self.record_shape), dt)
            if not k:
                return np.empty((0, *self.record_shape), dt)
            buf = np.concatenate((self.mem.astype(dt, copy=False), chunk.astype(dt, copy=False)))
            out = np.empty((len(range(first, k, self.q)), *self.record_shape), dt)
            if len(out):
                w = np.lib.stride_tricks.sliding_window_view(buf, L, axis=0)[first::self.q]
                np.sum(w * coef[::-1], axis=-1, out=out)  # y[j] = sum_k b[k] x[j - k]
            self.mem = buf[len(buf) - (L - 1):].copy()
        self.position += k
        return np.ascontiguousarray(out)

    def to_bytes(self) -> bytes:
        meta = {"q": self.q, "n": self.n, "ftype": self.ftype, "start": self.start,
                "position": self.position, "record_shape": list(self.record_shape)}
        return pack(self._KIND, meta, {} if self.mem is None else {"mem": self.mem})

    @classmethod
    def from_bytes(cls, data: Any) -> DecimateState:
        """Rebuild a state from :meth:`to_bytes`; ValueError for corrupt bytes."""
        meta, arrays = unpack(cls._KIND, data, "DecimateState.from_bytes")
        try:
            new = cls(meta["q"], meta["n"], meta["ftype"], tuple(meta["record_shape"]), meta["start"])
            new.position = check_int(meta["position"], "position", "DecimateState", new.start)
        except (KeyError, TypeError) as e:
            raise ValueError(f"DecimateState.from_bytes: malformed state ({e})") from None
        new.mem = arrays.get("mem")
        return new

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (type(self).from_bytes, (self.to_bytes(),))


def _decimate_dtype(dtype: np.dtype) -> np.dtype:
    """scipy's rule: inexact dtypes are kept (float16 excepted), the others give float64."""
    dt = np.dtype(dtype)
    return dt if dt.kind == "f" and dt.itemsize > 2 else np.dtype(np.float64)


def _decimate_params(q: Any, n: Any, ftype: Any) -> tuple[int, int, str, np.ndarray]:
    """Validate and design the anti-alias filter as scipy.signal.decimate does."""
    where = "decimate"
    q = check_int(q, "q", where, minimum=1)
    if not isinstance(ftype, str):
        raise TypeError(f"{where}: ftype must be 'iir' or 'fir' (dlti systems are not supported), "
                        f"not {type(ftype).__name__}")
    if ftype not in ("iir", "fir"):
        raise ValueError(f"{where}: ftype must be 'iir' or 'fir', got {ftype!r}")
    if n is not None:
        n = check_int(n, "n", where, minimum=1)
    import warnings

    from scipy.signal import cheby1, firwin

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            if ftype == "fir":
                if q < 2:
                    raise ValueError("q must be >= 2 for ftype='fir' (cutoff 1/q must be < 1)")
                if n is None:
                    n = 20 * q
                coef = firwin(n + 1, 1.0 / q, window="hamming")
            else:
                if n is None:
                    n = 8
                coef = cheby1(n, 0.05, 0.8 / q, output="sos")
    except Exception as e:
        raise ValueError(f"{where}: cannot design the anti-alias filter for q={q}, n={n}, "
                         f"ftype={ftype!r}: {e}") from None
    coef = np.asarray(coef, dtype=np.float64)
    if not np.isfinite(coef).all():
        raise ValueError(f"{where}: the anti-alias filter for q={q}, n={n} is not finite")
    return q, n, ftype, coef


class Decimate(_Driver):
    """Streaming decimation: causal anti-alias filter, then every q-th record.

    Equals ``scipy.signal.decimate(x, q, n, ftype, axis=0, zero_phase=False)``
    on the whole stream.  Records kept: offsets ``0, q, 2q, ...`` from the
    stream's first record.  scipy's default ``zero_phase=True`` filters
    forwards and backwards (non-causal): it cannot stream.

    Parameters
    ----------
    q : int
        Downsampling factor (``>= 1``; ``>= 2`` for ``ftype="fir"``).
    n : int, optional
        Filter order: default 8 (iir, Chebyshev I, 0.05 dB ripple, cutoff
        ``0.8 / q``) or ``20 * q`` (fir, ``n + 1`` Hamming taps, cutoff ``1 / q``).
    ftype : {"iir", "fir"}
    """

    name = "decimate"

    def __init__(self, q: int, n: int | None = None, ftype: str = "iir") -> None:
        self.q, self.n, self.ftype, self._coef = _decimate_params(q, n, ftype)

    def __repr__(self) -> str:
        return f"Decimate(q={self.q}, n={self.n}, ftype={self.ftype!r})"

    def output_meta(self, dtype: np.dtype, record_shape: tuple[int, ...]) -> tuple[np.dtype, tuple[int, ...]]:
        """Float records of the input's shape (float32 stays float32, like scipy)."""
        return _decimate_dtype(check_real_dtype(dtype, self.name)), tuple(record_shape)

    def state(self, record_shape: tuple[int, ...] = (), start: int = 0) -> DecimateState:
        """A fresh checkpointable :class:`DecimateState`."""
        return DecimateState(self.q, self.n, self.ftype, record_shape, start)
