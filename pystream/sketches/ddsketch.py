"""DDSketch: quantiles with a relative-error guarantee, exactly mergeable
(the design: :doc:`/internals/ddsketch`).
"""

from __future__ import annotations

import threading
import warnings
from typing import Any, NamedTuple

import numpy as np

from .._native import as_array, check_status, ffi, kernel_dtype, lib, prepare_chunk
from .._checks import StateLock, restore_state
from .params import (
    _as_float_array,
    _check_alpha,
    _check_max_buckets,
    check_probabilities,
)
from ._cstate import deserialize, serialize

__all__ = ["Collapse", "DDSketch", "SketchAccuracyWarning"]


class SketchAccuracyWarning(UserWarning):
    """A quantile sketch cannot keep its accuracy promise for some quantiles.

    :meth:`DDSketch.quantile` warns when a requested quantile falls on a
    collapsed bucket (:attr:`DDSketch.collapsed`): values of very different
    magnitudes were counted together there, so that quantile is not within
    ``alpha`` of the true one.  The message names the values affected and
    the range of ``q`` concerned.
    """


class Collapse(NamedTuple):
    """One store's collapsed bucket (see :attr:`DDSketch.collapsed`).

    Attributes
    ----------
    sign : int
        ``+1`` for the positive values' store, ``-1`` for the negative ones.
    count : int
        Values counted in the collapsed bucket (those collapsed from smaller
        magnitudes and those that belong there).
    value : float
        What the bucket returns (signed), before clamping to [min, max]: the
        collapsed values' magnitudes lie anywhere below about ``|value|``.
    certain : bool
        True when values were collapsed for sure (a one-signed sketch, whose
        exact minimum or maximum shows it); False when they may have been
        (the store spans exactly ``max_buckets`` buckets, as it does after a
        collapse, but its smallest magnitude is not known).
    q_lo, q_hi : float
        The quantiles ``q`` with ``q_lo <= q <= q_hi`` fall in this bucket
        and are not within ``alpha`` of the true ones.
    """

    sign: int
    count: int
    value: float
    certain: bool
    q_lo: float
    q_hi: float


class Buckets(NamedTuple):
    """The counts a :class:`DDSketch` holds (see :meth:`DDSketch.buckets`).

    Attributes
    ----------
    positive_lo, negative_lo : int
        Bucket index of ``positive[0]`` / ``negative[0]`` (0 when empty).
    positive, negative : ndarray of uint64
        Counts of the buckets of ``|x|`` from the lowest to the highest
        non-empty one, for positive and negative values.
    zero : int
        Zeros and subnormals.
    pos_inf, neg_inf, nan : int
        ``+inf``, ``-inf`` and NaN counts.
    """

    positive_lo: int
    positive: np.ndarray
    negative_lo: int
    negative: np.ndarray
    zero: int
    pos_inf: int
    neg_inf: int
    nan: int


def _warn_collapsed(sketch: DDSketch, collapsed: tuple[Collapse, ...], qa: np.ndarray) -> None:
    """Warn (SketchAccuracyWarning) about each collapse a requested `q` falls in."""
    for c in collapsed:
        hit = qa[(qa >= c.q_lo) & (qa <= c.q_hi) & (qa > 0.0) & (qa < 1.0)]
        if hit.size == 0:
            continue
        kind = "positive" if c.sign > 0 else "negative"
        verb = "were" if c.certain else "may have been"
        warnings.warn(SketchAccuracyWarning(
            f"DDSketch.quantile: {c.count} {kind} values of magnitude below about "
            f"{abs(c.value):.3g} {verb} collapsed into one bucket (a value far out made the "
            f"{kind} store span more than max_buckets={sketch.max_buckets} buckets), so "
            f"quantiles with q in [{c.q_lo:.6g}, {c.q_hi:.6g}] (here "
            f"{', '.join(f'{q:g}' for q in hit.ravel()[:5])}{', ...' if hit.size > 5 else ''}) "
            f"return about {c.value:.3g} and are not within alpha={sketch.alpha:g}: use a larger "
            "max_buckets, or the rank-error method (KLL)"), stacklevel=3)


