"""DDSketch: the relative-error guarantee, bit-identical chunk / partition /
merge-order invariance, the collapse rule, edge cases and dtypes, the
serialization and its validation, threads -- and the C kernel compared bit
for bit with its pure-numpy twin (``slow_ddsketch.py``)."""

from __future__ import annotations

import copy
import math
import pickle
import random
import struct
import threading
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slow_ddsketch import (DBL_MIN, slow_bucket_value, slow_ddsketch, slow_index,
                           slow_multiplier)

from pystream._native import lib
import pystream as ps
from pystream.sketches import DDSketch

# Many tests here collapse stores on purpose (tiny max_buckets, values far
# out); the collapse warning has its own tests (pytest.warns records it
# whatever this filter says).
pytestmark = pytest.mark.filterwarnings("ignore::pystream.SketchAccuracyWarning")

GRID = np.linspace(0.0, 1.0, 1001)  # 0, 0.001, ..., 1
N = 1_000_000


# --------------------------------------------------------------------------
# helpers


def true_quantiles(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64).ravel()
    v = v[~np.isnan(v)]
    return np.quantile(v, q, method="lower")


def relative_errors(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| / |want| (0 where both are equal, incl. 0 and inf)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.abs(got - want) / np.abs(want)
    return np.where(got == want, 0.0, err)


def assert_within_alpha(got: np.ndarray, want: np.ndarray, alpha: float, what: str = "") -> float:
    """|got - want| <= alpha |want| elementwise (infinities must match)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    inf = np.isinf(want)
    assert np.array_equal(got[inf], want[inf]), what
    g, w = got[~inf], want[~inf]
    ok = np.abs(g - w) <= alpha * np.abs(w)
    if not ok.all():
        k = int(np.flatnonzero(~ok)[0])
        pytest.fail(f"{what}: {g[k]!r} vs true {w[k]!r}: relative error "
                    f"{abs(g[k] - w[k]) / abs(w[k])!r} > alpha={alpha}")
    return float(relative_errors(got, want).max()) if got.size else 0.0


def assert_guarantee(s: DDSketch, x: np.ndarray, q: np.ndarray = GRID) -> np.ndarray:
    """The documented guarantee, collapse included: a quantile whose true
    value was not collapsed is within alpha (0 for subnormals), a collapsed
    one is the value of the collapse floor bucket (clamped), q = 0 and 1
    are exact.  Returns the mask of collapsed quantiles."""
    b = s.buckets()
    mult = slow_multiplier(s.alpha)
    mb = s.max_buckets
    floor_pos = b.positive_lo + len(b.positive) - mb
    floor_neg = b.negative_lo + len(b.negative) - mb
    want = true_quantiles(x, q)
    got = s.quantile(q)
    ends = (q == 0.0) | (q == 1.0)
    assert np.array_equal(got[ends], want[ends])
    normal = np.isfinite(want) & (np.abs(want) >= DBL_MIN)
    idx = slow_index(want, mult)
    collapsed = normal & ~ends & np.where(want > 0, idx < floor_pos, idx < floor_neg)
    for g, w in zip(got[collapsed], want[collapsed]):
        floor = floor_pos if w > 0 else floor_neg
        rep = math.copysign(slow_bucket_value(np.array([floor]), mult)[0], w)
        assert g == min(max(rep, s.min), s.max)
    tiny = (want != 0) & (np.abs(want) < DBL_MIN)
    assert (got[tiny] == np.clip(0.0, s.min, s.max)).all()
    keep = ~collapsed & ~tiny
    assert_within_alpha(got[keep], want[keep], s.alpha)
    return collapsed


def assert_same_as_twin(s: DDSketch, x: np.ndarray, q: np.ndarray = GRID,
                        rank_probes: np.ndarray | None = None) -> None:
    """The C state and answers equal the twin's bit for bit."""
    t = slow_ddsketch(x, s.alpha, s.max_buckets)
    b = s.buckets()
    assert b.positive_lo == t.pos_lo and np.array_equal(b.positive, t.pos)
    assert b.negative_lo == t.neg_lo and np.array_equal(b.negative, t.neg)
    assert (b.zero, b.pos_inf, b.neg_inf, b.nan) == (t.zero, t.pos_inf, t.neg_inf, t.nan)
    assert s.count == t.count and s.nan_count == t.nan
    if t.count:
        assert struct.pack("<dd", s.min, s.max) == struct.pack("<dd", t.min, t.max)
    got, want = s.quantile(q), t.quantile(q)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(got)
    assert got[ok].tobytes() == want[ok].tobytes()  # bit for bit, signed zeros too
    if rank_probes is not None:
        assert np.array_equal(s.rank(rank_probes), t.rank(rank_probes), equal_nan=True)


def chunked(x: np.ndarray, rng: np.random.Generator, max_chunk: int = 50_000) -> list[np.ndarray]:
    cuts = [0]
    while cuts[-1] < len(x):
        cuts.append(min(len(x), cuts[-1] + int(rng.integers(1, max_chunk))))
    return [x[a:b] for a, b in zip(cuts, cuts[1:])]


def fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325  # the standard FNV-1a 64 offset basis (issue 15)
    for c in data:
        h ^= c
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def reseal(body: bytes) -> bytes:
    """Bytes with a valid checksum for ``body`` (forgeries)."""
    return body + struct.pack("<Q", fnv1a(body))


# --------------------------------------------------------------------------
# the guarantee on 1e6-value streams


def _distributions() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240611)
    normal = rng.normal(size=N)
    mixed = normal * 1e3
    mixed[rng.random(N) < 0.10] = 0.0
    mixed[rng.random(N) < 0.05] = -0.0
    special = rng.normal(size=N) * 50
    u = rng.random(N)
    special[u < 0.01] = np.nan
    special[(u >= 0.01) & (u < 0.012)] = np.inf
    special[(u >= 0.012) & (u < 0.014)] = -np.inf
    return {
        "uniform": rng.random(N),
        "normal": normal,
        "lognormal": rng.lognormal(0.0, 2.0, N),
        "pareto": rng.pareto(1.2, N) + 1.0,
        "cauchy": rng.standard_cauchy(N),
        "duplicates": rng.integers(-5, 20, N).astype(np.float64) * 0.25,
        "mixed_signs_zeros": mixed,
        "nan_inf": special,
        "tiny_and_huge": rng.choice([-1.0, 1.0], N) * 10.0 ** rng.uniform(-8, 8, N),
    }


