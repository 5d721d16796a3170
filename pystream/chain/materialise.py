"""Materialising a stream: one result array, each output record written into it once.

``to_array()`` on every engine fills a :class:`ResultBuffer`.  How the
records get there, best first (see ``docs/design.md``, "Materialising a
stream: one write"):

* a last stage that ``writes_into`` (the C stages) writes its output
  straight into the result (``alloc``);
* a last chunk function that can write into given memory (a unary ufunc
  ``map``, ``astype``) does so (``out=``, :func:`into_writer`);
* any other last stage's chunks are copied into the result once.

The result is allocated once, from the exact output length when the
planner knows it (:func:`output_length`), with a little slack for an
end-of-stream flush, and returned as a view of its first records: no
growth copy and no trimming copy when the length was known.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..stages.elementwise import AstypeFn, MapFn, SelectFn
from .nodes import Node
from .planner import make_plan
from .steps import close_iterator, fn_name, run_fns, stage_note

__all__ = ["HUGE_PAGE", "ResultBuffer", "empty_result", "expected_length", "fill", "into_writer",
           "output_length"]

#: Results of at least twice this many bytes start on a multiple of it, so
#: every page of them can be a transparent huge page (numpy asks for huge
#: pages on allocations of 4 MiB and more): fewer, cheaper first-touch faults.
HUGE_PAGE = 2 << 20
#: Extra bytes allocated past a known length: room for an end-of-stream
#: flush (a partial resample block) without moving the result.  Never
#: touched unless written, so it costs address space only.
SLACK_BYTES = 64 << 10

Writer = Callable[[np.ndarray, np.ndarray], "np.ndarray | None"]


def empty_result(n: int, dtype: np.dtype, record_shape: tuple[int, ...]) -> np.ndarray:
    """An uninitialised ``(n, *record_shape)`` array; 2 MiB-aligned when large.

    Parameters
    ----------
    n : int
        Records.
    dtype : numpy.dtype
    record_shape : tuple of int

    Returns
    -------
    ndarray
        C-contiguous; a view of a slightly larger byte buffer when
        ``n`` records take at least ``2 * HUGE_PAGE`` bytes.

    Examples
    --------
    >>> a = empty_result(1 << 20, np.dtype(np.float64), ())
    >>> a.shape, a.ctypes.data % HUGE_PAGE
    ((1048576,), 0)
    """
    row = dtype.itemsize * int(np.prod(record_shape, dtype=np.int64))
    nbytes = n * row
    if nbytes < 2 * HUGE_PAGE or dtype.hasobject:
        return np.empty((n, *record_shape), dtype)
    raw = np.empty(nbytes + HUGE_PAGE, np.uint8)
    skip = -raw.ctypes.data % HUGE_PAGE
    if skip % dtype.alignment:  # pragma: no cover - malloc aligns to 16 bytes
        return np.empty((n, *record_shape), dtype)
    return raw[skip:skip + nbytes].view(dtype).reshape(n, *record_shape)


def output_length(node: Node) -> int | None:
    """The number of records `node` outputs, when the planner knows it before the
    run (a random-access or in-memory source and no filter or sequential step);
    else None.  End-of-stream flushes (a partial resample block) are not counted.
    """
    root = node.root()
    access = getattr(root.source, "access", None)
    whole = getattr(root.source, "whole", None)
    if access is None and whole is None:
        return None
    plan = make_plan(node)
    if plan.suffix or not plan.indexed:
        return None
    n = access.length() if access is not None else len(whole)  # type: ignore[arg-type]
    return plan.output_range(0, n)[1]


def expected_length(node: Node) -> int:
    """Records to allocate for before the run: the output length when the
    planner knows it, else the in-memory source's length (a hint: a stage
    may change the length), else 0 (unknown: grow as records arrive)."""
    n = output_length(node)
    if n is not None:
        return n
    dt, rs = node.meta()
    return node.length_hint(dt.itemsize * int(np.prod(rs, dtype=np.int64)))


class ResultBuffer:
    """One result array being filled in order.

    Parameters
    ----------
    dtype : numpy.dtype
        The stream's dtype.
    record_shape : tuple of int
        The stream's record shape.
    expected : int
        Records to allocate for at first (0: unknown; the buffer then grows
        by doubling, the one case where records are copied again).

    Attributes
    ----------
    array : ndarray
        The buffer (its first :attr:`used` records are the result so far).
    used : int
        Records written.
    grown : int
        Times records already written were copied to a larger buffer.

    Examples
    --------
    >>> buf = ResultBuffer(np.dtype(np.float64), (), 5)
    >>> buf.put(np.arange(3.0))
    >>> buf.put(np.arange(2.0))
    >>> buf.result(), buf.grown
    (array([0., 1., 2., 0., 1.]), 0)
    """

    __slots__ = ("array", "dtype", "flat", "grown", "record_shape", "row", "used")

    def __init__(self, dtype: np.dtype, record_shape: tuple[int, ...], expected: int = 0) -> None:
        self.dtype = dtype
        self.record_shape = record_shape
        self.row = dtype.itemsize * int(np.prod(record_shape, dtype=np.int64))
        self.used = 0
        self.grown = 0
        slack = max(1, SLACK_BYTES // self.row) if expected and self.row else 0
        self._allocate(expected + slack)

    def _allocate(self, n: int) -> None:
        self.array = empty_result(n, self.dtype, self.record_shape)
        self.flat = self.array.reshape(-1).view(np.uint8) if self.array.size else None

    def reserve(self, k: int) -> np.ndarray:
        """Room for `k` more records (growing the buffer if needed); the buffer."""
        used = self.used
        if used + k > len(self.array):
            old = self.array
            self._allocate(max(used + k, 2 * used, 1024))
            if used:
                self.array[:used] = old[:used]
                self.grown += 1
        return self.array

    def target(self, k: int) -> np.ndarray:
        """The next `k` records of the buffer, to be written by the caller, then
        counted with :meth:`advance`."""
        used = self.used
        return self.reserve(k)[used:used + k]

    def advance(self, k: int) -> None:
        """Count `k` records written at the write position."""
        self.used += k

    def alloc(self, nbytes: int) -> np.ndarray:
        """``alloc`` for a stage that writes into given memory: the bytes from
        the write position (at least `nbytes`).

        A stage asks for room for as many records as its input chunk holds
        (a block reduction outputs fewer): when they do not fit, it gets
        scratch memory and its chunk is :meth:`put` (copied) instead, so the
        buffer grows only for records that are really there.
        """
        row = self.row
        if self.flat is None or self.used * row + nbytes > len(self.flat):
            return np.empty(nbytes, np.uint8)
        return self.flat[self.used * row:]

    def check(self, chunk: np.ndarray) -> None:
        """Refuse a chunk of another dtype or record shape than the stream's."""
        if chunk.dtype != self.dtype or chunk.shape[1:] != self.record_shape:
            raise TypeError(
                f"to_array: a chunk of dtype {chunk.dtype} and record shape {chunk.shape[1:]} "
                f"does not match the stream's dtype {self.dtype} and record shape "
                f"{self.record_shape}")

    def put(self, chunk: np.ndarray) -> None:
        """Append `chunk`: counted if a stage already wrote it in place, else copied."""
        if chunk.dtype is not self.dtype or chunk.shape[1:] != self.record_shape:
            self.check(chunk)
        k = len(chunk)
        if not k:
            return
        used = self.used
        array = self.array
        if used + k > len(array) or chunk.ctypes.data != array[used:].ctypes.data:
            self.target(k)[...] = chunk
        self.used = used + k

    def result(self) -> np.ndarray:
        """The records written: a view of the buffer (no copy) unless most of it
        went unused, then a compact copy."""
        used, array = self.used, self.array
        if used == len(array):
            return array
        spare = (len(array) - used) * self.row
        if spare <= SLACK_BYTES + HUGE_PAGE or 8 * spare <= array.nbytes:
            return array[:used]
        return array[:used].copy()


