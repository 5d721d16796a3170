"""Differential and invariance tests of ``pystream.Moments`` (the C moments core).

* differential: the C core against the numpy slow twin (``tests/slow.py``)
  over dtypes x record shapes x lengths x layouts;
* chunk invariance (DESIGN invariant 1) and partition invariance (2): any
  chunking / any merge order of contiguous partitions is bit-identical to the
  serial run;
* accuracy (6): NIST StRD certified values, exact integer sums, constant data;
* bad input (7): nan_policy / ddof validation, merge errors, corrupt bytes;
* threads (8): concurrent use of one state is refused.
"""

from __future__ import annotations

import copy
import math
import os
import pathlib
import pickle
import random
import struct
import subprocess
import sys
import textwrap
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pystream as ps
from pystream import Description, Moments

from slow import exact_int_sums, slow_moments

FIELDS = ("count", "nan_count", "sum", "mean", "var", "std", "min", "max")
POLICIES = ("propagate", "omit")
# A vendored copy of ../shared/data/nist-strd (public NIST reference data), so
# the accuracy tests run wherever the repository is checked out.
NIST_DIR = pathlib.Path(__file__).resolve().parent / "data" / "nist-strd"

# --------------------------------------------------------------------------
# helpers


def kernel_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype results are reported in: native order, float16 widened."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f" and dtype.itemsize == 2:
        return np.dtype(np.float32)
    return dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype


def make_data(dtype, n: int, record_shape=(), seed: int = 0, special: float = 0.0) -> np.ndarray:
    """Random data of shape (n, *record_shape).  ``special``: fraction of
    float values replaced by NaN / +inf / -inf."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    shape = (n, *record_shape)
    native = dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype
    if native.kind == "b":
        a = rng.random(shape) < 0.5
    elif native.kind in "iu":
        info = np.iinfo(native)
        a = rng.integers(info.min, info.max, size=shape, dtype=native, endpoint=True)
    else:
        a = rng.normal(3.0, 2.0, size=shape).astype(native)
        if special and a.size:
            mask = rng.random(shape) < special
            a[mask] = rng.choice(np.array([np.nan, np.inf, -np.inf, np.nan], dtype=native),
                                 size=int(mask.sum()))
    return a.astype(dtype)


def canon(value):
    """A bit-exact, comparable representation of a result field."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", value)
    a = np.asarray(value)
    if a.dtype == object:
        return ("obj", a.shape, [int(v) for v in a.ravel()])
    return ("arr", a.dtype.str, a.shape, a.tobytes())


def assert_identical(d1: Description, d2: Description) -> None:
    for name in FIELDS:
        assert canon(getattr(d1, name)) == canon(getattr(d2, name)), (
            f"{name}: {getattr(d1, name)!r} != {getattr(d2, name)!r}")


def all_results(m: Moments) -> list[Description]:
    return [m.result(ddof, pol) for ddof in (0, 1) for pol in POLICIES]


def assert_states_identical(m1: Moments, m2: Moments) -> None:
    assert m1.to_bytes() == m2.to_bytes()
    for d1, d2 in zip(all_results(m1), all_results(m2)):
        assert_identical(d1, d2)


def _f64(v) -> np.ndarray:
    return np.asarray(v, dtype=np.float64)


def assert_close(got, want, atol, rtol=1e-12, what="") -> None:
    got, want = _f64(got), _f64(want)
    assert got.shape == want.shape, what
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN pattern")
    both = ~np.isnan(want)
    inf = both & np.isinf(want)
    np.testing.assert_array_equal(got[inf], want[inf], err_msg=f"{what}: infinities")
    fin = both & ~np.isinf(want)
    atol = np.broadcast_to(np.asarray(atol, dtype=np.float64), want.shape)[fin]
    err = np.abs(got[fin] - want[fin])
    bound = atol + rtol * np.abs(want[fin])
    assert np.all(err <= bound), f"{what}: got {got}, want {want}, err {err}, bound {bound}"


def assert_matches_slow(got: Description, data: np.ndarray, ddof=0, nan_policy="propagate") -> None:
    """The C result against the slow twin, with tolerances from the data."""
    want = slow_moments(data, ddof, nan_policy)
    rec = data.shape[1:]
    n = data.shape[0]
    assert got.record_shape == rec
    assert got.ddof == ddof and got.nan_policy == nan_policy
    for name in ("count", "nan_count"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
        if rec == ():
            assert type(getattr(got, name)) is int, name
        else:
            assert np.shape(getattr(got, name)) == rec
    kind = data.dtype.kind
    d = int(np.prod(rec, dtype=np.int64))
    flat = np.ascontiguousarray(data).reshape(n, d).astype(np.float64)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        finite = np.where(np.isfinite(flat), flat, 0.0)
        scale = (np.abs(finite).mean(axis=0) if n else np.zeros(d)).reshape(rec)
        sq = ((finite ** 2).mean(axis=0) if n else np.zeros(d)).reshape(rec)
    if kind in "biu":
        if rec == ():
            assert type(got.sum) is int and got.sum == want.sum, (got.sum, want.sum)
        else:
            assert got.sum.dtype == want.sum.dtype
            assert got.sum.tolist() == want.sum.tolist()
    else:
        assert_close(got.sum, want.sum, 1e-12 * scale * max(n, 1), what="sum")
    assert_close(got.mean, want.mean, 1e-12 * scale, what="mean")
    assert_close(got.var, want.var, 1e-13 * sq, rtol=1e-11, what="var")
    # std is exactly sqrt(var)
    np.testing.assert_array_equal(_f64(got.std), np.sqrt(_f64(got.var)), err_msg="std")
    for name in ("min", "max"):
        g, w = getattr(got, name), getattr(want, name)
        counts = np.asarray(want.count)
        if rec == () and counts == 0:
            assert np.isnan(g), name
            continue
        if counts.all():
            kd = kernel_dtype(data.dtype)
            assert np.asarray(g).dtype == kd, (name, np.asarray(g).dtype, kd)
            if kind in "biu":
                assert np.asarray(g).tolist() == np.asarray(w).astype(kd).tolist(), name
                continue
        np.testing.assert_array_equal(_f64(g), _f64(w), err_msg=name)


def merged(states: list[Moments], rng: random.Random) -> Moments:
    """Merge adjacent states in a random order (both directions)."""
    states = list(states)
    while len(states) > 1:
        i = rng.randrange(len(states) - 1)
        a, b = states[i], states[i + 1]
        if rng.random() < 0.5:
            res = a.merge(b)  # b after a
            assert res is a
        else:
            res = b.merge(a)  # a before b
            assert res is b
        states[i: i + 2] = [res]
    return states[0]


def chunk_views(a: np.ndarray, sizes, layouts=("contig",), start=0):
    """Split ``a`` into chunks of the given sizes (cycled), each chunk a
    contiguous, strided or negative-stride view holding the same values."""
    n = a.shape[0]
    big = np.empty((2 * n, *a.shape[1:]), dtype=a.dtype)
    big[::2] = a
    strided = big[::2]
    rev = np.ascontiguousarray(a[::-1])[::-1]
    out, i, k = [], 0, 0
    while i < n:
        size = sizes[k % len(sizes)]
        layout = layouts[k % len(layouts)]
        k += 1
        src = {"contig": a, "strided": strided, "reversed": rev}[layout]
        out.append(src[i: i + size])
        i += size
    return out


def reduce_chunks(chunks, start=0) -> Moments:
    m = Moments(start=start)
    for c in chunks:
        m.update(c)
    return m


# --------------------------------------------------------------------------
# differential tests: C core vs slow twin

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
          "uint64", "float16", "float32", "float64", ">f8", ">i4"]
