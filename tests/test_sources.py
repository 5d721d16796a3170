"""Source factories: from_array, from_chunks, from_iterable, from_npy, from_file, from_text."""

from __future__ import annotations

import gzip
import io
import itertools
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystream import sources
from pystream._config import DEFAULT_CHUNK_BYTES, default_chunk_size
from pystream._npy import READ_BYTES
from pystream.sources import (
    from_array,
    from_chunks,
    from_file,
    from_iterable,
    from_npy,
    from_text,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHUNK_SIZES = (1, 2, 3, 5, 7, 13, 31, 97, 1009, 100_003)
chunk_sizes = st.sampled_from(CHUNK_SIZES)


# --------------------------------------------------------------------------- _config


def test_default_chunk_size() -> None:
    assert default_chunk_size(np.float64) == DEFAULT_CHUNK_BYTES // 8
    assert default_chunk_size(np.float32, (4,)) == DEFAULT_CHUNK_BYTES // 16
    assert default_chunk_size(np.float64, (10**9,)) == 1
    assert default_chunk_size(np.float64, (0,)) >= 1
    with pytest.raises(ValueError):
        default_chunk_size(np.float64, (-1,))


def test_default_chunk_size_follows_config_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from pystream import _config

    monkeypatch.setattr(_config, "DEFAULT_CHUNK_BYTES", 80)
    assert [len(c) for c in from_array(np.arange(25.0))] == [10, 10, 5]


# --------------------------------------------------------------------------- from_array


@settings(deadline=None)
@given(st.integers(0, 200), chunk_sizes)
def test_from_array_chunks_are_zero_copy_views(n: int, cs: int) -> None:
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    s = from_array(x, chunk_size=cs)
    assert s.dtype == np.float32 and s.record_shape == (3,)
    chunks = list(s)
    assert [len(c) for c in chunks] == [min(cs, n - i) for i in range(0, n, cs)]
    for i, c in enumerate(chunks):
        assert np.shares_memory(c, x)
        np.testing.assert_array_equal(c, x[i * cs : (i + 1) * cs])


def test_from_array_strided_and_byteswapped_input() -> None:
    x = np.arange(20.0).astype(">f8")[::2]
    chunks = list(from_array(x, chunk_size=4))
    assert all(np.shares_memory(c, x) for c in chunks)
    assert chunks[0].dtype == np.dtype(">f8")
    np.testing.assert_array_equal(np.concatenate(chunks), x)


def test_from_array_accepts_array_likes() -> None:
    s = from_array([[1, 2], [3, 4], [5, 6]], chunk_size=2)
    assert s.record_shape == (2,)
    np.testing.assert_array_equal(s.to_array(), [[1, 2], [3, 4], [5, 6]])


def test_from_array_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="0-d"):
        from_array(np.float64(3.0))
    with pytest.raises(ValueError, match="0-d"):
        from_array(5)
    with pytest.raises(TypeError, match="object"):
        from_array(np.array([1, "a"], dtype=object))
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        from_array(np.arange(3), chunk_size=0)
    with pytest.raises(TypeError, match="chunk_size must be an integer"):
        from_array(np.arange(3), chunk_size=2.0)


def test_from_array_is_lazy_and_reiterable() -> None:
    x = np.arange(10)
    s = from_array(x, chunk_size=4)
    x[0] = 100  # views: the stream sees the array as it is at iteration time
    assert s.to_array()[0] == 100
    np.testing.assert_array_equal(s.to_array(), s.to_array())


# --------------------------------------------------------------------------- from_chunks


def test_from_chunks_list_is_reiterable() -> None:
    parts = [np.arange(3.0), np.arange(3.0, 5.0)]
    s = from_chunks(parts)
    assert not s.one_shot
    np.testing.assert_array_equal(s.to_array(), np.arange(5.0))
    np.testing.assert_array_equal(s.to_array(), np.arange(5.0))
    first = next(iter(s))  # no copies: a read-only view of the caller's chunk
    assert first.base is parts[0] and not first.flags.writeable


