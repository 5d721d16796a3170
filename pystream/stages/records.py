"""Record stages: windows and blocks of records as records.

``sliding_window`` / ``nwise`` and ``tumbling`` turn runs of ``n`` input
records into one output record of shape ``(n, *record_shape)``; ``resample``
reduces each block of ``n`` records to one record of the input's shape.

Each stage keeps its state machine in a pusher (``stage.push(start)``, the
push form; see :mod:`pystream.stages.push`); its pull form, a generator
stage for :meth:`pystream.stream.Stream.pipe`, drives that pusher.  They
keep their state across chunks (Python runs once per chunk, never once per
value), never output empty chunks, give the same output bit for bit for any
chunking of the input, and close their upstream iterator when they stop.

Memory: a stage holds at most the records of one incomplete window or
block (``n - 1`` records, or fewer if fewer have arrived), never an array
sized by ``n`` before the records are there; ``n`` itself is limited to
what a numpy shape (and, for ``resample``, the C core's int64) can hold, and
a window record too large for one array is refused when the stage is built.
"""

from __future__ import annotations

from collections.abc import Iterator

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._checks import check_count, check_nan_policy, first_nan_record, nan_error
from .push import drive
from .partitioning import Records

__all__ = ["NWise", "Resample", "SlidingWindow", "Tumbling"]

#: ``how`` values of :class:`Resample` (``sum`` and ``mean`` run in the C core).
RESAMPLE_HOWS: tuple[str, ...] = ("min", "max", "first", "last", "sum", "mean")
_PY_HOWS: tuple[str, ...] = ("min", "max", "first", "last")
#: The largest ``n`` of a record stage: a numpy dimension (and a C int64).
_MAX_N = int(np.iinfo(np.intp).max)


def _window_meta(name: str, n: int, dtype: np.dtype, record_shape: tuple[int, ...]
                 ) -> tuple[np.dtype, tuple[int, ...]]:
    """``(dtype, (n, *record_shape))``, refused if one such record exceeds an array's size."""
    dt = np.dtype(dtype)
    rs = tuple(record_shape)
    size = n * math.prod(rs) * dt.itemsize
    if size > _MAX_N:
        raise ValueError(
            f"{name}: a window of n={n} records of shape {rs} and dtype {dt} takes "
            f"{size} bytes, more than one array can hold (at most {_MAX_N})"
        )
    return dt, (n, *rs)


def _window_layout(w: np.ndarray) -> np.ndarray:
    """Move the window axis (last, from ``sliding_window_view``) right after the chunk axis."""
    return w if w.ndim == 2 else np.moveaxis(w, -1, 1)


