"""Scan stages (cummin, cummax, cumcount, diff) against whole-array numpy twins, bit for bit."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystream.sources import from_array
from pystream.stages.scans_exact import CumCount, CumMax, CumMin, Diff

from stage_helpers import (DTYPES, RECORD_SHAPES, assert_bits_equal, chunkings,
                           make_data, run, split)

# --------------------------------------------------------------------------- helpers


@st.composite
def arrays(draw: st.DrawFn, dtypes: tuple[str, ...] = DTYPES, around: int = 3) -> np.ndarray:
    """Arrays with lengths 0, 1, around-1, around, around+1, random and big."""
    length = draw(
        st.one_of(
            st.sampled_from([0, 1, around - 1, around, around + 1]),
            st.integers(0, 80),
            st.just(1500),
        )
    )
    dtype = draw(st.sampled_from(dtypes))
    rs = draw(st.sampled_from(RECORD_SHAPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return make_data(rng, length, dtype, rs)


# --------------------------------------------------------------------------- cummin / cummax


TWINS = {
    (CumMin, "propagate"): np.minimum.accumulate,
    (CumMin, "omit"): np.fmin.accumulate,
    (CumMax, "propagate"): np.maximum.accumulate,
    (CumMax, "omit"): np.fmax.accumulate,
}


@settings(deadline=None, max_examples=200)
@given(
    arrays(),
    st.sampled_from([CumMin, CumMax]),
    st.sampled_from(["propagate", "omit"]),
    chunkings,
)
def test_cummin_cummax_match_numpy(x: np.ndarray, cls, policy: str, chunking) -> None:
    x0 = x.copy()
    stage = cls(nan_policy=policy)
    out = run(stage, x, chunking)
    ref = TWINS[cls, policy](x, axis=0)
    if policy == "propagate":
        assert_bits_equal(out, ref)
    else:
        # np.fmin / np.fmax break -0.0 / +0.0 ties differently in their scalar
        # and SIMD loops: same values, and bit-identical for any chunking
        assert out.dtype == ref.dtype and out.shape == ref.shape
        np.testing.assert_array_equal(out, ref)
        assert_bits_equal(out, run(stage, x, ("size", 10**6)))
        assert_bits_equal(out, omit_twin(cls, x))
    assert_bits_equal(x, x0)


def omit_twin(cls, x: np.ndarray) -> np.ndarray:
    """Sequential fmin/fmax with np.minimum/np.maximum's tie rule, record by record."""
    if x.dtype.kind != "f" or len(x) == 0:
        return TWINS[cls, "propagate"](x, axis=0)
    f = np.minimum if cls is CumMin else np.maximum
    out = np.empty_like(x)
    out[0] = x[0]
    for i in range(1, len(x)):
        prev, cur = out[i - 1], x[i]
        out[i] = np.where(np.isnan(prev), cur, np.where(np.isnan(cur), prev, f(prev, cur)))
        out[i] = np.where(np.isnan(prev) & np.isnan(cur), prev, out[i])
    return out


def test_cummin_omit_zero_ties_do_not_depend_on_chunking() -> None:
    x = np.zeros((40, 17))
    x[1::2] = -0.0
    x[3, 5] = np.nan
    for cls in (CumMin, CumMax):
        ref = run(cls(nan_policy="omit"), x, ("size", 1000))
        for cs in (1, 2, 3, 7):
            assert_bits_equal(run(cls(nan_policy="omit"), x, ("size", cs)), ref)
        # the later zero wins, as in np.minimum.accumulate
        assert_bits_equal(ref, TWINS[cls, "propagate"](np.where(np.isnan(x), 0.0, x), axis=0))


@settings(deadline=None, max_examples=50)
@given(arrays(dtypes=("float64", "float32")), st.sampled_from([CumMin, CumMax]), chunkings)
def test_cummin_cummax_match_numpy_on_strided_input(x: np.ndarray, cls, chunking) -> None:
    y = np.repeat(x, 2, axis=0)[::2]  # a non-contiguous view
    out = run(cls(), y, chunking)
    assert_bits_equal(out, TWINS[cls, "propagate"](y, axis=0))


@settings(deadline=None, max_examples=100)
@given(arrays(dtypes=("float64", "float32", "int8")), st.sampled_from([CumMin, CumMax]), chunkings)
def test_cummin_cummax_raise_mode(x: np.ndarray, cls, chunking) -> None:
    stage = cls(nan_policy="raise")
    isnan = np.isnan(x) if x.dtype.kind == "f" else np.zeros(x.shape, bool)
    rows = np.flatnonzero(isnan.any(axis=tuple(range(1, x.ndim))))
    if len(rows) == 0:
        assert_bits_equal(run(stage, x, chunking), TWINS[cls, "propagate"](x, axis=0))
        return
    first = int(rows[0])
    kind, arg = chunking
    parts = split(x, arg) if kind == "random" else [x[i : i + arg] for i in range(0, len(x), arg)]
    got: list[np.ndarray] = []
    with pytest.raises(ValueError, match=rf"^{stage.name}: NaN at record {first + 7}\b"):
        for c in stage(iter(parts), 7):
            got.append(c)
    # everything before the NaN is out, whatever the chunking
    out = np.concatenate(got) if got else x[:0]
    assert_bits_equal(out, TWINS[cls, "propagate"](x[:first], axis=0))


