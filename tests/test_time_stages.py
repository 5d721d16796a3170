"""The stages that read the time column (issue 19): duration windows, calendar
resampling, sessions and EWM over times, against pandas (the oracle), in any
chunking, on every engine, in fork and from a checkpoint."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import pystream as ps
from pystream._columns import TimeColumn
from pystream.stages.slow_twins import slow_session
from pystream.stages.time_bins import Session, TimeResample
from pystream.stages.time_ewm import EwmTime
from pystream.stages.time_windows import TimeMoving

NS = np.dtype("datetime64[ns]")
STATS = ["sum", "mean", "var", "std", "min", "max", "median"]


def irregular(n: int, seed: int = 0, nan: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Values with NaNs at irregular times (ns) with repeats and gaps longer than a window."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0, n)
    gaps[rng.random(n) < 0.05] = 0.0                # repeated timestamps
    gaps[rng.random(n) < 0.01] = 3600.0             # gaps longer than the windows
    t = (1.7e18 + np.cumsum(gaps) * 1e9).astype(np.int64)
    x = rng.normal(size=n)
    x[rng.random(n) < nan] = np.nan
    return x, t.view(NS)


def pieces(x: np.ndarray, t: np.ndarray, seed: int) -> ps.Stream:
    """`x` at times `t` read in random chunk sizes."""
    rng = np.random.default_rng(seed)
    return ps.from_array(x, time=t, chunk_size=int(rng.integers(1, 400)))


# --------------------------------------------------------------------------- duration windows


@pytest.mark.parametrize("closed", ["right", "both", "left", "neither"])
@pytest.mark.parametrize("stat", STATS)
def test_duration_windows_match_pandas(stat, closed):
    x, t = irregular(3000, seed=len(stat))
    want = getattr(pd.Series(x, index=pd.DatetimeIndex(t)).rolling("7s", closed=closed), stat)()
    got = getattr(ps.from_array(x, time=t, chunk_size=251), "moving_" + stat)("7s", closed=closed)
    np.testing.assert_allclose(got.to_array(), want.to_numpy(), rtol=1e-9, atol=1e-12,
                               equal_nan=True)


@pytest.mark.parametrize("stat", STATS + ["argmin", "argmax", "rank"])
def test_duration_windows_do_not_depend_on_the_chunking(stat):
    x, t = irregular(2000, seed=7)
    whole = getattr(ps.from_array(x, time=t), "moving_" + stat)("4s").to_array()
    for seed in range(3):
        got = getattr(pieces(x, t, seed), "moving_" + stat)("4s").to_array()
        assert got.tobytes() == whole.tobytes()


def test_duration_window_min_count_quantile_and_width_two_records():
    x, t = irregular(1500, seed=3)
    xx = np.stack([x, -x[::-1]], axis=1)
    ser = pd.DataFrame(xx, index=pd.DatetimeIndex(t))
    want = ser.rolling("10s", min_periods=3).quantile(0.3).to_numpy()
    got = ps.from_array(xx, time=t, chunk_size=97).moving_quantile("10s", q=0.3, min_count=3)
    np.testing.assert_allclose(got.to_array(), want, rtol=1e-12, equal_nan=True)


def test_duration_window_is_drift_free():
    t = (np.arange(2000, dtype=np.int64) * 10**9).view(NS)
    x = np.full(2000, 1.0)
    x[500] = 1e15                                   # a spike, then a constant run
    got = ps.from_array(x, time=t, chunk_size=64).moving_var("30s").to_array()
    assert (got[600:] == 0.0).all()
    x[700] = np.inf
    got = ps.from_array(x, time=t, chunk_size=64).moving_mean("30s").to_array()
    assert np.isinf(got[700]) and (got[800:] == 1.0).all()


def test_numeric_times_take_numeric_widths():
    x = np.arange(6.0)
    t = np.array([0.0, 0.5, 0.5, 2.0, 3.5, 3.6])
    got = ps.from_array(x, time=t).moving_sum(ps.duration(1.5)).to_array()
    # windows (t - 1.5, t]: {0}, {0,1}, {0,1,2}, {3} (0.5 is not > 0.5), {4}, {4,5}
    assert got.tolist() == [0.0, 1.0, 3.0, 3.0, 4.0, 9.0]
    ints = ps.from_array(x, time=np.array([0, 1, 1, 3, 5, 9])).moving_sum(ps.duration(2))
    assert ints.to_array().tolist() == [0.0, 1.0, 3.0, 3.0, 4.0, 5.0]


def test_duration_window_errors_say_what_and_where():
    x, t = irregular(100)
    with pytest.raises(ValueError, match="needs a time column"):
        ps.from_array(x).moving_mean("5min")
    with pytest.raises(TypeError, match="numeric"):
        ps.from_array(x, time=np.arange(100.0)).moving_mean("5min")
    with pytest.raises(TypeError, match=r"ps.duration\(2.5\)"):
        ps.from_array(x, time=t).moving_mean(2.5)
    with pytest.raises(ValueError, match="closed='left' applies to duration windows"):
        ps.from_array(x).moving_mean(3, closed="left")
    with pytest.raises(ValueError, match="closed must be one of"):
        ps.from_array(x, time=t).moving_mean("5s", closed="middle")
    with pytest.raises(ValueError, match="not a fixed duration|month"):
        ps.from_array(x, time=t).moving_mean("1MS")
    back = t.copy()
    back[57] = back[56] - np.timedelta64(1, "s")
    with pytest.raises(ValueError, match="time goes backwards at record 57"):
        ps.from_array(x, time=back, chunk_size=10).moving_mean("5s").to_array()
    back = t.copy()
    back[60] = back[59] - np.timedelta64(1, "s")          # at a chunk boundary
    for stage in (lambda s: s.moving_median("5s"), lambda s: s.resample("1min")):
        with pytest.raises(ValueError, match="time goes backwards at record 60"):
            stage(ps.from_array(x, time=back, chunk_size=10)).to_array()
    with pytest.raises(ValueError, match="NaN at record"):
        ps.from_array(x, time=t).moving_mean("5s", nan_policy="raise").to_array()


def test_duration_windows_keep_time_and_key():
    x, t = irregular(300)
    keys = np.array(["a", "b", "c"])[np.arange(300) % 3]
    s = ps.from_array(x, time=t, key=keys).moving_max("3s")
    b = list(s.batches())
    assert np.concatenate([q.time for q in b]).tobytes() == t.tobytes()
    assert s.key_column.decode(np.concatenate([q.key for q in b])).tolist() == keys.tolist()


# --------------------------------------------------------------------------- calendar bins


@pytest.mark.parametrize("how", ["mean", "sum", "count", "min", "max", "std", "var", "first",
                                 "last"])
def test_resample_matches_pandas(how):
    x, t = irregular(4000, seed=11)
    want = getattr(pd.Series(x, index=pd.DatetimeIndex(t)).resample("1min"), how)()
    out = list(pieces(x, t, 1).resample("1min", how=how).batches())
    got = np.concatenate([b.values for b in out])
    labels = np.concatenate([b.time for b in out])
    assert labels.tobytes() == want.index.to_numpy().astype(NS).tobytes()
    np.testing.assert_allclose(got, want.to_numpy(), rtol=1e-10, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("kw", [dict(origin="epoch"), dict(origin="start", offset="7s"),
                                dict(closed="right", label="right"), dict(offset="-13min")])
def test_resample_origin_offset_closed_label_match_pandas(kw):
    x, t = irregular(3000, seed=5, nan=0.0)
    want = pd.Series(x, index=pd.DatetimeIndex(t)).resample("17min", **kw).mean()
    out = list(ps.from_array(x, time=t, chunk_size=333).resample("17min", **kw).batches())
    assert np.concatenate([b.time for b in out]).tobytes() == \
        want.index.to_numpy().astype(NS).tobytes()
    np.testing.assert_allclose(np.concatenate([b.values for b in out]), want.to_numpy(),
                               rtol=1e-10, equal_nan=True)


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York"])
def test_resample_days_in_a_zone_match_pandas_across_dst(zone):
    rng = np.random.default_rng(2)
    t = np.sort(rng.integers(np.datetime64("2024-03-01", "ns").view(np.int64),
                             np.datetime64("2024-11-30", "ns").view(np.int64), 20000)).view(NS)
    x = rng.normal(size=len(t))
    idx = pd.DatetimeIndex(t).tz_localize("UTC").tz_convert(zone)
    want = pd.Series(x, index=idx).resample("1D").agg(["count", "mean"])
    out = list(ps.from_array(x, time=t, chunk_size=999).resample(
        "1D", how=["count", "mean"], tz=zone).batches())
    labels = np.concatenate([b.time for b in out])
    assert labels.tobytes() == want.index.tz_convert("UTC").tz_localize(None).to_numpy() \
        .astype(NS).tobytes()
    np.testing.assert_allclose(np.concatenate([b.values for b in out]), want.to_numpy(),
                               rtol=1e-12)
    hours = np.diff(labels).astype("timedelta64[h]").astype(int)
    assert {23, 24, 25} <= set(hours.tolist())      # the DST days are 23 and 25 hours


def test_resample_months_several_reducers_named_and_empty_bins():
    x, t = irregular(5000, seed=9)
    t = (t.view(np.int64) - t.view(np.int64)[0]) * 3000 + 1_600_000_000 * 10**9
    t = t.view(NS)
    ser = pd.Series(x, index=pd.DatetimeIndex(t))
    s = ps.from_array(x, time=t, chunk_size=500).resample("1MS", how=["mean", "max", "count"])
    assert s.columns == ("mean", "max", "count")
    want = ser.resample("1MS").agg(["mean", "max", "count"])
    np.testing.assert_allclose(s.to_array(), want.to_numpy(), rtol=1e-10, equal_nan=True)
    kept = ps.from_array(x, time=t).resample("1MS", how="count", empty="omit").to_array()
    assert kept.tolist() == want["count"][want["count"] > 0].tolist()


def test_resample_quantile_and_numeric_times():
    x, t = irregular(3000, seed=4)
    want = pd.Series(x, index=pd.DatetimeIndex(t)).resample("2min").quantile(0.25)
    got = ps.from_array(x, time=t, chunk_size=77).resample("2min", how="quantile", q=0.25)
    np.testing.assert_allclose(got.to_array(), want.to_numpy(), rtol=1e-12, equal_nan=True)
    num = ps.from_array(np.arange(6.0), time=np.array([0.0, 0.4, 1.0, 1.9, 4.2, 4.3]))
    out = list(num.resample(ps.duration(1.0), how="sum", origin="epoch").batches())
    assert np.concatenate([b.values for b in out]).tolist() == [1.0, 5.0, 0.0, 0.0, 9.0]
    assert np.concatenate([b.time for b in out]).tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_resample_refuses_what_blocks_of_records_cannot_do():
    with pytest.raises(TypeError, match="calendar bins"):
        ps.from_array(np.zeros(4)).resample(2, tz="UTC")
    with pytest.raises(ValueError, match="reducer of calendar bins"):
        ps.from_array(np.zeros(4)).resample(2, how="std")
    with pytest.raises(ValueError, match="origin|end"):
        ps.from_array(np.zeros(4), time=np.arange(4).view(NS)).resample("1h", origin="end")


# --------------------------------------------------------------------------- sessions


def test_sessions_match_the_twin_and_pandas_groups():
    x, t = irregular(3000, seed=21)
    secs = (t.view(np.int64) - t.view(np.int64)[0]) / 1e9
    want = slow_session(x[:, None], 3.0, ["count", "mean", "std", "duration"], times=secs)
    for seed in range(3):
        got = pieces(x, t, seed).session("3s", how=["count", "mean", "std", "duration"])
        np.testing.assert_allclose(got.to_array(), want, rtol=1e-9, atol=1e-12, equal_nan=True)
    # pandas: sessions are the groups of the cumulative count of gaps > 3 s
    ser = pd.Series(x, index=pd.DatetimeIndex(t))
    group = (ser.index.to_series().diff() > pd.Timedelta("3s")).cumsum().to_numpy()
    by = ser.groupby(group)
    out = list(ps.from_array(x, time=t).session("3s", how="sum", label="end").batches())
    np.testing.assert_allclose(np.concatenate([b.values for b in out]), by.sum().to_numpy())
    ends = pd.Series(ser.index, index=ser.index).groupby(group).max().to_numpy().astype(NS)
    assert np.concatenate([b.time for b in out]).tobytes() == ends.tobytes()


def test_session_durations_alone_and_records_of_several_values():
    t = np.array([0, 60, 90, 4000, 4010], dtype="datetime64[s]")
    x = np.arange(10.0).reshape(5, 2)
    s = ps.from_array(x, time=t, columns=["a", "b"])
    assert s.session("30min", how="duration").to_array().tolist() == [[90.0, 90.0],
                                                                     [10.0, 10.0]]
    both = s.session("30min", how=["max", "duration"], partial=False)
    assert both.columns == ("a_max", "a_duration", "b_max", "b_duration")
    assert both.to_array().tolist() == [[4.0, 90.0, 5.0, 90.0]]


# --------------------------------------------------------------------------- EWM over times


def test_ewm_over_times_matches_pandas():
    x, t = irregular(4000, seed=13)
    ser = pd.Series(x, index=pd.DatetimeIndex(t))
    want = ser.ewm(halflife="10s", times=ser.index).mean().to_numpy()
    for seed in range(2):
        got = pieces(x, t, seed).ewm_mean(halflife="10s").to_array()
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-15, equal_nan=True)
    whole = ps.from_array(x, time=t).ewm_std(halflife="10s").to_array()
    assert pieces(x, t, 5).ewm_std(halflife="10s").to_array().tobytes() == whole.tobytes()


def test_ewm_variance_over_regular_times_is_pandas_without_times():
    x, _ = irregular(500, seed=2, nan=0.0)
    t = (np.arange(500) * 10**9).view(NS)
    want = pd.Series(x).ewm(halflife=3).var().to_numpy()
    got = ps.from_array(x, time=t).ewm_var(halflife="3s").to_array()
    np.testing.assert_allclose(got, want, rtol=1e-10, equal_nan=True)
    with pytest.raises(ValueError, match="halflife only"):
        ps.from_array(x, time=t).ewm_mean(alpha=0.5, times=True)


# --------------------------------------------------------------------------- engines, fork, state


PIPELINES = {
    "window": lambda s: s.moving_std("20s"),
    "median": lambda s: s.map(np.abs).moving_median("20s", closed="both"),
    "resample": lambda s: s.resample("1min", how=["mean", "max"]),
    "session": lambda s: s.session("4s", how="count"),
    "ewm": lambda s: s.ewm_mean(halflife="5s"),
}


@pytest.mark.parametrize("engine", ["threads", "dask"])
@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_engines_give_the_local_bytes(name, engine):
    x, t = irregular(20_000, seed=1)
    s = PIPELINES[name](ps.from_array(x, time=t, chunk_size=1000))
    local = s.to_array()
    assert s.to_array(engine=engine, partition_size=3000).tobytes() == local.tobytes()
    assert np.float64(s.sum(engine=engine, partition_size=3000)).tobytes() == \
        np.float64(s.sum()).tobytes()


@pytest.mark.parametrize("engine", ["threads", "dask"])
def test_partitions_of_a_duration_window_warm_up_by_time(engine):
    from pystream.chain import make_plan, node_of

    x, t = irregular(6000, seed=4)
    secs = (t.view(np.int64) - t.view(np.int64)[0]) / 7e8      # numeric (float) times
    for times, width in ((t, "2h"), (t, "45s"), (secs, ps.duration(100.0))):
        s = ps.from_array(x, time=times, chunk_size=512).map(np.abs).moving_mean(
            width, closed="both")
        plan = make_plan(node_of(s), columns=True)
        assert [st.name for st in plan.prefix][-1] == "moving_mean" and not plan.suffix
        local = s.to_array()
        # windows far longer than a partition: each warms up over several others
        got = s.to_array(engine=engine, partition_size=250)
        assert got.tobytes() == local.tobytes()


@pytest.mark.parametrize("workers", [None, 2])
def test_fork_feeds_branches_that_read_the_time_column(workers):
    x, t = irregular(5000, seed=8)
    s = ps.from_array(x, time=t, chunk_size=700)
    out = s.fork(win=ps.pipeline().moving_mean("30s").to_array(),
                 bins=ps.pipeline().resample("1min", how="count").to_array(),
                 plain="max", workers=workers)
    assert out["win"].tobytes() == s.moving_mean("30s").to_array().tobytes()
    assert out["bins"].tobytes() == s.resample("1min", how="count").to_array().tobytes()
    assert np.float64(out["plain"]).tobytes() == np.float64(s.max()).tobytes()


@pytest.mark.parametrize("stage", [TimeMoving("moving_median", "5min"),
                                   TimeResample("1h", ["mean", "quantile"], q=0.3,
                                                tz="Europe/Paris"),
                                   Session("2min", "max"), EwmTime("ewm_std", "1min")],
                         ids=repr)
def test_a_checkpointed_stage_continues_bit_for_bit(stage):
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.integers(0, 3 * 10**10, 1000)).astype(np.int64)
    x = rng.normal(size=1000)
    bound = stage.bind(TimeColumn(None, NS))
    p = bound.push_timed()
    p.send(x[:400], t[:400], None)
    q = pickle.loads(pickle.dumps(p))
    a = p.send(x[400:], t[400:], None) + p.close()
    b = q.send(x[400:], t[400:], None) + q.close()
    assert [(u[0].tobytes(), u[1].tobytes()) for u in a] == \
        [(v[0].tobytes(), v[1].tobytes()) for v in b]


def test_the_command_line_takes_durations_and_frequencies(tmp_path):
    pytest.importorskip("pyarrow")  # the CSV source
    from pystream.cli.app import main

    x, t = irregular(500, seed=3, nan=0.0)
    csv = tmp_path / "x.csv"
    pd.DataFrame({"time": t, "v": x}).to_csv(csv, index=False)
    out = tmp_path / "o.parquet"
    assert main(["run", str(csv), "--time", "time", "--columns", "v",
                 "resample:1min,how=['mean','max']", "-o", str(out)]) == 0
    got = pd.read_parquet(out)
    want = pd.Series(x, index=pd.DatetimeIndex(t)).resample("1min").agg(["mean", "max"])
    np.testing.assert_allclose(got[["mean", "max"]].to_numpy(), want.to_numpy(), rtol=1e-12)
    assert main(["run", str(csv), "--time", "time", "--columns", "v",
                 "moving_mean:window=30s", "-o", str(out)]) == 0
    np.testing.assert_allclose(pd.read_parquet(out)["v"].to_numpy(),
                               pd.Series(x, index=pd.DatetimeIndex(t)).rolling("30s").mean(),
                               rtol=1e-12)


def test_the_command_line_names_a_bad_duration_or_a_missing_time_column(tmp_path, capsys):
    pytest.importorskip("pyarrow")  # the CSV source
    from pystream.cli.app import main

    x, t = irregular(50, nan=0.0)
    csv = tmp_path / "x.csv"
    pd.DataFrame({"time": t, "v": x}).to_csv(csv, index=False)
    assert main(["run", str(csv), "--time", "time", "--columns", "v",
                 "moving_mean:window=abc"]) == 2
    assert "unknown unit 'abc'" in capsys.readouterr().err
    assert main(["run", str(csv), "--columns", "v", "moving_mean:window=5min"]) == 2
    assert "needs a time column" in capsys.readouterr().err
