"""A one-pass exact histogram for inputs that can be read only once.

Used by ``pystream describe`` on a pipe: the values are counted in the same
pass as the statistics, before their range is known.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np

from .histogram import Histogram, HistogramResult

__all__ = ["OnePassHistogram"]


class OnePassHistogram:
    """Exact histogram counts of an input read once, in the statistics' pass.

    The range (min to max) is known only at the end, so values are counted
    on a fine grid of bins whose width ``w`` is a power of two, aligned on
    multiples of ``w``: when a value falls outside the grid's ``limit``
    bins, ``w`` doubles and pairs of bins merge (exact: the grid stays
    aligned).  At the end the bins are merged again into at most `bins`
    bins of width ``W``, the smallest power of two that covers min..max in
    that many (at least 1 for integers, and at least the spacing of float64
    near the largest magnitude).  ``w`` is always the smallest such width for
    the values seen, so ``W`` and every count are the same for any chunking;
    the counts are exact, only the edges differ from the two-pass
    histogram's (equal bins from min to max).  Memory: ``limit`` counters.
    """

    def __init__(self, bins: int):
        self.bins = bins
        self.limit = max(4096, bins)
        self.w = 0.0                      # fine width; 0 before the first value
        self.k0 = 0                       # index of the first fine bin (value k0 * w)
        self.counts = np.zeros(0, np.int64)
        self.lo = self.hi = 0.0
        self.n = 0                        # finite values counted
        self.nan = self.posinf = self.neginf = 0
        self.integer = None               # integer input: bins of width >= 1
        self.dtype: Any = None
        self.why_not = ""                 # set when no histogram can be given

    @staticmethod
    def _floor(x: float, w: float) -> int:
        k = math.floor(x / w)
        return k - 1 if k * w > x else k  # x / w may round up (x tiny against w)

    @staticmethod
    def _log2(w: float) -> int:
        return math.frexp(w)[1] - 1       # exact for a power of two

    def _bins(self, w: float, lo: float, hi: float) -> int:
        return self._floor(hi, w) - self._floor(lo, w) + 1

    def _width(self, start: float, limit: int) -> float:
        """The smallest power of two >= `start` covering lo..hi in `limit` bins
        (or 2**1023, the largest)."""
        w = start
        while self._bins(w, self.lo, self.hi) > limit and w < 2.0 ** 1023:
            w *= 2.0
        return w

    def _base(self) -> float:
        """The narrowest width considered: float64's spacing near the largest
        magnitude (so indices stay exact integers), and 1 for integers."""
        big = max(abs(self.lo), abs(self.hi))
        base = math.ldexp(1.0, math.frexp(big)[1] - 52) if big else math.ldexp(1.0, -1074)
        return max(base, 1.0) if self.integer else base

    def stage(self, chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """A pass-through stage counting each chunk's values."""
        for chunk in chunks:
            if not self.why_not:
                self.update(chunk)
            yield chunk

    def update(self, chunk: np.ndarray) -> None:
        if chunk.ndim != 1:
            self.why_not = ("histogram: shown for one-column input only (for text input, "
                            "pick a column with --usecols).")
            return
        if self.dtype is None:
            self.dtype = chunk.dtype
            self.integer = chunk.dtype.kind in "biu"
        if not len(chunk):
            return
        x = chunk.view(np.uint8) if chunk.dtype.kind == "b" else chunk
        if self.integer:
            lo_i, hi_i = int(x.min()), int(x.max())   # one pass each, on the integers
            if hi_i > 2**53 or lo_i < -2**53:
                self.why_not = ("histogram: not shown: integers beyond 2**53 in an input "
                                "read once (save it to a file for a histogram).")
                return
            values = x.astype(np.float64)       # exact below 2**53
            lo, hi = float(lo_i), float(hi_i)
        else:
            values = x.astype(np.float64, copy=False)
            lo, hi = float(values.min()), float(values.max())
            if not (math.isfinite(lo) and math.isfinite(hi)):  # a NaN or an inf somewhere
                self.nan += int(np.isnan(values).sum())
                self.posinf += int((values == np.inf).sum())
                self.neginf += int((values == -np.inf).sum())
                values = values[np.isfinite(values)]
                if not len(values):
                    return
                lo, hi = float(values.min()), float(values.max())
        first = self.n == 0
        self.lo = lo if first else min(self.lo, lo)
        self.hi = hi if first else max(self.hi, hi)
        w = self._width(max(self.w, self._base()), self.limit)
        if first:
            self.k0 = self._floor(self.lo, w)
        elif w != self.w:                 # merge pairs of bins until the width is w
            shift = min(62, self._log2(w) - self._log2(self.w))
            ks = (self.k0 + np.arange(len(self.counts), dtype=np.int64)) >> shift
            k0 = self._floor(self.lo, w)
            merged = np.zeros(int(ks[-1]) - k0 + 1, np.int64)
            np.add.at(merged, ks - k0, self.counts)
            self.counts, self.k0 = merged, k0
        self.w = w
        k_lo, k_hi = self._floor(self.lo, w), self._floor(self.hi, w)
        if k_lo < self.k0 or k_hi >= self.k0 + len(self.counts):
            grown = np.zeros(k_hi - k_lo + 1, np.int64)
            grown[self.k0 - k_lo:self.k0 - k_lo + len(self.counts)] = self.counts
            self.counts, self.k0 = grown, k_lo
        idx = np.floor(values / w)
        if w > 1.0:  # x / w may round up to 0 only when it is subnormal (x tiny against w)
            idx -= idx * w > values
        idx -= self.k0                          # exact: integers below 2**53
        self.counts += np.bincount(idx.astype(np.int64),
                                   minlength=len(self.counts))[:len(self.counts)]
        self.n += len(values)

    def result(self) -> tuple[Any, str]:
        """(HistogramResult, note) or (None, why not)."""
        if self.why_not:
            return None, self.why_not
        if self.n == 0 or self.posinf or self.neginf:
            return None, ""               # as for a file: no finite range to bin
        if self.lo == self.hi:            # one value: numpy's bins around it, as for a file
            v = np.array([self.lo], dtype=self.dtype)
            one = Histogram(bins=self.bins, range=(v[0], v[0])).update(v).result()
            return HistogramResult(one.counts * self.n, one.edges, 0, 0, self.nan), ""
        width = self._width(max(self.w, self._base()), self.bins)
        shift = min(62, self._log2(width) - self._log2(self.w))
        ks = (self.k0 + np.arange(len(self.counts), dtype=np.int64)) >> shift
        k0 = self._floor(self.lo, width)
        n = self._floor(self.hi, width) - k0 + 1
        counts = np.zeros(n, np.int64)
        np.add.at(counts, ks - k0, self.counts)
        edges = (k0 + np.arange(n + 1, dtype=np.float64)) * width
        note = (f"histogram: the input can be read only once, so its values were counted in "
                f"the same pass as the statistics, in bins of width {width:g} (a power of "
                "two) aligned on its multiples: exact counts, but not the equal bins from min "
                "to max a file gets.")
        return HistogramResult(counts, edges, 0, 0, self.nan), note
