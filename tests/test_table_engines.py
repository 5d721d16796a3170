"""The time and key columns on the threads engine: the same bytes as the local run
(issue 18), string keys encoded per partition and merged in order."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import pystream as ps
from pystream.chain import CallableSource, node_of
from pystream.engines.access import RandomAccess
from pystream.engines.columns import ordered_triples
from pystream.engines.options import EngineOptions
from pystream._columns import Columns, KeyColumn, TimeColumn

LOCAL = EngineOptions("local")


def cat(triples: Iterator) -> list[np.ndarray | None]:
    got = list(triples)
    if not got:
        return [None, None, None]
    return [None if got[0][i] is None else np.concatenate([g[i] for g in got]) for i in range(3)]


def same(a: list, b: list) -> bool:
    return all((u is None and v is None) or (u.dtype == v.dtype and u.tobytes() == v.tobytes())
               for u, v in zip(a, b))


def keyed_source(x: np.ndarray, t: np.ndarray, keys: np.ndarray, chunk: int) -> ps.Stream:
    """A source that encodes its string keys as it reads them, like a CSV or
    Parquet file: one dictionary for the serial run, a fresh one per range."""
    dictionary = ps.KeyDictionary()
    n = len(x)

    def by_range(a: int, b: int | None, size: int | None = None,
                 into: ps.KeyDictionary | None = None) -> Iterator:
        d = dictionary if into is None else into
        stop = n if b is None else min(b, n)
        for i in range(a, stop, size or chunk):
            j = min(i + (size or chunk), stop)
            yield x[i:j], t[i:j], d.encode(keys[i:j])

    access = RandomAccess("keyed", lambda: n, lambda a, b, size=None: (c for c, _, _ in by_range(a, b, size)),
                          triples=by_range, local_keys=True)
    src = CallableSource(lambda: (x[i:i + chunk] for i in range(0, n, chunk)), access=access,
                         triples=lambda: by_range(0, None))
    table = Columns(("a", "b"), TimeColumn("t", np.dtype(np.int64)), KeyColumn("k", dictionary))
    return ps.Stream._from_source(src, x.dtype, x.shape[1:], table=table)


PIPELINES = {
    "source": lambda s: s,
    "moving_mean": lambda s: s.moving_mean(50),
    "skip-diff-resample": lambda s: s.skip(1234).diff(3).resample(7),
    "filter-map": lambda s: s.filter(lambda c: c[:, 0] > 0).map(np.abs),
    "sliding_window": lambda s: s.sliding_window(10, step=3),
    "cumsum-moving_max": lambda s: s.cumsum().moving_max(5),
    "take-tumbling": lambda s: s.take(5555).tumbling(10),
    "filter-moving_mean": lambda s: s.filter(lambda c: c[:, 0] > 0).moving_mean(4),
    "select-ewm": lambda s: s.select("b").ewm_mean(alpha=0.1),
}


def data(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    t = np.cumsum(rng.integers(1, 100, n))
    # keys appearing for the first time late in the stream, and nulls
    keys = np.array(list("abcdefg") + [None], dtype=object)[rng.integers(0, 8, n)]
    keys[n // 2:n // 2 + 10] = "late"
    return x, t, keys


ENGINES = [("threads", None), ("threads", 777), ("threads", 5000), ("dask", None), ("dask", 3001)]


def options(engine: str, size: int | None) -> EngineOptions:
    return EngineOptions(engine, 2 if engine == "threads" else None, size)


@pytest.mark.parametrize("name", sorted(PIPELINES))
@pytest.mark.parametrize("engine,size", ENGINES)
def test_engine_triples_are_the_local_bytes(name: str, engine: str, size: int | None) -> None:
    x, t, keys = data(30_000)
    make = PIPELINES[name]
    s = ps.from_array(x, chunk_size=1000, columns=["a", "b"], time=t,
                      key=np.where(keys == None, "none", keys).astype(str))  # noqa: E711
    want = cat(ordered_triples(node_of(make(s)), LOCAL))
    got = cat(ordered_triples(node_of(make(s)), options(engine, size)))
    assert same(want, got)


@pytest.mark.parametrize("name", sorted(PIPELINES))
@pytest.mark.parametrize("engine,size", ENGINES)
def test_partition_dictionaries_merge_into_the_serial_codes(name: str, engine: str,
                                                            size: int | None) -> None:
    x, t, keys = data(20_000, seed=7)
    make = PIPELINES[name]
    serial = keyed_source(x, t, keys, 1000)
    want = cat(ordered_triples(node_of(make(serial)), LOCAL))
    fresh = keyed_source(x, t, keys, 1000)    # a dictionary that has seen nothing yet
    got = cat(ordered_triples(node_of(make(fresh)), options(engine, size)))
    assert same(want, got)
    assert fresh.key_column.dictionary.keys[:len(serial.key_column.dictionary)] == \
        serial.key_column.dictionary.keys[:len(fresh.key_column.dictionary)]


def test_threads_needs_columns_by_range() -> None:
    x = np.arange(10.0)
    s = ps.from_array(x, time=np.arange(10))
    node = node_of(s)
    node.root().source.access = RandomAccess("no columns", lambda: 10, lambda a, b, size=None: iter(()))
    with pytest.raises(ValueError, match="cannot read its time and key columns by range"):
        list(ordered_triples(node, EngineOptions("threads", 2)))
    with pytest.raises(ValueError, match="cannot read its time and key columns by range"):
        list(ordered_triples(node, EngineOptions("dask")))


@pytest.mark.parametrize("engine", ["threads", "dask"])
def test_table_sinks_on_the_engines(engine: str, tmp_path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    x, t, keys = data(20_000, seed=3)
    s = keyed_source(x, t, keys, 1000).skip(10).moving_mean(7).resample(3)
    kw = dict(engine=engine, partition_size=2999)
    local = s.to_arrow()

    def same_table(a: "pa.Table", b: "pa.Table") -> bool:
        # Table.equals holds NaN unequal to itself: compare the columns' bytes
        return a.schema == b.schema and all(
            x.combine_chunks().to_pylist() == y.combine_chunks().to_pylist()
            if pa.types.is_dictionary(x.type) else
            x.combine_chunks().to_numpy().tobytes() == y.combine_chunks().to_numpy().tobytes()
            for x, y in zip(a.columns, b.columns))

    assert same_table(local, s.to_arrow(**kw))
    assert s.to_pandas().equals(s.to_pandas(**kw))
    s.to_parquet(tmp_path / "a.parquet")
    s.to_parquet(tmp_path / "b.parquet", **kw)
    assert same_table(pq.read_table(tmp_path / "a.parquet"), pq.read_table(tmp_path / "b.parquet"))
    assert s.to_ipc(tmp_path / "c.arrow", **kw) == local.num_rows
    assert same_table(pa.ipc.open_file(tmp_path / "c.arrow").read_all(), local)
    with pytest.raises(ValueError, match="workers and partition_size apply"):
        s.to_arrow(workers=2)


@pytest.mark.parametrize("engine", ["threads", "dask"])
def test_parquet_columns_on_the_engines(engine: str, tmp_path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    x, t, keys = data(30_000, seed=11)
    table = pa.table({"t": pa.array(t.astype("datetime64[ns]")), "k": pa.array(keys.tolist()),
                      "a": x[:, 0], "b": x[:, 1]})
    pq.write_table(table, tmp_path / "f.parquet", row_group_size=3_000)
    make = lambda: ps.from_parquet(tmp_path / "f.parquet", columns=["a", "b"], time="t", key="k")
    for pipeline in (lambda s: s, lambda s: s.skip(5000).moving_mean(9).resample(4),
                     lambda s: s.filter(lambda c: c[:, 0] > 0.5)):
        want = cat(ordered_triples(node_of(pipeline(make())), LOCAL))
        s = pipeline(make())                       # a fresh dictionary
        got = cat(ordered_triples(node_of(s), options(engine, 4_000)))
        assert same(want, got)
        assert s.to_pandas(engine=engine).equals(pipeline(make()).to_pandas())


def test_row_group_sources_are_cut_at_row_groups(tmp_path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from pystream.chain import make_plan
    from pystream.engines.threads import granule_partitions
    x = np.random.default_rng(5).normal(size=16_000)
    pq.write_table(pa.table({"x": x}), tmp_path / "f.parquet", row_group_size=1_000)
    s = ps.from_parquet(tmp_path / "f.parquet", "x")
    granules = node_of(s).root().source.access.granules()
    assert granules == list(range(0, 16_001, 1_000))
    warm = make_plan(node_of(s.moving_median(101)))
    cold = make_plan(node_of(s.map(np.abs)))
    # a warm-up decodes one row group more per partition: one partition per worker
    assert granule_partitions(16_000, granules, 2, warm) == [(0, 8_000), (8_000, None)]
    parts = granule_partitions(16_000, granules, 2, cold)
    assert len(parts) == 8 and all(a % 1_000 == 0 for a, _ in parts)
    for st in (s.moving_median(101), s.map(np.abs)):
        np.testing.assert_array_equal(st.to_array(engine="threads", workers=2), st.to_array())
    assert granule_partitions(10, [0, 10], 4, None) == [(0, None)]
