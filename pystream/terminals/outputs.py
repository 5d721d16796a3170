"""The sinks: ``to_array``, ``to_npy``, ``to_file``, ``to_text`` and
``to_callback`` -- writers fed the stream's ordered output."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..engines import EngineOptions, ordered_chunks
from ..engines.threads import threads_to_array
from ..sinks import NpyWriter, RawWriter, TextWriter, check_target
from ..chain import close_iterator
from ..chain.materialise import ResultBuffer, expected_length, fill
from .protocol import Consumer, Meta, SinkTerminal, Terminal, terminal

__all__ = ["ArrayConsumer", "CallbackTerminal", "FileTerminal", "NpyTerminal", "TextTerminal",
           "ToArrayTerminal"]


class ArrayConsumer(Consumer):
    """``to_array`` in push form: the chunks, copied (a stage may reuse its output memory)."""

    def __init__(self, meta: Meta) -> None:
        super().__init__()
        self.meta = meta
        self.chunks: list[np.ndarray] = []

    def _update(self, chunk: np.ndarray) -> None:
        self.chunks.append(np.array(chunk, dtype=self.meta[0], copy=True))

    def _result(self) -> np.ndarray:
        if len(self.chunks) > 1:
            self.chunks = [np.concatenate(self.chunks)]
        if self.chunks:
            return self.chunks[0]
        dt, rs = self.meta
        return np.empty((0, *rs), dt)


@terminal
class ToArrayTerminal(Terminal):
    """``to_array()``: its own pull driver (:meth:`pull`) writes the chunks
    into one growing result, or lets the last stage write into it."""

    name: ClassVar[str] = "to_array"
    returns = "np.ndarray"
    doc = """Materialise the stream into one array.

    Parameters
    ----------
    {engine_parameters}

    Returns
    -------
    ndarray
        A new array of shape ``(N, *record_shape)`` and the stream's
        dtype (also when the stream is empty).

    Raises
    ------
    RuntimeError
        If the stream reads a one-shot source that was already consumed.

    Examples
    --------
    >>> import numpy as np
    >>> from pystream.sources import from_array
    >>> from_array(np.arange(4)).filter(lambda c: c > 5).to_array()
    array([], dtype=int64)
    """

    def consumer(self, meta: Meta, start: int) -> ArrayConsumer:
        return ArrayConsumer(meta)

    def pull(self, node: Any, options: EngineOptions) -> np.ndarray:  # type: ignore[override]
        """Every output record is written into the result once
        (:mod:`pystream.chain.materialise`): the result is allocated once for
        the output length when the planner knows it (else the source's
        length, growing by doubling past it), a last stage that writes into
        given memory (the C stages, a ufunc ``map``, ``astype``) writes
        straight into it, and any other last stage's chunks are copied into
        it as they arrive (so stages may reuse their output buffers).  On
        the threads engine each partition writes its own slice."""
        if options.name == "threads":
            direct = threads_to_array(node, options)
            if direct is not None:
                return direct
        dt, rs = node.meta()
        buffer = ResultBuffer(dt, rs, expected_length(node))
        if options.name == "local":
            fill(node, buffer)
            return buffer.result()
        it = ordered_chunks(node, options)
        try:
            for c in it:
                buffer.put(c)
        finally:
            close_iterator(it)
        return buffer.result()


class _FileSink(SinkTerminal):
    """A file sink: its writer (:mod:`pystream.sinks`) checks `path` when it
    opens; a push/fork branch checks it at once."""

    returns = "int"

    def __init__(self, path: Any, *, force: bool = False) -> None:
        self.path = path
        self.force = force

    def for_branch(self) -> _FileSink:
        branch = copy.copy(self)
        branch.path = check_target(self.path, self.name)
        return branch


@terminal
class NpyTerminal(_FileSink):
    """``to_npy()``."""

    name: ClassVar[str] = "to_npy"
    doc = """Write the stream to a ``.npy`` file, streaming, atomically.

    Records are written as they arrive (memory stays bounded); the
    header, which holds the length, is completed at the end.  The file
    is written under a temporary name in the same directory and renamed
    to `path` only when the whole stream is written, so an error or an
    interrupt (``KeyboardInterrupt``) never leaves a partial file under
    `path`, and an existing file is replaced only on success.

    Parameters
    ----------
    path : str or path-like
        Target file; its directory must exist.
    {sink_parameters}

    Returns
    -------
    int
        The number of records written.

    Raises
    ------
    FileNotFoundError
        If the directory of `path` does not exist.
    PermissionError
        If `path` is write-protected and `force` is False.
    TypeError
        For a dtype whose bytes are pointers (``object``).
    ValueError
        If `path` is a FIFO (a ``.npy`` header is written last).

    Examples
    --------
    >>> import numpy as np, os, tempfile, pystream as ps
    >>> path = os.path.join(tempfile.mkdtemp(), "smooth.npy")
    >>> ps.from_array(np.arange(5.0)).moving_mean(2).to_npy(path)
    5
    >>> np.load(path)
    array([nan, 0.5, 1.5, 2.5, 3.5])
    """

    def open(self, meta: Meta) -> NpyWriter:
        return NpyWriter(self.path, *meta, force=self.force)


@terminal
class FileTerminal(_FileSink):
    """``to_file()``."""

    name: ClassVar[str] = "to_file"
    doc = """Write the stream's raw bytes (C order, its dtype) to a file, atomically.

    The counterpart of :func:`~pystream.sources.from_file`: no header,
    records back to back.  Written under a temporary name and renamed
    when complete, as :meth:`to_npy`.

    Parameters
    ----------
    path : str or path-like
        Target file; its directory must exist.
    {sink_parameters}

    Returns
    -------
    int
        The number of records written.

    Raises
    ------
    FileNotFoundError
        If the directory of `path` does not exist.
    PermissionError
        If `path` is write-protected and `force` is False.
    TypeError
        For a dtype whose bytes are pointers (``object``).

    Examples
    --------
    >>> import numpy as np, os, tempfile, pystream as ps
    >>> path = os.path.join(tempfile.mkdtemp(), "x.f4")
    >>> ps.from_array(np.arange(4, dtype=np.float32)).to_file(path)
    4
    >>> ps.from_file(path, np.float32).to_array()
    array([0., 1., 2., 3.], dtype=float32)
    """

    def open(self, meta: Meta) -> RawWriter:
        return RawWriter(self.path, *meta, force=self.force)


@terminal
class TextTerminal(_FileSink):
    """``to_text()``."""

    name: ClassVar[str] = "to_text"
    doc = """Write the stream as numeric text, one line per record, atomically.

    Like :func:`numpy.savetxt` (which formats each chunk): a record's
    values, flattened, separated by `delimiter`.  The default format
    round-trips every value exactly, so
    :func:`~pystream.sources.from_text` reads the same values back.
    Written under a temporary name and renamed when complete, as
    :meth:`to_npy`.

    Parameters
    ----------
    path : str or path-like
        Target file; its directory must exist.
    fmt : str or sequence of str, optional
        :func:`numpy.savetxt` format; default ``"%.18g"`` for floats (exact
        round trip) and ``"%d"`` for integers and bools (exact at any
        size).
    delimiter : str, optional
        Separator between the values of a record (default a space).
    header : str, optional
        Written first, each line prefixed with ``"# "`` (read back as
        comments).
    {sink_parameters}

    Returns
    -------
    int
        The number of records written.

    Raises
    ------
    TypeError
        For a non-numeric dtype.
    FileNotFoundError
        If the directory of `path` does not exist.

    Examples
    --------
    >>> import numpy as np, os, tempfile, pystream as ps
    >>> path = os.path.join(tempfile.mkdtemp(), "x.txt")
    >>> ps.from_array(np.array([[0.5, 1.0], [2.0, 3.25]])).to_text(path, header="a b")
    2
    >>> print(open(path).read(), end="")
    # a b
    0.5 1
    2 3.25
    >>> ps.from_text(path).to_array()
    array([[0.5 , 1.  ],
           [2.  , 3.25]])
    """

    def __init__(self, path: Any, fmt: Any = None, delimiter: str = " ",
                 header: str | None = None, *, force: bool = False) -> None:
        super().__init__(path, force=force)
        self.text = (fmt, delimiter, header)

    def open(self, meta: Meta) -> TextWriter:
        return TextWriter(self.path, *meta, *self.text, force=self.force)


class _CallbackWriter:
    """``to_callback``'s writer: calls ``func(chunk)``, counts the records."""

    def __init__(self, func: Callable[[np.ndarray], Any]) -> None:
        self.func = func
        self.count = 0

    def write(self, chunk: np.ndarray) -> None:
        self.func(chunk)
        self.count += len(chunk)

    def finish(self) -> int:
        return self.count

    def abort(self) -> None:
        """Nothing to release."""


@terminal
class CallbackTerminal(SinkTerminal):
    """``to_callback()``."""

    name: ClassVar[str] = "to_callback"
    returns = "int"
    checks_first = True
    doc = """Call ``func(chunk)`` for every chunk, in order; return the number of records.

    A sink for anything else (a socket, a plot, a database): `func` sees
    the chunks as the stream produces them, in order, in the calling
    thread, on every engine.  A chunk may be a view of memory the stream
    reuses later: copy it to keep it.

    Parameters
    ----------
    func : callable
        ``func(chunk)``; its return value is ignored.
    {engine_parameters}

    Returns
    -------
    int
        The number of records passed to `func`.

    Raises
    ------
    TypeError
        If `func` is not callable.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> sizes = []
    >>> ps.from_array(np.arange(10.0), chunk_size=4).to_callback(lambda c: sizes.append(len(c)))
    10
    >>> sizes
    [4, 4, 2]
    """

    def __init__(self, func: Callable[[np.ndarray], Any]) -> None:
        if not callable(func):
            raise TypeError(f"to_callback: func must be callable, got {func!r}")
        self.func = func

    def open(self, meta: Meta) -> _CallbackWriter:
        return _CallbackWriter(self.func)
