"""moving_cov, moving_corr, moving_beta (issue 21): the C kernel against its slow
twins, pandas, numbagg and exact rational arithmetic; chunk invariance bit for
bit; duration windows; keys; checkpoints; bad input."""

from __future__ import annotations

import pickle
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

import pystream as ps
from pystream.stages.comoving import CoMoving
from pystream.stages.comoving_kernel import CoMovingState, comoving
from pystream.stages.comoving_twins import slow_comoving, slow_moving_beta

STATS = ("cov", "corr")
CHUNKS = (1, 7, 1000, None)


def run(values: np.ndarray, stat: str, window, chunk: int | None = None, **kw) -> np.ndarray:
    s = ps.from_array(values, chunk_size=chunk or max(1, len(values)))
    return getattr(s, f"moving_{stat}")(window, **kw).to_array()


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.int64)


def assert_chunk_invariant(x: np.ndarray, stat: str, window, **kw) -> np.ndarray:
    want = run(x, stat, window, None, **kw)
    for c in CHUNKS[:-1]:
        np.testing.assert_array_equal(bits(run(x, stat, window, c, **kw)), bits(want),
                                      err_msg=f"chunk {c}")
    return want


def data(n: int, d: int, seed: int, nan: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, d) + rng.normal(size=d)
    x[rng.random(x.shape) < nan] = np.nan
    return x


# ------------------------------------------------------------------ slow twins


@pytest.mark.parametrize("stat", STATS)
@pytest.mark.parametrize("d", [2, 3, 5])
@pytest.mark.parametrize("window", [1, 2, 3, 5, 17, 64, 100, 300])
def test_matches_the_slow_twin_in_every_chunking(stat, d, window):
    x = data(257, d, window * d)
    for kw in ({}, {"min_count": 1}, {"nan_policy": "propagate", "min_count": 1}):
        got = assert_chunk_invariant(x, stat, window, **kw)
        want = slow_comoving(stat, x, window, **kw)
        assert got.shape == want.shape == ((257,) if d == 2 else (257, d, d))
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13, equal_nan=True)


@pytest.mark.parametrize("ddof", [0, 1, 2.5])
def test_cov_ddof(ddof):
    x = data(120, 3, 4)
    got = run(x, "cov", 10, 7, ddof=ddof, min_count=2)
    np.testing.assert_allclose(got, slow_comoving("cov", x, 10, 2, ddof), rtol=1e-10,
                               atol=1e-13, equal_nan=True)


def test_nan_and_inf_at_every_position():
    base = data(24, 2, 1, nan=0.0)
    for bad in (np.nan, np.inf, -np.inf):
        for i in range(24):
            for col in (0, 1):
                x = base.copy()
                x[i, col] = bad
                for stat in STATS + ("beta",):
                    got = assert_chunk_invariant(x, stat, 6, min_count=3)
                    want = slow_comoving(stat, x, 6, 3, columns=[0, 1])
                    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13,
                                               equal_nan=True)
                    # the bad value leaves no trace once it left the window
                    clean = slow_comoving(stat, base, 6, 3)
                    np.testing.assert_array_equal(np.isnan(got[i + 6:]), np.isnan(clean[i + 6:]))


def test_edge_cases():
    # empty, one record, a window longer than the stream, all-NaN and constant columns
    assert run(np.empty((0, 2)), "cov", 3).shape == (0,)
    assert run(np.empty((0, 4)), "corr", 3).shape == (0, 4, 4)
    one = run(np.array([[1.0, 2.0]]), "cov", 3, min_count=1)
    assert one.shape == (1,) and np.isnan(one[0])
    x = data(20, 3, 2)
    assert np.isnan(run(x, "cov", 50)).all()            # default min_count = window
    np.testing.assert_allclose(run(x, "cov", 50, min_count=2),
                               slow_comoving("cov", x, 50, 2), rtol=1e-10, equal_nan=True)
    x[:, 1] = np.nan
    got = run(x, "corr", 5, min_count=2)
    assert np.isnan(got[:, 1, :]).all() and np.isnan(got[:, :, 1]).all()
    x[:, 1] = 3.25
    x[:, 0] = np.arange(20.0)
    got = run(x, "cov", 5, min_count=2)
    assert (got[4:, 1, 1] == 0).all() and (got[4:, 0, 1] == 0).all()
    assert np.isnan(run(x, "corr", 5)[4:, 0, 1]).all()
    # the diagonal of the correlation matrix is exactly 1
    y = data(60, 4, 3, nan=0.0)
    assert (run(y, "corr", 10)[9:, np.arange(4), np.arange(4)] == 1.0).all()


