"""Checks on untrusted stages (a plugin's, or a generator given to ``Stream.pipe``).

Each chunk such a stage yields is checked against the dtype and record shape
it declared; pystream's own stages are trusted and not wrapped.  Design notes:
``docs/internals/plugins.rst``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .._checks import normalize_record_shape
from .pushers import PusherDefaults

__all__ = ["CheckedChunks", "CheckedGenerator", "CheckedPusher", "CheckedStage", "checked_stage",
           "declared_meta", "is_builtin_stage", "stage_label"]


def is_builtin_stage(stage: Any) -> bool:
    """pystream's own stages (kernel objects, structural functions...): trusted."""
    module = getattr(type(stage), "__module__", "") or ""
    if module == "builtins":  # a function: where it was defined
        module = getattr(stage, "__module__", "") or ""
    return module == "pystream" or module.startswith("pystream.")


def stage_label(stage: Any) -> str:
    """The name errors give a stage: its ``name``, else its function's name."""
    name = getattr(stage, "name", None)
    if isinstance(name, str):
        return name
    return str(getattr(stage, "__name__", None) or type(stage).__name__)


def declared_meta(meta: Any, where: str) -> tuple[np.dtype, tuple[int, ...]]:
    """Check what a stage's ``output_meta`` returned: ``(dtype, record_shape)``.

    Raises
    ------
    TypeError
        If it is not a pair of a dtype and a tuple of non-negative ints, or
        the dtype holds Python objects.
    """

    if not (isinstance(meta, tuple) and len(meta) == 2):
        raise TypeError(f"{where}: output_meta must return (dtype, record_shape), got {meta!r}")
    dtype, record_shape = meta
    if dtype is None:
        raise TypeError(f"{where}: output_meta returned the dtype None; return a numpy dtype")
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"{where}: output_meta returned {dtype!r}, not a dtype ({e})") from None
    if dt.hasobject:
        raise TypeError(f"{where}: output_meta declares dtype {dt}; streams hold raw numeric "
                        "data, not Python objects")
    try:
        rs = normalize_record_shape(record_shape, where)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{where}: output_meta returned the record shape {record_shape!r}: "
                        f"{e}") from None
    return dt, rs


class CheckedChunks:
    """The output of an untrusted stage, each chunk checked against its declaration.

    An iterator object (no generator frame): a plain ndarray of the declared
    dtype and record shape passes in O(1) (a type, a dtype identity and a
    shape-tuple test); ndarray subclasses are viewed as plain arrays (their
    geometry read from the buffer); empty chunks are dropped; anything else
    raises :class:`TypeError` (not an array, another dtype) or
    :class:`ValueError` (a 0-d array, another record shape) naming the
    stage and the global record offset of the chunk.

    Parameters
    ----------
    chunks : iterator
        What the stage yields.
    meta : callable
        ``meta() -> (dtype, record_shape)``, the declaration (called once,
        at the first chunk).
    name : str
        The stage, for error messages.
    start : int
        Global index of the stage's first output record.
    """

    __slots__ = ("_meta", "chunks", "dtype", "name", "ndim", "offset", "record_shape")

    def __init__(self, chunks: Any, meta: Callable[[], tuple[np.dtype, tuple[int, ...]]],
                 name: str, start: int = 0) -> None:
        self.chunks = chunks
        self._meta = meta
        self.name = name
        self.offset = start
        self.dtype: np.dtype | None = None
        self.record_shape: tuple[int, ...] = ()
        self.ndim = 0

    def __iter__(self) -> CheckedChunks:
        return self

    def __next__(self) -> np.ndarray:
        while True:
            c = next(self.chunks)
            if (type(c) is np.ndarray and c.ndim == self.ndim
                    and (c.dtype is self.dtype
                         or (self.dtype is not None and c.dtype == self.dtype))
                    and c.shape[1:] == self.record_shape):
                k = c.shape[0]
                if k:
                    self.offset += k
                    return c
                continue
            c = self._slow(c)
            if c is not None:
                return c

    def _slow(self, c: Any) -> np.ndarray | None:
        if self.dtype is None:
            self.dtype, self.record_shape = self._meta()
            self.ndim = 1 + len(self.record_shape)
        where = (f"stage {self.name!r}: its output chunk at global record {self.offset}")
        if not isinstance(c, np.ndarray):
            raise TypeError(f"{where} is a {type(c).__name__}, not a numpy array; a stage must "
                            "yield ndarrays of shape (k, *record_shape)")
        if type(c) is not np.ndarray:
            if isinstance(c, np.ma.MaskedArray):
                raise TypeError(f"{where} is a masked array; yield plain ndarrays")
            c = np.asarray(c)  # geometry from the buffer, not the subclass's attributes
        if c.ndim == 0:
            raise ValueError(f"{where} is 0-d; a stage must yield chunks of shape "
                             "(k, *record_shape)")
        if not c.shape[0]:
            return None  # empty chunks are dropped, whatever their shape
        if c.dtype != self.dtype:
            raise TypeError(f"{where} has dtype {c.dtype}, but the stage declared {self.dtype} "
                            "(its output_meta, or pipe(dtype=...)); cast the chunks or "
                            "declare the dtype it yields")
        if c.shape[1:] != self.record_shape:
            raise ValueError(f"{where} has records of shape {c.shape[1:]}, but the stage "
                             f"declared {self.record_shape} (its output_meta, or "
                             "pipe(record_shape=...))")
        self.offset += c.shape[0]
        return c

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