def test_from_chunks_generator_is_one_shot_and_peek_keeps_first_chunk() -> None:
    pulled = []

    def gen():
        for i in range(4):
            pulled.append(i)
            yield np.full((2, 3), i, np.int16)

    s = from_chunks(gen())
    assert pulled == []  # lazy
    assert s.dtype == np.int16 and s.record_shape == (3,)
    assert pulled == [0]  # peeked one chunk only
    out = s.to_array()
    assert out.shape == (8, 3)
    np.testing.assert_array_equal(out[:, 0], np.repeat(np.arange(4), 2))
    with pytest.raises(RuntimeError, match="one-shot"):
        s.to_array()


def test_from_chunks_dtype_mismatch_names_chunk_and_offset() -> None:
    parts = [np.zeros(3), np.zeros(4), np.zeros(2, np.float32)]
    with pytest.raises(TypeError, match=r"chunk 2 \(record offset 7\) has dtype float32, expected float64"):
        from_chunks(parts).to_array()
    with pytest.raises(TypeError, match=r"chunk 0 \(record offset 0\) has dtype float64, expected int32"):
        from_chunks(parts, dtype=np.int32).to_array()


def test_from_chunks_record_shape_mismatch_names_chunk_and_offset() -> None:
    parts = [np.zeros((2, 3)), np.zeros((5, 3)), np.zeros((1, 4))]
    with pytest.raises(ValueError, match=r"chunk 2 \(record offset 7\).*expected record shape \(3,\)"):
        from_chunks(parts).to_array()
    with pytest.raises(ValueError, match=r"chunk 0 .*expected record shape \(4,\)"):
        from_chunks(parts, record_shape=(4,)).to_array()
    with pytest.raises(ValueError, match="0-d"):
        from_chunks([np.zeros(2), np.float64(1)]).to_array()


def test_from_chunks_one_shot_with_inferred_meta_and_rechunk() -> None:
    gen = (np.full((5, 2), i, np.float32) for i in range(3))
    s = from_chunks(gen, chunk_size=4)
    assert s.one_shot
    assert s.record_shape == (2,) and s.dtype == np.float32
    pairs = [(o, len(c)) for o, c in s.chunks_with_offsets()]
    assert pairs == [(0, 4), (4, 4), (8, 4), (12, 3)]
    with pytest.raises(RuntimeError, match="one-shot"):
        s.to_array()


def test_from_chunks_converts_lists_with_given_dtype() -> None:
    s = from_chunks([[1, 2], [3]], dtype=np.float32)
    out = s.to_array()
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [1, 2, 3])


@settings(deadline=None)
@given(st.lists(st.integers(0, 20), max_size=12), st.sampled_from([1, 3, 8, 1000]))
def test_from_chunks_rechunks_exactly(sizes: list[int], cs: int) -> None:
    total = sum(sizes)
    x = np.arange(total * 2).reshape(total, 2)
    parts = np.split(x, np.cumsum(sizes)[:-1]) if sizes else []
    s = from_chunks(iter(parts), dtype=x.dtype, record_shape=(2,), chunk_size=cs)
    got = list(s)
    assert all(len(c) == cs for c in got[:-1])
    np.testing.assert_array_equal(np.concatenate(got) if got else np.empty((0, 2), int), x)


def test_from_chunks_empty_and_bad_input() -> None:
    assert from_chunks([]).to_array().dtype == np.float64
    s = from_chunks([np.zeros((0, 5), np.int8)])
    assert s.dtype == np.int8 and s.record_shape == (5,)
    assert s.to_array().shape == (0, 5)
    with pytest.raises(TypeError, match="from_array"):
        from_chunks(np.zeros((3, 2)))
    with pytest.raises(TypeError, match="iterable"):
        from_chunks(5)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- from_iterable


@settings(deadline=None)
@given(st.lists(st.floats(allow_nan=False), max_size=100), chunk_sizes)
def test_from_iterable_scalars(values: list[float], cs: int) -> None:
    s = from_iterable(iter(values), np.float64, chunk_size=cs)
    out = s.to_array()
    np.testing.assert_array_equal(out, np.array(values, dtype=np.float64))
    assert out.shape == (len(values),)