def test_inputs_of_every_layout_give_the_same_bits():
    x = data(300, 2, 5)
    want = run(x, "corr", 9)
    raw = np.zeros(300 * 2 * 8 + 1, np.uint8)
    mis = raw[1:].view(np.float64).reshape(300, 2)
    mis[:] = x
    ro = x.copy()
    ro.flags.writeable = False
    for v in (x.astype(">f8"), np.repeat(x, 2, axis=0)[::2], np.asfortranarray(x), mis, ro,
              np.column_stack([x[:, 0], np.zeros(300), x[:, 1]])[:, ::2]):
        before = v.copy()
        for c in (7, 1000):
            np.testing.assert_array_equal(bits(run(v, "corr", 9, c)), bits(want))
        np.testing.assert_array_equal(v, before)
    f4 = x.astype(np.float32)
    np.testing.assert_array_equal(bits(run(f4, "corr", 9, 7)),
                                  bits(run(f4.astype(np.float64), "corr", 9)))
    i = np.arange(40).reshape(20, 2) ** 2
    np.testing.assert_allclose(run(i, "cov", 4), run(i.astype(float), "cov", 4))
    assert run(x, "cov", 9).dtype == np.float64


# ------------------------------------------------------------------ oracles


@pytest.mark.parametrize("window", [2, 10, 100])
def test_pandas_pair_and_matrix(window):
    x = data(1000, 2, window, nan=0.02)
    a, b = pd.Series(x[:, 0]), pd.Series(x[:, 1])
    for mp in (None, 1):
        kw = {} if mp is None else {"min_count": mp}
        r = a.rolling(window, min_periods=mp)
        np.testing.assert_allclose(run(x, "cov", window, 7, **kw), r.cov(b), rtol=1e-8,
                                   atol=1e-11, equal_nan=True)
        np.testing.assert_allclose(run(x, "corr", window, 7, **kw), r.corr(b), rtol=1e-8,
                                   atol=1e-9, equal_nan=True)
        pair = a.where(b.notna()).rolling(window, min_periods=mp)   # pairwise-complete
        np.testing.assert_allclose(run(x, "beta", window, 7, y=1, x=0, **kw),
                                   r.cov(b) / pair.var(), rtol=1e-8, atol=1e-9, equal_nan=True)
    m = data(300, 4, window)
    df = pd.DataFrame(m)
    for stat in STATS:
        want = getattr(df.rolling(window, min_periods=2), stat)().to_numpy().reshape(300, 4, 4)
        np.testing.assert_allclose(run(m, stat, window, 7, min_count=2), want, rtol=1e-8,
                                   atol=1e-9, equal_nan=True)


def test_numbagg():
    numbagg = pytest.importorskip("numbagg")
    x = data(3000, 2, 9, nan=0.01)
    a, b = x[:, 0].copy(), x[:, 1].copy()
    for w in (3, 50, 400):
        np.testing.assert_allclose(run(x, "cov", w, 1000, min_count=2),
                                   numbagg.move_cov(a, b, window=w, min_count=2), rtol=1e-8,
                                   atol=1e-10, equal_nan=True)
        np.testing.assert_allclose(run(x, "corr", w, 1000, min_count=2),
                                   numbagg.move_corr(a, b, window=w, min_count=2), rtol=1e-7,
                                   atol=1e-9, equal_nan=True)


def test_real_data_against_pandas():
    vega = pytest.importorskip("vega_datasets")
    stocks = vega.data.stocks()
    wide = stocks.pivot(index="date", columns="symbol", values="price").dropna()
    x = wide[["AAPL", "MSFT"]].to_numpy()
    want = wide["AAPL"].rolling(12).corr(wide["MSFT"]).to_numpy()
    s = ps.from_array(x, chunk_size=5).rename(["AAPL", "MSFT"])
    np.testing.assert_allclose(s.moving_corr(12).to_array(), want, rtol=1e-9, equal_nan=True)
    got = ps.from_array(wide.to_numpy(), chunk_size=9).rename(list(wide.columns)) \
        .moving_cov(24, columns=["AAPL", "IBM", "MSFT"]).to_array()
    ref = wide[["AAPL", "IBM", "MSFT"]].rolling(24).cov().to_numpy().reshape(-1, 3, 3)
    np.testing.assert_allclose(got, ref, rtol=1e-9, equal_nan=True)


