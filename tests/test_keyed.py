"""Keyed streams (issue 20): every keyed terminal and stage equals, for every key,
the plain one over that key's records alone, bit for bit; chunkings and engines
give the same bytes; pandas / polars agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import pystream as ps
from pystream.keyed.grouping import KeySlots, TooManyKeys, group_rows


def bits(a):
    a = np.asarray(a)
    return a.view(np.int64) if a.dtype == np.float64 else a


def data(n=3000, nkeys=7, seed=0, nan=0.02, strings=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(10, 3, n)
    x[rng.random(n) < nan] = np.nan
    k = rng.integers(0, nkeys, n)
    k[rng.integers(0, n)] = nkeys + 5           # a key that appears once
    t = (np.cumsum(rng.integers(0, 4, n)) * 1_000_000_000).astype("datetime64[ns]")
    if strings:
        k = np.array([f"k{v}" for v in k], dtype=object)
    return x, k, t


def keyed_outputs(stream):
    out = list(stream.batches())
    if not out:
        return np.empty(0), np.empty(0, np.int64), None
    v = np.concatenate([b.values for b in out])
    k = None if out[0].key is None else np.concatenate([b.key for b in out])
    t = None if out[0].time is None else np.concatenate([b.time for b in out])
    return v, k, t


# --------------------------------------------------------------------------- grouping


def test_key_slots_first_seen_limit_and_reuse():
    s = KeySlots(max_keys=3, where="here")
    assert s.encode(np.array([5, -1, 5, 2**62]), 0).tolist() == [0, 1, 0, 2]
    with pytest.raises(TooManyKeys, match=r"here: record 12 has key 9, one more than max_keys=3"):
        s.encode(np.array([5, 5, 9]), 10)
    assert s.keys().tolist() == [5, -1, 2**62]            # unchanged by the refused chunk
    s.remove(np.array([-1]))
    assert s.encode(np.array([9]), 13).tolist() == [1]      # the freed slot
    assert s.keys().tolist() == [5, 9, 2**62] and len(s) == 3


@pytest.mark.parametrize("seed", range(5))
def test_group_rows_is_a_stable_sort(seed):
    ids = np.random.default_rng(seed).integers(0, 1 + seed * 10, 500)
    order, slots, offsets = group_rows(ids, int(ids.max()) + 1)
    assert sorted(order.tolist()) == list(range(500))
    # the slots in the order they first appear, each segment its rows in input order
    assert slots.tolist() == list(dict.fromkeys(ids.tolist()))
    for j, s in enumerate(slots.tolist()):
        rows = order[offsets[j]:offsets[j + 1]]
        assert rows.tolist() == np.flatnonzero(ids == s).tolist()


# --------------------------------------------------------------------------- terminals

TERMINAL_CALLS = [
    ("describe", (), {}),
    ("describe", (), {"ddof": 1, "nan_policy": "omit", "quantiles": (0.1, 0.5)}),
    ("count", (), {}),
    ("sum", (), {"nan_policy": "omit"}),
    ("mean", (), {}),
    ("var", (), {"ddof": 1, "nan_policy": "omit"}),
    ("std", (), {"nan_policy": "omit"}),
    ("min", (), {"nan_policy": "omit"}),
    ("max", (), {"nan_policy": "omit"}),
    ("quantile", (0.5,), {"nan_policy": "omit"}),
    ("quantile", ([0.1, 0.9],), {"method": "relative", "nan_policy": "omit"}),
    ("histogram", (), {"bins": 5}),
    ("histogram", (), {"range": (0.0, 20.0)}),
]


def same_result(a, b):
    if isinstance(a, ps.Description):
        return a == b and all(np.array_equal(bits(getattr(a, f)), bits(getattr(b, f)))
                              for f in ("mean", "var", "sum"))
    if isinstance(a, ps.Histogram):
        return a.to_dict() == b.to_dict() if hasattr(a, "to_dict") else a == b
    return np.array_equal(bits(a), bits(b), equal_nan=True) if np.asarray(a).dtype.kind == "f" \
        else np.array_equal(a, b)


@pytest.mark.parametrize("name,args,kwargs", TERMINAL_CALLS)
@pytest.mark.parametrize("strings", [False, True])
def test_each_key_equals_the_plain_terminal_on_its_records(name, args, kwargs, strings):
    x, k, _ = data(strings=strings)
    r = getattr(ps.from_array(x, key=k, chunk_size=257).by(), name)(*args, **kwargs)
    firsts = list(dict.fromkeys(k.tolist()))
    assert r.keys.tolist() == firsts and len(r) == len(firsts)
    for key in firsts:
        want = getattr(ps.from_array(x[k == key], chunk_size=100), name)(*args, **kwargs)
        assert same_result(r[key], want), (key, r[key], want)


@pytest.mark.parametrize("chunk", [1, 13, 1000, 5000])
def test_any_chunking_and_engine_gives_the_same_bytes(chunk):
    x, k, _ = data(seed=4)
    want = ps.from_array(x, key=k).by().describe(ddof=1, nan_policy="omit", quantiles=(0.5,))
    for engine, kw in [("local", {}), ("threads", {"workers": 2, "partition_size": 700}),
                       ("dask", {"partition_size": 900})]:
        got = ps.from_array(x, key=k, chunk_size=chunk).by().describe(
            ddof=1, nan_policy="omit", quantiles=(0.5,), engine=engine, **kw)
        assert got.keys.tolist() == want.keys.tolist()
        assert all(same_result(a, b) for a, b in zip(got.values, want.values))


def test_oracle_pandas_groupby_agg():
    x, k, _ = data(n=20000, nkeys=50, seed=8, strings=True)
    r = ps.from_array(x, key=k).by(sort=True).describe(ddof=1, nan_policy="omit", quantiles=())
    got = r.to_pandas()
    want = pd.DataFrame({"k": k, "x": x}).groupby("k")["x"].agg(
        ["count", "mean", "std", "min", "max"])
    assert got.index.tolist() == want.index.tolist()
    for c in ["count", "mean", "std", "min", "max"]:
        np.testing.assert_allclose(got[c].to_numpy(), want[c].to_numpy(), rtol=1e-12)


def test_oracle_polars_group_by():
    pl = pytest.importorskip("polars")
    x, k, _ = data(n=20000, nkeys=30, seed=9, nan=0.0)
    r = ps.from_array(x, key=k).by(sort=True).describe(ddof=1, quantiles=())
    want = pl.DataFrame({"k": k, "x": x}).group_by("k").agg(
        pl.col("x").mean().alias("mean"), pl.col("x").std().alias("std")).sort("k")
    assert r.keys.tolist() == want["k"].to_list()
    np.testing.assert_allclose(r.to_pandas()["mean"], want["mean"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(r.to_pandas()["std"], want["std"].to_numpy(), rtol=1e-12)


def test_result_tables_repr_and_lookup():
    pa = pytest.importorskip("pyarrow")
    x = np.arange(6.0).reshape(3, 2)
    r = ps.from_array(x, columns=["a", "b"], key=["u", "v", "u"]).by().mean()
    assert r.to_dict() == {"u": [2.0, 3.0], "v": [2.0, 3.0]}
    df = r.to_pandas()
    assert list(df.columns) == ["a_mean", "b_mean"] and df.index.name == "key"
    t = r.to_arrow()
    assert t.column_names == ["key", "a_mean", "b_mean"] and isinstance(t, pa.Table)
    assert "KeyedResult mean per key (2 keys, first-seen order)" in repr(r)
    assert "u" in r and "w" not in r
    with pytest.raises(KeyError, match="'w' is not a key of this result"):
        r["w"]
    d = ps.from_array(np.arange(4.0), key=[2, 1, 2, 1]).by(sort=True).describe()
    assert d.keys.tolist() == [1, 2] and "sorted order" in repr(d)
    assert d.to_dict()[1]["mean"] == 2.0


def test_nan_raise_names_the_global_record():
    x = np.array([1.0, 2.0, np.nan, 4.0])
    with pytest.raises(ValueError, match="NaN at record 2"):
        ps.from_array(x, key=[0, 1, 1, 0], chunk_size=1).by().mean(nan_policy="raise")


def test_max_keys_names_the_record_and_the_key():
    with pytest.raises(TooManyKeys, match=r"record 3 has key 'z', one more than max_keys=2"):
        ps.from_array(np.arange(5.0), key=["x", "y", "x", "z", "y"]).by(max_keys=2).sum()
    with pytest.raises(ValueError, match="max_keys must be >= 1"):
        ps.from_array(np.arange(2.0), key=[0, 1]).by(max_keys=0)


def test_by_an_array_of_keys_and_its_errors():
    s = ps.from_array(np.arange(6.0), chunk_size=4)
    assert s.by(["a", "b", "a", "b", "a", "b"]).sum().to_dict() == {"a": 6.0, "b": 9.0}
    with pytest.raises(ValueError, match="7 keys were given for 6 records"):
        s.by([0, 1, 0, 1, 0, 1, 0]).sum()
    with pytest.raises(ValueError, match="record 6 has no key"):
        ps.from_array(np.arange(8.0)).by([0] * 6).sum()
    with pytest.raises(ValueError, match="the stream has no key column"):
        s.by()


def test_by_names_the_key_column():
    pytest.importorskip("pyarrow")
    s = ps.from_table(pd.DataFrame({"carrier": ["a", "b", "a"], "x": [1.0, 2.0, 3.0]}),
                      columns=["x"], key="carrier")
    assert s.by("carrier").sum().to_dict() == {"a": [4.0], "b": [2.0]}
    with pytest.raises(ValueError, match="key column is 'carrier', not 'origin'"):
        s.by("origin")


# --------------------------------------------------------------------------- stages

STAGE_CALLS = [
    ("moving_mean", (5,), {}), ("moving_std", (4,), {}), ("moving_max", (3,), {}),
    ("moving_median", (6,), {}), ("moving_quantile", (5,), {"q": 0.3}),
    ("moving_mean", ("10s",), {}), ("moving_max", ("7s",), {"closed": "both"}),
    ("cumsum", (), {}), ("cummax", (), {}), ("cumcount", (), {}), ("cumvar", (), {}),
    ("ewm_mean", (), {"alpha": 0.3}), ("ewm_std", (), {"halflife": "5s"}), ("diff", (2,), {}),
    ("resample", (4,), {"how": "max"}), ("resample", ("1min",), {"how": ["mean", "count"]}),
    ("session", ("8s",), {"how": "sum"}),
]


@pytest.mark.parametrize("name,args,kwargs", STAGE_CALLS)
def test_each_key_equals_the_plain_stage_on_its_records(name, args, kwargs):
    x, k, t = data(seed=3)
    for chunk in (97, 3000):
        s = ps.from_array(x, time=t, key=k, chunk_size=chunk)
        v, kk, tt = keyed_outputs(getattr(s.by(), name)(*args, **kwargs))
        for key in np.unique(k):
            m = k == key
            ref = getattr(ps.from_array(x[m], time=t[m], chunk_size=50), name)(*args, **kwargs)
            rv, _, rt = keyed_outputs(ref)
            assert np.array_equal(bits(v[kk == key]), bits(rv)), (name, key)
            if rt is None:                     # no output for this key
                assert not (kk == key).any()
            else:
                assert np.array_equal(tt[kk == key], rt)


def test_count_bins_of_all_keys_come_in_one_order_for_any_chunking():
    x, k, t = data(n=600, seed=15)
    want = keyed_outputs(ps.from_array(x, time=t, key=k).by().resample(3, how="sum"))
    for chunk in (1, 7, 64):
        got = keyed_outputs(ps.from_array(x, time=t, key=k, chunk_size=chunk)
                            .by().resample(3, how="sum"))
        assert np.array_equal(bits(got[0]), bits(want[0])) and np.array_equal(got[1], want[1])
    # each full block comes at the record completing it (its key's 3rd, 6th...
    # record); the partial blocks at the end, by label time, then first-seen key
    places, partial = [], []
    for seen, key in enumerate(dict.fromkeys(k.tolist())):
        rows = np.flatnonzero(k == key)
        places += [(rows[i + 2], key) for i in range(0, len(rows) - 2, 3)]
        if len(rows) % 3:
            partial.append((t[rows[len(rows) - len(rows) % 3]], seen, key))
    expected = [key for _, key in sorted(places)] + [key for *_, key in sorted(partial)]
    assert want[1].tolist() == expected


def test_aligned_stage_outputs_keep_the_record_order_time_and_key():
    x, k, t = data(seed=5, strings=True)
    s = ps.from_array(x, time=t, key=k, chunk_size=100)
    b = list(s.by().moving_mean(3).batches())
    keys = np.concatenate([c.key for c in b])
    times = np.concatenate([c.time for c in b])
    assert np.array_equal(s.key_column.decode(keys), k) and np.array_equal(times, t)
    # chained keyed stages run per key as well
    v2 = s.by().cumsum().moving_max(2).to_array()
    for key in np.unique(k):
        m = k == key
        want = ps.from_array(x[m]).cumsum().moving_max(2).to_array()
        assert np.array_equal(bits(v2[m]), bits(want))


def test_oracle_pandas_groupby_rolling():
    x, k, _ = data(n=5000, nkeys=20, seed=6, nan=0.0)
    got = ps.from_array(x, key=k).by().moving_mean(10).to_array()
    df = pd.DataFrame({"k": k, "x": x})
    want = df.groupby("k")["x"].rolling(10).mean().reset_index(level=0, drop=True).sort_index()
    np.testing.assert_allclose(got, want.to_numpy(), rtol=1e-9, equal_nan=True)


def test_oracle_polars_rolling_over():
    pl = pytest.importorskip("polars")
    x, k, _ = data(n=5000, nkeys=20, seed=7, nan=0.0)
    got = ps.from_array(x, key=k).by().moving_std(8).to_array()
    want = pl.DataFrame({"k": k, "x": x}).select(
        pl.col("x").rolling_std(8).over("k"))["x"].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-9, equal_nan=True)


def test_keyed_stage_on_the_engines_gives_the_local_bytes():
    x, k, t = data(seed=11)
    s = ps.from_array(x, time=t, key=k, chunk_size=128)
    want = s.by().moving_mean("9s").mean(nan_policy="omit")
    for engine, kw in [("threads", {"workers": 2, "partition_size": 500}),
                       ("dask", {"partition_size": 800})]:
        got = s.by().moving_mean("9s").mean(nan_policy="omit", engine=engine, **kw)
        assert np.array_equal(bits(np.asarray(got.values)), bits(np.asarray(want.values)))


def test_per_key_time_order_is_checked_with_the_global_record():
    x = np.arange(4.0)
    t = np.array([0, 5, 3, 1], dtype="datetime64[s]")
    # key 0 at 0 then 3; key 1 at 5 then 1: key 1 goes back at record 3
    with pytest.raises(ValueError, match=r"time goes backwards for key 1 at record 3"):
        ps.from_array(x, time=t, key=[0, 1, 0, 1]).by().moving_mean("2s").to_array()


def test_ttl_restarts_a_key_after_a_gap_and_lets_idle_keys_go():
    t = np.array([0, 1, 2, 100, 101, 102, 103], dtype="datetime64[s]")
    x = np.array([1.0, 10.0, 2.0, 3.0, 4.0, 5.0, 20.0])
    k = np.array([0, 1, 0, 0, 0, 0, 1])
    for chunk in (1, 2, 7):
        s = ps.from_array(x, time=t, key=k, chunk_size=chunk)
        got = s.by(ttl="30s").cumsum().to_array()
        # key 0 restarts at t=100 (a gap of 98 s); key 1 at t=103
        assert got.tolist() == [1.0, 10.0, 3.0, 3.0, 7.0, 12.0, 20.0]
    pusher = ps.from_array(x, time=t, key=k).by(ttl="30s").cumsum()
    with pytest.raises(ValueError, match="cumsum needs a time column"):
        ps.from_array(x, key=k).by(ttl="30s").cumsum()
    assert pusher is not None


def test_ttl_bounds_the_keys_held():
    n = 2000
    t = np.arange(n).astype("datetime64[s]")
    k = np.arange(n)                       # a new key every second
    s = ps.from_array(np.ones(n), time=t, key=k, chunk_size=100)
    # idle keys are let go, so 200 live keys are never exceeded
    out = s.by(ttl="10s", max_keys=200).moving_sum(3, min_count=1).to_array()
    assert out.tolist() == [1.0] * n
    with pytest.raises(TooManyKeys, match="record 200 has key 200"):
        s.by(max_keys=200).moving_sum(3).to_array()


# --------------------------------------------------------------------------- push


@pytest.mark.parametrize("sizes", [[3000], [1] * 50 + [2950], [7, 500, 13, 2480]])
def test_push_per_key_equals_the_pull_run(sizes):
    x, k, t = data(seed=12, strings=True)
    want = ps.from_array(x, time=t, key=k).by().moving_mean("6s")
    wv, wk, wt = keyed_outputs(want)
    sink = ps.pipeline().by().moving_mean("6s").push(time=True, key=True)
    outs, at = [], 0
    for n in sizes:
        outs.append(sink.send(x[at:at + n], time=t[at:at + n], key=k[at:at + n]))
        at += n
    outs.append(sink.close())
    v = np.concatenate([b.values for b in outs])
    assert np.array_equal(bits(v), bits(wv))
    assert sink.key_column.decode(np.concatenate([b.key for b in outs])).tolist() == k.tolist()


def test_push_reduces_per_key_into_a_target():
    x, k, _ = data(seed=13)
    sink = ps.pipeline().by().cumsum().push("max", key=True)
    for a in range(0, len(x), 400):
        assert sink.send(x[a:a + 400], key=k[a:a + 400]) is None
    got = sink.close()
    want = ps.from_array(x, key=k).by().cumsum().max()
    assert got.keys.tolist() == want.keys.tolist()
    assert np.array_equal(bits(np.array(got.values)), bits(np.array(want.values)))
    q = ps.pipeline().push(ps.pipeline().quantile(0.5, nan_policy="omit"), key=True)
    q.send(x, key=k)
    assert q.result().to_dict() == ps.from_array(x, key=k).by().quantile(
        0.5, nan_policy="omit").to_dict()


def test_push_keys_errors():
    sink = ps.pipeline().by().cumsum().push(key=True)
    with pytest.raises(TypeError, match="this sink's records come with keys"):
        sink.send([1.0])
    sink.send([1.0], key=[3])
    with pytest.raises(TypeError, match="this sink's keys are integers, and these are strings"):
        sink.send([1.0], key=["a"])
    with pytest.raises(ValueError, match="a pushed histogram reads its input once"):
        ps.pipeline().push("histogram", key=True)
    with pytest.raises(TypeError, match="a target takes values only"):
        ps.pipeline().push("mean", time=True)
    with pytest.raises(ValueError, match="runs per key and the stream has no key column"):
        ps.pipeline().by().cumsum()(ps.from_array(np.ones(3)))


# --------------------------------------------------------------------------- command line


def test_the_command_line_describes_per_key(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    import json

    from pystream.cli.app import main

    x, k, _ = data(n=500, seed=14, strings=True)
    path = tmp_path / "f.parquet"
    pd.DataFrame({"carrier": k, "dep_delay": x}).to_parquet(path)
    assert main(["describe", str(path), "--key", "carrier", "--columns", "dep_delay",
                 "--nan-policy", "omit", "--sort-keys"]) == 0
    out = capsys.readouterr().out
    keys = sorted(set(k.tolist()))
    assert f"keys        {len(keys)} (carrier, sorted order)" in out
    lines = [line.split()[0] for line in out.splitlines()[5:]]
    assert lines == keys
    assert main(["describe", str(path), "--key", "carrier", "--columns", "dep_delay",
                 "--nan-policy", "omit", "--json", "--stage", "cumsum"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = ps.from_array(x, key=k).by().cumsum().describe(nan_policy="omit")
    assert [r["key"] for r in got["keys"]] == want.keys.tolist()
    assert [r["mean"] for r in got["keys"]] == [d.mean for d in want.values]


def test_the_keys_page_examples_run():
    pytest.importorskip("pyarrow")
    import doctest
    import pathlib

    page = pathlib.Path(__file__).parents[1] / "docs" / "keys.rst"
    result = doctest.testfile(str(page), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 30 and result.failed == 0


def test_a_terminal_refuses_a_ttl():
    s = ps.from_array(np.ones(3), time=np.arange(3).astype("datetime64[s]"), key=[0, 1, 0])
    with pytest.raises(ValueError, match=r"by\(ttl=...\).sum: a terminal per key reduces"):
        s.by(ttl="1s").sum()


@pytest.mark.parametrize("stage", ["moving_mean", "cumsum", "moving_median"])
def test_nan_policy_raise_per_key_names_the_global_record(stage):
    x = np.array([1.0, 2.0, 3.0, np.nan, 5.0])
    s = ps.from_array(x, key=[0, 1, 0, 1, 0], chunk_size=2).by()
    args = (2,) if stage.startswith("moving") else ()
    with pytest.raises(ValueError, match="NaN at record 3"):
        getattr(s, stage)(*args, nan_policy="raise").to_array()


def test_a_plugin_reducer_runs_per_key():
    pytest.importorskip("pystream_signal")
    x = np.random.default_rng(16).normal(size=4096)
    k = np.arange(4096) % 3
    got = ps.from_array(x, key=k, chunk_size=500).by().welch(nperseg=64)
    for key in range(3):
        want = ps.from_array(x[k == key]).welch(nperseg=64)
        assert all(np.array_equal(bits(a), bits(b)) for a, b in zip(got[key], want))