DISTRIBUTIONS = _distributions()
MAX_REL_ERROR: dict[str, float] = {}


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_every_quantile_within_alpha(name: str) -> None:
    x = DISTRIBUTIONS[name]
    rng = np.random.default_rng(1)
    s = DDSketch(alpha=0.01)
    for c in chunked(x, rng, 300_000):
        s.update(c)
    got = s.quantile(GRID)
    want = true_quantiles(x, GRID)
    MAX_REL_ERROR[name] = assert_within_alpha(got, want, 0.01, name)
    assert got[0] == want[0] and got[-1] == want[-1]  # exact min / max
    # nothing collapsed on these: each store within max_buckets anyway
    b = s.buckets()
    assert len(b.positive) <= 2048 and len(b.negative) <= 2048
    probes = np.concatenate([want[::50], np.random.default_rng(2).choice(
        x[~np.isnan(x)], 200)])
    assert_same_as_twin(s, x, GRID, probes)


@pytest.mark.parametrize("alpha", [1e-5, 1e-3, 0.05, 0.5])
def test_within_alpha_other_accuracies(alpha: float) -> None:
    x = DISTRIBUTIONS["cauchy"][:200_000]
    s = DDSketch(alpha=alpha, max_buckets=1 << 22).update(x)
    assert_within_alpha(s.quantile(GRID), true_quantiles(x, GRID), alpha, f"alpha={alpha}")
    assert_same_as_twin(s, x)


def test_quantile_accepts_scalars_and_shapes() -> None:
    s = DDSketch().update(np.arange(1.0, 101.0))
    assert isinstance(s.quantile(0.5), float)
    assert isinstance(s.quantile(np.float32(0.5)), float)
    out = s.quantile([[0.0, 0.5], [0.9, 1.0]])
    assert out.shape == (2, 2) and out[0, 0] == 1.0 and out[1, 1] == 100.0
    assert s.quantile(np.array(0.5)).shape == ()
    assert s.quantile([]).shape == (0,)


