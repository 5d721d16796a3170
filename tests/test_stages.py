"""Stages (map, filter, astype, select, take, skip, rechunk) against plain numpy."""

from __future__ import annotations

import inspect
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystream.sources import from_array, from_chunks, from_iterable
from pystream.stages import elementwise, structural
from pystream.stream import Stream

#: Chunk sizes worth trying: 1, small primes, and sizes larger than the data.
CHUNK_SIZES = (1, 2, 3, 5, 7, 13, 31, 97, 1009, 100_003)
chunk_sizes = st.sampled_from(CHUNK_SIZES)


@st.composite
def float_arrays(draw: st.DrawFn, max_len: int = 300, record_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Random float64 arrays, optionally of records."""
    n = draw(st.integers(0, max_len))
    if record_shape is None:
        record_shape = draw(st.sampled_from([(), (), (3,), (2, 2)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.normal(size=(n, *record_shape)) * 10


def chunks_of(s: Stream) -> list[np.ndarray]:
    return list(s)


# --------------------------------------------------------------------------- map


@settings(deadline=None)
@given(float_arrays(), chunk_sizes)
def test_map_matches_numpy(x: np.ndarray, cs: int) -> None:
    out = from_array(x, chunk_size=cs).map(np.abs).map(lambda c: c * 2 + 1).to_array()
    np.testing.assert_array_equal(out, np.abs(x) * 2 + 1)
    assert out.dtype == x.dtype


def test_map_infers_dtype_and_record_shape_from_empty_chunk() -> None:
    s = from_array(np.arange(12, dtype=np.int32).reshape(4, 3)).map(lambda c: np.sqrt(c)[:, :2])
    assert s.dtype == np.float64
    assert s.record_shape == (2,)
    np.testing.assert_array_equal(s.to_array(), np.sqrt(np.arange(12).reshape(4, 3))[:, :2])


def test_map_falls_back_to_first_chunk_when_empty_call_fails() -> None:
    calls = []

    def normalise(c: np.ndarray) -> np.ndarray:
        calls.append(len(c))
        return (c / c.max()).astype(np.float32)  # c.max() raises on an empty chunk

    x = np.arange(1.0, 7.0)
    s = from_array(x, chunk_size=3).map(normalise)
    assert calls == [0]  # the empty probe, nothing read yet
    assert s.dtype == np.float32  # peeks at the first chunk
    assert s.record_shape == ()
    np.testing.assert_allclose(s.to_array(), np.r_[x[:3] / 3, x[3:] / 6].astype(np.float32))


def test_map_fallback_on_one_shot_source_does_not_lose_chunks() -> None:
    gen = (np.arange(i, i + 3, dtype=np.float64) + 1 for i in range(0, 9, 3))
    s = from_chunks(gen, dtype=np.float64).map(lambda c: c / c.max())
    assert s.dtype == np.float64
    out = s.to_array()
    assert len(out) == 9


def test_map_fallback_on_empty_stream_uses_input_meta() -> None:
    s = from_array(np.zeros((0, 2), np.int16)).map(lambda c: c / c.max())
    out = s.to_array()
    assert out.shape == (0, 2)


def test_map_must_keep_record_count() -> None:
    s = from_array(np.arange(10.0), chunk_size=4).map(lambda c: c[:-1])
    with pytest.raises(ValueError, match="filter"):
        s.to_array()


def test_map_returning_scalar_is_refused() -> None:
    s = from_array(np.arange(10.0), chunk_size=4).map(np.sum)
    with pytest.raises(ValueError, match="one output record per input record"):
        s.to_array()


def test_map_changing_dtype_midstream_is_an_error_unless_dtype_given() -> None:
    def f(c: np.ndarray) -> np.ndarray:
        return c if c[0] < 5 else c.astype(np.float32)

    x = np.arange(10.0)
    with pytest.raises(TypeError, match="dtype="):
        from_array(x, chunk_size=5).map(f).to_array()
    out = from_array(x, chunk_size=5).map(f, dtype=np.float64).to_array()
    np.testing.assert_array_equal(out, x)


def test_map_dtype_argument_casts() -> None:
    s = from_array(np.array([1.7, -2.2])).map(np.negative, dtype=np.int8)
    assert s.dtype == np.int8
    np.testing.assert_array_equal(s.to_array(), np.array([-1, 2], np.int8))


def test_map_changing_record_shape_midstream_is_an_error() -> None:
    def f(c: np.ndarray) -> np.ndarray:
        return c.reshape(len(c), 1) if len(c) == 4 else c.reshape(len(c), 1).repeat(2, axis=1)

    with pytest.raises(ValueError, match="record shape"):
        from_array(np.arange(6.0), chunk_size=4).map(f).to_array()


def test_map_rejects_non_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        from_array(np.arange(3)).map(3)  # type: ignore[arg-type]


def test_map_accepts_list_output() -> None:
    s = from_array(np.arange(3), chunk_size=2).map(lambda c: c.tolist())
    # Inference on the empty chunk fails (a list), so the first chunk decides.
    np.testing.assert_array_equal(s.to_array(), np.arange(3))


# --------------------------------------------------------------------------- filter


@settings(deadline=None)
@given(float_arrays(), chunk_sizes)
def test_filter_matches_numpy(x: np.ndarray, cs: int) -> None:
    if x.ndim == 1:
        pred = lambda c: c > 0
        ref = x[x > 0]
    else:
        axes = tuple(range(1, x.ndim))
        pred = lambda c: c.sum(axis=axes) > 0
        ref = x[x.sum(axis=axes) > 0]
    s = from_array(x, chunk_size=cs).filter(pred)
    chunks = list(s)
    assert all(len(c) > 0 for c in chunks), "empty chunks must be dropped"
    out = s.to_array()
    np.testing.assert_array_equal(out, ref)
    assert out.shape[1:] == x.shape[1:]


def test_filter_dropping_everything_gives_empty_stream_of_right_type() -> None:
    s = from_array(np.zeros((10, 3), np.float32), chunk_size=3).filter(lambda c: c[:, 0] > 1)
    assert list(s) == []
    out = s.to_array()
    assert out.shape == (0, 3) and out.dtype == np.float32


def test_filter_mask_must_be_boolean() -> None:
    with pytest.raises(TypeError, match="boolean mask"):
        from_array(np.arange(5)).filter(lambda c: c % 2).to_array()


def test_filter_mask_shape_checked_with_hint_for_records() -> None:
    with pytest.raises(ValueError, match=r"shape \(4,\).*got shape \(4, 2\).*all\(axis=1\)"):
        from_array(np.ones((4, 2))).filter(lambda c: c > 0).to_array()
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        from_array(np.arange(5)).filter(lambda c: np.ones(3, bool)).to_array()


def test_filter_accepts_list_mask() -> None:
    out = from_array(np.arange(3)).filter(lambda c: [True, False, True]).to_array()
    np.testing.assert_array_equal(out, [0, 2])


# --------------------------------------------------------------------------- astype


@settings(deadline=None)
@given(float_arrays(), chunk_sizes)
def test_astype_matches_numpy(x: np.ndarray, cs: int) -> None:
    s = from_array(x, chunk_size=cs).astype(np.float32)
    assert s.dtype == np.float32
    np.testing.assert_array_equal(s.to_array(), x.astype(np.float32))


def test_astype_casting_rule_checked_up_front() -> None:
    with pytest.raises(TypeError, match="cannot cast float64 to int32"):
        from_array(np.arange(3.0)).astype(np.int32, casting="safe")
    with pytest.raises(ValueError, match="casting"):
        from_array(np.arange(3.0)).astype(np.int32, casting="sloppy")


def test_astype_same_dtype_adds_no_stage() -> None:
    s = from_array(np.arange(3.0))
    assert s.astype(np.float64)._node.fns == ()


# --------------------------------------------------------------------------- select


@pytest.mark.parametrize(
    "columns, ref",
    [
        (0, lambda x: x[:, 0]),
        (-1, lambda x: x[:, -1]),
        ([0, 2], lambda x: x[:, [0, 2]]),
        ([3, 1, 0], lambda x: x[:, [3, 1, 0]]),
        ([2, 1, 0], lambda x: x[:, [2, 1, 0]]),
        ([-1], lambda x: x[:, [-1]]),
        (slice(1, None), lambda x: x[:, 1:]),
        (slice(None, None, -2), lambda x: x[:, ::-2]),
        (np.array([1, 3]), lambda x: x[:, [1, 3]]),
    ],
)
@pytest.mark.parametrize("cs", [1, 3, 100])
def test_select_matches_numpy(columns: object, ref: object, cs: int) -> None:
    x = np.arange(40.0).reshape(10, 4)
    s = from_array(x, chunk_size=cs).select(columns)  # type: ignore[arg-type]
    expected = ref(x)  # type: ignore[operator]
    assert s.record_shape == expected.shape[1:]
    np.testing.assert_array_equal(s.to_array(), expected)


def test_select_arithmetic_progression_is_a_view() -> None:
    x = np.arange(40.0).reshape(5, 8)
    for cols in ([0, 2, 4], [1, 2, 3], [5, 3, 1], [2, 1, 0]):
        chunk = next(iter(from_array(x).select(cols)))
        assert np.shares_memory(chunk, x), cols
        np.testing.assert_array_equal(chunk, x[:, cols])


def test_select_on_higher_rank_records() -> None:
    x = np.arange(60).reshape(5, 3, 4)
    s = from_array(x, chunk_size=2).select(1)
    assert s.record_shape == (4,)
    np.testing.assert_array_equal(s.to_array(), x[:, 1])


def test_select_errors() -> None:
    with pytest.raises(ValueError, match="scalar records"):
        from_array(np.arange(3)).select(0)
    with pytest.raises(IndexError, match="column 4 is out of range"):
        from_array(np.zeros((2, 4))).select(4)
    with pytest.raises(IndexError, match="column -5"):
        from_array(np.zeros((2, 4))).select([0, -5])
    with pytest.raises(TypeError, match="integers"):
        from_array(np.zeros((2, 4))).select([0.5])
    with pytest.raises(TypeError, match="integers"):
        from_array(np.zeros((2, 4))).select([True, False])
    with pytest.raises(KeyError, match="no column names"):
        from_array(np.zeros((2, 4))).select("a")
    with pytest.raises(KeyError, match="no column named 'z'"):
        from_array(np.zeros((2, 4)), columns=list("abcd")).select(["a", "z"])
    with pytest.raises(ValueError, match="empty"):
        from_array(np.zeros((2, 4))).select([])
    with pytest.raises(ValueError, match="no column"):
        from_array(np.zeros((2, 4))).select(slice(4, None))


# --------------------------------------------------------------------------- take / skip / rechunk


@settings(deadline=None)
@given(float_arrays(), chunk_sizes, st.integers(0, 400))
def test_take_matches_slicing(x: np.ndarray, cs: int, n: int) -> None:
    np.testing.assert_array_equal(from_array(x, chunk_size=cs).take(n).to_array(), x[:n])


@settings(deadline=None)
@given(float_arrays(), chunk_sizes, st.integers(0, 400))
def test_skip_matches_slicing(x: np.ndarray, cs: int, n: int) -> None:
    np.testing.assert_array_equal(from_array(x, chunk_size=cs).skip(n).to_array(), x[n:])


@settings(deadline=None)
@given(float_arrays(), chunk_sizes, st.sampled_from(CHUNK_SIZES))
def test_rechunk_sizes_exact_except_last(x: np.ndarray, cs: int, size: int) -> None:
    chunks = list(from_array(x, chunk_size=cs).rechunk(size))
    sizes = [len(c) for c in chunks]
    if len(x):
        assert all(k == size for k in sizes[:-1])
        assert 1 <= sizes[-1] <= size
    else:
        assert sizes == []
    out = np.concatenate(chunks) if chunks else np.empty((0, *x.shape[1:]))
    np.testing.assert_array_equal(out, x)


def test_rechunk_inside_one_chunk_gives_views() -> None:
    x = np.arange(100.0)
    chunks = list(from_array(x, chunk_size=50).rechunk(10))
    assert all(np.shares_memory(c, x) for c in chunks)


def test_take_stops_pulling_an_infinite_source() -> None:
    pulled = []

    def naturals():
        for i in itertools.count():
            pulled.append(i)
            yield i

    s = from_iterable(naturals(), np.int64, chunk_size=10).take(25)
    np.testing.assert_array_equal(s.to_array(), np.arange(25))
    assert len(pulled) == 30  # three batches of 10, never a fourth


def test_take_does_not_pull_the_next_chunk_after_the_last() -> None:
    pulled = []

    def chunks():
        for i in itertools.count():
            pulled.append(i)
            yield np.full(5, i)

    out = Stream(chunks, np.int64, one_shot=True).take(10).to_array()
    np.testing.assert_array_equal(out, np.repeat([0, 1], 5))
    assert pulled == [0, 1]


def test_take_zero_pulls_nothing() -> None:
    pulled = []

    def chunks():
        pulled.append(1)
        yield np.arange(3)

    assert Stream(chunks, np.int64).take(0).to_array().shape == (0,)
    assert pulled == []


@pytest.mark.parametrize("method", ["take", "skip"])
def test_counts_are_validated(method: str) -> None:
    s = from_array(np.arange(3))
    with pytest.raises(ValueError, match=">= 0"):
        getattr(s, method)(-1)
    with pytest.raises(TypeError, match="integer"):
        getattr(s, method)(1.5)
    with pytest.raises(TypeError, match="integer"):
        getattr(s, method)(True)


def test_rechunk_size_validated() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        from_array(np.arange(3)).rechunk(0)


def test_structural_generators_directly() -> None:
    parts = [np.arange(3), np.arange(3, 4), np.arange(4, 9)]
    assert [c.tolist() for c in structural.take(iter(parts), 5)] == [[0, 1, 2], [3], [4]]
    assert [c.tolist() for c in structural.skip(iter(parts), 3)] == [[3], [4, 5, 6, 7, 8]]
    assert [c.tolist() for c in structural.rechunk(iter(parts), 4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8]]


def test_take_closes_upstream_file_early(tmp_path) -> None:
    from pystream.sources import from_file

    path = tmp_path / "x.bin"
    np.arange(1000, dtype=np.float64).tofile(path)
    it = iter(from_file(path, np.float64, chunk_size=10).take(15))
    assert len(list(it)) == 2  # generator finished; upstream file closed in finally


# --------------------------------------------------------------------------- pipelines


OPS = st.lists(
    st.sampled_from(["abs", "filter", "astype32", "take", "skip", "rechunk", "square"]),
    max_size=6,
)


@settings(deadline=None, max_examples=150)
@given(float_arrays(record_shape=()), chunk_sizes, OPS, st.integers(0, 200), st.sampled_from(CHUNK_SIZES))
def test_random_pipeline_matches_numpy_and_is_chunk_invariant(
    x: np.ndarray, cs: int, ops: list[str], n: int, size: int
) -> None:
    s = from_array(x, chunk_size=cs)
    ref = x
    for op in ops:
        if op == "abs":
            s, ref = s.map(np.abs), np.abs(ref)
        elif op == "square":
            s, ref = s.map(np.square), np.square(ref)
        elif op == "filter":
            s, ref = s.filter(lambda c: c > 1), ref[ref > 1]
        elif op == "astype32":
            s, ref = s.astype(np.float32), ref.astype(np.float32)
        elif op == "take":
            s, ref = s.take(n), ref[:n]
        elif op == "skip":
            s, ref = s.skip(n // 3), ref[n // 3 :]
        elif op == "rechunk":
            s = s.rechunk(size)
    out = s.to_array()
    assert out.dtype == ref.dtype == s.dtype
    np.testing.assert_array_equal(out, ref)
    offsets = [o for o, _ in s.chunks_with_offsets()]
    lengths = [len(c) for c in s]
    assert offsets == list(np.cumsum([0] + lengths[:-1])) if lengths else offsets == []


# --------------------------------------------------------------------------- fusion


def test_stateless_stages_are_fused_into_one_tuple() -> None:
    s = from_array(np.arange(10.0))
    t = s.map(np.abs).filter(lambda c: c > 1).astype(np.float32).map(np.sqrt)
    assert len(t._node.fns) == 4
    assert [type(f) for f in t._node.fns] == [
        elementwise.MapFn,
        elementwise.FilterFn,
        elementwise.AstypeFn,
        elementwise.MapFn,
    ]
    assert s._node.fns == ()  # parent untouched
    u = t.take(3)
    assert u._node.fns == ()  # a structural stage starts a new fused run
    assert len(u.map(np.negative)._node.fns) == 1


def _generator_depth() -> int:
    """Number of generator frames on the stack (the generator hops)."""
    return sum(1 for fi in inspect.stack(0) if fi.frame.f_code.co_flags & inspect.CO_GENERATOR)


@pytest.mark.parametrize("nstages", [1, 2, 5, 10])
def test_fused_stages_cost_one_generator_hop(nstages: int) -> None:
    # When the source produces a chunk, every generator between it and the
    # consumer is on the stack: with fusion that is the source plus one loop.
    depths = []

    def source():
        for i in range(3):
            depths.append(_generator_depth())
            yield np.arange(4.0) + i

    s = Stream(source, np.float64)
    for i in range(nstages):
        s = s.map(np.negative) if i % 2 else s.filter(lambda c: c >= 0)
    assert len(s._node.fns) == nstages
    list(s)
    assert depths == [2, 2, 2]
    # a structural stage adds exactly one hop (and starts a new fused run)
    depths.clear()
    list(s.take(100).map(np.negative).map(np.negative))
    assert depths == [4, 4, 4]


def test_parent_stream_is_not_mutated_by_stages() -> None:
    x = np.arange(10.0)
    s = from_array(x, chunk_size=3)
    s.map(np.negative)
    s.filter(lambda c: c > 3)
    s.take(2)
    np.testing.assert_array_equal(s.to_array(), x)