class SlidingWindow:
    """Overlapping windows of `n` consecutive records, every `step` records.

    Output record ``i`` is the input records ``[i*step, i*step + n)``, a
    record of shape ``(n, *record_shape)`` and the input's dtype.  A stream
    of ``N >= n`` records gives ``(N - n) // step + 1`` windows, a shorter
    one none.  Windows span chunk boundaries.  The result equals
    ``np.moveaxis(sliding_window_view(x, n, axis=0)[::step], -1, 1)``.

    Output chunks are read-only views (``sliding_window_view``) of a buffer:
    the upstream chunk itself when no records are carried over, else the
    concatenation of the carried records (fewer than `n`) with the chunk.
    No window is copied.

    Parameters
    ----------
    n : int
        Window length (``>= 1``).
    step : int, optional
        Distance between the starts of consecutive windows (``>= 1``); with
        ``step > n`` the records between windows are skipped.

    Raises
    ------
    TypeError
        If `n` or `step` is not an integer (bools are refused).
    ValueError
        If `n` or `step` is smaller than 1.

    Examples
    --------
    >>> import numpy as np
    >>> from pystream.sources import from_array
    >>> st = SlidingWindow(3, step=2)
    >>> s = from_array(np.arange(8), chunk_size=3)
    >>> dt, rs = st.output_meta(s.dtype, s.record_shape)
    >>> s.pipe(st, dtype=dt, record_shape=rs).to_array()
    array([[0, 1, 2],
           [2, 3, 4],
           [4, 5, 6]])
    """

    name: str = "sliding_window"

    def __init__(self, n: int, step: int = 1) -> None:
        self.n: int = check_count(n, "n", self.name, minimum=1, maximum=_MAX_N)
        self.step: int = check_count(step, "step", self.name, minimum=1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.n}, step={self.step})"

    def partitioning(self) -> "Records":
        """How outputs depend on inputs, for the parallel engines
        (:mod:`pystream.stages.partitioning`): output ``i`` is inputs ``[i*step, i*step + n)``."""
        return Records(self.n, self.step)

    def output_meta(
        self, dtype: np.dtype, record_shape: tuple[int, ...]
    ) -> tuple[np.dtype, tuple[int, ...]]:
        """Return ``(dtype, (n, *record_shape))``: windows keep the dtype.

        Examples
        --------
        >>> SlidingWindow(4).output_meta(np.dtype("f8"), (3,))
        (dtype('float64'), (4, 3))
        """
        return _window_meta(self.name, self.n, dtype, record_shape)

    def push(self, start: int = 0) -> _SlidingWindowPusher:
        """A fresh pusher for one pass (the push form; see :mod:`pystream.stages.push`).

        Parameters
        ----------
        start : int, optional
            Global index of the first record (accepted for the stage
            protocol; windows are aligned on the stream's first record).

        Examples
        --------
        >>> import numpy as np
        >>> p = SlidingWindow(2).push()
        >>> p.send(np.arange(1)), [c.tolist() for c in p.send(np.arange(1, 3))]
        ([], [[[0, 1], [1, 2]]])
        """
        return _SlidingWindowPusher(self.n, self.step)

    def __call__(self, chunks: Iterator[np.ndarray], start: int = 0) -> Iterator[np.ndarray]:
        """Yield chunks of windows (the pull form of :meth:`push`); see the class docstring.

        Examples
        --------
        >>> import numpy as np
        >>> [c.tolist() for c in SlidingWindow(2)(iter([np.arange(2), np.arange(2, 4)]))]
        [[[0, 1]], [[1, 2], [2, 3]]]
        """
        return drive(self.push(start), chunks)


class _SlidingWindowPusher:
    """The state machine of :class:`SlidingWindow` (a pusher)."""

    __slots__ = ("_n", "_npending", "_pieces", "_skip", "_step", "done", "error")

    def __init__(self, n: int, step: int) -> None:
        self._n = n
        self._step = step
        self._pieces: list[np.ndarray] = []  # carried records: the start of the next window on
        self._npending = 0
        self._skip = 0  # records to drop before the next window starts (step > n)
        self.done = False
        self.error: BaseException | None = None

    def send(self, chunk: np.ndarray) -> list[np.ndarray]:
        """The windows `chunk` completes; see :class:`~pystream.stages.push.Pusher`."""
        c = chunk
        k = len(c)
        skip = self._skip
        if skip:
            if k <= skip:
                self._skip = skip - k
                return []
            c = c[skip:]
            k -= skip
            self._skip = 0
        if not k:
            return []
        n = self._n
        npending = self._npending
        if npending + k < n:
            self._pieces.append(c)
            self._npending = npending + k
            return []
        step = self._step
        pieces = self._pieces
        buf = np.concatenate((*pieces, c)) if pieces else c
        size = len(buf)
        m = (size - n) // step + 1
        w = sliding_window_view(buf[: (m - 1) * step + n], n, axis=0)
        out = _window_layout(w[::step] if step > 1 else w)
        nxt = m * step
        if nxt < size:
            self._pieces = [buf[nxt:]]
            self._npending = size - nxt
        else:
            self._pieces = []
            self._npending = 0
            self._skip = nxt - size
        return [out]

    def close(self) -> list[np.ndarray]:
        """End of the stream: nothing is pending (an incomplete window is dropped)."""
        return []