@pytest.mark.parametrize("q", [-0.001, 1.0000001, np.nan, np.inf, -np.inf])
def test_quantile_out_of_range_raises(q: float) -> None:
    s = DDSketch().update([1.0, 2.0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        s.quantile(q)
    with pytest.raises(ValueError):
        s.quantile([0.5, q])
    with pytest.raises(TypeError):
        s.quantile("half")


# --------------------------------------------------------------------------
# the mapping: the bound on hard inputs (bucket boundaries, powers of two,
# extremes), through the C introspection functions and the twin


def _sketch_ptr(alpha: float) -> tuple[DDSketch, object]:
    s = DDSketch(alpha=alpha)
    return s, s._state


def _boundaries(mult: float, indices: np.ndarray) -> np.ndarray:
    """Smallest positive normal double whose (twin) index is >= i, by
    bisection on the bit patterns (positive doubles order like uint64)."""
    lo = np.full(indices.shape, np.float64(DBL_MIN).view(np.uint64), np.uint64)
    hi = np.full(indices.shape, np.float64(np.finfo(np.float64).max).view(np.uint64),
                 np.uint64)
    for _ in range(64):
        mid = lo + (hi - lo) // np.uint64(2)
        ge = slow_index(mid.view(np.float64), mult) >= indices
        hi = np.where(ge, mid, hi)
        lo = np.where(ge, lo, mid + np.uint64(1))
    return hi.view(np.float64)


def hard_values(mult: float, rng: np.random.Generator) -> np.ndarray:
    top = int(slow_index(np.array([np.finfo(np.float64).max]), mult)[0])
    bottom = int(slow_index(np.array([DBL_MIN]), mult)[0])
    idx = np.unique(np.concatenate([
        np.arange(bottom + 1, min(top, bottom + 400)),
        np.arange(max(bottom + 1, top - 400), top + 1),
        rng.integers(bottom + 1, top + 1, 3000)]))
    edges = _boundaries(mult, idx)
    pw = np.ldexp(1.0, np.arange(-1022, 1024))
    vals = np.concatenate([edges, np.nextafter(edges, 0), np.nextafter(edges, np.inf),
                           pw, np.nextafter(pw, 0), np.nextafter(pw, np.inf),
                           [DBL_MIN, np.nextafter(DBL_MIN, 1), np.finfo(np.float64).max,
                            np.nextafter(np.finfo(np.float64).max, 0), 1.0, 3.0, 1e300,
                            1e-300]])
    vals = vals[np.isfinite(vals) & (vals >= DBL_MIN)]
    return np.unique(vals)


@pytest.mark.parametrize("alpha", [1e-5, 1e-4, 1e-3, 0.01, 0.02, 0.05, 0.1, 1 / 3, 0.5])
def test_bucket_values_within_alpha_on_hard_inputs(alpha: float) -> None:
    rng = np.random.default_rng(int(alpha * 1e6))
    s, ptr = _sketch_ptr(alpha)
    mult = slow_multiplier(alpha)
    assert lib.ps_ddsketch_multiplier(ptr) == mult  # same libm log as the C side
    x = hard_values(mult, rng)
    idx = slow_index(x, mult)
    # the C index and bucket value agree with the twin
    sample = rng.choice(len(x), 2000)
    for k in sample:
        assert lib.ps_ddsketch_index(ptr, x[k]) == idx[k]
        assert lib.ps_ddsketch_index(ptr, -x[k]) == idx[k]
        assert lib.ps_ddsketch_bucket_value(ptr, int(idx[k])) == slow_bucket_value(
            np.array([idx[k]]), mult)[0]
    v = slow_bucket_value(idx, mult)
    top = np.isinf(v)  # only the bucket whose upper bound passes DBL_MAX
    assert (x[top] >= np.ldexp(1.0, 1023)).all()
    assert_within_alpha(v[~top], x[~top], alpha, f"alpha={alpha}")
    # the bound is tight-ish: the worst case uses most of alpha
    assert relative_errors(v[~top], x[~top]).max() > 0.9 * alpha
    # through the sketch: every rank of the sorted hard values (clamping
    # only touches the two ends); smaller alphas need more than 2**24
    # buckets for the whole float64 range, i.e. would collapse
    if alpha < 1e-3:
        return
    sk = DDSketch(alpha=alpha, max_buckets=1 << 24).update(np.concatenate([x, -x]))
    q = np.linspace(0, 1, 5001)
    assert_within_alpha(sk.quantile(q), true_quantiles(np.concatenate([x, -x]), q), alpha,
                        f"sketch alpha={alpha}")


def test_index_is_monotone_on_a_fine_grid() -> None:
    mult = slow_multiplier(0.01)
    x = np.sort(np.concatenate([np.geomspace(DBL_MIN, 1e308, 2_000_000),
                                1 + np.arange(100_000) * 2.0**-40]))
    i = slow_index(x, mult)
    assert (np.diff(i) >= 0).all()


def test_subnormals_count_as_zero() -> None:
    sub = np.array([5e-324, 1e-310, 2e-308, -3e-320, 0.0])
    s = DDSketch().update(sub)
    b = s.buckets()
    assert b.zero == 5 and len(b.positive) == 0 and len(b.negative) == 0
    assert s.min == -3e-320 and s.max == 2e-308
    assert s.quantile(0.5) == 0.0  # documented: |error| < 2.3e-308
    assert s.quantile(0.0) == -3e-320 and s.quantile(1.0) == 2e-308
    # the smallest normal is indexed, and within alpha
    s2 = DDSketch().update(np.array([DBL_MIN, DBL_MIN * 1.5, DBL_MIN * 3, DBL_MIN * 7]))
    assert s2.buckets().zero == 0
    assert_within_alpha(s2.quantile([0.4, 0.7]), [DBL_MIN * 1.5, DBL_MIN * 3], 0.01)


def test_huge_magnitudes() -> None:
    big = np.finfo(np.float64).max
    x = np.array([big, -big, big / 3, np.nextafter(big, 0), 1e308, -1e307, 8.98e307])
    s = DDSketch().update(x)
    assert_within_alpha(s.quantile(GRID), true_quantiles(x, GRID), 0.01)
    assert s.quantile(1.0) == big and s.quantile(0.0) == -big
    assert_same_as_twin(s, x)


# --------------------------------------------------------------------------
# invariance: chunking, partitioning, merge order -- bit-identical


values_st = st.lists(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
        st.floats(min_value=-1e6, max_value=1e6),
        st.sampled_from([0.0, -0.0, 1.0, -1.0, 5e-324, np.inf, -np.inf, np.nan])),
    max_size=200)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=values_st, cuts=st.lists(st.integers(0, 200), max_size=8),
       max_buckets=st.sampled_from([1, 2, 7, 64, 2048]),
       alpha=st.sampled_from([1e-5, 0.01, 0.2, 0.5]),
       order=st.randoms(use_true_random=False))
def test_chunking_partitioning_merge_order_bit_identical(values, cuts, max_buckets, alpha,
                                                         order):
    x = np.array(values, dtype=np.float64)
    whole = DDSketch(alpha, max_buckets).update(x)
    ref = whole.to_bytes()
    bounds = sorted({0, len(x), *[min(c, len(x)) for c in cuts]})
    parts = [x[a:b] for a, b in zip(bounds, bounds[1:])]
    # chunked updates of one sketch
    s = DDSketch(alpha, max_buckets)
    for p in parts:
        s.update(p)
    assert s.to_bytes() == ref
    # one sketch per partition, merged in a random order and tree
    sketches = [DDSketch(alpha, max_buckets).update(p) for p in parts]
    order.shuffle(sketches)
    while len(sketches) > 1:
        i = order.randrange(len(sketches) - 1)
        a, b = sketches[i], sketches.pop(i + 1)
        sketches[i] = a.merge(b) if order.random() < 0.5 else b.merge(a)
    merged = sketches[0] if sketches else DDSketch(alpha, max_buckets)
    assert merged.to_bytes() == ref
    assert merged == whole
    assert_same_as_twin(whole, x, np.linspace(0, 1, 101), x[:20])