SHAPES = [(), (3,), (2, 5), (1500,)]
LENGTHS = [0, 1, 7, 8, 1023, 1024, 1025, 5000]


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_slow_twin(dtype, shape, length):
    if shape == (1500,) and length > 1025:
        length = 1100  # keep the grid fast; width 1500 means one record per block
    data = make_data(dtype, length, shape, seed=length * 7 + len(shape))
    m = Moments().update(data)
    assert m.start == 0 and m.stop == length
    assert m.dtype == kernel_dtype(dtype)
    assert m.record_shape == shape
    for ddof in (0, 1):
        for pol in ("propagate", "omit", "raise"):
            assert_matches_slow(m.result(ddof, pol), data, ddof, pol)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("shape", [(), (3,), (2, 5)], ids=str)
def test_matches_slow_twin_with_specials(dtype, shape):
    data = make_data(dtype, 3000, shape, seed=11, special=0.01)
    m = Moments().update(data)
    for ddof in (0, 1):
        for pol in POLICIES:
            assert_matches_slow(m.result(ddof, pol), data, ddof, pol)


def _layouts(a: np.ndarray):
    """(name, view) pairs holding records of ``a`` in unusual layouts."""
    yield "step3", a[::3]
    yield "reversed", a[::-1]
    yield "reversed_step2", a[::-2]
    if a.ndim == 2:
        yield "cols_step2", a[:, ::2]
        yield "cols_reversed", a[:, ::-1]
        yield "fortran", np.asfortranarray(a)
    if a.ndim == 3:
        yield "fortran_records", np.asfortranarray(a)
        yield "transposed_records", a.transpose(0, 2, 1)
        yield "inner_step2", a[:, :, ::2]


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "int64", "uint8", "bool"])
@pytest.mark.parametrize("shape", [(), (6,), (2, 5), (1500,)], ids=str)
def test_strided_input(dtype, shape):
    n = 40 if shape == (1500,) else 3100
    base = make_data(dtype, n, shape, seed=3)
    for name, view in _layouts(base):
        assert not view.flags.c_contiguous, name
        got = Moments().update(view)
        assert_matches_slow(got.result(1, "omit"), view, 1, "omit")
        # the layout never changes the arithmetic
        ref = Moments().update(np.ascontiguousarray(view))
        assert_states_identical(got, ref)


@pytest.mark.parametrize("dtype", ["float64", "int32", "int64", "float32", "uint16"])
@pytest.mark.parametrize("offset", range(1, 8))
def test_misaligned_input(dtype, offset):
    dtype = np.dtype(dtype)
    a = make_data(dtype, 2500, (), seed=offset)
    buf = bytearray(a.nbytes + 16)
    buf[offset: offset + a.nbytes] = a.tobytes()
    view = np.frombuffer(buf, dtype=dtype, count=a.size, offset=offset)
    before = bytes(buf)
    got = Moments().update(view)
    assert bytes(buf) == before
    assert_states_identical(got, Moments().update(a))
    assert_matches_slow(got.result(), a)
    # misaligned records, and misaligned + byte-swapped
    rec = np.frombuffer(buf, dtype=dtype, count=a.size - a.size % 5, offset=offset).reshape(-1, 5)
    assert_states_identical(Moments().update(rec), Moments().update(rec.copy()))
    swapped = a.astype(dtype.newbyteorder()).tobytes()
    buf2 = bytearray(len(swapped) + 16)
    buf2[offset: offset + len(swapped)] = swapped
    sview = np.frombuffer(buf2, dtype=dtype.newbyteorder(), count=a.size, offset=offset)
    assert_states_identical(Moments().update(sview), Moments().update(a))


@pytest.mark.parametrize("dtype", ["float64", "int64", ">f8", "float16"])
def test_read_only_input(dtype):
    a = make_data(dtype, 3000, (3,), seed=5)
    ro = a.copy()
    ro.flags.writeable = False
    got = Moments().update(ro)
    assert_states_identical(got, Moments().update(a))
    bro = np.broadcast_to(a[:1], (2000, 3))  # zero record stride, read-only
    assert_matches_slow(Moments().update(bro).result(), np.ascontiguousarray(bro))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf])
def test_special_value_at_every_position(dtype, special):
    n = 19
    base = make_data(dtype, n, (), seed=1)
    for pos in range(n):
        a = base.copy()
        a[pos] = special
        m = Moments().update(a)
        for pol in POLICIES:
            for ddof in (0, 1):
                assert_matches_slow(m.result(ddof, pol), a, ddof, pol)
        d = m.result()
        if np.isnan(special):
            assert d.nan_count == 1 and d.count == n - 1
            assert m.first_nan == pos
            assert math.isnan(d.mean) and math.isnan(d.var) and math.isnan(d.min)
            assert math.isnan(d.max) and math.isnan(d.sum)
            o = m.result(nan_policy="omit")
            assert o.min == base[np.arange(n) != pos].min()
        else:
            assert d.count == n and d.nan_count == 0 and m.first_nan is None
            assert d.mean == special and d.sum == special and math.isnan(d.var)
        # chunked the same, bit for bit
        assert_states_identical(m, reduce_chunks(chunk_views(a, [1, 2, 5])))


@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("pos", [0, 7, 1023, 1024, 2047, 2048, 3000, 4099])
def test_special_value_in_blocks(special, pos):
    a = make_data("float64", 4100, (), seed=2)
    a[pos] = special
    m = Moments().update(a)
    for pol in POLICIES:
        assert_matches_slow(m.result(1, pol), a, 1, pol)
    assert m.first_nan == (pos if np.isnan(special) else None)
    assert_states_identical(m, reduce_chunks(chunk_views(a, [1000, 1, 3000])))


def test_inf_and_minus_inf():
    a = np.array([1.0, np.inf, 2.0, -np.inf, 3.0])
    d = Moments().update(a).result()
    assert math.isnan(d.mean) and math.isnan(d.sum) and math.isnan(d.var)
    assert d.min == -np.inf and d.max == np.inf and d.nan_count == 0 and d.count == 5
    # in different blocks
    b = np.zeros(3000)
    b[5], b[2500] = np.inf, -np.inf
    d = Moments().update(b).result()
    assert math.isnan(d.mean) and math.isnan(d.var)
    b[2500] = np.inf
    d = Moments().update(b).result()
    assert d.mean == np.inf and math.isnan(d.var) and d.sum == np.inf


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
@pytest.mark.parametrize("n", [1, 7, 1024, 3000])
def test_all_nan(dtype, n):
    a = np.full(n, np.nan, dtype=dtype)
    m = Moments().update(a)
    for pol in POLICIES:
        d = m.result(0, pol)
        assert_matches_slow(d, a, 0, pol)
        assert d.count == 0 and d.nan_count == n
        assert all(math.isnan(getattr(d, f)) for f in ("mean", "var", "std", "min", "max"))
    assert math.isnan(m.result().sum)
    assert m.result(nan_policy="omit").sum == 0.0
    rec = np.full((n, 2), np.nan, dtype=dtype)
    rec[:, 1] = 1.5
    d = Moments().update(rec).result(nan_policy="omit")
    assert d.count.tolist() == [0, n] and d.nan_count.tolist() == [n, 0]
    assert np.isnan(d.mean[0]) and d.mean[1] == 1.5 and d.var[1] == 0.0
    assert np.isnan(d.min[0]) and d.min[1] == 1.5