class NWise(SlidingWindow):
    """Windows of `n` consecutive records, one per record: ``sliding_window(n, step=1)``.

    Parameters
    ----------
    n : int
        Window length (``>= 1``).

    Raises
    ------
    TypeError
        If `n` is not an integer (bools are refused).
    ValueError
        If `n` is smaller than 1.

    Examples
    --------
    >>> import numpy as np
    >>> from pystream.sources import from_array
    >>> st = NWise(2)
    >>> s = from_array(np.arange(4.0), chunk_size=1)
    >>> s.pipe(st, dtype=s.dtype, record_shape=(2,)).to_array()
    array([[0., 1.],
           [1., 2.],
           [2., 3.]])
    """

    name: str = "nwise"

    def __init__(self, n: int) -> None:
        super().__init__(n, 1)

    def __repr__(self) -> str:
        return f"NWise(n={self.n})"


class Tumbling:
    """Non-overlapping blocks of `n` consecutive records as records.

    Output record ``i`` is the input records ``[i*n, (i+1)*n)``, of shape
    ``(n, *record_shape)`` and the input's dtype.  **The incomplete last
    block is dropped** (``N // n`` outputs for ``N`` input records), so
    ``tumbling(n)`` equals ``sliding_window(n, step=n)``.

    Blocks that lie inside one upstream chunk are zero-copy reshaped views
    of it (so a chunk size that is a multiple of `n` copies nothing); only a
    block that straddles chunks is copied (``np.concatenate``).

    Parameters
    ----------
    n : int
        Block length (``>= 1``).

    Raises
    ------
    TypeError
        If `n` is not an integer (bools are refused).
    ValueError
        If `n` is smaller than 1.

    Examples
    --------
    >>> import numpy as np
    >>> from pystream.sources import from_array
    >>> st = Tumbling(2)
    >>> s = from_array(np.arange(7), chunk_size=3)
    >>> dt, rs = st.output_meta(s.dtype, s.record_shape)
    >>> s.pipe(st, dtype=dt, record_shape=rs).to_array()
    array([[0, 1],
           [2, 3],
           [4, 5]])
    """

    name: str = "tumbling"

    def __init__(self, n: int) -> None:
        self.n: int = check_count(n, "n", self.name, minimum=1, maximum=_MAX_N)

    def __repr__(self) -> str:
        return f"Tumbling(n={self.n})"

    def partitioning(self) -> "Records":
        """How outputs depend on inputs, for the parallel engines
        (:mod:`pystream.stages.partitioning`): output ``i`` is inputs ``[i*n, (i+1)*n)``."""
        return Records(self.n, self.n)

    def output_meta(
        self, dtype: np.dtype, record_shape: tuple[int, ...]
    ) -> tuple[np.dtype, tuple[int, ...]]:
        """Return ``(dtype, (n, *record_shape))``.

        Examples
        --------
        >>> Tumbling(5).output_meta(np.dtype("i2"), ())
        (dtype('int16'), (5,))
        """
        return _window_meta(self.name, self.n, dtype, record_shape)

    def push(self, start: int = 0) -> _TumblingPusher:
        """A fresh pusher for one pass (the push form; see :mod:`pystream.stages.push`).

        Parameters
        ----------
        start : int, optional
            Global index of the first record (accepted for the stage
            protocol; blocks are aligned on the stream's first record).

        Examples
        --------
        >>> import numpy as np
        >>> p = Tumbling(2).push()
        >>> [c.tolist() for c in p.send(np.arange(3))], [c.tolist() for c in p.send(np.arange(3, 4))]
        ([[[0, 1]]], [[[2, 3]]])
        """
        return _TumblingPusher(self.n)

    def __call__(self, chunks: Iterator[np.ndarray], start: int = 0) -> Iterator[np.ndarray]:
        """Yield chunks of blocks (the pull form of :meth:`push`); see the class docstring.

        Examples
        --------
        >>> import numpy as np
        >>> [c.tolist() for c in Tumbling(2)(iter([np.arange(3), np.arange(3, 6)]))]
        [[[0, 1]], [[2, 3]], [[4, 5]]]
        """
        return drive(self.push(start), chunks)


