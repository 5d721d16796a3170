"""The table sinks: to_arrow, to_pandas, to_parquet, to_ipc, checked against
pyarrow / pandas tables built directly from the same arrays."""

from __future__ import annotations

import os
import sys
import tracemalloc

import numpy as np
import pytest

import pystream as ps

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
feather = pytest.importorskip("pyarrow.feather")
pd = pytest.importorskip("pandas")

RNG = np.random.default_rng(18)


def same_table(a, b) -> bool:
    """Tables equal bit for bit (NaN equal to a NaN of the same bits; Table.equals
    says NaN != NaN), dictionary columns compared by their decoded values."""
    if a.schema != b.schema or a.num_rows != b.num_rows:
        return False
    for name in a.column_names:
        x, y = a.column(name).combine_chunks(), b.column(name).combine_chunks()
        if pa.types.is_dictionary(x.type):
            if x.dictionary_decode().to_pylist() != y.dictionary_decode().to_pylist():
                return False
        elif pa.types.is_floating(x.type):
            if not x.is_null().equals(y.is_null()):
                return False
            xs, ys = x.to_numpy(zero_copy_only=False), y.to_numpy(zero_copy_only=False)
            if xs.tobytes() != ys.tobytes():
                return False
        elif not x.equals(y):
            return False
    return True


def data(n: int = 200, k: int = 3, nan: float = 0.1, null_key: float = 0.1):
    x = RNG.normal(size=(n, k))
    x[RNG.random((n, k)) < nan] = np.nan
    t = np.datetime64("2024-01-01T00:00", "ns") + np.sort(RNG.integers(0, 10**12, n)).astype(
        "timedelta64[ns]")
    keys = RNG.choice(np.array(["UA", "AA", "DL", "B6"], dtype=object), n)
    keys[RNG.random(n) < null_key] = None
    return x, t, keys


def oracle(x, t, keys, names):
    """The expected Arrow table, built by pyarrow alone."""
    cols = {"time": pa.array(t).cast(pa.timestamp("ns", tz="UTC"))}
    if keys is not None:
        cols["key"] = pa.array(list(keys), pa.string()).dictionary_encode().cast(
            pa.dictionary(pa.int32(), pa.string()))
    for j, name in enumerate(names):
        cols[name] = pa.array(x[:, j])
    fields = [pa.field(n, c.type, nullable=n != "time") for n, c in cols.items()]
    return pa.Table.from_arrays(list(cols.values()), schema=pa.schema(fields))


# --------------------------------------------------------------------------- to_arrow


def test_to_arrow_matches_pyarrow_built_directly():
    x, t, keys = data()
    s = ps.from_array(x, columns=["a", "b", "c"], time=t, key=keys, chunk_size=37)
    got = s.to_arrow()
    want = oracle(x, t, keys, ["a", "b", "c"])
    assert got.column_names == ["time", "key", "a", "b", "c"]
    assert got.schema.field("time").type == pa.timestamp("ns", tz="UTC")
    assert got.schema.field("key").type == pa.dictionary(pa.int32(), pa.string())
    assert same_table(got, want)
    # values bit for bit, NaN where they were
    for j, name in enumerate("abc"):
        col = got.column(name).to_numpy()
        assert col.tobytes() == x[:, j].tobytes()
    # times as int64 ns since the epoch, UTC
    assert np.array_equal(got.column("time").cast(pa.int64()).to_numpy(), t.view(np.int64))
    # keys decoded, nulls where None; one dictionary, first-seen order
    assert got.column("key").to_pylist() == list(keys)
    assert got.column("key").num_chunks == 6
    dicts = {tuple(c.dictionary.to_pylist()) for c in got.column("key").chunks}
    assert dicts == {tuple(dict.fromkeys(k for k in keys if k is not None))}


@pytest.mark.parametrize("trial", range(5))
def test_to_arrow_any_chunking_same_table(trial):
    x, t, keys = data(n=97)
    ref = ps.from_array(x, columns=["a", "b", "c"], time=t, key=keys).to_arrow()
    sizes = RNG.integers(1, 120, 4).tolist()
    for chunk_size in (1, 96, 97, *sizes):
        s = ps.from_array(x, columns=["a", "b", "c"], time=t, key=keys, chunk_size=chunk_size)
        assert same_table(s.to_arrow(), ref)
        # irregular chunks: re-cut by a rechunk after the source's chunks
        assert same_table(s.rechunk(int(RNG.integers(1, 50))).to_arrow(), ref)
    # no NaN: Table.equals itself (whatever the chunks)
    y = np.nan_to_num(x)
    base = ps.from_array(y, columns=["a", "b", "c"], time=t, key=keys).to_arrow()
    for c in (3, 10, 50):
        assert ps.from_array(y, columns=["a", "b", "c"], time=t, key=keys,
                             chunk_size=c).to_arrow().equals(base)


