"""``CoMoments``: the mergeable, serializable co-moment state behind ``cov``,
``corr`` and ``describe(cov=True)`` (C kernel: ``csrc/comoments.c``)."""

from __future__ import annotations

import operator
import threading
from typing import Any

import numpy as np

from .._checks import NanPolicy, StateLock, check_ddof, check_nan_policy, restore_state
from .._native import as_array, check_status, ffi, lib, prepare_chunk

__all__ = ["CoMoments", "check_records", "covariance_from", "correlation_from"]


def check_records(chunk: np.ndarray, where: str) -> np.ndarray:
    """`chunk` as float32/float64 records of d >= 2 values (shape ``(k, d)``).

    Integer and bool records are converted to float64 (exact below 2**53),
    float16 to float32; a scalar stream is refused.
    """
    if chunk.ndim < 2:
        raise ValueError(
            f"{where}: a multivariate statistic needs records of at least 2 columns; "
            f"got scalar records (chunk shape {chunk.shape})")
    if chunk.ndim > 2:
        raise ValueError(
            f"{where}: records must be 1-d rows of columns; got records of shape "
            f"{chunk.shape[1:]} (select or reshape the columns first)")
    if chunk.shape[1] < 2:
        raise ValueError(
            f"{where}: a multivariate statistic needs records of at least 2 columns; "
            f"got records of {chunk.shape[1]} column")
    kind = chunk.dtype.kind
    if kind in "biu":
        return chunk.astype(np.float64)
    if kind != "f":
        raise TypeError(f"{where}: records of dtype {chunk.dtype} are not numbers")
    if chunk.dtype.itemsize < 4:
        return chunk.astype(np.float32)
    if chunk.dtype.itemsize > 8:
        raise TypeError(f"{where}: dtype {chunk.dtype} is not supported (float32 or "
                        "float64, or integers)")
    return chunk


def covariance_from(count: np.ndarray, comoment: np.ndarray, nan_count: np.ndarray,
                    ddof: float, nan_policy: str) -> np.ndarray:
    """The (d, d) covariance matrix from the pairwise result arrays."""
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = count - ddof
        cov = np.where(denom > 0, comoment / np.where(denom > 0, denom, 1.0), np.nan)
    if nan_policy == "propagate":
        bad = nan_count > 0
        cov[bad, :] = np.nan
        cov[:, bad] = np.nan
    return cov


def correlation_from(count: np.ndarray, comoment: np.ndarray, m2: np.ndarray,
                     nan_count: np.ndarray, nan_policy: str) -> np.ndarray:
    """The (d, d) correlation matrix: each pair's co-moment over the square root
    of the pair's own M2s, clipped to [-1, 1]; NaN for a pair with a zero
    variance or fewer than 2 records; diagonal 1.0 otherwise."""
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = np.sqrt(m2) * np.sqrt(m2.T)
        r = comoment / denom
    ok = (count >= 2) & (denom > 0)
    r = np.where(ok, np.clip(r, -1.0, 1.0), np.nan)
    diag = np.diagonal(r).copy()
    np.fill_diagonal(r, np.where(np.isnan(diag), np.nan, 1.0))
    if nan_policy == "propagate":
        bad = nan_count > 0
        r[bad, :] = np.nan
        r[:, bad] = np.nan
    return r