class DDSketch:
    """Relative-error quantile sketch (DDSketch), deterministic and mergeable.

    Parameters
    ----------
    alpha : float, default 0.01
        Relative accuracy, in ``[1e-5, 0.5]``: every quantile is within
        ``alpha * |true quantile|`` of numpy's ``method="lower"`` quantile
        (conditions in the module documentation).
    max_buckets : int, default 2048
        Buckets kept per sign; beyond it the buckets of smallest magnitude
        collapse into the lowest kept one (deterministically).

    Notes
    -----
    * NaNs are not in the sketch; they are counted in :attr:`nan_count`.
      ``+inf`` and ``-inf`` are counted apart, so quantiles that fall on
      them return them.  Zeros and subnormals share one count and come back
      as ``0.0``.
    * The state depends only on the multiset of values: any chunking and
      any partitioning / merge order give a bit-identical sketch.
    * Counts are exact (``uint64``).  Memory per sketch is at most
      ``2 * 2 * max_buckets * 8`` bytes of counts (two stores whose arrays
      grow geometrically to at most twice ``max_buckets``).
    * One sketch is used by one thread at a time: a call while another
      thread is inside one raises ``RuntimeError``.  Build one sketch per
      thread and merge them.

    Examples
    --------
    >>> import numpy as np
    >>> from pystream.sketches import DDSketch
    >>> x = np.random.default_rng(0).lognormal(size=100_000)
    >>> s = DDSketch(alpha=0.01).update(x[:50_000]).update(x[50_000:])
    >>> s.count
    100000
    >>> true = np.quantile(x, 0.99, method="lower")
    >>> bool(abs(s.quantile(0.99) - true) <= 0.01 * true)
    True
    >>> s.quantile([0.0, 1.0]).tolist() == [x.min(), x.max()]
    True
    >>> a = DDSketch().update(x[:30_000])
    >>> b = DDSketch().update(x[30_000:])
    >>> a.merge(b) == s          # bit-identical to the one-piece sketch
    True
    """

    __slots__ = ("_state", "_lock", "__weakref__")

    def __init__(self, alpha: float = 0.01, max_buckets: int = 2048) -> None:
        a = _check_alpha(alpha)
        mb = _check_max_buckets(max_buckets)
        out = ffi.new("ps_ddsketch **")
        check_status(lib.ps_ddsketch_new(out, a, mb), "DDSketch()")
        self._lock = threading.Lock()
        self._state = ffi.gc(out[0], lib.ps_ddsketch_free)

    @classmethod
    def _adopt(cls, raw_state: Any) -> DDSketch:
        new = cls.__new__(cls)
        new._lock = threading.Lock()
        new._state = ffi.gc(raw_state, lib.ps_ddsketch_free)
        return new

    # -- properties ---------------------------------------------------------
    @property
    def alpha(self) -> float:
        """Relative accuracy of the quantiles."""
        return float(lib.ps_ddsketch_alpha(self._state))

    @property
    def max_buckets(self) -> int:
        """Buckets kept per sign before the smallest magnitudes collapse."""
        return int(lib.ps_ddsketch_max_buckets(self._state))

    @property
    def count(self) -> int:
        """Number of non-NaN values (zeros and infinities included)."""
        with StateLock(self._lock, "DDSketch.count"):
            return int(lib.ps_ddsketch_count(self._state))

    @property
    def nan_count(self) -> int:
        """Number of NaN values seen (not in the sketch)."""
        with StateLock(self._lock, "DDSketch.nan_count"):
            return int(lib.ps_ddsketch_nan_count(self._state))

    @property
    def min(self) -> float:
        """Exact minimum of the non-NaN values (NaN if there are none)."""
        with StateLock(self._lock, "DDSketch.min"):
            return float(lib.ps_ddsketch_min(self._state))

    @property
    def max(self) -> float:
        """Exact maximum of the non-NaN values (NaN if there are none)."""
        with StateLock(self._lock, "DDSketch.max"):
            return float(lib.ps_ddsketch_max(self._state))

    @property
    def nbytes(self) -> int:
        """Bytes allocated for the bucket counts (both stores)."""
        with StateLock(self._lock, "DDSketch.nbytes"):
            return int(lib.ps_ddsketch_allocated(self._state))

    def __repr__(self) -> str:
        with StateLock(self._lock, "DDSketch.__repr__"):
            st = self._state
            n = int(lib.ps_ddsketch_count(st))
            nan = int(lib.ps_ddsketch_nan_count(st))
            text = (f"DDSketch(alpha={self.alpha!r}, max_buckets={self.max_buckets}, "
                    f"count={n}, nan_count={nan}")
            if n:
                text += (f", min={float(lib.ps_ddsketch_min(st))!r}, "
                         f"max={float(lib.ps_ddsketch_max(st))!r}")
            return text + ")"

    # -- updates ------------------------------------------------------------
    def update(self, chunk: Any) -> DDSketch:
        """Add the values of ``chunk``.

        Parameters
        ----------
        chunk : array_like
            Any shape (values are flattened) and any numeric dtype (bool,
            integers, float16/32/64); strided, byte-swapped, misaligned and
            read-only arrays work.  Not modified.

        Returns
        -------
        DDSketch
            ``self``.

        Raises
        ------
        TypeError
            Non-numeric dtype (complex, object, strings...) or a masked array.
        RuntimeError
            Another thread is using this sketch.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sketches import DDSketch
        >>> s = DDSketch().update(np.arange(10, dtype=np.int8).reshape(2, 5))
        >>> s.count, s.min, s.max
        (10, 0.0, 9.0)
        """
        chunk = as_array(chunk, "DDSketch.update")  # geometry from the buffer
        kernel_dtype(chunk.dtype, "DDSketch.update")
        if chunk.ndim == 0:
            chunk = chunk.reshape(1)
        if chunk.size == 0:
            if isinstance(chunk, np.ma.MaskedArray):
                prepare_chunk(chunk, "DDSketch.update")  # raises the masked-array error
            return self
        ki = prepare_chunk(chunk, "DDSketch.update")
        if not self._lock.acquire(False):
            StateLock(self._lock, "DDSketch.update").__enter__()  # raises the busy error
        try:
            status = lib.ps_ddsketch_update(self._state, ki.pointer, ki.n, ki.d,
                                            ki.record_stride, ki.value_stride, ki.code)
        finally:
            self._lock.release()
        if status:
            check_status(status, "DDSketch.update")
        return self

    def merge(self, other: DDSketch) -> DDSketch:
        """Add the values of another sketch, in place.

        The result is bit-identical to a sketch fed all the values of both,
        in any order and chunking.

        Parameters
        ----------
        other : DDSketch
            Same ``alpha`` and ``max_buckets``.  Not modified (merging a
            sketch with itself counts every value twice).

        Returns
        -------
        DDSketch
            ``self``.

        Raises
        ------
        ValueError
            ``alpha`` or ``max_buckets`` differ.
        TypeError
            ``other`` is not a DDSketch.
        OverflowError
            A count would exceed ``2**64 - 1``.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sketches import DDSketch
        >>> a = DDSketch().update(np.array([1.0, 2.0]))
        >>> b = DDSketch().update(np.array([3.0, np.nan]))
        >>> a.merge(b).count, a.nan_count, a.max
        (3, 1, 3.0)
        """
        if not isinstance(other, DDSketch):
            raise TypeError(f"DDSketch.merge: can only merge a DDSketch, not {type(other).__name__}")
        if other.alpha != self.alpha or other.max_buckets != self.max_buckets:
            raise ValueError(
                "DDSketch.merge: sketches must have the same alpha and max_buckets; got "
                f"alpha={self.alpha!r}, max_buckets={self.max_buckets} and "
                f"alpha={other.alpha!r}, max_buckets={other.max_buckets}")
        if other is self:
            with StateLock(self._lock, "DDSketch.merge"):
                check_status(lib.ps_ddsketch_merge(self._state, self._state), "DDSketch.merge")
            return self
        with StateLock(self._lock, "DDSketch.merge"), StateLock(other._lock, "DDSketch.merge"):
            check_status(lib.ps_ddsketch_merge(self._state, other._state), "DDSketch.merge")
        return self

    def copy(self) -> DDSketch:
        """An independent copy.

        Examples
        --------
        >>> from pystream.sketches import DDSketch
        >>> a = DDSketch().update([1.0, 2.0])
        >>> b = a.copy().update([3.0])
        >>> a.count, b.count
        (2, 3)
        """
        out = ffi.new("ps_ddsketch **")
        with StateLock(self._lock, "DDSketch.copy"):
            check_status(lib.ps_ddsketch_copy(out, self._state), "DDSketch.copy")
        return DDSketch._adopt(out[0])

    __copy__ = copy

    def __deepcopy__(self, memo: dict[int, Any]) -> DDSketch:
        return self.copy()

    # -- queries ------------------------------------------------------------
    def quantile(self, q: Any) -> Any:
        """Estimated quantiles of the non-NaN values.

        Parameters
        ----------
        q : float or array_like of float
            In ``[0, 1]``.

        Returns
        -------
        float or ndarray
            A float for a scalar ``q``, else an array of ``q``'s shape.
            Within ``alpha`` (relative) of ``np.quantile(x, q,
            method="lower")`` (see the module documentation); ``q = 0`` and
            ``q = 1`` give the exact min and max; NaN for an empty sketch.

        Raises
        ------
        ValueError
            A ``q`` outside ``[0, 1]`` or NaN.
        TypeError
            A non-numeric ``q`` (a string such as ``"0.5"``, a bool).

        Warns
        -----
        SketchAccuracyWarning
            When a requested quantile falls in a collapsed bucket
            (:attr:`collapsed`): it is then not within ``alpha``.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sketches import DDSketch
        >>> s = DDSketch(alpha=0.01).update(np.arange(1, 1001))
        >>> round(s.quantile(0.5), 2)        # true value 500 (within 1%)
        498.93
        >>> s.quantile([0, 0.25, 1]).round(1).tolist()
        [1.0, 249.5, 1000.0]
        """
        scalar = np.ndim(q) == 0 and not isinstance(q, np.ndarray)
        qa = check_probabilities(q, "DDSketch.quantile")  # C order, a copy
        out = np.empty(qa.shape, np.float64)
        with StateLock(self._lock, "DDSketch.quantile"):
            check_status(lib.ps_ddsketch_quantiles(
                self._state, ffi.from_buffer("double[]", qa), qa.size,
                ffi.from_buffer("double[]", out)), "DDSketch.quantile")
        collapsed = self.collapsed
        if collapsed:
            _warn_collapsed(self, collapsed, qa)
        return float(out.reshape(())) if scalar else out

    @property
    def collapsed(self) -> tuple[Collapse, ...]:
        """The stores whose smallest magnitudes collapsed into one bucket.

        A store keeps ``max_buckets`` buckets below the largest magnitude
        it has seen; smaller magnitudes are counted in its lowest bucket
        (module documentation, *Memory*).  One value far out (``1e20``
        among values near 1) moves that floor up and collapses the rest:
        the quantiles falling in that bucket lose the ``alpha`` guarantee.
        Empty when no store spans ``max_buckets`` buckets (nothing
        collapsed).  :meth:`quantile` warns (:class:`SketchAccuracyWarning`)
        when a requested quantile falls in one.

        Returns
        -------
        tuple of Collapse
            At most one per sign, negative store first.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sketches import DDSketch
        >>> x = np.append(np.random.default_rng(0).normal(10, 1, 5000), 1e20)
        >>> c, = DDSketch().update(x).collapsed
        >>> c.sign, c.count, c.certain, c.q_lo, c.q_hi < 1.0   # all but the max
        (1, 5000, True, 0.0, True)
        """
        b = self.buckets()
        mb = self.max_buckets
        n = self.count
        if n == 0:
            return ()
        nneg = int(b.negative.sum())
        out = []
        for sign, lo, counts in ((-1, b.negative_lo, b.negative), (1, b.positive_lo, b.positive)):
            if counts.size < mb:
                continue
            c = int(counts[0])
            mn, mx = self.min, self.max
            certain = False
            one_signed = (mn > 0.0) if sign > 0 else (mx < 0.0)
            if one_signed:
                smallest = mn if sign > 0 else -mx
                if int(lib.ps_ddsketch_index(self._state, smallest)) >= lo:
                    continue           # the smallest magnitude is in the bucket: no collapse
                certain = True
            if sign < 0:    # the negative bucket closest to zero: the last negatives
                first = b.neg_inf + nneg - c
            else:           # the lowest positive bucket: right after zeros
                first = b.neg_inf + nneg + b.zero
            last = first + c - 1
            span = max(n - 1, 1)
            value = sign * float(lib.ps_ddsketch_bucket_value(self._state, lo))
            # q lands on position floor(q (n - 1)): [first, last] <-> these q
            q_hi = min(1.0, float(np.nextafter((last + 1) / span, 0.0)))
            out.append(Collapse(sign, c, value, certain, first / span, q_hi))
        return tuple(out)

    def rank(self, value: Any) -> Any:
        """Estimated fraction of the non-NaN values that are ``<= value``.

        The sketch resolves values to buckets: the result counts all the
        buckets below the bucket of ``value``, plus that bucket when
        ``value`` is at least the value the bucket returns (clamped to
        ``[min, max]``, as for :meth:`quantile`).  It is 0 below the
        minimum, at least ``1 / count`` from the minimum on (the minimum is
        exact) and 1 from the maximum on; ``rank(quantile(q)) >=
        (floor(q * (count - 1)) + 1) / count``.

        Parameters
        ----------
        value : float or array_like of float

        Returns
        -------
        float or ndarray
            NaN for a NaN value or an empty sketch.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sketches import DDSketch
        >>> s = DDSketch().update(np.arange(1, 101))
        >>> s.rank(0.5), s.rank(50.0), s.rank(50.5), s.rank(1000.0)
        (0.0, 0.49, 0.5, 1.0)
        """
        va, scalar = _as_float_array(value, "rank")
        out = np.empty(va.shape, np.float64)
        with StateLock(self._lock, "DDSketch.rank"):
            check_status(lib.ps_ddsketch_ranks(
                self._state, ffi.from_buffer("double[]", va), va.size,
                ffi.from_buffer("double[]", out)), "DDSketch.rank")
        return float(out.reshape(())) if scalar else out

    def buckets(self) -> Buckets:
        """The counts held: per-sign bucket arrays, zero, inf and NaN counts.

        Returns
        -------
        Buckets
            Each store holds at most ``max_buckets`` buckets.

        Examples
        --------
        >>> from pystream.sketches import DDSketch
        >>> b = DDSketch().update([-2.0, 0.0, 1.0, 1.0, float("inf")]).buckets()
        >>> b.positive.tolist(), b.negative.tolist(), b.zero, b.pos_inf
        ([2], [1], 1, 1)
        """
        lo = ffi.new("int64_t *")
        nb = ffi.new("int64_t *")
        parts = []
        with StateLock(self._lock, "DDSketch.buckets"):
            st = self._state
            for negative in (0, 1):
                check_status(lib.ps_ddsketch_buckets(st, negative, lo, nb, ffi.NULL, 0),
                             "DDSketch.buckets")
                counts = np.zeros(int(nb[0]), np.uint64)
                check_status(lib.ps_ddsketch_buckets(
                    st, negative, lo, nb, ffi.from_buffer("uint64_t[]", counts),
                    counts.size), "DDSketch.buckets")
                parts.append((int(lo[0]), counts))
            return Buckets(parts[0][0], parts[0][1], parts[1][0], parts[1][1],
                           int(lib.ps_ddsketch_zero_count(st)),
                           int(lib.ps_ddsketch_inf_count(st, 0)),
                           int(lib.ps_ddsketch_inf_count(st, 1)),
                           int(lib.ps_ddsketch_nan_count(st)))

    # -- serialization ------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Serialize: versioned, checksummed, little-endian bytes.

        Equal sketches give equal bytes (the bytes do not depend on how the
        values were chunked, partitioned or merged).

        Examples
        --------
        >>> from pystream.sketches import DDSketch
        >>> s = DDSketch().update([1.0, 2.0, 3.0])
        >>> DDSketch.from_bytes(s.to_bytes()) == s
        True
        """
        return serialize(lib.ps_ddsketch_serialize, self._state, self._lock,
                         "DDSketch.to_bytes")

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> DDSketch:
        """Rebuild a sketch from :meth:`to_bytes` output.

        Raises
        ------
        ValueError
            Truncated, corrupt or unknown-version bytes (the checksum and
            the consistency of the whole state are checked).
        TypeError
            ``data`` is not bytes-like.
        """
        return cls._adopt(deserialize(lib.ps_ddsketch_deserialize, "ps_ddsketch", data,
                                      "DDSketch.from_bytes"))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:

        return (restore_state, (DDSketch, self.to_bytes()))

    def __eq__(self, other: object) -> bool:
        """Same parameters and bit-identical state."""
        if not isinstance(other, DDSketch):
            return NotImplemented
        return other is self or self.to_bytes() == other.to_bytes()

    __hash__ = None  # type: ignore[assignment]  # mutable