def test_to_arrow_without_names_time_or_key():
    x = RNG.normal(size=(5, 2))
    tab = ps.from_array(x).to_arrow()
    assert tab.column_names == ["0", "1"]
    assert tab.column("1").to_numpy().tobytes() == x[:, 1].tobytes()
    tab = ps.from_array(x[:, 0]).to_arrow()
    assert tab.column_names == ["value"]
    tab = ps.from_array(x[:, 0], columns=["z"]).to_arrow()
    assert tab.column_names == ["z"]


def test_to_arrow_numeric_time_and_integer_keys():
    x = np.arange(6, dtype=np.int32)
    s = ps.from_array(x, columns=["n"], time=np.arange(6) * 0.5,
                      key=np.array([3, -1, 7, 3, 3, -1]))
    tab = s.to_arrow()
    assert tab.schema.field("time").type == pa.float64()
    assert tab.schema.field("key").type == pa.int64()
    assert tab.schema.field("n").type == pa.int32()
    assert tab.column("key").to_pylist() == [3, None, 7, 3, 3, None]
    assert tab.column("time").to_pylist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]


def test_to_arrow_dtypes():
    for dt in (np.bool_, np.int8, np.uint16, np.int64, np.uint64, np.float16, np.float32):
        x = (np.arange(7) % 3).astype(dt)
        tab = ps.from_array(x).to_arrow()
        assert tab.column("value").to_numpy().tobytes() == x.tobytes() or dt is np.bool_
        assert tab.column("value").to_pylist() == x.tolist()
    with pytest.raises(TypeError, match="Arrow has no column type.*complex"):
        ps.from_array(np.zeros(3, complex)).to_arrow()
    big = np.arange(4.0).astype(">f8")
    assert ps.from_array(big).to_arrow().column("value").to_pylist() == [0.0, 1.0, 2.0, 3.0]


def test_to_arrow_edge_cases():
    # empty, one row, all-NaN column, all-null keys
    t = np.array(["2024-01-01"], dtype="datetime64[s]")
    empty = ps.from_array(np.zeros((0, 2)), columns=["a", "b"], time=t[:0], key=np.array([], str))
    tab = empty.to_arrow()
    assert tab.num_rows == 0 and tab.column_names == ["time", "key", "a", "b"]
    one = ps.from_array(np.array([[np.nan, 1.0]]), columns=["a", "b"], time=t, key=[None])
    tab = one.to_arrow()
    assert tab.num_rows == 1 and tab.column("key").to_pylist() == [None]
    assert np.isnan(tab.column("a").to_numpy()[0])
    nan = ps.from_array(np.full((4, 1), np.nan), columns=["x"]).to_arrow()
    assert nan.column("x").null_count == 0 and np.isnan(nan.column("x").to_numpy()).all()
    # a filter that keeps nothing
    assert ps.from_array(np.arange(5.0), time=np.arange(5)).filter(
        lambda c: c > 10).to_arrow().num_rows == 0


def test_string_values_and_one_shot_streams():
    words = np.array(["x", "yy", "", "zzz"])
    tab = ps.from_array(words, columns=["w"]).to_arrow()
    assert tab.schema.field("w").type == pa.string() and tab.column("w").to_pylist() == list(words)
    one = ps.from_iterable(iter([1.0, 2.0, 3.0]), float)
    assert one.to_arrow().column("value").to_pylist() == [1.0, 2.0, 3.0]
    with pytest.raises(RuntimeError):
        one.to_arrow()


