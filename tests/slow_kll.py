"""Slow pure-Python/numpy twin of the C KLL sketch (``csrc/kll.c``).

It implements the same algorithm, step for step, with the same PRNG, so the
C state (level boundaries and retained items, in storage order) and every
query can be compared *exactly* with it on small and medium inputs.

The algorithm is Apache DataSketches' KLL (``kll_sketch`` in the C++
library): one buffer holding all levels, level 0 at the bottom growing
downwards into the free space, lazy compaction (a level is compacted only
when the buffer is full and another value arrives), level capacities
``max(8, round(k * (2/3)**depth))``, random halving (one bit per
compaction) followed by a merge into the level above.

Differences from DataSketches (deliberate, documented in kll.h):

* items are kept as order-preserving uint64 keys of the float64 values
  (IEEE total order: ``-0.0 < +0.0``), so every sort has a unique result;
* the random bit comes from a seeded splitmix64 generator, advanced once
  per compaction;
* queries never sort level 0 in place (DataSketches does), so a query does
  not change the state.

:class:`SlowBlockKLL` is the twin of the partition-invariant structure that
``pystream.sketches.KLLSketch`` builds from C sketches (blocks of ``block``
values in global position space, a sketch per block seeded from ``(seed,
block)``, siblings merged along the binary tree of aligned block ranges
with a generator derived from the node, the query sketch merged left to
right from the pieces).  It is written independently of kll.py (a binary
counter over the blocks, deep copies of SlowKLL) and only for a serial
stream: the C structure of any partitioning must equal it exactly.
"""

from __future__ import annotations

import copy
import math

import numpy as np

__all__ = ["SlowKLL", "SlowBlockKLL", "derive", "TAG_LEAF", "TAG_NODE", "TAG_FINAL", "to_keys", "from_keys", "level_capacity", "total_capacity"]

M = 8
MASK = (1 << 64) - 1
SIGN = np.uint64(1 << 63)


def to_keys(x: np.ndarray) -> np.ndarray:
    """Order-preserving uint64 keys of float64 values (NaN must be removed)."""
    b = np.ascontiguousarray(x, dtype=np.float64).view(np.uint64)
    neg = (b & SIGN) != 0
    return np.where(neg, ~b, b | SIGN)


def from_keys(k: np.ndarray) -> np.ndarray:
    k = np.asarray(k, dtype=np.uint64)
    pos = (k & SIGN) != 0
    return np.where(pos, k ^ SIGN, ~k).view(np.float64)


def _cap_aux(k: int, depth: int) -> int:
    # DataSketches' int_cap_aux_aux: round(k * (2/3)**depth), in integers
    twok = k << 1
    tmp = (twok << depth) // (3 ** depth)
    return (tmp + 1) >> 1


def level_capacity(k: int, num_levels: int, height: int) -> int:
    depth = num_levels - height - 1
    if depth <= 30:
        c = _cap_aux(k, depth)
    else:
        half = depth // 2
        c = _cap_aux(_cap_aux(k, half), depth - half)
    return max(M, c)


def total_capacity(k: int, num_levels: int) -> int:
    return sum(level_capacity(k, num_levels, h) for h in range(num_levels))