class _TumblingPusher:
    """The state machine of :class:`Tumbling` (a pusher)."""

    __slots__ = ("_n", "_npending", "_pieces", "done", "error")

    def __init__(self, n: int) -> None:
        self._n = n
        self._pieces: list[np.ndarray] = []  # the records of the incomplete block
        self._npending = 0
        self.done = False
        self.error: BaseException | None = None

    def send(self, chunk: np.ndarray) -> list[np.ndarray]:
        """The blocks `chunk` completes; see :class:`~pystream.stages.push.Pusher`.

        A block inside `chunk` is a reshaped view of it; a block that
        straddles chunks is a new array.
        """
        c = chunk
        k = len(c)
        if not k:
            return []
        n = self._n
        npending = self._npending
        if not npending:
            m = k // n
            r = m * n
            if r == k:  # whole blocks only: one reshaped view of the chunk
                return [c.reshape((m, n) + c.shape[1:])]
            outs: list[np.ndarray] = [c[:r].reshape((m, n) + c.shape[1:])] if m else []
            self._pieces = [c[r:]]
            self._npending = k - r
            return outs
        need = n - npending
        pieces = self._pieces
        if k < need:
            pieces.append(c)
            self._npending = npending + k
            return []
        rs = c.shape[1:]
        pieces.append(c[:need])
        outs = [np.concatenate(pieces).reshape((1, n) + rs)]
        self._pieces = []
        self._npending = 0
        m = (k - need) // n
        r = need + m * n
        if m:
            outs.append(c[need:r].reshape((m, n) + rs))
        if r < k:
            self._pieces = [c[r:]]
            self._npending = k - r
        return outs

    def close(self) -> list[np.ndarray]:
        """End of the stream: nothing is pending (an incomplete block is dropped)."""
        return []