def test_to_arrow_refuses_multi_axis_records_and_name_clash():
    with pytest.raises(ValueError, match=r"shape \(2, 2\).*select"):
        ps.from_array(np.zeros((3, 2, 2))).to_arrow()
    with pytest.raises(ValueError, match="'time' is used twice"):
        ps.from_array(np.zeros((3, 1)), columns=["time"], time=np.arange(3)).to_arrow()
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        ps.from_array(np.zeros((3, 2, 2))).to_pandas()
    with pytest.raises(ValueError, match="'key' has the key column's name"):
        ps.from_array(np.zeros((3, 1)), columns=["key"], key=[1, 2, 3]).to_pandas()


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000])
def test_time_and_key_after_stages(chunk_size):
    x, t, keys = data(n=150, k=2, nan=0.0)
    s = ps.from_array(x, columns=["a", "b"], time=t, key=keys, chunk_size=chunk_size)
    tn = t.view(np.int64)
    # filter: the rows kept
    mask = x[:, 0] > 0
    tab = s.filter(lambda c: c[:, 0] > 0).to_arrow()
    assert np.array_equal(tab.column("time").cast(pa.int64()).to_numpy(), tn[mask])
    assert tab.column("key").to_pylist() == list(keys[mask])
    assert tab.column("b").to_numpy().tobytes() == x[mask, 1].tobytes()
    # diff(2): labelled by the later record
    tab = s.diff(2).to_arrow()
    assert np.array_equal(tab.column("time").cast(pa.int64()).to_numpy(), tn[2:])
    assert tab.column("key").to_pylist() == list(keys[2:])
    assert np.array_equal(tab.column("a").to_numpy(), np.diff(x[:, 0], 2))
    # resample(10): blocks labelled by their first record
    tab = s.resample(10, "mean").to_arrow()
    assert np.array_equal(tab.column("time").cast(pa.int64()).to_numpy(), tn[::10])
    assert tab.column("key").to_pylist() == list(keys[::10])
    # moving_mean: each output keeps its record's time and key
    tab = s.moving_mean(5).to_arrow()
    want = pd.DataFrame(x).rolling(5).mean().to_numpy()
    assert np.array_equal(tab.column("time").cast(pa.int64()).to_numpy(), tn)
    np.testing.assert_allclose(tab.column("b").to_numpy(), want[:, 1], rtol=1e-12)
    assert tab.column_names == ["time", "key", "a", "b"]


# --------------------------------------------------------------------------- to_pandas


def test_to_pandas_matches_pandas_built_directly():
    x, t, keys = data()
    s = ps.from_array(x, columns=["a", "b", "c"], time=t, key=keys, chunk_size=41)
    got = s.to_pandas()
    want = pd.DataFrame(x, columns=["a", "b", "c"],
                        index=pd.DatetimeIndex(t, name="time").tz_localize("UTC"))
    categories = list(dict.fromkeys(k for k in keys if k is not None))
    want.insert(0, "key", pd.Categorical(list(keys), categories=categories))
    pd.testing.assert_frame_equal(got, want)
    assert str(got.index.tz) == "UTC" and got.index.name == "time"
    for j, name in enumerate("abc"):
        assert got[name].to_numpy().tobytes() == x[:, j].tobytes()
    # the same frame pyarrow gives from to_arrow()
    via_arrow = s.to_arrow().to_pandas().set_index("time")
    pd.testing.assert_frame_equal(got, via_arrow)


def test_to_pandas_without_time_starts_at_start_and_integer_keys():
    x = np.arange(8.0).reshape(4, 2)
    df = ps.Stream(lambda: iter([x]), np.float64, (2,), start=5).to_pandas()
    assert isinstance(df.index, pd.RangeIndex) and df.index.tolist() == [5, 6, 7, 8]
    assert ps.from_array(x).skip(1).to_pandas().index.tolist() == [0, 1, 2]
    df = ps.from_array(x, key=np.array([5, -1, 5, 9])).to_pandas()
    assert str(df["key"].dtype) == "Int64"
    assert df["key"].isna().tolist() == [False, True, False, False]
    assert df.columns.tolist() == ["key", "0", "1"]
    df = ps.from_array(x[:, 0], time=np.array([1, 2, 4, 8], np.int32)).to_pandas()
    assert df.index.tolist() == [1, 2, 4, 8] and df.index.name == "time"
    assert df.columns.tolist() == ["value"]
    empty = ps.from_array(np.zeros((0, 2)), columns=["a", "b"],
                          time=np.array([], "datetime64[ns]"), key=np.array([], str))
    df = empty.to_pandas()
    assert len(df) == 0 and df.columns.tolist() == ["key", "a", "b"]
    assert str(df.index.dtype) == "datetime64[ns, UTC]"