def test_empty_stream():
    d = Moments().result()  # untyped
    assert d.count == 0 and d.nan_count == 0 and d.sum == 0
    assert all(math.isnan(getattr(d, f)) for f in ("mean", "var", "std", "min", "max"))
    for dtype in ("float64", "int32", "uint64", "bool"):
        a = np.empty((0, 4), dtype=dtype)
        d = Moments().update(a).result()
        assert_matches_slow(d, a)
        assert d.record_shape == (4,)
        assert np.isnan(d.mean).all() and np.isnan(d.min).all()


# --------------------------------------------------------------------------
# exact integer sums, overflow-sized values


def _exact_var(values, ddof):
    """Exact M2 / (n - ddof) of the float64 values, rounded once."""
    xs = [Fraction(float(v)) for v in values]
    n = len(xs)
    mean = sum(xs, Fraction(0)) / n
    m2 = sum(((x - mean) ** 2 for x in xs), Fraction(0))
    return float(m2 / (n - ddof))


@pytest.mark.parametrize("n", [1, 7, 1024, 5000])
def test_int64_near_overflow(n):
    rng = np.random.default_rng(n)
    top = np.int64(2**63 - 1)
    a = top - rng.integers(0, 2**40, size=n, dtype=np.int64)
    exact = sum(int(v) for v in a)
    assert exact > 2**63 - 1 or n == 1
    d = Moments().update(a).result(ddof=0)
    assert type(d.sum) is int and d.sum == exact
    assert d.mean == pytest.approx(exact / n, rel=1e-15, abs=0)
    assert d.min == a.min() and d.max == a.max() and d.min.dtype == np.int64
    if n > 1:
        want = _exact_var(a, 1)
        assert m_var(a, 1) == pytest.approx(want, rel=1e-12)
    # negative side
    b = np.int64(-(2**63)) + rng.integers(0, 2**40, size=n, dtype=np.int64)
    d = Moments().update(b).result()
    assert type(d.sum) is int and d.sum == sum(int(v) for v in b)
    # record stream: object array of exact Python ints
    r = np.stack([a, b, np.zeros(n, np.int64)], axis=1)
    d = Moments().update(r).result()
    assert d.sum.shape == (3,)
    assert [int(v) for v in d.sum.ravel()] == exact_int_sums(r)
    if n > 1:
        assert d.sum.dtype == object


def m_var(a, ddof):
    return Moments().update(a).result(ddof=ddof).var


def test_int64_sum_cancels_exactly():
    a = np.array([2**63 - 1, -(2**63), 2**63 - 1, -(2**63), 5] * 700, dtype=np.int64)
    d = Moments().update(a).result()
    assert d.sum == sum(int(v) for v in a) and type(d.sum) is int
    assert d.mean == d.sum / a.size


@pytest.mark.parametrize("n", [1, 3, 1024, 3000])
def test_uint64_max(n):
    a = np.full(n, 2**64 - 1, dtype=np.uint64)
    d = Moments().update(a).result()
    assert type(d.sum) is int and d.sum == n * (2**64 - 1)
    assert d.min == 2**64 - 1 and d.max == 2**64 - 1 and d.min.dtype == np.uint64
    assert d.mean == float(2**64 - 1) and d.var == 0.0
    a[1::2] = 0
    k = n - n // 2  # values left at the maximum
    d = Moments().update(a).result()
    assert d.sum == k * (2**64 - 1) and d.max == 2**64 - 1
    assert d.min == (0 if n > 1 else 2**64 - 1)
    assert d.mean == pytest.approx(k * (2**64 - 1) / n, rel=1e-15)


def test_int_sums_fit_dtype_for_records():
    a = np.arange(30, dtype=np.uint32).reshape(10, 3)
    d = Moments().update(a).result()
    assert d.sum.dtype == np.uint64 and d.sum.tolist() == a.sum(axis=0).tolist()
    b = np.arange(-15, 15, dtype=np.int8).reshape(10, 3)
    d = Moments().update(b).result()
    assert d.sum.dtype == np.int64 and d.sum.tolist() == b.astype(int).sum(axis=0).tolist()


def test_bool_with_nonstandard_bytes():
    a = np.array([2, 0, 255, 1, 0, 7], dtype=np.uint8).view(np.bool_)
    d = Moments().update(a).result()
    assert d.sum == 4 and d.min == False and d.max == True  # noqa: E712
    assert d.mean == pytest.approx(4 / 6, rel=1e-15)


# --------------------------------------------------------------------------
# chunk invariance

COMBOS = [("float64", ()), ("float32", ()), ("float64", (3,)), ("float32", (2, 5)),
          ("int64", ()), ("uint8", (3,)), ("int32", ()), ("bool", ()), ("float16", ()),
          ("float64", (1500,))]


@pytest.mark.parametrize("start", [0, 5, 1024, 10**12 + 3])
@pytest.mark.parametrize("dtype,shape", COMBOS, ids=str)
def test_chunk_invariance_explicit_sizes(dtype, shape, start):
    n = 60 if shape == (1500,) else 5000
    a = make_data(dtype, n, shape, seed=len(shape) + start % 97, special=0.002)
    serial = reduce_chunks([a], start)
    assert serial.start == start and serial.stop == start + n
    sizes_list = [[1], [3], [7], [13], [1021], [1024], [4096], [n + 5], [1, 1023, 1024, 2]]
    if shape == (1500,):
        sizes_list = [[1], [3], [7], [13], [n + 5]]
    for sizes in sizes_list:
        for layouts in (("contig",), ("strided", "contig", "reversed")):
            m = reduce_chunks(chunk_views(a, sizes, layouts), start)
            assert_states_identical(m, serial)