class Resample:
    """Reduce each block of `n` consecutive records to one record.

    Blocks are aligned on the stream's first record: output record ``i``
    reduces the input records ``[i*n, (i+1)*n)``.  The output has the
    input's dtype and record shape.  This class implements ``how`` in
    ``{"min", "max", "first", "last"}``; ``"sum"`` and ``"mean"`` accumulate
    in float64 in C (:class:`pystream.stages.blocks.BlockReduce`), and
    :func:`pystream.stages.blocks.resample_stage` picks the right one.

    * ``"min"`` / ``"max"``: per value of the record.  With
      ``nan_policy="propagate"`` a block holding a NaN gives NaN (like
      :func:`numpy.min`); ``"omit"`` ignores NaNs (like
      ``np.fmin.reduce``: an all-NaN block gives NaN, without a warning);
      ``"raise"`` raises :class:`ValueError` naming the global index of the
      first record holding a NaN (the blocks completed before it are
      yielded first).  For floats the result is canonical, so it does not
      depend on the chunking: a NaN result is ``np.nan``, and a zero result
      follows IEEE 754-2019 ``minimum``/``maximum`` (``-0.0 < +0.0``).
    * ``"first"`` / ``"last"``: the block's first / last record
      (`nan_policy` is ignored).

    Parameters
    ----------
    n : int
        Block length (``>= 1``).
    how : {"min", "max", "first", "last", "sum", "mean"}
        Reduction.
    nan_policy : {"propagate", "omit", "raise"}, optional
        NaN handling of ``"min"`` / ``"max"``.
    partial : bool, optional
        If True (default), the incomplete last block (if any) is reduced and
        emitted at the end of the stream; if False it is dropped.

    Raises
    ------
    TypeError
        If `n` is not an integer or `partial` not a bool.
    ValueError
        If `n` < 1, or `how` or `nan_policy` is not one of the allowed values
        (``"sum"`` / ``"mean"`` belong to ``BlockReduce``).

    Examples
    --------
    >>> import numpy as np
    >>> from pystream.sources import from_array
    >>> st = Resample(3, "max", nan_policy="omit")
    >>> s = from_array(np.array([1.0, np.nan, 0.5, np.nan, np.nan, np.nan, 7.0]), chunk_size=2)
    >>> s.pipe(st, dtype=s.dtype, record_shape=s.record_shape).to_array()
    array([ 1., nan,  7.])
    """

    name: str = "resample"

    def __init__(
        self, n: int, how: str, nan_policy: str = "propagate", partial: bool = True
    ) -> None:
        self.n: int = check_count(n, "n", self.name, minimum=1, maximum=_MAX_N)
        if not isinstance(how, str) or how not in RESAMPLE_HOWS:
            raise ValueError(
                f"{self.name}: how must be one of {', '.join(map(repr, RESAMPLE_HOWS))}, "
                f"got {how!r}"
            )
        if how not in _PY_HOWS:
            raise ValueError(
                f"{self.name}: how={how!r} accumulates in float64 in C: use "
                "BlockReduce (or resample_stage, which picks the stage for each how)"
            )
        self.how: str = how
        self.nan_policy: str = check_nan_policy(nan_policy, self.name)
        if not isinstance(partial, (bool, np.bool_)):
            raise TypeError(f"{self.name}: partial must be a bool, got {partial!r}")
        self.partial: bool = bool(partial)

    def __repr__(self) -> str:
        return (
            f"Resample(n={self.n}, how={self.how!r}, nan_policy={self.nan_policy!r}, "
            f"partial={self.partial})"
        )

    def partitioning(self) -> Records:
        """How outputs depend on inputs, for the parallel engines
        (:mod:`pystream.stages.partitioning`): output ``i`` is inputs ``[i*n, (i+1)*n)``
        (the partial last block is the final partition's flush)."""
        return Records(self.n, self.n)

    def output_meta(
        self, dtype: np.dtype, record_shape: tuple[int, ...]
    ) -> tuple[np.dtype, tuple[int, ...]]:
        """Return the input's ``(dtype, record_shape)``.

        ``"min"`` / ``"max"`` accept bool, integer and float dtypes only;
        ``"first"`` / ``"last"`` accept any dtype but object.

        Raises
        ------
        TypeError
            For an unsupported dtype.

        Examples
        --------
        >>> Resample(4, "min").output_meta(np.dtype("f4"), (2,))
        (dtype('float32'), (2,))
        """
        dt = np.dtype(dtype)
        if self.how in ("min", "max"):
            if dt.kind not in "biuf":
                raise TypeError(
                    f"{self.name}: how={self.how!r} needs a bool, integer or float dtype, got {dt}"
                )
        elif dt.kind == "O":
            raise TypeError(f"{self.name}: object dtypes are not supported")
        return dt, tuple(record_shape)

    def _reduce(self, blocks: np.ndarray) -> np.ndarray:
        """Reduce ``(m, L, *rs)`` blocks along axis 1 to a new ``(m, *rs)`` array."""
        how = self.how
        if how == "first":
            return blocks[:, 0]
        if how == "last":
            return blocks[:, -1]
        is_min = how == "min"
        if blocks.dtype.kind != "f":
            return np.min(blocks, axis=1) if is_min else np.max(blocks, axis=1)
        if self.nan_policy == "omit":
            ufunc = np.fmin if is_min else np.fmax
        else:
            ufunc = np.minimum if is_min else np.maximum
        r = ufunc.reduce(blocks, axis=1)
        # Canonicalize the results that numpy may give in several bit patterns
        # depending on the reduction order: NaNs and signed zeros.
        nan = np.isnan(r)
        if nan.any():
            r[nan] = np.nan
        zero = r == 0
        if zero.any():
            sel = np.flatnonzero(zero.any(axis=tuple(range(1, r.ndim))))
            sub = blocks[sel]
            neg = np.signbit(sub)
            has = ((sub == 0) & (neg if is_min else ~neg)).any(axis=1)
            one, other = (-0.0, 0.0) if is_min else (0.0, -0.0)
            fixed = np.where(has, one, other).astype(r.dtype)
            r[sel] = np.where(zero[sel], fixed, r[sel])
        return r

    def push(self, start: int = 0) -> _ResamplePusher:
        """A fresh pusher for one pass (the push form; see :mod:`pystream.stages.push`).

        Parameters
        ----------
        start : int, optional
            Global index of the first record (named in the NaN error;
            blocks are aligned on the stream's first record).

        Examples
        --------
        >>> import numpy as np
        >>> p = Resample(2, "max").push()
        >>> [c.tolist() for c in p.send(np.array([1, 5, 2]))], [c.tolist() for c in p.close()]
        ([[5]], [[2]])
        """
        return _ResamplePusher(self, start)

    def __call__(self, chunks: Iterator[np.ndarray], start: int = 0) -> Iterator[np.ndarray]:
        """Yield chunks of reduced blocks (the pull form of :meth:`push`); see the class docstring.

        Examples
        --------
        >>> import numpy as np
        >>> [c.tolist() for c in Resample(2, "last")(iter([np.arange(3), np.arange(3, 5)]))]
        [[1], [3], [4]]
        >>> [c.tolist() for c in Resample(2, "first", partial=False)(iter([np.arange(5)]))]
        [[0, 2]]
        """
        return drive(self.push(start), chunks)