@pytest.mark.parametrize("max_buckets", [16, 300, 2048])
def test_random_chunkings_and_merge_trees_big(max_buckets: int) -> None:
    rng = np.random.default_rng(max_buckets)
    x = rng.choice([-1.0, 1.0], 300_000) * rng.lognormal(0, 6, 300_000)
    x[rng.random(len(x)) < 0.01] = 0.0
    x[rng.random(len(x)) < 0.001] = np.nan
    ref = DDSketch(0.01, max_buckets).update(x)
    refb = ref.to_bytes()
    for trial in range(5):
        s = DDSketch(0.01, max_buckets)
        for c in chunked(x, rng, 20_000):
            s.update(c)
        assert s.to_bytes() == refb
        # permuted values: the state depends on the multiset only
        assert DDSketch(0.01, max_buckets).update(rng.permutation(x)).to_bytes() == refb
        parts = chunked(rng.permutation(x), rng, 60_000)
        sks = [DDSketch(0.01, max_buckets).update(p) for p in parts]
        rng.shuffle(sks)
        acc = sks[0]
        for t in sks[1:]:
            acc.merge(t)
        assert acc.to_bytes() == refb
    assert_same_as_twin(ref, x)


# --------------------------------------------------------------------------
# collapse


def test_collapse_rule_and_which_quantiles_keep_the_guarantee() -> None:
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.lognormal(0, 2, 200_000), -rng.lognormal(0, 2, 100_000)])
    mb = 400  # 8 nats of magnitude per sign at alpha = 0.01; the data spans ~20
    s = DDSketch(alpha=0.01, max_buckets=mb)
    for c in chunked(x, rng, 10_000):
        s.update(c)
    b = s.buckets()
    assert len(b.positive) <= mb and len(b.negative) <= mb  # the memory bound
    assert s.nbytes <= 2 * 2 * mb * 8
    assert_same_as_twin(s, x)
    mult = slow_multiplier(0.01)
    floor_pos = b.positive_lo + len(b.positive) - mb   # lowest kept index
    floor_neg = b.negative_lo + len(b.negative) - mb
    # the floor is M - max_buckets + 1 with M the largest index seen
    assert floor_pos == slow_index(np.array([x.max()]), mult)[0] - mb + 1
    assert floor_neg == slow_index(np.array([x.min()]), mult)[0] - mb + 1
    with pytest.warns(ps.SketchAccuracyWarning, match="collapsed"):
        got = s.quantile(GRID)
    want = true_quantiles(x, GRID)
    idx = slow_index(want, mult)
    kept = np.where(want > 0, idx >= floor_pos, idx >= floor_neg)
    assert kept.sum() > 100 and (~kept).sum() > 100
    # every collapsed rank lies in a range DDSketch.collapsed reports (issue 15)
    reported = np.zeros(GRID.shape, bool)
    for c in s.collapsed:
        reported |= (GRID >= c.q_lo) & (GRID <= c.q_hi)
    assert reported[~kept].all() and len(s.collapsed) == 2
    # ranks whose true value was not collapsed: within alpha
    assert_within_alpha(got[kept], want[kept], 0.01, "kept")
    # collapsed ranks come back as the floor bucket's value (clamped)
    for g, w in zip(got[~kept], want[~kept]):
        floor = floor_pos if w > 0 else floor_neg
        rep = slow_bucket_value(np.array([floor]), mult)[0]
        assert g == min(max(math.copysign(rep, w), s.min), s.max)
    # collapsed = the smallest magnitudes of each sign: the low quantiles of
    # the positive values, the high (closest to zero) of the negative ones
    for sign in (want > 0, want < 0):
        assert (np.abs(want[sign & ~kept]) < np.abs(want[sign & kept]).min()).all()
    pos_q, neg_q = GRID[(want > 0) & ~kept], GRID[(want < 0) & ~kept]
    assert pos_q.max() < GRID[(want > 0) & kept].min()
    assert neg_q.min() > GRID[(want < 0) & kept].max()


def test_max_buckets_one() -> None:
    x = np.array([1.0, 2.0, 3.0, 1000.0, -5.0, -0.5])
    s = DDSketch(max_buckets=1).update(x)
    b = s.buckets()
    assert len(b.positive) == 1 and b.positive[0] == 4
    assert len(b.negative) == 1 and b.negative[0] == 2
    assert_same_as_twin(s, x)


def test_memory_bound_wide_range() -> None:
    rng = np.random.default_rng(3)
    x = rng.choice([-1.0, 1.0], 500_000) * 10.0 ** rng.uniform(-300, 300, 500_000)
    for mb in (1, 10, 100, 2048):
        s = DDSketch(0.01, mb)
        for c in chunked(x, rng, 30_000):
            s.update(c)
        b = s.buckets()
        assert len(b.positive) <= mb and len(b.negative) <= mb
        assert s.nbytes <= 2 * 2 * mb * 8
        collapsed = assert_guarantee(s, x)
        assert collapsed.any()
        if mb == 100:
            assert_same_as_twin(s, x)


# --------------------------------------------------------------------------
# edge cases


