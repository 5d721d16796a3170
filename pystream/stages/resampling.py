"""The ``resample`` stage: block sums and means in C (:class:`BlockReduce`), the
other reductions in numpy (:class:`Resample`); :func:`resample_stage` picks one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .._checks import check_count, check_nan_policy, first_nan_record, nan_error
from .._columns import RowMap
from .kernel import KernelStage
from .partitioning import Records
from .pushers import drive
from .time_bins import TimeResample
from .timed import is_duration

__all__ = ["BlockReduce", "MAX_N", "RESAMPLE_HOWS", "Resample", "resample_stage"]

#: ``how`` values of :class:`Resample` (``sum`` and ``mean`` run in the C core).
RESAMPLE_HOWS: tuple[str, ...] = ("min", "max", "first", "last", "sum", "mean")
_PY_HOWS: tuple[str, ...] = ("min", "max", "first", "last")
#: The largest ``n`` of a record stage: a numpy dimension (and a C int64).
MAX_N = int(np.iinfo(np.intp).max)
_MAX_N = MAX_N


class Resample:
    """Reduce each block of `n` consecutive records to one record.

    Blocks are aligned on the stream's first record: output record ``i``
    reduces the input records ``[i*n, (i+1)*n)``.  The output has the
    input's dtype and record shape.  This class implements ``how`` in
    ``{"min", "max", "first", "last"}``; ``"sum"`` and ``"mean"`` accumulate
    in float64 in C (:class:`pystream.stages.resampling.BlockReduce`), and
    :func:`pystream.stages.resampling.resample_stage` picks the right one.

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

    def rows(self) -> RowMap:
        """Which input record gives each block its time and key: the block's
        first record (a bin labelled by its left edge, as pandas' ``resample``)."""
        return RowMap(self.n, 0)

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
        """A fresh pusher for one pass (the push form; see :mod:`pystream.stages.pushers`).

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
        :class:`~pystream.stages.pushers.Pusher`."""
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


class BlockReduce(KernelStage):
    """Sum or mean of each block of `n` records, accumulated in float64 in record order.

    Parameters
    ----------
    n : int
        Block length (``>= 1``); blocks are aligned on the stream's first record.
    how : {"sum", "mean"}
    nan_policy : {"propagate", "omit", "raise"}, default "propagate"
        ``"omit"``: NaNs are skipped (an all-NaN block sums to 0, its mean is NaN).
    partial : bool, default True
        Emit the reduction of an incomplete last block at the end of the stream.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> ps.from_array(np.arange(5.0)).pipe(BlockReduce(2, "sum")).to_array()
    array([1., 5., 4.])
    """

    name = "resample"  # type: ignore[assignment]

    def __init__(self, n: int, how: str = "mean", nan_policy: str = "propagate",
                 partial: bool = True) -> None:
        if how not in ("sum", "mean"):
            raise ValueError(f"resample: BlockReduce computes how='sum' or 'mean', got {how!r}")
        if not isinstance(partial, (bool, np.bool_)):
            raise TypeError(f"resample: partial must be True or False, got {partial!r}")
        self.kernel = f"resample_{how}"
        self.kernel_params = {"window": check_count(n, "n", "resample", minimum=1,
                                                    maximum=2**63 - 1)}
        self.nan_policy = check_nan_policy(nan_policy, "resample")
        self.emit_flush = bool(partial)

    def partitioning(self) -> Any:
        """How outputs depend on inputs, for the parallel engines
        (:mod:`pystream.stages.partitioning`): output ``i`` is inputs ``[i*n, (i+1)*n)``
        (the partial last block is the final partition's flush)."""

        n = self.kernel_params["window"]
        return Records(n, n)

    def rows(self) -> RowMap:
        """Which input record gives each block its time and key: the block's
        first record (a bin labelled by its left edge, as pandas' ``resample``)."""
        return RowMap(self.kernel_params["window"], 0)


def resample_stage(n: Any, how: Any = "mean", nan_policy: str | None = None,
                   partial: bool = True, *, origin: Any = "start_day", offset: Any = None,
                   closed: str | None = None, label: str | None = None, tz: Any = None,
                   empty: str = "nan", q: float | None = None,
                   ddof: float | None = None) -> BlockReduce | Resample | TimeResample:
    """The stage for ``resample(n, how)``: blocks of `n` records (C block sums and
    means, numpy for the rest), or calendar bins when `n` is a frequency
    (``"1h"``, ``"1MS"``, a timedelta: :class:`~pystream.stages.time_bins.TimeResample`).

    Examples
    --------
    >>> resample_stage(4, "sum")
    BlockReduce(resample: window=4)
    >>> resample_stage(4, "max")
    Resample(n=4, how='max', nan_policy='propagate', partial=True)
    >>> resample_stage("1h", ["mean", "max"])
    TimeResample(freq='1h', how=('mean', 'max'))
    """
    if is_duration(n):
        return TimeResample(n, how, nan_policy, partial, origin=origin, offset=offset,
                            closed=closed, label=label, tz=tz, empty=empty, q=q, ddof=ddof)
    calendar = {k: v for k, v in (("offset", offset), ("closed", closed), ("label", label),
                                  ("tz", tz), ("q", q), ("ddof", ddof)) if v is not None}
    if origin != "start_day":
        calendar["origin"] = origin
    if empty != "nan":
        calendar["empty"] = empty
    if calendar:
        raise TypeError(f"resample: {', '.join(calendar)} apply to calendar bins "
                        f"(resample('1h', ...)), not to blocks of n={n!r} records")
    if isinstance(how, str) and how in ("count", "var", "std", "quantile"):
        raise ValueError(f"resample: how={how!r} is a reducer of calendar bins "
                         "(resample('1h', ...)); blocks of records take "
                         f"{', '.join(map(repr, RESAMPLE_HOWS))}")
    if not isinstance(how, str):
        raise TypeError(f"resample: several reducers at once (how={how!r}) apply to calendar "
                        "bins (resample('1h', ...)); blocks of records take one")
    if isinstance(n, (float, np.floating)):
        raise TypeError(f"resample: n={n!r}: a block of records is an integer; for bins on a "
                        f"numeric time column write ps.duration({n!r})")
    policy = "propagate" if nan_policy is None else nan_policy
    if how in ("sum", "mean"):
        return BlockReduce(n, how, policy, partial)
    return Resample(n, how, policy, partial)
