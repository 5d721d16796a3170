"""KLL quantile sketch: streaming quantiles and ranks with a rank-error bound.

:class:`KLLSketch` is the KLL sketch of Karnin, Lang and Liberty in the
variant of Apache DataSketches (``kll_doubles_sketch``): lazy compaction,
level capacities ``max(8, round(k * (2/3)**depth))``, exact min and max.
The hot loops run in C (``csrc/kll.c``, API in ``csrc/kll.h``).

Reproducible: the only randomness is a splitmix64 generator seeded by
``seed`` and advanced once per compaction, values are ordered by the IEEE
total order (``-0.0 < +0.0``), and queries never change the state.  So the
state is a deterministic function of ``(k, seed, sequence of values)``:
any chunking of the same stream gives bit-identical ``to_bytes()`` and
results.  Merging is deterministic given the order of the merges, but KLL
is not order-invariant: ``a.merge(b)`` and ``b.merge(a)`` are different
(equally accurate) sketches.
"""

from __future__ import annotations

import math
import operator
import threading
from typing import Any

import numpy as np

from .._native import check_status, ffi, lib, prepare_chunk
from ..reducers import _Owned
from ._cstate import deserialize, serialize

__all__ = ["KLLSketch"]

_MIN_K, _MAX_K = 8, 65535


