"""ewm_cov / ewm_corr: pandas as oracle (every parameter combination, pair and
matrix forms), numbagg as a second oracle, the slow twin on random data and
edge cases, exactness on constant and shifted data, chunk invariance, keys,
checkpoints and bad input."""

from __future__ import annotations

import itertools
import pickle
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

import pystream as ps
from pystream.stages.ewm_pairs import EwmPairs, EwmPairsState
from pystream.stages.ewm_pairs_twin import slow_ewm_pairs

DECAYS = [{"com": 2.5}, {"span": 10}, {"halflife": 4.0}, {"alpha": 0.3}]


def data(n: int = 300, d: int = 2, seed: int = 0, p_nan: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    x[:, 1] += 0.7 * x[:, 0]
    x[rng.random(x.shape) < p_nan] = np.nan
    if n > 20:
        x[7, 0] = np.inf
        x[13, 1] = -np.inf
    return x


def pandas_pair(x: np.ndarray, stat: str, bias: bool = False, **kw) -> np.ndarray:
    a, b = pd.Series(x[:, 0]), pd.Series(x[:, 1])
    e = a.ewm(**kw)
    return (e.cov(b, bias=bias) if stat == "cov" else e.corr(b)).to_numpy()


def pandas_matrix(x: np.ndarray, stat: str, bias: bool = False, **kw) -> np.ndarray:
    e = pd.DataFrame(x).ewm(**kw)
    out = e.cov(bias=bias) if stat == "cov" else e.corr()
    return out.to_numpy().reshape(len(x), x.shape[1], x.shape[1])


def stream_stat(x: np.ndarray, stat: str, chunk_size: int | None = None, **kw) -> np.ndarray:
    s = ps.from_array(x) if chunk_size is None else ps.from_array(x, chunk_size=chunk_size)
    return getattr(s, f"ewm_{stat}")(**kw).to_array()


def close(got: np.ndarray, want: np.ndarray, rtol: float = 1e-10, atol: float = 1e-13) -> None:
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.int64)


# ----------------------------------------------------------------------------- pandas


@pytest.mark.parametrize("decay", DECAYS, ids=lambda d: next(iter(d)))
@pytest.mark.parametrize("adjust, ignore_na, min_periods",
                         list(itertools.product([True, False], [False, True], [0, 5])))
def test_pair_matches_pandas_every_combination(decay, adjust, ignore_na, min_periods):
    x = data(seed=min_periods + 2 * adjust + 4 * ignore_na)
    kw = dict(decay, adjust=adjust, ignore_na=ignore_na, min_periods=min_periods)
    for bias in (False, True):
        close(stream_stat(x, "cov", 7, bias=bias, **kw), pandas_pair(x, "cov", bias, **kw))
    close(stream_stat(x, "corr", 7, **kw), pandas_pair(x, "corr", **kw))


@pytest.mark.parametrize("adjust, ignore_na", list(itertools.product([True, False], repeat=2)))
@pytest.mark.parametrize("stat", ["cov", "corr"])
def test_matrix_matches_pandas_dataframe_ewm(stat, adjust, ignore_na):
    x = data(200, 4, seed=3, p_nan=0.15)
    x[:, 3] = 2.5  # a constant column: cov 0, corr NaN in its row and column
    x[50:60, 3] = np.nan
    kw = dict(span=8, adjust=adjust, ignore_na=ignore_na, min_periods=3)
    for bias in ([False, True] if stat == "cov" else [False]):
        got = stream_stat(x, stat, 7, **(dict(bias=bias) if stat == "cov" else {}), **kw)
        close(got, pandas_matrix(x, stat, bias, **kw))
    if stat == "cov":
        got = stream_stat(x, "cov", **kw)
        assert (got[3:, 3, :][~np.isnan(got[3:, 3, :])] == 0).all()


def test_real_data_matches_pandas():
    local_data = pytest.importorskip("vega_datasets").local_data

    stocks = local_data.stocks().pivot(index="date", columns="symbol", values="price")
    x = stocks.to_numpy()  # 5 stocks, NaN before a listing (GOOG from 2004)
    got = stream_stat(x, "corr", 13, span=12, min_periods=6)
    want = pd.DataFrame(x).ewm(span=12, min_periods=6).corr().to_numpy().reshape(got.shape)
    close(got, want, rtol=1e-9, atol=1e-12)
    got = stream_stat(x[:, [0, 2]], "cov", span=12)
    close(got, pandas_pair(x[:, [0, 2]], "cov", span=12), rtol=1e-10)