def test_from_iterable_records() -> None:
    recs = [(i, i * 2, i * 3) for i in range(10)]
    s = from_iterable(recs, np.int32, record_shape=(3,), chunk_size=4)
    assert not s.one_shot  # a list can be read again
    np.testing.assert_array_equal(s.to_array(), np.array(recs, np.int32))
    np.testing.assert_array_equal(s.to_array(), np.array(recs, np.int32))
    assert [len(c) for c in s] == [4, 4, 2]


@pytest.mark.parametrize(
    "records, match",
    [
        ([[1, 2], [3, 4], [5]], r"record 2 .*has shape \(1,\), expected record_shape \(2,\)"),
        ([[1, 2], [3, 4], 5], r"record 2 .*has a scalar, expected record_shape \(2,\)"),
        ([[1, 2], [3, [4, 5]]], r"record 1 is ragged"),
        ([[1, 2], [3, 4], [5, 6, 7]], r"record 2 .*has shape \(3,\)"),
        ([[1, 2], [3, "x"]], r"record 1 .*cannot be converted to float64"),
    ],
)
def test_from_iterable_bad_records_name_the_record(records: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        from_iterable(records, np.float64, record_shape=(2,)).to_array()


def test_from_iterable_bad_record_in_a_later_chunk_has_global_index() -> None:
    values = [1.0] * 25 + [[1.0, 2.0]] + [1.0] * 5
    with pytest.raises(ValueError, match=r"record 25 .*has shape \(2,\), expected a scalar"):
        from_iterable(values, np.float64, chunk_size=10).to_array()
    with pytest.raises(ValueError, match="record 3 .*cannot be converted"):
        from_iterable([1, 2, 3, "abc"], np.float64).to_array()


def test_from_iterable_infinite_with_take() -> None:
    s = from_iterable(itertools.count(), np.int64, chunk_size=7)
    np.testing.assert_array_equal(s.take(20).to_array(), np.arange(20))


def test_from_iterable_argument_errors() -> None:
    with pytest.raises(TypeError, match="dtype is required"):
        from_iterable([1, 2], None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="object"):
        from_iterable([1, 2], object)
    with pytest.raises(TypeError, match="record_shape=\\(3,\\)"):
        from_iterable([1, 2], np.dtype((np.float64, 3)))
    with pytest.raises(TypeError, match="iterable"):
        from_iterable(5, np.float64)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="from_array"):
        from_iterable(np.arange(3), np.float64)


# --------------------------------------------------------------------------- from_npy


def _is_mmap_backed(a: np.ndarray) -> bool:
    import mmap

    base = a
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return isinstance(base, mmap.mmap)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", ["<f8", ">f4", "<i2"])
def test_from_npy_reads_chunks_into_buffers(tmp_path, order: str, dtype: str) -> None:
    """Chunks are read (not views of a memory map, whose pages would stay
    resident): same values, dtype and memory order as the saved array."""
    x = np.asarray(np.arange(300).reshape(100, 3), dtype=dtype, order=order)
    path = tmp_path / "x.npy"
    np.save(path, x)
    s = from_npy(path, chunk_size=7)
    assert s.dtype == np.dtype(dtype) and s.record_shape == (3,)
    chunks = list(s)
    assert all(type(c) is np.ndarray and c.dtype == np.dtype(dtype) for c in chunks)
    assert not any(_is_mmap_backed(c) for c in chunks)
    assert all(c.flags.f_contiguous if order == "F" else c.flags.c_contiguous for c in chunks)
    np.testing.assert_array_equal(np.concatenate(chunks), x)


def _npy_file(tmp_path, x: np.ndarray):
    path = tmp_path / "x.npy"
    np.save(path, x)
    return path