class SplitMix64:
    def __init__(self, seed: int) -> None:
        self.state = seed & MASK

    def bit(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        return z >> 63


def _halve_down(buf: np.ndarray, start: int, length: int, offset: int) -> None:
    half = length // 2
    buf[start:start + half] = buf[start + offset:start + offset + 2 * half:2].copy()


def _halve_up(buf: np.ndarray, start: int, length: int, offset: int) -> None:
    half = length // 2
    # keeps buf[start + length - 1 - offset - 2j], j = 0..half-1, at the top
    src = buf[start + length - 1 - offset - 2 * np.arange(half)].copy()
    buf[start + length - half:start + length] = src[::-1]


class SlowKLL:
    """The reference sketch; mirrors the C state exactly."""

    def __init__(self, k: int = 200, seed: int = 0) -> None:
        self.k = k
        self.rng = SplitMix64(seed)
        self.n = 0
        self.nan_count = 0
        self.min_key: int | None = None
        self.max_key: int | None = None
        self.levels = [k, k]
        self.items = np.zeros(k, dtype=np.uint64)
        self.compactions = 0

    # -- state --------------------------------------------------------------
    @property
    def num_levels(self) -> int:
        return len(self.levels) - 1

    def level(self, h: int) -> np.ndarray:
        return self.items[self.levels[h]:self.levels[h + 1]]

    def retained(self) -> np.ndarray:
        return self.items[self.levels[0]:self.levels[-1]]

    def _fold_minmax(self, keys: np.ndarray) -> None:
        if keys.size == 0:
            return
        lo, hi = int(keys.min()), int(keys.max())
        self.min_key = lo if self.min_key is None else min(self.min_key, lo)
        self.max_key = hi if self.max_key is None else max(self.max_key, hi)

    # -- updates ------------------------------------------------------------
    def update(self, x) -> "SlowKLL":
        x = np.asarray(x).ravel().astype(np.float64)
        nan = np.isnan(x)
        self.nan_count += int(nan.sum())
        self._insert(to_keys(x[~nan]))
        return self

    def _insert(self, keys: np.ndarray) -> None:
        self._fold_minmax(keys)
        i = 0
        while i < keys.size:
            if self.levels[0] == 0:
                self._compress_while_updating()
            r = min(self.levels[0], keys.size - i)
            top = self.levels[0]
            # value i goes to top - 1, value i + 1 to top - 2, ...
            self.items[top - r:top] = keys[i:i + r][::-1]
            self.levels[0] = top - r
            self.n += r
            i += r

    def _find_level_to_compact(self) -> int:
        h = 0
        while True:
            pop = self.levels[h + 1] - self.levels[h]
            if pop >= level_capacity(self.k, self.num_levels, h):
                return h
            h += 1

    def _add_empty_top_level(self) -> None:
        L = self.num_levels
        assert self.levels[0] == 0
        assert self.levels[L] == total_capacity(self.k, L)
        delta = level_capacity(self.k, L + 1, 0)
        new = np.zeros(self.levels[L] + delta, dtype=np.uint64)
        new[delta:] = self.items
        self.items = new
        self.levels = [b + delta for b in self.levels]
        self.levels.append(self.levels[-1])

    def _compress_while_updating(self) -> None:
        h = self._find_level_to_compact()
        if h == self.num_levels - 1:
            self._add_empty_top_level()
        lv, it = self.levels, self.items
        raw_beg, raw_lim = lv[h], lv[h + 1]
        pop_above = lv[h + 2] - raw_lim
        raw_pop = raw_lim - raw_beg
        odd = raw_pop & 1
        adj_beg = raw_beg + odd
        adj_pop = raw_pop - odd
        half = adj_pop // 2
        if h == 0:
            it[adj_beg:adj_beg + adj_pop] = np.sort(it[adj_beg:adj_beg + adj_pop])
        self._halve_and_merge(it, adj_beg, adj_pop, raw_lim, pop_above)
        lv[h + 1] -= half
        if odd:
            lv[h] = lv[h + 1] - 1
            it[lv[h]] = it[raw_beg]
        else:
            lv[h] = lv[h + 1]
        if h > 0:
            amount = raw_beg - lv[0]
            it[lv[0] + half:lv[0] + half + amount] = it[lv[0]:lv[0] + amount].copy()
        for j in range(h):
            lv[j] += half

    def _halve_and_merge(self, it, adj_beg, adj_pop, raw_lim, pop_above) -> None:
        half = adj_pop // 2
        offset = self.rng.bit()
        self.compactions += 1
        if pop_above == 0:
            _halve_up(it, adj_beg, adj_pop, offset)
        else:
            _halve_down(it, adj_beg, adj_pop, offset)
            merged = np.sort(np.concatenate([it[adj_beg:adj_beg + half],
                                             it[raw_lim:raw_lim + pop_above]]))
            it[adj_beg + half:raw_lim + pop_above] = merged

    # -- merge --------------------------------------------------------------
    def merge(self, other: "SlowKLL") -> "SlowKLL":
        assert other.k == self.k
        if other.n == 0:
            self.nan_count += other.nan_count
            return self
        final_n = self.n + other.n
        nan_count = self.nan_count + other.nan_count
        if other.min_key is not None:
            self._fold_minmax(np.array([other.min_key, other.max_key], dtype=np.uint64))
        self._insert(other.level(0).copy())
        if other.num_levels >= 2:
            self._merge_higher_levels(other)
        self.n = final_n
        self.nan_count = nan_count
        return self

    def _merge_higher_levels(self, other: "SlowKLL") -> None:
        L = max(self.num_levels, other.num_levels)
        parts = [self.level(0).copy()]
        for h in range(1, L):
            a = self.level(h) if h < self.num_levels else np.zeros(0, np.uint64)
            b = other.level(h) if h < other.num_levels else np.zeros(0, np.uint64)
            parts.append(np.sort(np.concatenate([a, b])))
        work = np.concatenate(parts + [np.zeros(0, np.uint64)])
        in_levels = [0]
        for p in parts:
            in_levels.append(in_levels[-1] + p.size)
        in_levels += [0] * 70
        out_levels, num_levels, num_items = self._general_compress(L, work, in_levels)
        cap = total_capacity(self.k, num_levels)
        assert num_items <= cap
        free = cap - num_items
        items = np.zeros(cap, dtype=np.uint64)
        items[free:] = work[:num_items]
        self.items = items
        self.levels = [b + free for b in out_levels[:num_levels + 1]]

    def _general_compress(self, num_levels_in, it, in_levels):
        k = self.k
        cur_levels = num_levels_in
        cur_count = in_levels[num_levels_in] - in_levels[0]
        target = total_capacity(k, cur_levels)
        out = [0] * (len(in_levels))
        h = 0
        while True:
            if h == cur_levels - 1:
                in_levels[h + 2] = in_levels[h + 1]
            raw_beg, raw_lim = in_levels[h], in_levels[h + 1]
            raw_pop = raw_lim - raw_beg
            if cur_count < target or raw_pop < level_capacity(k, cur_levels, h):
                it[out[h]:out[h] + raw_pop] = it[raw_beg:raw_lim].copy()
                out[h + 1] = out[h] + raw_pop
            else:
                pop_above = in_levels[h + 2] - raw_lim
                odd = raw_pop & 1
                adj_beg = raw_beg + odd
                adj_pop = raw_pop - odd
                half = adj_pop // 2
                if odd:
                    it[out[h]] = it[raw_beg]
                    out[h + 1] = out[h] + 1
                else:
                    out[h + 1] = out[h]
                if h == 0:
                    it[adj_beg:adj_beg + adj_pop] = np.sort(it[adj_beg:adj_beg + adj_pop])
                self._halve_and_merge(it, adj_beg, adj_pop, raw_lim, pop_above)
                cur_count -= half
                in_levels[h + 1] -= half
                if h == cur_levels - 1:
                    cur_levels += 1
                    target += level_capacity(k, cur_levels, 0)
            if h == cur_levels - 1:
                break
            h += 1
        return out, cur_levels, cur_count

    # -- queries ------------------------------------------------------------
    def effective_minmax(self) -> tuple[float, float]:
        if self.n == 0:
            return math.nan, math.nan
        keys = np.array([self.min_key, self.max_key], dtype=np.uint64)
        lo, hi = from_keys(keys)
        return float(lo), float(hi)

    def sorted_view(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted retained values and their cumulative weights."""
        keys, weights = [], []
        for h in range(self.num_levels):
            lv = self.level(h)
            keys.append(lv)
            weights.append(np.full(lv.size, 1 << h, dtype=np.int64))
        keys = np.concatenate(keys)
        weights = np.concatenate(weights)
        order = np.argsort(keys, kind="stable")
        return from_keys(keys[order]), np.cumsum(weights[order])

    def quantile(self, q: float) -> float:
        """numpy's 'lower' convention: the item covering position
        floor(q * (n - 1)) of the weighted sorted sample; q = 0 / 1 give
        the exact min / max."""
        if self.n == 0:
            return math.nan
        lo, hi = self.effective_minmax()
        if q == 0.0:
            return lo
        if q == 1.0:
            return hi
        vals, cum = self.sorted_view()
        pos = math.floor(q * float(self.n - 1))
        i = int(np.searchsorted(cum, pos, side="right"))
        return float(vals[min(i, vals.size - 1)])

    def rank(self, value: float) -> float:
        if self.n == 0 or math.isnan(value):
            return math.nan
        vals, cum = self.sorted_view()
        key = int(to_keys(np.array([value]))[0])
        keys = to_keys(vals)
        i = int(np.searchsorted(keys, np.uint64(key), side="right"))
        return float(cum[i - 1]) / self.n if i else 0.0


# --------------------------------------------------------------------------
# the block structure (KLLSketch)

TAG_LEAF = 0x6C6C6B2E6661656C
TAG_NODE = 0x6C6C6B2E65646F6E
TAG_FINAL = 0x6C6C6B2E6C616E69


def _mix(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def derive(seed: int, tag: int, a: int, b: int = 0) -> int:
    return _mix(_mix(_mix(seed ^ tag) ^ a) ^ b)


class SlowBlockKLL:
    """Serial twin of KLLSketch: ``final()`` is its query sketch."""

    def __init__(self, k: int, seed: int, start: int = 0, block: int = 1 << 19) -> None:
        self.k, self.seed, self.start, self.block = k, seed, start, block
        self.parts: list[np.ndarray] = []

    def update(self, x) -> "SlowBlockKLL":
        self.parts.append(np.asarray(x).astype(np.float64).ravel())
        return self

    def _merged(self, left: SlowKLL, right: SlowKLL, rng: int) -> SlowKLL:
        out = copy.deepcopy(left)
        out.rng.state = rng
        return out.merge(right)

    def final(self) -> SlowKLL:
        x = np.concatenate([np.zeros(0), *self.parts])
        B, k, seed = self.block, self.k, self.seed
        start, stop = self.start, self.start + x.size
        head = tail = None
        stack: list[tuple[int, int, SlowKLL, int, int]] = []  # level, index, sketch
        p = start
        while p < stop:
            b = p // B
            e = min(stop, (b + 1) * B)
            leaf = SlowKLL(k, derive(seed, TAG_LEAF, b)).update(x[p - start:e - start])
            if p == b * B and e == (b + 1) * B:
                stack.append((0, b, leaf))
                while (len(stack) >= 2 and stack[-1][0] == stack[-2][0]
                       and stack[-2][1] % 2 == 0 and stack[-1][1] == stack[-2][1] + 1):
                    (lv, i, a), (_, _, c) = stack[-2], stack[-1]
                    up = i // 2
                    stack[-2:] = [(lv + 1, up, self._merged(a, c, derive(seed, TAG_NODE, lv + 1, up)))]
            elif p == start and p != b * B:
                head = (p, e, leaf)
            else:
                tail = (p, e, leaf)
            p = e
        pieces = [] if head is None else [head]
        pieces += [((i << lv) * B, ((i + 1) << lv) * B, s) for lv, i, s in stack]
        if tail is not None:
            pieces.append(tail)
        if not pieces:
            return SlowKLL(k, derive(seed, TAG_FINAL, start, stop))
        acc = copy.deepcopy(pieces[0][2])
        for a, b, s in pieces[1:]:
            acc.rng.state = derive(seed, TAG_FINAL, a, b)
            acc.merge(s)
        return acc

    def layout(self) -> tuple[int, list[tuple[int, int]], int]:
        """(head length, tree nodes, tail length) as KLLSketch._layout()."""
        n = sum(p.size for p in self.parts)
        B, start, stop = self.block, self.start, self.start + n
        first = -(-start // B) * B
        if stop < first:
            return n, [], 0
        nodes, i, last = [], first // B, stop // B
        while i < last:  # greedy: largest aligned range that fits
            lv = 0
            while i % (2 << lv) == 0 and i + (2 << lv) <= last:
                lv += 1
            nodes.append((lv, i >> lv))
            i += 1 << lv
        return first - start, nodes, stop - last * B if last * B >= first else 0
