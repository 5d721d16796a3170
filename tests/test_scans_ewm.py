"""Scans (cumsum ... cumstd), EWM and block reductions: slow twins, oracles, invariance, errors."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pystream as ps
from pystream.stages.ewm import EWM, resolve_alpha
from pystream.stages.kernel import StageState
from pystream.stages.scans import SCAN_STAGES, Scan

from pystream.stages.slow_twins import slow_ewm, slow_resample, slow_scan


def sample(rng, n, width=None, nan=0.1):
    shape = (n,) if width is None else (n, width)
    x = rng.normal(size=shape) * 10
    x[rng.random(shape) < nan] = np.nan
    return x


def bits(a):
    return np.asarray(a, dtype=np.float64).view(np.uint64)


# ------------------------------------------------------------------------ scans
@pytest.mark.parametrize("name", SCAN_STAGES)
@pytest.mark.parametrize("nan_policy", ["propagate", "omit"])
@pytest.mark.parametrize("width", [None, 3])
def test_scans_match_slow_twin(name, nan_policy, width):
    rng = np.random.default_rng(len(name) + (width or 0))
    x = sample(rng, 200, width)
    kw = {"ddof": 1} if name in ("cumvar", "cumstd") else {}
    x2 = x.reshape(len(x), -1)
    want = slow_scan(name, x2, nan_policy, **kw).reshape(x.shape)
    for cs in (1, 13, 200):
        got = getattr(ps.from_array(x, chunk_size=cs), name)(nan_policy=nan_policy, **kw).to_array()
        assert got.dtype == np.float64 and got.shape == x.shape
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        if name in ("cumsum", "cumprod"):
            np.testing.assert_array_equal(bits(got), bits(want))  # numpy's sequential loop
        else:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_cumsum_of_float32_accumulates_in_float64():
    x = np.full(10**6, 0.1, np.float32)
    got = ps.from_array(x).cumsum().to_array()
    np.testing.assert_array_equal(got, np.cumsum(x.astype(np.float64)))
    assert abs(got[-1] - 1e6 * np.float64(np.float32(0.1))) < 1e-6


def test_cummean_stays_accurate_on_long_streams():
    x = np.full(3 * 10**6, 0.1) + np.tile([1e-9, -1e-9], 15 * 10**5)
    got = ps.from_array(x).cummean().to_array()
    assert abs(got[-1] - 0.1) <= 2e-17
    assert ps.from_array(np.full(1000, 7.25)).cumvar(ddof=0).to_array().max() == 0.0


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8, np.uint64, np.bool_])
@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_integer_scans_are_exact_int64(dtype, name):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 3, size=(50, 2)).astype(dtype)
    got = getattr(ps.from_array(x, chunk_size=7), name)().to_array()
    want = getattr(np, name)(x.astype(np.int64), axis=0)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)


def test_integer_overflow_names_the_record():
    x = np.array([2**62, 2**62, 5, 6], dtype=np.int64)
    with pytest.raises(OverflowError, match="record 1"):
        ps.from_array(x, chunk_size=1).cumsum().to_array()
    with pytest.raises(OverflowError, match="record 2"):
        ps.from_array(np.array([1, 2, 2**62, 4], dtype=np.int64)).cumprod().to_array()
    low = ps.from_array(np.array([1, -2, 2**62], dtype=np.int64)).cumprod().to_array()
    assert low[-1] == -(2**63)
    with pytest.raises(OverflowError, match="record 1"):
        ps.from_array(np.array([1, 2**63 + 5], dtype=np.uint64)).cumsum().to_array()
    ok = ps.from_array(np.array([2**62, 2**62 - 1, -5], dtype=np.int64)).cumsum().to_array()
    assert ok[1] == 2**63 - 1


@settings(deadline=None, max_examples=30)
@given(data=st.data())
@pytest.mark.parametrize("name", SCAN_STAGES + ("ewm_mean", "ewm_var", "resample_mean"))
def test_chunk_invariance(name, data):
    n = data.draw(st.integers(0, 300))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = sample(rng, n, nan=0.1)
    sizes = data.draw(st.lists(st.integers(1, 50), min_size=1, max_size=20))
    chunks, i, k = [], 0, 0
    while i < n:
        chunks.append(x[i : i + sizes[k % len(sizes)]])
        i += sizes[k % len(sizes)]
        k += 1

    def make(s):
        if name.startswith("ewm"):
            return getattr(s, name)(alpha=0.3)
        if name == "resample_mean":
            return s.resample(7, nan_policy="omit")
        return getattr(s, name)(nan_policy="omit")

    whole = make(ps.from_array(x)).to_array()
    pieces = make(ps.from_chunks(chunks, dtype=float)).to_array()
    ones = make(ps.from_array(x, chunk_size=1)).to_array()
    np.testing.assert_array_equal(bits(pieces), bits(whole))
    np.testing.assert_array_equal(bits(ones), bits(whole))


def test_scan_nan_policy_raise():
    x = np.array([1.0, 2.0, np.nan])
    with pytest.raises(ValueError, match="record 2"):
        ps.from_array(x, chunk_size=1).cumsum(nan_policy="raise").to_array()


def test_scan_bad_parameters():
    s = ps.from_array(np.arange(3.0))
    with pytest.raises(ValueError, match="nan_policy"):
        s.cumsum(nan_policy="skip")
    with pytest.raises(ValueError, match="ddof"):
        s.cumvar(ddof=-1)
    with pytest.raises(TypeError, match="ddof applies"):
        Scan("cummean", ddof=1)


@pytest.mark.parametrize("name", SCAN_STAGES)
def test_scan_checkpoint(name):
    x = sample(np.random.default_rng(9), 100, nan=0.1)
    stage = Scan(name, "omit")
    whole = stage.state().update(x)
    st_ = stage.state()
    a = st_.update(x[:37])
    b = pickle.loads(pickle.dumps(st_)).update(x[37:])
    np.testing.assert_array_equal(bits(np.concatenate([a, b])), bits(whole))


# -------------------------------------------------------------------------- EWM
EWM_CASES = [
    dict(alpha=0.3), dict(com=4.0), dict(span=10), dict(halflife=3.0), dict(alpha=1.0),
    dict(alpha=0.1, adjust=False), dict(alpha=0.2, ignore_na=True),
    dict(alpha=0.2, adjust=False, ignore_na=True), dict(span=5, min_periods=4),
]


@pytest.mark.parametrize("case", EWM_CASES)
@pytest.mark.parametrize("name", ["ewm_mean", "ewm_var", "ewm_std"])
def test_ewm_matches_pandas(case, name):
    rng = np.random.default_rng(11)
    x = sample(rng, 500, nan=0.15)
    x[:3] = np.nan
    kw = dict(case)
    extra = {}
    if name != "ewm_mean":
        for bias in (False, True):
            got = getattr(ps.from_array(x, chunk_size=17), name)(bias=bias, **kw).to_array()
            want = getattr(pd.Series(x).ewm(**kw), name[4:])(bias=bias).to_numpy()
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        return
    got = ps.from_array(x, chunk_size=17).ewm_mean(**kw, **extra).to_array()
    want = pd.Series(x).ewm(**kw).mean().to_numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", EWM_CASES[:8])
def test_ewm_matches_slow_twin(case):
    rng = np.random.default_rng(12)
    x = sample(rng, 80, width=2, nan=0.2)
    kw = dict(case)
    minp = kw.pop("min_periods", 0)
    adjust = kw.pop("adjust", True)
    ignore_na = kw.pop("ignore_na", False)
    alpha = resolve_alpha(**kw)
    for name in ("ewm_mean", "ewm_var", "ewm_std"):
        for bias in ((False,) if name == "ewm_mean" else (False, True)):
            extra = {} if name == "ewm_mean" else {"bias": bias}
            got = getattr(ps.from_array(x, chunk_size=9), name)(
                alpha=alpha, adjust=adjust, ignore_na=ignore_na, min_periods=minp, **extra).to_array()
            want = slow_ewm(name, x, alpha, adjust, ignore_na, minp, bias)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10, err_msg=name)


def test_ewm_constant_series_is_exact():
    x = np.full(10000, 0.1)
    assert np.all(ps.from_array(x, chunk_size=333).ewm_mean(span=20).to_array() == 0.1)
    assert np.all(ps.from_array(x).ewm_var(span=20).to_array()[1:] == 0.0)
    assert np.all(ps.from_array(x).ewm_mean(alpha=0.05, adjust=False).to_array() == 0.1)


@pytest.mark.parametrize("kwargs,match", [
    ({}, "exactly one"), ({"alpha": 0.5, "span": 3}, "exactly one"), ({"alpha": 0.0}, "alpha"),
    ({"alpha": 1.5}, "alpha"), ({"span": 0.5}, "span"), ({"halflife": 0}, "halflife"),
    ({"com": -1}, "com"), ({"alpha": float("nan")}, "NaN"),
])
def test_ewm_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ps.from_array(np.arange(3.0)).ewm_mean(**kwargs)


def test_ewm_bad_flags_and_periods():
    s = ps.from_array(np.arange(3.0))
    with pytest.raises(TypeError, match="adjust"):
        s.ewm_mean(alpha=0.5, adjust="yes")
    with pytest.raises(ValueError, match="min_periods"):
        s.ewm_mean(alpha=0.5, min_periods=-1)
    with pytest.raises(TypeError, match="bias applies"):
        EWM("ewm_mean", alpha=0.5, bias=True)


def test_resolve_alpha_follows_pandas():
    assert resolve_alpha(span=3) == 0.5
    assert resolve_alpha(halflife=1.0) == pytest.approx(0.5)
    assert resolve_alpha(alpha=0.2) == 1 / (1 + (1 - 0.2) / 0.2)


# ----------------------------------------------------------------- resample sum/mean
@pytest.mark.parametrize("how", ["sum", "mean"])
@pytest.mark.parametrize("nan_policy", ["propagate", "omit"])
@pytest.mark.parametrize("partial", [True, False])
@pytest.mark.parametrize("n", [1, 3, 10])
def test_resample_sum_mean_matches_slow_twin(how, nan_policy, partial, n):
    x = sample(np.random.default_rng(n), 47, width=2, nan=0.1)
    want = slow_resample(x, n, how, nan_policy, partial)
    for cs in (1, 4, 47):
        got = ps.from_array(x, chunk_size=cs).resample(n, how, nan_policy, partial).to_array()
        assert got.shape == want.shape
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        ok = ~np.isnan(want)  # NaN payload and sign are not part of the contract
        np.testing.assert_array_equal(bits(got[ok]), bits(want[ok]))


def test_resample_bad_parameters():
    s = ps.from_array(np.arange(3.0))
    with pytest.raises(ValueError, match="n must be >= 1"):
        s.resample(0)
    with pytest.raises(TypeError, match="partial"):
        s.resample(2, partial="no")
    with pytest.raises(ValueError):
        s.resample(2, how="median")


def test_stage_state_names_and_params():
    assert "moving_mean" in StageState.names()
    state = StageState("ewm_mean", alpha=0.25, min_count=2)
    assert state.params["alpha"] == 0.25
    with pytest.raises(ValueError, match="unknown stage"):
        StageState("moving_mode", window=3)
    with pytest.raises(TypeError, match="unexpected"):
        StageState("cumsum", widow=3)
    with pytest.raises(ValueError, match="invalid parameters"):
        StageState("moving_mean", window=0, min_count=0)
