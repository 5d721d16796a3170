"""KLL quantile sketch: streaming quantiles and ranks with a rank-error bound,
partition-invariant (the block layout: :doc:`/internals/kll`).
"""

from __future__ import annotations

import math
import operator
import threading
from typing import Any

import numpy as np

from .._native import as_array, check_status, ffi, lib, prepare_chunk
from .._checks import StateLock, restore_state
from .kll_blocks import (
    BLOCK_SIZE,
    _MAX_K,
    _MAX_POS,
    _MIN_K,
    _c_copy,
    _c_new,
    _c_update_f64,
    _push,
    combine,
    decode_sketch,
    encode_sketch,
    final_rng,
    leaf_seed,
)
from .params import check_probabilities

__all__ = ["KLLSketch", "BLOCK_SIZE"]


class KLLSketch:
    """KLL quantile sketch of a stream of numbers, partition-invariant.

    Parameters
    ----------
    k : int, default 200
        Accuracy parameter, 8 <= k <= 65535.  The normalized rank error is
        about ``2.296 / k**0.9723`` at 99% confidence (1.33% at k = 200,
        see :meth:`normalized_rank_error`).
    seed : int, default 0
        Seed of the generators that pick which half survives a compaction
        (0 <= seed < 2**64).  Same seed and same values: same sketch.
    start : int, default 0
        Global position (in the stream) of the first value this sketch
        will see.  Sketches of contiguous partitions merge when
        ``left.stop == right.start``; give each partition
        ``KLLSketch(k, seed, start=<its offset>)``.

    Notes
    -----
    * Values of any numeric dtype are read as float64 (int64 beyond 2**53
      rounds) and flattened in C order; each value is one position.  NaN is
      ignored and counted in :attr:`nan_count` (it still takes a position);
      ``-inf`` and ``+inf`` are ordinary values.
    * Rank convention: numpy's ``method="lower"``.  ``quantile(q)`` is the
      retained value covering position ``floor(q * (count - 1))`` of the
      weighted sorted sample, so while :attr:`is_exact` (always while
      ``count <= k``) it equals ``np.quantile(x, q, method="lower")``;
      ``quantile(0)`` and ``quantile(1)`` are the exact :attr:`min` and
      :attr:`max`.  ``rank(v)`` is the estimated fraction of values ``<= v``.
      Values are ordered by the IEEE total order (``-0.0 < +0.0``).
    * **Blocks.**  Positions are cut into blocks of :attr:`block_size`
      (:data:`BLOCK_SIZE`) values fixed in global position space; each
      full block is sketched by its own C sketch seeded from ``(seed,
      block)``, and block sketches are merged only along the canonical
      binary tree of aligned block ranges, each merge with a generator
      derived from the node's range.  Queries merge the pieces (raw head,
      tree nodes, open tail) in a fixed order into a cached sketch.  So the
      state and every result are a function of ``(k, seed, start, values in
      order)`` only: bit-identical for any chunking and for any split of
      the stream into contiguous partitions merged in any order (see
      :doc:`/internals/kll`).  Accuracy is that of DataSketches' KLL (the merges are
      KLL merges).
    * **Adjacency.**  :meth:`merge` takes only a neighbour
      (``self.stop == other.start`` or ``other.stop == self.start``) with
      the same ``k`` and ``seed``; anything else raises ``ValueError``.
    * **Memory.**  A state holds at most one raw partial block (its head:
      fewer than ``block_size`` float64 values, only when ``start`` is not
      on a block boundary -- never for a serial stream from 0), one open
      block sketch (its tail), at most ``2 * log2(n / block_size) + 2`` tree
      node sketches (``popcount(n / block_size)`` for a stream from 0), and
      the cached query sketch; a KLL sketch holds about ``3 k + 8 log2(n /
      k)`` values.  At k = 200 and n = 1e9 from position 0: about 16
      sketches of ~700 values (~100 KB), whatever ``n``.
    * One sketch is used by one thread at a time: a concurrent call raises
      ``RuntimeError``.

    Examples
    --------
    >>> import numpy as np
    >>> from pystream.sketches import KLLSketch
    >>> x = np.random.default_rng(0).normal(size=300_000)
    >>> s = KLLSketch(k=200).update(x)
    >>> s.count, s.is_exact
    (300000, False)
    >>> abs(s.rank(0.0) - 0.5) < s.normalized_rank_error()
    True
    >>> s.quantile(0.0) == float(x.min()), s.quantile(1.0) == float(x.max())
    (True, True)

    Two partitions, sketched separately and merged, give the serial sketch:

    >>> a = KLLSketch(k=200).update(x[:123_456])
    >>> b = KLLSketch(k=200, start=123_456).update(x[123_456:])
    >>> b.merge(a).to_bytes() == s.to_bytes()
    True
    >>> KLLSketch().update([3.0, 1.0, 2.0, np.nan]).quantile([0.0, 0.5, 1.0])
    array([1., 2., 3.])
    """

    #: values per block; a (test) subclass may use another size
    _BLOCK = BLOCK_SIZE

    __slots__ = ("_k", "_seed", "_start", "_stop", "_head", "_nodes", "_tail", "_final",
                 "_lock", "__weakref__")

    def __init__(self, k: int = 200, seed: int = 0, start: int = 0) -> None:
        if any(isinstance(v, (bool, np.bool_)) for v in (k, seed, start)):
            raise TypeError("k, seed and start must be integers, not bool")
        k = operator.index(k)
        seed = operator.index(seed)
        start = operator.index(start)
        if not _MIN_K <= k <= _MAX_K:
            raise ValueError(f"k must be in [{_MIN_K}, {_MAX_K}], got {k}")
        if not 0 <= seed < 2**64:
            raise ValueError(f"seed must be in [0, 2**64), got {seed}")
        if not 0 <= start <= _MAX_POS:
            raise ValueError(f"start must be in [0, 2**62], got {start}")
        self._k, self._seed, self._start, self._stop = k, seed, start, start
        self._head: np.ndarray | None = None   # raw values [start, head end)
        self._nodes: list = []                 # (level, index, C sketch), left to right
        self._tail: Any = None                 # C sketch of [last boundary, stop)
        self._final: Any = None                # cached query sketch
        self._lock = threading.Lock()

    # -- layout ----------------------------------------------------------
    def _head_end(self) -> int:
        """First block boundary at or after ``start``."""
        B = self._BLOCK
        return -(-self._start // B) * B

    def _head_len(self) -> int:
        return max(0, min(self._stop, self._head_end()) - self._start)

    def _final_sketch(self) -> Any:
        """The query sketch (lock held): built from the pieces once, cached."""
        f = self._final
        if f is None:
            f = self._final = self._build_final()
        return f

    def _build_final(self) -> Any:
        B, k, seed = self._BLOCK, self._k, self._seed
        pieces = []
        hl = self._head_len()
        if hl:
            h = _c_new(k, leaf_seed(seed, self._start // B))
            _c_update_f64(h, self._head[:hl], "KLLSketch")
            pieces.append((self._start, self._start + hl, h))
        for level, index, p in self._nodes:
            a = (index << level) * B
            pieces.append((a, a + (B << level), p))
        if self._tail is not None:
            pieces.append((self._stop // B * B, self._stop, self._tail))
        if not pieces:
            return _c_new(k, final_rng(seed, self._start, self._stop))
        acc = _c_copy(pieces[0][2])
        for a, b, p in pieces[1:]:
            check_status(lib.ps_kll_set_rng(acc, final_rng(seed, a, b)), "KLLSketch")
            check_status(lib.ps_kll_merge(acc, p), "KLLSketch")
        return acc

    def _query(self, fn: Any, what: str) -> Any:
        with StateLock(self._lock, what):
            return fn(self._final_sketch())

    # -- properties ---------------------------------------------------------
    @property
    def k(self) -> int:
        """Accuracy parameter."""
        return self._k

    @property
    def seed(self) -> int:
        """Seed of the compaction generators."""
        return self._seed

    @property
    def start(self) -> int:
        """Global position of the first value covered."""
        return self._start

    @property
    def stop(self) -> int:
        """Global position one past the last value covered (NaNs included)."""
        return self._stop

    @property
    def block_size(self) -> int:
        """Values per block (:data:`BLOCK_SIZE`)."""
        return self._BLOCK

    @property
    def count(self) -> int:
        """Number of non-NaN values seen."""
        return self._query(lib.ps_kll_count, "KLLSketch.count")

    @property
    def nan_count(self) -> int:
        """Number of NaN values seen (and ignored)."""
        return self._query(lib.ps_kll_nan_count, "KLLSketch.nan_count")

    @property
    def min(self) -> float:
        """Exact minimum of the non-NaN values (NaN when empty)."""
        return float(self._query(lib.ps_kll_min, "KLLSketch.min"))

    @property
    def max(self) -> float:
        """Exact maximum of the non-NaN values (NaN when empty)."""
        return float(self._query(lib.ps_kll_max, "KLLSketch.max"))

    @property
    def num_retained(self) -> int:
        """Number of values the query sketch holds."""
        return int(self._query(lib.ps_kll_num_retained, "KLLSketch.num_retained"))

    @property
    def num_levels(self) -> int:
        """Number of levels of the query sketch (level h: weight 2**h)."""
        return int(self._query(lib.ps_kll_num_levels, "KLLSketch.num_levels"))

    @property
    def is_exact(self) -> bool:
        """True while nothing has been compacted: results are then exact."""
        return bool(self._query(lib.ps_kll_is_exact, "KLLSketch.is_exact"))

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        mode = "exact" if self.is_exact else "estimation"
        return (f"<pystream.sketches.KLLSketch k={self.k} [{self._start}, {self._stop}) "
                f"count={self.count} nan_count={self.nan_count} "
                f"retained={self.num_retained} {mode}>")

    # -- updates ------------------------------------------------------------
    def update(self, chunk: Any) -> KLLSketch:
        """Add the values of ``chunk`` at positions ``stop, stop + 1, ...``.

        Parameters
        ----------
        chunk : array_like
            Any numeric dtype (bool, integers, float16/32/64) and shape;
            values are taken in C order, one position each.  Strided input
            is read in place; byte-swapped, misaligned and float16 input is
            converted.  Not modified.

        Returns
        -------
        KLLSketch
            ``self``.

        Raises
        ------
        TypeError
            Non-numeric dtype (complex, object, strings...).
        OverflowError
            If ``stop`` would pass 2**62.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sketches import KLLSketch
        >>> s = KLLSketch().update(np.arange(10)).update(np.array([[np.nan, 20.0]]))
        >>> s.count, s.nan_count, s.max, s.stop
        (11, 1, 20.0, 12)
        """
        chunk = as_array(chunk, "KLLSketch.update")  # geometry from the buffer
        with StateLock(self._lock, "KLLSketch.update"):
            if chunk.size == 0:
                prepare_chunk(chunk.reshape(0), "KLLSketch.update")  # dtype check
                return self
            ki = prepare_chunk(chunk.reshape(-1), "KLLSketch.update")
            n = ki.n
            p = self._stop
            if n > _MAX_POS - p:
                raise OverflowError(f"KLLSketch.update: more than 2**62 positions "
                                    f"(stop {p} + {n} values)")
            self._final = None
            B = self._BLOCK
            pos = 0
            head_end = self._head_end()
            if p < head_end:  # the raw head: [start, first boundary)
                m = min(n, head_end - p)
                if self._head is None:
                    self._head = np.empty(head_end - self._start)
                at = p - self._start
                self._head[at:at + m] = ki.array[:m]
                pos = m
                p = self._stop = p + m
            if pos < n:
                base = ffi.cast("char *", ki.pointer)
                stride = ki.record_stride
                seed = self._seed
                while pos < n:
                    if self._tail is None:
                        self._tail = _c_new(self._k, leaf_seed(seed, p // B))
                    m = min(n - pos, B - p % B)
                    check_status(lib.ps_kll_update(self._tail, base + pos * stride, ki.code,
                                                   m, 1, stride, stride), "KLLSketch.update")
                    pos += m
                    p = self._stop = p + m
                    if p % B == 0:  # a full block: into the tree
                        tail, self._tail = self._tail, None
                        _push(self._nodes, 0, p // B - 1, tail, seed)
        return self

    def merge(self, other: KLLSketch) -> KLLSketch:
        """Merge an adjacent sketch into this one, in place.

        Parameters
        ----------
        other : KLLSketch
            Covers the positions right after this sketch
            (``self.stop == other.start``) or right before it
            (``other.stop == self.start``); same ``k`` and ``seed``.  Not
            modified.

        Returns
        -------
        KLLSketch
            ``self``, now covering both ranges: bit-identical to the sketch
            of the whole range updated serially.

        Raises
        ------
        ValueError
            If the sketches are not adjacent, or their ``k`` or ``seed``
            differ.  A result that depends on how the stream was split
            would not be reproducible, so only neighbours merge: give each
            partition ``KLLSketch(k, seed, start=<offset of its first
            value>)``.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sketches import KLLSketch
        >>> a = KLLSketch().update(np.arange(0, 50))
        >>> b = KLLSketch(start=50).update(np.arange(50, 100))
        >>> a.merge(b).count, a.quantile(0.5), (a.start, a.stop)
        (100, 49.0, (0, 100))
        """
        if not isinstance(other, KLLSketch):
            raise TypeError(f"can only merge a KLLSketch, not {type(other).__name__}")
        if other._BLOCK != self._BLOCK:
            raise ValueError(f"cannot merge sketches of different block sizes "
                             f"({self._BLOCK} and {other._BLOCK})")
        if other.k != self.k:
            raise ValueError(f"cannot merge sketches of different k ({self.k} and {other.k})")
        if other.seed != self.seed:
            raise ValueError(
                f"cannot merge sketches of different seeds ({self.seed} and {other.seed}): "
                "the blocks of one stream are sketched with generators derived from its "
                "seed, so the partitions of a stream must share k and seed")
        if other is self:
            if self._start == self._stop:
                return self
            raise ValueError("cannot merge a non-empty KLLSketch with itself "
                             "(it is not adjacent to itself)")
        with StateLock(self._lock, "KLLSketch.merge"), StateLock(other._lock, "KLLSketch.merge"):
            a0, a1, b0, b1 = self._start, self._stop, other._start, other._stop
            if a1 == b0:
                combine(self, self, other)
            elif b1 == a0:
                combine(self, other, self)
            else:
                raise ValueError(
                    f"cannot merge KLL sketches covering positions [{a0}, {a1}) and "
                    f"[{b0}, {b1}): they are not adjacent (one must stop where the other "
                    "starts).  Results must not depend on how a stream was split, so only "
                    "neighbouring partitions merge; create each partition's sketch with "
                    "KLLSketch(k, seed, start=<global position of its first value>)")
        return self

    def _take(self, src: KLLSketch) -> None:
        """Become a copy of ``src`` (whose lock the caller holds)."""
        self._start, self._stop = src._start, src._stop
        self._head = None if src._head is None else src._head.copy()
        self._nodes = list(src._nodes)  # node sketches are never modified: shared
        self._tail = None if src._tail is None else _c_copy(src._tail)
        self._final = src._final        # the query sketch is never modified: shared

    def copy(self) -> KLLSketch:
        """An independent copy."""
        new = type(self).__new__(type(self))
        new._k, new._seed = self._k, self._seed
        new._lock = threading.Lock()
        with StateLock(self._lock, "KLLSketch.copy"):
            new._take(self)
        return new

    __copy__ = copy

    def __deepcopy__(self, memo: dict[int, Any]) -> KLLSketch:
        return self.copy()

    # -- queries ------------------------------------------------------------
    def quantile(self, q: Any) -> Any:
        """Estimated quantile(s).

        Parameters
        ----------
        q : float or array_like of float
            Each in [0, 1].

        Returns
        -------
        float or ndarray
            A float for a scalar ``q``, else a float64 array of ``q``'s
            shape.  The value covering position ``floor(q * (count - 1))``
            of the weighted sorted sample (numpy's ``method="lower"``);
            ``q = 0`` / ``1`` give the exact min / max; NaN when empty.

        Raises
        ------
        ValueError
            If a ``q`` is outside [0, 1] or NaN.
        TypeError
            If ``q`` is not numeric (a string such as ``"0.5"``, a bool).

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sketches import KLLSketch
        >>> s = KLLSketch().update(np.arange(1, 11))
        >>> s.quantile(0.5), s.quantile([0.25, 0.75])
        (5.0, array([3., 7.]))
        """
        qa = check_probabilities(q, "KLLSketch.quantile")
        return self._batch(lib.ps_kll_quantiles, qa, "KLLSketch.quantile")

    def rank(self, value: Any) -> Any:
        """Estimated normalized rank(s): the fraction of values ``<= value``.

        Parameters
        ----------
        value : float or array_like
            Values to rank (NaN gives NaN).

        Returns
        -------
        float or ndarray
            In [0, 1]; NaN when the sketch is empty.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sketches import KLLSketch
        >>> s = KLLSketch().update(np.arange(1, 11))
        >>> s.rank(3), s.rank([0, 10])
        (0.3, array([0., 1.]))
        """
        return self._batch(lib.ps_kll_ranks, np.array(value, dtype=np.float64, copy=True),
                           "KLLSketch.rank")

    def _batch(self, fn: Any, values: np.ndarray, what: str) -> Any:
        """``fn(sketch, values, n, out)`` over all `values`; a float for a 0-d input."""
        flat = np.ascontiguousarray(values.reshape(-1))
        out = np.empty(flat.size, dtype=np.float64)
        with StateLock(self._lock, what):
            check_status(fn(self._final_sketch(), ffi.from_buffer("double[]", flat), flat.size,
                            ffi.from_buffer("double[]", out)), what)
        return float(out[0]) if values.ndim == 0 else out.reshape(values.shape)

    def normalized_rank_error(self, pmf: bool = False) -> float:
        """A-priori normalized rank error at 99% confidence for this ``k``.

        DataSketches' empirical fit (``kll_sketch::get_normalized_rank_error``):
        ``2.296 / k**0.9723`` for single ranks and quantiles, ``2.446 /
        k**0.9433`` with ``pmf=True`` (double-sided, for PMF / CDF).

        Parameters
        ----------
        pmf : bool, default False

        Returns
        -------
        float

        Examples
        --------
        >>> from pystream.sketches import KLLSketch
        >>> round(KLLSketch(k=200).normalized_rank_error(), 4)
        0.0133
        """
        k = self.k
        if pmf:
            return 2.446 / math.pow(k, 0.9433)
        return 2.296 / math.pow(k, 0.9723)

    # -- serialization ------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Serialize the whole structure: versioned, checksummed, little-endian bytes.

        A header (magic, version, k, seed, block size, start, stop), the raw
        head values, the tree nodes and the open tail (each the C sketch's
        own checksummed bytes), then a BLAKE2b-64 digest of all of it.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sketches import KLLSketch
        >>> s = KLLSketch(start=10).update(np.arange(100_000.0))
        >>> KLLSketch.from_bytes(s.to_bytes()).to_bytes() == s.to_bytes()
        True
        """
        with StateLock(self._lock, "KLLSketch.to_bytes"):
            return encode_sketch(self)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> KLLSketch:
        """Rebuild a sketch from :meth:`to_bytes` output.

        Raises
        ------
        ValueError
            Truncated, corrupt or unknown-version bytes (every field is
            checked: the layout must be the one ``(start, stop)`` implies,
            and each C sketch validates itself).
        TypeError
            ``data`` is not bytes-like.
        """
        return decode_sketch(cls, data)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:

        return (restore_state, (type(self), self.to_bytes()))

    # -- introspection (tests) ----------------------------------------------
    def _layout(self) -> tuple[int, list[tuple[int, int]], int]:
        """(raw head length, [(level, index) of the tree nodes], tail length)."""
        tail = 0 if self._tail is None else self._stop - self._stop // self._BLOCK * self._BLOCK
        return self._head_len(), [(lv, i) for lv, i, _ in self._nodes], tail

    def _levels(self) -> list[int]:
        """Level boundaries in the query sketch's buffer."""
        with StateLock(self._lock, "KLLSketch._levels"):
            f = self._final_sketch()
            return [int(lib.ps_kll_level_offset(f, h))
                    for h in range(int(lib.ps_kll_num_levels(f)) + 1)]

    def _retained(self) -> np.ndarray:
        """Retained values of the query sketch in storage order."""
        with StateLock(self._lock, "KLLSketch._retained"):
            f = self._final_sketch()
            out = np.empty(int(lib.ps_kll_num_retained(f)), dtype=np.float64)
            check_status(lib.ps_kll_retained(f, ffi.from_buffer("double[]", out), out.size),
                         "KLLSketch._retained")
        return out