def test_empty() -> None:
    s = DDSketch()
    assert s.count == 0 and s.nan_count == 0
    assert math.isnan(s.min) and math.isnan(s.max)
    assert math.isnan(s.quantile(0.5))
    assert np.isnan(s.quantile([0.0, 1.0])).all()
    assert math.isnan(s.rank(1.0))
    assert DDSketch.from_bytes(s.to_bytes()) == s
    s.update(np.array([])).update(np.zeros((3, 0))).update([])
    assert s.count == 0
    s.update([np.nan, np.nan])
    assert s.count == 0 and s.nan_count == 2 and math.isnan(s.quantile(0.3))
    assert "count=0" in repr(s)


@pytest.mark.parametrize("v", [3.25, -7.5, 0.0, 1e-310, 1e300, np.inf, -np.inf])
def test_one_value_and_all_equal(v: float) -> None:
    for n in (1, 1000):
        s = DDSketch().update(np.full(n, v))
        assert (s.quantile(GRID) == v).all()
        assert s.min == v == s.max
        assert s.rank(v) == 1.0


def test_zeros_signed() -> None:
    s = DDSketch().update(np.array([-0.0, 0.0, -0.0]))
    assert s.buckets().zero == 3
    assert struct.pack("<d", s.min) == struct.pack("<d", 0.0)  # canonical +0.0
    assert (s.quantile(GRID) == 0.0).all()
    a = DDSketch().update([-0.0]).to_bytes()
    assert a == DDSketch().update([0.0]).to_bytes()


def test_infinities_are_returned() -> None:
    x = np.array([-np.inf] * 3 + [1.0, 2.0, 3.0, 4.0] + [np.inf] * 3)
    s = DDSketch().update(x)
    want = true_quantiles(x, GRID)
    assert_within_alpha(s.quantile(GRID), want, 0.01)
    assert s.quantile(0.1) == -np.inf and s.quantile(0.9) == np.inf
    assert s.rank(-np.inf) == 0.3 and s.rank(np.inf) == 1.0


def test_nan_at_every_position() -> None:
    base = np.array([3.0, -1.0, 0.0, 7.5, 2.0, -4.0, 1e-3])
    ref = DDSketch().update(base)
    for k in range(len(base) + 1):
        x = np.insert(base, k, np.nan)
        s = DDSketch().update(x)
        assert s.nan_count == 1 and s.count == len(base)
        assert np.array_equal(s.quantile(GRID), ref.quantile(GRID))
        b, r = s.buckets(), ref.buckets()
        assert np.array_equal(b.positive, r.positive) and np.array_equal(b.negative, r.negative)
    nan_payload = np.array([0x7FF0000000000001, 0xFFF8000000000000, 0x7FFFFFFFFFFFFFFF],
                           np.uint64).view(np.float64)
    s = DDSketch().update(nan_payload)
    assert s.nan_count == 3 and s.count == 0


def test_rank_consistency() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=20_000) * 100
    s = DDSketch().update(x)
    n = s.count
    qs = s.quantile(GRID)
    r = s.rank(qs)
    assert (r >= np.floor((n - 1) * GRID + 1) / n - 1e-15).all()
    probes = np.sort(rng.normal(size=5000) * 150)
    rp = s.rank(probes)
    assert (np.diff(rp) >= 0).all()
    assert s.rank(x.min() - 1) == 0.0 and s.rank(x.max()) == 1.0
    assert math.isnan(s.rank(np.nan))
    # bucket resolution: within the fractions of values <= v (1 -+ 2 alpha)
    xs = np.sort(x)
    for v in probes[::97]:
        lo_v, hi_v = sorted([v * (1 - 0.021), v * (1 + 0.021)])
        lo = np.searchsorted(xs, lo_v, side="right") / n
        hi = np.searchsorted(xs, hi_v, side="right") / n
        assert lo <= s.rank(v) <= hi
    assert_same_as_twin(s, x, GRID, probes[::10])


# --------------------------------------------------------------------------
# dtypes and layouts


@pytest.mark.parametrize("dtype", ["bool", "int8", "int16", "int32", "int64", "uint8",
                                   "uint16", "uint32", "uint64", "float16", "float32",
                                   "float64"])
def test_dtypes(dtype: str) -> None:
    rng = np.random.default_rng(11)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        x = rng.random(1000) < 0.3
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        x = np.concatenate([
            rng.integers(info.min, info.max, 5000, dtype=dt, endpoint=True),
            np.array([info.min, info.max, info.min + 1, info.max - 1, 0, 1], dtype=dt)])
    else:
        x = (rng.normal(size=5000) * 1000).astype(dt)
        if dt.itemsize >= 4:
            x[:3] = [np.finfo(dt).max, np.finfo(dt).tiny, np.finfo(dt).smallest_subnormal]
    s = DDSketch(max_buckets=1 << 17).update(x)  # whole float64 range: no collapse
    want = np.quantile(x.astype(np.float64), GRID, method="lower")
    if dt.kind in "iu":  # the exact integer quantiles
        want = np.array([float(w) for w in np.quantile(x, GRID, method="lower")])
    got = s.quantile(GRID)
    tiny = (want != 0) & (np.abs(want) < DBL_MIN)
    assert (got[tiny] == 0.0).all()
    assert_within_alpha(got[~tiny], want[~tiny], 0.01, dtype)
    assert s.min == float(x.min()) and s.max == float(x.max())
    assert_same_as_twin(s, x)