class KLLSketch:
    """KLL quantile sketch of a stream of numbers.

    Parameters
    ----------
    k : int, default 200
        Accuracy parameter, 8 <= k <= 65535.  The normalized rank error is
        about ``2.296 / k**0.9723`` at 99% confidence (1.33% at k = 200,
        see :meth:`normalized_rank_error`); memory grows like
        ``3 k + 8 log2(n / k)`` retained values.
    seed : int, default 0
        Seed of the generator that picks which half survives a compaction
        (0 <= seed < 2**64).  Same seed and same values: same sketch.

    Notes
    -----
    * Values of any numeric dtype are read as float64 (int64 beyond 2**53
      rounds) and flattened in C order.  NaN is ignored and counted in
      :attr:`nan_count`; ``-inf`` and ``+inf`` are ordinary values.
    * Rank convention: numpy's ``method="lower"``.  ``quantile(q)`` is the
      retained value covering position ``floor(q * (count - 1))`` of the
      weighted sorted sample, so while :attr:`is_exact` it equals
      ``np.quantile(x, q, method="lower")``; ``quantile(0)`` and
      ``quantile(1)`` are the exact :attr:`min` and :attr:`max`.
      ``rank(v)`` is the estimated fraction of values ``<= v``.
    * Values are ordered by the IEEE total order, so ``-0.0`` sorts
      before ``+0.0`` (they compare equal, so ranks are unaffected).
    * Deterministic: the state is a function of ``(k, seed, values in
      order)``, whatever the chunking; merges are deterministic given their
      order (not order-invariant).  Queries do not change the state.
    * One sketch is used by one thread at a time: a concurrent call raises
      ``RuntimeError``.

    Examples
    --------
    >>> import numpy as np
    >>> from pystream.sketches import KLLSketch
    >>> x = np.random.default_rng(0).normal(size=100_000)
    >>> s = KLLSketch(k=200).update(x)
    >>> s.count, s.is_exact
    (100000, False)
    >>> abs(s.rank(0.0) - 0.5) < s.normalized_rank_error()
    True
    >>> s.quantile(0.0) == float(x.min()), s.quantile(1.0) == float(x.max())
    (True, True)
    >>> KLLSketch().update([3.0, 1.0, 2.0, np.nan]).quantile([0.0, 0.5, 1.0])
    array([1., 2., 3.])
    """

    __slots__ = ("_state", "_lock", "__weakref__")

    def __init__(self, k: int = 200, seed: int = 0) -> None:
        if isinstance(k, (bool, np.bool_)) or isinstance(seed, (bool, np.bool_)):
            raise TypeError("k and seed must be integers, not bool")
        k = operator.index(k)
        seed = operator.index(seed)
        if not _MIN_K <= k <= _MAX_K:
            raise ValueError(f"k must be in [{_MIN_K}, {_MAX_K}], got {k}")
        if not 0 <= seed < 2**64:
            raise ValueError(f"seed must be in [0, 2**64), got {seed}")
        out = ffi.new("ps_kll **")
        check_status(lib.ps_kll_new(out, k, seed), "KLLSketch()")
        self._lock = threading.Lock()
        self._state = ffi.gc(out[0], lib.ps_kll_free)

    @classmethod
    def _adopt(cls, raw: Any) -> KLLSketch:
        new = cls.__new__(cls)
        new._lock = threading.Lock()
        new._state = ffi.gc(raw, lib.ps_kll_free)
        return new

    # -- properties ---------------------------------------------------------
    @property
    def k(self) -> int:
        """Accuracy parameter."""
        return int(lib.ps_kll_k(self._state))

    @property
    def seed(self) -> int:
        """Seed of the compaction generator."""
        return int(lib.ps_kll_seed(self._state))

    @property
    def count(self) -> int:
        """Number of non-NaN values seen."""
        with _Owned(self._lock, "KLLSketch.count"):
            return int(lib.ps_kll_count(self._state))

    @property
    def nan_count(self) -> int:
        """Number of NaN values seen (and ignored)."""
        with _Owned(self._lock, "KLLSketch.nan_count"):
            return int(lib.ps_kll_nan_count(self._state))

    @property
    def min(self) -> float:
        """Exact minimum of the non-NaN values (NaN when empty)."""
        with _Owned(self._lock, "KLLSketch.min"):
            return float(lib.ps_kll_min(self._state))

    @property
    def max(self) -> float:
        """Exact maximum of the non-NaN values (NaN when empty)."""
        with _Owned(self._lock, "KLLSketch.max"):
            return float(lib.ps_kll_max(self._state))

    @property
    def num_retained(self) -> int:
        """Number of values the sketch holds (memory is 8 bytes each)."""
        with _Owned(self._lock, "KLLSketch.num_retained"):
            return int(lib.ps_kll_num_retained(self._state))

    @property
    def num_levels(self) -> int:
        """Number of levels (level h holds values of weight 2**h)."""
        with _Owned(self._lock, "KLLSketch.num_levels"):
            return int(lib.ps_kll_num_levels(self._state))

    @property
    def is_exact(self) -> bool:
        """True while nothing has been compacted: results are then exact."""
        with _Owned(self._lock, "KLLSketch.is_exact"):
            return bool(lib.ps_kll_is_exact(self._state))

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        mode = "exact" if self.is_exact else "estimation"
        return (f"<pystream.sketches.KLLSketch k={self.k} count={self.count} "
                f"nan_count={self.nan_count} retained={self.num_retained} {mode}>")

    # -- updates ------------------------------------------------------------
    def update(self, chunk: Any) -> KLLSketch:
        """Add the values of ``chunk``.

        Parameters
        ----------
        chunk : array_like
            Any numeric dtype (bool, integers, float16/32/64) and shape;
            values are taken in C order.  Strided input is read in place;
            byte-swapped, misaligned and float16 input is converted.  Not
            modified.

        Returns
        -------
        KLLSketch
            ``self``.

        Raises
        ------
        TypeError
            Non-numeric dtype (complex, object, strings...).

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sketches import KLLSketch
        >>> s = KLLSketch().update(np.arange(10)).update(np.array([[np.nan, 20.0]]))
        >>> s.count, s.nan_count, s.max
        (11, 1, 20.0)
        """
        if not isinstance(chunk, np.ndarray):
            chunk = np.asarray(chunk)
        if chunk.ndim == 0:
            chunk = chunk.reshape(1)
        with _Owned(self._lock, "KLLSketch.update"):
            if chunk.size == 0:
                prepare_chunk(chunk.reshape(0), "KLLSketch.update")  # dtype check
                return self
            ki = prepare_chunk(chunk, "KLLSketch.update")
            check_status(lib.ps_kll_update(self._state, ki.pointer, ki.code, ki.n, ki.d,
                                           ki.record_stride, ki.value_stride),
                         "KLLSketch.update")
        return self

    def merge(self, other: KLLSketch) -> KLLSketch:
        """Merge another sketch into this one, in place.

        The result is deterministic given the order of the merges, but KLL
        is not order-invariant: ``a.merge(b)`` and ``b.merge(a)`` hold
        different (equally accurate) samples.

        Parameters
        ----------
        other : KLLSketch
            Same ``k``.  Not modified.

        Returns
        -------
        KLLSketch
            ``self``.

        Raises
        ------
        ValueError
            If ``other.k != self.k``.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sketches import KLLSketch
        >>> a = KLLSketch().update(np.arange(0, 50))
        >>> b = KLLSketch().update(np.arange(50, 100))
        >>> a.merge(b).count, a.quantile(0.5)
        (100, 49.0)
        """
        if not isinstance(other, KLLSketch):
            raise TypeError(f"can only merge a KLLSketch, not {type(other).__name__}")
        if other.k != self.k:
            raise ValueError(f"cannot merge sketches of different k ({self.k} and {other.k})")
        if other is self:
            other = self.copy()
        with _Owned(self._lock, "KLLSketch.merge"), _Owned(other._lock, "KLLSketch.merge"):
            check_status(lib.ps_kll_merge(self._state, other._state), "KLLSketch.merge")
        return self

    def copy(self) -> KLLSketch:
        """An independent copy."""
        out = ffi.new("ps_kll **")
        with _Owned(self._lock, "KLLSketch.copy"):
            check_status(lib.ps_kll_copy(out, self._state), "KLLSketch.copy")
        return KLLSketch._adopt(out[0])

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

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sketches import KLLSketch
        >>> s = KLLSketch().update(np.arange(1, 11))
        >>> s.quantile(0.5), s.quantile([0.25, 0.75])
        (5.0, array([3., 7.]))
        """
        qa = np.array(q, dtype=np.float64, copy=True)
        if not np.all((qa >= 0.0) & (qa <= 1.0)):
            raise ValueError(f"quantile: q must be in [0, 1], got {q!r}")
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
        """``fn(state, values, n, out)`` over all `values`; a float for a 0-d input."""
        flat = np.ascontiguousarray(values.reshape(-1))
        out = np.empty(flat.size, dtype=np.float64)
        with _Owned(self._lock, what):
            check_status(fn(self._state, ffi.from_buffer("double[]", flat), flat.size,
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
        """Serialize: versioned, checksummed, little-endian bytes.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sketches import KLLSketch
        >>> s = KLLSketch().update(np.arange(1000.0))
        >>> KLLSketch.from_bytes(s.to_bytes()).to_bytes() == s.to_bytes()
        True
        """
        return serialize(lib.ps_kll_serialize, self._state, self._lock, "KLLSketch.to_bytes")

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> KLLSketch:
        """Rebuild a sketch from :meth:`to_bytes` output.

        Raises
        ------
        ValueError
            Truncated, corrupt or unknown-version bytes.
        TypeError
            ``data`` is not bytes-like.
        """
        return cls._adopt(deserialize(lib.ps_kll_deserialize, "ps_kll", data,
                                      "KLLSketch.from_bytes"))

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (KLLSketch.from_bytes, (self.to_bytes(),))

    # -- introspection (tests) ----------------------------------------------
    def _levels(self) -> list[int]:
        """Level boundaries in the buffer (level h: [levels[h], levels[h+1]))."""
        with _Owned(self._lock, "KLLSketch._levels"):
            return [int(lib.ps_kll_level_offset(self._state, h))
                    for h in range(int(lib.ps_kll_num_levels(self._state)) + 1)]

    def _retained(self) -> np.ndarray:
        """Retained values in storage order."""
        with _Owned(self._lock, "KLLSketch._retained"):
            out = np.empty(int(lib.ps_kll_num_retained(self._state)), dtype=np.float64)
            check_status(lib.ps_kll_retained(self._state, ffi.from_buffer("double[]", out),
                                             out.size), "KLLSketch._retained")
        return out