def into_writer(fn: Any, dtype: np.dtype, record_shape: tuple[int, ...]) -> Writer | None:
    """``write(chunk, out)`` putting the output of the chunk function `fn` for
    `chunk` into `out` (the result's next records), or None when `fn` cannot.

    ``astype`` casts into `out`; a ``map`` of a unary ufunc computes into it
    (``out=``) when the ufunc's own output dtype for the chunk is the
    stream's, so the values are those of ``fn(chunk)``.  When the chunk does
    not fit `out` (a wrong record shape), ``write`` returns ``fn(chunk)``
    instead, for the caller to check (and refuse) as any other chunk.
    """
    func = getattr(fn, "func", None)
    if isinstance(fn, AstypeFn) and np.dtype(fn.dtype) == dtype:
        casting = fn.casting

        def cast(chunk: np.ndarray, out: np.ndarray) -> np.ndarray | None:
            if chunk.shape != out.shape or not np.can_cast(chunk.dtype, dtype, casting):  # type: ignore[arg-type]
                return fn(chunk)  # the chunk function's own result or error
            np.copyto(out, chunk, casting="unsafe")
            return None
        return cast
    if (isinstance(fn, MapFn) and isinstance(func, np.ufunc) and func.nin == 1
            and func.nout == 1 and fn.dtype == dtype and fn.record_shape == record_shape):
        natural: dict[np.dtype, bool] = {}

        def compute(chunk: np.ndarray, out: np.ndarray) -> np.ndarray | None:
            ok = natural.get(chunk.dtype)
            if ok is None:
                try:
                    ok = func.resolve_dtypes((chunk.dtype, None))[-1] == dtype
                except (TypeError, ValueError, AttributeError):
                    ok = False
                natural[chunk.dtype] = ok
            if not ok or chunk.shape != out.shape or type(chunk) is not np.ndarray:
                return fn(chunk)
            func(chunk, out=out)
            return None
        return compute
    return None