def test_int64_extremes() -> None:
    x = np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, -1, 1], dtype=np.int64)
    q = np.array([0.0, 0.34, 0.67, 1.0])
    # 1 .. 2**63 spans 2205 buckets at alpha = 0.01: with 4096 nothing collapses
    s = DDSketch(max_buckets=4096).update(x)
    assert s.quantile(0.0) == -(2.0**63) and s.quantile(1.0) == 2.0**63
    assert_within_alpha(s.quantile(q), [-(2.0**63), -1.0, 1.0, 2.0**63], 0.01)
    # with the default 2048, +-1 collapse into the floor bucket (documented)
    d = DDSketch().update(x)
    assert assert_guarantee(d, x, q).tolist() == [False, True, True, False]


def test_layouts_give_the_same_sketch() -> None:
    rng = np.random.default_rng(13)
    base = rng.normal(size=(300, 7)) * 10
    ref = DDSketch().update(base.ravel()).to_bytes()
    layouts = {
        "2-D": base,
        "3-D": base.reshape(30, 10, 7),
        "transposed": np.asfortranarray(base).T,
        "byte-swapped": base.astype(">f8"),
        "reversed": base.ravel()[::-1],
        "read-only": np.lib.stride_tricks.as_strided(base, writeable=False),
        "0-d first": base.ravel()[:1].reshape(()),
    }
    for name, arr in layouts.items():
        s = DDSketch().update(arr)
        if name == "0-d first":
            s.update(base.ravel()[1:])
        assert s.to_bytes() == ref, name
    # one value per record, records strided (the value stride is unused)
    col = base[::3, 2:3]
    assert col.shape[1] == 1
    assert DDSketch().update(col).to_bytes() == DDSketch().update(
        col.copy().ravel()).to_bytes()
    assert DDSketch().update(base[::-2, 4:5]).to_bytes() == DDSketch().update(
        base[::-2, 4].copy()).to_bytes()
    # strided: every other row, every third value
    strided = base[::2, ::3]
    assert DDSketch().update(strided).to_bytes() == DDSketch().update(
        strided.copy().ravel()).to_bytes()
    # misaligned: float64 data at an odd address
    raw = np.zeros(base.size * 8 + 1, np.uint8)
    mis = raw[1:].view(np.float64)
    mis[:] = base.ravel()
    assert not mis.flags.aligned
    assert DDSketch().update(mis).to_bytes() == ref
    # float32 / int8 views with strides and byte swaps
    f32 = base.astype(np.float32)
    assert DDSketch().update(f32[:, ::2].astype(">f4")).to_bytes() == DDSketch().update(
        np.ascontiguousarray(f32[:, ::2]).ravel()).to_bytes()
    i8 = (base * 3).astype(np.int8)[::-1, ::2]
    assert DDSketch().update(i8).to_bytes() == DDSketch().update(i8.copy().ravel()).to_bytes()
    # lists and scalars
    assert DDSketch().update([1, 2.5, 3]).to_bytes() == DDSketch().update(
        np.array([1.0, 2.5, 3.0])).to_bytes()
    assert DDSketch().update(4.0).count == 1


def test_zero_stride_broadcast() -> None:
    x = np.broadcast_to(np.float64(2.5), (10_000,))
    s = DDSketch().update(x)
    assert s.count == 10_000 and s.quantile(0.5) == 2.5


@pytest.mark.parametrize("bad", [np.array([1 + 2j]), np.array(["a"]), np.array([object()]),
                                 np.array(["2020-01-01"], dtype="datetime64[D]")])
def test_unsupported_dtypes_raise(bad: np.ndarray) -> None:
    s = DDSketch().update([1.0])
    with pytest.raises(TypeError):
        s.update(bad)
    with pytest.raises(TypeError):
        s.update(bad[:0])
    assert s.count == 1


def test_masked_array_refused() -> None:
    with pytest.raises(TypeError, match="masked"):
        DDSketch().update(np.ma.masked_array([1.0, 2.0], mask=[0, 1]))


# --------------------------------------------------------------------------
# parameters, merge errors, copies, pickle, repr


@pytest.mark.parametrize("alpha", [0.0, 1e-6, 0.51, 1.0, -0.1, np.nan, np.inf])
def test_bad_alpha(alpha: float) -> None:
    with pytest.raises(ValueError):
        DDSketch(alpha=alpha)


@pytest.mark.parametrize("alpha", ["0.1", None, True, 1j])
def test_bad_alpha_type(alpha: object) -> None:
    with pytest.raises(TypeError):
        DDSketch(alpha=alpha)  # type: ignore[arg-type]


@pytest.mark.parametrize("mb", [0, -1, 2**24 + 1])
def test_bad_max_buckets(mb: int) -> None:
    with pytest.raises(ValueError):
        DDSketch(max_buckets=mb)
    with pytest.raises(TypeError):
        DDSketch(max_buckets=2.5)  # type: ignore[arg-type]


def test_merge_errors_and_self_merge() -> None:
    a = DDSketch(0.01, 100).update([1.0, 2.0])
    with pytest.raises(ValueError, match="same alpha"):
        a.merge(DDSketch(0.02, 100))
    with pytest.raises(ValueError, match="max_buckets"):
        a.merge(DDSketch(0.01, 101))
    with pytest.raises(TypeError):
        a.merge([1.0])  # type: ignore[arg-type]
    a.merge(a)
    assert a.count == 4 and a == DDSketch(0.01, 100).update([1.0, 2.0, 1.0, 2.0])
    assert a.merge(DDSketch(0.01, 100)) == a  # merging an empty sketch


