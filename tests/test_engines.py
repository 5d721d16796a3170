"""Engines: threads and Dask give the serial run's results bit for bit.

Every pipeline below is run locally once (the reference) and then on the
threads engine with 1, 2, 3 and 7 workers and random partition sizes, and on
Dask's threaded scheduler; a smaller set runs on Dask's process scheduler
and on a ``distributed.LocalCluster`` with two worker processes.  Also:
failures name the stage and the global record, interrupts leave no thread
and no partial file behind, and the sinks write atomically.
"""

from __future__ import annotations

import _thread
import os
import re
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

import pystream as ps
from pystream.chain import make_plan
from pystream.stream import node_of

import dask
import dask.array as da
import distributed

RNG = np.random.default_rng(20261122)
N = 20_011


def _data(n: int = N, record: tuple[int, ...] = ()) -> np.ndarray:
    x = RNG.standard_normal((n, *record))
    flat = x.reshape(-1)
    flat[RNG.integers(0, flat.size, 40)] = np.nan
    flat[RNG.integers(0, flat.size, 3)] = np.inf
    return x


X = _data()
XR = _data(N // 3, (3,))

PIPELINES: dict[str, Callable[[ps.Stream], ps.Stream]] = {
    "source": lambda s: s,
    "map": lambda s: s.map(np.abs).astype(np.float32),
    "moving_mean": lambda s: s.moving_mean(17),
    "moving_median": lambda s: s.map(np.abs).moving_median(31, min_count=5),
    "moving_std_ddof": lambda s: s.moving_std(9, ddof=1, nan_policy="propagate"),
    "moving_rank_argmax": lambda s: s.moving_rank(12).moving_argmax(5, min_count=1),
    "windows_chain": lambda s: s.moving_max(25).moving_min(40).moving_quantile(7, 0.3),
    "diff": lambda s: s.diff(3),
    "nwise": lambda s: s.nwise(5).map(lambda c: c.sum(axis=1)),
    "sliding_window": lambda s: s.sliding_window(6, step=4),
    "tumbling": lambda s: s.tumbling(9),
    "resample_mean": lambda s: s.moving_max(7).resample(10, "mean"),
    "resample_max": lambda s: s.resample(7, "max"),
    "skip_take": lambda s: s.skip(777).moving_var(13).take(12_345),
    "take_window": lambda s: s.take(15_000).moving_sum(100),
    "take_resample": lambda s: s.take(15_001).moving_mean(3).resample(7, "mean"),
    "rechunk": lambda s: s.rechunk(333).moving_mean(4),
    "filter": lambda s: s.moving_mean(5).filter(lambda c: c > 0).map(np.sqrt),
    "filter_then_window": lambda s: s.filter(lambda c: c > -1).moving_mean(3),
    "sequential": lambda s: s.moving_mean(5).cumsum().moving_min(3),
    "ewm": lambda s: s.moving_mean(3).ewm_mean(span=10),
    "pipe": lambda s: s.pipe(_running_max),
}


def _running_max(chunks):
    top = -np.inf
    for c in chunks:
        out = np.fmax.accumulate(np.concatenate([[top], c]))[1:]
        top = out[-1]
        yield out


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


SETTINGS = [(1, 1000), (2, 777), (3, 5001), (7, 13), (2, None), (3, N + 5)]
#: Partitions of a single record are slow (20,000 tasks): a few pipelines.
ONE_RECORD = ["moving_mean", "resample_mean", "skip_take", "diff", "sliding_window"]
CASES = [(name, w, size) for name in PIPELINES for w, size in SETTINGS] + \
    [(name, 7, 1) for name in ONE_RECORD]


@pytest.mark.parametrize("name,workers,size", CASES)
def test_threads_to_array_bit_identical(name: str, workers: int, size: int | None) -> None:
    f = PIPELINES[name]
    s = ps.from_array(X, chunk_size=1000)
    ref = f(s).to_array()
    got = f(s).to_array(engine="threads", workers=workers, partition_size=size)
    assert _same(ref, got)


SCALAR_PIPELINES = [name for name in PIPELINES if name not in ("sliding_window", "tumbling")]


@pytest.mark.parametrize("name", SCALAR_PIPELINES)
def test_threads_random_partitions_reductions(name: str) -> None:
    f = PIPELINES[name]
    rng = np.random.default_rng(sum(map(ord, name)))   # a stable seed per pipeline
    s = ps.from_array(X, chunk_size=int(rng.integers(50, 3000)))
    assert f(s).record_shape == ()
    ref_d = f(s).describe(ddof=1)
    ref_h = f(s).histogram(bins=17) if np.isfinite(ref_d.min) and np.isfinite(ref_d.max) else None
    ref_q = f(s).quantile([0.0, 0.1, 0.5, 0.99, 1.0], nan_policy="omit")
    for workers in (1, 2, 3, 7):
        size = int(rng.integers(1, N // 2))
        kw = dict(engine="threads", workers=workers, partition_size=size)
        assert f(s).describe(ddof=1, **kw) == ref_d
        if ref_h is not None:
            assert f(s).histogram(bins=17, **kw) == ref_h
        got_q = f(s).quantile([0.0, 0.1, 0.5, 0.99, 1.0], nan_policy="omit", **kw)
        assert np.array_equal(got_q, ref_q, equal_nan=True)


@pytest.mark.parametrize("workers", [2, 3])
def test_threads_kll_quantile_bit_identical(workers: int) -> None:
    s = ps.from_array(X, chunk_size=999)
    ref = s.moving_mean(4).quantile([0.01, 0.5, 0.99], method="kll", k=64, nan_policy="omit")
    for size in (1, 1234, 4096, 10_000):
        got = s.moving_mean(4).quantile([0.01, 0.5, 0.99], method="kll", k=64, nan_policy="omit",
                                        engine="threads", workers=workers, partition_size=size)
        assert np.array_equal(got, ref)


def test_record_streams() -> None:
    s = ps.from_array(XR, chunk_size=500)
    for f in (lambda s: s, lambda s: s.moving_mean(6), lambda s: s.select([0, 2]).diff(1)):
        ref = f(s).to_array()
        for workers, size in ((2, 700), (3, 1)):
            kw = dict(engine="threads", workers=workers, partition_size=size)
            assert _same(f(s).to_array(**kw), ref)
            assert f(s).describe(nan_policy="omit", **kw) == f(s).describe(nan_policy="omit")
            assert np.array_equal(f(s).quantile(0.5, nan_policy="omit", **kw),
                                  f(s).quantile(0.5, nan_policy="omit"), equal_nan=True)


def test_every_terminal_operation_takes_the_engines() -> None:
    s = ps.from_array(np.abs(X), chunk_size=1000).moving_mean(10)
    kw = dict(engine="threads", workers=2, partition_size=3001)
    for op in ("count", "sum", "mean", "min", "max"):
        ref = getattr(s, op)(nan_policy="omit")
        assert np.array_equal(getattr(s, op)(nan_policy="omit", **kw), ref, equal_nan=True), op
    for op in ("var", "std"):
        ref = getattr(s, op)(ddof=1, nan_policy="omit")
        assert np.array_equal(getattr(s, op)(ddof=1, nan_policy="omit", **kw), ref, equal_nan=True)
    assert s.moments(**kw) == s.moments()        # a registered reducer (Moments, with start)
    assert s.histogram(bins=30, log=True, range=(0.1, 3), **kw) == \
        s.histogram(bins=30, log=True, range=(0.1, 3))


def test_default_workers_and_partition_size() -> None:
    x = RNG.standard_normal(300_000)
    s = ps.from_array(x).moving_median(11)
    assert _same(s.to_array(engine="threads"), s.to_array())
    assert s.describe(engine="threads") == s.describe()


def test_nan_policy_raise_same_error_on_every_engine() -> None:
    x = np.arange(10_000.0)
    x[6543] = np.nan
    s = ps.from_array(x, chunk_size=100)
    with pytest.raises(ValueError) as local:
        s.describe(nan_policy="raise")
    for kw in (dict(engine="threads", workers=3, partition_size=1000), dict(engine="dask")):
        with pytest.raises(ValueError) as got:
            s.describe(nan_policy="raise", **kw)
        assert str(got.value) == str(local.value)
        with pytest.raises(ValueError, match="record 6543"):
            s.quantile(0.5, nan_policy="raise", **kw)
        with pytest.raises(ValueError, match="6543"):
            s.moving_mean(3, nan_policy="raise").to_array(**kw)


# --------------------------------------------------------------------------- sources


def test_npy_file_list_and_raw_file_sources(tmp_path) -> None:
    parts = np.array_split(X, [0, 5000, 5000, 12_000])
    paths = []
    for i, p in enumerate(parts):
        path = tmp_path / f"part{i}.npy"
        np.save(path, p.astype(">f8") if i == 2 else p)
        paths.append(path)
    with pytest.raises(ValueError, match="all files must match"):
        ps.from_npy(paths)
    np.save(paths[2], parts[2])
    one = tmp_path / "all.npy"
    np.save(one, np.asfortranarray(X))
    raw = tmp_path / "all.f8"
    X.astype(">f8").tofile(raw)
    shards = []
    for i, p in enumerate(parts):
        shard = tmp_path / f"part{i}.f8"
        shard.write_bytes(b"HEAD" + p.astype(">f8").tobytes())   # a 4-byte header each
        shards.append(shard)
    ref = X.copy()
    for s in (ps.from_npy(paths, chunk_size=700), ps.from_npy(one), ps.from_file(raw, ">f8"),
              ps.from_file(shards, ">f8", offset=4, chunk_size=900)):
        assert _same(s.to_array().astype(np.float64), ref)
        for f in (PIPELINES["moving_median"], PIPELINES["resample_mean"], PIPELINES["filter"]):
            want = f(ps.from_array(ref, chunk_size=999)).to_array()
            for kw in (dict(engine="threads", workers=3, partition_size=2999),
                       dict(engine="dask", partition_size=4000)):
                assert _same(f(s).to_array(**kw), want)
        assert s.describe(engine="threads", workers=2, partition_size=3333) == \
            ps.from_array(ref).describe()


def test_raw_file_trailing_partial_record_raises_on_every_engine(tmp_path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(np.arange(100.0).tobytes() + b"\x01\x02\x03")
    good = tmp_path / "y.bin"
    good.write_bytes(np.arange(50.0).tobytes())
    for kw in ({}, dict(engine="threads", workers=2, partition_size=30),
               dict(engine="dask", partition_size=30)):
        with pytest.raises(ValueError, match="trailing partial record of 3 bytes"):
            ps.from_file(path, np.float64).to_array(**kw)
        # ... also in the middle of a list of files
        with pytest.raises(ValueError, match="x.bin.*trailing partial record of 3 bytes"):
            ps.from_file([good, path, good], np.float64).to_array(**kw)
        with pytest.raises(ValueError, match="offset 1000 is beyond the end"):
            ps.from_file([good, path], np.float64, offset=1000).to_array(**kw)
    with pytest.raises(ValueError, match="list of files is empty"):
        ps.from_file([], np.float64)
    with pytest.raises(FileNotFoundError, match="no such file"):
        ps.from_file([good, tmp_path / "missing.bin"], np.float64)


def test_from_dask_source() -> None:
    dx = da.from_array(XR, chunks=(1111, 1))          # chunks along records are merged
    s = ps.from_dask(dx, chunk_size=300)
    assert s.record_shape == (3,) and s.dtype == np.float64
    assert _same(s.to_array(), XR)
    assert all(len(c) <= 300 for c in s)
    ref = ps.from_array(XR).moving_mean(5).to_array()
    for kw in ({}, dict(engine="threads", workers=2, partition_size=1000), dict(engine="dask"),
               dict(engine="dask", partition_size=1700)):
        assert _same(s.moving_mean(5).to_array(**kw), ref)
        assert s.describe(**kw) == ps.from_array(XR).describe()
    with pytest.raises(TypeError, match="dask.array.Array"):
        ps.from_dask(XR)
    unknown = da.from_array(X, chunks=1000)
    unknown = unknown[unknown > 0]
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        ps.from_dask(unknown)


def test_one_pass_sources_are_refused_with_a_clear_error() -> None:
    s = ps.from_iterable(iter(range(100)), np.int64)
    for engine in ("threads", "dask"):
        with pytest.raises(ValueError, match="random-access source"):
            s.describe(engine=engine)


def test_engine_argument_checks() -> None:
    s = ps.from_array(X)
    with pytest.raises(ValueError, match="engine must be one of"):
        s.mean(engine="spark")
    with pytest.raises(ValueError, match="workers must be >= 1"):
        s.mean(engine="threads", workers=0)
    with pytest.raises(TypeError, match="partition_size must be a positive integer"):
        s.mean(engine="threads", partition_size=1.5)
    with pytest.raises(ValueError, match="not to the local engine"):
        s.mean(workers=2)
    with pytest.raises(ValueError, match="Dask scheduler decides"):
        s.mean(engine="dask", workers=2)


def test_plan_cuts_at_sequential_steps() -> None:
    s = ps.from_array(X)
    plan = make_plan(node_of(s.moving_mean(3).cumsum().moving_min(2)))
    assert [st.name for st in plan.prefix] == ["moving_mean"]
    assert [st.name for st in plan.suffix] == ["cumsum", "moving_min"]
    plan = make_plan(node_of(s.filter(lambda c: c > 0).map(np.abs).moving_mean(3)))
    assert not plan.indexed and [st.name for st in plan.suffix] == ["moving_mean"]


# --------------------------------------------------------------------------- Dask schedulers


DASK_PIPELINES = ["source", "moving_median", "resample_mean", "skip_take", "take_resample", "filter",
                  "sequential"]


@pytest.mark.parametrize("scheduler", ["threads", "sync"])
@pytest.mark.parametrize("name", DASK_PIPELINES)
def test_dask_threaded_scheduler(scheduler: str, name: str) -> None:
    f = PIPELINES[name]
    s = ps.from_array(X, chunk_size=1000)
    sd = ps.from_dask(da.from_array(X, chunks=3001))
    with dask.config.set(scheduler=scheduler):
        for src, size in ((s, None), (s, 2500), (sd, None), (sd, 999)):
            assert _same(f(src).to_array(engine="dask", partition_size=size), f(s).to_array())
            assert f(src).describe(engine="dask", partition_size=size) == f(s).describe()
            assert f(src).histogram(bins=9, range=(-2, 2), engine="dask") == \
                f(s).histogram(bins=9, range=(-2, 2))


def _dask_checks(s: ps.Stream, sd: ps.Stream) -> None:
    for name in ("moving_median", "resample_mean", "filter", "sequential"):
        f = PIPELINES[name]
        ref = f(s).to_array()
        assert _same(f(sd).to_array(engine="dask"), ref)
        assert _same(f(s).to_array(engine="dask", partition_size=4444), ref)
        assert f(sd).describe(engine="dask") == f(s).describe()
    assert np.array_equal(sd.quantile([0.1, 0.9], nan_policy="omit", engine="dask"),
                          s.quantile([0.1, 0.9], nan_policy="omit"))
    assert np.array_equal(
        sd.quantile([0.1, 0.9], method="kll", nan_policy="omit", engine="dask"),
        s.quantile([0.1, 0.9], method="kll", nan_policy="omit"))


def test_dask_process_scheduler() -> None:
    s = ps.from_array(X, chunk_size=1000)
    sd = ps.from_dask(da.from_array(X, chunks=5003))
    with dask.config.set(scheduler="processes", num_workers=2):
        _dask_checks(s, sd)


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 worker processes and its client, not made the
    default scheduler (the tests that use it say so, and only while they run)."""
    local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=":0", silence_logs=40)
    client = distributed.Client(local, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        local.close()


@pytest.fixture
def cluster_client(cluster):
    with dask.config.set(scheduler=cluster.get):
        yield cluster


def _pid(c: np.ndarray) -> np.ndarray:
    return np.full(len(c), os.getpid(), dtype=np.int64)


def test_dask_distributed_local_cluster(cluster_client, tmp_path) -> None:
    assert len(cluster_client.scheduler_info()["workers"]) == 2
    pids = ps.from_array(np.zeros(40_000)).map(_pid).to_array(engine="dask", partition_size=10_000)
    assert os.getpid() not in set(pids.tolist())      # the tasks ran in the worker processes
    s = ps.from_array(X, chunk_size=1000)
    sd = ps.from_dask(da.from_array(X, chunks=5003).persist())
    _dask_checks(s, sd)
    path = tmp_path / "x.npy"
    np.save(path, X)
    # Tasks open the file themselves (only its name travels).
    assert _same(ps.from_npy(path).moving_mean(8).to_array(engine="dask", partition_size=3000),
                 s.moving_mean(8).to_array())


def test_dask_distributed_failure_names_stage_and_record(cluster_client) -> None:
    sd = ps.from_dask(da.from_array(np.arange(20_000.0), chunks=4000))
    with pytest.raises(ZeroDivisionError) as err:
        sd.moving_mean(3).map(_fail_at_13000).describe(engine="dask")
    notes = "\n".join(getattr(err.value, "__notes__", []))
    lo, hi = map(int, re.search(r"global records \[(\d+), (\d+)\)", notes).groups())
    assert "map(_fail_at_13000)" in notes and lo <= 13_000 < hi


# --------------------------------------------------------------------------- errors


def _fail_at_13000(c: np.ndarray) -> np.ndarray:
    if c.size and c[0] <= 13_000 <= c[-1] + 2:
        raise ZeroDivisionError("boom at 13000")
    return c


@pytest.mark.parametrize("terminal", ["to_array", "describe"])
@pytest.mark.parametrize("engine", ["threads", "dask"])
def test_worker_failure_names_stage_and_global_record(terminal: str, engine: str) -> None:
    s = ps.from_array(np.arange(20_000.0), chunk_size=1000)
    kw = dict(engine=engine, partition_size=4000)
    if engine == "threads":
        kw["workers"] = 3
    with pytest.raises(ZeroDivisionError, match="boom at 13000") as err:
        getattr(s.map(_fail_at_13000).moving_mean(4), terminal)(**kw)
    notes = "\n".join(getattr(err.value, "__notes__", []))
    assert "stage 'map(_fail_at_13000)'" in notes
    lo, hi = map(int, re.search(r"global records \[(\d+), (\d+)\)", notes).groups())
    assert lo <= 13_000 < hi
    assert not [t for t in threading.enumerate() if t.name.startswith("pystream-worker")]


def test_sequential_step_failure_is_annotated_too() -> None:
    def bad(chunks):
        for c in chunks:
            if c[0] >= 5000:
                raise RuntimeError("bad stage")
            yield c

    s = ps.from_array(np.arange(10_000.0), chunk_size=1000).moving_mean(2).pipe(bad)
    with pytest.raises(RuntimeError, match="bad stage") as err:
        s.to_array(engine="threads", workers=2, partition_size=1500)
    notes = "\n".join(err.value.__notes__)
    lo, hi = map(int, re.search(r"stage 'bad' on its input chunk of global records "
                                r"\[(\d+), (\d+)\)", notes).groups())
    assert 5000 <= lo < hi <= 10_000
    assert not [t for t in threading.enumerate() if t.name.startswith("pystream-worker")]


def _slow_map(c: np.ndarray) -> np.ndarray:
    time.sleep(0.002)
    return c


def _interrupting_map(c: np.ndarray) -> np.ndarray:
    if c.size and c[0] >= 30_000:
        _thread.interrupt_main()   # what Ctrl-C does: KeyboardInterrupt in the main thread
        time.sleep(0.05)
    return c


@pytest.mark.parametrize("sink", ["to_npy", "to_file"])
@pytest.mark.parametrize("engine", ["local", "threads", "dask"])
def test_interrupt_leaves_no_partial_output(tmp_path, sink: str, engine: str) -> None:
    path = tmp_path / "out.data"
    path.write_bytes(b"previous content")
    s = ps.from_array(np.arange(60_000.0), chunk_size=500).map(_slow_map).map(_interrupting_map)
    kw = {"local": {}, "threads": dict(engine="threads", workers=2, partition_size=2000),
          "dask": dict(engine="dask", partition_size=2000)}[engine]
    # Dask's threaded scheduler: the interrupt comes from a worker of this process.
    with dask.config.set(scheduler="threads"), pytest.raises(KeyboardInterrupt):
        getattr(s, sink)(path, **kw)
    assert path.read_bytes() == b"previous content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.data"]
    assert not [t for t in threading.enumerate() if t.name.startswith("pystream-worker")]


def test_failure_leaves_no_partial_output(tmp_path) -> None:
    path = tmp_path / "out.npy"
    s = ps.from_array(np.arange(20_000.0), chunk_size=1000).map(_fail_at_13000)
    for kw in ({}, dict(engine="threads", workers=2, partition_size=3000), dict(engine="dask")):
        with pytest.raises(ZeroDivisionError):
            s.to_npy(path, **kw)
        assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- sinks


@pytest.mark.parametrize("dtype", ["<f8", ">f4", "<i2", "?"])
def test_to_npy_and_to_file_round_trip(tmp_path, dtype: str) -> None:
    x = (RNG.standard_normal((1001, 2, 3)) * 100).astype(dtype)
    s = ps.from_array(x, chunk_size=77)
    for kw in ({}, dict(engine="threads", workers=3, partition_size=100), dict(engine="dask")):
        npy = tmp_path / "x.npy"
        assert s.to_npy(npy, **kw) == 1001
        back = np.load(npy)
        assert back.dtype == x.dtype and _same(back, x)
        raw = tmp_path / "x.raw"
        assert s.to_file(raw, **kw) == 1001
        assert raw.read_bytes() == x.tobytes()
    empty = tmp_path / "empty.npy"
    assert ps.from_array(x[:0]).to_npy(empty) == 0
    assert np.load(empty).shape == (0, 2, 3)
    strided = ps.from_array(x[::2, 1])            # non-contiguous chunks
    assert strided.to_npy(tmp_path / "s.npy") == 501
    assert _same(np.load(tmp_path / "s.npy"), x[::2, 1])


def test_to_npy_header_is_what_numpy_reads_for_large_lengths(tmp_path) -> None:
    from pystream.sinks import npy_header

    for shape in ((0,), (7, 3), (2**40, 1, 2)):
        h = npy_header(np.dtype("<f8"), shape, 128)
        path = tmp_path / "h.npy"
        path.write_bytes(h)
        with open(path, "rb") as f:
            assert np.lib.format.read_magic(f) == (1, 0)
            got_shape, fortran, dt = np.lib.format.read_array_header_1_0(f)
        assert got_shape == shape and not fortran and dt == np.float64


def test_sink_path_errors(tmp_path) -> None:
    s = ps.from_array(np.arange(3.0))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        s.to_npy(tmp_path / "missing" / "x.npy")
    with pytest.raises(IsADirectoryError):
        s.to_file(tmp_path)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kw", [dict(engine="threads", workers=2), dict(engine="dask")])
def test_empty_streams(kw) -> None:
    for e in (ps.from_array(np.zeros(0)), ps.from_array(np.zeros((0, 3), np.float32))):
        assert _same(e.to_array(**kw), e.to_array())
        assert _same(e.moving_mean(3).to_array(**kw), e.moving_mean(3).to_array())
        assert e.describe(**kw) == e.describe()
        assert np.array_equal(e.quantile(0.5, **kw), e.quantile(0.5), equal_nan=True)
        with pytest.raises(ValueError, match="the stream is empty"):
            e.min(**kw)


def test_take_splits_only_the_records_it_needs() -> None:
    # Partitions past take(n)'s cap would own nothing: the engines split only
    # the records that feed the output, so the work stays balanced.
    x = np.arange(10_000.0)
    assert make_plan(node_of(ps.from_array(x).skip(10).moving_mean(3).take(100))).effective_length(10_000) == 110
    assert make_plan(node_of(ps.from_array(x).nwise(5).take(100))).effective_length(10_000) == 104
    # 14 full blocks end at record 98; the last partition reads on to the
    # partial block's records 98 and 99 (its flush) up to the cap.
    assert make_plan(node_of(ps.from_array(x).take(100).resample(7))).effective_length(10_000) == 98
    assert make_plan(node_of(ps.from_array(x).moving_mean(5))).effective_length(10_000) == 10_000


# --------------------------------------------------------------------------- random pipelines

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

#: Stage builders: name -> (strategy of parameters, how to add the stage).
STAGES = {
    "map": (st.just(None), lambda s, _: s.map(np.abs)),
    "astype": (st.just(None), lambda s, _: s.astype(np.float32)),
    "filter": (st.just(None), lambda s, _: s.filter(lambda c: ~(c < -0.5))),
    "rechunk": (st.integers(1, 300), lambda s, k: s.rechunk(k)),
    "skip": (st.integers(0, 400), lambda s, k: s.skip(k)),
    "take": (st.integers(0, 2500), lambda s, k: s.take(k)),
    "moving_mean": (st.integers(1, 60), lambda s, w: s.moving_mean(w, min_count=1)),
    "moving_median": (st.integers(1, 40), lambda s, w: s.moving_median(w)),
    "moving_max": (st.integers(1, 40), lambda s, w: s.moving_max(w, nan_policy="propagate")),
    "diff": (st.integers(0, 4), lambda s, k: s.diff(k)),
    "resample": (st.integers(1, 30), lambda s, k: s.resample(k, "mean")),
    "resample_max": (st.integers(1, 30), lambda s, k: s.resample(k, "max", nan_policy="omit")),
    "nwise_sum": (st.integers(1, 9), lambda s, k: s.nwise(k).map(lambda c: c.sum(axis=1))),
    "cumsum": (st.just(None), lambda s, _: s.cumsum(nan_policy="omit")),
    "ewm": (st.just(None), lambda s, _: s.ewm_mean(span=5)),
}


@st.composite
def pipelines(draw):
    names = draw(st.lists(st.sampled_from(sorted(STAGES)), min_size=0, max_size=5))
    return [(name, draw(STAGES[name][0])) for name in names]


XH = _data(3001)


@settings(max_examples=int(os.environ.get("PYSTREAM_HYPOTHESIS_EXAMPLES", 60)), deadline=None)
@given(chain=pipelines(), workers=st.integers(1, 4), size=st.integers(1, 3200),
       chunk=st.integers(1, 1000), engine=st.sampled_from(["threads", "threads", "dask"]))
def test_random_pipelines_are_bit_identical(chain, workers, size, chunk, engine) -> None:
    s = ps.from_array(XH, chunk_size=chunk)
    for name, arg in chain:
        s = STAGES[name][1](s, arg)
    kw = dict(engine=engine, partition_size=max(size, 40) if engine == "dask" else size)
    if engine == "threads":
        kw["workers"] = workers
    assert _same(s.to_array(**kw), s.to_array())
    assert s.describe(**kw) == s.describe()


@pytest.mark.parametrize("kw", [{}, dict(engine="threads", workers=3, partition_size=97),
                                dict(engine="dask", partition_size=300)])
def test_to_text_round_trips_exactly(tmp_path, kw) -> None:
    x = RNG.standard_normal((1001, 3)) * 10.0 ** RNG.integers(-300, 300, (1001, 3))
    path = tmp_path / "x.txt"
    assert ps.from_array(x, chunk_size=77).to_text(path, header="a b c\nsecond line", **kw) == 1001
    assert path.read_text().startswith("# a b c\n# second line\n")
    assert _same(ps.from_text(path).to_array(), x)
    big = np.array([2**62 + 1, -(2**62) - 3, 0], dtype=np.int64)
    assert ps.from_array(big).to_text(path, **kw) == 3
    assert path.read_text().split() == [str(v) for v in big.tolist()]
    f32 = RNG.standard_normal(500).astype(np.float32)
    ps.from_array(f32).to_text(path, delimiter=",", **kw)
    assert _same(ps.from_text(path, dtype=np.float32).to_array(), f32)
    with pytest.raises(TypeError, match="numeric text"):
        ps.from_array(np.zeros(3, complex)).to_text(path, **kw)


def test_to_text_failure_leaves_no_file(tmp_path) -> None:
    s = ps.from_array(np.arange(20_000.0), chunk_size=1000).map(_fail_at_13000)
    for kw in ({}, dict(engine="threads", workers=2, partition_size=3000)):
        with pytest.raises(ZeroDivisionError):
            s.to_text(tmp_path / "x.txt", **kw)
        assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kw", [{}, dict(engine="threads", workers=3, partition_size=997),
                                dict(engine="dask", partition_size=2000)])
def test_to_callback_sees_every_chunk_in_order(kw) -> None:
    s = ps.from_array(X, chunk_size=500).moving_median(9)
    seen: list[np.ndarray] = []
    assert s.to_callback(lambda c: seen.append(c.copy()), **kw) == len(X)
    assert _same(np.concatenate(seen), s.to_array())
    with pytest.raises(TypeError, match="must be callable"):
        s.to_callback(42)

    def stop(c):
        raise RuntimeError("consumer failed")

    with pytest.raises(RuntimeError, match="consumer failed"):
        s.to_callback(stop, **kw)
    assert not [t for t in threading.enumerate() if t.name.startswith("pystream-worker")]