@st.composite
def chunkings(draw):
    dtype, shape = draw(st.sampled_from(COMBOS))
    top = 60 if shape == (1500,) else 4500
    n = draw(st.one_of(st.integers(0, 40), st.integers(top // 4, top)))
    sizes = draw(st.lists(st.integers(1, max(n, 1) + 3), min_size=1, max_size=25))
    sizes = [draw(st.sampled_from([1, 2, 7, 1023, 1024, 1025, s])) for s in sizes]
    layouts = draw(st.lists(st.sampled_from(["contig", "strided", "reversed"]),
                            min_size=1, max_size=5))
    start = draw(st.sampled_from([0, 1, 3, 1000, 1023, 1024, 2**40 - 7]))
    seed = draw(st.integers(0, 2**31))
    return dtype, shape, n, sizes, layouts, start, seed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunkings())
def test_chunk_invariance_random(case):
    dtype, shape, n, sizes, layouts, start, seed = case
    a = make_data(dtype, n, shape, seed=seed, special=0.003)
    serial = reduce_chunks([a], start)
    m = reduce_chunks(chunk_views(a, sizes, layouts), start)
    assert m.stop == start + n
    if n == 0:  # no chunk at all: the state never learnt its type
        assert m.dtype is None and m.result().count == 0
        m.update(a)
    assert_states_identical(m, serial)
    # empty chunks anywhere change nothing
    m2 = Moments(start=start)
    for c in chunk_views(a, sizes, layouts):
        m2.update(c[:0])
        m2.update(c)
    if n:
        assert_states_identical(m2, serial)


ALPHABET = np.array([0.0, -0.0, 1.0, -1.0, 2.5, np.nan, np.inf, -np.inf, 1e-300, 5e-324])


@st.composite
def alphabet_cases(draw):
    n = draw(st.one_of(st.integers(0, 40), st.integers(1000, 3000)))
    dtype = draw(st.sampled_from(["float64", "float32"]))
    shape = draw(st.sampled_from([(), (3,)]))
    weights = draw(st.lists(st.integers(0, 5), min_size=ALPHABET.size, max_size=ALPHABET.size)
                   .filter(any))
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=6)))
    sizes = draw(st.lists(st.sampled_from([1, 3, 64, 100, 1024, 2000]), min_size=1, max_size=4))
    start = draw(st.sampled_from([0, 2, 1024, 77777]))
    seed = draw(st.integers(0, 2**31))
    return n, dtype, shape, weights, cuts, sizes, start, seed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alphabet_cases())
def test_special_alphabet_invariance(case):
    """Signed zeros, NaN, infinities and subnormals only: min / max ties,
    NaN counting and inf arithmetic are bit-identical under any chunking and
    any partitioning, and agree with numpy."""
    n, dtype, shape, weights, cuts, sizes, start, seed = case
    rng = np.random.default_rng(seed)
    p = np.array(weights, dtype=float) / sum(weights)
    a = rng.choice(ALPHABET, size=(n, *shape), p=p).astype(dtype)
    serial = reduce_chunks([a], start)
    for pol in POLICIES:
        assert_matches_slow(serial.result(1, pol), a, 1, pol)
    chunked = reduce_chunks([a[:0], *chunk_views(a, sizes, ("contig", "reversed"))], start)
    assert_states_identical(chunked, serial)
    parts = _partition_states(a, cuts, start, random.Random(seed), "bytes")
    m = merged(parts, random.Random(seed + 1))
    if m.dtype is None:
        m.update(a)
    assert_states_identical(m, serial)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_differential_random_values(data):
    """Hypothesis-chosen values (wide dynamic range, specials, extremes)."""
    dtype = data.draw(st.sampled_from(["float64", "float32", "float16", "int8", "int16",
                                       "int64", "uint64", "uint32", "bool", ">f8"]))
    shape = data.draw(st.sampled_from([(), (2,), (2, 3)]))
    n = data.draw(st.integers(0, 200))
    kind = np.dtype(dtype).kind
    if kind == "f":
        big = {2: 32768.0, 4: 2.0**100, 8: 2.0**330}[np.dtype(dtype).itemsize]
        elems = st.one_of(st.floats(-big, big, width=8 * np.dtype(dtype).itemsize),
                          st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0]))
    elif kind == "b":
        elems = st.booleans()
    else:
        info = np.iinfo(dtype)
        elems = st.one_of(st.integers(int(info.min), int(info.max)),
                          st.sampled_from([int(info.min), int(info.max), 0]))
    size = n * int(np.prod(shape, dtype=np.int64))
    values = data.draw(st.lists(elems, min_size=size, max_size=size))
    a = np.array(values, dtype=np.dtype(dtype).newbyteorder("=") if kind == "f" else dtype)
    a = a.astype(dtype).reshape(n, *shape)
    start = data.draw(st.sampled_from([0, 5, 1023]))
    m = reduce_chunks([a], start)
    for pol in POLICIES:
        for ddof in (0, 1):
            assert_matches_slow(m.result(ddof, pol), a, ddof, pol)
    sizes = data.draw(st.lists(st.integers(1, 50), min_size=1, max_size=5))
    chunked = reduce_chunks([a[:0], *chunk_views(a, sizes, ("strided", "contig"))], start)
    assert_states_identical(chunked, m)


# --------------------------------------------------------------------------
# partition invariance


def _partition_states(a, cuts, start, rng, mode):
    bounds = [0, *cuts, a.shape[0]]
    states = []
    for lo, hi in zip(bounds, bounds[1:]):
        m = Moments(start=start + lo)
        if hi > lo or rng.random() < 0.5:  # empty partitions: typed or untyped
            part = a[lo:hi]
            step = rng.choice([hi - lo + 1, 1, 5, 700, 1024])
            for i in range(0, max(hi - lo, 1), step):
                m.update(part[i: i + step])
        if mode == "bytes":
            m = Moments.from_bytes(m.to_bytes())
        elif mode == "pickle":
            m = pickle.loads(pickle.dumps(m))
        elif mode == "copy":
            m = copy.deepcopy(m)
        states.append(m)
    return states