def test_copy_pickle_repr() -> None:
    s = DDSketch(0.02, 500).update(np.random.default_rng(0).normal(size=1000))
    for t in (s.copy(), copy.copy(s), copy.deepcopy(s), pickle.loads(pickle.dumps(s))):
        assert t == s and t is not s
        assert t.alpha == 0.02 and t.max_buckets == 500
        t.update([1e9])
        assert t != s
    r = repr(s)
    assert r.startswith("DDSketch(alpha=0.02, max_buckets=500, count=1000")
    assert s != "not a sketch"


# --------------------------------------------------------------------------
# serialization


def test_roundtrip_states() -> None:
    rng = np.random.default_rng(17)
    cases = [np.array([]), np.array([np.nan]), np.array([0.0]), np.array([-np.inf, np.inf]),
             rng.standard_cauchy(10_000), rng.lognormal(0, 8, 10_000),
             -rng.lognormal(0, 8, 10_000)]
    for x in cases:
        for mb in (1, 16, 2048):
            s = DDSketch(0.01, mb).update(x)
            b = s.to_bytes()
            t = DDSketch.from_bytes(b)
            assert t.to_bytes() == b
            assert np.array_equal(t.quantile(GRID), s.quantile(GRID), equal_nan=True)
            t.update(x)  # a loaded sketch keeps working
            assert t == DDSketch(0.01, mb).update(np.concatenate([x, x]))
    assert DDSketch.from_bytes(bytearray(b)).to_bytes() == b
    assert DDSketch.from_bytes(memoryview(b)).to_bytes() == b


@pytest.mark.parametrize("obj", [None, 1, "bytes", [1, 2]])
def test_from_bytes_wrong_types(obj: object) -> None:
    with pytest.raises(TypeError):
        DDSketch.from_bytes(obj)  # type: ignore[arg-type]


def test_corrupt_bytes_raise() -> None:
    s = DDSketch(0.01, 64).update(np.array([-3.0, -2.0, 0.0, 1.0, 2.0, 5.0, np.inf, np.nan]))
    b = s.to_bytes()
    for k in range(len(b)):  # truncated at every length
        with pytest.raises(ValueError):
            DDSketch.from_bytes(b[:k])
    for k in range(len(b)):  # every byte flipped
        for mask in (0xFF, 0x01, 0x80):
            bad = bytearray(b)
            bad[k] ^= mask
            with pytest.raises(ValueError):
                DDSketch.from_bytes(bytes(bad))
    with pytest.raises(ValueError):
        DDSketch.from_bytes(b + b"\0")


def _fields(b: bytes) -> dict[str, object]:
    u = struct.unpack_from
    out: dict[str, object] = {"version": u("<Q", b, 8)[0]}
    pos = 80
    for name in ("pos", "neg"):
        lo, nb = u("<qq", b, pos)
        out[name] = (pos, lo, nb)
        pos += 16 + 8 * nb
    return out


def test_forged_checksums_cannot_make_inconsistent_states() -> None:
    s = DDSketch(0.01, 64).update(np.array([-3.0, -2.0, 0.0, 1.0, 2.0, 5.0, np.inf, np.nan]))
    b = s.to_bytes()
    body = bytearray(b[:-8])
    assert DDSketch.from_bytes(reseal(bytes(body))) == s
    f = _fields(b)
    pos_at, pos_lo, pos_nb = f["pos"]  # type: ignore[misc]

    def forged(offset: int, fmt: str, value: object) -> bytes:
        bad = bytearray(body)
        struct.pack_into(fmt, bad, offset, value)
        return reseal(bytes(bad))

    cases = {
        "alpha out of range": forged(16, "<d", 0.9),
        "alpha changed": forged(16, "<d", 0.02),  # min/max no longer in the end buckets
        "max_buckets 0": forged(24, "<q", 0),
        "max_buckets too small for the store": forged(24, "<q", 2),
        "+inf count dropped": forged(40, "<Q", 0),
        "-inf count but min finite": forged(48, "<Q", 1),
        "min above max": forged(64, "<d", 6.0),
        "min not in the lowest bucket": forged(64, "<d", -2.5),
        "max not +inf": forged(72, "<d", 5.0),
        "min is -0.0": forged(64, "<d", -0.0),
        "min NaN": forged(64, "<d", math.nan),
        "negative lo": forged(pos_at, "<q", -1),
        "huge lo": forged(pos_at, "<q", 2**62),
        "nbuckets beyond the data": forged(pos_at + 8, "<q", pos_nb + 1),
        "nbuckets negative": forged(pos_at + 8, "<q", -1),
        "first count zero": forged(pos_at + 16, "<Q", 0),
        "last count zero": forged(pos_at + 16 + 8 * (pos_nb - 1), "<Q", 0),
        "count overflow": forged(pos_at + 16, "<Q", 2**64 - 2),
        "trailing bytes": reseal(bytes(body) + b"\0" * 8),
    }
    for name, data in cases.items():
        with pytest.raises(ValueError):
            DDSketch.from_bytes(data)
            pytest.fail(name)
    with pytest.raises(ValueError, match="version"):
        DDSketch.from_bytes(forged(8, "<Q", 2))
    # an unknown version is reported as such even with a bad checksum
    bad = bytearray(b)
    struct.pack_into("<Q", bad, 8, 99)
    with pytest.raises(ValueError, match="version"):
        DDSketch.from_bytes(bytes(bad))


