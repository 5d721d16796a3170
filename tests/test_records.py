"""Record stages (sliding_window, nwise, tumbling, resample) against whole-array numpy twins."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from pystream.sources import from_array
from pystream.stages.records import NWise, SlidingWindow, Tumbling
from pystream.stages.resampling import Resample

from stage_helpers import (DTYPES, RECORD_SHAPES, assert_bits_equal,
                           assert_values_equal, chunkings, make_data, run)

# --------------------------------------------------------------------------- helpers


@st.composite
def cases(draw: st.DrawFn, dtypes: tuple[str, ...] = DTYPES, max_n: int = 6) -> tuple[np.ndarray, int]:
    """(data, n) with lengths around n: 0, 1, n-1, n, n+1, random, big."""
    n = draw(st.integers(1, max_n))
    length = draw(
        st.one_of(
            st.sampled_from([0, 1, max(n - 1, 0), n, n + 1, 3 * n + 1]),
            st.integers(0, 80),
            st.just(1500),
        )
    )
    dtype = draw(st.sampled_from(dtypes))
    rs = draw(st.sampled_from(RECORD_SHAPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return make_data(rng, length, dtype, rs), n


# --------------------------------------------------------------------------- twins


def sliding_twin(x: np.ndarray, n: int, step: int) -> np.ndarray:
    if len(x) < n:
        return np.empty((0, n, *x.shape[1:]), x.dtype)
    return np.moveaxis(sliding_window_view(x, n, axis=0)[::step], -1, 1)


def blocks_of(x: np.ndarray, n: int, partial: bool) -> list[np.ndarray]:
    m = len(x) // n
    out = [x[i * n : (i + 1) * n] for i in range(m)]
    if partial and len(x) % n:
        out.append(x[m * n :])
    return out


def resample_twin(x: np.ndarray, n: int, how: str, policy: str, partial: bool) -> np.ndarray:
    f = {
        ("min", "propagate"): lambda b: np.min(b, axis=0),
        ("max", "propagate"): lambda b: np.max(b, axis=0),
        ("min", "omit"): lambda b: np.fmin.reduce(b, axis=0),
        ("max", "omit"): lambda b: np.fmax.reduce(b, axis=0),
    }.get((how, policy))
    if how == "first":
        f = lambda b: b[0]  # noqa: E731
    elif how == "last":
        f = lambda b: b[-1]  # noqa: E731
    elif f is None:  # raise, without NaN: as propagate
        f = (lambda b: np.min(b, axis=0)) if how == "min" else (lambda b: np.max(b, axis=0))
    bl = blocks_of(x, n, partial)
    if not bl:
        return np.empty((0, *x.shape[1:]), x.dtype)
    return np.stack([np.asarray(f(b), dtype=x.dtype) for b in bl])


# --------------------------------------------------------------------------- sliding_window / nwise


@settings(deadline=None, max_examples=150)
@given(cases(), st.integers(1, 7), chunkings)
def test_sliding_window_matches_numpy(case: tuple[np.ndarray, int], step: int, chunking) -> None:
    x, n = case
    x0 = x.copy()
    out = run(SlidingWindow(n, step), x, chunking)
    ref = sliding_twin(x, n, step)
    assert_bits_equal(out, ref)
    assert len(out) == ((len(x) - n) // step + 1 if len(x) >= n else 0)
    assert_bits_equal(x, x0)  # input untouched


@settings(deadline=None)
@given(cases(), chunkings)
def test_nwise_is_sliding_window_step_1(case: tuple[np.ndarray, int], chunking) -> None:
    x, n = case
    out = run(NWise(n), x, chunking)
    assert_bits_equal(out, sliding_twin(x, n, 1))
    assert NWise(n).name == "nwise" and NWise(n).step == 1


def test_sliding_window_layout_is_record_axis_first() -> None:
    x = np.arange(12).reshape(6, 2)
    out = from_array(x, chunk_size=4).pipe(SlidingWindow(3), dtype=x.dtype, record_shape=(3, 2)).to_array()
    assert out.shape == (4, 3, 2)
    np.testing.assert_array_equal(out[1], x[1:4])


def test_sliding_window_outputs_are_read_only_views() -> None:
    x = np.arange(100.0).reshape(50, 2)
    stage = SlidingWindow(4)
    chunks = list(from_array(x, chunk_size=10).pipe(stage, dtype=x.dtype, record_shape=(4, 2)))
    assert len(chunks) == 5
    # first chunk: no carried records, the windows are views of the source chunk
    assert np.shares_memory(chunks[0], x)
    for c in chunks:
        assert not c.flags.writeable
        # overlapping windows: window i+1 starts one record after window i in memory
        assert c.strides[0] == c.strides[1]
        assert c.base is not None
    # later chunks are views of one (carried records + chunk) buffer, not of x
    buf = chunks[1]
    while buf.base is not None:
        buf = buf.base
    assert buf.nbytes == (3 + 10) * 2 * 8
    with pytest.raises(ValueError):
        chunks[1][0, 0, 0] = 1.0


def test_sliding_window_step_larger_than_n_skips_records() -> None:
    x = np.arange(20)
    for cs in (1, 2, 3, 20):
        out = from_array(x, chunk_size=cs).pipe(SlidingWindow(2, step=5), dtype=x.dtype, record_shape=(2,))
        assert out.to_array().tolist() == [[0, 1], [5, 6], [10, 11], [15, 16]]


# --------------------------------------------------------------------------- tumbling


@settings(deadline=None, max_examples=150)
@given(cases(), chunkings)
def test_tumbling_matches_numpy(case: tuple[np.ndarray, int], chunking) -> None:
    x, n = case
    x0 = x.copy()
    out = run(Tumbling(n), x, chunking)
    m = len(x) // n
    ref = x[: m * n].reshape(m, n, *x.shape[1:])
    assert_bits_equal(out, ref)
    assert_bits_equal(out, sliding_twin(x, n, n))  # == sliding_window(n, step=n)
    assert_bits_equal(x, x0)


@pytest.mark.parametrize("rs", RECORD_SHAPES)
@pytest.mark.parametrize("n,cs", [(1, 1), (2, 4), (3, 3), (4, 12), (5, 1000)])
def test_tumbling_is_zero_copy_for_whole_blocks(n: int, cs: int, rs: tuple[int, ...]) -> None:
    x = np.arange(1000 * int(np.prod(rs)), dtype=np.float64).reshape(1000, *rs)
    chunks = list(from_array(x, chunk_size=cs).pipe(Tumbling(n), dtype=x.dtype, record_shape=(n, *rs)))
    for c in chunks:
        assert np.shares_memory(c, x)
    np.testing.assert_array_equal(np.concatenate(chunks), x[: len(x) // n * n].reshape(-1, n, *rs))


def test_tumbling_copies_only_straddling_blocks() -> None:
    x = np.arange(10)
    chunks = list(from_array(x, chunk_size=3).pipe(Tumbling(2), dtype=x.dtype, record_shape=(2,)))
    assert [c.tolist() for c in chunks] == [[[0, 1]], [[2, 3]], [[4, 5]], [[6, 7]], [[8, 9]]]
    assert [np.shares_memory(c, x) for c in chunks] == [True, False, True, True, False]


def test_tumbling_drops_incomplete_last_block() -> None:
    x = np.arange(7)
    out = from_array(x, chunk_size=2).pipe(Tumbling(3), dtype=x.dtype, record_shape=(3,)).to_array()
    assert out.tolist() == [[0, 1, 2], [3, 4, 5]]


# --------------------------------------------------------------------------- resample


@settings(deadline=None, max_examples=200)
@given(
    cases(),
    st.sampled_from(["min", "max", "first", "last"]),
    st.sampled_from(["propagate", "omit"]),
    st.booleans(),
    chunkings,
)
def test_resample_matches_numpy(case, how: str, policy: str, partial: bool, chunking) -> None:
    x, n = case
    x0 = x.copy()
    stage = Resample(n, how, nan_policy=policy, partial=partial)
    with np.errstate(invalid="ignore"):
        out = run(stage, x, chunking)
        ref = resample_twin(x, n, how, policy, partial)
    if how in ("first", "last"):
        assert_bits_equal(out, ref)
    else:
        assert_values_equal(out, ref)
        # bit-identical for any chunking, signed zeros and NaN payloads included
        assert_bits_equal(out, run(stage, x, ("size", 1)))
        assert_bits_equal(out, run(stage, x, ("size", 10**6)))
    assert_bits_equal(x, x0)


def test_resample_float_results_are_canonical() -> None:
    x = np.array([0.0, -0.0, 0.0, 0.0, -np.nan, 1.0, -0.0, -0.0])
    for cs in (1, 2, 3, 8):
        s = from_array(x, chunk_size=cs)
        mn = s.pipe(Resample(2, "min"), dtype=x.dtype, record_shape=()).to_array()
        mx = s.pipe(Resample(2, "max"), dtype=x.dtype, record_shape=()).to_array()
        assert np.signbit(mn).tolist() == [True, False, False, True]
        assert np.signbit(mx).tolist() == [False, False, False, True]
        assert np.isnan(mn[2]) and np.isnan(mx[2])
        assert mn.view(np.uint64)[2] == np.array(np.nan).view(np.uint64)


def test_resample_omit_all_nan_block_gives_nan_without_warning() -> None:
    x = np.array([[np.nan, 1.0], [np.nan, np.nan], [2.0, np.nan]])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = from_array(x, chunk_size=1).pipe(
            Resample(2, "min", nan_policy="omit"), dtype=x.dtype, record_shape=(2,)
        ).to_array()
    np.testing.assert_array_equal(out, [[np.nan, 1.0], [2.0, np.nan]])


def test_resample_partial() -> None:
    x = np.arange(7.0)
    s = from_array(x, chunk_size=3)
    assert s.pipe(Resample(3, "max"), dtype=x.dtype, record_shape=()).to_array().tolist() == [2, 5, 6]
    assert s.pipe(Resample(3, "max", partial=False), dtype=x.dtype, record_shape=()).to_array().tolist() == [2, 5]
    assert s.pipe(Resample(10, "first"), dtype=x.dtype, record_shape=()).to_array().tolist() == [0]
    assert s.pipe(Resample(10, "first", partial=False), dtype=x.dtype, record_shape=()).to_array().tolist() == []


@pytest.mark.parametrize("how", ["min", "max"])
@pytest.mark.parametrize("cs", [1, 2, 3, 5, 100])
@pytest.mark.parametrize("start", [0, 1000])
def test_resample_raise_names_global_index(how: str, cs: int, start: int) -> None:
    rng = np.random.default_rng(cs)
    x = rng.normal(size=(23, 3))
    x[17, 2] = np.nan
    x[20, 0] = np.nan
    stage = Resample(4, how, nan_policy="raise")
    parts = [x[i : i + cs] for i in range(0, len(x), cs)]
    got: list[np.ndarray] = []
    with pytest.raises(ValueError, match=rf"resample: NaN at record {start + 17}\b"):
        for c in stage(iter(parts), start):
            got.append(c)
    # the complete blocks before the NaN are out, whatever the chunking
    ref = resample_twin(x[:16], 4, how, "propagate", False)
    np.testing.assert_array_equal(np.concatenate(got), ref)
    # through Stream.pipe: start is 0
    with pytest.raises(ValueError, match=r"record 17\b"):
        from_array(x, chunk_size=cs).pipe(stage, dtype=x.dtype, record_shape=(3,)).to_array()


def test_resample_raise_ignores_nan_for_first_last_and_ints() -> None:
    x = np.array([np.nan, 1.0, 2.0])
    out = from_array(x).pipe(Resample(2, "first", nan_policy="raise"), dtype=x.dtype, record_shape=()).to_array()
    assert np.isnan(out[0]) and out[1] == 2.0
    xi = np.arange(5)
    out = from_array(xi).pipe(Resample(2, "min", nan_policy="raise"), dtype=xi.dtype, record_shape=()).to_array()
    assert out.tolist() == [0, 2, 4]


def test_resample_output_meta_dtypes() -> None:
    assert Resample(2, "max").output_meta(np.dtype("u1"), (3,)) == (np.dtype("u1"), (3,))
    for dt in ("c16", "U3", "M8[s]", "O"):
        with pytest.raises(TypeError, match="resample"):
            Resample(2, "min").output_meta(np.dtype(dt), ())
    assert Resample(2, "first").output_meta(np.dtype("M8[s]"), ()) == (np.dtype("M8[s]"), ())


def test_resample_sum_mean_are_left_to_the_c_core() -> None:
    for how in ("sum", "mean"):
        with pytest.raises(ValueError, match="BlockReduce"):
            Resample(2, how)


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    "make,exc,match",
    [
        (lambda: SlidingWindow(0), ValueError, r"^sliding_window: n must be >= 1, got 0"),
        (lambda: SlidingWindow(-3), ValueError, r"^sliding_window: n must be >= 1"),
        (lambda: SlidingWindow(2, step=0), ValueError, r"^sliding_window: step must be >= 1, got 0"),
        (lambda: SlidingWindow(True), TypeError, r"^sliding_window: n must be an integer"),
        (lambda: SlidingWindow(2.0), TypeError, r"^sliding_window: n must be an integer"),
        (lambda: SlidingWindow(2, step=False), TypeError, r"^sliding_window: step"),
        (lambda: SlidingWindow(2, step=1.5), TypeError, r"^sliding_window: step"),
        (lambda: SlidingWindow("3"), TypeError, r"^sliding_window: n"),
        (lambda: NWise(0), ValueError, r"^nwise: n must be >= 1, got 0"),
        (lambda: NWise(np.bool_(True)), TypeError, r"^nwise: n must be an integer"),
        (lambda: NWise(3.0), TypeError, r"^nwise: n"),
        (lambda: Tumbling(0), ValueError, r"^tumbling: n must be >= 1, got 0"),
        (lambda: Tumbling(True), TypeError, r"^tumbling: n"),
        (lambda: Tumbling(2.5), TypeError, r"^tumbling: n"),
        (lambda: Resample(0, "min"), ValueError, r"^resample: n must be >= 1, got 0"),
        (lambda: Resample(True, "min"), TypeError, r"^resample: n"),
        (lambda: Resample(2.0, "min"), TypeError, r"^resample: n"),
        (lambda: Resample(2, "median"), ValueError, r"^resample: how must be one of .*'sum'.*'mean'"),
        (lambda: Resample(2, "MIN"), ValueError, r"^resample: how must be one of .*'min'.*'max'.*'first'.*'last'"),
        (lambda: Resample(2, None), ValueError, r"^resample: how"),
        (lambda: Resample(2, "min", nan_policy="ignore"), ValueError, r"^resample: nan_policy"),
        (lambda: Resample(2, "min", nan_policy=None), ValueError, r"^resample: nan_policy"),
        (lambda: Resample(2, "first", nan_policy="bad"), ValueError, r"^resample: nan_policy"),
        (lambda: Resample(2, "min", partial=1), TypeError, r"^resample: partial"),
    ],
)
def test_bad_parameters_raise_at_construction(make, exc, match: str) -> None:
    with pytest.raises(exc, match=match):
        make()


def test_numpy_integers_are_accepted() -> None:
    assert SlidingWindow(np.int64(3), step=np.uint8(2)).n == 3
    assert Tumbling(np.int32(4)).n == 4


# --------------------------------------------------------------------------- protocol


STAGES = [
    SlidingWindow(3),
    SlidingWindow(2, step=3),
    NWise(2),
    Tumbling(2),
    Resample(2, "min"),
    Resample(3, "last", partial=False),
]


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
    # through a stream: take() stops early
    s = from_array(np.arange(500.0), chunk_size=5)
    dt, rs = stage.output_meta(s.dtype, s.record_shape)
    assert len(list(s.pipe(stage, dtype=dt, record_shape=rs).take(1))) == 1


@pytest.mark.parametrize("stage", STAGES, ids=repr)
def test_upstream_is_closed_at_the_end(stage) -> None:
    closed = []

    def upstream() -> Iterator[np.ndarray]:
        try:
            yield np.arange(5.0)
        finally:
            closed.append(True)

    list(stage(upstream()))
    assert closed == [True]


@pytest.mark.parametrize("stage", STAGES, ids=repr)
def test_empty_stream(stage) -> None:
    assert list(stage(iter([]))) == []
    assert list(stage(iter([np.empty((0, 3))]))) == []


def test_repr_and_names() -> None:
    assert SlidingWindow(3, 2).name == "sliding_window"
    assert Tumbling(3).name == "tumbling"
    assert Resample(3, "min").name == "resample"
    assert "step=2" in repr(SlidingWindow(3, 2))
    assert "how='min'" in repr(Resample(3, "min"))