class _ResamplePusher:
    """The state machine of :class:`Resample` (a pusher)."""

    __slots__ = ("_acc", "_check", "_p", "_pos", "_stage", "_start", "done", "error")

    def __init__(self, stage: Resample, start: int) -> None:
        self._stage = stage
        self._check = stage.nan_policy == "raise" and stage.how in ("min", "max")
        self._start = start
        self._acc: np.ndarray | None = None  # reduction of the partial block, shape (1, *rs)
        self._p = 0  # records in the partial block
        self._pos = 0  # records seen (counted with the NaN check only)
        self.done = False
        self.error: BaseException | None = None

    def send(self, chunk: np.ndarray) -> list[np.ndarray]:
        """The reductions of the blocks `chunk` completes; see
        :class:`~pystream.stages.push.Pusher`."""
        c = chunk
        k = len(c)
        if not k:
            return []
        stage = self._stage
        n = stage.n
        if self._check and c.dtype.kind == "f":
            bad = first_nan_record(c)
            if bad >= 0:
                # the blocks completed before the NaN come out, then the error
                self.error = nan_error(stage.name, self._start + self._pos + bad)
                self.done = True
                if not bad:
                    return []
                c = c[:bad]
                k = bad
            self._pos += k
        p = self._p
        if not p:
            m = k // n
            rest = m * n
            if rest == k:  # whole blocks only
                return [stage._reduce(c.reshape((m, n) + c.shape[1:]))]
            outs: list[np.ndarray] = (
                [stage._reduce(c[:rest].reshape((m, n) + c.shape[1:]))] if m else [])
            self._acc = np.array(stage._reduce(c[rest:][None]), copy=True)
            self._p = k - rest
            return outs
        outs = []
        head = c[: n - p]
        r = stage._reduce(head[None])
        acc = stage._reduce(np.concatenate((self._acc, r))[None])  # type: ignore[arg-type]
        i = len(head)
        p += i
        if p == n:
            outs.append(acc)
            self._acc = None
            p = 0
        else:
            self._acc = acc
        m = (k - i) // n
        if m:
            outs.append(stage._reduce(c[i : i + m * n].reshape((m, n) + c.shape[1:])))
        rest = i + m * n
        if rest < k:
            self._acc = np.array(stage._reduce(c[rest:][None]), copy=True)
            p = k - rest
        self._p = p
        return [np.concatenate(outs)] if len(outs) > 1 else outs

    def close(self) -> list[np.ndarray]:
        """End of the stream: the reduction of the incomplete last block (``partial=True``)."""
        acc = self._acc
        if self._p and self._stage.partial and acc is not None:
            self._acc = None
            return [acc]
        return []