#: The chunk functions that keep the record count (the offsets in error notes
#: then match the serial run's).
_POINTWISE = (MapFn, AstypeFn, SelectFn)


def _fns_into(node: Node, buffer: ResultBuffer) -> Iterator[None] | None:
    """The node's output written by its last chunk function into `buffer`;
    None if that function cannot (or a filter precedes it)."""
    fns = node.fns
    if not fns or not all(isinstance(f, _POINTWISE) for f in fns):
        return None
    write = into_writer(fns[-1], buffer.dtype, buffer.record_shape)
    if write is None:
        return None
    name = fn_name(fns[-1])
    upstream = run_fns(node.source.open(), fns[:-1], node.start)

    def run() -> Iterator[None]:
        at = node.start
        try:
            for c in upstream:
                k = len(c)
                try:
                    other = write(c, buffer.target(k))
                except Exception as e:
                    stage_note(e, name, at, at + k)
                    raise
                if other is None:
                    buffer.advance(k)
                else:
                    buffer.put(other)
                at += k
                yield None
        finally:
            close_iterator(upstream)
    return run()


def _stage_into(node: Node, buffer: ResultBuffer) -> Iterator[np.ndarray] | None:
    """The output of the node's last stage written into `buffer` (``alloc``),
    when that stage can (``writes_into``), its chunks are 8-byte values and
    nothing follows it; else None."""
    if buffer.dtype.itemsize != 8 or not buffer.row:
        return None
    return node.writer(buffer.alloc)


def fill(node: Node, buffer: ResultBuffer) -> None:
    """Run `node` serially, every output record written into `buffer` once."""
    node.meta()
    whole = node.whole()
    if whole is not None and not node.one_shot:
        buffer.put(whole)   # the chunks would be views of it: one copy
        return
    steps = _fns_into(node, buffer)
    if steps is not None:
        for _ in steps:
            pass
        return
    it = _stage_into(node, buffer)
    if it is None:
        it = node.chunks()
    put = buffer.put
    try:
        for c in it:
            put(c)
    finally:
        close_iterator(it)
