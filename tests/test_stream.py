"""The Stream class: laziness, iteration, offsets, metadata, one-shot sources, reducers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystream.sources import from_array, from_chunks, from_iterable
from pystream.stream import Stream

CHUNK_SIZES = (1, 2, 3, 5, 7, 13, 31, 97, 1009, 100_003)
chunk_sizes = st.sampled_from(CHUNK_SIZES)


@st.composite
def float_arrays(draw: st.DrawFn, max_len: int = 300) -> np.ndarray:
    n = draw(st.integers(0, max_len))
    record_shape = draw(st.sampled_from([(), (), (3,), (2, 2)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.normal(size=(n, *record_shape)) * 10


def counting_source(parts: list[np.ndarray], log: list[str]):
    def make():
        log.append("open")
        for p in parts:
            log.append("chunk")
            yield p

    return make


# --------------------------------------------------------------------------- construction


def test_constructor_and_metadata() -> None:
    s = Stream(lambda: iter([np.zeros((2, 3), np.float32)]), np.float32, (3,))
    assert s.dtype == np.float32 and isinstance(s.dtype, np.dtype)
    assert s.record_shape == (3,)
    assert s.start == 0 and not s.one_shot
    assert "float32" in repr(s)


def test_constructor_validation() -> None:
    with pytest.raises(TypeError, match="callable"):
        Stream([np.zeros(3)], np.float64)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        Stream(lambda: iter([]), np.float64, (-1,))
    with pytest.raises(ValueError, match="start"):
        Stream(lambda: iter([]), np.float64, start=-2)


def test_metadata_from_first_chunk_when_not_given() -> None:
    s = Stream(lambda: iter([np.zeros((2, 4), np.int16)]), None, None)
    assert "unresolved" in repr(s)
    assert s.dtype == np.int16 and s.record_shape == (4,)


def test_metadata_of_empty_stream_without_dtype_defaults_to_float64() -> None:
    s = Stream(lambda: iter([]), None, None)
    out = s.to_array()
    assert out.dtype == np.float64 and out.shape == (0,)


# --------------------------------------------------------------------------- laziness


def test_nothing_is_read_until_iteration() -> None:
    log: list[str] = []
    s = Stream(counting_source([np.arange(3), np.arange(3)], log), np.int64)
    t = s.map(np.negative).filter(lambda c: c < 0).take(4).skip(1).rechunk(2).astype(np.float32)
    assert log == []
    it = iter(t)
    assert log == []  # generators have not started yet
    next(it)
    assert log[:2] == ["open", "chunk"]


def test_stream_is_reiterable_for_reiterable_sources() -> None:
    log: list[str] = []
    s = Stream(counting_source([np.arange(3), np.arange(3, 5)], log), np.int64)
    a = s.to_array()
    b = s.to_array()
    np.testing.assert_array_equal(a, b)
    assert log.count("open") == 2


def test_one_shot_source_raises_on_second_iteration() -> None:
    s = from_iterable((float(i) for i in range(10)), np.float64, chunk_size=3)
    assert s.one_shot
    assert len(s.to_array()) == 10
    with pytest.raises(RuntimeError, match="one-shot"):
        list(s)
    with pytest.raises(RuntimeError, match="one-shot"):
        s.to_array()
    # derived streams share the consumed source
    with pytest.raises(RuntimeError, match="one-shot"):
        s.map(np.abs).to_array()


def test_one_shot_error_even_after_partial_iteration() -> None:
    s = Stream(lambda: iter([np.arange(3), np.arange(3)]), np.int64, one_shot=True)
    it = iter(s)
    next(it)
    with pytest.raises(RuntimeError, match="already consumed"):
        iter(s)


def test_one_shot_constructor_flag() -> None:
    calls = []

    def make():
        calls.append(1)
        return iter([np.arange(2)])

    s = Stream(make, np.int64, one_shot=True)
    assert s.one_shot and s.take(1).one_shot
    assert s.to_array().tolist() == [0, 1]
    with pytest.raises(RuntimeError):
        s.to_array()
    assert calls == [1]


# --------------------------------------------------------------------------- iteration and offsets


@settings(deadline=None)
@given(float_arrays(), chunk_sizes)
def test_chunks_and_offsets(x: np.ndarray, cs: int) -> None:
    s = from_array(x, chunk_size=cs)
    pairs = list(s.chunks_with_offsets())
    expected_offsets = list(range(0, len(x), cs))
    assert [o for o, _ in pairs] == expected_offsets
    for o, c in pairs:
        assert type(c) is np.ndarray
        assert c.shape[1:] == x.shape[1:] and c.dtype == x.dtype
        np.testing.assert_array_equal(c, x[o : o + len(c)])


def test_offsets_after_filter_count_output_records() -> None:
    s = from_array(np.arange(20), chunk_size=5).filter(lambda c: c % 2 == 0)
    pairs = [(o, c.tolist()) for o, c in s.chunks_with_offsets()]
    assert pairs == [(0, [0, 2, 4]), (3, [6, 8]), (5, [10, 12, 14]), (8, [16, 18])]


def test_offsets_start_at_stream_start() -> None:
    s = Stream(lambda: iter([np.arange(3), np.arange(2)]), np.int64, start=100)
    assert [o for o, _ in s.map(np.negative).chunks_with_offsets()] == [100, 103]


def test_empty_chunks_are_never_yielded() -> None:
    parts = [np.arange(0), np.arange(3), np.arange(0), np.arange(0), np.arange(2), np.arange(0)]
    s = Stream(lambda: iter(parts), np.int64)
    assert [len(c) for c in s] == [3, 2]
    assert [len(c) for c in s.map(np.negative)] == [3, 2]
    assert [o for o, _ in s.chunks_with_offsets()] == [0, 3]


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_iteration_yields_plain_ndarrays_from_subclasses() -> None:
    m = np.ma.masked_array(np.arange(3.0))  # masked arrays are refused
    with pytest.raises(TypeError, match="masked"):
        from_array(m)
    mat = np.matrix([[1, 2], [3, 4]])
    for c in from_array(mat):
        assert type(c) is np.ndarray


# --------------------------------------------------------------------------- to_array


@settings(deadline=None)
@given(float_arrays(), chunk_sizes)
def test_to_array_roundtrip(x: np.ndarray, cs: int) -> None:
    out = from_array(x, chunk_size=cs).to_array()
    assert out.dtype == x.dtype and out.shape == x.shape
    np.testing.assert_array_equal(out, x)
    if len(x):
        assert not np.shares_memory(out, x)


@pytest.mark.parametrize("dtype", [np.int8, np.float32, np.complex128, ">f8", "<u2"])
@pytest.mark.parametrize("rs", [(), (3,), (2, 0)])
def test_to_array_of_empty_stream_has_dtype_and_shape(dtype: str, rs: tuple[int, ...]) -> None:
    out = from_array(np.zeros((0, *rs), dtype)).to_array()
    assert out.shape == (0, *rs) and out.dtype == np.dtype(dtype)
    out = from_array(np.zeros((5, *rs), dtype)).take(0).to_array()
    assert out.shape == (0, *rs) and out.dtype == np.dtype(dtype)


def test_to_array_reports_chunks_that_break_the_declared_dtype() -> None:
    s = Stream(lambda: iter([np.arange(3.0), np.arange(3)]), np.float64)
    with pytest.raises(TypeError, match="does not match the stream's dtype float64"):
        s.to_array()


# --------------------------------------------------------------------------- pipe


def test_pipe_adds_a_generator_stage() -> None:
    def running_sum(chunks):
        total = 0.0
        for c in chunks:
            out = np.cumsum(c) + total
            total = out[-1]
            yield out

    x = np.arange(1.0, 11.0)
    s = from_array(x, chunk_size=3).map(np.square).pipe(running_sum)
    np.testing.assert_array_equal(s.to_array(), np.cumsum(x**2))


def test_pipe_with_new_metadata_and_empty_outputs() -> None:
    def pairs(chunks):
        for c in chunks:
            yield np.stack([c, -c], axis=1).astype(np.float32)
            yield np.empty((0, 2), np.float32)

    s = from_array(np.arange(5), chunk_size=2).pipe(pairs, dtype=np.float32, record_shape=(2,))
    assert s.dtype == np.float32 and s.record_shape == (2,)
    assert [len(c) for c in s] == [2, 2, 1]


# --------------------------------------------------------------------------- reducers


@settings(deadline=None, max_examples=60)
@given(float_arrays(), chunk_sizes)
def test_reducers_match_numpy(x: np.ndarray, cs: int) -> None:
    s = from_array(x, chunk_size=cs)
    if len(x) == 0:
        assert np.all(np.asarray(s.count()) == 0)
        with pytest.raises(ValueError, match="empty"):
            s.min()
        with pytest.raises(ValueError, match="empty"):
            s.max()
        return
    np.testing.assert_allclose(s.sum(), x.sum(axis=0), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(s.mean(), x.mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s.var(), x.var(axis=0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s.std(ddof=0), x.std(axis=0), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(s.min(), x.min(axis=0))
    np.testing.assert_array_equal(s.max(), x.max(axis=0))
    np.testing.assert_array_equal(s.count(), np.full(x.shape[1:], len(x)))
    if len(x) > 1:
        np.testing.assert_allclose(s.var(ddof=1), x.var(axis=0, ddof=1), rtol=1e-10, atol=1e-12)


@settings(deadline=None)
@given(float_arrays(max_len=200), st.sampled_from([1, 3, 7, 64]), st.sampled_from([2, 5, 1000]))
def test_reductions_are_chunk_invariant(x: np.ndarray, cs1: int, cs2: int) -> None:
    a = from_array(x, chunk_size=cs1).describe(ddof=1).to_dict()
    b = from_array(x, chunk_size=cs2).describe(ddof=1).to_dict()
    np.testing.assert_equal(a, b)  # bit-identical (NaN == NaN here)


def test_reducers_through_stages() -> None:
    x = np.random.default_rng(1).normal(size=10_000)
    s = from_array(x, chunk_size=333).map(np.abs).filter(lambda c: c > 0.5)
    ref = np.abs(x)[np.abs(x) > 0.5]
    d = s.describe(ddof=1)
    assert d.count == len(ref)
    np.testing.assert_allclose([d.mean, d.var, d.min, d.max], [ref.mean(), ref.var(ddof=1), ref.min(), ref.max()])


def test_reducer_on_integer_stream_sum_is_exact() -> None:
    x = np.full(1000, 2**62, dtype=np.int64)
    assert from_array(x, chunk_size=7).sum() == 1000 * 2**62


def test_nan_policies() -> None:
    x = np.array([1.0, np.nan, 3.0, 5.0])
    s = from_array(x, chunk_size=2)
    assert math.isnan(s.mean())
    assert s.mean(nan_policy="omit") == 3.0
    assert s.count(nan_policy="omit") == 3
    with pytest.raises(ValueError, match="NaN at record 1"):
        s.mean(nan_policy="raise")


def test_nan_policy_raise_stops_early() -> None:
    pulled = []

    def chunks():
        for i in range(100):
            pulled.append(i)
            c = np.arange(10.0) + 10 * i
            if i == 3:
                c[4] = np.nan
            yield c

    s = Stream(chunks, np.float64)
    with pytest.raises(ValueError, match="NaN at record 34"):
        s.describe(nan_policy="raise")
    assert pulled == [0, 1, 2, 3]


def test_nan_policy_raise_names_global_record_in_record_stream() -> None:
    x = np.zeros((50, 3))
    x[37, 2] = np.nan
    with pytest.raises(ValueError, match="NaN at record 37"):
        from_array(x, chunk_size=8).var(nan_policy="raise")


@pytest.mark.parametrize("method", ["describe", "var", "std"])
def test_argument_validation_happens_before_reading(method: str) -> None:
    s = from_iterable(iter([1.0, 2.0]), np.float64)
    with pytest.raises(ValueError, match="'sometimes'"):
        getattr(s, method)(nan_policy="sometimes")
    with pytest.raises(ValueError, match="-1"):
        getattr(s, method)(ddof=-1)
    with pytest.raises(TypeError, match="'1'"):
        getattr(s, method)(ddof="1")
    with pytest.raises(TypeError, match="True"):
        getattr(s, method)(ddof=True)
    # the one-shot source was not consumed by the failed calls
    assert getattr(s, method)() is not None


@pytest.mark.parametrize("method", ["count", "sum", "mean", "min", "max"])
def test_nan_policy_validated_for_every_reducer(method: str) -> None:
    with pytest.raises(ValueError, match=f"{method}: nan_policy must be one of"):
        getattr(from_array(np.arange(3.0)), method)(nan_policy=None)


def test_reducers_on_empty_record_stream() -> None:
    s = from_array(np.zeros((0, 3)))
    d = s.describe()
    assert d.record_shape == (3,)
    assert np.all(np.isnan(d.mean))
    with pytest.raises(ValueError, match="max: the stream is empty"):
        s.max()


def test_describe_of_one_shot_stream_without_dtype() -> None:
    gen = (np.full((3, 2, 2), i, np.int32) for i in range(5))
    d = from_chunks(gen).describe()
    assert d.record_shape == (2, 2)
    np.testing.assert_array_equal(d.max, np.full((2, 2), 4))


def test_array_reduction_reads_whole_array_with_identical_result() -> None:
    """from_array reducers read the array in one call (no per-chunk cost);
    chunk invariance makes that bit-identical to the chunked pass."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=20_011) * 1e3 + 1e6
    x[4321] = np.nan
    chunked = from_array(x, chunk_size=97).map(lambda c: c)  # a stage forces chunking
    bulk = from_array(x, chunk_size=97)
    for policy in ("propagate", "omit"):
        a = bulk.describe(ddof=1, nan_policy=policy)
        b = chunked.describe(ddof=1, nan_policy=policy)
        for name in ("count", "nan_count", "sum", "mean", "var", "min", "max"):
            va, vb = np.float64(getattr(a, name)), np.float64(getattr(b, name))
            assert va.tobytes() == vb.tobytes(), name
    with pytest.raises(ValueError, match="NaN at record 4321"):
        bulk.describe(nan_policy="raise")
