"""Push mode, pipelines, fan-out and live results (issue 8).

Every push result is compared with the pull run of the same pipeline on the
same records, bit for bit, over random chunkings.
"""

from __future__ import annotations

import gc
import os
import threading
import tracemalloc

import numpy as np
import pytest

import pystream as ps
from pystream.chain import GeneratorPusher

RNG = np.random.default_rng(8)


def _data(n: int = 3001, dtype: str = "f8", nan: bool = True) -> np.ndarray:
    x = RNG.normal(size=n) * 10
    if nan:
        x[RNG.integers(0, n, n // 50)] = np.nan
        x[RNG.integers(0, n, 3)] = np.inf
    return x.astype(dtype)


def _cuts(n: int, rng: np.random.Generator) -> list[int]:
    """Random chunk boundaries: many small pieces, empty and one-record ones included."""
    cuts, i = [0], 0
    while i < n:
        i = min(n, i + int(rng.choice([0, 1, 1, 2, 7, 64, 500, 1500])))
        cuts.append(i)
    return cuts


def _push_all(p: ps.Pipeline, x: np.ndarray, seed: int, **kw: object) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cuts = _cuts(len(x), rng)
    sink = p.push(**kw)
    outs = [sink.send(x[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
    outs.append(sink.close())
    return np.concatenate(outs)


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def _gen_cumsum(chunks):
    total = 0.0
    try:
        for c in chunks:
            out = np.cumsum(np.concatenate([[total], c]))[1:]   # chunk-invariant
            total = out[-1]
            yield out
    finally:
        _gen_cumsum.closed += 1


_gen_cumsum.closed = 0

PIPELINES = {
    "moving_mean": lambda: ps.pipeline().moving_mean(7),
    "map_median": lambda: ps.pipeline().map(np.abs).moving_median(5, min_count=1),
    "moving_var_omit": lambda: ps.pipeline().moving_var(11, min_count=2, ddof=1),
    "moving_quantile": lambda: ps.pipeline().moving_quantile(9, q=0.3, min_count=1),
    "moving_rank": lambda: ps.pipeline().moving_rank(6, nan_policy="propagate"),
    "scans": lambda: ps.pipeline().cumsum(nan_policy="omit").cummax(),
    "cumcount_diff": lambda: ps.pipeline().cumcount().diff(2),
    "ewm": lambda: ps.pipeline().ewm_mean(alpha=0.1).ewm_std(span=5),
    "nwise": lambda: ps.pipeline().nwise(3),
    "sliding": lambda: ps.pipeline().sliding_window(4, step=3),
    "tumbling": lambda: ps.pipeline().tumbling(5),
    "resample_max": lambda: ps.pipeline().resample(10, how="max"),
    "resample_mean": lambda: ps.pipeline().resample(7, how="mean", nan_policy="omit"),
    "take_skip": lambda: ps.pipeline().skip(13).take(2000).cummin(),
    "filter_rechunk": lambda: ps.pipeline().filter(lambda c: c > 0).rechunk(7).diff(),
    "astype": lambda: ps.pipeline().astype("f4").moving_sum(3),
    "pipe_generator": lambda: ps.pipeline().map(lambda c: np.nan_to_num(c, posinf=0, neginf=0))
                                           .pipe(_gen_cumsum),
    "map_uninferable": lambda: ps.pipeline().map(lambda c: c[:, None] * np.ones(2)
                                                 if len(c) else 1 / 0).moving_max(3),
}


@pytest.mark.parametrize("name", sorted(PIPELINES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_push_equals_pull(name: str, seed: int) -> None:
    p = PIPELINES[name]()
    x = _data()
    pull = p(ps.from_array(x, chunk_size=333)).to_array()
    _same(_push_all(p, x, seed), pull)


@pytest.mark.parametrize("dtype", ["i8", "i4", "u1", "f4", ">f8"])
def test_push_dtypes(dtype: str) -> None:
    x = (RNG.integers(0, 100, 2000)).astype(dtype)
    for p in (ps.pipeline().cumsum(), ps.pipeline().moving_min(4), ps.pipeline().diff()):
        pull = p(ps.from_array(x, chunk_size=100)).to_array()
        _same(_push_all(p, x, 3), pull)


def test_push_int_overflow_is_reported() -> None:
    x = np.array([2**62, 2**62, 2**62], np.int64)
    sink = ps.pipeline().cumsum().push()
    sink.send(x[:1])
    with pytest.raises(OverflowError, match="record 1"):
        sink.send(x[1:])
    with pytest.raises(ps.PushError, match="failed"):
        sink.send(x[:1])


def test_push_records_and_scalars() -> None:
    x = RNG.normal(size=(50, 3))
    p = ps.pipeline().moving_mean(4, min_count=1)
    pull = p(ps.from_array(x)).to_array()
    sink = p.push(record_shape=(3,))
    outs = [sink.send(x[0]), sink.send(x[1:3].tolist())]      # one record, a list of records
    outs += [sink.send(x[i]) for i in range(3, 50)]
    outs.append(sink.close())
    _same(np.concatenate(outs), pull)
    scalars = ps.pipeline().cumsum().push()
    got = [scalars.send(v) for v in (1.0, 2.5, [3.0, 4.0])]
    assert [g.tolist() for g in got] == [[1.0], [3.5], [6.5, 10.5]]


def test_push_bad_input_keeps_the_sink_usable() -> None:
    sink = ps.pipeline().cumsum().push(record_shape=(2,))
    sink.send([[1.0, 2.0]])
    with pytest.raises(ValueError, match=r"record 1 has shape \(3,\)"):
        sink.send([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="dtype float32"):
        sink.send(np.zeros((1, 2), np.float32))
    with pytest.raises(TypeError, match="masked"):
        sink.send(np.ma.masked_array([[1.0, 2.0]]))
    assert sink.send([[1.0, 1.0]]).tolist() == [[2.0, 3.0]]
    assert sink.close().shape == (0, 2)
    with pytest.raises(ps.PushError, match="closed"):
        sink.send([[1.0, 1.0]])


def test_push_empty_and_declared_dtype() -> None:
    assert ps.pipeline().moving_mean(3).push().close().shape == (0,)
    sink = ps.pipeline().cumsum().push(dtype="i8")
    assert sink.send([]).dtype == np.int64
    assert sink.close().dtype == np.int64
    assert ps.pipeline().push("count", dtype="f4", record_shape=(2,)).close().tolist() == [0, 0]


def test_push_start_places_positional_states() -> None:
    x = _data(5000, nan=False)
    pull = ps.from_array(x).quantile(0.5, method="kll")
    sink = ps.pipeline().push(ps.pipeline().quantile(0.5, method="kll"), start=0)
    for a in range(0, 5000, 999):
        sink.send(x[a:a + 999])
    assert sink.close() == pull


# --------------------------------------------------------------------------- targets


TERMINALS = {
    "describe": ("describe", lambda s: s.describe()),
    "count_omit": (ps.pipeline().count(nan_policy="omit"), lambda s: s.count(nan_policy="omit")),
    "mean": ("mean", lambda s: s.mean()),
    "var": (ps.pipeline().var(ddof=1, nan_policy="omit"), lambda s: s.var(ddof=1, nan_policy="omit")),
    "min": (ps.pipeline().min(nan_policy="omit"), lambda s: s.min(nan_policy="omit")),
    "histogram": (ps.pipeline().histogram(bins=7, range=(-20, 20)),
                  lambda s: s.histogram(bins=7, range=(-20, 20))),
    "quantile": (ps.pipeline().quantile([0.1, 0.9], nan_policy="omit"),
                 lambda s: s.quantile([0.1, 0.9], nan_policy="omit")),
    "kll": (ps.pipeline().quantile(0.5, method="kll", nan_policy="omit"),
            lambda s: s.quantile(0.5, method="kll", nan_policy="omit")),
    "moments": ("moments", lambda s: s.moments()),
    "to_array": ("to_array", lambda s: s.to_array()),
}


def _equal_results(a: object, b: object) -> None:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) or np.isscalar(a):
        np.testing.assert_array_equal(a, b)
    elif hasattr(a, "counts"):
        np.testing.assert_array_equal(a.counts, b.counts)
        np.testing.assert_array_equal(a.edges, b.edges)
        assert (a.underflow, a.overflow, a.nan_count) == (b.underflow, b.overflow, b.nan_count)
    else:
        assert a == b


@pytest.mark.parametrize("name", sorted(TERMINALS))
def test_push_target_equals_pull(name: str) -> None:
    target, pull = TERMINALS[name]
    x = _data()
    p = ps.pipeline().moving_mean(5, min_count=1)
    expected = pull(p(ps.from_array(x, chunk_size=100)))
    sink = p.push(target)
    half = len(x) // 2
    for a in range(0, half, 77):
        assert sink.send(x[a:min(a + 77, half)]) is None
    _equal_results(sink.result(), pull(p(ps.from_array(x[:half]))))   # live, sink stays open
    for a in range(half, len(x), 500):
        sink.send(x[a:a + 500])
    _equal_results(sink.close(), expected)


def test_push_reducer_state_object() -> None:
    x = _data()
    m = ps.Moments()
    sink = ps.pipeline().push(m)
    sink.send(x[:10])
    sink.send(x[10:])
    assert sink.close() == ps.from_array(x).pipe(lambda c: c).moments()
    assert m.stop == len(x)                                  # updated in place


class _CountingState:
    def __init__(self) -> None:
        self.n = 0
        self.results = 0

    def update(self, chunk: np.ndarray) -> None:
        self.n += len(chunk)

    def result(self) -> int:
        self.results += 1
        return self.n


def test_live_results_recompute_only_fed_branches() -> None:
    fed, starved = _CountingState(), _CountingState()
    sink = ps.pipeline().push(all=fed, big=ps.pipeline().filter(lambda c: c > 100).into(starved))
    sink.send(np.arange(5.0))
    assert sink.result() == {"all": 5, "big": 0}
    sink.send(np.arange(5.0))
    assert sink.result() == {"all": 10, "big": 0}
    assert (fed.results, starved.results) == (2, 1)           # nothing reached "big"
    sink.send(np.array([500.0]))
    assert sink.result() == {"all": 11, "big": 1}
    assert sink.result() == {"all": 11, "big": 1}
    assert (fed.results, starved.results) == (3, 2)           # no new data: both cached
    assert sink.close() == {"all": 11, "big": 1}


def test_into_runs_the_stages_once_for_every_branch() -> None:
    calls = []

    def spy(c: np.ndarray) -> np.ndarray:
        calls.append(len(c))
        return c

    x = _data(1000)
    branch = ps.pipeline().map(spy).moving_mean(3).into(ps.tee(d="describe", a="to_array"))
    r = ps.from_array(x, chunk_size=100).fork(b=branch)["b"]
    assert sum(calls) == 1000
    smooth = ps.from_array(x).moving_mean(3)
    assert r["d"] == smooth.describe()
    _same(r["a"], smooth.to_array())


def test_push_as_context_manager(tmp_path) -> None:
    path = tmp_path / "out.npy"
    x = _data(500)
    with ps.pipeline().moving_mean(3).push(ps.pipeline().to_npy(path)) as sink:
        sink.send(x[:200])
        assert not path.exists()                             # written atomically at close
        sink.send(x[200:])
    _same(np.load(path), ps.from_array(x).moving_mean(3).to_array())
    path.write_bytes(b"old")
    with pytest.raises(KeyError):
        with ps.pipeline().push(ps.pipeline().to_npy(path)) as sink:
            sink.send(x)
            raise KeyError("stop")
    assert path.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["out.npy"]          # no temporary file left
    assert sink.closed


# --------------------------------------------------------------------------- errors and cleanup


def test_stage_error_names_stage_and_records() -> None:
    def bad(c: np.ndarray) -> np.ndarray:
        if c.max() > 50:
            raise ArithmeticError("too big")
        return c

    sink = ps.pipeline().cumsum().map(bad).push(start=1000)
    sink.send(np.ones(30))
    with pytest.raises(ArithmeticError) as info:
        sink.send(np.ones(40))
    assert "stage 'map(bad)' on its input chunk of global records [1030, 1070)" in "".join(
        info.value.__notes__)
    with pytest.raises(ps.PushError, match="failed.*ArithmeticError"):
        sink.close()


def test_nan_raise_delivers_the_records_before_it() -> None:
    x = np.arange(10.0)
    x[6] = np.nan
    p = ps.pipeline().moving_mean(2, nan_policy="raise")
    pulled: list[np.ndarray] = []
    with pytest.raises(ValueError) as pull_error:
        p(ps.from_array(x, chunk_size=4)).to_callback(pulled.append)
    pushed: list[np.ndarray] = []
    sink = p.push(ps.pipeline().to_callback(pushed.append))
    sink.send(x[:4])
    with pytest.raises(ValueError) as push_error:
        sink.send(x[4:])
    assert str(push_error.value) == str(pull_error.value)
    _same(np.concatenate(pushed), np.concatenate(pulled))


def test_generator_stage_cleanup_and_no_thread_left() -> None:
    before = threading.active_count()
    _gen_cumsum.closed = 0
    p = ps.pipeline().pipe(_gen_cumsum)
    sink = p.push()
    sink.send(np.ones(3))
    assert threading.active_count() == before + 1              # the generator's helper thread
    assert sink.close().size == 0
    assert _gen_cumsum.closed == 1 and threading.active_count() == before
    sink = p.push()
    sink.send(np.ones(3))
    sink.abort()                                             # cleanup runs on abort
    assert _gen_cumsum.closed == 2 and threading.active_count() == before
    sink = p.push()
    sink.send(np.ones(3))
    del sink                                                 # and when the sink is dropped
    gc.collect()
    for _ in range(100):
        if threading.active_count() == before:
            break
        threading.Event().wait(0.01)
    assert _gen_cumsum.closed == 3 and threading.active_count() == before


def test_generator_stage_error_surfaces_with_outputs_first() -> None:
    def fails_at_10(chunks):
        n = 0
        for c in chunks:
            for v in c:
                if n == 10:
                    raise RuntimeError("boom")
                n += 1
                yield np.array([v])

    got: list[np.ndarray] = []
    sink = ps.pipeline().pipe(fails_at_10).push(ps.pipeline().to_callback(got.append))
    sink.send(np.arange(6.0))
    with pytest.raises(RuntimeError, match="boom") as info:
        sink.send(np.arange(6.0, 12.0))
    assert "stage 'fails_at_10'" in "".join(info.value.__notes__)
    assert np.concatenate(got).tolist() == list(range(10))


# --------------------------------------------------------------------------- pipelines


def test_pipeline_binds_to_streams_and_composes() -> None:
    x = _data(1000)
    p = ps.pipeline().map(np.abs).moving_mean(window=10)
    q = ps.pipeline().cummax()
    assert repr(p.then(q)) == "<Pipeline map(absolute) -> moving_mean -> cummax>"
    _same(p.then(q)(ps.from_array(x)).to_array(),
          ps.from_array(x).map(np.abs).moving_mean(10).cummax().to_array())
    assert len(p) == 2 and len(ps.pipeline()) == 0
    with pytest.raises(TypeError, match="Stream"):
        p(x)


def test_pipeline_checks_arguments_at_once(tmp_path) -> None:
    with pytest.raises(ValueError, match="window"):
        ps.pipeline().moving_mean(window=0)
    with pytest.raises(ValueError, match="range"):
        ps.pipeline().histogram(bins=10)
    with pytest.raises(ValueError, match="engine"):
        ps.pipeline().mean(engine="threads")
    with pytest.raises(TypeError, match="quantile"):
        ps.pipeline().quantile()
    with pytest.raises(FileNotFoundError):
        ps.pipeline().to_npy(tmp_path / "missing" / "x.npy")
    with pytest.raises(TypeError, match="no terminal operation"):
        ps.pipeline().push("no_such_reducer")
    with pytest.raises(TypeError, match="branch 'x'"):
        ps.tee(x=42)
    with pytest.raises(TypeError, match=r"fork: give at least one branch"):
        ps.from_array(np.arange(3.0)).fork()
    with pytest.raises(TypeError, match=r"tee: give at least one branch"):
        ps.tee()
    with pytest.raises(AttributeError, match="no plugin"):
        ps.pipeline().no_such_stage()


# --------------------------------------------------------------------------- fork


def test_fork_equals_separate_runs(tmp_path) -> None:
    x = _data(20000)
    path = tmp_path / "smooth.npy"
    text = tmp_path / "smooth.txt"
    seen: list[int] = []
    s = ps.from_array(x, chunk_size=1000)
    r = s.fork(
        stats="describe",
        hist=ps.pipeline().histogram(bins=20, range=(-30, 30)),
        q=ps.pipeline().quantile([0.01, 0.5], method="kll", nan_policy="omit"),
        smooth=ps.pipeline().moving_mean(100, min_count=1).to_npy(path),
        text=ps.pipeline().take(50).to_text(text),
        seen=ps.pipeline().to_callback(lambda c: seen.append(len(c))),
        m=ps.Moments(),
    )
    assert r["stats"] == s.describe()
    _equal_results(r["hist"], s.histogram(bins=20, range=(-30, 30)))
    np.testing.assert_array_equal(r["q"], s.quantile([0.01, 0.5], method="kll", nan_policy="omit"))
    assert r["smooth"] == 20000 and r["text"] == 50 and r["seen"] == 20000
    _same(np.load(path), s.moving_mean(100, min_count=1).to_array())
    _same(ps.from_text(text).to_array(), x[:50])
    assert seen == [1000] * 20
    assert r["m"] == s.moments()


def test_fork_reads_a_one_shot_stream_once() -> None:
    x = _data(5000)
    s = ps.from_iterable(iter(x), "f8", chunk_size=512)
    r = s.fork(n="count", d=ps.pipeline().diff().sum(nan_policy="omit"))
    assert r["n"] == ps.from_array(x).count()
    np.testing.assert_array_equal(r["d"], ps.from_array(x).diff().sum(nan_policy="omit"))


@pytest.mark.parametrize("workers", [None, 2])
def test_fork_stops_when_every_branch_is_done(workers) -> None:
    import itertools

    pulled = []

    def counting():
        for i in itertools.count():
            pulled.append(i)
            yield np.full(100, float(i))

    s = ps.from_chunks(counting(), dtype="f8")
    r = s.fork(a=ps.pipeline().take(250).sum(), b=ps.pipeline().take(10).to_array(),
               workers=workers)
    assert r["a"] == 100 * 1 + 50 * 2 and r["b"].tolist() == [0.0] * 10
    if workers is None:
        assert len(pulled) == 3
    else:                                   # threads see "done" a few batches later
        assert len(pulled) < 10_000


def test_fork_error_aborts_every_sink(tmp_path) -> None:
    a, b = tmp_path / "a.npy", tmp_path / "b.bin"
    b.write_bytes(b"old")
    x = np.arange(1000.0)
    x[700] = np.nan
    with pytest.raises(ValueError, match="NaN at record 700") as info:
        ps.from_array(x, chunk_size=64).fork(
            a=ps.pipeline().to_npy(a), b=ps.pipeline().cumsum().to_file(b),
            strict=ps.pipeline().mean(nan_policy="raise"))
    assert "branch 'strict'" in "".join(info.value.__notes__)
    assert not a.exists() and b.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["b.bin"]


def test_fork_memory_stays_bounded(tmp_path) -> None:
    """A 256 MiB stream through describe + histogram + a moving mean written to a
    file: the peak of traced memory stays within a few chunks."""
    chunk = 1 << 16                                           # 512 KiB of float64

    def chunks():
        rng = np.random.default_rng(0)
        for _ in range(512):
            yield rng.normal(size=chunk)

    s = ps.from_chunks(chunks(), dtype="f8")
    tracemalloc.start()
    try:
        r = s.fork(stats=ps.pipeline().describe(quantiles=()),
                   hist=ps.pipeline().histogram(bins=50, range=(-5, 5)),
                   out=ps.pipeline().moving_mean(100).to_file(tmp_path / "mm.bin"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r["out"] == 512 * chunk and r["stats"].count == 512 * chunk
    assert peak < 16 * chunk * 8, f"peak {peak / 2**20:.1f} MiB for 256 MiB streamed"


def test_nested_tee() -> None:
    x = _data(3000, nan=False)
    t = ps.tee(inner=ps.tee(lo="min", hi="max"), n="count")
    s = ps.from_array(x)
    assert s.fork(all=t) == {"all": {"inner": {"lo": s.min(), "hi": s.max()}, "n": s.count()}}


# --------------------------------------------------------------------------- async


def test_async_source_with_a_producer_task() -> None:
    """A producer task puts chunks on a queue at random times; the stream's
    stages run as they arrive and give the pull result."""
    import asyncio

    x = _data(4000)
    rng = np.random.default_rng(5)
    cuts = _cuts(len(x), rng)
    p = ps.pipeline().moving_mean(10, min_count=1).nwise(2)

    async def main() -> list[np.ndarray]:
        queue: asyncio.Queue = asyncio.Queue(maxsize=4)

        async def produce() -> None:
            for a, b in zip(cuts[:-1], cuts[1:]):
                await asyncio.sleep(float(rng.uniform(0, 0.002)))
                await queue.put(x[a:b])
            await queue.put(None)

        async def items():
            while (item := await queue.get()) is not None:
                yield item

        producer = asyncio.create_task(produce())
        out = [c.copy() async for c in p(ps.from_async_iterable(items(), "f8"))]
        await producer
        return out

    _same(np.concatenate(asyncio.run(main())), p(ps.from_array(x)).to_array())


def test_async_large_chunks_do_not_block_the_loop() -> None:
    """The stage waits for an event only a task on the loop can set: it would
    deadlock if a large chunk were processed on the loop's thread."""
    import asyncio

    ready = threading.Event()

    def waits(c: np.ndarray) -> np.ndarray:
        if len(c):                                           # not the type probe on []
            assert ready.wait(10), "the event loop was blocked"
        return c

    big = np.ones(1 << 16)                                   # 512 KiB >= OFFLOAD_BYTES

    async def main() -> float:
        async def items():
            yield big

        async def release() -> None:
            await asyncio.sleep(0.05)
            ready.set()

        task = asyncio.create_task(release())
        total = sum([float(c.sum()) async for c in ps.from_async_iterable(items(), "f8").map(waits)])
        await task
        return total

    assert asyncio.run(main()) == 1 << 16


def test_async_for_over_a_pull_stream_and_break_cleans_up() -> None:
    import asyncio

    x = _data(5000)
    s = ps.from_array(x, chunk_size=700).moving_max(4, min_count=1)
    before = threading.active_count()

    async def main() -> tuple[list[np.ndarray], list[np.ndarray]]:
        whole = [c.copy() async for c in s]
        first: list[np.ndarray] = []
        async for c in ps.pipeline().pipe(_gen_cumsum)(ps.from_array(np.ones(100), chunk_size=10)):
            first.append(c)
            break
        return whole, first

    _gen_cumsum.closed = 0
    whole, first = asyncio.run(main())
    _same(np.concatenate(whole), s.to_array())
    assert first[0].tolist() == list(np.arange(1.0, 11.0))
    assert _gen_cumsum.closed == 1 and threading.active_count() == before


def test_async_source_used_synchronously() -> None:
    import asyncio

    async def items():
        for v in ([1.0, 2.0], 3.0, np.array([4.0])):
            yield v

    assert ps.from_async_iterable(items(), "f8").cumsum().to_array().tolist() == [1, 3, 6, 10]

    async def inside_a_loop() -> None:
        ps.from_async_iterable(items(), "f8").sum()

    with pytest.raises(RuntimeError, match="async for"):
        asyncio.run(inside_a_loop())
    with pytest.raises(TypeError, match="async iterable"):
        ps.from_async_iterable([1.0], "f8")
    with pytest.raises(ValueError, match="threads"):
        ps.from_async_iterable(items(), "f8").sum(engine="threads")


def test_async_source_bad_item_is_reported() -> None:
    import asyncio

    async def items():
        yield np.ones(3)
        yield np.ones(2, np.float32)

    async def main() -> None:
        async for _ in ps.from_async_iterable(items(), "f8"):
            pass

    with pytest.raises(TypeError, match="item at record 3 has dtype float32"):
        asyncio.run(main())


# --------------------------------------------------------------------------- shared states, threads


@pytest.mark.parametrize("workers", [None, 2, 3])
@pytest.mark.parametrize("shape", [(), (3,)])
def test_fork_shared_states_and_threads_equal_separate_runs(workers, shape) -> None:
    x = RNG.normal(size=(6000, *shape))
    x[RNG.integers(0, 6000, 40)] = np.nan
    s = ps.from_array(x, chunk_size=512)
    runs = {
        "mean": ("mean", lambda s: s.mean()),
        "std1": (ps.pipeline().std(ddof=1, nan_policy="omit"), lambda s: s.std(ddof=1, nan_policy="omit")),
        "describe": ("describe", lambda s: s.describe()),
        "d_omit": (ps.pipeline().describe(nan_policy="omit", quantiles=[0.5]),
                   lambda s: s.describe(nan_policy="omit", quantiles=[0.5])),
        "q_rel": (ps.pipeline().quantile([0.1, 0.9], nan_policy="omit"),
                  lambda s: s.quantile([0.1, 0.9], nan_policy="omit")),
        "q_rel2": (ps.pipeline().quantile(0.5, alpha=0.02, nan_policy="omit"),
                   lambda s: s.quantile(0.5, alpha=0.02, nan_policy="omit")),
        "kll_a": (ps.pipeline().quantile(0.5, method="kll", nan_policy="omit"),
                  lambda s: s.quantile(0.5, method="kll", nan_policy="omit")),
        "kll_b": (ps.pipeline().quantile([0.2], method="kll", nan_policy="omit"),
                  lambda s: s.quantile([0.2], method="kll", nan_policy="omit")),
        "max": (ps.pipeline().max(nan_policy="omit"), lambda s: s.max(nan_policy="omit")),
        "smooth": (ps.pipeline().moving_mean(5).mean(nan_policy="omit"),
                   lambda s: s.moving_mean(5).mean(nan_policy="omit")),
    }
    r = s.fork(workers=workers, **{k: b for k, (b, _) in runs.items()})
    for k, (_, run) in runs.items():
        _equal_results(r[k], run(s))


@pytest.mark.parametrize("workers", [None, 2])
def test_fork_shared_state_nan_raise(workers) -> None:
    x = np.arange(3000.0)
    x[2222] = np.nan
    s = ps.from_array(x, chunk_size=100)
    for first in (True, False):              # the raising branch before or after the owner
        branches = {"strict": ps.pipeline().mean(nan_policy="raise"), "d": "describe"}
        if not first:
            branches = dict(reversed(list(branches.items())))
        with pytest.raises(ValueError, match="mean: NaN at record 2222"):
            s.fork(workers=workers, **branches)
    with pytest.raises(ValueError, match="quantile: NaN at record 2222"):
        s.fork(workers=workers, d="describe", q=ps.pipeline().quantile(0.5, nan_policy="raise"))


def test_fork_threads_error_and_cleanup(tmp_path) -> None:
    before = threading.active_count()

    def fail(c: np.ndarray) -> None:
        if c[0] >= 5000:
            raise LookupError("stop here")

    with pytest.raises(LookupError) as info:
        ps.from_array(np.arange(20000.0), chunk_size=1000).fork(
            workers=2, out=ps.pipeline().to_npy(tmp_path / "o.npy"),
            cb=ps.pipeline().to_callback(fail), m="mean")
    assert "branch 'cb'" in "".join(info.value.__notes__)
    assert os.listdir(tmp_path) == [] and threading.active_count() == before
    with pytest.raises(ValueError, match="workers"):
        ps.from_array(np.arange(3.0)).fork(workers=0, m="mean")


def test_pull_errors_name_the_stage_and_records() -> None:
    def bad(c: np.ndarray) -> np.ndarray:
        if c[-1] >= 250:
            raise ArithmeticError("too big")
        return c

    s = ps.from_array(np.arange(1000.0), chunk_size=100).skip(50)
    with pytest.raises(ArithmeticError) as info:
        s.map(np.abs).map(bad).to_array()
    # records of the stream after skip(50): values 200..299 are its records [150, 250)
    assert "stage 'map(bad)' on its input chunk of global records [150, 250)" in info.value.__notes__[0]

    def gen(chunks):
        for c in chunks:
            if c[0] >= 500:
                raise KeyError("gen")
            yield c

    with pytest.raises(KeyError) as info:
        ps.from_array(np.arange(1000.0), chunk_size=100).pipe(gen).sum()
    assert info.value.__notes__ == [
        "pystream: raised by the stage 'gen' on its input chunk of global records [500, 600)"]


def test_async_map_whose_type_needs_the_first_chunk() -> None:
    """The output type of this map is found on the first item, read in the loop
    (not by a synchronous peek, which would block it)."""
    import asyncio

    class Readings:                                          # an async iterable, not a generator
        def __aiter__(self):
            return self._gen()

        async def _gen(self):
            for v in ([1.0, 2.0], [3.0], [4.0, 5.0]):
                yield v

    def widen(c: np.ndarray) -> np.ndarray:
        if not len(c):
            raise ValueError("no type probe on an empty chunk")
        return np.stack([c, -c], axis=1).astype("f4")

    async def main() -> np.ndarray:
        s = ps.from_async_iterable(Readings(), "f8").map(widen).cumsum()
        return np.concatenate([c async for c in s])

    out = asyncio.run(main())
    assert out.dtype == np.float64 and out.tolist() == [[1, -1], [3, -3], [6, -6], [10, -10],
                                                         [15, -15]]


def test_fork_workers_with_one_shared_state_uses_no_thread(monkeypatch) -> None:
    seen: list[str] = []

    class Spy:
        def update(self, chunk: np.ndarray) -> None:
            seen.append(threading.current_thread().name)

        def result(self) -> int:
            return len(seen)

    s = ps.from_array(np.arange(10_000.0), chunk_size=1000)
    with monkeypatch.context() as m:
        m.setattr("pystream.chain.push_runner.threading.Thread", None)    # any thread would fail
        r = s.fork(a="mean", b="std", c=ps.pipeline().max(), workers=2)
    assert r == {"a": s.mean(), "b": s.std(), "c": s.max()}
    s.fork(a="mean", spy=Spy(), workers=2)           # two groups: the spy runs on a worker
    assert len(seen) == 10 and set(seen) != {threading.current_thread().name}


def test_live_result_before_any_data_does_not_fix_the_dtype(tmp_path) -> None:
    sink = ps.pipeline().push(n="count", out=ps.pipeline().to_npy(tmp_path / "o.npy"))
    assert sink.result() == {"n": 0, "out": 0}
    assert os.listdir(tmp_path) == []                        # the probe left no file
    sink.send(np.arange(5))                                  # int64: the first data decides
    assert sink.close() == {"n": 5, "out": 5}
    assert np.load(tmp_path / "o.npy").dtype == np.int64


def test_source_errors_are_not_blamed_on_a_stage(tmp_path) -> None:
    path = tmp_path / "short.f8"
    np.arange(1000.0).tofile(path)
    path.write_bytes(path.read_bytes() + b"xyz")             # a trailing partial record
    s = ps.from_file(path, "f8", chunk_size=100).map(np.abs).moving_mean(3)
    for kw in ({}, {"engine": "threads", "workers": 2, "partition_size": 300}):
        with pytest.raises(ValueError, match="trailing partial record") as info:
            s.to_array(**kw)
        notes = "".join(getattr(info.value, "__notes__", []))
        assert "stage" not in notes, notes


def test_npy_headers_are_parsed_one_at_a_time(tmp_path, monkeypatch) -> None:
    """.npy headers are parsed with ast.literal_eval, which CPython 3.11 cannot run in two
    threads at once: pystream's own threads take a lock around it."""
    from pystream import _npy

    held = []
    literal_eval = _npy.ast.literal_eval

    def checking_literal_eval(*args, **kwargs):
        held.append(_npy.NPY_HEADER_LOCK.locked())
        return literal_eval(*args, **kwargs)

    paths = []
    for i in range(4):
        paths.append(tmp_path / f"{i}.npy")
        np.save(paths[-1], np.arange(1000.0) + i)
    want = ps.from_array(np.concatenate([np.load(p) for p in paths])).sum()
    monkeypatch.setattr(_npy.ast, "literal_eval", checking_literal_eval)
    assert ps.from_npy(paths).sum(engine="threads", workers=2, partition_size=500) == want
    assert held and all(held)