def test_from_npy_reuses_its_buffers_when_free(tmp_path) -> None:
    x = np.arange(5 * READ_BYTES // 8, dtype=np.int64)
    path = _npy_file(tmp_path, x)
    buffers = set()
    total = 0
    for c in from_npy(path, chunk_size=1000):
        buffers.add(_owner_address(c))
        total += int(c.sum())
    assert total == int(x.sum())
    assert len(buffers) <= 3  # a couple of buffers recycled, not one per read
    # kept chunks are never overwritten
    np.testing.assert_array_equal(np.concatenate(list(from_npy(path, chunk_size=1000))), x)


def test_from_npy_reads_header_only_until_iteration(tmp_path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.arange(10.0))
    s = from_npy(path)
    np.save(path, np.arange(10.0) + 1)  # same shape, new data: seen at iteration
    np.testing.assert_array_equal(s.to_array(), np.arange(10.0) + 1)
    np.save(path, np.arange(11.0))
    with pytest.raises(ValueError, match="changed"):
        s.to_array()


def test_from_npy_empty_and_records(tmp_path) -> None:
    path = tmp_path / "e.npy"
    np.save(path, np.zeros((0, 4), np.int32))
    s = from_npy(path)
    assert s.to_array().shape == (0, 4)
    assert s.to_array().dtype == np.int32


def test_from_npy_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.npy"):
        from_npy(tmp_path / "nope.npy")
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([1, "a"], dtype=object), allow_pickle=True)
    with pytest.raises(TypeError, match="Python objects"):
        from_npy(obj)
    pkl = tmp_path / "p.npy"
    import pickle

    pkl.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(ValueError, match="p.npy.*not a valid .npy"):
        from_npy(pkl)
    npz = tmp_path / "a.npz"
    np.savez(npz, a=np.arange(3))
    with pytest.raises(ValueError, match="npz"):
        from_npy(npz)
    zero = tmp_path / "z.npy"
    np.save(zero, np.float64(3))
    with pytest.raises(ValueError, match="0-d"):
        from_npy(zero)
    txt = tmp_path / "t.npy"
    txt.write_text("hello")
    with pytest.raises(ValueError, match="not a valid .npy"):
        from_npy(txt)


# --------------------------------------------------------------------------- from_file


@given(st.integers(0, 300), chunk_sizes, st.sampled_from([(), (3,), (2, 2)]))
@settings(deadline=None, max_examples=40)
def test_from_file_roundtrip(tmp_path_factory, n: int, cs: int, rs: tuple[int, ...]) -> None:
    path = tmp_path_factory.mktemp("f") / "x.bin"
    x = np.random.default_rng(n).normal(size=(n, *rs))
    x.tofile(path)
    s = from_file(path, np.float64, record_shape=rs, chunk_size=cs)
    np.testing.assert_array_equal(s.to_array(), x)
    np.testing.assert_array_equal(s.to_array(), x)  # re-iterable
    assert [o for o, _ in s.chunks_with_offsets()] == list(range(0, n, cs))


def test_from_file_list_of_chunks_is_never_overwritten(tmp_path) -> None:
    path = tmp_path / "x.bin"
    x = np.arange(1000, dtype=np.int64)
    x.tofile(path)
    chunks = list(from_file(path, np.int64, chunk_size=10))
    assert len(chunks) == 100
    np.testing.assert_array_equal(np.concatenate(chunks), x)
    # also when chunks are kept through later stages (views of the buffers)
    kept = list(from_file(path, np.int64, chunk_size=10).map(lambda c: c[:, None]).select(0))
    np.testing.assert_array_equal(np.concatenate(kept), x)
    # and when a partially consumed chunk is held by rechunk
    got = from_file(path, np.int64, chunk_size=7).rechunk(10).to_array()
    np.testing.assert_array_equal(got, x)


def _owner_address(a: np.ndarray) -> int:
    """Address of the buffer a chunk is a view of."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a.__array_interface__["data"][0]


# Files of several reads: the readers fill READ_BYTES (several chunks) per read.
MANY_READS = 5 * READ_BYTES // 8


def test_from_file_buffers_are_reused_when_free(tmp_path) -> None:
    path = tmp_path / "x.bin"
    np.arange(MANY_READS, dtype=np.int64).tofile(path)
    buffers = set()
    total = 0
    for c in from_file(path, np.int64, chunk_size=1000):
        buffers.add(_owner_address(c))
        total += int(c.sum())
    assert total == sum(range(MANY_READS))
    assert len(buffers) <= 3  # a couple of buffers recycled, not one per read


def test_from_file_reuse_safety_test_can_fail(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a pool that ignores references, list(stream) returns overwritten chunks."""
    path = tmp_path / "x.bin"
    x = np.arange(MANY_READS, dtype=np.int64)
    x.tofile(path)

    def reckless_get(self, nbytes=None):
        if not self._bufs:
            self._bufs.append(np.empty(self.nbytes, np.uint8))
        return self._bufs[0]

    monkeypatch.setattr(sources.BufferPool, "get", reckless_get)
    chunks = list(from_file(path, np.int64, chunk_size=1000))
    assert not np.array_equal(np.concatenate(chunks), x)
    chunks = list(from_npy(_npy_file(tmp_path, x), chunk_size=1000))
    assert not np.array_equal(np.concatenate(chunks), x)


