"""EWM over irregular times (csrc/ewm_time.c via pystream.stages.ewm_time_kernels).

The kernel against its slow twin (bit for bit) for any chunking and through
pickling; against pandas' ewm(times=) mean, pandas' ewm without times for
var/std on regular times, and polars' ewm_mean_by; the documented
departures from pandas (ignore_na, float conversion of ns times); bad input.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from pystream.stages.ewm_time_kernels import EWM_TIME_STATS, EwmTimeState
from pystream.stages.time_reduce_twins import slow_ewm_time

SECOND = 10**9
EPOCH_2023 = 1_700_000_000 * SECOND


def same_bits(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all((a.view(np.int64) == b.view(np.int64))
                                              | (np.isnan(a) & np.isnan(b))))


def chunked(state, values, times, cuts=()):
    edges = [0, *sorted(cuts), len(times)]
    return np.concatenate([state.update(values[a:z], times[a:z])
                           for a, z in zip(edges[:-1], edges[1:])])


def irregular(rng, n, dup=0.2, scale=3 * SECOND):
    """int64 ns steps: exponential gaps, some duplicates, a few long gaps."""
    dt = rng.exponential(scale, n).astype(np.int64)
    dt[rng.random(n) < dup] = 0
    dt[rng.random(n) < 0.01] = 3600 * SECOND  # gaps far longer than the halflife
    return np.cumsum(dt)


def noisy(rng, n, width=1, nan=0.1, inf=0.02):
    x = rng.normal(size=(n, width)) * 2 + 10
    x[rng.random((n, width)) < nan] = np.nan
    x[rng.random((n, width)) < inf] = np.inf
    x[rng.random((n, width)) < inf / 2] = -np.inf
    return x


@pytest.mark.parametrize("stat", EWM_TIME_STATS)
@pytest.mark.parametrize("adjust", [True, False])
@pytest.mark.parametrize("seed", range(3))
def test_twin_chunking_and_pickle(stat, adjust, seed):
    rng = np.random.default_rng(seed)
    n, width = 600, 1 + seed
    x = noisy(rng, n, width, nan=[0.0, 0.1, 0.5][seed])
    x[:3] = np.nan  # missing values before the first observation
    t = irregular(rng, n) + EPOCH_2023
    tf = (t - EPOCH_2023) / SECOND  # the same times as float seconds
    for times, h in ((t, 10.0 * SECOND), (tf, 10.0)):
        for bias in (False, True):
            minp = [0, 1, 5][seed]
            want = slow_ewm_time(stat, x, times, h, adjust, minp, bias)
            for cuts in ([], list(rng.integers(0, n, 8)), list(range(1, n))):
                got = chunked(EwmTimeState(stat, h, width, adjust, False, minp, bias), x, times,
                              cuts)
                assert same_bits(got, want), (times.dtype, cuts[:4])
            e = EwmTimeState(stat, h, width, adjust, False, minp, bias)
            first = e.update(x[:250], times[:250])
            rest = pickle.loads(pickle.dumps(e)).update(x[250:], times[250:])
            assert same_bits(np.concatenate([first, rest]), want)


def test_one_d_in_one_d_out_and_widths_are_independent():
    rng = np.random.default_rng(4)
    x = noisy(rng, 300, 3)
    t = irregular(rng, 300)
    wide = EwmTimeState("std", 5e9, 3).update(x, t)
    for j in range(3):
        alone = EwmTimeState("std", 5e9, 1).update(x[:, j], t)
        assert alone.ndim == 1 and same_bits(alone, wide[:, j])


@pytest.mark.parametrize("adjust", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_oracle_pandas_mean_with_times(adjust, seed):
    rng = np.random.default_rng(10 + seed)
    n = 3000
    x = noisy(rng, n)[:, 0]
    t = irregular(rng, n)  # < 2**53 ns: pandas' float64 conversion of the times is exact
    h = [1, 10, 300, 0.001][seed] * SECOND
    want = pd.Series(x).ewm(halflife=pd.Timedelta(int(h), "ns"), times=pd.DatetimeIndex(t),
                            adjust=adjust).mean().to_numpy()
    got = EwmTimeState("mean", h, 1, adjust=adjust).update(x, t)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13 * 12)
    assert np.array_equal(np.isnan(got), np.isnan(want))


def test_pandas_ignore_na_true_forgets_the_time_of_missing_rows():
    # pandas #54604: with times, ignore_na=True drops the span of the NaN
    # rows; the formula (and pystream, for both ignore_na) weighs by the
    # observations' own times, i.e. pandas on the rows without NaN.
    rng = np.random.default_rng(20)
    n = 2000
    x = noisy(rng, n)[:, 0]
    t = irregular(rng, n)
    keep = np.isfinite(x)
    for adjust in (True, False):
        ours = EwmTimeState("mean", 7 * SECOND, 1, adjust, ignore_na=True).update(x, t)
        assert same_bits(ours, EwmTimeState("mean", 7 * SECOND, 1, adjust).update(x, t))
        dropped = pd.Series(x[keep]).ewm(halflife=pd.Timedelta(7, "s"),
                                         times=pd.DatetimeIndex(t[keep]), adjust=adjust).mean()
        want = pd.Series(dropped.to_numpy(), index=np.flatnonzero(keep)).reindex(
            range(n)).ffill().to_numpy()
        np.testing.assert_allclose(ours, want, rtol=1e-13, atol=1e-12)
        pandas_true = pd.Series(x).ewm(halflife=pd.Timedelta(7, "s"), times=pd.DatetimeIndex(t),
                                       adjust=adjust, ignore_na=True).mean().to_numpy()
        assert np.nanmax(np.abs(pandas_true - ours)) > 1e-3  # pandas' departure is real


def test_epoch_ns_times_exact_differences():
    # pandas converts ns times to float64 before taking differences (256 ns
    # steps in 2023); pystream takes them in int64.  Shifting the times by
    # a constant changes nothing here, and pandas agrees once its times are
    # small enough to be exact.
    rng = np.random.default_rng(21)
    n = 2000
    x = noisy(rng, n)[:, 0]
    t = irregular(rng, n) + 12345
    near = EwmTimeState("mean", 1e9, 1).update(x, t)
    far = EwmTimeState("mean", 1e9, 1).update(x, t + EPOCH_2023)
    assert same_bits(near, far)
    pandas_far = pd.Series(x).ewm(halflife="1s", times=pd.DatetimeIndex(t + EPOCH_2023)).mean()
    pandas_near = pd.Series(x).ewm(halflife="1s", times=pd.DatetimeIndex(t)).mean()
    np.testing.assert_allclose(near, pandas_near, rtol=1e-13, atol=1e-12)
    assert np.nanmax(np.abs(pandas_far.to_numpy() - far)) > 1e-9


@pytest.mark.parametrize("stat", ["var", "std"])
@pytest.mark.parametrize("h", [0.3, 1.0, 4.5, 60.0])
@pytest.mark.parametrize("bias", [False, True])
def test_oracle_pandas_var_std_on_regular_times(stat, h, bias):
    rng = np.random.default_rng(30)
    n = 2000
    x = noisy(rng, n)[:, 0]
    times = np.arange(n)
    # adjust=True: with missing values too
    want = getattr(pd.Series(x).ewm(halflife=h), stat)(bias=bias).to_numpy()
    got = EwmTimeState(stat, h, 1, bias=bias).update(x, times)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    # adjust=False: without missing values (with them pandas gives the new
    # value weight alpha after a gap, the time formula 1 - 0.5**(gap/h);
    # pandas #66523, docs/time_ewm.rst)
    clean = rng.normal(size=n) + 3
    want = getattr(pd.Series(clean).ewm(halflife=h, adjust=False), stat)(bias=bias).to_numpy()
    got = EwmTimeState(stat, h, 1, adjust=False, bias=bias).update(clean, times)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_oracle_polars_ewm_mean_by_is_adjust_false():
    pl = pytest.importorskip("polars")
    rng = np.random.default_rng(40)
    n = 3000
    x = rng.normal(size=n) + 5
    t = irregular(rng, n, dup=0.0)
    df = pl.DataFrame({"x": x, "t": pl.Series(t).cast(pl.Datetime("ns"))})
    want = df.select(pl.col("x").ewm_mean_by("t", half_life="10s"))["x"].to_numpy()
    got = EwmTimeState("mean", 10 * SECOND, 1, adjust=False).update(x, t)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_duplicates_constant_and_long_gaps():
    # pandas #40099: at equal times, adjust=True weighs equally (an expanding mean)
    t = np.array([0] * 5 + [86400 * SECOND] * 5)
    x = np.arange(10.0)
    got = EwmTimeState("mean", 86400 * SECOND, 1).update(x, t)
    want = pd.Series(x).ewm(halflife="1D", times=pd.DatetimeIndex(t)).mean().to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-15)
    assert got[:5].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    # adjust=False: a value at the same time as the previous one has weight 0
    assert EwmTimeState("mean", 1.0, 1, adjust=False).update(
        np.array([1.0, 5.0, 5.0]), np.array([0.0, 0.0, 1.0])).tolist() == [1.0, 1.0, 3.0]
    # a constant series gives exactly the constant, and variance exactly 0
    c = np.full(500, 0.1)
    tt = np.cumsum(np.random.default_rng(1).integers(0, 10, 500))
    for adjust in (True, False):
        assert (EwmTimeState("mean", 3.0, 1, adjust).update(c, tt) == 0.1).all()
        assert (EwmTimeState("var", 3.0, 1, adjust).update(c, tt)[1:] == 0.0).all()
    # a gap of 2000 halflives: the weights underflow and the average restarts
    got = EwmTimeState("mean", 1.0, 1).update(np.array([1.0, 2.0, 7.0]), np.array([0, 1, 2001]))
    assert got[2] == 7.0


def test_huge_values_do_not_overflow():
    x = np.array([1.5e308, 1.7e308, 1.6e308, -1e308, 1.7e308])
    t = np.array([0, 0, 0, 1, 1])
    got = EwmTimeState("mean", 1.0, 1).update(x, t)
    assert np.isfinite(got).all()
    assert same_bits(got, slow_ewm_time("mean", x, t, 1.0))
    # pandas overflows to inf here; the mean is linear: pandas on x / 1e300
    want = pd.Series(x / 1e300).ewm(halflife="1ns", times=pd.DatetimeIndex(t)).mean().to_numpy()
    np.testing.assert_allclose(got, want * 1e300, rtol=1e-14)


def test_min_periods_counts_observations():
    x = np.array([np.nan, 1.0, np.nan, 2.0, 3.0, np.inf, 4.0])
    t = np.arange(7)
    got = EwmTimeState("mean", 2.0, 1, min_periods=3).update(x, t)
    want = pd.Series(x).ewm(halflife=pd.Timedelta(2, "ns"), times=pd.DatetimeIndex(t),
                            min_periods=3).mean().to_numpy()
    assert np.array_equal(np.isnan(got), np.isnan(want)) and np.isnan(got[:4]).all()
    np.testing.assert_allclose(got[4:], want[4:], rtol=1e-14)


def test_empty_and_single():
    e = EwmTimeState("var", 1.0, 2)
    assert e.update(np.empty((0, 2)), np.empty(0, dtype=np.int64)).shape == (0, 2)
    out = e.update(np.array([[1.0, np.nan]]), np.array([5]))
    assert np.isnan(out).all()  # var of one observation is NaN (bias=False)
    assert EwmTimeState("var", 1.0, 1, bias=True).update(np.array([1.0]), np.array([5.0]))[0] == 0


def test_float32_values_and_int32_times():
    rng = np.random.default_rng(6)
    x = rng.normal(size=200).astype(np.float32)
    t = np.cumsum(rng.integers(0, 5, 200)).astype(np.int32)
    got = EwmTimeState("mean", 3.0, 1).update(x, t)
    assert same_bits(got, slow_ewm_time("mean", x.astype(np.float64), t.astype(np.int64), 3.0))


def test_int64_times_near_overflow():
    big = np.iinfo(np.int64)
    t = np.array([big.min, big.min + 1, 0, big.max - 1, big.max])
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    got = EwmTimeState("mean", 2.0**62, 1).update(x, t)
    assert same_bits(got, slow_ewm_time("mean", x, t, 2.0**62))
    # the formula with exact integer time differences
    tt = [int(v) for v in t]
    for i in range(5):
        w = [0.5 ** ((tt[i] - tt[j]) / 2**62) for j in range(i + 1)]
        assert got[i] == pytest.approx(sum(a * b for a, b in zip(w, x)) / sum(w), rel=1e-14)


def test_order_errors_name_the_row_and_change_nothing():
    e = EwmTimeState("mean", 1.0, 1)
    e.update(np.array([1.0, 2.0]), np.array([3, 4]))
    snapshot = pickle.dumps(e)
    with pytest.raises(ValueError, match="row 2 has time 1 after 5"):
        e.update(np.array([1.0, 1.0, 1.0]), np.array([4, 5, 1]))
    with pytest.raises(ValueError, match="row 0 has time 3 after 4 .the last time"):
        e.update(np.array([1.0]), np.array([3]))
    assert pickle.dumps(e) == snapshot
    f = EwmTimeState("std", 1.0, 1)
    with pytest.raises(ValueError, match="row 1 is nan"):
        f.update(np.array([1.0, 1.0]), np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="row 0 is inf"):
        f.update(np.array([1.0]), np.array([np.inf]))
    f.update(np.array([1.0]), np.array([0.5]))
    with pytest.raises(TypeError, match="started with float64"):
        f.update(np.array([1.0]), np.array([1]))
    with pytest.raises(ValueError, match="NaT"):
        EwmTimeState("mean", 1.0, 1).update(np.array([1.0]), np.array(["NaT"], "datetime64[ns]"))


def test_bad_arguments():
    with pytest.raises(ValueError, match="stat must be one of"):
        EwmTimeState("sum", 1.0, 1)
    for h in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="halflife"):
            EwmTimeState("mean", h, 1)
    with pytest.raises(TypeError, match="halflife"):
        EwmTimeState("mean", "10s", 1)
    with pytest.raises(ValueError, match="width"):
        EwmTimeState("mean", 1.0, 0)
    with pytest.raises(TypeError, match="adjust"):
        EwmTimeState("mean", 1.0, 1, adjust=1)
    with pytest.raises(ValueError, match="min_periods"):
        EwmTimeState("mean", 1.0, 1, min_periods=-1)
    e = EwmTimeState("mean", 1.0, 2)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        e.update(np.zeros(3), np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"times must have shape \(3,\)"):
        e.update(np.zeros((3, 2)), np.zeros(2, dtype=np.int64))
    with pytest.raises(TypeError, match="times must be"):
        e.update(np.zeros((1, 2)), np.array(["a"]))
    with pytest.raises(TypeError, match="real numbers"):
        e.update(np.array([["a", "b"]]), np.zeros(1, dtype=np.int64))
    state = e.__getstate__()
    state["nobs"] = np.array([1, 2, 3])
    with pytest.raises(ValueError, match="corrupt state: nobs"):
        EwmTimeState.__new__(EwmTimeState).__setstate__(state)
    state = e.__getstate__()
    state["seen"] = np.array([1])
    with pytest.raises(ValueError, match="corrupt state"):
        EwmTimeState.__new__(EwmTimeState).__setstate__(state)


def test_user_page_code_blocks_run():
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parent.parent / "docs" / "time_ewm.rst"
    blocks = re.findall(r"^\.\. code-block:: python\n((?:\n|   .*\n)+)", page.read_text(), re.M)
    assert len(blocks) == 4
    for i, block in enumerate(blocks):
        exec(compile(re.sub(r"^   ", "", block, flags=re.M), f"time_ewm.rst[{i}]", "exec"), {})


def test_strided_and_big_endian_input():
    rng = np.random.default_rng(14)
    x = noisy(rng, 300, 2)
    t = irregular(rng, 300)
    want = EwmTimeState("var", 3e9, 2).update(x, t)
    wide = np.zeros((300, 4))
    wide[:, ::2] = x
    assert same_bits(EwmTimeState("var", 3e9, 2).update(wide[:, ::2], t.astype(">i8")), want)
    assert same_bits(EwmTimeState("var", 3e9, 2).update(x.astype(">f8"), t), want)
