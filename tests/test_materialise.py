"""``to_array()``: every output record written into the result once.

How the records reach the result (a C last stage writing in place, a ufunc
``map`` or ``astype`` computing into it, any other stage copied once), that
a known length allocates once (no growth copy, no trimming copy), and that
the result has the same bytes on every engine, chunking and partitioning,
also for stages that reuse their output buffers.  Timings are in
``benchmarks/bench_materialise.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

import pystream as ps
import pystream.chain.materialise as materialise
from pystream.chain.materialise import (ResultBuffer, empty_result, expected_length, fill,
                                        output_length)
from pystream.engines.threads import ALIGN, partitions
from pystream.stream import node_of

RNG = np.random.default_rng(17)
N = 30_011
X = RNG.standard_normal(N)
X[RNG.integers(0, N, 25)] = np.nan
XR = RNG.standard_normal((N // 3, 3))


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def reusing(chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """A generator stage writing every output into one reused buffer."""
    buf = np.empty(0)
    for c in chunks:
        if len(buf) < len(c):
            buf = np.empty(len(c))
        out = buf[: len(c)]
        np.multiply(c, 2.0, out=out)
        yield out


LAST_STAGES: dict[str, Callable[[ps.Stream], ps.Stream]] = {
    "source": lambda s: s,
    "moving_mean": lambda s: s.moving_mean(17),
    "moving_median": lambda s: s.moving_median(31, min_count=3),
    "cumsum": lambda s: s.cumsum(),
    "ewm_mean": lambda s: s.ewm_mean(alpha=0.1),
    "map_ufunc": lambda s: s.map(np.abs),
    "map_ufunc_after_stage": lambda s: s.moving_max(5).map(np.negative),
    "map_lambda": lambda s: s.map(lambda c: c * 3.0),
    "astype": lambda s: s.moving_sum(4).astype(np.float32),
    "resample_flush": lambda s: s.resample(7, "mean"),
    "take_resample": lambda s: s.take(20_000).resample(9, "sum"),
    "skip": lambda s: s.skip(1234).moving_min(6),
    "filter": lambda s: s.filter(lambda c: c > 0),
    "rechunk": lambda s: s.moving_mean(3).rechunk(1000),
    "reusing_stage": lambda s: s.pipe(reusing),
}


@pytest.mark.parametrize("name", sorted(LAST_STAGES))
def test_same_bytes_on_every_engine_and_chunking(name: str) -> None:
    f = LAST_STAGES[name]
    with np.errstate(invalid="ignore"):
        want = np.concatenate([c.copy() for c in f(ps.from_array(X, chunk_size=4096))])
        for cs in (1, 333, 4096, N):
            got = f(ps.from_array(X, chunk_size=cs)).to_array()
            assert _same(got, want), (name, cs)
        for workers, size in ((2, None), (2, 5000), (3, 777)):
            got = f(ps.from_array(X)).to_array(engine="threads", workers=workers,
                                               partition_size=size)
            assert _same(got, want), (name, workers, size)


@pytest.mark.parametrize("name", ["moving_mean", "cumsum", "map_ufunc", "astype"])
def test_records_of_several_values(name: str) -> None:
    f = LAST_STAGES[name]
    want = np.concatenate([c.copy() for c in f(ps.from_array(XR, chunk_size=100))])
    assert _same(f(ps.from_array(XR, chunk_size=777)).to_array(), want)
    assert _same(f(ps.from_array(XR)).to_array(engine="threads", workers=2,
                                                partition_size=2000), want)


class SpyBuffer(ResultBuffer):
    """A :class:`ResultBuffer` recording how each chunk arrived."""

    __slots__ = ("copied", "in_place")

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.copied = 0
        self.in_place = 0

    def put(self, chunk: np.ndarray) -> None:
        at = self.array[self.used:]
        if len(chunk) and len(at) and chunk.ctypes.data == at.ctypes.data:
            self.in_place += 1
        else:
            self.copied += 1
        super().put(chunk)


def _fill(stream: ps.Stream) -> tuple[SpyBuffer, np.ndarray]:
    node = node_of(stream)
    dt, rs = node.meta()
    buf = SpyBuffer(dt, rs, expected_length(node))
    fill(node, buf)
    return buf, buf.result()


def test_a_c_last_stage_writes_every_chunk_in_place() -> None:
    buf, out = _fill(ps.from_array(X, chunk_size=1000).moving_mean(10))
    assert buf.in_place == -(-N // 1000) and buf.copied == 0 and buf.grown == 0
    assert np.shares_memory(out, buf.array)           # no trimming copy
    assert _same(out, ps.from_array(X).moving_mean(10).to_array())


@pytest.mark.parametrize("make", [lambda s: s.map(np.sqrt), lambda s: s.moving_max(3).map(np.abs),
                                  lambda s: s.astype(np.float32)])
def test_a_ufunc_map_or_astype_computes_into_the_result(make: Callable[[ps.Stream], ps.Stream]) -> None:
    with np.errstate(invalid="ignore"):
        buf, out = _fill(make(ps.from_array(X, chunk_size=1000)))
        want = np.concatenate([c.copy() for c in make(ps.from_array(X, chunk_size=1000))])
    assert buf.in_place == buf.copied == 0 and buf.grown == 0      # no chunk put at all
    assert _same(out, want)


def test_other_last_stages_are_copied_once_without_growth() -> None:
    buf, out = _fill(ps.from_array(X, chunk_size=1000).pipe(reusing))
    assert buf.copied == -(-N // 1000) and buf.grown == 0
    assert _same(out, X * 2.0)


def test_an_in_memory_source_is_copied_in_one_piece() -> None:
    buf, out = _fill(ps.from_array(X, chunk_size=1000))
    assert buf.copied == 1 and _same(out, X) and not np.shares_memory(out, X)


def test_the_planner_gives_the_exact_output_length() -> None:
    s = ps.from_array(X)
    assert output_length(node_of(s.moving_mean(5))) == N
    assert output_length(node_of(s.skip(11).take(20_000))) == 20_000
    assert output_length(node_of(s.resample(7, "sum"))) == N // 7   # the flush not counted
    assert output_length(node_of(s.filter(lambda c: c > 0))) is None
    assert output_length(node_of(ps.from_chunks(iter([X]), np.float64))) is None


def test_a_flush_fits_the_slack_and_an_unknown_length_grows() -> None:
    for cs in (1000, 16384, N):
        buf, out = _fill(ps.from_array(X, chunk_size=cs).resample(7, "mean"))
        assert len(out) == -(-N // 7) and buf.grown == 0 and np.shares_memory(out, buf.array)
    buf, out = _fill(ps.from_chunks(iter([X[:10_000], X[10_000:]]), np.float64).moving_mean(3))
    assert buf.grown >= 1 and _same(out, ps.from_array(X).moving_mean(3).to_array())


def test_a_mostly_unused_buffer_is_compacted() -> None:
    buf, out = _fill(ps.from_array(X).filter(lambda c: c > 2.5))
    assert _same(out, X[X > 2.5])
    assert not np.shares_memory(out, buf.array) or 8 * (len(buf.array) - len(out)) <= buf.array.nbytes


def test_threads_last_partition_overflowing_the_slack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(materialise, "SLACK_BYTES", 0)
    want = ps.from_array(X).resample(7, "mean").to_array()
    got = ps.from_array(X).resample(7, "mean").to_array(engine="threads", workers=2,
                                                        partition_size=4000)
    assert _same(got, want)


def test_large_results_start_on_a_huge_page() -> None:
    a = empty_result(2 * materialise.HUGE_PAGE // 8 + 5, np.dtype(np.float64), ())
    assert a.ctypes.data % materialise.HUGE_PAGE == 0 and a.flags.c_contiguous
    b = empty_result(100, np.dtype(np.float32), (3,))
    assert b.shape == (100, 3) and b.dtype == np.float32


def test_wrong_chunks_are_still_named() -> None:
    s = ps.Stream(lambda: iter([np.arange(3.0), np.arange(3.0).reshape(3, 1)]), np.float64, ())
    with pytest.raises((TypeError, ValueError), match="record shape|shape"):
        s.map(np.abs).to_array()
    s = ps.Stream(lambda: iter([np.arange(3.0), np.arange(3)]), np.float64)
    with pytest.raises(TypeError, match="does not match the stream's dtype float64"):
        s.to_array()
    with pytest.raises(TypeError, match="Cannot cast|cast"):
        ps.from_array(X).astype(np.int32, casting="safe").to_array()


def test_errors_in_a_last_map_name_the_stage_and_records() -> None:
    def bad(c: np.ndarray) -> np.ndarray:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom") as info:
        ps.from_array(X, chunk_size=1000).map(np.abs).map(bad).to_array()
    assert any("map(bad)" in note and "[0, 1000)" in note for note in info.value.__notes__)


def test_one_shot_sources_still_refuse_a_second_pass() -> None:
    s = ps.from_chunks(iter([X[:10], X[10:20]]), np.float64).map(np.abs)
    assert len(s.to_array()) == 20
    with pytest.raises(RuntimeError, match="one-shot"):
        s.to_array()


def test_default_partitions_are_aligned_on_global_blocks() -> None:
    assert partitions(10, 4, origin=3) == [(0, 1), (1, 5), (5, 9), (9, None)]
    n = 5 * ALIGN + 123
    parts = partitions(n, ALIGN, origin=7)
    assert all((7 + b) % ALIGN == 0 for _, b in parts[:-1])
    assert parts[0][0] == 0 and parts[-1][1] is None
    x = RNG.standard_normal(3 * ALIGN + 999)
    assert ps.from_array(x).describe(engine="threads", workers=2) == ps.from_array(x).describe()