# ------------------------------------------------------------------ drift and accuracy


def test_constant_window_after_a_spike_is_exact_where_running_sums_drift():
    rng = np.random.default_rng(0)
    x = np.column_stack([np.r_[rng.normal(size=1000) * 1e12, np.full(30, 3.0)],
                         np.r_[rng.normal(size=1000) * 1e12, np.full(30, 7.0)]])
    cov = assert_chunk_invariant(x, "cov", 10)
    corr = assert_chunk_invariant(x, "corr", 10)
    assert (cov[1009:] == 0).all() and np.isnan(corr[1009:]).all()
    m = assert_chunk_invariant(np.column_stack([x, x[:, :1] * 2]), "cov", 10)
    assert (m[1009:] == 0).all()
    numbagg = pytest.importorskip("numbagg")
    a, b = x[:, 0].copy(), x[:, 1].copy()
    assert (numbagg.move_cov(a, b, window=10)[1009:] != 0).all()    # a running-sum residue
    assert not np.isnan(numbagg.move_corr(a, b, window=10)[1009:]).any()  # not 0/0


def exact_cov(u: np.ndarray, v: np.ndarray) -> Fraction:
    fu, fv = [Fraction(float(t)) for t in u], [Fraction(float(t)) for t in v]
    n = len(fu)
    mu, mv = sum(fu) / n, sum(fv) / n
    return sum((a - mu) * (b - mv) for a, b in zip(fu, fv)) / (n - 1)


def test_shifted_data_against_exact_rationals():
    """Mean 1e9, spread 1, after 20,000 records: ours within an ulp or so of the exact
    covariance of the float64 values; numbagg's running sums have lost every digit,
    pandas (3.x) keeps most."""
    rng = np.random.default_rng(11)
    n, w = 20000, 50
    x = 1e9 + rng.normal(size=(n, 2))
    x[:, 1] = 1e9 + 0.6 * (x[:, 0] - 1e9) + 0.8 * rng.normal(size=n)
    ours = run(x, "cov", w, 1000)
    corr = run(x, "corr", w, 7)
    theirs = pd.Series(x[:, 0]).rolling(w).cov(pd.Series(x[:, 1])).to_numpy()
    err_ours, err_pd, err_corr = [], [], []
    for i in range(n - 300, n, 10):
        u, v = x[i - w + 1:i + 1, 0], x[i - w + 1:i + 1, 1]
        exact = exact_cov(u, v)
        err_ours.append(abs(Fraction(float(ours[i])) - exact) / abs(exact))
        err_pd.append(abs(Fraction(float(theirs[i])) - exact) / abs(exact))
        r = float(exact) / np.sqrt(float(exact_cov(u, u)) * float(exact_cov(v, v)))
        err_corr.append(abs(corr[i] - r))
    assert max(err_ours) < 4e-15, float(max(err_ours))
    assert max(err_ours) <= max(err_pd)
    assert max(err_corr) < 1e-14
    numbagg = pytest.importorskip("numbagg")
    nb = numbagg.move_cov(x[:, 0].copy(), x[:, 1].copy(), window=w)
    assert np.max(np.abs(nb[n - 300:] - ours[n - 300:]) / np.abs(ours[n - 300:])) > 1e-3


# ------------------------------------------------------------------ moving_beta


def test_beta():
    x = data(500, 3, 21)
    for w in (5, 40):
        got = ps.from_array(x, chunk_size=7).moving_beta(w, y=2, x=0).to_array()
        np.testing.assert_allclose(got, slow_moving_beta(x, w, y=2, x=0), rtol=1e-10,
                                   atol=1e-12, equal_nan=True)
        np.testing.assert_array_equal(
            bits(got), bits(ps.from_array(x).moving_beta(w, y=2, x=0).to_array()))
    clean = data(200, 2, 22, nan=0.0)
    got = ps.from_array(clean).moving_beta(30).to_array()
    for i in (29, 100, 199):
        win = clean[i - 29:i + 1]
        slope = np.polyfit(win[:, 0], win[:, 1], 1)[0]
        assert got[i] == pytest.approx(slope, rel=1e-10)
    named = ps.from_array(x).rename(["a", "b", "c"])
    np.testing.assert_array_equal(bits(named.moving_beta(5, y="c", x="a").to_array()),
                                  bits(ps.from_array(x).moving_beta(5, y=2, x=0).to_array()))


# ------------------------------------------------------------------ duration windows