def test_from_file_offset_and_record_shape(tmp_path) -> None:
    path = tmp_path / "x.bin"
    header = b"HEADER!!"
    x = np.arange(24, dtype="<u2").reshape(4, 2, 3)
    path.write_bytes(header + x.tobytes())
    s = from_file(path, "<u2", record_shape=(2, 3), offset=len(header), chunk_size=3)
    np.testing.assert_array_equal(s.to_array(), x)
    with pytest.raises(ValueError, match="beyond the end"):
        from_file(path, "<u2", offset=1000).to_array()


def test_from_file_big_endian(tmp_path) -> None:
    path = tmp_path / "x.bin"
    x = np.arange(10, dtype=">f8")
    x.tofile(path)
    out = from_file(path, ">f8", chunk_size=3).to_array()
    assert out.dtype == np.dtype(">f8")
    np.testing.assert_array_equal(out, x)


def test_from_file_trailing_partial_record(tmp_path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(np.arange(10, dtype=np.float64).tobytes() + b"\x01\x02\x03")
    s = from_file(path, np.float64, chunk_size=4)
    with pytest.raises(ValueError, match=r"partial record of 3 bytes at byte offset 80 .*8 bytes"):
        s.to_array()
    # complete records come out before the error
    it = iter(s)
    assert sum(len(c) for c in itertools.islice(it, 3)) == 10
    with pytest.raises(ValueError, match="byte offset 80"):
        next(it)
    path.write_bytes(b"\x00" * 22)
    with pytest.raises(ValueError, match=r"partial record of 2 bytes at byte offset 20 .*12 bytes"):
        from_file(path, np.float32, record_shape=(3,), offset=8).to_array()


def test_from_file_is_lazy(tmp_path) -> None:
    path = tmp_path / "x.bin"
    np.arange(5.0).tofile(path)
    s = from_file(path, np.float64)
    np.arange(7.0).tofile(path)
    np.testing.assert_array_equal(s.to_array(), np.arange(7.0))


def test_from_file_object_is_one_shot(tmp_path) -> None:
    x = np.arange(20, dtype=np.int32)
    f = io.BytesIO(b"xx" + x.tobytes())
    f.read(2)  # read from the current position
    s = from_file(f, np.int32, chunk_size=6)
    assert s.one_shot
    np.testing.assert_array_equal(s.to_array(), x)
    with pytest.raises(RuntimeError, match="one-shot"):
        s.to_array()
    assert not f.closed


def test_from_file_object_with_read_only_and_short_reads() -> None:
    x = np.arange(50, dtype=np.float64)

    class Trickle:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def read(self, n: int) -> bytes:  # at most 5 bytes per call, no readinto
            out, self.data = self.data[: min(n, 5)], self.data[min(n, 5) :]
            return out

    np.testing.assert_array_equal(from_file(Trickle(x.tobytes()), np.float64, chunk_size=8).to_array(), x)


def test_from_file_stdin_monkeypatched(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.arange(12, dtype=np.int16)

    class FakeStdin:
        buffer = io.BytesIO(x.tobytes())

    monkeypatch.setattr(sys, "stdin", FakeStdin())
    s = from_file("-", np.int16, record_shape=(3,))
    assert s.one_shot
    np.testing.assert_array_equal(s.to_array(), x.reshape(4, 3))


def test_from_file_stdin_pipe() -> None:
    x = np.arange(100_000, dtype=np.float64)
    code = "from pystream.sources import from_file; print(float(from_file('-', 'f8', chunk_size=1000).to_array().sum()))"
    r = subprocess.run(
        [sys.executable, "-c", code], input=x.tobytes(), capture_output=True, cwd=REPO, timeout=60, check=False
    )
    assert r.returncode == 0, r.stderr.decode()
    assert float(r.stdout) == x.sum()


def test_from_file_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.bin"):
        from_file(tmp_path / "missing.bin", np.float64)
    with pytest.raises(IsADirectoryError):
        from_file(tmp_path, np.float64)
    path = tmp_path / "x.bin"
    path.write_bytes(b"")
    assert from_file(path, np.float64).to_array().shape == (0,)
    with pytest.raises(TypeError, match="binary mode"):
        from_file(io.StringIO("abc"), np.float64)
    with pytest.raises(TypeError, match="dtype is required"):
        from_file(path, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="object"):
        from_file(path, object)
    with pytest.raises(ValueError, match="zero bytes"):
        from_file(path, np.float64, record_shape=(0,))
    with pytest.raises(ValueError, match="offset must be >= 0"):
        from_file(path, np.float64, offset=-1)
    with pytest.raises(TypeError, match="expected a path"):
        from_file(3.5, np.float64)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- from_text


def _write(tmp_path, text: str, name: str = "t.txt"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("block", [1, 2, 3, 1000])
def test_from_text_csv_matches_loadtxt(tmp_path, block: int) -> None:
    path = _write(
        tmp_path,
        """\
        # a, b, c
        1.5,2,3
        4,5,6   # trailing comment

        7,8,9e3
        -1,-2,-3
        """,
    )
    s = from_text(path, delimiter=",", chunk_size=block)
    ref = np.loadtxt(path, delimiter=",")
    assert s.record_shape == (3,)
    np.testing.assert_array_equal(s.to_array(), ref)
    assert all(len(c) <= block for c in s)


def test_from_text_whitespace_single_column_is_scalar_stream(tmp_path) -> None:
    path = _write(tmp_path, "1\n  2\n\t3\n# x\n4\n")
    s = from_text(path, chunk_size=2)
    assert s.record_shape == ()
    np.testing.assert_array_equal(s.to_array(), [1, 2, 3, 4])


def test_from_text_usecols_skiprows_dtype(tmp_path) -> None:
    path = _write(tmp_path, "x y z\n1 2 3\n4 5 6\n7 8 9\n")
    s = from_text(path, usecols=[0, 2], skiprows=1, dtype=np.int32, chunk_size=2)
    assert s.dtype == np.int32 and s.record_shape == (2,)  # known without reading
    np.testing.assert_array_equal(s.to_array(), np.loadtxt(path, usecols=[0, 2], skiprows=1, dtype=np.int32))
    one = from_text(path, usecols=1, skiprows=1)
    assert one.record_shape == ()
    np.testing.assert_array_equal(one.to_array(), [2, 5, 8])
    assert from_text(path, usecols=[1], skiprows=1).record_shape == ()


def test_from_text_custom_comments(tmp_path) -> None:
    path = _write(tmp_path, "% header\n1;2\n// note\n3;4\n")
    s = from_text(path, delimiter=";", comments=["%", "//"])
    np.testing.assert_array_equal(s.to_array(), [[1, 2], [3, 4]])


@pytest.mark.parametrize("block", [1, 2, 4, 5, 100])
def test_from_text_bad_value_reports_global_line_number(tmp_path, block: int) -> None:
    lines = ["# header", "1,2", "", "3,4", "# c", "5,6", "7,oops", "9,10"]
    path = _write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"line 7: could not convert 'oops' to float64 in column 1 \(0-based\)") as e:
        from_text(path, delimiter=",", chunk_size=block).to_array()
    assert "at row" not in str(e.value)
    assert "'7,oops'" in str(e.value)


@pytest.mark.parametrize("block", [1, 2, 3, 100])
def test_from_text_column_count_change_reports_line(tmp_path, block: int) -> None:
    path = _write(tmp_path, "1 2\n3 4\n\n5 6 7\n8 9\n")
    with pytest.raises(ValueError, match=r"line 4: 3 fields, expected 2 \(as on line 1"):
        from_text(path, chunk_size=block).to_array()


def test_from_text_skiprows_count_in_line_numbers(tmp_path) -> None:
    path = _write(tmp_path, "title\nunits\n1\n2\nbad\n")
    with pytest.raises(ValueError, match="line 5"):
        from_text(path, skiprows=2, chunk_size=2).to_array()


@settings(deadline=None, max_examples=40)
@given(
    st.lists(st.lists(st.integers(-1000, 1000), min_size=3, max_size=3), max_size=40),
    st.lists(st.integers(0, 39), max_size=5),
    st.sampled_from([1, 2, 3, 7, 1000]),
    st.sampled_from([",", None]),
)
def test_from_text_random_tables_match_loadtxt(rows, comment_at, block, delim) -> None:
    sep = delim or " "
    lines = [sep.join(str(v) for v in r) for r in rows]
    for i in sorted(comment_at, reverse=True):
        lines.insert(min(i, len(lines)), "# comment")
    text = "\n".join(lines) + "\n"
    s = from_text(io.StringIO(text), delimiter=delim, chunk_size=block)
    out = s.to_array()
    if rows:
        ref = np.loadtxt(io.StringIO(text), delimiter=delim, ndmin=2)
        np.testing.assert_array_equal(out, ref)
    else:
        assert out.shape == (0,)


def test_from_text_gzip(tmp_path) -> None:
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("1,2\n3,4\n")
    np.testing.assert_array_equal(from_text(path, delimiter=",").to_array(), [[1, 2], [3, 4]])


def test_from_text_file_objects_and_lines() -> None:
    s = from_text(io.StringIO("1 2\n3 4\n"))
    assert s.one_shot
    np.testing.assert_array_equal(s.to_array(), [[1, 2], [3, 4]])
    with pytest.raises(RuntimeError, match="one-shot"):
        s.to_array()
    b = from_text(io.BytesIO(b"5\n6\n"))
    np.testing.assert_array_equal(b.to_array(), [5, 6])
    lst = from_text(["1,2\n", "3,4\n"], delimiter=",")
    assert not lst.one_shot
    np.testing.assert_array_equal(lst.to_array(), lst.to_array())


def test_from_text_record_shape_peek_does_not_consume_one_shot() -> None:
    s = from_text(io.StringIO("1 2 3\n4 5 6\n7 8 9\n"), chunk_size=1)
    assert s.record_shape == (3,)
    np.testing.assert_array_equal(s.to_array(), np.arange(1, 10).reshape(3, 3))


def test_from_text_stdin_monkeypatched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("1\n2\n# x\n3\n"))
    s = from_text("-")
    assert s.one_shot
    np.testing.assert_array_equal(s.to_array(), [1, 2, 3])


def test_from_text_stdin_pipe() -> None:
    code = "from pystream.sources import from_text; print(from_text('-', delimiter=',').to_array().sum(axis=0).tolist())"
    r = subprocess.run(
        [sys.executable, "-c", code], input=b"1,2\n3,4\n5,6\n", capture_output=True, cwd=REPO, timeout=60, check=False
    )
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().strip() == "[9.0, 12.0]"


def test_from_text_empty_input(tmp_path) -> None:
    path = _write(tmp_path, "# nothing here\n\n")
    out = from_text(path).to_array()
    assert out.shape == (0,) and out.dtype == np.float64


def test_from_text_argument_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        from_text(tmp_path / "missing.txt")
    path = _write(tmp_path, "1\n")
    with pytest.raises(TypeError, match="numeric"):
        from_text(path, dtype="U5")
    with pytest.raises(TypeError, match="usecols"):
        from_text(path, usecols=[1.5])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="usecols"):
        from_text(path, usecols="0")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="usecols is empty"):
        from_text(path, usecols=[])
    with pytest.raises(ValueError, match="skiprows must be >= 0"):
        from_text(path, skiprows=-1)
    with pytest.raises(TypeError, match="delimiter"):
        from_text(path, delimiter=1)  # type: ignore[arg-type]
