"""Per-bin reductions (csrc/bins.c via pystream.stages.bin_kernels).

The kernel against its slow twin (bit for bit) on random data and the edge
cases, for any chunking and through pickling; against pandas' resample and
polars' group_by_dynamic on random data; bad input.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from pystream.stages.bin_kernels import BIN_STATS, BinQuantile, BinReducer
from pystream.stages.time_reduce_twins import slow_bins

HOUR = 3_600_000_000_000


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and np.array_equal(a.view(np.int64), b.view(np.int64)) or (
        a.shape == b.shape and bool(np.all((a.view(np.int64) == b.view(np.int64))
                                           | (np.isnan(a) & np.isnan(b)))))


def run(reducer, values, bins, cuts=()):
    """update over the pieces cut at `cuts`, then flush; all bins."""
    edges = [0, *sorted(cuts), len(bins)]
    nums, outs = [], []
    for a, z in zip(edges[:-1], edges[1:]):
        k, o = reducer.update(values[a:z], bins[a:z])
        nums.append(k)
        outs.append(o)
    k, o = reducer.flush()
    nums.append(k)
    outs.append(o)
    return np.concatenate(nums), np.concatenate(outs)


def random_case(rng, n, width, nan_rate=0.1, inf_rate=0.0):
    v = rng.normal(size=(n, width)) * 10 + 3
    v[rng.random((n, width)) < nan_rate] = np.nan
    v[rng.random((n, width)) < inf_rate] = np.inf
    v[rng.random((n, width)) < inf_rate] = -np.inf
    b = np.sort(rng.integers(0, max(n // 20, 1), n)).astype(np.int64)
    return v, b


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("policy", ["omit", "propagate"])
def test_twin_and_chunking(seed, policy):
    rng = np.random.default_rng(seed)
    width = 1 + seed % 3
    v, b = random_case(rng, 700 + 97 * seed, width, nan_rate=[0, 0.05, 0.3][seed % 3],
                       inf_rate=0.01 * (seed == 4))
    ddof = [1.0, 0.0, 1.5][seed % 3]
    want = slow_bins(v, b, BIN_STATS, policy, ddof)
    for cuts in ([], list(rng.integers(0, len(b), 7)), list(range(1, len(b))),
                 list(range(0, len(b), 8)), list(range(3, len(b), 13))):
        got = run(BinReducer(BIN_STATS, width, policy, ddof), v, b, cuts)
        assert np.array_equal(got[0], want[0])
        assert same_bits(got[1], want[1]), cuts[:5]


def test_stat_subsets_and_order():
    rng = np.random.default_rng(7)
    v, b = random_case(rng, 500, 2)
    full = run(BinReducer(BIN_STATS, 2), v, b)[1]
    for stats in (["max", "count"], ["std"], ["last", "first", "var", "mean"]):
        got = run(BinReducer(stats, 2), v, b)[1]
        assert same_bits(got, full[:, [BIN_STATS.index(s) for s in stats]])


def test_edge_cases():
    r = BinReducer(BIN_STATS, 1)
    k, o = r.update(np.empty(0), np.empty(0, dtype=np.int64))
    assert k.shape == (0,) and o.shape == (0, 9, 1)
    assert r.flush()[0].shape == (0,)
    # one value
    k, o = run(BinReducer(BIN_STATS, 1), np.array([2.5]), np.array([7]))
    assert k.tolist() == [7]
    assert o[0, :, 0].tolist()[:3] == [1.0, 2.5, 2.5] and np.isnan(o[0, 3, 0])
    assert o[0, 5:, 0].tolist() == [2.5] * 4
    # all-NaN bin: pandas' count 0, sum 0.0, the rest NaN
    k, o = run(BinReducer(BIN_STATS, 1), np.array([np.nan, np.nan, 1.0]), np.array([0, 0, 1]))
    assert o[0, 0, 0] == 0 and o[0, 1, 0] == 0.0 and np.isnan(o[0, 2:, 0]).all()
    # NaN at every position of a 5-record bin, both policies
    for p in range(5):
        x = np.arange(5.0)
        x[p] = np.nan
        for policy in ("omit", "propagate"):
            got = run(BinReducer(BIN_STATS, 1, policy), x, np.zeros(5, dtype=np.int64))
            want = slow_bins(x, np.zeros(5, dtype=np.int64), BIN_STATS, policy)
            assert same_bits(got[1], want[1])
            if policy == "propagate":
                assert np.isnan(got[1][0, 1:7, 0]).all() and got[1][0, 0, 0] == 4
                assert same_bits(got[1][0, 7:, 0], np.array([x[0], x[-1]]))
            else:
                assert got[1][0, 1, 0] == np.nansum(x)


def test_constant_bin_variance_exactly_zero():
    for c in (0.1, 1e12 + 0.3, -7.7):
        x = np.full(1001, c)
        x[0] = 1e12  # a spike in the bin before
        b = np.r_[0, np.ones(1000, dtype=np.int64)]
        out = run(BinReducer(["var", "std", "mean", "min"], 1), x, b, [1, 500, 503])[1]
        assert out[1, 0, 0] == 0.0 and out[1, 1, 0] == 0.0 and out[1, 3, 0] == c


def test_signed_zeros_do_not_depend_on_order():
    for x in ([0.0, -0.0], [-0.0, 0.0], [0.0] * 9 + [-0.0], [-0.0] * 12 + [0.0], [1.0, -0.0],
              [-0.0] * 16, [0.0] * 16):
        x = np.array(x)
        b = np.zeros(len(x), dtype=np.int64)
        for xs in (x, x[::-1]):
            out = run(BinReducer(["min", "max"], 1), xs, b)[1]
            assert same_bits(out, slow_bins(xs, b, ["min", "max"])[1])
            mn, mx = out[0, :, 0]
            zeros = xs[xs == 0]
            if len(zeros) == len(xs):
                assert np.signbit(mn) == np.signbit(zeros).any()
                assert np.signbit(mx) == np.signbit(zeros).all()


def test_repeated_bins_gaps_and_extreme_bin_numbers():
    big = np.iinfo(np.int64)
    b = np.array([big.min, big.min, -1, 0, 5, 5, 5, big.max - 1, big.max, big.max])
    x = np.arange(len(b), dtype=np.float64)
    k, o = run(BinReducer(["count", "sum"], 1), x, b, [1, 5])
    assert k.tolist() == [big.min, -1, 0, 5, big.max - 1, big.max]
    assert o[:, 0, 0].tolist() == [2, 1, 1, 3, 1, 2]
    assert o[:, 1, 0].tolist() == [1, 2, 3, 15, 7, 17]


def test_float32_and_int_input_are_widened():
    rng = np.random.default_rng(3)
    x32 = rng.normal(size=300).astype(np.float32)
    b = np.sort(rng.integers(0, 9, 300))
    got = run(BinReducer(BIN_STATS, 1), x32, b)
    assert same_bits(got[1], slow_bins(x32.astype(np.float64), b, BIN_STATS)[1])
    xi = rng.integers(-2**40, 2**40, 300)
    got = run(BinReducer(["sum", "min"], 1), xi, b.astype(np.uint32))
    assert same_bits(got[1], slow_bins(xi.astype(np.float64), b, ["sum", "min"])[1])


def test_pickled_state_resumes_bit_for_bit():
    rng = np.random.default_rng(11)
    v, b = random_case(rng, 900, 2)
    whole = run(BinReducer(BIN_STATS, 2, "propagate"), v, b)
    r = BinReducer(BIN_STATS, 2, "propagate")
    k1, o1 = r.update(v[:437], b[:437])
    r2 = pickle.loads(pickle.dumps(r))
    k2, o2 = run(r2, v[437:], b[437:], [100])
    assert np.array_equal(np.r_[k1, k2], whole[0])
    assert same_bits(np.concatenate([o1, o2]), whole[1])


def test_decreasing_bin_is_an_error_naming_the_row_and_changes_nothing():
    r = BinReducer(["sum"], 1)
    r.update(np.array([1.0, 2.0]), np.array([3, 4]))
    with pytest.raises(ValueError, match="row 2 has bin 1 after bin 5"):
        r.update(np.array([1.0, 1.0, 1.0]), np.array([4, 5, 1]))
    with pytest.raises(ValueError, match="row 0 has bin 3 after bin 4 .the open bin"):
        r.update(np.array([1.0]), np.array([3]))
    assert r.flush()[1][0, 0, 0] == 2.0  # the failed calls added nothing
    # a decrease by more than 2**63 is found too
    r = BinReducer(["sum"], 1)
    with pytest.raises(ValueError, match="row 1"):
        r.update(np.array([1.0, 1.0]), np.array([2**62, -2**62]))


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown statistic 'median'"):
        BinReducer(["median"], 1)
    with pytest.raises(ValueError, match="non-empty sequence"):
        BinReducer("mean", 1)
    with pytest.raises(ValueError, match="width"):
        BinReducer(["mean"], 0)
    with pytest.raises(ValueError, match="nan_policy"):
        BinReducer(["mean"], 1, nan_policy="raise")
    with pytest.raises(ValueError, match="ddof"):
        BinReducer(["var"], 1, ddof=-1)
    r = BinReducer(["mean"], 2)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        r.update(np.zeros(3), np.zeros(3, dtype=np.int64))
    with pytest.raises(TypeError, match="real numbers"):
        r.update(np.zeros((3, 2), dtype=complex), np.zeros(3, dtype=np.int64))
    with pytest.raises(TypeError, match="bins must be integers"):
        r.update(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match=r"bins must have shape \(3,\)"):
        r.update(np.zeros((3, 2)), np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match="exceeds the int64 range"):
        r.update(np.zeros((1, 2)), np.array([2**64 - 1], dtype=np.uint64))
    state = r.__getstate__()
    state["acc"] = state["acc"][:-1]
    with pytest.raises(ValueError, match="corrupt state: acc"):
        BinReducer.__new__(BinReducer).__setstate__(state)
    state = r.__getstate__()
    state["head"] = np.array([2, 0, 0])
    with pytest.raises(ValueError, match="corrupt state"):
        BinReducer.__new__(BinReducer).__setstate__(state)


def random_times(rng, n, hours=30):
    t = np.sort(rng.integers(0, hours * HOUR, n)) + 1_700_000_000 * 10**9
    return t


@pytest.mark.parametrize("seed", range(3))
def test_oracle_pandas_resample(seed):
    rng = np.random.default_rng(100 + seed)
    n = 5000
    t = random_times(rng, n)
    x = rng.normal(size=n) * 5 + 100
    x[rng.random(n) < 0.1] = np.nan
    x[(t // HOUR) % 7 == 3] = np.nan  # some all-NaN bins
    k, o = run(BinReducer(BIN_STATS, 1), x, t // HOUR, [1234, 4000])
    res = pd.Series(x, index=pd.DatetimeIndex(t)).resample("1h")
    idx = pd.DatetimeIndex(k * HOUR)
    for s, name in enumerate(BIN_STATS):
        want = getattr(res, name)().reindex(idx).to_numpy(dtype=np.float64)
        np.testing.assert_allclose(o[:, s, 0], want, rtol=1e-12, atol=1e-12, err_msg=name)


def test_oracle_polars_group_by_dynamic():
    pl = pytest.importorskip("polars")
    rng = np.random.default_rng(5)
    n = 20000
    t = random_times(rng, n, hours=12)
    x = rng.normal(size=n)
    k, o = run(BinReducer(["mean", "std", "min", "max", "count"], 1), x, t // HOUR, [777])
    df = pl.DataFrame({"t": pl.Series(t).cast(pl.Datetime("ns")), "x": x})
    want = df.group_by_dynamic("t", every="1h").agg(
        pl.col("x").mean().alias("mean"), pl.col("x").std().alias("std"),
        pl.col("x").min().alias("min"), pl.col("x").max().alias("max"),
        pl.col("x").count().alias("count"))
    assert want["t"].cast(pl.Int64).to_numpy().tolist() == (k * HOUR).tolist()
    for s, name in enumerate(["mean", "std", "min", "max", "count"]):
        np.testing.assert_allclose(o[:, s, 0], want[name].to_numpy(), rtol=1e-12, err_msg=name)


# ---- BinQuantile -----------------------------------------------------------

def nanquantile_per_bin(v, b, qs):
    keys = np.unique(b)
    out = np.empty((len(keys), len(qs), v.shape[1]))
    for i, k in enumerate(keys):
        for qi, q in enumerate(qs):
            for j in range(v.shape[1]):
                col = v[b == k, j]
                col = col[~np.isnan(col)]
                with np.errstate(invalid="ignore"):
                    out[i, qi, j] = np.quantile(col, q) if len(col) else np.nan
    return keys, out


@pytest.mark.parametrize("seed", range(4))
def test_quantile_against_numpy_and_chunking(seed):
    rng = np.random.default_rng(200 + seed)
    width = 1 + seed % 2
    v, b = random_case(rng, 600, width, nan_rate=0.2, inf_rate=0.01)
    v[b == b[len(b) // 2]] = np.nan  # an all-NaN bin
    v[:5] = 4.0  # repeated values
    qs = [0.0, 0.1, 0.5, 0.77, 1.0]
    keys, want = nanquantile_per_bin(v, b, qs)
    for cuts in ([], list(rng.integers(0, len(b), 9)), list(range(1, len(b), 3))):
        k, o = run(BinQuantile(qs, width), v, b, cuts)
        assert np.array_equal(k, keys)
        assert same_bits(o, want)
    # pickled mid-way
    bq = BinQuantile(qs, width)
    k1, o1 = bq.update(v[:301], b[:301])
    k2, o2 = run(pickle.loads(pickle.dumps(bq)), v[301:], b[301:])
    assert same_bits(np.concatenate([o1, o2]), want)


def test_quantile_errors_and_scalar_q():
    with pytest.raises(ValueError, match=r"q must be"):
        BinQuantile(1.5, 1)
    bq = BinQuantile(0.25, 1)
    k, o = run(bq, np.array([1.0, 2.0, 3.0, 4.0, 9.0]), np.array([1, 1, 1, 1, 2]))
    assert o.shape == (2, 1, 1) and o[:, 0, 0].tolist() == [1.75, 9.0]
    bq.update(np.array([1.0]), np.array([5]))
    with pytest.raises(ValueError, match="row 1 has bin 4 after bin 6"):
        bq.update(np.array([1.0, 1.0]), np.array([6, 4]))
    with pytest.raises(ValueError, match="row 0 has bin 2 after bin 5"):
        bq.update(np.array([1.0]), np.array([2]))


def test_every_simd_level_gives_the_same_bits():
    from pystream._native import lib

    rng = np.random.default_rng(9)
    v, b = random_case(rng, 3000, 1, nan_rate=0.02)
    v[100:140] = 0.0
    v[120] = -0.0
    v2, b2 = random_case(rng, 3000, 2, nan_rate=0.0)
    want1 = slow_bins(v, b, BIN_STATS)
    want2 = slow_bins(v2, b2, BIN_STATS, "propagate")
    previous = lib.ps_simd_level()
    try:
        for level in range(lib.ps_simd_best() + 1):
            lib.ps_simd_set_limit(level)
            assert same_bits(run(BinReducer(BIN_STATS, 1), v, b, [5, 999])[1], want1[1]), level
            got = run(BinReducer(BIN_STATS, 2, "propagate"), v2, b2, [77])[1]
            assert same_bits(got, want2[1]), level
    finally:
        lib.ps_simd_set_limit(previous)


def test_quantile_long_bin_in_many_chunks():
    rng = np.random.default_rng(12)
    x = rng.normal(size=5000)
    b = np.r_[np.zeros(4990, dtype=np.int64), np.ones(10, dtype=np.int64)]
    k, o = run(BinQuantile([0.5, 0.9], 1), x, b, list(range(10, 5000, 10)))
    assert k.tolist() == [0, 1]
    assert same_bits(o[0, :, 0], np.quantile(x[:4990], [0.5, 0.9]))
    assert same_bits(o[1, :, 0], np.quantile(x[4990:], [0.5, 0.9]))


def test_strided_and_big_endian_input():
    rng = np.random.default_rng(13)
    v, b = random_case(rng, 400, 2)
    want = run(BinReducer(BIN_STATS, 2), v, b)
    wide = np.zeros((400, 5))
    wide[:, 1:5:2] = v
    got = run(BinReducer(BIN_STATS, 2), wide[:, 1:5:2], b.astype(">i8"))
    assert same_bits(got[1], want[1])
    got = run(BinReducer(BIN_STATS, 2), v.astype(">f8"), b[::-1][::-1])
    assert same_bits(got[1], want[1])


def test_output_in_several_calls_when_bins_are_many(monkeypatch):
    # the wrapper caps each C call's output (8 MB); a tiny cap makes every
    # chunk take several calls, with the same bits
    import pystream.stages.bin_kernels as bk

    rng = np.random.default_rng(15)
    v, b = random_case(rng, 2000, 3)
    b = np.sort(rng.integers(0, 1500, 2000))  # mostly one or two records per bin
    want = slow_bins(v, b, BIN_STATS)
    monkeypatch.setattr(bk, "_OUT_BUDGET", 2 * len(BIN_STATS) * 3)
    got = run(BinReducer(BIN_STATS, 3), v, b, [700, 701, 1500])
    assert np.array_equal(got[0], want[0]) and same_bits(got[1], want[1])
    r = BinReducer(["sum"], 3)
    with pytest.raises(ValueError, match="row 1999"):
        r.update(v, np.r_[b[:-1], -1])
    assert r.flush()[0].shape == (0,)  # the failed call added nothing