@pytest.mark.parametrize("closed", ["right", "both", "left", "neither"])
def test_duration_windows_match_pandas_and_the_twin(closed):
    rng = np.random.default_rng(3)
    n = 400
    steps = rng.choice([0, 0, 1, 2, 3, 60], size=n)            # repeated times and gaps
    t = np.cumsum(steps).astype("datetime64[s]")
    x = data(n, 2, 8, nan=0.03)
    outs = []
    for c in (1, 7, 1000):
        s = ps.from_array(x, time=t, chunk_size=c)
        outs.append((s.moving_cov("10s", closed=closed).to_array(),
                     s.moving_corr("10s", closed=closed, min_count=3).to_array()))
    for cov, corr in outs[1:]:
        np.testing.assert_array_equal(bits(cov), bits(outs[0][0]))
        np.testing.assert_array_equal(bits(corr), bits(outs[0][1]))
    secs = t.astype(np.int64)
    np.testing.assert_allclose(outs[0][0], slow_comoving("cov", x, 10, times=secs, closed=closed),
                               rtol=1e-10, atol=1e-13, equal_nan=True)
    np.testing.assert_allclose(outs[0][1], slow_comoving("corr", x, 10, 3, times=secs,
                                                         closed=closed),
                               rtol=1e-10, atol=1e-13, equal_nan=True)
    idx = pd.DatetimeIndex(t)
    a, b = pd.Series(x[:, 0], index=idx), pd.Series(x[:, 1], index=idx)
    np.testing.assert_allclose(outs[0][0], a.rolling("10s", closed=closed).cov(b).to_numpy(),
                               rtol=1e-7, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(outs[0][1], a.rolling("10s", closed=closed, min_periods=3)
                               .corr(b).to_numpy(), rtol=1e-7, atol=1e-9, equal_nan=True)


def test_duration_matrix_and_numeric_times():
    rng = np.random.default_rng(5)
    x = data(200, 3, 6)
    t = np.cumsum(rng.choice([0.0, 0.5, 1.0, 7.0], size=200))
    got = ps.from_array(x, time=t, chunk_size=7).moving_cov(ps.duration(4.0)).to_array()
    np.testing.assert_allclose(got, slow_comoving("cov", x, 4.0, times=t), rtol=1e-10,
                               atol=1e-13, equal_nan=True)
    beta = ps.from_array(x, time=t, chunk_size=7).moving_beta(ps.duration(4.0), y=2).to_array()
    np.testing.assert_allclose(beta, slow_moving_beta(x, 4.0, y=2, times=t), rtol=1e-10,
                               atol=1e-12, equal_nan=True)


# ------------------------------------------------------------------ keys, checkpoints, push


def test_per_key_equals_the_plain_call_on_the_keys_records():
    rng = np.random.default_rng(2)
    x = data(600, 2, 7)
    k = rng.integers(0, 5, 600)
    m = data(600, 3, 8)
    for c in CHUNKS:
        size = c or 600
        got = ps.from_array(x, chunk_size=size).by(k).moving_corr(20, min_count=3).to_array()
        got_m = ps.from_array(m, chunk_size=size).by(k).moving_cov(15).to_array()
        for key in range(5):
            sel = k == key
            np.testing.assert_array_equal(
                bits(got[sel]), bits(ps.from_array(x[sel]).moving_corr(20, min_count=3).to_array()))
            np.testing.assert_array_equal(
                bits(got_m[sel]), bits(ps.from_array(m[sel]).moving_cov(15).to_array()))


def test_checkpoint_continues_bit_for_bit():
    x = data(300, 3, 12)
    stage = CoMoving("corr", 25, min_count=2)
    state = stage.state((3,))
    first = state.update(x[:130])
    restored = pickle.loads(pickle.dumps(state))
    assert restored.position == 130
    rest = restored.update(x[130:])
    whole = stage.state((3,)).update(x)
    np.testing.assert_array_equal(bits(np.concatenate([first, rest])), bits(whole))
    raw = bytearray(state.to_bytes())
    raw[20] ^= 1
    with pytest.raises(ValueError, match="corrupt"):
        CoMovingState.from_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupt"):
        CoMovingState.from_bytes(state.to_bytes()[:-9])


def test_push_and_engines_equal_pull():
    x = data(5000, 2, 13)
    want = ps.from_array(x).moving_corr(30).to_array()
    p = CoMoving("corr", 30).push()
    outs = [o for i in range(0, 5000, 333) for o in p.send(x[i:i + 333])] + p.close()
    np.testing.assert_array_equal(bits(np.concatenate(outs)), bits(want))
    got = ps.from_array(x, chunk_size=500).moving_corr(30).to_array(engine="threads",
                                                                     partition_size=700)
    np.testing.assert_array_equal(bits(got), bits(want))
    t = np.cumsum(np.random.default_rng(1).choice([0, 1, 2, 5], size=5000)).astype("datetime64[s]")
    want_t = ps.from_array(x, time=t).moving_corr("30s").to_array()
    got_t = ps.from_array(x, time=t, chunk_size=500).moving_corr("30s").to_array(
        engine="threads", partition_size=700)
    np.testing.assert_array_equal(bits(got_t), bits(want_t))
    want_ols = ps.from_array(x).moving_ols(20, y=1).to_array()
    got_ols = ps.from_array(x, chunk_size=500).moving_ols(20, y=1).to_array(
        engine="threads", partition_size=700)
    np.testing.assert_array_equal(bits(got_ols), bits(want_ols))
    m = data(200, 3, 14)
    sink = ps.Pipeline().moving_corr(7, columns=[0, 2]).push()
    pushed = np.concatenate([sink.send(m[i:i + 9]) for i in range(0, 200, 9)])
    np.testing.assert_array_equal(
        bits(pushed), bits(ps.from_array(m).moving_corr(7, columns=[0, 2]).to_array()))
    forked = ps.from_array(m, chunk_size=7).fork(cov=ps.Pipeline().moving_cov(5), mean="mean")
    np.testing.assert_array_equal(bits(forked["cov"]),
                                  bits(ps.from_array(m).moving_cov(5).to_array()))


# ------------------------------------------------------------------ bad input


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="at least 2 columns"):
        ps.from_array(np.arange(5.0)).moving_cov(3)
    with pytest.raises(ValueError, match="at least 2 columns"):
        ps.from_array(np.ones((5, 1))).moving_corr(3)
    with pytest.raises(ValueError, match="at least 2 columns"):
        ps.from_array(np.ones((5, 2, 2))).moving_corr(3)
    with pytest.raises(ValueError, match="at least 2 columns"):
        ps.from_array(np.ones((5, 3))).moving_corr(3, columns=[1])
    with pytest.raises(IndexError, match="out of range"):
        ps.from_array(np.ones((5, 3))).moving_corr(3, columns=[0, 3])
    with pytest.raises(KeyError, match="no column named 'z'"):
        ps.from_array(np.ones((5, 2))).rename(["a", "b"]).moving_cov(3, columns=["a", "z"])
    with pytest.raises(KeyError, match="no column names"):
        ps.from_array(np.ones((5, 2))).moving_cov(3, columns=["a", "b"])
    with pytest.raises(TypeError, match="ddof applies to moving_cov"):
        CoMoving("corr", 3, ddof=1)
    with pytest.raises(ValueError, match="min_count"):
        ps.from_array(np.ones((5, 2))).moving_cov(3, min_count=4)
    with pytest.raises(ValueError):
        ps.from_array(np.ones((5, 2))).moving_cov(0)
    with pytest.raises(ValueError, match="ddof"):
        ps.from_array(np.ones((5, 2))).moving_cov(3, ddof=-1)
    with pytest.raises(TypeError, match="moving_ols"):
        ps.from_array(np.ones((5, 3))).moving_beta(3, x=[0, 1])
    with pytest.raises(TypeError):
        ps.from_array(np.ones((5, 2), complex)).moving_cov(3)
    with pytest.raises(ValueError, match="NaN at record 3"):
        x = np.ones((6, 2))
        x[3, 1] = np.nan
        ps.from_array(x, chunk_size=2).moving_cov(2, nan_policy="raise").to_array()
    with pytest.raises(ValueError, match="window"):
        comoving("cov", np.ones((4, 2)), np.array([2, 1]), 0, end0=1)
    with pytest.raises(ValueError):
        ps.from_array(np.ones((5, 2)), time=np.arange(5)).moving_cov(ps.duration(2.0),
                                                                     closed="up")