# ----------------------------------------------------------------------------- numbagg


def test_numbagg_move_exp_nancov_and_nancorr():
    """numbagg's move_exp_nancov(a, b, alpha) is pandas' adjust=True, ignore_na=False,
    bias=False on the pair's records; its min_weight counts weight, not observations
    (min_weight=0 here, like min_periods=0).  Agreement to rounding on unshifted data."""
    numbagg = pytest.importorskip("numbagg")
    x = data(2000, seed=11)
    x[np.isinf(x)] = np.nan  # numbagg treats inf as a value
    a, b = x[:, 0], x[:, 1]
    close(stream_stat(x, "cov", alpha=0.05), numbagg.move_exp_nancov(a, b, alpha=0.05),
          rtol=1e-9, atol=1e-12)
    close(stream_stat(x, "corr", alpha=0.05), numbagg.move_exp_nancorr(a, b, alpha=0.05),
          rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- slow twin


@pytest.mark.parametrize("stat", ["cov", "corr"])
@pytest.mark.parametrize("d", [2, 3])
def test_slow_twin_on_random_data(stat, d):
    for seed in range(4):
        x = data(150, d, seed=seed, p_nan=0.2)
        kw = dict(alpha=0.2 + 0.2 * seed, adjust=seed % 2 == 0, ignore_na=seed > 1,
                  min_periods=seed)
        close(stream_stat(x, stat, 7, **kw), slow_ewm_pairs(stat, x, **kw))


@pytest.mark.parametrize("stat", ["cov", "corr"])
def test_missing_value_at_every_position(stat):
    base = data(12, 3, seed=5, p_nan=0.0)
    for pos, col, bad in itertools.product(range(12), range(3), [np.nan, np.inf, -np.inf]):
        x = base.copy()
        x[pos, col] = bad
        for kw in ({"span": 3}, {"span": 3, "ignore_na": True, "adjust": False}):
            close(stream_stat(x, stat, **kw), slow_ewm_pairs(stat, x, **kw))
            close(stream_stat(x, stat, **kw), pandas_matrix(np.where(np.isinf(x), np.nan, x),
                                                            stat, **kw))


@pytest.mark.parametrize("stat", ["cov", "corr"])
def test_edge_inputs(stat):
    fn = f"ewm_{stat}"
    assert getattr(ps.from_array(np.empty((0, 2))), fn)(span=3).to_array().shape == (0,)
    assert getattr(ps.from_array(np.empty((0, 3))), fn)(span=3).to_array().shape == (0, 3, 3)
    one = getattr(ps.from_array(np.array([[1.0, 2.0]])), fn)(span=3).to_array()
    assert one.shape == (1,) and (np.isnan(one[0]) if stat == "corr" else np.isnan(one[0]))
    x = data(40, 3, seed=2, p_nan=0.0)
    x[:, 1] = np.nan  # an all-NaN column
    got = stream_stat(x, stat, 7, span=4)
    assert np.isnan(got[:, 1, :]).all() and np.isnan(got[:, :, 1]).all()
    close(got, slow_ewm_pairs(stat, x, span=4))
    assert not np.isnan(got[1:, 0, 2]).any()


def test_constant_columns_give_exact_zero_and_nan():
    x = np.column_stack([np.full(500, 1e9 + 0.1), np.random.default_rng(0).normal(size=500),
                         np.full(500, -7.25)])
    for kw in ({"span": 20}, {"alpha": 0.01, "adjust": False}):
        cov = stream_stat(x, "cov", 7, **kw)
        assert (cov[1:, 0, :] == 0).all() and (cov[1:, :, 2] == 0).all()
        corr = stream_stat(x, "corr", 7, **kw)
        assert np.isnan(corr[:, 0, :]).all() and np.isnan(corr[:, 2, :]).all()
        assert (corr[1:, 1, 1] == 1.0).all()
        pair = stream_stat(x[:, [0, 2]], "cov", **kw)
        assert (pair[1:] == 0).all() and np.isnan(stream_stat(x[:, [0, 2]], "corr", **kw)).all()


def test_correlation_stays_in_range_for_collinear_data():
    rng = np.random.default_rng(4)
    a = rng.normal(size=5000) * 1e-3 + 1e6
    x = np.column_stack([a, 3 * a - 1, -a])
    corr = stream_stat(x, "corr", span=50)
    assert (np.abs(corr[1:]) <= 1).all()
    np.testing.assert_allclose(corr[100:, 0, 1], 1.0, atol=1e-6)
    np.testing.assert_allclose(corr[100:, 0, 2], -1.0, atol=1e-6)


def test_diagonal_is_ewm_var_bit_for_bit():
    x = data(500, 3, seed=8, p_nan=0.1)
    for kw in ({"span": 9}, {"alpha": 0.4, "adjust": False, "ignore_na": True, "bias": True}):
        m = stream_stat(x, "cov", 7, **kw)
        for j in range(3):
            var = ps.from_array(x[:, j], chunk_size=7).ewm_var(**kw).to_array()
            np.testing.assert_array_equal(bits(m[:, j, j]), bits(var))


def test_shifted_data_against_exact_fractions():
    """Mean 1e9, spread 1: within a few 1e-7 of the exact EW covariance of the float64
    values (relative to the standard deviations; the rounding of the mean is the limit,
    raw sums of x*y would lose every digit)."""
    rng = np.random.default_rng(12)
    n, alpha = 80, 0.25  # exact weights: alpha, 1 - alpha are dyadic
    x = 1e9 + rng.normal(size=(n, 2))
    got = stream_stat(x, "cov", 7, alpha=alpha, bias=True)
    f = Fraction(1) - Fraction(alpha)
    for i in (1, 10, 40, n - 1):
        w = [f ** (i - j) for j in range(i + 1)]
        sw = sum(w)
        mx = sum(wj * Fraction(x[j, 0]) for j, wj in enumerate(w)) / sw
        my = sum(wj * Fraction(x[j, 1]) for j, wj in enumerate(w)) / sw
        cxy = sum(wj * (Fraction(x[j, 0]) - mx) * (Fraction(x[j, 1]) - my)
                  for j, wj in enumerate(w)) / sw
        vx = sum(wj * (Fraction(x[j, 0]) - mx) ** 2 for j, wj in enumerate(w)) / sw
        vy = sum(wj * (Fraction(x[j, 1]) - my) ** 2 for j, wj in enumerate(w)) / sw
        scale = float(vx * vy) ** 0.5
        assert abs(got[i] - float(cxy)) <= 4 * 2.2e-16 * 1e9 * scale, i


# ----------------------------------------------------------------------------- invariants


@pytest.mark.parametrize("stat", ["cov", "corr"])
@pytest.mark.parametrize("d", [2, 4])
def test_same_bytes_for_any_chunking(stat, d):
    x = data(3000, d, seed=d)
    kw = dict(span=30, min_periods=4)
    whole = stream_stat(x, stat, **kw)
    for size in (1, 7, 1000, len(x)):
        np.testing.assert_array_equal(bits(stream_stat(x, stat, size, **kw)), bits(whole))


@pytest.mark.parametrize("stat", ["cov", "corr"])
def test_odd_layouts_and_dtypes_give_the_same_bytes(stat):
    x = data(200, 3, seed=9)
    want = stream_stat(x, stat, 7, span=5)
    variants = {
        "byte-swapped": x.astype(">f8"),
        "strided": np.repeat(x, 2, axis=0)[::2],
        "fortran": np.asfortranarray(x),
    }
    ro = x.copy()
    ro.flags.writeable = False
    variants["read-only"] = ro
    for label, v in variants.items():
        np.testing.assert_array_equal(bits(stream_stat(v, stat, 7, span=5)), bits(want),
                                      err_msg=label)
    f4 = x.astype(np.float32)
    close(stream_stat(f4, stat, 7, span=5), slow_ewm_pairs(stat, f4.astype(np.float64), span=5))
    ints = np.arange(60).reshape(30, 2) ** 2
    close(stream_stat(ints, stat, span=5), pandas_pair(ints.astype(float), stat, span=5))


def test_keyed_is_the_plain_call_on_each_keys_records():
    rng = np.random.default_rng(6)
    x = data(2000, 2, seed=6)
    keys = np.array(["a", "b", "c"])[rng.integers(0, 3, len(x))]
    for stat, kw in (("corr", {"span": 20}), ("cov", {"alpha": 0.1, "min_periods": 3})):
        for size in (7, 500):
            got = getattr(ps.from_array(x, key=keys, chunk_size=size).by(),
                          f"ewm_{stat}")(**kw).to_array()
            for k in "abc":
                own = stream_stat(x[keys == k], stat, **kw)
                np.testing.assert_array_equal(bits(got[keys == k]), bits(own))
    m = ps.from_array(data(300, 3), key=keys[:300], chunk_size=7).by().ewm_cov(span=5)
    got = m.to_array()
    assert got.shape == (300, 3, 3)
    np.testing.assert_array_equal(bits(got[keys[:300] == "b"]),
                                  bits(stream_stat(data(300, 3)[keys[:300] == "b"], "cov", span=5)))


def test_columns_by_name_and_position():
    x = data(100, 4, seed=1)
    s = ps.from_array(x).rename(["a", "b", "c", "d"])
    np.testing.assert_array_equal(bits(s.ewm_cov(span=5, columns=["c", "a"]).to_array()),
                                  bits(stream_stat(x[:, [2, 0]], "cov", span=5)))
    np.testing.assert_array_equal(bits(s.ewm_corr(span=5, columns=[1, -1, 0]).to_array()),
                                  bits(stream_stat(x[:, [1, 3, 0]], "corr", span=5)))
    with pytest.raises(KeyError, match="no column named 'z'"):
        s.ewm_cov(span=5, columns=["a", "z"])
    with pytest.raises(KeyError, match="no column names"):
        ps.from_array(x).ewm_cov(span=5, columns=["a", "b"])
    with pytest.raises(ValueError, match="at least 2 columns"):
        s.ewm_cov(span=5, columns=["a"])
    with pytest.raises(ValueError, match="twice"):
        s.ewm_cov(span=5, columns=["a", 0])
    with pytest.raises(IndexError, match="out of range"):
        s.ewm_cov(span=5, columns=[0, 9])
    with pytest.raises(ValueError, match="at least 2 columns"):
        s.ewm_cov(span=5, columns="a")
    keys = np.arange(100) % 3
    keyed = ps.from_array(x, key=keys, columns=["a", "b", "c", "d"]).by()
    got = keyed.ewm_corr(span=5, columns=["d", "b"]).to_array()
    np.testing.assert_array_equal(bits(got[keys == 1]),
                                  bits(stream_stat(x[keys == 1][:, [3, 1]], "corr", span=5)))


def test_push_and_checkpoint_resume_bit_for_bit():
    x = data(500, 3, seed=4)
    want = stream_stat(x, "corr", span=6)
    p = EwmPairs("ewm_corr", span=6).push()
    head = p.send(x[:123])
    state = pickle.loads(pickle.dumps(p._state.state))
    rest = state.update(x[123:])
    np.testing.assert_array_equal(bits(np.concatenate([*head, rest])), bits(want))
    pipe = ps.Pipeline().ewm_cov(span=6, min_periods=2)
    sink = pipe.push(dtype=np.float64, record_shape=(3,))
    outs = [sink.send(part).copy() for part in np.array_split(x, 9)]
    got = np.concatenate([*outs, sink.close()])
    np.testing.assert_array_equal(bits(got), bits(stream_stat(x, "cov", span=6, min_periods=2)))


def test_corrupt_state_is_refused():
    e = EwmPairsState("cov", 0.5, 2)
    e.update(data(20))
    st = e.__getstate__()
    for key, bad in (("nobs", np.array([-1])), ("st", np.zeros(3)), ("position", -4)):
        broken = dict(st, **{key: bad})
        with pytest.raises(ValueError, match="corrupt"):
            EwmPairsState.__new__(EwmPairsState).__setstate__(broken)


def test_bad_arguments_are_clear():
    x1 = np.arange(10.0)
    with pytest.raises(ValueError, match="at least 2 columns"):
        ps.from_array(x1).ewm_cov(span=3)
    with pytest.raises(ValueError, match="at least 2 columns"):
        ps.from_array(x1.reshape(10, 1)).ewm_corr(span=3)
    with pytest.raises(ValueError, match="at least 2 columns"):
        ps.from_array(np.zeros((4, 2, 2))).ewm_cov(span=3)
    with pytest.raises(ValueError, match="exactly one"):
        ps.from_array(data(5)).ewm_cov()
    with pytest.raises(ValueError, match="span must be >= 1"):
        ps.from_array(data(5)).ewm_cov(span=0.5)
    with pytest.raises(TypeError, match="bias applies to ewm_cov only"):
        EwmPairs("ewm_corr", span=3, bias=True)
    with pytest.raises(TypeError, match="adjust must be True or False"):
        ps.from_array(data(5)).ewm_cov(span=3, adjust="yes")
    with pytest.raises(TypeError):
        ps.from_array(np.ones((3, 2), complex)).ewm_cov(span=3)
    with pytest.raises(TypeError, match="positional"):
        ps.from_array(data(5)).ewm_cov(3, None, None, None, True)


# ----------------------------------------------------------------------------- over times


def _by_definition(x: np.ndarray, t: np.ndarray, h: float, bias: bool) -> np.ndarray:
    """adjust=True over times from the formula: weights 0.5 ** ((t_i - t_j) / h) over
    the pair's observations up to i; the unbiased factor is pandas'."""
    out = np.full(len(x), np.nan)
    ok = np.isfinite(x).all(axis=1)
    for i in range(len(x)):
        j = np.flatnonzero(ok[: i + 1])
        if len(j) < 1:
            continue
        w = 0.5 ** ((t[i] - t[j]) / h)
        sw, sw2 = w.sum(), (w * w).sum()
        mx, my = (w * x[j, 0]).sum() / sw, (w * x[j, 1]).sum() / sw
        c = (w * (x[j, 0] - mx) * (x[j, 1] - my)).sum() / sw
        out[i] = c if bias else (c * sw * sw / (sw * sw - sw2) if sw * sw - sw2 > 0 else np.nan)
    return out


@pytest.mark.parametrize("bias", [False, True])
def test_times_match_the_definition(bias):
    rng = np.random.default_rng(21)
    x = data(120, 2, seed=21)
    t = np.cumsum(rng.choice([0.0, 0.5, 1.0, 3.0], size=120))
    got = ps.from_array(x, time=t, chunk_size=7).ewm_cov(halflife=ps.duration(2.0),
                                                         bias=bias).to_array()
    close(got, _by_definition(np.where(np.isinf(x), np.nan, x), t, 2.0, bias), rtol=1e-9,
          atol=1e-12)


def test_times_regular_are_count_based_and_the_diagonal_is_ewm_var():
    x = data(400, 3, seed=22)
    t = np.arange(400) * np.timedelta64(1, "s") + np.datetime64("2024-01-01")
    for stat in ("cov", "corr"):
        got = getattr(ps.from_array(x, time=t, chunk_size=7), f"ewm_{stat}")(
            halflife="3s").to_array()
        close(got, stream_stat(x, stat, halflife=3.0), rtol=1e-10, atol=1e-13)
    got = ps.from_array(x, time=t).ewm_cov(halflife="3s", adjust=False).to_array()
    for j in range(3):
        var = ps.from_array(x[:, j], time=t).ewm_var(halflife="3s", adjust=False).to_array()
        close(got[:, j, j], var, rtol=1e-10, atol=1e-13)


def test_times_chunk_invariant_keyed_and_checkpointed():
    from pystream.stages.ewm_pairs_time import EwmPairsTimeState

    rng = np.random.default_rng(23)
    x = data(1500, 2, seed=23)
    t = np.cumsum(rng.integers(0, 5, 1500)).astype("datetime64[s]")
    keys = np.array(["a", "b"])[rng.integers(0, 2, 1500)]
    whole = ps.from_array(x, time=t).ewm_corr(halflife="4s", min_periods=2).to_array()
    for size in (1, 7, 1000):
        again = ps.from_array(x, time=t, chunk_size=size).ewm_corr(halflife="4s",
                                                                   min_periods=2).to_array()
        np.testing.assert_array_equal(bits(again), bits(whole))
    keyed = ps.from_array(x, time=t, key=keys, chunk_size=7).by().ewm_cov(
        halflife="4s").to_array()
    for k in "ab":
        own = ps.from_array(x[keys == k], time=t[keys == k]).ewm_cov(halflife="4s").to_array()
        np.testing.assert_array_equal(bits(keyed[keys == k]), bits(own))
    e = EwmPairsTimeState("cov", 4e9, 2)
    head = e.update(x[:700], t[:700])
    rest = pickle.loads(pickle.dumps(e)).update(x[700:], t[700:])
    want = ps.from_array(x, time=t).ewm_cov(halflife="4s").to_array()
    np.testing.assert_array_equal(bits(np.concatenate([head, rest])), bits(want))


def test_times_bad_input():
    x = data(5)
    with pytest.raises(ValueError, match="time column"):
        ps.from_array(x).ewm_cov(halflife="1s")
    with pytest.raises(ValueError, match="halflife only"):
        ps.from_array(x, time=np.arange(5.0)).ewm_cov(span=3, times=True)
    with pytest.raises(ValueError, match="backwards"):
        ps.from_array(x, time=np.array([0.0, 1, 3, 2, 4])).ewm_corr(
            halflife=ps.duration(1.0)).to_array()
    with pytest.raises(ValueError, match="at least 2 columns"):
        ps.from_array(np.arange(5.0), time=np.arange(5.0)).ewm_cov(halflife=ps.duration(1.0))
