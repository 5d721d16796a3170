"""Tests of ``pystream.sketches.Histogram`` (C kernel ``csrc/histogram.c``).

* differential: counts and edges bit-identical to ``np.histogram`` (and the
  slow twin ``tests/slow_histogram.py``, which also checks numpy's rules
  value by value) over distributions x dtypes x bins x kinds of range;
* edge cases: empty, one value, every edge and its neighbours, lo == hi,
  NaN / inf at every position, float32 edge rounding, integers near the
  int64 / uint64 limits, bool, byte-swapped / strided / misaligned /
  read-only / N-d input, explicit edges with repeats, log bins, float16;
* invariance: any chunking (hypothesis and random), merges of partitions in
  any order, serialization round trips, pickle, copies;
* bad input: parameters, corrupt bytes (every truncation, every flipped
  byte), merges of different histograms, mixed dtypes, concurrent use;
* bounded memory: the state's size depends on the bins only.
"""

from __future__ import annotations

import copy
import itertools
import pickle
import random
import threading
import warnings
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pystream as ps
from pystream.sketches import Histogram, HistogramResult
from pystream.sketches.onepass import OnePassHistogram

from slow_histogram import outer_edges, slow_histogram

I64 = np.iinfo(np.int64)


def numpy_reference(x, *, bins=10, range=None, edges=None, log=False):
    """np.histogram with the same parameters (bool input warns in numpy)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if edges is not None:
            return np.histogram(x, bins=edges)
        if log:
            return np.histogram(x, bins=np.geomspace(range[0], range[1], bins + 1))
        return np.histogram(x, bins=bins, range=range)


def assert_matches(result: HistogramResult, x, **params) -> None:
    """Bit-identical to np.histogram, and to the slow twin for the rest.
    (Edges come back in native byte order: numpy returns explicit edges as
    given, byte order included.)"""
    counts, edges = numpy_reference(x, **params)
    assert result.counts.dtype == counts.dtype == np.int64
    np.testing.assert_array_equal(result.counts, counts)
    native = edges.dtype.newbyteorder("=")
    assert result.edges.dtype == native, (result.edges.dtype, edges.dtype)
    assert result.edges.tobytes() == edges.astype(native).tobytes()
    slow = slow_histogram(x, **params)
    np.testing.assert_array_equal(slow.counts, counts)
    assert (result.underflow, result.overflow, result.nan_count) == \
        (slow.underflow, slow.overflow, slow.nan_count)
    assert result.total == np.asarray(x).size


def hist(x, **params) -> HistogramResult:
    return Histogram(**params).update(x).result()


def check(x, **params) -> HistogramResult | None:
    """Histogram == np.histogram; where numpy refuses the parameters for
    this input ("too many bins" for float32 / float16 edges...), so do we."""
    try:
        numpy_reference(x, **params)
    except ValueError:
        with pytest.raises(ValueError):
            hist(x, **params)
        return None
    r = hist(x, **params)
    assert_matches(r, x, **params)
    return r


def neighbours(values, dtype) -> np.ndarray:
    """Every value, as float64 and as float32, and its float neighbours,
    converted to ``dtype`` (finite ones)."""
    v = np.asarray(values, dtype=np.float64)
    out = [v, np.nextafter(v, np.inf), np.nextafter(v, -np.inf)]
    v32 = v.astype(np.float32)
    out += [v32.astype(np.float64), np.nextafter(v32, np.float32(np.inf)).astype(np.float64),
            np.nextafter(v32, np.float32(-np.inf)).astype(np.float64)]
    a = np.concatenate(out)
    a = a[np.isfinite(a)]
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        a = np.clip(np.round(a), float(info.min), float(info.max))
        a = np.concatenate([a.astype(dtype), (a.astype(dtype) + 1), (a.astype(dtype) - 1)])
        return a
    with np.errstate(over="ignore"):
        return a.astype(dtype)


# --------------------------------------------------------------------------
# differential: random data


DISTRIBUTIONS = {
    "normal": lambda rng, n: rng.normal(size=n),
    "uniform": lambda rng, n: rng.uniform(-3, 3, size=n),
    "exponential": lambda rng, n: rng.exponential(size=n),
    "lognormal": lambda rng, n: rng.lognormal(sigma=2, size=n),
    "cauchy": lambda rng, n: rng.standard_cauchy(size=n),
    "rounded": lambda rng, n: np.round(rng.normal(size=n) * 4) / 4,  # lands on edges
    "with_specials": lambda rng, n: np.where(
        rng.random(n) < 0.05, rng.choice([np.nan, np.inf, -np.inf], n), rng.normal(size=n)),
}


@pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
@pytest.mark.parametrize("bins", [1, 7, 100, 1000])
def test_random_data_range(dist, dtype, bins):
    # A stable seed (str hashes change from process to process), and Cauchy
    # tails overflow float16 to +-inf on purpose.
    rng = np.random.default_rng(zlib.crc32(f"{dist}-{dtype}-{bins}".encode()))
    with np.errstate(over="ignore"):
        x = DISTRIBUTIONS[dist](rng, 5000).astype(dtype)
    for rng_ in [(-2.5, 2.5), (0, 1), (-1, 4), (np.float32(-0.7), np.float32(2.1)),
                 (np.float64(0.1), 0.7), (-3, -3)]:
        check(x, bins=bins, range=rng_)
    finite = x[np.isfinite(x)]
    # what a first pass would give the Stream method: the data's own min / max
    r = check(x, bins=bins, range=(finite.min(), finite.max()))
    counts, edges = np.histogram(finite, bins=bins)  # numpy without a range
    np.testing.assert_array_equal(r.counts, counts)
    assert r.edges.tobytes() == edges.tobytes()


@pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
@pytest.mark.parametrize("bins", [1, 5, 100, 1000])
def test_random_data_edges_and_log(dist, bins):
    rng = np.random.default_rng(zlib.crc32(f"{dist}-{bins}-e".encode()))
    x = DISTRIBUTIONS[dist](rng, 4000)
    uneven = np.sort(rng.normal(size=bins + 1) * 2)
    for edges in [np.linspace(-2, 2, bins + 1), uneven, uneven.astype(np.float32),
                  np.sort(rng.integers(-3, 4, bins + 1)), np.geomspace(0.01, 100, bins + 1)]:
        check(x, edges=edges)
        check(x.astype(np.float32), edges=edges)
    check(x, bins=bins, range=(0.01, 100), log=True)
    check(x, bins=bins, range=(1e-3, 10.0), log=True)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "uint16",
                                   "uint32", "uint64", "bool"])
def test_random_integers(dtype):
    rng = np.random.default_rng(7)
    dt = np.dtype(dtype)
    if dt == np.bool_:
        x = rng.random(3000) < 0.3
    else:
        info = np.iinfo(dt)
        x = np.concatenate([rng.integers(info.min, info.max, 2000, dtype=dt, endpoint=True),
                            rng.integers(-50, 50, 1000).clip(info.min, info.max).astype(dt),
                            np.array([info.min, info.max, 0], dtype=dt)])
    ranges = [(-50, 50), (0, 10), (-0.5, 10.5), (3, 3), (0.25, 0.25), (-1000, 1000),
              (np.int64(-7), np.int64(7)), (np.uint8(2), np.uint8(200)),
              (np.float32(-20), np.float32(20)), (I64.min, I64.max)]
    if dt != np.bool_:
        ranges.append((x.min(), x.max()))
    for bins in (1, 3, 10, 101):
        for rng_ in ranges:
            try:
                numpy_reference(x, bins=bins, range=rng_)
            except (ValueError, OverflowError):
                continue  # numpy refuses these parameters for this dtype too
            check(x, bins=bins, range=rng_)
        for edges in [np.array([-5, 0, 5, 5, 100]), np.array([-0.5, 0.5, 1.5]),
                      np.array([0, 2**62], dtype=np.uint64), np.array([-3, 3], np.int8)]:
            check(x, edges=edges)


# --------------------------------------------------------------------------
# edge cases


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "uint8"])
def test_empty_and_one_value(dtype):
    e = np.zeros(0, dtype)
    r = check(e, bins=4, range=(0, 1))
    assert r.total == 0 and not r.counts.any()
    check(e, edges=[0, 1, 2])
    r = Histogram(4, range=(0, 1)).result()  # no update at all
    counts, edges = np.histogram(np.array([]), 4, (0, 1))
    np.testing.assert_array_equal(r.counts, counts)
    assert r.edges.tobytes() == edges.tobytes()
    for v in [0, 1, 2, -1 if np.dtype(dtype).kind != "u" else 255]:
        check(np.array([v], dtype), bins=4, range=(0, 1))
        check(np.array([v], dtype), edges=[0, 1, 1, 3])
    check(np.array(0.5), bins=2, range=(0, 1))  # 0-d input is one value


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "int64", "int32"])
@pytest.mark.parametrize("bins", [1, 2, 3, 10, 37, 100, 999])
@pytest.mark.parametrize("rng_", [(0.0, 1.0), (0.1, 0.7), (-3.7, 1e4), (np.float32(0.1),
                                  np.float32(0.7)), (-1000, 999), (1e8, 1e8 + 1e-7 * 2**20)])
def test_values_on_every_edge(dtype, bins, rng_):
    try:
        with np.errstate(all="ignore"):
            edges = np.histogram_bin_edges(np.zeros(0, dtype), bins, rng_)
    except ValueError:  # numpy refuses these parameters for this dtype: so do we
        assert check(np.zeros(3, dtype), bins=bins, range=rng_) is None
        return
    x = neighbours(np.concatenate([edges.astype(np.float64),
                                   np.histogram_bin_edges(np.zeros(0), bins, rng_)]), dtype)
    random.Random(bins).shuffle(x)
    check(x, bins=bins, range=rng_)
    check(x, edges=edges)


def test_float32_edge_rounding():
    """float32 input gets float32 edges: a value on a float32-rounded edge
    goes where numpy puts it, not where float64 edges would."""
    lo, hi = 0.1, 0.7
    e32 = np.histogram_bin_edges(np.zeros(0, np.float32), 3, (lo, hi))
    e64 = np.histogram_bin_edges(np.zeros(0), 3, (lo, hi))
    assert e32.dtype == np.float32 and not np.array_equal(e32.astype(np.float64), e64)
    x = np.concatenate([e32, np.nextafter(e32, np.float32(1)), np.nextafter(e32, np.float32(0)),
                        np.float32([0.7, 0.1, 0.3, 0.5])])
    r = check(x, bins=3, range=(lo, hi))
    assert r.edges.dtype == np.float32
    # float32(0.7) < 0.7 and float32(0.1) > 0.1: numpy compares in float32
    check(np.float32([0.7, 0.1]), bins=3, range=(lo, hi))
    assert hist(np.float32([0.7]), bins=3, range=(lo, hi)).counts[-1] == 1
    # the same values as float64 compare in float64
    check(x.astype(np.float64), bins=3, range=(lo, hi))
    # np.float32 bounds: float32 arithmetic all the way (R = float32)
    check(x, bins=3, range=(np.float32(lo), np.float32(hi)))
    check(x, bins=7, range=(x.min(), x.max()))


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "uint8", "int8", "bool"])
def test_lo_equals_hi(dtype):
    x = np.array([0, 1, 2, 3, 1, 1], dtype=dtype)
    for v in [1, 1.0, np.float32(1), np.int64(1), 0, 2.5]:
        for bins in (1, 2, 5):
            r = check(x, bins=bins, range=(v, v))
            assert (r.edges[0], r.edges[-1]) == outer_edges(v, v) == (v - 0.5, v + 0.5)


def test_nan_and_inf_at_every_position():
    base = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 0.3])
    for special in [np.nan, np.inf, -np.inf]:
        for pos in range(base.size + 1):
            for count in (1, 2):
                x = np.insert(base, pos, [special] * count)
                for dt in (np.float64, np.float32, np.float16):
                    xs = x.astype(dt)
                    r = check(xs, bins=4, range=(0, 1))
                    if np.isnan(special):
                        assert r.nan_count == count
                    elif special > 0:
                        assert r.overflow == count
                    else:
                        assert r.underflow == count
                    check(xs, edges=[0, 0.5, 1])
                    check(xs, edges=[-np.inf, 0.5, np.inf])


def test_integers_near_the_limits():
    x = np.array([I64.min, I64.min + 1, -2**53 - 1, -1, 0, 1, 2**53, 2**53 + 1,
                  I64.max - 1, I64.max], dtype=np.int64)
    for rng_ in [(I64.min, I64.max), (-2**53, 2**53), (2**53, 2**53 + 2), (0, 1),
                 (float(I64.min), float(I64.max)), (-5, 5), (I64.max - 2, I64.max)]:
        for bins in (1, 2, 7, 64):
            check(x, bins=bins, range=rng_)
    for edges in [np.array([I64.min, 0, I64.max]), np.array([2**53, 2**53 + 1, 2**53 + 2]),
                  np.array([-1.5, 0.5, 2.0**63]), np.array([I64.min, I64.max], np.int64)]:
        check(x, edges=edges)
    u = np.array([0, 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1], dtype=np.uint64)
    for rng_ in [(0, 2**62), (-5, 5), (np.uint64(0), np.uint64(2**64 - 1)), (-10, -3)]:
        for bins in (1, 3, 64):
            try:
                numpy_reference(u, bins=bins, range=rng_)
            except (ValueError, OverflowError):
                continue
            check(u, bins=bins, range=rng_)
    check(u, edges=np.array([0, 2**63, 2**64 - 1], np.uint64))
    i8 = np.array([-128, -1, 0, 1, 127], np.int8)
    for rng_ in [(-1000, 1000), (300, 400), (-400, -300), (np.int8(-5), np.int8(5))]:
        check(i8, bins=4, range=rng_)


def test_bool_input():
    x = np.array([True, False, True, True])
    check(x, bins=2, range=(0, 1))
    check(x, bins=3, range=(-0.5, 1.5))
    check(x, edges=[0, 0.5, 1])
    check(x, edges=np.array([0, 1], np.uint64))


LAYOUTS = ["contiguous", "byteswapped", "strided", "negative_stride", "misaligned",
           "readonly", "2d", "2d_transposed", "3d_sliced", "broadcast"]


def layout(x: np.ndarray, how: str) -> np.ndarray:
    if how == "byteswapped":
        return x.astype(x.dtype.newbyteorder())
    if how == "strided":
        big = np.empty(x.size * 3, x.dtype)
        big[::3] = x
        return big[::3]
    if how == "negative_stride":
        return x[::-1].copy()[::-1]
    if how == "misaligned":
        raw = np.zeros(x.nbytes + 1, np.uint8)
        out = raw[1:].view(x.dtype)
        out[:] = x
        assert not out.flags.aligned or x.dtype.itemsize == 1
        return out
    if how == "readonly":
        y = x.copy()
        y.setflags(write=False)
        return y
    if how == "2d":
        return x.reshape(-1, 5) if x.size % 5 == 0 else x
    if how == "2d_transposed":
        return x.reshape(5, -1).T if x.size % 5 == 0 else x
    if how == "3d_sliced":  # a non-contiguous 3-d view (reversed rows: same values)
        big = np.zeros((x.size // 10, 3, 10), x.dtype)
        big[:, 1, :] = x.reshape(-1, 10)
        return big[:, 1:2, ::-1]
    if how == "broadcast":
        return np.broadcast_to(x[:10], (x.size // 10, 10))
    return x


@pytest.mark.parametrize("how", LAYOUTS)
@pytest.mark.parametrize("dtype", ["float64", "float32", "int16", "uint64", "float16"])
def test_layouts(how, dtype):
    rng = np.random.default_rng(3)
    x = (rng.normal(size=1000) * 3).astype(dtype) if np.dtype(dtype).kind == "f" else \
        rng.integers(-5, 5, 1000).astype(dtype)
    y = layout(x, how)
    r = hist(y, bins=9, range=(-4, 4))
    assert_matches(r, y, bins=9, range=(-4, 4))
    r2 = hist(y, edges=[-4, -1, 0, 0, 2.5, 4])
    assert_matches(r2, y, edges=[-4, -1, 0, 0, 2.5, 4])
    if how not in ("broadcast",):
        assert r == hist(np.ascontiguousarray(y).astype(y.dtype.newbyteorder("=")), bins=9,
                         range=(-4, 4))


def test_lists_and_scalars():
    check([0.1, 0.5, 0.9, 2], bins=2, range=(0, 1))
    check([[1, 2], [3, 4]], bins=4, range=(1, 4))


def test_explicit_edges_with_repeats():
    x = np.array([0, 0.5, 1, 1, 1, 1.5, 2, 2, 3, -1, 4, np.nan])
    for edges in [[0, 1, 1, 2], [0, 0, 1], [1, 1, 1], [0, 1, 2, 2], [0, 1, 1, 1, 3],
                  [1, 1], [-np.inf, 1, 1, np.inf], [0, 0, 0, 0]]:
        check(x, edges=edges)
        check(x.astype(np.float32), edges=edges)
        check(x[np.isfinite(x)].astype(np.int64), edges=edges)
    r = hist(x, edges=[0, 1, 1, 2])
    np.testing.assert_array_equal(r.counts, [2, 0, 6])  # [0,1), [1,1), [1,2]
    assert r.underflow == 1 and r.overflow == 2 and r.nan_count == 1


def test_edges_keep_their_dtype():
    for edges in [np.array([0, 1, 5]), np.array([0, 1, 5], np.int8),
                  np.array([0, 1, 5], np.float32), np.array([0, 1, 5], np.float16),
                  np.array([0, 1, 5], np.uint64), np.array([0, 1, 5], ">f8")]:
        for x in [np.array([0, 1, 2, 5, 6, -1]), np.array([0.5, 4.99, 5.0], np.float32),
                  np.array([0.5, 4.99, 5.0], np.float16)]:
            r = check(x, edges=edges)
            assert r.edges.dtype == edges.dtype.newbyteorder("=")


def test_log_bins():
    rng = np.random.default_rng(5)
    x = rng.lognormal(sigma=3, size=5000)
    for bins, (lo, hi) in [(10, (0.1, 1000)), (100, (1e-5, 1e5)), (1, (1, 2)), (37, (2, 3)),
                           (20, (np.float32(0.5), np.float32(64))), (5, (1, 1000))]:
        r = check(x, bins=bins, range=(lo, hi), log=True)
        np.testing.assert_array_equal(r.edges, np.geomspace(lo, hi, bins + 1))
        check(x.astype(np.float32), bins=bins, range=(lo, hi), log=True)
        check(neighbours(np.geomspace(lo, hi, bins + 1), np.float64), bins=bins,
              range=(lo, hi), log=True)
    h = Histogram(10, range=(1, 100), log=True)
    assert h.log and h.range == (1, 100)


def test_float16_uses_numpys_float16_arithmetic():
    x = (np.random.default_rng(1).normal(size=3000) * 2).astype(np.float16)
    for rng_ in [(-3, 3), (0.1, 0.7), (np.float16(-1), np.float16(1)), (-3.0, 3.0)]:
        r = check(x, bins=17, range=rng_)
        assert r.edges.dtype == np.result_type(rng_[0], rng_[1], x)
    h = Histogram(17, range=(-3, 3))
    for c in np.array_split(x, 7):
        h.update(c)
    assert h.result() == hist(x, bins=17, range=(-3, 3))


# --------------------------------------------------------------------------
# chunk and partition invariance


def random_chunks(x: np.ndarray, rnd: random.Random):
    i = 0
    while i < x.size:
        k = rnd.choice([0, 1, 2, 3, 17, 255, 256, 257, 1000, 4096, x.size])
        yield x[i:i + k]
        i += k


PARAMS = [dict(bins=13, range=(-2, 2)), dict(bins=1000, range=(-3, 3)),
          dict(edges=[-2, -1, -1, 0, 0.5, 3]), dict(bins=20, range=(0.01, 10), log=True),
          dict(bins=8, range=(np.float32(-1), np.float32(1)))]


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: repr(p)[:40])
@pytest.mark.parametrize("dtype", ["float64", "float32", "int32"])
def test_random_chunkings(params, dtype):
    rng = np.random.default_rng(11)
    x = DISTRIBUTIONS["with_specials"](rng, 20_000)
    x = (x * 3).astype(dtype) if np.dtype(dtype).kind == "f" else \
        np.nan_to_num(x * 3, posinf=99, neginf=-99).astype(dtype)
    whole = hist(x, **params)
    assert_matches(whole, x, **params)
    for seed in range(5):
        h = Histogram(**params)
        for c in random_chunks(x, random.Random(seed)):
            assert h.update(c) is h
        assert h.result() == whole


@st.composite
def arrays_and_cuts(draw):
    dtype = draw(st.sampled_from(["float64", "float32", "int64", "uint8"]))
    if dtype.startswith("float"):
        elems = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=int(dtype[5:])),
                          st.sampled_from([0.0, -0.0, 0.25, 0.5, 1.0, 0.1, 0.7]))
    elif dtype == "uint8":
        elems = st.integers(0, 255)
    else:
        elems = st.integers(I64.min, I64.max)
    values = draw(st.lists(elems, max_size=80))
    x = np.array(values, dtype=dtype)
    cuts = sorted(draw(st.lists(st.integers(0, len(values)), max_size=6)))
    return x, cuts


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrays_and_cuts(), st.sampled_from(PARAMS + [dict(bins=3, range=(0.1, 0.7)),
                                                    dict(bins=4, range=(-1e18, 1e18))]))
def test_hypothesis_chunkings_and_merges(data, params):
    x, cuts = data
    whole = hist(x, **params)
    assert_matches(whole, x, **params)
    pieces = np.split(x, cuts)
    h = Histogram(**params)
    for p in pieces:
        h.update(p)
    assert h.result() == whole
    parts = [Histogram(**params).update(p) for p in pieces]
    random.Random(len(x)).shuffle(parts)
    merged = Histogram(**params)
    for p in parts:
        merged.merge(p)
    assert merged.result() == whole


def test_merge_in_any_order_is_exact():
    rng = np.random.default_rng(2)
    x = rng.normal(size=30_000)
    parts = np.array_split(x, 4)
    whole = hist(x, bins=50, range=(-3, 3))
    for order in itertools.permutations(range(4)):
        states = [Histogram(50, range=(-3, 3)).update(parts[k]) for k in order]
        acc = states[0].copy()
        for s in states[1:]:
            acc.merge(s)
        assert acc.result() == whole
        # tree-shaped merges too
        left = states[0].copy().merge(states[1])
        right = states[2].copy().merge(states[3])
        assert right.merge(left).result() == whole
    # merging leaves the other state alone
    a, b = Histogram(5, range=(0, 1)).update([0.5]), Histogram(5, range=(0, 1)).update([0.1])
    a.merge(b)
    assert b.total == 1 and a.total == 2
    a.merge(a)  # a state merged with itself counts twice
    assert a.total == 4


def test_untyped_state_merges_with_typed():
    x32 = np.float32([0.1, 0.5, 0.7])
    typed = Histogram(3, range=(0.1, 0.7)).update(x32)
    empty = Histogram(3, range=(0.1, 0.7))
    assert empty.result().edges.dtype == np.float64
    empty.merge(typed)
    assert empty.result() == typed.result()
    assert empty.result().edges.dtype == np.float32
    typed.merge(Histogram(3, range=(0.1, 0.7)))
    assert typed.result() == empty.result()


# --------------------------------------------------------------------------
# serialization, copies


@pytest.mark.parametrize("params", PARAMS + [dict(bins=3, range=(np.int64(-5), np.uint8(7))),
                                             dict(edges=np.array([-5, 0, 5], np.int8)),
                                             dict(edges=np.array([0, 1, 2], np.uint64))],
                         ids=lambda p: repr(p)[:40])
def test_round_trips(params):
    x = np.random.default_rng(4).normal(size=5000) * 2
    for data in [x, x.astype(np.float32), x[:0], np.round(x).astype(np.int16)]:
        h = Histogram(**params).update(data)
        want = h.result()
        b = h.to_bytes()
        g = Histogram.from_bytes(b)
        assert g.result() == want and g.to_bytes() == b
        assert repr(g) == repr(h)
        assert pickle.loads(pickle.dumps(h)).result() == want
        assert copy.copy(h).result() == want and copy.deepcopy(h).result() == want
        c = h.copy()
        c.update(data[:10])
        assert h.result() == want  # copies are independent
        # a reloaded state goes on like the original
        assert g.update(data).result() == h.update(data).result()
        assert Histogram.from_bytes(bytearray(b)).result() == want
        assert Histogram.from_bytes(memoryview(b)).result() == want


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: repr(p)[:40])
def test_round_trip_before_any_value(params):
    h = Histogram(**params)
    g = pickle.loads(pickle.dumps(h))
    assert g.result() == h.result() and g.to_bytes() == h.to_bytes()
    x32 = np.float32([0.5, 1.5, -0.25])
    assert g.update(x32).result() == hist(x32, **params)  # still takes any dtype
    if "range" in params and not params.get("log"):
        assert h.edges.dtype == np.float64  # numpy's edges of an empty stream
        assert g.edges.dtype == np.result_type(*params["range"], np.float32)


def test_corrupt_bytes_raise_value_error():
    h = Histogram(6, range=(-1, 1)).update(np.random.default_rng(0).normal(size=100))
    b = h.to_bytes()
    for n in range(len(b)):
        with pytest.raises(ValueError):
            Histogram.from_bytes(b[:n])
    for i in range(len(b)):
        for bit in (0, 3, 7):
            bad = bytearray(b)
            bad[i] ^= 1 << bit
            with pytest.raises(ValueError):
                Histogram.from_bytes(bytes(bad))
    with pytest.raises(ValueError):
        Histogram.from_bytes(b + b"\0" * 8)
    rnd = random.Random(1)
    for _ in range(300):
        junk = bytes(rnd.randrange(256) for _ in range(rnd.randrange(200)))
        with pytest.raises(ValueError):
            Histogram.from_bytes(junk)
    for obj in [None, 3, "abc", [1, 2]]:
        with pytest.raises(TypeError):
            Histogram.from_bytes(obj)


def fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325  # the standard FNV-1a 64 offset basis (issue 15)
    for byte in data:
        h = ((h ^ byte) * 1099511628211) % 2**64
    return h


def forge(b: bytes, word: int, value: int) -> bytes:
    """Replace 64-bit word `word` and fix the checksum (as an attacker would)."""
    out = bytearray(b)
    out[8 * word:8 * word + 8] = (value % 2**64).to_bytes(8, "little")
    out[-8:] = fnv1a(bytes(out[:-8])).to_bytes(8, "little")
    return bytes(out)


def test_forged_bytes_are_validated():
    h = Histogram(4, range=(0, 1)).update(np.float32([0.1, 0.2, 0.9, 3]))
    b = h.to_bytes()
    assert Histogram.from_bytes(forge(b, 3, 4)).result() == h.result()  # unchanged: fine
    # words: 2 kind, 3 nbins, 4/5 lo tag/bits, 6/7 hi, 8 edge dtype, 9 typed,
    # 10..14 edges, 15..21 counts
    minus_one = int(np.float64(-1).view(np.uint64))
    for word, value in [(2, 1), (2, 7), (3, 5), (3, 0), (4, 99), (5, 2**63), (7, 0),
                        (8, 4), (9, 0), (10, minus_one), (12, 0), (14, 2**64 - 1),
                        (15, -1), (16, 2**63 - 1)]:
        with pytest.raises(ValueError):
            Histogram.from_bytes(forge(b, word, value))
    # edges consistent with the checksum but not with the parameters
    e = h.result().edges.astype(np.float64)
    moved = int(np.float64(np.nextafter(e[2], 1)).view(np.uint64))
    with pytest.raises(ValueError, match="corrupt"):
        Histogram.from_bytes(forge(b, 12, moved))
    # a float32-typed state whose parameters say otherwise
    h64 = Histogram(4, range=(np.float64(0), np.float64(1))).update(np.float32([0.5]))
    assert h64.result().edges.dtype == np.float64
    with pytest.raises(ValueError):
        Histogram.from_bytes(forge(h64.to_bytes(), 8, 9))
    # a newer version
    with pytest.raises(ValueError, match="version"):
        Histogram.from_bytes(forge(b, 1, 2))


def test_count_overflow_is_an_error():
    h = Histogram(2, range=(0, 1))
    big = forge(h.update(np.zeros(0)).to_bytes(), 10 + 3, 2**63 - 2)  # first bin
    g = Histogram.from_bytes(big)
    assert g.result().counts[0] == 2**63 - 2
    g.update(np.array([0.7]))
    assert g.total == 2**63 - 1
    with pytest.raises(OverflowError):
        g.update(np.array([0.7]))
    with pytest.raises(OverflowError):
        g.merge(Histogram(2, range=(0, 1)).update([0.1]))
    assert g.total == 2**63 - 1


# --------------------------------------------------------------------------
# memory


@pytest.mark.parametrize("bins", [1, 10, 1000])
def test_state_size_is_o_of_bins(bins):
    h = Histogram(bins, range=(-1, 1))
    size0, nbytes0 = len(h.to_bytes()), h.nbytes
    assert size0 == 8 * (2 * bins + 15)
    assert nbytes0 <= 64 * bins + 1024
    x = np.random.default_rng(0).normal(size=200_000)
    for c in np.array_split(x, 20):
        h.update(c)
    assert len(h.to_bytes()) == size0 and h.nbytes == nbytes0
    e = Histogram(edges=np.linspace(-1, 1, bins + 1))
    e.update(x)
    assert len(e.to_bytes()) == size0 and e.nbytes <= 64 * bins + 1024


# --------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("kwargs, exc, words", [
    (dict(bins=10), ValueError, "range="),
    (dict(), ValueError, "edges="),
    (dict(bins=0, range=(0, 1)), ValueError, "bins"),
    (dict(bins=-3, range=(0, 1)), ValueError, "bins"),
    (dict(bins=2.5, range=(0, 1)), TypeError, "bins"),
    (dict(bins=True, range=(0, 1)), TypeError, "bins"),
    (dict(bins=3, range=(0, np.inf)), ValueError, "range"),
    (dict(bins=3, range=(np.nan, 1)), ValueError, "range"),
    (dict(bins=3, range=(np.float32(-np.inf), 1)), ValueError, "range"),
    (dict(bins=3, range=(2, 1)), ValueError, "range"),
    (dict(bins=3, range=(0, 1, 2)), ValueError, "range"),
    (dict(bins=3, range=5), ValueError, "range"),
    (dict(bins=3, range=("a", 1)), TypeError, "range"),
    (dict(bins=3, range=(0, 2**70)), ValueError, "range"),
    (dict(bins=3, range=(-1e308, 1e308)), ValueError, "range"),
    (dict(bins=10**6, range=(1.0, 1.0 + 1e-12)), ValueError, "bins"),
    (dict(edges=[0, 2, 1]), ValueError, "edges"),
    (dict(edges=[0, np.nan, 1]), ValueError, "edges"),
    (dict(edges=[1.0]), ValueError, "edges"),
    (dict(edges=[[0, 1], [2, 3]]), ValueError, "edges"),
    (dict(edges=["a", "b"]), TypeError, "edges"),
    (dict(edges=[True, False]), TypeError, "edges"),
    (dict(edges=[0, 1], range=(0, 1)), ValueError, "edges"),
    (dict(edges=[0, 1], bins=5), ValueError, "edges"),
    (dict(bins=3, range=(0, 10), log=True), ValueError, "lo > 0"),
    (dict(bins=3, range=(-1, 10), log=True), ValueError, "lo > 0"),
    (dict(bins=3, log=True), ValueError, "range="),
    (dict(bins=3, range=(1, 2), log="yes"), TypeError, "log"),
])
def test_bad_parameters(kwargs, exc, words):
    with pytest.raises(exc, match=words.replace("(", r"\(")):
        Histogram(**kwargs)


def test_bad_updates():
    h = Histogram(3, range=(0, 1))
    for bad in [np.array(["a"]), np.array([1 + 2j]), np.array([None], object)]:
        with pytest.raises(TypeError):
            h.update(bad)
    with pytest.raises(TypeError, match="masked"):
        h.update(np.ma.masked_array([1.0, 2.0], mask=[0, 1]))
    h.update(np.float32([0.5]))
    assert h.total == 1


def test_mixed_dtypes_follow_the_first_chunk():
    h = Histogram(3, range=(0.1, 0.7)).update(np.float32([0.5]))
    with pytest.raises(TypeError, match="float32 edges"):
        h.update(np.array([0.5]))
    with pytest.raises(TypeError):
        h.update(np.array([1], np.int8))  # numpy bins int8 with float64 edges
    assert h.total == 1
    g = Histogram(3, range=(0, 10)).update(np.array([1, 2], np.int8))
    g.update(np.array([3, 4], np.int64))  # both get float64 edges: fine
    g.update(np.array([5.5]))
    assert g.total == 5
    e = Histogram(edges=[0, 1, 2]).update(np.float32([0.5])).update(np.array([1.5]))
    assert e.total == 2  # explicit edges do not depend on the input dtype


def test_merge_refuses_different_histograms():
    a = Histogram(3, range=(0, 1))
    for other in [Histogram(4, range=(0, 1)), Histogram(3, range=(0, 2)),
                  Histogram(3, range=(0.0, 1.0)), Histogram(3, range=(np.float32(0), 1)),
                  Histogram(edges=[0, 1 / 3, 2 / 3, 1]), Histogram(3, range=(1, 2), log=True)]:
        with pytest.raises(ValueError, match="different"):
            a.merge(other)
    f32 = Histogram(3, range=(0, 1)).update(np.float32([0.5]))
    f64 = Histogram(3, range=(0, 1)).update(np.array([0.5]))
    with pytest.raises(ValueError):
        f32.merge(f64)
    with pytest.raises(TypeError):
        a.merge("not a histogram")
    assert a.total == 0


def test_result_and_repr():
    h = Histogram(4, range=(0, 4)).update(np.array([0, 1.5, 4, 9, np.nan, -1]))
    r = h.result()
    assert isinstance(r, HistogramResult)
    np.testing.assert_array_equal(r.counts, [1, 1, 0, 1])
    assert (r.underflow, r.overflow, r.nan_count, r.total) == (1, 1, 1, 6)
    with pytest.raises(AttributeError):
        r.counts = None
    with pytest.raises(ValueError):
        r.counts[0] = 5  # read-only
    assert r == h.result() and r != Histogram(4, range=(0, 4)).result()
    s = str(r)
    assert "4 bins" in s and "1 NaN" in s and "[3, 4]" in s
    big = str(Histogram(500, range=(-3, 3)).update(np.random.default_rng(0).normal(size=1000))
              .result())
    assert "peak" in big and len(big.splitlines()) == 3
    assert "Histogram 4 bins" in repr(h) and "6 values" in repr(h)
    assert h.bins == 4 and h.range == (0, 4) and not h.log
    assert Histogram(edges=[0, 1]).range is None


# --------------------------------------------------------------------------
# threads


def test_concurrent_use_is_refused():
    h = Histogram(10, range=(0, 2)).update(np.zeros(5))
    other = Histogram(10, range=(0, 2))
    for attempt in range(6):
        n = 50_000_000 * 2**attempt
        big = np.broadcast_to(np.float64(1.5), (n,))  # zero stride: no memory
        before = h.total
        t = threading.Thread(target=h.update, args=(big,))
        t.start()
        refused = []
        while t.is_alive():
            try:
                h.update(np.ones(3))
            except RuntimeError as e:
                refused.append(str(e))
                for call in (h.result, h.to_bytes, h.copy, lambda: h.merge(other),
                             lambda: other.merge(h)):
                    try:
                        call()
                    except RuntimeError as e2:
                        refused.append(str(e2))
                break
            else:
                before += 3
        t.join()
        if refused:
            assert all("another thread" in r for r in refused), refused
            assert h.total == before + n and other.total == 0
            assert h.result().counts[7] >= n
            break
    else:
        pytest.fail("could not observe a concurrent update")


def test_threads_each_own_state_merge_to_serial():
    from concurrent.futures import ThreadPoolExecutor

    x = np.random.default_rng(8).normal(size=400_000)
    parts = np.array_split(x, 4)
    with ThreadPoolExecutor(max_workers=4) as ex:
        states = list(ex.map(lambda p: Histogram(64, range=(-3, 3)).update(p), parts))
    acc = Histogram(64, range=(-3, 3))
    for s in states:
        acc.merge(s)
    assert acc.result() == hist(x, bins=64, range=(-3, 3))


# -- the one-pass histogram of inputs read once (pystream describe on a pipe) ---------


@pytest.mark.parametrize("data", [
    np.random.default_rng(1).normal(280, 5, 50_000),
    np.random.default_rng(2).normal(0, 1e-3, 50_000).astype(np.float32),
    np.random.default_rng(3).integers(-10**6, 10**6, 20_000),
    np.random.default_rng(4).integers(0, 3, 20_000).astype(np.uint8),
    np.array([0.0, 5e-324, -5e-324, 1e300, -1e300, np.nan, 3.0]),
    np.array([True, False, True]),
    np.array([-7.5] * 100),
])
@pytest.mark.parametrize("bins", [1, 2, 10, 20])
def test_one_pass_histogram_is_exact_and_chunk_invariant(data, bins):
    results = []
    for chunk in (len(data), 7, 1000, 4096):
        h = OnePassHistogram(bins)
        for i in range(0, len(data), chunk):
            h.update(data[i:i + chunk])
        results.append(h.result())
    first, note = results[0]
    for other, _ in results[1:]:
        assert other == first
    finite = data[np.isfinite(data.astype(np.float64))]
    if finite.min() == finite.max():  # one value: numpy's bins, as a file gets
        assert first == ps.from_array(data).histogram(bins=bins, range=(data[0], data[0]))
        return
    assert "read only once" in note
    # exact counts: numpy's, on the same edges
    counts, _ = np.histogram(finite.astype(np.float64), bins=first.edges)
    assert first.counts.tolist() == counts.tolist()
    assert first.counts.sum() == len(finite) and first.nan_count == len(data) - len(finite)
    assert len(first.counts) <= max(bins, 2)
    width = first.edges[1] - first.edges[0]
    assert np.log2(width) == int(np.log2(width))               # a power of two
    assert first.edges[0] <= finite.min() and finite.max() < first.edges[-1]
    if data.dtype.kind in "biu":
        assert width >= 1


def test_one_pass_histogram_of_inf_and_records():
    h = OnePassHistogram(10)
    h.update(np.array([1.0, np.inf]))
    assert h.result() == (None, "")            # as for a file: no finite range
    h = OnePassHistogram(10)
    h.update(np.ones((3, 2)))
    assert "one-column input only" in h.result()[1]
