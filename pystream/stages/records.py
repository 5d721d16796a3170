"""Record stages: ``nwise``, ``sliding_window`` and ``tumbling`` turn runs of ``n``
records into one record of shape ``(n, *record_shape)``; ``resample``
(:mod:`pystream.stages.resampling`) reduces each block.  With the family's table.

Memory and chunking rules: ``docs/internals/stages.rst``.
"""

from __future__ import annotations

from collections.abc import Iterator

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._checks import check_count
from .._columns import RowMap
from .partitioning import Records
from .pushers import drive
from .resampling import MAX_N, resample_stage
from .slow_twins import slow_resample, slow_session, slow_sliding_window, slow_tumbling
from .time_bins import Session
from .table import StageRow

__all__ = ["NWise", "SlidingWindow", "TABLE", "Tumbling"]



def _window_meta(name: str, n: int, dtype: np.dtype, record_shape: tuple[int, ...]
                 ) -> tuple[np.dtype, tuple[int, ...]]:
    """``(dtype, (n, *record_shape))``, refused if one such record exceeds an array's size."""
    dt = np.dtype(dtype)
    rs = tuple(record_shape)
    size = n * math.prod(rs) * dt.itemsize
    if size > MAX_N:
        raise ValueError(
            f"{name}: a window of n={n} records of shape {rs} and dtype {dt} takes "
            f"{size} bytes, more than one array can hold (at most {MAX_N})"
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
        self.n: int = check_count(n, "n", self.name, minimum=1, maximum=MAX_N)
        self.step: int = check_count(step, "step", self.name, minimum=1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.n}, step={self.step})"

    def partitioning(self) -> "Records":
        """How outputs depend on inputs, for the parallel engines
        (:mod:`pystream.stages.partitioning`): output ``i`` is inputs ``[i*step, i*step + n)``."""
        return Records(self.n, self.step)

    def rows(self) -> RowMap:
        """Which input record gives each window its time and key: the window's
        last (newest) record, as for the moving stages."""
        return RowMap(self.step, self.n - 1)

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
        """A fresh pusher for one pass (the push form; see :mod:`pystream.stages.pushers`).

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
        """The windows `chunk` completes; see :class:`~pystream.stages.pushers.Pusher`."""
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
        self.n: int = check_count(n, "n", self.name, minimum=1, maximum=MAX_N)

    def __repr__(self) -> str:
        return f"Tumbling(n={self.n})"

    def partitioning(self) -> "Records":
        """How outputs depend on inputs, for the parallel engines
        (:mod:`pystream.stages.partitioning`): output ``i`` is inputs ``[i*n, (i+1)*n)``."""
        return Records(self.n, self.n)

    def rows(self) -> RowMap:
        """Which input record gives each block its time and key: the block's
        first record (a bin labelled by its left edge, as pandas' ``resample``)."""
        return RowMap(self.n, 0)

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
        """A fresh pusher for one pass (the push form; see :mod:`pystream.stages.pushers`).

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
        """The blocks `chunk` completes; see :class:`~pystream.stages.pushers.Pusher`.

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


# --------------------------------------------------------------------------- the table

_N = "n : int\n    Records per window (``>= 1``)."
_EXAMPLE = "Examples\n--------\n>>> import numpy as np, pystream as ps\n"


def _record_doc(head: str, params: str, example: str) -> str:
    return (f"{head}\n\nParameters\n----------\n{params}\n\nReturns\n-------\nStream"
            f"\n\n{_EXAMPLE}{example}")


#: The record stages, one row each.
TABLE: tuple[StageRow, ...] = (
    StageRow("nwise", "records", _record_doc(
        "Overlapping windows of `n` consecutive records, as records of shape ``(n, ...)``.\n\n"
        "Same as :meth:`sliding_window` with ``step=1``: windows span chunk\n"
        "boundaries; outputs are read-only views.", _N,
        ">>> ps.from_array(np.arange(4), chunk_size=3).nwise(2).to_array()\n"
        "array([[0, 1],\n       [1, 2],\n       [2, 3]])"),
        NWise, "n: int", "n", slow_sliding_window, {"n": 3}, partitioning="records"),
    StageRow("sliding_window", "records", _record_doc(
        "Windows of `n` consecutive records every `step` records, as records of shape\n"
        "``(n, ...)`` (``sliding_window_view(x, n, axis=0)[::step]`` with the window axis "
        "first).", _N + "\nstep : int, default 1\n    Records between window starts "
        "(``>= 1``).",
        ">>> ps.from_array(np.arange(6), chunk_size=4).sliding_window(3, step=2).to_array()\n"
        "array([[0, 1, 2],\n       [2, 3, 4]])"),
        SlidingWindow, "n: int, step: int = 1", "n, step", slow_sliding_window,
        {"n": 3, "step": 2}, partitioning="records"),
    StageRow("tumbling", "records", _record_doc(
        "Non-overlapping blocks of `n` records, as records of shape ``(n, ...)``\n"
        "(zero-copy where a chunk holds whole blocks; an incomplete last block is dropped).",
        "n : int\n    Records per block (``>= 1``).",
        ">>> ps.from_array(np.arange(5)).tumbling(2).to_array()\n"
        "array([[0, 1],\n       [2, 3]])"),
        Tumbling, "n: int", "n", slow_tumbling, {"n": 4}, partitioning="records"),
    StageRow("resample", "records", _record_doc(
        "Reduce each block of `n` records, or each bin of time, to one record.\n\n"
        "With an integer `n`, blocks of `n` consecutive records (decimation).  With a\n"
        "frequency (``\"1h\"``, ``\"15min\"``, ``\"1D\"``, ``\"1W\"``, ``\"1MS\"``, a timedelta,\n"
        "``ps.duration(x)`` for numeric times), bins of the time column with pandas'\n"
        "``resample`` semantics (``origin``, ``offset``, ``closed``, ``label``, calendar\n"
        "months and years, bins in a time zone); the output's time is the bin's label\n"
        "(see ``docs/time.rst``).",
        "n : int, str or timedelta\n"
        "    Records per block (``>= 1``, aligned on the stream's first record), or the\n"
        "    bins' frequency.\n"
        'how : str or list of str, default "mean"\n'
        '    Blocks: one of "mean", "sum", "min", "max", "first", "last" (``"sum"`` and\n'
        '    ``"mean"`` accumulate in float64 in record order and give float64; the others\n'
        '    keep the dtype).  Bins: those and "count", "var", "std", "quantile", or a\n'
        "    list of them at once (one output value per reducer, float64).\n"
        'nan_policy : {"propagate", "omit", "raise"}, optional\n'
        '    Default "propagate" for blocks, "omit" for bins (pandas skips NaNs).\n'
        "partial : bool, default True\n"
        "    Emit the reduction of an incomplete last block (or the last bin) at the end.\n"
        "origin, offset, closed, label : optional\n"
        "    Bins only: pandas' ``resample`` parameters (default origin ``\"start_day\"``;\n"
        "    ``\"end\"`` and ``\"end_day\"`` need the last record, so they are refused).\n"
        "tz : str or tzinfo, optional\n"
        "    Bins only: compute the bins on this zone's wall clock (``\"Europe/Paris\"``: a\n"
        "    day bin across a DST change is 23 or 25 hours long).\n"
        'empty : {"nan", "omit"}, default "nan"\n'
        "    Bins only: emit the bins no record falls in as pandas does (count and sum 0,\n"
        "    the rest NaN), or leave them out as polars' ``group_by_dynamic``.\n"
        "q : float, optional\n    Bins only: the quantile of ``how=\"quantile\"``.\n"
        "ddof : float, default 1\n    Bins only: for ``\"var\"`` / ``\"std\"``.",
        ">>> ps.from_array(np.arange(7.0), chunk_size=3).resample(3).to_array()\n"
        "array([1., 4., 6.])\n"
        ">>> ps.from_array(np.arange(7), chunk_size=3).resample(3, how=\"max\", "
        "partial=False).to_array()\narray([2, 5])\n"
        ">>> t = np.array([0, 1800, 3700], dtype=\"datetime64[s]\")\n"
        ">>> ps.from_array(np.array([1.0, 3.0, 5.0]), time=t).resample(\"1h\", how=[\"mean\", "
        "\"count\"]).to_array()\narray([[2., 2.],\n       [5., 1.]])"),
        resample_stage, "n: int | str, how: str | list[str] = \"mean\", "
        "nan_policy: str | None = None, partial: bool = True, *, origin: Any = \"start_day\", "
        "offset: Any = None, closed: str | None = None, label: str | None = None, "
        "tz: Any = None, empty: str = \"nan\", q: float | None = None, "
        "ddof: float | None = None",
        "n, how, nan_policy, partial, origin=origin, offset=offset, closed=closed, "
        "label=label, tz=tz, empty=empty, q=q, ddof=ddof", slow_resample,
        {"n": 4, "how": "mean"}, kinds=("resample_sum", "resample_mean"), partitioning="records"),
    StageRow("session", "records", _record_doc(
        "Reduce each session -- a run of records whose gaps are at most `gap` -- to one\n"
        "record, labelled by the session's first (or last) time.",
        "gap : str, timedelta or duration\n"
        "    The longest gap inside a session (``\"30min\"``; ``ps.duration(x)`` for\n"
        "    numeric times): a record more than `gap` after the one before starts a new one.\n"
        'how : str or list of str, default "mean"\n'
        '    "count", "sum", "mean", "var", "std", "min", "max", "first", "last",\n'
        '    "quantile", "duration" (the last time minus the first, in seconds for\n'
        "    calendar times), or a list of them at once.\n"
        'label : {"start", "end"}, default "start"\n'
        "    The output's time: the session's first record's, or its last's.\n"
        'nan_policy : {"omit", "propagate", "raise"}, default "omit"\n'
        "partial : bool, default True\n    Emit the last session at the end of the stream.\n"
        "q : float, optional\n    The quantile of ``how=\"quantile\"``.\n"
        "ddof : float, default 1\n    For ``\"var\"`` / ``\"std\"``.",
        ">>> t = np.array([0, 60, 90, 4000, 4010], dtype=\"datetime64[s]\")\n"
        ">>> s = ps.from_array(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), time=t)\n"
        ">>> s.session(\"30min\", how=[\"count\", \"mean\"]).to_array()\n"
        "array([[3. , 2. ],\n       [2. , 4.5]])"),
        Session, "gap: Any, how: str | list[str] = \"mean\", label: str = \"start\", "
        "nan_policy: str | None = None, partial: bool = True, q: float | None = None, "
        "ddof: float | None = None", "gap, how, label, nan_policy, partial, q, ddof",
        slow_session, {"gap": 3.0, "how": ["count", "mean", "max"]}, needs_time=True),
)