def test_to_pandas_without_pandas(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install pandas"):
        ps.from_array(np.zeros(3)).to_pandas()


def test_without_pyarrow(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    s = ps.from_array(np.zeros(3))
    for call in (s.to_arrow, lambda: s.to_parquet(tmp_path / "x.parquet"),
                 lambda: s.to_ipc(tmp_path / "x.arrow")):
        with pytest.raises(ImportError, match=r"pip install pystream-numeric\[arrow\]"):
            call()
    assert not list(tmp_path.iterdir())
    # to_pandas needs pandas only
    assert s.to_pandas()["value"].tolist() == [0.0, 0.0, 0.0]


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize("row_group_size", [None, 1, 16, 1000])
def test_to_parquet_round_trip(tmp_path, row_group_size):
    x, t, keys = data(n=123)
    s = ps.from_array(x, columns=["a", "b", "c"], time=t, key=keys, chunk_size=10)
    path = tmp_path / "x.parquet"
    assert s.to_parquet(path, row_group_size=row_group_size) == 123
    back = pq.read_table(path)
    assert same_table(back, s.to_arrow())
    meta = pq.ParquetFile(path).metadata
    size = row_group_size or 1024 * 1024
    assert meta.num_row_groups == -(-123 // size)
    assert meta.row_group(0).column(2).compression == "ZSTD"
    # row groups do not depend on the chunking: same bytes
    other = tmp_path / "y.parquet"
    ps.from_array(x, columns=["a", "b", "c"], time=t, key=keys, chunk_size=7).to_parquet(
        other, row_group_size=row_group_size)
    assert same_table(pq.read_table(other), back)


def test_files_of_empty_and_one_row_streams(tmp_path):
    t = np.array(["2024-03-01T12:00"], dtype="datetime64[m]")
    for n in (0, 1):
        s = ps.from_array(np.full((n, 2), np.nan), columns=["a", "b"], time=t[:n],
                          key=np.array(["k"] * n, dtype=object))
        assert s.to_parquet(tmp_path / f"{n}.parquet") == n
        assert same_table(pq.read_table(tmp_path / f"{n}.parquet"), s.to_arrow())
        assert s.to_ipc(tmp_path / f"{n}.arrow") == n
        assert same_table(feather.read_table(tmp_path / f"{n}.arrow"), s.to_arrow())
    assert pq.read_table(tmp_path / "1.parquet").column("time").to_pylist()[0].isoformat() == \
        "2024-03-01T12:00:00+00:00"


def test_parquet_read_by_polars(tmp_path):
    polars = pytest.importorskip("polars")
    x, t, keys = data(n=64, k=2)
    s = ps.from_array(x, columns=["a", "b"], time=t, key=keys, chunk_size=9)
    s.to_parquet(tmp_path / "x.parquet", row_group_size=10)
    df = polars.read_parquet(tmp_path / "x.parquet")
    assert df.columns == ["time", "key", "a", "b"]
    assert str(df.schema["time"]) == "Datetime(time_unit='ns', time_zone='UTC')"
    assert np.array_equal(df["time"].dt.epoch("ns").to_numpy(), t.view(np.int64))
    assert df["key"].cast(polars.String).to_list() == list(keys)
    assert df["b"].to_numpy().tobytes() == x[:, 1].tobytes()


def test_to_parquet_compression_and_pipeline(tmp_path):
    x, t, keys = data(n=300, k=2, nan=0.0)
    s = ps.from_array(x, columns=["u", "v"], time=t, key=keys).moving_mean(4).resample(3, "max")
    for codec in ("snappy", "none", "gzip"):
        p = tmp_path / f"{codec}.parquet"
        assert s.to_parquet(p, compression=codec) == 100
        assert same_table(pq.read_table(p), s.to_arrow())
    with pytest.raises(ValueError, match="compression must be one of"):
        s.to_parquet(tmp_path / "z.parquet", compression="xz")
    with pytest.raises(ValueError, match="row_group_size"):
        s.to_parquet(tmp_path / "z.parquet", row_group_size=0)
    assert not (tmp_path / "z.parquet").exists()


def test_to_ipc_round_trip(tmp_path):
    x, t, keys = data(n=90)
    s = ps.from_array(x, columns=["a", "b", "c"], time=t, key=keys, chunk_size=8)
    for codec in (None, "lz4", "zstd"):
        p = tmp_path / f"x{codec}.arrow"
        assert s.to_ipc(p, compression=codec) == 90
        assert same_table(feather.read_table(p), s.to_arrow())
        with pa.ipc.open_file(p) as f:
            assert f.num_record_batches == 12
    polars = pytest.importorskip("polars")
    df = polars.read_ipc(tmp_path / "xNone.arrow")
    assert df["key"].to_list() == list(keys)


def failing(stream):
    def boom(c):
        if boom.seen > 50:
            raise RuntimeError("boom midway")
        boom.seen += len(c)
        return c
    boom.seen = 0
    return stream.map(boom)


@pytest.mark.parametrize("sink", ["to_parquet", "to_ipc"])
def test_atomic_on_failure(tmp_path, sink):
    x, t, keys = data(n=200)
    s = failing(ps.from_array(x, columns=["a", "b", "c"], time=t, key=keys, chunk_size=10))
    path = tmp_path / "out.bin"
    with pytest.raises(RuntimeError, match="boom midway"):
        getattr(s, sink)(path)
    assert list(tmp_path.iterdir()) == []          # no file, no temporary left
    path.write_bytes(b"precious")
    with pytest.raises(RuntimeError, match="boom midway"):
        getattr(s, sink)(path)
    assert path.read_bytes() == b"precious"       # not replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    # success replaces it
    good = ps.from_array(x, columns=["a", "b", "c"], time=t, key=keys)
    assert getattr(good, sink)(path) == 200
    assert path.read_bytes() != b"precious"


@pytest.mark.parametrize("sink", ["to_parquet", "to_ipc"])
def test_bad_targets(tmp_path, sink):
    s = ps.from_array(np.arange(3.0))
    with pytest.raises(IsADirectoryError, match="is a directory"):
        getattr(s, sink)(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        getattr(s, sink)(tmp_path / "nope" / "x")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="is a FIFO"):
        getattr(s, sink)(fifo)
    ro = tmp_path / "ro"
    ro.write_bytes(b"keep")
    ro.chmod(0o444)
    with pytest.raises(PermissionError, match="write-protected"):
        getattr(s, sink)(ro)
    assert ro.read_bytes() == b"keep"
    assert getattr(s, sink)(ro, force=True) == 3
    with pytest.raises(TypeError, match="PathLike"):
        getattr(s, sink)(3.5)


def test_parquet_bounded_batches(tmp_path):
    """Row groups of `row_group_size` rows, whatever the chunk size (1000 here)."""
    n = 50_000
    x = np.arange(n, dtype=np.float64)
    s = ps.from_array(x, columns=["x"], time=np.arange(n), chunk_size=1000)
    path = tmp_path / "big.parquet"
    assert s.to_parquet(path, row_group_size=4096) == n
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == -(-n // 4096)
    assert all(meta.row_group(i).num_rows == 4096 for i in range(meta.num_row_groups - 1))
    assert np.array_equal(pq.read_table(path).column("x").to_numpy(), x)


def test_memory_to_arrow_holds_the_data_once_files_hold_a_row_group(tmp_path):
    """numpy memory (tracemalloc): to_arrow's table holds the values and times
    once (each chunk's columns copied once, wrapped zero-copy); to_parquet and
    to_ipc hold about a row group / a batch, not the stream."""
    n = 2_000_000
    x = np.arange(n, dtype=np.float64)
    t = np.arange(n).astype("datetime64[s]")
    s = ps.from_array(x, columns=["x"], time=t, chunk_size=65536)
    data = x.nbytes * 2
    ps.from_array(x[:10], columns=["x"], time=t[:10]).to_arrow()      # warm up imports
    ps.from_array(x[:10], columns=["x"]).to_parquet(tmp_path / "warm.parquet")
    tracemalloc.start()
    try:
        tab = s.to_arrow()
        held, peak = tracemalloc.get_traced_memory()
        assert tab.nbytes == data
        assert held < 1.05 * data and peak < 1.1 * data, (held / data, peak / data)
        del tab
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        assert s.to_parquet(tmp_path / "x.parquet", row_group_size=65536) == n
        assert tracemalloc.get_traced_memory()[1] - base < 0.15 * data
        tracemalloc.reset_peak()
        assert s.to_ipc(tmp_path / "x.arrow") == n
        assert tracemalloc.get_traced_memory()[1] - base < 0.15 * data
    finally:
        tracemalloc.stop()
    assert pq.ParquetFile(tmp_path / "x.parquet").metadata.num_row_groups == -(-n // 65536)


def test_misspelled_keyword_suggests_the_one_meant(tmp_path):
    s = ps.from_array(np.zeros(3))
    with pytest.raises(TypeError, match="did you mean 'row_group_size'"):
        s.to_parquet(tmp_path / "x.parquet", row_groupsize=3)
    with pytest.raises(TypeError, match="did you mean 'compression'"):
        s.to_ipc(tmp_path / "x.arrow", compresion="lz4")
    assert not list(tmp_path.iterdir())