def test_cummin_raise_global_index_through_pipe() -> None:
    x = np.arange(10.0)
    x[6] = np.nan
    s = from_array(x, chunk_size=4).pipe(CumMax(nan_policy="raise"), dtype=x.dtype, record_shape=())
    with pytest.raises(ValueError, match=r"cummax: NaN at record 6\b"):
        s.to_array()


def test_cummin_examples() -> None:
    x = np.array([3.0, np.nan, 1.0, 2.0, 0.5])
    s = from_array(x, chunk_size=2)
    prop = s.pipe(CumMin(), dtype=x.dtype, record_shape=()).to_array()
    omit = s.pipe(CumMin(nan_policy="omit"), dtype=x.dtype, record_shape=()).to_array()
    np.testing.assert_array_equal(prop, [3.0, np.nan, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(omit, [3.0, 3.0, 1.0, 1.0, 0.5])


@pytest.mark.parametrize("cls", [CumMin, CumMax])
def test_cummin_cummax_dtypes(cls) -> None:
    for dt in ("?", "i1", "u8", "f2", "f4", "f8"):
        assert cls().output_meta(np.dtype(dt), (2,)) == (np.dtype(dt), (2,))
    for dt in ("c16", "O", "U3", "S2", "M8[s]", "m8[s]"):
        with pytest.raises(TypeError, match=f"^{cls.name}: "):
            cls().output_meta(np.dtype(dt), ())


# --------------------------------------------------------------------------- cumcount


def cumcount_twin(x: np.ndarray, policy: str) -> np.ndarray:
    if policy == "omit" and x.dtype.kind in "fc":
        return np.cumsum(~np.isnan(x), axis=0, dtype=np.int64)
    out = np.empty(x.shape, np.int64)
    out[...] = np.arange(1, len(x) + 1).reshape((-1,) + (1,) * (x.ndim - 1))
    return out


@settings(deadline=None, max_examples=150)
@given(arrays(), st.sampled_from(["omit", "propagate"]), chunkings)
def test_cumcount_matches_numpy(x: np.ndarray, policy: str, chunking) -> None:
    x0 = x.copy()
    out = run(CumCount(nan_policy=policy), x, chunking)
    assert_bits_equal(out, cumcount_twin(x, policy))
    assert_bits_equal(x, x0)


def test_cumcount_default_is_omit_and_int_input_counts_records() -> None:
    assert CumCount().nan_policy == "omit"
    x = np.array([[1.0, np.nan], [np.nan, np.nan], [2.0, 3.0]])
    s = from_array(x, chunk_size=1)
    out = s.pipe(CumCount(), dtype=np.int64, record_shape=(2,)).to_array()
    assert out.tolist() == [[1, 0], [1, 0], [2, 1]] and out.dtype == np.int64
    out = s.pipe(CumCount(nan_policy="propagate"), dtype=np.int64, record_shape=(2,)).to_array()
    assert out.tolist() == [[1, 1], [2, 2], [3, 3]]
    xi = np.arange(5, dtype=np.uint8)
    out = from_array(xi, chunk_size=2).pipe(CumCount(), dtype=np.int64, record_shape=()).to_array()
    assert out.tolist() == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("cs", [1, 2, 3, 100])
def test_cumcount_raise(cs: int) -> None:
    x = np.ones((9, 2))
    x[5, 1] = np.nan
    got: list[np.ndarray] = []
    parts = [x[i : i + cs] for i in range(0, len(x), cs)]
    with pytest.raises(ValueError, match=r"^cumcount: NaN at record 15\b"):
        for c in CumCount(nan_policy="raise")(iter(parts), 10):
            got.append(c)
    assert np.concatenate(got).tolist() == [[i, i] for i in range(1, 6)]


def test_cumcount_dtypes() -> None:
    assert CumCount().output_meta(np.dtype("f4"), (3,)) == (np.dtype(np.int64), (3,))
    assert CumCount().output_meta(np.dtype("c8"), ()) == (np.dtype(np.int64), ())
    for dt in ("O", "U3", "M8[s]"):
        with pytest.raises(TypeError, match="^cumcount: "):
            CumCount().output_meta(np.dtype(dt), ())


# --------------------------------------------------------------------------- diff


@settings(deadline=None, max_examples=250)
@given(st.integers(0, 5).flatmap(lambda n: st.tuples(st.just(n), arrays(around=n + 1))), chunkings)
def test_diff_matches_numpy(case: tuple[int, np.ndarray], chunking) -> None:
    n, x = case
    x0 = x.copy()
    stage = Diff(n)
    with np.errstate(invalid="ignore", over="ignore"):
        out = run(stage, x, chunking)
        ref = np.diff(x, n=n, axis=0)
    assert_bits_equal(out, ref)
    assert len(out) == max(len(x) - n, 0)
    assert_bits_equal(x, x0)


def test_diff_dtypes_follow_numpy() -> None:
    assert Diff().output_meta(np.dtype(bool), (2,)) == (np.dtype(bool), (2,))
    assert Diff(2).output_meta(np.dtype("u1"), ()) == (np.dtype("u1"), ())
    assert Diff().output_meta(np.dtype("M8[D]"), ()) == (np.dtype("m8[D]"), ())
    assert Diff(0).output_meta(np.dtype("M8[D]"), ()) == (np.dtype("M8[D]"), ())
    for dt in ("O", "U3"):
        with pytest.raises(TypeError, match="^diff: "):
            Diff().output_meta(np.dtype(dt), ())


def test_diff_unsigned_wraps_and_bool_is_not_equal() -> None:
    x = np.array([1, 0, 200, 3], dtype=np.uint8)
    out = from_array(x, chunk_size=1).pipe(Diff(), dtype=np.uint8, record_shape=()).to_array()
    assert out.tolist() == [255, 200, 59]
    b = np.array([True, True, False, True])
    out = from_array(b, chunk_size=3).pipe(Diff(), dtype=bool, record_shape=()).to_array()
    assert out.tolist() == [False, True, True]


def test_diff_datetime() -> None:
    t = np.array(["2024-01-01", "2024-01-03", "2024-01-10"], dtype="M8[D]")
    stage = Diff()
    dt, rs = stage.output_meta(t.dtype, ())
    out = from_array(t, chunk_size=1).pipe(stage, dtype=dt, record_shape=rs).to_array()
    assert_bits_equal(out, np.diff(t))


def test_diff_zero_passes_through() -> None:
    x = np.arange(6.0).reshape(3, 2)
    chunks = list(from_array(x, chunk_size=2).pipe(Diff(0), dtype=x.dtype, record_shape=(2,)))
    assert all(np.shares_memory(c, x) for c in chunks)
    np.testing.assert_array_equal(np.concatenate(chunks), x)


def test_diff_inf_minus_inf_matches_numpy_warnings_aside() -> None:
    x = np.array([np.inf, np.inf, -np.inf, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = from_array(x, chunk_size=1).pipe(Diff(2), dtype=x.dtype, record_shape=()).to_array()
        assert_bits_equal(out, np.diff(x, 2))


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    "make,exc,match",
    [
        (lambda: CumMin(nan_policy="ignore"), ValueError, r"^cummin: nan_policy must be one of"),
        (lambda: CumMax(nan_policy=None), ValueError, r"^cummax: nan_policy"),
        (lambda: CumMax("OMIT"), ValueError, r"^cummax: nan_policy"),
        (lambda: CumCount(nan_policy="skip"), ValueError, r"^cumcount: nan_policy"),
        (lambda: Diff(-1), ValueError, r"^diff: n must be >= 0, got -1"),
        (lambda: Diff(True), TypeError, r"^diff: n must be an integer"),
        (lambda: Diff(1.0), TypeError, r"^diff: n must be an integer"),
        (lambda: Diff("1"), TypeError, r"^diff: n must be an integer"),
    ],
)
def test_bad_parameters_raise_at_construction(make, exc, match: str) -> None:
    with pytest.raises(exc, match=match):
        make()


# --------------------------------------------------------------------------- protocol


STAGES = [CumMin(), CumMax(nan_policy="omit"), CumCount(), Diff(), Diff(3), Diff(0)]


@pytest.mark.parametrize("stage", STAGES, ids=repr)
def test_upstream_is_closed_when_consumer_stops_early(stage) -> None:
    closed = []

    def upstream() -> Iterator[np.ndarray]:
        try:
            for i in range(100):
                yield np.arange(5.0) + 5 * i
        finally:
            closed.append(True)

    gen = stage(upstream())
    next(gen)
    assert closed == []
    gen.close()
    assert closed == [True]
    s = from_array(np.arange(500.0), chunk_size=5)
    dt, rs = stage.output_meta(s.dtype, s.record_shape)
    assert len(list(s.pipe(stage, dtype=dt, record_shape=rs).take(1))) == 1


@pytest.mark.parametrize("stage", STAGES, ids=repr)
def test_empty_stream(stage) -> None:
    assert list(stage(iter([]))) == []
    assert list(stage(iter([np.empty((0, 3))]))) == []


def test_names() -> None:
    assert [s.name for s in (CumMin(), CumMax(), CumCount(), Diff())] == [
        "cummin",
        "cummax",
        "cumcount",
        "diff",
    ]