class CoMoments:
    """Streaming co-moments of records of d >= 2 columns: count, means and
    the co-moment matrix, for :func:`numpy.cov` / :func:`numpy.corrcoef`.

    Parameters
    ----------
    start : int, default 0
        Global index of the first record this state will see; states of
        contiguous partitions merge when ``left.stop == right.start``.

    Notes
    -----
    Placed by global index like :class:`~pystream.Moments`: records in
    aligned blocks of ``ps_moments_block(d)`` records, each block reduced
    by one fixed shifted two-pass algorithm, blocks combined along the
    canonical binary tree by Chan/Pebay's update ``C = C_a + C_b + (m_b -
    m_a)(m_b - m_a)^T n_a n_b / n``.  So any chunking and any merge of
    adjacent states give the same bytes.  Float32 input is read as float64
    (exactly); integer input is converted to float64 (exact below 2**53 in
    magnitude; unlike ``Moments``, sums are not exact integers).

    NaN handling is chosen per result: ``"propagate"`` (a NaN in column i
    makes row and column i NaN, like numpy), ``"omit"`` (pairwise-complete
    observations, pandas' ``DataFrame.cov``/``corr``: each pair (i, j)
    uses the records where both are non-NaN, with that pair's own count,
    means and variances), ``"raise"`` (``ValueError`` naming the first
    record and column holding a NaN).  Cost: a block without NaN keeps one
    compact summary (2d + d*d words); a block holding a NaN keeps five d*d
    pairwise arrays; its pairs of NaN-free columns still come from the
    vectorised kernel, the pairs with a NaN column are summed pair by pair
    (measured at d=8 with one NaN in every block: about 6x the time of
    NaN-free data; NaN-free stretches cost nothing extra).

    One state is owned by one thread at a time (concurrent calls raise
    ``RuntimeError``).

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> x = np.array([[1.0, 2.0], [2.0, 4.5], [4.0, 7.0]])
    >>> a = ps.CoMoments().update(x[:2])
    >>> b = ps.CoMoments(start=2).update(x[2:])
    >>> a.merge(b).count
    3
    >>> bool(np.allclose(a.cov(), np.cov(x, rowvar=False)))
    True
    >>> a.corr().round(4).tolist()
    [[1.0, 0.982], [0.982, 1.0]]
    """

    __slots__ = ("_state", "_lock")

    def __init__(self, start: int = 0) -> None:
        start = operator.index(start)
        if start < 0:
            raise ValueError(f"CoMoments: start must be >= 0; got {start}")
        out = ffi.new("ps_comoments **")
        check_status(lib.ps_comoments_new(out, 0, start), "CoMoments()")
        self._state = ffi.gc(out[0], lib.ps_comoments_free)
        self._lock = threading.Lock()

    # -- properties ---------------------------------------------------------
    @property
    def start(self) -> int:
        """Global index of the first record covered."""
        return int(lib.ps_comoments_start(self._state))

    @property
    def stop(self) -> int:
        """Global index one past the last record covered."""
        return int(lib.ps_comoments_stop(self._state))

    @property
    def count(self) -> int:
        """Number of records seen (NaN or not)."""
        return self.stop - self.start

    @property
    def width(self) -> int | None:
        """Columns per record (None before the first update)."""
        d = int(lib.ps_comoments_width(self._state))
        return d or None

    @property
    def first_nan(self) -> tuple[int, int] | None:
        """(global record, column) of the first NaN, or None."""
        k = int(lib.ps_comoments_first_nan(self._state))
        return None if k < 0 else (k, int(lib.ps_comoments_first_nan_column(self._state)))

    @property
    def nan_count(self) -> np.ndarray:
        """NaNs seen per column (int64 array)."""
        return self._arrays()["nan_count"]

    @property
    def mean(self) -> np.ndarray:
        """Column means; NaN for a column holding a NaN (numpy's ``mean``)."""
        return self.means()

    def __repr__(self) -> str:
        d = self.width
        kind = "untyped" if d is None else f"{d} columns"
        return f"<pystream.CoMoments [{self.start}, {self.stop}) {kind}>"

    # -- updates ------------------------------------------------------------
    def update(self, chunk: np.ndarray) -> CoMoments:
        """Add the records of `chunk` (shape ``(k, d)``, d >= 2).

        Parameters
        ----------
        chunk : ndarray
            float32 / float64 read in place with any strides (byte-swapped,
            misaligned input is converted); integer and bool records are
            converted to float64.  Not modified.

        Returns
        -------
        CoMoments
            ``self``.

        Raises
        ------
        ValueError
            Scalar records, records of one column, records of more than one
            axis, or a width other than the state's.
        TypeError
            Records that are not numbers.
        """
        chunk = check_records(as_array(chunk, "CoMoments.update"), "CoMoments.update")
        with StateLock(self._lock, "CoMoments.update"):
            state = self._state
            ki = prepare_chunk(chunk, f"chunk at record {lib.ps_comoments_stop(state)}")
            width = int(lib.ps_comoments_width(state))
            if width == 0:
                check_status(lib.ps_comoments_set_width(state, ki.d), "CoMoments.update")
            elif ki.d != width:
                raise ValueError(f"CoMoments.update: records of {ki.d} columns do not match "
                                 f"the state's {width}")
            if ki.n:
                check_status(lib.ps_comoments_update(state, ki.code, ki.pointer, ki.n,
                                                     ki.record_stride, ki.value_stride),
                             f"CoMoments.update: chunk at record {self.stop}")
        return self

    def merge(self, other: CoMoments) -> CoMoments:
        """Merge an adjacent state into this one, in place.

        Parameters
        ----------
        other : CoMoments
            Right after this state (``self.stop == other.start``) or right
            before it (``other.stop == self.start``).  Not modified.

        Returns
        -------
        CoMoments
            ``self``, covering both ranges.

        Raises
        ------
        ValueError
            States that are not adjacent (an unordered merge would not be
            reproducible).
        TypeError
            States of different widths.
        """
        if not isinstance(other, CoMoments):
            raise TypeError(f"can only merge a CoMoments, not {type(other).__name__}")
        if other is self:
            if self.start == self.stop:
                return self
            raise ValueError("cannot merge a non-empty CoMoments with itself")
        with StateLock(self._lock, "CoMoments.merge"), StateLock(other._lock, "CoMoments.merge"):
            a0, a1, b0, b1 = self.start, self.stop, other.start, other.stop
            where = f"CoMoments.merge: merging [{a0}, {a1}) with [{b0}, {b1})"
            if a1 == b0:
                check_status(lib.ps_comoments_merge(self._state, other._state), where)
            elif b1 == a0:
                out = ffi.new("ps_comoments **")
                check_status(lib.ps_comoments_copy(out, other._state), where)
                left = ffi.gc(out[0], lib.ps_comoments_free)
                check_status(lib.ps_comoments_merge(left, self._state), where)
                self._state = left
            else:
                raise ValueError(f"cannot merge states covering [{a0}, {a1}) and [{b0}, {b1}): "
                                 "they are not adjacent (one must stop where the other starts)")
        return self

    def copy(self) -> CoMoments:
        """An independent copy."""
        new = CoMoments.__new__(CoMoments)
        out = ffi.new("ps_comoments **")
        with StateLock(self._lock, "CoMoments.copy"):
            check_status(lib.ps_comoments_copy(out, self._state), "CoMoments.copy")
        new._state = ffi.gc(out[0], lib.ps_comoments_free)
        new._lock = threading.Lock()
        return new

    # -- results ------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        """The pairwise result arrays (count, mean, comoment, m2: (d, d);
        nan_count: (d,))."""
        with StateLock(self._lock, "CoMoments.result"):
            d = int(lib.ps_comoments_width(self._state))
            if d == 0:
                raise ValueError("CoMoments: no records seen yet, so the number of "
                                 "columns is unknown")
            out = {"count": np.empty((d, d), np.int64), "mean": np.empty((d, d)),
                   "comoment": np.empty((d, d)), "m2": np.empty((d, d)),
                   "nan_count": np.empty(d, np.int64)}
            check_status(lib.ps_comoments_result(
                self._state, *(ffi.cast("int64_t *" if a.dtype == np.int64 else "double *",
                                        a.ctypes.data) for a in out.values())),
                "CoMoments.result")
        return out

    def _checked(self, nan_policy: str, where: str) -> dict[str, np.ndarray]:
        check_nan_policy(nan_policy, where)
        first = self.first_nan
        if nan_policy == "raise" and first is not None:
            raise ValueError(f"{where}: NaN at record {first[0]}, column {first[1]} "
                             "(nan_policy='raise')")
        return self._arrays()

    def means(self, nan_policy: NanPolicy = "propagate") -> np.ndarray:
        """Column means (``"omit"``: over each column's non-NaN values)."""
        a = self._checked(nan_policy, "CoMoments.means")
        with np.errstate(invalid="ignore"):
            m = np.where(np.diagonal(a["count"]) > 0, np.diagonal(a["mean"]), np.nan)
        if nan_policy == "propagate":
            m[a["nan_count"] > 0] = np.nan
        return m

    def cov(self, ddof: float = 1, nan_policy: NanPolicy = "propagate") -> np.ndarray:
        """The (d, d) covariance matrix, ``C / (n - ddof)`` (``np.cov(x, rowvar=False,
        ddof=ddof)``); NaN where ``n - ddof <= 0``.

        Parameters
        ----------
        ddof : float, default 1
            Delta degrees of freedom (numpy's default for ``np.cov``).
        nan_policy : {"propagate", "omit", "raise"}
            ``"omit"``: pairwise-complete observations (pandas'
            ``DataFrame.cov``), each pair with its own count.

        Returns
        -------
        ndarray
            float64, shape (d, d), exactly symmetric.
        """
        ddof = check_ddof(ddof, "CoMoments.cov")
        a = self._checked(nan_policy, "CoMoments.cov")
        return covariance_from(a["count"], a["comoment"], a["nan_count"], ddof, nan_policy)

    def corr(self, nan_policy: NanPolicy = "propagate") -> np.ndarray:
        """The (d, d) correlation matrix (``np.corrcoef(x, rowvar=False)``).

        A column of zero variance gives NaN in its row and column, diagonal
        included (numpy gives NaN too, with a RuntimeWarning; we do not
        warn); otherwise the diagonal is exactly 1.0 and entries are
        clipped to [-1, 1].  ``"omit"``: each pair over the records where
        both are non-NaN, with the pair's own means and variances (pandas'
        ``DataFrame.corr``).
        """
        a = self._checked(nan_policy, "CoMoments.corr")
        return correlation_from(a["count"], a["comoment"], a["m2"], a["nan_count"], nan_policy)

    def pair_count(self) -> np.ndarray:
        """(d, d) int64: records where both columns are non-NaN."""
        return self._arrays()["count"]

    # -- serialization ------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Serialize: versioned, checksummed, little-endian bytes."""
        size = ffi.new("size_t *")
        with StateLock(self._lock, "CoMoments.to_bytes"):
            check_status(lib.ps_comoments_serialize(self._state, ffi.NULL, 0, size),
                         "CoMoments.to_bytes")
            buf = bytearray(size[0])
            check_status(lib.ps_comoments_serialize(self._state, ffi.from_buffer(buf),
                                                    len(buf), size), "CoMoments.to_bytes")
        return bytes(buf)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> CoMoments:
        """Rebuild a state from :meth:`to_bytes` output.

        Raises
        ------
        ValueError
            Truncated, corrupt or unknown-version bytes, or a state no data
            could produce even under a valid checksum (a structure other
            than ``(start, stop)`` implies, a negative M2, an asymmetric
            matrix, a co-moment beyond Cauchy-Schwarz, impossible counts).
        TypeError
            `data` is not bytes-like.
        """
        try:
            raw = bytes(memoryview(data).cast("B"))
        except TypeError:
            raise TypeError(f"CoMoments.from_bytes expects bytes, not {type(data).__name__}"
                            ) from None
        out = ffi.new("ps_comoments **")
        check_status(lib.ps_comoments_deserialize(out, ffi.from_buffer(raw), len(raw)),
                     "CoMoments.from_bytes")
        new = cls.__new__(cls)
        new._state = ffi.gc(out[0], lib.ps_comoments_free)
        new._lock = threading.Lock()
        return new

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (restore_state, (CoMoments, self.to_bytes()))

    def __copy__(self) -> CoMoments:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> CoMoments:
        return self.copy()