class CheckedPusher(PusherDefaults):
    """The push form of an untrusted stage, its outputs checked as :class:`CheckedChunks`.

    ``passthrough`` is not offered (the chunks it would let through
    unchecked could break the declaration): every chunk goes through
    ``send``.
    """

    __slots__ = ("check",)

    def __init__(self, pusher: Any, check: CheckedChunks) -> None:
        super().__init__(pusher)
        self.check = check

    def _checked(self, outs: Any) -> list[np.ndarray]:
        if not isinstance(outs, list):
            if outs is None or isinstance(outs, (np.ndarray, str, bytes)):
                raise TypeError(f"stage {self.check.name!r}: its pusher returned "
                                f"{type(outs).__name__}, not a list of chunks")
            outs = list(outs)
        check = self.check
        check.chunks = iter(outs)
        return list(check)

    def send(self, chunk: np.ndarray) -> list[np.ndarray]:
        return self._checked(self.pusher.send(chunk))

    def close(self) -> list[np.ndarray]:
        return self._checked(self.pusher.close())


class CheckedStage:
    """An untrusted stage object (a plugin's), its output checked chunk by chunk.

    Forwards every attribute (``name``, ``partitioning``, ``push``...) to
    the stage; ``__call__`` and ``push`` check what the stage yields against
    what its ``output_meta`` declared for this stream (see
    :class:`CheckedChunks`), and ``output_meta``'s own result is checked.

    Parameters
    ----------
    stage : object
        The stage (``output_meta`` and ``__call__``).
    input_meta : callable
        ``input_meta() -> (dtype, record_shape)`` of the stream it is
        applied to (native byte order), for a declaration not made yet.
    """

    def __init__(self, stage: Any, input_meta: Callable[[], tuple[np.dtype, tuple[int, ...]]]
                 ) -> None:
        self._stage = stage
        self._input_meta = input_meta
        self._declared: tuple[np.dtype, tuple[int, ...]] | None = None
        self.name = stage_label(stage)

    def __repr__(self) -> str:
        return repr(self._stage)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") or attr in ("_stage", "_input_meta", "_declared"):
            raise AttributeError(attr)
        value = getattr(self._stage, attr)
        if attr == "push" and callable(value):
            def push(*args: Any, **kwargs: Any) -> CheckedPusher:
                check = CheckedChunks(iter(()), self.declared, self.name, kwargs.get("start", 0))
                return CheckedPusher(value(*args, **kwargs), check)
            return push
        return value

    def output_meta(self, dtype: np.dtype, record_shape: tuple[int, ...]
                    ) -> tuple[np.dtype, tuple[int, ...]]:
        """The stage's declaration for this input, checked (see :func:`declared_meta`)."""
        meta = declared_meta(self._stage.output_meta(dtype, record_shape),
                             f"stage {self.name!r}")
        self._declared = meta
        return meta

    def declared(self) -> tuple[np.dtype, tuple[int, ...]]:
        """The declared ``(dtype, record_shape)`` of this stage's output."""
        if self._declared is None:
            self.output_meta(*self._input_meta())
        assert self._declared is not None
        return self._declared

    def __call__(self, chunks: Any, *args: Any, **kwargs: Any) -> CheckedChunks:
        return CheckedChunks(iter(self._stage(chunks, *args, **kwargs)), self.declared,
                             self.name, kwargs.get("start", 0))


def checked_stage(stage: Any, input_meta: Callable[[], tuple[np.dtype, tuple[int, ...]]]) -> Any:
    """`stage` itself if it is pystream's own, else a :class:`CheckedStage`."""
    if is_builtin_stage(stage):
        return stage
    return CheckedStage(stage, input_meta)


class CheckedGenerator:
    """A generator function given to :meth:`Stream.pipe`, its output checked
    against the dtype and record shape the stream declares for it.

    Parameters
    ----------
    func : callable
        ``func(chunks, *args, **kwargs)``, an iterable of chunks.
    meta : callable
        ``meta() -> (dtype, record_shape)``: the output stream's metadata.
    start : callable
        ``start() -> int``: global index of the first output record.
    """

    __slots__ = ("__name__", "func", "meta", "start")

    def __init__(self, func: Callable[..., Any],
                 meta: Callable[[], tuple[np.dtype, tuple[int, ...]]],
                 start: Callable[[], int]) -> None:
        self.func = func
        self.meta = meta
        self.start = start
        self.__name__ = str(getattr(func, "__name__", None) or type(func).__name__)

    def __call__(self, chunks: Any, *args: Any, **kwargs: Any) -> CheckedChunks:
        out = self.func(chunks, *args, **kwargs)
        try:
            it = iter(out)
        except TypeError:
            raise TypeError(f"pipe: {self.__name__} returned a {type(out).__name__}, not an "
                            "iterable of chunks (write it as a generator function)") from None
        return CheckedChunks(it, self.meta, self.__name__, self.start())
