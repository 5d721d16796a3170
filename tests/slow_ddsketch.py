"""Pure-numpy "slow twin" of the C DDSketch (``csrc/ddsketch.c``).

:func:`slow_ddsketch` builds, from the whole array at once, the state the C
sketch must hold -- bucket indices, per-bucket counts after the collapse
rule, zero / inf / NaN counts, exact min and max -- and
:meth:`SlowDDSketch.quantile` / :meth:`SlowDDSketch.rank` compute the same
answers.  Every float operation is the one the C code performs, in the same
order (IEEE float64, no FMA), so the tests compare the two bit for bit.

The definitions, restated:

* index of a normal ``x`` (exponent field ``E`` in 1..2046, mantissa
  ``s`` in [0, 1)): ``int(mult * (E + ((A*s + B)*s + C)*s))`` with
  ``A, B, C = 6/35, -3/5, 10/7`` and
  ``mult = 0.7000007 / log((1 + alpha) / (1 - alpha))``;
* zeros and subnormals: the zero count; +-inf: their own counts; NaN: the
  NaN count;
* collapse: with ``M`` the largest index of a sign, indices below
  ``M - max_buckets + 1`` count in that bucket;
* the value of bucket ``i``: ``2 lo hi / (lo + hi)`` with its bounds from a
  Newton inversion of the cubic (six steps from ``s = t``);
* quantile ``q``: the value of the position holding 0-based rank
  ``floor((n - 1) * q)`` in the order -inf, negative buckets (largest
  magnitude first), zero, positive buckets, +inf, clamped to [min, max];
  ``q = 0`` / ``1`` give min / max.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SlowDDSketch", "slow_ddsketch", "slow_index", "slow_bucket_value",
           "slow_multiplier"]

CA = 6.0 / 35.0
CB = -3.0 / 5.0
CC = 10.0 / 7.0
DA = 18.0 / 35.0
DB = -6.0 / 5.0
MANT = np.uint64(0x000FFFFFFFFFFFFF)
ONE = np.uint64(0x3FF0000000000000)
DBL_MIN = np.finfo(np.float64).tiny


def slow_multiplier(alpha: float) -> float:
    return 0.7000007 / math.log((1.0 + alpha) / (1.0 - alpha))


def slow_index(x: np.ndarray, mult: float) -> np.ndarray:
    """Bucket index of |x| (int64), for every value (meaningful for normal x)."""
    u = np.ascontiguousarray(x, dtype=np.float64).view(np.uint64)
    ex = ((u >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.float64)
    m = ((u & MANT) | ONE).view(np.float64)
    s = m - 1.0
    p = ((CA * s + CB) * s + CC) * s
    y = ex + p
    return (np.float64(mult) * y).astype(np.int64)


def _pinv(t: np.ndarray) -> np.ndarray:
    s = t.copy()
    for _ in range(6):
        f = ((CA * s + CB) * s + CC) * s - t
        d = (DA * s + DB) * s + CC
        s = s - f / d
    return np.clip(s, 0.0, 1.0)


def slow_bucket_value(index: np.ndarray, mult: float) -> np.ndarray:
    """Magnitude returned by buckets ``index`` (before clamping)."""
    i = np.asarray(index, dtype=np.int64)
    ylo = i.astype(np.float64) / mult
    yhi = (i + 1).astype(np.float64) / mult
    elo = np.floor(ylo)
    ehi = np.floor(yhi)
    a = 1.0 + _pinv(ylo - elo)
    b = 1.0 + _pinv(yhi - ehi)
    d = (ehi - elo).astype(np.int64)
    with np.errstate(over="ignore"):
        v = 2.0 * a * b / (a + np.ldexp(b, d))
        return np.ldexp(v, ehi.astype(np.int64) - 1023)


@dataclass
class SlowDDSketch:
    alpha: float
    max_buckets: int
    mult: float
    pos_lo: int = 0
    pos: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    neg_lo: int = 0
    neg: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    zero: int = 0
    pos_inf: int = 0
    neg_inf: int = 0
    nan: int = 0
    min: float = math.nan
    max: float = math.nan

    @property
    def count(self) -> int:
        return (int(self.pos.sum(dtype=np.uint64)) + int(self.neg.sum(dtype=np.uint64))
                + self.zero + self.pos_inf + self.neg_inf)

    # value order: -inf, negative buckets (largest index first), zero,
    # positive buckets, +inf
    def _walk(self) -> tuple[np.ndarray, np.ndarray]:
        counts = np.concatenate([np.array([self.neg_inf], np.uint64), self.neg[::-1],
                                 np.array([self.zero], np.uint64), self.pos,
                                 np.array([self.pos_inf], np.uint64)])
        values = np.concatenate([
            [-np.inf],
            -slow_bucket_value(self.neg_lo + np.arange(len(self.neg))[::-1], self.mult),
            [0.0],
            slow_bucket_value(self.pos_lo + np.arange(len(self.pos)), self.mult),
            [np.inf]])
        return np.cumsum(counts, dtype=np.uint64), values

    def _clamp(self, v: np.ndarray) -> np.ndarray:
        return np.where(v < self.min, self.min, np.where(v > self.max, self.max, v))

    def quantile(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=np.float64)
        n = self.count
        if n == 0:
            return np.full(q.shape, np.nan)
        cum, values = self._walk()
        k = np.floor((n - 1) * q).astype(np.uint64)
        k = np.minimum(k, np.uint64(n - 1))
        pos = np.searchsorted(cum, k, side="right")
        out = self._clamp(values[pos])
        out = np.where(q == 0.0, self.min, out)
        return np.where(q == 1.0, self.max, out)

    def rank(self, v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=np.float64)
        n = self.count
        out = np.full(v.shape, np.nan)
        if n == 0:
            return out
        neg_total = int(self.neg.sum(dtype=np.uint64))
        pos_cum = np.concatenate([[0], np.cumsum(self.pos, dtype=np.uint64)])
        neg_cum = np.concatenate([[0], np.cumsum(self.neg, dtype=np.uint64)])  # from lo up
        for k, x in np.ndenumerate(v):
            x = float(x)
            if math.isnan(x):
                continue
            if x < self.min:
                out[k] = 0.0
                continue
            if x >= self.max:
                out[k] = 1.0
                continue
            if x == -math.inf:
                below, own, rep = 0, self.neg_inf, -math.inf
            elif abs(x) < DBL_MIN:
                below, own, rep = self.neg_inf + neg_total, self.zero, 0.0
            else:
                negative = x < 0
                lo, counts = (self.neg_lo, self.neg) if negative else (self.pos_lo, self.pos)
                idx = int(slow_index(np.array([x]), self.mult)[0])
                if len(counts) == 0:
                    below = self.neg_inf if negative else self.neg_inf + neg_total + self.zero
                    own, rep = 0, 0.0
                else:
                    hi = lo + len(counts) - 1
                    idx = max(idx, hi - self.max_buckets + 1)
                    rep = float(slow_bucket_value(np.array([idx]), self.mult)[0])
                    if negative:
                        rep = -rep
                        j = min(max(idx, lo - 1), hi + 1) - lo  # -1 .. len
                        # values further left: buckets with index > idx
                        above = int(neg_cum[-1] - neg_cum[min(j + 1, len(counts))])
                        below = self.neg_inf + above
                        own = int(counts[j]) if 0 <= j < len(counts) else 0
                    else:
                        j = min(max(idx, lo - 1), hi + 1) - lo
                        below = (self.neg_inf + neg_total + self.zero
                                 + int(pos_cum[max(min(j, len(counts)), 0)]))
                        own = int(counts[j]) if 0 <= j < len(counts) else 0
            rep_c = min(max(rep, self.min), self.max)
            if x >= rep_c:
                below += own
            below = max(below, 1)  # x >= min
            out[k] = float(below) / float(n)
        return out


def _store(idx: np.ndarray, max_buckets: int) -> tuple[int, np.ndarray]:
    if idx.size == 0:
        return 0, np.zeros(0, np.uint64)
    top = int(idx.max())
    idx = np.maximum(idx, top - max_buckets + 1)
    lo = int(idx.min())
    return lo, np.bincount(idx - lo).astype(np.uint64)


def slow_ddsketch(x: np.ndarray, alpha: float = 0.01, max_buckets: int = 2048) -> SlowDDSketch:
    """The state a DDSketch fed all of ``x`` (any dtype; flattened) holds."""
    v = np.asarray(x)
    if v.dtype.kind == "f" and v.dtype.itemsize == 2:
        v = v.astype(np.float32)
    v = v.astype(np.float64).ravel()
    mult = slow_multiplier(alpha)
    nan = np.isnan(v)
    finite = np.isfinite(v)
    normal = finite & (np.abs(v) >= DBL_MIN)
    idx = slow_index(v, mult)
    negative = np.signbit(v)
    s = SlowDDSketch(alpha, max_buckets, mult)
    s.pos_lo, s.pos = _store(idx[normal & ~negative], max_buckets)
    s.neg_lo, s.neg = _store(idx[normal & negative], max_buckets)
    s.zero = int((finite & ~normal).sum())
    s.pos_inf = int((v == np.inf).sum())
    s.neg_inf = int((v == -np.inf).sum())
    s.nan = int(nan.sum())
    if s.count:
        s.min = float(np.nanmin(v)) + 0.0  # -0.0 -> +0.0, as the C state
        s.max = float(np.nanmax(v)) + 0.0
    return s