# ------------------------------------------------------------------ moving_ols


def ols_data(n: int, seed: int, nan: float = 0.03) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1.0, 3.0, 0.5] + [0.0, 10.0, -2.0]
    y = 1.5 + X @ np.array([2.0, -1.0, 0.5]) + 0.3 * rng.normal(size=n)
    v = np.column_stack([X, y])
    v[rng.random(v.shape) < nan] = np.nan
    return v


@pytest.mark.parametrize("intercept", [True, False])
def test_ols_matches_lstsq_per_window_in_every_chunking(intercept):
    from pystream.stages.comoving_twins import slow_moving_ols
    v = ols_data(400, 1)
    kw = {"y": 3, "intercept": intercept, "min_count": 8}
    whole = ps.from_array(v).moving_ols(30, **kw).to_array()
    assert whole.shape == (400, 3 + intercept)
    for c in (1, 7, 1000):
        got = ps.from_array(v, chunk_size=c).moving_ols(30, **kw).to_array()
        np.testing.assert_array_equal(bits(got), bits(whole))
    np.testing.assert_allclose(whole, slow_moving_ols(v, 30, **kw), rtol=1e-9, atol=1e-10,
                               equal_nan=True)
    sub = ps.from_array(v, chunk_size=7).moving_ols(30, y=3, x=[2, 0], intercept=intercept,
                                                     min_count=8).to_array()
    np.testing.assert_allclose(sub, slow_moving_ols(v, 30, y=3, x=[2, 0], intercept=intercept,
                                                    min_count=8), rtol=1e-9, atol=1e-10,
                               equal_nan=True)