@st.composite
def partitions(draw):
    dtype, shape = draw(st.sampled_from(COMBOS))
    top = 60 if shape == (1500,) else 6000
    n = draw(st.one_of(st.integers(0, 40), st.integers(top // 4, top)))
    k = draw(st.integers(0, 12))
    cuts = sorted(draw(st.lists(st.integers(0, n), min_size=k, max_size=k)))
    start = draw(st.sampled_from([0, 1, 1023, 1024, 5000, 2**50 + 1]))
    mode = draw(st.sampled_from(["none", "bytes", "pickle", "copy"]))
    seed = draw(st.integers(0, 2**31))
    return dtype, shape, n, cuts, start, mode, seed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(partitions())
def test_partition_invariance_random(case):
    dtype, shape, n, cuts, start, mode, seed = case
    rng = random.Random(seed)
    a = make_data(dtype, n, shape, seed=seed, special=0.002)
    serial = reduce_chunks([a], start)
    states = _partition_states(a, cuts, start, rng, mode)
    m = merged(states, rng)
    assert m.start == start and m.stop == start + n
    if n == 0 and m.dtype is None:
        assert np.all(serial.result().count == 0)
        return
    assert_states_identical(m, serial)


@pytest.mark.parametrize("dtype,shape", [("float64", ()), ("int64", ()), ("float32", (2, 5))],
                         ids=str)
def test_partition_invariance_block_edges(dtype, shape):
    B = {(): 1024, (2, 5): 64}[shape]
    n = 9 * B + 17
    a = make_data(dtype, n, shape, seed=9, special=0.001)
    serial = reduce_chunks([a])
    rng = random.Random(1)
    for cuts in ([B], [B - 1], [B + 1], [1, 2, 3], [B, 2 * B, 4 * B, 8 * B],
                 [B - 1, 2 * B + 1, 2 * B + 2, 8 * B - 1], list(range(0, n, B // 2 + 1))):
        for mode in ("none", "bytes", "pickle"):
            m = merged(_partition_states(a, cuts, 0, rng, mode), rng)
            assert_states_identical(m, serial)
    # left-to-right and right-to-left folds
    parts = _partition_states(a, [B - 3, 3 * B + 5, 5 * B], 0, rng, "none")
    acc = parts[0]
    for p in parts[1:]:
        acc.merge(p)
    assert_states_identical(acc, serial)
    parts = _partition_states(a, [B - 3, 3 * B + 5, 5 * B], 0, rng, "none")
    acc = parts[-1]
    for p in reversed(parts[:-1]):
        acc.merge(p)
    assert_states_identical(acc, serial)


def test_merge_does_not_modify_other():
    a = make_data("float64", 3000, (), seed=1)
    left, right = Moments().update(a[:1500]), Moments(start=1500).update(a[1500:])
    before = right.to_bytes()
    left.merge(right)
    assert right.to_bytes() == before
    left2, right2 = Moments().update(a[:1500]), Moments(start=1500).update(a[1500:])
    before = left2.to_bytes()
    right2.merge(left2)
    assert left2.to_bytes() == before
    assert_states_identical(left, right2)


@pytest.mark.parametrize("shape", [(), (1500,)], ids=str)
def test_partitions_near_the_largest_index(shape):
    """States near the top of the index space (2**63 - 2048 is the limit)
    still chunk, merge and serialize exactly."""
    n = 40 if shape else 5000
    top = 2**63 - 1 - 2048
    start = top - n
    a = make_data("float64", n, shape, seed=21, special=0.01)
    serial = reduce_chunks([a], start)
    assert serial.stop == top
    rng = random.Random(5)
    for cuts in ([n // 2], [1, n - 1], sorted(rng.sample(range(n), 5))):
        m = merged(_partition_states(a, cuts, start, rng, "bytes"), rng)
        assert_states_identical(m, serial)
    r = Moments.from_bytes(serial.to_bytes())
    assert r.stop == top
    with pytest.raises(OverflowError):
        r.update(a[:1])
    assert_states_identical(r, serial)


# --------------------------------------------------------------------------
# merge errors


def test_merge_not_adjacent():
    a = Moments().update(np.arange(10.0))
    b = Moments(start=11).update(np.arange(5.0))
    before = a.to_bytes(), b.to_bytes()
    with pytest.raises(ValueError, match="not adjacent"):
        a.merge(b)
    with pytest.raises(ValueError, match="not adjacent"):
        b.merge(a)
    assert (a.to_bytes(), b.to_bytes()) == before
    # overlapping
    c = Moments(start=5).update(np.arange(10.0))
    with pytest.raises(ValueError):
        a.merge(c)
    # untyped but not adjacent
    with pytest.raises(ValueError):
        a.merge(Moments(start=3))
    with pytest.raises(ValueError):
        Moments(start=3).merge(a)
    # self
    with pytest.raises(ValueError):
        a.merge(a)
    e = Moments(start=4)
    assert e.merge(e) is e


def test_merge_type_mismatch():
    f = Moments().update(np.arange(10.0))
    for other in (Moments(start=10).update(np.arange(3, dtype=np.float32)),
                  Moments(start=10).update(np.arange(3, dtype=np.int64)),
                  Moments(start=10).update(np.zeros((3, 2))),
                  Moments(start=10).update(np.zeros((0,), dtype=np.int8))):
        before = f.to_bytes()
        with pytest.raises(TypeError):
            f.merge(other)
        with pytest.raises(TypeError):
            other.merge(Moments(start=other.stop).update(np.zeros((2, 7))))
        assert f.to_bytes() == before
    r = Moments().update(np.zeros((4, 2, 3)))
    with pytest.raises(TypeError):
        r.merge(Moments(start=4).update(np.zeros((4, 3, 2))))
    with pytest.raises(TypeError):
        r.merge(np.zeros(3))
    with pytest.raises(TypeError):
        r.merge(None)


def test_merge_untyped_empty_either_side():
    a = make_data("int32", 2000, (2,), seed=4)
    ref = Moments().update(a)
    for start in (0, 2000):
        m = Moments().update(a)
        e = Moments(start=start)
        if start == 0:
            assert m.merge(e) is m  # e before m: m.start == e.stop
            assert_states_identical(m, ref)
            e2 = Moments()
            assert e2.merge(Moments().update(a)) is e2  # untyped left takes right's type
            assert e2.dtype == np.int32 and e2.record_shape == (2,)
            assert_states_identical(e2, ref)
        else:
            assert m.merge(e) is m
            assert_states_identical(m, ref)
            e3 = Moments(start=2000)
            e3.merge(Moments().update(a))  # untyped right of its partner
            assert e3.start == 0 and e3.stop == 2000
            assert_states_identical(e3, ref)
    # two untyped
    u = Moments(start=7).merge(Moments(start=7))
    assert u.dtype is None and u.start == u.stop == 7
    # typed-empty with typed-empty of the same type
    t = Moments(start=3).update(np.zeros(0, np.float32)).merge(
        Moments(start=3).update(np.zeros(0, np.float32)))
    assert t.dtype == np.float32 and t.result().count == 0


# --------------------------------------------------------------------------
# NIST StRD


def _nist():
    certified = {}
    for line in (NIST_DIR / "certified.csv").read_text().splitlines()[1:]:
        name, n, mean, sd, _ = line.split(",")
        certified[name] = (int(n), mean, sd)
    best = {}
    for line in (NIST_DIR / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in certified:
            best[cells[0]] = (float(cells[1]), float(cells[2]))
    assert set(best) == set(certified) and len(certified) == 9
    return certified, best


def _digits(got: float, certified: str) -> float:
    exact = Fraction(certified)
    err = abs(Fraction(got) - exact) / abs(exact)
    return 16.0 if err == 0 else min(16.0, -math.log10(err))


NIST_NAMES = ["PiDigits", "Lottery", "Lew", "Mavro", "Michelso", "NumAcc1", "NumAcc2",
              "NumAcc3", "NumAcc4"]


@pytest.mark.parametrize("name", NIST_NAMES)
def test_nist_strd(name):
    certified, best = _nist()
    n, cmean, csd = certified[name]
    values = np.array([float(v) for v in (NIST_DIR / f"{name}.txt").read_text().split()])
    assert values.size == n
    m = Moments().update(values)
    d = m.result(ddof=1)
    assert _digits(d.mean, cmean) >= 14, (name, d.mean, cmean)
    assert _digits(d.std, csd) >= best[name][1] - 1, (name, d.std, csd, _digits(d.std, csd))
    assert d.var > 0
    for size in (1, 7):
        chunked = reduce_chunks([values[i: i + size] for i in range(0, n, size)])
        assert_states_identical(chunked, m)
    # also as float32 never accumulates in float32: the mean of float32 data
    # matches the exact mean of the float32 values
    f32 = values.astype(np.float32)
    exact = sum((Fraction(float(v)) for v in f32), Fraction(0)) / n
    got = Moments().update(f32).result().mean
    assert abs(Fraction(got) - exact) <= abs(exact) * Fraction(1, 10**14)


def test_nist_numacc4_variance_positive():
    certified, _ = _nist()
    values = np.array([float(v) for v in (NIST_DIR / "NumAcc4.txt").read_text().split()])
    for ddof in (0, 1):
        for size in (1, 7, 1001):
            m = reduce_chunks([values[i: i + size] for i in range(0, values.size, size)])
            assert m.result(ddof).var > 0
    # 1e7 shifts: still positive and accurate
    for shift in (0.0, 1e8, 1e9):
        d = Moments().update(values + shift).result(ddof=1)
        assert d.var > 0


# --------------------------------------------------------------------------
# constant data


@pytest.mark.parametrize("value", [0.1, 1e12, -3.7, 1e-300, 2.0**-1074, 123456789.123])
@pytest.mark.parametrize("n", [1, 10, 1024, 10_000])
def test_constant_float(value, n):
    a = np.full(n, value)
    for m in (Moments().update(a), reduce_chunks(chunk_views(a, [7, 1000])),
              merged(_partition_states(a, [n // 3, n // 2], 0, random.Random(n), "bytes"),
                     random.Random(n)),
              Moments(start=13).update(a)):
        d = m.result()
        assert d.mean == value and d.var == 0.0 and d.std == 0.0
        assert d.min == value and d.max == value
        if n > 1:
            assert m.result(ddof=1).var == 0.0
    rec = np.full((n, 3), value)
    d = Moments().update(rec).result()
    assert (d.mean == value).all() and (d.var == 0.0).all()


def test_constant_other_dtypes():
    f = np.full(10_000, 0.1, dtype=np.float32)
    d = Moments().update(f).result()
    assert d.mean == float(np.float32(0.1)) and d.var == 0.0
    i = np.full(10_000, 2**62 + 1, dtype=np.int64)
    d = Moments().update(i).result()
    assert d.sum == 10_000 * (2**62 + 1) and d.var == 0.0 and d.mean == float(2**62 + 1)
    # constant with NaNs omitted
    g = np.full(5000, 0.1)
    g[::7] = np.nan
    d = Moments().update(g).result(nan_policy="omit")
    assert d.mean == 0.1 and d.var == 0.0


# --------------------------------------------------------------------------
# nan_policy and ddof


def test_nan_policy_raise_names_first_nan():
    a = np.arange(5000.0)
    a[[1777, 3000, 4500]] = np.nan
    for start in (0, 100, 2**40):
        for sizes in ([5000], [1], [13], [1024], [1000, 2000]):
            m = reduce_chunks(chunk_views(a, sizes), start=start)
            assert m.first_nan == start + 1777
            with pytest.raises(ValueError, match=rf"\b{start + 1777}\b"):
                m.result(nan_policy="raise")
        # merged partitions: the first NaN is in the second one
        parts = _partition_states(a, [1000, 2500, 4000], start, random.Random(2), "bytes")
        m = merged(parts, random.Random(3))
        with pytest.raises(ValueError, match=rf"NaN at record {start + 1777}\b"):
            m.result(nan_policy="raise")
    # NaN in the head of a state that does not start on a block boundary
    m = Moments(start=100).update(np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match=r"\b101\b"):
        m.result(nan_policy="raise")
    # records: the record index, not the value index
    r = np.zeros((50, 4))
    r[17, 3] = np.nan
    r[30, 0] = np.nan
    with pytest.raises(ValueError, match=r"\b117\b"):
        Moments(start=100).update(r).result(nan_policy="raise")
    # no NaN: raise is propagate
    ok = Moments().update(np.arange(10.0))
    assert_identical(ok.result(nan_policy="raise"), ok.result())
    inf = Moments().update(np.array([1.0, np.inf]))
    assert inf.result(nan_policy="raise").mean == np.inf


def test_nan_policy_propagate_vs_omit_records():
    a = make_data("float64", 3000, (4,), seed=8)
    a[5, 1] = np.nan
    a[2000, 3] = np.nan
    m = Moments().update(a)
    p = m.result()
    assert np.isnan(p.mean[[1, 3]]).all() and not np.isnan(p.mean[[0, 2]]).any()
    assert np.isnan(p.min[1]) and np.isnan(p.max[3]) and np.isnan(p.sum[1])
    o = m.result(nan_policy="omit")
    assert not np.isnan(o.mean).any()
    assert o.nan_count.tolist() == [0, 1, 0, 1] == p.nan_count.tolist()
    assert o.count.tolist() == [3000, 2999, 3000, 2999]
    for pol in POLICIES:
        assert_matches_slow(m.result(1, pol), a, 1, pol)


@pytest.mark.parametrize("bad", ["ignore", "Omit", "", None, 1])
def test_invalid_nan_policy(bad):
    m = Moments().update(np.arange(3.0))
    with pytest.raises(ValueError, match="nan_policy"):
        m.result(nan_policy=bad)


def test_ddof_validation_and_values():
    m = Moments().update(np.arange(4.0))
    for bad in (-1, -0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="ddof"):
            m.result(ddof=bad)
    for bad in ("1", None, [1], True, np.bool_(False), 1j):
        with pytest.raises(TypeError, match="ddof"):
            m.result(ddof=bad)
    assert m.result(ddof=0).var == 1.25
    assert m.result(ddof=1).var == pytest.approx(5 / 3, rel=1e-15)
    assert m.result(ddof=1.5).var == pytest.approx(5 / 2.5, rel=1e-15)
    assert math.isnan(m.result(ddof=4).var) and math.isnan(m.result(ddof=4).std)
    assert math.isnan(m.result(ddof=10).var)
    assert m.result(ddof=3).var == 5.0
    one = Moments().update(np.array([2.0]))
    assert one.result().var == 0.0 and math.isnan(one.result(ddof=1).var)
    assert one.result(ddof=1).mean == 2.0


# --------------------------------------------------------------------------
# bad input to update


def test_update_rejects_bad_input_and_keeps_state():
    m = Moments().update(np.arange(10.0))
    before = m.to_bytes()
    bad = [
        (np.arange(3, dtype=np.int64), TypeError),       # other dtype
        (np.zeros((3, 2)), ValueError),                  # other record shape
        (np.float32(1.0), TypeError),                    # 0-d (one record) of another dtype
        (None, TypeError),
        (np.zeros(3, dtype=np.complex128), TypeError),
        (np.array(["a", "b"]), TypeError),
        (np.array([1, "a"], dtype=object), TypeError),
        (np.zeros(3, dtype="datetime64[s]"), TypeError),
        (np.zeros(3, dtype=np.longdouble), TypeError),
        (np.zeros((3, 0)), ValueError),
    ]
    for chunk, exc in bad:
        with pytest.raises(exc):
            m.update(chunk)
        assert m.to_bytes() == before, chunk
    assert m.stop == 10
    u = Moments()
    with pytest.raises(ValueError):
        u.update(np.zeros((3, 0)))
    with pytest.raises(TypeError):
        u.update(np.zeros(3, dtype=np.complex64))
    assert u.dtype is None
    # structured dtype
    with pytest.raises(TypeError):
        Moments().update(np.zeros(3, dtype=[("a", "f8")]))


def test_update_accepts_sequences_and_equivalent_dtypes():
    m = Moments().update([1.0, 2.0, 3.0])
    assert m.dtype == np.float64 and m.result().mean == 2.0
    m.update(np.array([4.0, 5.0], dtype=">f8"))  # same values, other byte order
    assert m.result().mean == 3.0
    h = Moments().update(np.array([1, 2], dtype=np.float16)).update(np.array([3], np.float32))
    assert h.result().mean == 2.0
    for dt in (np.longlong, np.ulonglong, np.intc, np.uintc, np.short, np.byte, np.int_,
               np.uint, np.single, np.double):
        d = Moments().update(np.arange(5, dtype=dt)).result()
        assert d.mean == 2.0 and d.count == 5


def test_start_validation():
    with pytest.raises(ValueError):
        Moments(start=-1)
    with pytest.raises(TypeError):
        Moments(start=1.5)
    with pytest.raises((ValueError, OverflowError)):
        Moments(start=2**63 - 1)
    with pytest.raises(OverflowError):
        Moments(start=2**63 - 3000).update(np.zeros(5000))
    m = Moments(start=2**63 - 3000).update(np.zeros(500))
    assert m.stop == 2**63 - 2500


# --------------------------------------------------------------------------
# serialization


def _blob_states():
    yield "untyped", Moments()
    yield "untyped_start", Moments(start=12345)
    yield "typed_empty", Moments(start=3).update(np.zeros((0, 2), np.int16))
    yield "float_head", Moments(start=1000).update(make_data("float64", 30, (), 1, 0.1))
    yield "float_full", Moments().update(make_data("float64", 2100, (), 2, 0.01))
    yield "int", Moments(start=5).update(make_data("int64", 2100, (), 3))
    yield "uint8_rec", Moments().update(make_data("uint8", 300, (3,), 4))
    yield "f32_rec", Moments(start=7).update(make_data("float32", 200, (2, 5), 5, 0.02))
    yield "bool", Moments().update(make_data("bool", 1500, (), 6))


BLOBS = list(_blob_states())


@pytest.mark.parametrize("name,m", BLOBS, ids=[b[0] for b in BLOBS])
def test_serialization_round_trip(name, m):
    blob = m.to_bytes()
    assert isinstance(blob, bytes) and blob[:8] == b"PSMOMENT"
    for r in (Moments.from_bytes(blob), Moments.from_bytes(bytearray(blob)),
              Moments.from_bytes(memoryview(blob)), pickle.loads(pickle.dumps(m)),
              copy.copy(m), copy.deepcopy(m), m.copy()):
        assert r.start == m.start and r.stop == m.stop
        assert r.dtype == m.dtype and r.record_shape == m.record_shape
        assert r.first_nan == m.first_nan
        assert r.to_bytes() == blob
        if m.dtype is not None:
            assert_states_identical(r, m)
    # a restored state keeps working like the original
    if m.dtype is not None:
        extra = np.ones((1030, *m.record_shape), dtype=m.dtype)
        r = Moments.from_bytes(blob).update(extra)
        assert_states_identical(r, m.copy().update(extra))
    # memoryview of a wider buffer is read as bytes
    arr = np.frombuffer(blob + b"\0" * (-len(blob) % 8), dtype=np.uint8)
    assert Moments.from_bytes(arr[: len(blob)]).to_bytes() == blob


@pytest.mark.parametrize("name,m", BLOBS, ids=[b[0] for b in BLOBS])
def test_every_truncation_raises(name, m):
    blob = m.to_bytes()
    for k in range(len(blob)):
        with pytest.raises(ValueError):
            Moments.from_bytes(blob[:k])
    with pytest.raises(ValueError):
        Moments.from_bytes(blob + b"\0")


def _check_state_usable(r: Moments) -> None:
    """A state that came out of from_bytes must be usable without crashing."""
    try:
        r.result()
        r.to_bytes()
    except (ValueError, OverflowError, MemoryError):
        pass


@pytest.mark.parametrize("name,m", BLOBS, ids=[b[0] for b in BLOBS])
def test_random_byte_flips(name, m):
    blob = m.to_bytes()
    rng = random.Random(sum(name.encode()))
    accepted = 0
    for _ in range(400):
        b = bytearray(blob)
        for _ in range(rng.choice([1, 1, 2, 5])):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        if bytes(b) == blob:
            continue
        try:
            r = Moments.from_bytes(bytes(b))
        except ValueError:
            continue
        accepted += 1
        _check_state_usable(r)
    assert accepted == 0  # a flipped bit is caught by the checksum


def fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325  # the standard FNV-1a 64 offset basis (issue 15)
    for byte in data:
        h ^= byte
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def reseal(body: bytes) -> bytes:
    return body + struct.pack("<Q", fnv1a(body))


def test_checksum_is_fnv1a_and_version_checked():
    blob = Moments().update(np.arange(5.0)).to_bytes()
    assert reseal(blob[:-8]) == blob
    newer = bytearray(blob[:-8])
    newer[8:12] = struct.pack("<I", 2)
    with pytest.raises(ValueError, match="version"):
        Moments.from_bytes(reseal(bytes(newer)))
    with pytest.raises(ValueError, match="version"):
        Moments.from_bytes(bytes(newer) + b"\0" * 8)
    bad_magic = bytearray(blob)
    bad_magic[0] ^= 1
    with pytest.raises(ValueError):
        Moments.from_bytes(reseal(bytes(bad_magic[:-8])))


# Structural fuzzing: flip bytes *and* recompute the checksum, so the
# validator in ps_moments_deserialize sees every kind of inconsistent header.
# Run in a child process so that a crash is reported as a failure, not as a
# dead test session.
FUZZ_CHILD = textwrap.dedent(r"""
    import random, struct, sys
    import numpy as np
    from pystream import Moments

    def fnv1a(data):
        h = 0xCBF29CE484222325  # the standard FNV-1a 64 offset basis (issue 15)
        for byte in data:
            h ^= byte
            h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
        return h

    states = [
        Moments(), Moments(start=77),
        Moments(start=3).update(np.zeros((0, 2), np.int16)),
        Moments(start=1000).update(np.linspace(0, 1, 30)),
        Moments().update(np.linspace(0, 1, 2100)),
        Moments(start=5).update(np.arange(2100, dtype=np.int64)),
        Moments().update(np.arange(900, dtype=np.uint8).reshape(300, 3)),
        Moments(start=7).update(np.ones((200, 2, 5), np.float32)),
    ]
    rng = random.Random(int(sys.argv[1]))
    tried = accepted = 0
    for m in states:
        blob = m.to_bytes()
        body = blob[:-8]
        for _ in range(int(sys.argv[2])):
            b = bytearray(body)
            how = rng.random()
            if how < 0.5:   # flip bits, mostly in the header
                top = min(len(b), 120) if rng.random() < 0.7 else len(b)
                for _ in range(rng.choice([1, 1, 2, 3])):
                    b[rng.randrange(top)] ^= 1 << rng.randrange(8)
            elif how < 0.8:  # overwrite one 8-byte word with an extreme value
                k = rng.randrange(8, max(9, len(b) - 8))
                v = rng.choice([0, 1, 2**63 - 1, 2**63, 2**64 - 1, 2**62, 2**40,
                                rng.getrandbits(64)])
                b[k:k + 8] = struct.pack("<Q", v)
            else:            # cut or extend the body
                if rng.random() < 0.5:
                    b = b[:rng.randrange(len(b))]
                else:
                    b += bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 40)))
            data = bytes(b) + struct.pack("<Q", fnv1a(bytes(b)))
            tried += 1
            try:
                r = Moments.from_bytes(data)
            except (ValueError, MemoryError):
                continue
            accepted += 1
            width = int(np.prod(r.record_shape or (1,), dtype=object))
            if width > 10**5:  # a forged but consistent huge record shape:
                continue        # using it would allocate width * 88 bytes
            try:
                r.result(); r.to_bytes(); r.copy()
            except (ValueError, OverflowError, MemoryError):
                pass
            if r.dtype is None or width > 100:
                continue
            more = np.ones((1030, *r.record_shape), dtype=r.dtype)
            try:  # a restored state keeps working: update, merge both ways
                r.copy().update(more).result()
                Moments(start=r.stop).update(more).merge(r.copy()).result()
                r.copy().merge(Moments(start=r.stop).update(more)).to_bytes()
            except (ValueError, OverflowError, MemoryError):
                pass
    print(tried, accepted)
""")


def test_structural_fuzz_never_crashes(tmp_path):
    script = tmp_path / "fuzz_child.py"
    script.write_text(FUZZ_CHILD)
    env = dict(os.environ)
    # sanitizer builds: a refused huge malloc must return NULL (MemoryError),
    # as in a normal build, instead of aborting
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":allocator_may_return_null=1"
    proc = subprocess.run([sys.executable, str(script), "12345", "250"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-2000:], proc.stderr[-4000:])
    tried, accepted = map(int, proc.stdout.split())
    assert tried == 8 * 250


@pytest.mark.parametrize("junk", [b"", b"\0", b"PSMOMENT", b"PSMOMENT" + b"\0" * 12,
                                  b"x" * 100, bytes(range(256)) * 3])
def test_garbage_bytes(junk):
    with pytest.raises(ValueError):
        Moments.from_bytes(junk)


@pytest.mark.parametrize("obj", ["PSMOMENT", None, 12, 1.5, [1, 2], object()])
def test_from_bytes_wrong_types(obj):
    with pytest.raises(TypeError):
        Moments.from_bytes(obj)


# --------------------------------------------------------------------------
# threads


def test_concurrent_update_is_refused():
    """Hold a state's lock with a long update in a thread; every call from
    the main thread meanwhile is refused and leaves the state alone."""
    m = Moments().update(np.zeros(5))
    other_after = Moments(start=5)
    for attempt in range(6):
        n = 50_000_000 * 2**attempt
        big = np.broadcast_to(np.float64(1.5), (n,))  # zero stride: no memory
        start_stop = m.stop
        t = threading.Thread(target=m.update, args=(big,))
        t.start()
        refused = []
        while t.is_alive():
            try:
                m.update(np.ones(3))
            except RuntimeError as e:
                refused.append(str(e))
                for call in (m.result, m.to_bytes, m.copy, lambda: m.merge(other_after),
                             lambda: Moments(start=m.start).merge(m)):
                    try:
                        call()
                    except RuntimeError as e2:
                        refused.append(str(e2))
                    except ValueError:
                        pass  # the thread finished in between: not adjacent
                break
            else:
                start_stop += 3  # the update got in before the thread started
        t.join()
        assert m.stop == start_stop + n
        if refused:
            assert all("another thread" in r for r in refused), refused
            d = m.result()
            assert d.count == m.stop
            break
    else:
        pytest.fail("could not observe a concurrent update")


def test_threads_each_own_state_merge_to_serial():
    a = make_data("float64", 200_000, (), seed=12, special=0.0001)
    serial = Moments().update(a)
    bounds = [0, 33_333, 70_001, 140_000, 200_000]

    def work(k):
        m = Moments(start=bounds[k])
        part = a[bounds[k]: bounds[k + 1]]
        for i in range(0, part.size, 4099):
            m.update(part[i: i + 4099])
        return m

    with ThreadPoolExecutor(max_workers=4) as ex:
        states = list(ex.map(work, range(4)))
    assert_states_identical(merged(states, random.Random(0)), serial)


# --------------------------------------------------------------------------
# inputs are never written to


@pytest.mark.parametrize("kind", ["contig", "strided", "reversed", "swapped", "float16",
                                  "misaligned", "records_fortran", "int64", "nan"])
def test_input_never_mutated(kind):
    a = make_data("float64", 3000, (), seed=13)
    if kind == "strided":
        a = np.repeat(a, 2)[::2]
    elif kind == "reversed":
        a = a[::-1]
    elif kind == "swapped":
        a = a.astype(">f8")
    elif kind == "float16":
        a = a.astype(np.float16)
    elif kind == "misaligned":
        buf = bytearray(a.nbytes + 8)
        buf[3: 3 + a.nbytes] = a.tobytes()
        a = np.frombuffer(buf, dtype=np.float64, count=3000, offset=3)
    elif kind == "records_fortran":
        a = np.asfortranarray(a.reshape(300, 10))
    elif kind == "int64":
        a = make_data("int64", 3000, (), seed=13)
    elif kind == "nan":
        a[::5] = np.nan
    before = a.copy()
    m = Moments()
    m.update(a)
    m.update(a[:10])
    m.result(nan_policy="omit")
    np.testing.assert_array_equal(a, before)
    assert a.tobytes() == before.tobytes()


def test_description_to_dict_and_repr():
    d = Moments().update(np.array([1, 2, 3], dtype=np.int64)).result(ddof=1)
    out = d.to_dict()
    assert out == {"count": 3, "nan_count": 0, "mean": 2.0, "std": 1.0, "var": 1.0,
                   "min": 1, "max": 3, "sum": 6, "ddof": 1, "nan_policy": "propagate"}
    assert all(type(out[k]) in (int, float, str) for k in out)
    r = Moments().update(np.zeros((2, 3))).result().to_dict()
    assert r["mean"] == [0.0, 0.0, 0.0] and r["count"] == [2, 2, 2]
    assert "count" in repr(d) and "int64" in repr(d)


def test_result_does_not_change_state():
    m = Moments(start=9).update(make_data("float64", 2500, (), seed=1, special=0.01))
    before = m.to_bytes()
    for d in all_results(m):
        assert isinstance(d, Description)
    m.result(nan_policy="omit")
    assert m.to_bytes() == before


def test_masked_array_is_refused_not_silently_unmasked():
    """A masked array's mask would be ignored by the kernel: refuse it."""
    a = np.ma.masked_array([1.0, 2.0, 100.0], mask=[0, 0, 1])
    m = Moments()
    with pytest.raises(TypeError, match="masked arrays are not supported"):
        m.update(a)
    assert m.stop == 0 and m.dtype is None
    d = Moments().update(a.filled(np.nan)).result(nan_policy="omit")
    assert d.mean == 1.5