def test_merge_overflow_is_refused() -> None:
    s = DDSketch().update([1.0])
    b = bytearray(s.to_bytes()[:-8])
    struct.pack_into("<Q", b, 80 + 16, 2**64 - 1)
    huge = DDSketch.from_bytes(reseal(bytes(b)))
    assert huge.count == 2**64 - 1
    before = s.to_bytes()
    with pytest.raises(OverflowError):
        s.merge(huge)
    assert s.to_bytes() == before  # unchanged


# --------------------------------------------------------------------------
# threads


def test_concurrent_use_raises() -> None:
    s = DDSketch().update(np.zeros(5))
    other = DDSketch()
    for attempt in range(6):
        n = 20_000_000 * 2**attempt
        big = np.broadcast_to(np.float64(1.5), (n,))  # zero stride: no memory
        before = s.count
        t = threading.Thread(target=s.update, args=(big,))
        t.start()
        refused = []
        added = 0
        while t.is_alive():
            try:
                s.update(np.ones(3))
            except RuntimeError as e:
                refused.append(str(e))
                for call in (lambda: s.quantile(0.5), lambda: s.rank(1.0), s.to_bytes,
                             s.copy, lambda: s.merge(other), lambda: other.merge(s),
                             lambda: s.count, s.buckets):
                    try:
                        call()
                    except RuntimeError as e2:
                        refused.append(str(e2))
                break
            else:
                added += 3
        t.join()
        assert s.count == before + added + n
        if refused:
            assert all("another thread" in r for r in refused), refused
            assert len(refused) >= 2
            break
    else:
        pytest.fail("could not observe a concurrent update")


def test_threads_each_own_sketch_merge_to_serial() -> None:
    from concurrent.futures import ThreadPoolExecutor
    rng = np.random.default_rng(23)
    x = rng.standard_cauchy(400_000)
    parts = np.array_split(x, 8)
    with ThreadPoolExecutor(max_workers=4) as ex:
        sks = list(ex.map(lambda p: DDSketch().update(p), parts))
    acc = DDSketch()
    for t in random.Random(0).sample(sks, len(sks)):
        acc.merge(t)
    assert acc == DDSketch().update(x)


# -- collapse: the 1 % promise lost for one value far out is said (issue 15) ------


def test_collapse_far_negative_value_is_reported_and_warned():
    x = np.random.default_rng(0).normal(size=5000)
    s = DDSketch().update(np.append(x, -1e100))
    (c,) = s.collapsed
    neg = int((x < 0).sum())
    assert c.sign == -1 and c.count == neg and c.value < -1e80 and not c.certain
    # positions 1 .. neg (0 is -1e100) <-> q in [1 / 5000, (neg + 1) / 5000)
    assert c.q_lo == pytest.approx(1 / 5000) and c.q_hi == pytest.approx((neg + 1) / 5000)
    with pytest.warns(ps.SketchAccuracyWarning, match=r"negative values .* collapsed .*"
                      r"q in \[0.0002, 0.51"):
        med = s.quantile(0.5)
    assert med < -1e80                             # the silent garbage, now announced
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert s.quantile(0.9) == pytest.approx(np.quantile(x, 0.9 * 5000 / 5000,
                                                            method="lower"), rel=0.02)
        s.quantile([0.0, 1.0])                     # exact min / max: no warning


def test_collapse_far_positive_value_is_reported_and_warned():
    x = np.random.default_rng(0).normal(size=5000)
    s = DDSketch().update(np.append(x, 1e20))
    (c,) = s.collapsed
    assert c.sign == 1 and 240 < c.value < 260 and c.count == int((x > 0).sum())
    with pytest.warns(ps.SketchAccuracyWarning, match="positive values"):
        assert s.quantile(0.75) == pytest.approx(c.value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.quantile(0.25)                           # negatives: untouched


def test_collapse_certain_for_one_signed_data_and_absent_otherwise():
    x = np.abs(np.random.default_rng(1).normal(size=2000)) + 1.0
    (c,) = DDSketch().update(np.append(x, 1e20)).collapsed
    assert c.certain and c.count == 2000 and c.q_lo == 0.0
    assert DDSketch().update(np.append(x, 1e16)).collapsed == ()   # spans < max_buckets
    assert DDSketch().update(x).collapsed == () and DDSketch().collapsed == ()
    # a store spanning exactly max_buckets with its smallest value in the lowest
    # bucket: nothing collapsed (min tells, for one-signed data)
    s = DDSketch(max_buckets=16)
    lo_i = s.update([1.0]).buckets().positive_lo
    y = 1.0
    while DDSketch(max_buckets=16).update([1.0, y]).buckets().positive.size < 16:
        y *= 1.001
    assert DDSketch(max_buckets=16).update([1.0, y]).collapsed == ()
    assert lo_i == DDSketch(max_buckets=16).update([1.0, y]).buckets().positive_lo


def test_collapse_through_stream_quantile_and_describe():
    x = np.append(np.random.default_rng(0).normal(size=5000), 1e20)
    with pytest.warns(ps.SketchAccuracyWarning):
        ps.from_array(x).quantile(0.75, method="relative")
    with pytest.warns(ps.SketchAccuracyWarning):
        ps.from_array(x).describe(quantile_method="relative")
    with warnings.catch_warnings():                # the rank method stays right
        warnings.simplefilter("error")
        q = ps.from_array(x).quantile(0.75)
    assert abs(np.mean(x <= q) - 0.75) <= 0.01