def test_ols_against_statsmodels_rolling_ols():
    rolling = pytest.importorskip("statsmodels.regression.rolling")
    sm = pytest.importorskip("statsmodels.api")
    v = ols_data(500, 2, nan=0.0)
    for w in (10, 60):
        res = rolling.RollingOLS(v[:, 3], sm.add_constant(v[:, :3]), window=w).fit()
        got = ps.from_array(v, chunk_size=7).moving_ols(w, y=3).to_array()
        np.testing.assert_allclose(got, res.params, rtol=1e-8, atol=1e-9, equal_nan=True)
    # a NaN drops its record from every window holding it (missing="drop"), as the twin
    nan = ols_data(300, 3)
    from pystream.stages.comoving_twins import slow_moving_ols
    np.testing.assert_allclose(ps.from_array(nan).moving_ols(25, y=3, min_count=10).to_array(),
                               slow_moving_ols(nan, 25, y=3, min_count=10), rtol=1e-9,
                               atol=1e-10, equal_nan=True)


def test_ols_singular_windows_give_nan_and_names_work():
    v = ols_data(100, 4, nan=0.0)
    v[:, 1] = 2 * v[:, 0]                     # collinear regressors
    assert np.isnan(ps.from_array(v).moving_ols(10, y=3).to_array()).all()
    v = ols_data(100, 5, nan=0.0)
    v[40:60, 0] = 7.0                         # a constant regressor with an intercept
    got = ps.from_array(v).moving_ols(10, y=3, x=[0]).to_array()
    assert np.isnan(got[49:60]).all() and not np.isnan(got[60:]).any()
    named = ps.from_array(v).rename(["a", "b", "c", "y"])
    np.testing.assert_array_equal(bits(named.moving_ols(10, y="y", x=["c", "a"]).to_array()),
                                  bits(ps.from_array(v).moving_ols(10, y=3, x=[2, 0]).to_array()))


def test_ols_per_key_checkpoint_and_bad_input():
    v = ols_data(500, 6)
    k = np.random.default_rng(6).integers(0, 4, 500)
    got = ps.from_array(v, chunk_size=7).by(k).moving_ols(20, y=3, min_count=6).to_array()
    for key in range(4):
        want = ps.from_array(v[k == key]).moving_ols(20, y=3, min_count=6).to_array()
        np.testing.assert_array_equal(bits(got[k == key]), bits(want))
    from pystream.stages.comoving_ols import MovingOLS
    stage = MovingOLS(20, 3, min_count=6)
    s = stage.state((4,))
    a = s.update(v[:123])
    b = pickle.loads(pickle.dumps(s)).update(v[123:])
    np.testing.assert_array_equal(bits(np.concatenate([a, b])), bits(stage.state((4,)).update(v)))
    with pytest.raises(ValueError, match="also a regressor"):
        ps.from_array(v).moving_ols(5, y=3, x=[3, 0])
    with pytest.raises(TypeError, match="number of records"):
        ps.from_array(v, time=np.arange(500)).moving_ols("5s", y=3)
    with pytest.raises(ValueError, match="omit"):
        ps.from_array(v).moving_ols(5, y=3, nan_policy="propagate")
    with pytest.raises(ValueError, match="at least 2 columns"):
        ps.from_array(v[:, 0]).moving_ols(5, y=0)
    with pytest.raises(IndexError):
        ps.from_array(v).moving_ols(5, y=4)
