"""The duration-window kernels (``csrc/timewin.c`` through
``pystream.stages.time_kernels``) against their slow twins (bit for bit),
against pandas' offset windows, and across any cut of the rows into calls."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import pystream as ps
from pystream.stages.time_kernels import (CLOSED, TIME_STATS, time_window, window_ends,
                                          window_starts)
from pystream.stages.time_twins import slow_time_window, slow_window_starts, split_point

RNG_SEED = 20261207


def _times(rng: np.random.Generator, n: int, *, dup: float = 0.3, gap: float = 0.1,
           big: int = 50) -> np.ndarray:
    """Non-decreasing int64 times: repeats, unit steps and gaps longer than the windows."""
    steps = rng.integers(1, 4, n)
    steps[rng.random(n) < dup] = 0
    steps[rng.random(n) < gap] = big
    return (np.cumsum(steps) - 7).astype(np.int64)


def _values(rng: np.random.Generator, n: int, width: int, *, specials: bool = True) -> np.ndarray:
    x = rng.standard_normal((n, width))
    x[rng.random((n, width)) < 0.2] = 1.0  # repeated values (ties, constant runs)
    if specials:
        x[rng.random((n, width)) < 0.12] = np.nan
        x[rng.random((n, width)) < 0.04] = np.inf
        x[rng.random((n, width)) < 0.04] = -np.inf
        x[rng.random((n, width)) < 0.03] = -0.0
    return x


def _same_bytes(a: np.ndarray, b: np.ndarray, what: object = "") -> None:
    assert a.shape == b.shape and a.dtype == b.dtype, what
    if a.tobytes() != b.tobytes():
        bad = np.flatnonzero(a.view(np.uint64).ravel() != b.view(np.uint64).ravel())
        i = bad[0]
        raise AssertionError(f"{what}: {len(bad)} outputs differ, first at {i}: "
                             f"{a.ravel()[i]!r} vs {b.ravel()[i]!r}")


def _q(stat: str, rng: np.random.Generator) -> float | None:
    return float(rng.choice([0.0, 0.25, rng.random(), 0.5, 1.0])) if stat == "quantile" else None


# --------------------------------------------------------------------------- starts


@pytest.mark.parametrize("closed", CLOSED)
def test_starts_match_the_exact_twin(closed: str) -> None:
    rng = np.random.default_rng(RNG_SEED)
    for _ in range(60):
        n = int(rng.integers(0, 70))
        t = _times(rng, n)
        w = int(rng.integers(1, 30))
        first = int(rng.integers(0, n + 1))
        _same_bytes(window_starts(t, w, closed, first), slow_window_starts(t, w, closed, first))
        tf = t * 0.1  # float times: 0.1 steps, so t[i] - t[j] == w is often inexact
        wf = w * 0.1
        _same_bytes(window_starts(tf, wf, closed, first),
                    slow_window_starts(tf, wf, closed, first), (list(tf), wf))


def test_starts_near_the_int64_limits_do_not_overflow() -> None:
    lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    t = np.array([lo, lo + 1, lo + 5, -1, 0, hi - 10, hi - 1, hi], dtype=np.int64)
    for w in (1, 2, 5, 2**62, hi):
        for closed in CLOSED:
            _same_bytes(window_starts(t, w, closed), slow_window_starts(t, w, closed), (w, closed))
    # t[i] - t[j] == 2**63 - 1 == width exactly: out of the (open) left end
    assert window_starts(t, hi).tolist() == [0, 0, 0, 1, 2, 3, 4, 5]
    assert window_starts(t, hi, "both").tolist() == [0, 0, 0, 0, 1, 3, 3, 4]


def test_float_starts_compare_the_exact_difference() -> None:
    # the exact difference of the doubles 6.066 and 5.336 is below the double 0.73, so
    # row 0 is in the window (t - 0.73, t] of row 1; comparing with the rounded
    # 6.066 - 0.73 (pandas' way) would leave it out
    t = np.array([5.336, 6.066])
    assert not t[0] > t[1] - 0.73
    assert window_starts(t, 0.73).tolist() == [0, 0]
    assert window_starts(np.array([0.0, 1.0, 2.0]), math.inf).tolist() == [0, 0, 0]
    # an exact tie: closed left keeps it, open left drops it
    t = np.array([0.5, 0.75])
    assert window_starts(t, 0.25, "left").tolist() == [0, 0]
    assert window_starts(t, 0.25, "right").tolist() == [0, 1]


def test_starts_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match=r"non-decreasing; times\[2\]"):
        window_starts(np.array([0, 5, 4], dtype=np.int64), 3)
    with pytest.raises(ValueError, match=r"times\[1\] = nan is not finite"):
        window_starts(np.array([0.0, np.nan, 1.0]), 3.0)
    with pytest.raises(ValueError, match=r"times\[2\] = inf is not finite"):
        window_starts(np.array([0.0, 1.0, np.inf]), 3.0)
    with pytest.raises(ValueError, match=r"width \(int64 times\) must be >= 1"):
        window_starts(np.arange(3), 0)
    with pytest.raises(TypeError, match="width"):
        window_starts(np.arange(3), 1.5)
    with pytest.raises(ValueError, match="width must be > 0"):
        window_starts(np.arange(3.0), -1.0)
    with pytest.raises(ValueError, match="width must be > 0"):
        window_starts(np.arange(3.0), math.nan)
    with pytest.raises(ValueError, match="closed must be one of"):
        window_starts(np.arange(3), 1, "open")
    with pytest.raises(ValueError, match="first must be in"):
        window_starts(np.arange(3), 1, first=4)
    with pytest.raises(TypeError, match="datetime64"):
        window_starts(np.array(["2024-01-01"], dtype="datetime64[ns]"), 1)
    with pytest.raises(ValueError, match="1-d"):
        window_starts(np.zeros((2, 2)), 1.0)


def test_window_ends_follow_pandas_for_open_right_ends() -> None:
    t = np.array([0, 1, 1, 1, 2, 5, 5], dtype=np.int64)
    assert window_ends(t, "right").tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert window_ends(t, "left").tolist() == [0, 1, 1, 1, 4, 5, 5]
    assert window_ends(t, "neither", first=5).tolist() == [5, 5]
    assert window_ends(t[:0], "left").tolist() == []


# --------------------------------------------------------------------------- C == twin


@pytest.mark.parametrize("stat", TIME_STATS)
def test_kernel_matches_twin_bit_for_bit(stat: str) -> None:
    rng = np.random.default_rng([RNG_SEED, TIME_STATS.index(stat)])
    for trial in range(48):
        n = int(rng.integers(0, 50))
        width = 1 if trial % 2 else 3
        t = _times(rng, n)
        x = _values(rng, n, width)
        if trial % 5 == 0:
            x = x.astype(np.float32)  # float32-converted input
        if trial % 7 == 0:
            x = x[:, 0]  # 1-d in, 1-d out
        closed = CLOSED[trial % 4]
        w = int(rng.integers(1, 25))
        first = int(rng.integers(0, n + 1))
        base = int(rng.choice([0, rng.integers(0, 5000), 2**62 - 60]))
        s = window_starts(t, w, closed, first)
        for policy in ("omit", "propagate"):
            for mc in (1, 2, 4):
                kw = dict(min_count=mc, nan_policy=policy, ddof=float(rng.choice([0, 1, 2.5])),
                          q=_q(stat, rng))
                got = time_window(stat, x, s, first, closed, base, **kw)
                want = slow_time_window(stat, x, s, first, closed, base, **kw)
                _same_bytes(got, want, (stat, trial, policy, mc, closed))
                if closed in ("left", "neither"):
                    e = window_ends(t, closed, first)
                    got = time_window(stat, x, s, first, closed, base, ends=e, **kw)
                    want = slow_time_window(stat, x, s, first, closed, base, ends=e, **kw)
                    _same_bytes(got, want, (stat, trial, "pandas ends"))


@pytest.mark.parametrize("stat", TIME_STATS)
def test_nan_and_inf_at_every_position(stat: str) -> None:
    rng = np.random.default_rng(RNG_SEED + 1)
    n = 9
    t = np.array([0, 1, 1, 2, 4, 4, 4, 5, 9], dtype=np.int64)
    base_x = rng.standard_normal(n)
    for special in (np.nan, np.inf, -np.inf):
        for p in range(n):
            x = base_x.copy()
            x[p] = special
            for closed in CLOSED:
                s = window_starts(t, 3, closed)
                for policy in ("omit", "propagate"):
                    kw = dict(min_count=1, nan_policy=policy, q=0.3 if stat == "quantile" else None)
                    _same_bytes(time_window(stat, x, s, 0, closed, 5, **kw),
                                slow_time_window(stat, x, s, 0, closed, 5, **kw),
                                (stat, special, p, closed, policy))


@pytest.mark.parametrize("stat", TIME_STATS)
def test_edge_cases(stat: str) -> None:
    q = 0.5 if stat == "quantile" else None
    empty = time_window(stat, np.zeros(0), np.zeros(0, np.int64), 0, "right", 0, q=q)
    assert empty.shape == (0,) and empty.dtype == np.float64
    assert time_window(stat, np.zeros((0, 3)), [], 0, "right", 0, q=q).shape == (0, 3)
    one = time_window(stat, np.array([2.5]), [0], 0, "right", 0, q=q)
    want = {"var": np.nan, "std": np.nan, "argmin": 0.0, "argmax": 0.0, "rank": 0.0}.get(stat, 2.5)
    np.testing.assert_array_equal(one, [want])
    # an open right end: the window of the first row is empty, so NaN
    assert np.isnan(time_window(stat, np.array([2.5]), [0], 0, "left", 0, q=q)).all()
    allnan = np.full((6, 2), np.nan)
    s = window_starts(np.arange(6), 3)
    assert np.isnan(time_window(stat, allnan, s, 0, "right", 0, q=q)).all()
    # first == n: nothing to compute
    assert time_window(stat, np.ones(4), [], 4, "right", 0, q=q).shape == (0,)


@pytest.mark.parametrize("stat", ["median", "quantile", "rank", "min", "argmax", "sum", "std"])
def test_long_windows_take_the_fenwick_path(stat: str) -> None:
    # windows over 128 rows use the Fenwick tree (shorter ones the sorted array),
    # in segments of max(2 L, 4096) outputs: n = 9000 makes several segments
    rng = np.random.default_rng(RNG_SEED + 2)
    n = 9000
    t = np.cumsum(rng.integers(0, 2, n)).astype(np.int64)
    x = np.round(rng.standard_normal(n), 1)  # many ties
    x[rng.random(n) < 0.05] = np.nan
    x[rng.random(n) < 0.01] = np.inf
    s = window_starts(t, 300, "both")
    assert (np.arange(n) + 1 - s)[500:].min() > 130
    for policy in ("omit", "propagate"):
        kw = dict(min_count=3, nan_policy=policy, q=0.7 if stat == "quantile" else None)
        _same_bytes(time_window(stat, x, s, 0, "both", 11, **kw),
                    slow_time_window(stat, x, s, 0, "both", 11, **kw), (stat, policy))


# --------------------------------------------------------------------------- chunking


@pytest.mark.parametrize("stat", TIME_STATS)
def test_any_cut_into_calls_gives_the_same_bytes(stat: str) -> None:
    rng = np.random.default_rng([RNG_SEED, 3, TIME_STATS.index(stat)])
    n, width = 400, 2
    t = _times(rng, n, big=40)
    x = _values(rng, n, width)
    q = 0.35 if stat == "quantile" else None
    for closed in CLOSED:
        w = int(rng.integers(5, 60))
        whole = time_window(stat, x, window_starts(t, w, closed), 0, closed, 0, q=q)
        starts_all = window_starts(t, w, closed)
        cuts = np.sort(rng.choice(np.arange(1, n), size=int(rng.integers(1, 30)), replace=False))
        pieces = []
        for p0, p1 in zip(np.r_[0, cuts], np.r_[cuts, n]):
            # the tail: the rows the piece's windows reach back to, or (a partition
            # warmed up from another point) any earlier row
            need = int(starts_all[p0])
            tail0 = int(rng.integers(0, need + 1)) if rng.random() < 0.5 else need
            tt, xx = t[tail0:p1], x[tail0:p1]
            s = window_starts(tt, w, closed, first=p0 - tail0)
            pieces.append(time_window(stat, xx, s, p0 - tail0, closed, tail0, q=q))
        _same_bytes(np.concatenate(pieces), whole, (stat, closed))


def test_the_split_point_is_the_most_aligned_row() -> None:
    for s in range(0, 70):
        for e in range(s + 1, 140):
            m = split_point(s, e)
            tz = (m & -m).bit_length()
            assert s < m <= e
            assert all((r & -r).bit_length() < tz for r in range(s + 1, e + 1) if r != m)


# --------------------------------------------------------------------------- drift


def test_a_constant_run_after_a_spike_has_variance_exactly_zero() -> None:
    n = 3000
    t = np.arange(n, dtype=np.int64)
    x = np.full(n, 3.7)
    x[100] = 1e15
    x[200] = np.inf
    s = window_starts(t, 50)
    for stat in ("var", "std"):
        out = time_window(stat, x, s, 0, "right", 0)
        assert (out[250:] == 0.0).all()
        assert np.isnan(out[200:250]).all()  # an inf in the window: NaN, as pandas
    for stat in TIME_STATS:
        # after the inf and the spike left the windows, the outputs are those of a call
        # that never saw them (same global rows): no trace of history
        q = 0.5 if stat == "quantile" else None
        out = time_window(stat, x, s, 0, "right", 0, q=q)
        fresh = time_window(stat, x[201:], s[250:] - 201, 49, "right", 201, q=q)
        _same_bytes(out[250:], fresh, stat)
        assert np.isfinite(out[250:]).all()
    mean = time_window("mean", x, s, 0, "right", 0)
    np.testing.assert_allclose(mean[250:], 3.7, rtol=1e-15)
    assert np.isinf(mean[200:250]).all()
    # non-negative data never gives a negative mean
    rng = np.random.default_rng(RNG_SEED + 4)
    y = rng.random(n) * 10.0 ** rng.integers(-5, 12, n)
    assert (time_window("mean", y, s, 0, "right", 0) >= 0).all()


# --------------------------------------------------------------------------- oracles

_PANDAS = {"sum": "sum", "mean": "mean", "var": "var", "std": "std", "min": "min", "max": "max",
           "median": "median", "quantile": "quantile"}


@pytest.mark.parametrize("closed", CLOSED)
@pytest.mark.parametrize("stat", list(_PANDAS))
def test_against_pandas_offset_windows(stat: str, closed: str) -> None:
    rng = np.random.default_rng([RNG_SEED, 5, list(_PANDAS).index(stat), CLOSED.index(closed)])
    n = 3000
    t = np.cumsum(rng.exponential(1.0, n) * 1e9).astype(np.int64)
    t[rng.random(n) < 0.1] = 0
    t = np.maximum.accumulate(t)  # repeated times
    x = rng.standard_normal(n) * 100 + 50
    x[rng.random(n) < 0.05] = np.nan
    w = 7 * 10**9
    for mc in (1, 3):
        series = pd.Series(x, index=pd.to_datetime(t))
        roll = series.rolling(pd.Timedelta(w, "ns"), closed=closed, min_periods=mc)
        want = (roll.quantile(0.3, interpolation="linear") if stat == "quantile"
                else getattr(roll, _PANDAS[stat])()).to_numpy()
        s = window_starts(t, w, closed)
        e = window_ends(t, closed)  # pandas' rule for repeated times (open right ends)
        got = time_window(stat, x, s, 0, closed, 0, min_count=mc, ends=e,
                          q=0.3 if stat == "quantile" else None)
        if stat in ("sum", "mean", "var", "std"):
            # pandas adds and subtracts values as the window slides (Kahan-compensated
            # for sum / mean, Welford add / remove for var): a few ulps of drift
            np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-9, equal_nan=True)
        elif stat == "quantile":
            # pandas interpolates as lo + (hi - lo) * frac, numpy's _lerp switches to
            # hi - (hi - lo) * (1 - frac) above frac 0.5: an ulp apart; equal to numpy
            np.testing.assert_allclose(got, want, rtol=1e-15, atol=1e-13, equal_nan=True)
            for i in rng.choice(n, 300, replace=False):
                v = x[s[i]:e[i]]
                v = v[~np.isnan(v)]
                assert (np.isnan(got[i]) if len(v) < mc else got[i] == np.quantile(v, 0.3))
        else:
            np.testing.assert_array_equal(got, want)


def test_pandas_open_right_end_excludes_earlier_rows_of_the_same_time() -> None:
    """Where pandas and the default ``end = i`` differ: repeated times, open right end."""
    t = np.array([0, 1, 1, 1, 2], dtype=np.int64) * 10**9
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    want = pd.Series(x, index=pd.to_datetime(t)).rolling("1s", closed="left").sum().to_numpy()
    s = window_starts(t, 10**9, "left")
    np.testing.assert_array_equal(want, [np.nan, 1.0, 1.0, 1.0, 9.0])
    np.testing.assert_array_equal(time_window("sum", x, s, 0, "left", 0, ends=window_ends(t, "left")),
                                  want)
    # the default (positional) end includes rows 1 and 2 in the windows of rows 2 and 3
    np.testing.assert_array_equal(time_window("sum", x, s, 0, "left", 0),
                                  [np.nan, 1.0, 3.0, 6.0, 9.0])


@pytest.mark.parametrize("stat", TIME_STATS)
def test_unit_times_match_the_count_windows(stat: str) -> None:
    """t = 0, 1, 2, ... and width W: the count window of W records (the moving_* stages)."""
    rng = np.random.default_rng([RNG_SEED, 6, TIME_STATS.index(stat)])
    n, W = 500, 17
    x = _values(rng, n, 2)
    x[np.isinf(x)] = 2.0  # the count windows' sums differ in arithmetic; keep them finite
    t = np.arange(n, dtype=np.int64)
    for policy in ("omit", "propagate"):
        kw: dict = {"q": 0.4} if stat == "quantile" else {}
        got = time_window(stat, x, window_starts(t, W), 0, "right", 0, min_count=5,
                          nan_policy=policy, **kw)
        want = getattr(ps.from_array(x), f"moving_{stat}")(W, min_count=5, nan_policy=policy,
                                                            **kw).to_array()
        if stat in ("sum", "mean", "var", "std"):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True)
        else:
            np.testing.assert_array_equal(got, want)


def test_hand_computed_order_statistics() -> None:
    t = np.arange(6, dtype=np.int64)
    x = np.array([3.0, 1.0, 1.0, 5.0, np.nan, 2.0])
    s = window_starts(t, 3)  # rows i-2 .. i
    np.testing.assert_array_equal(time_window("argmin", x, s, 0, "right", 0),
                                  [0, 0, 0, 1, 2, 0])  # ties to the newest
    np.testing.assert_array_equal(time_window("argmax", x, s, 0, "right", 0),
                                  [0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(time_window("rank", x, s, 0, "right", 0),
                                  [0.0, -1.0, -0.5, 1.0, np.nan, -1.0])
    np.testing.assert_array_equal(time_window("median", x, s, 0, "right", 0),
                                  [3.0, 2.0, 1.0, 1.0, 3.0, 3.5])


# --------------------------------------------------------------------------- arguments


def test_bad_arguments_raise_clear_errors() -> None:
    x = np.arange(5.0)
    s = window_starts(np.arange(5), 2)
    with pytest.raises(ValueError, match="unknown stat 'avg'"):
        time_window("avg", x, s, 0, "right", 0)
    with pytest.raises(TypeError, match="q .* is required"):
        time_window("quantile", x, s, 0, "right", 0)
    with pytest.raises(ValueError, match="q must be in"):
        time_window("quantile", x, s, 0, "right", 0, q=1.5)
    with pytest.raises(ValueError, match="q must be in"):
        time_window("quantile", x, s, 0, "right", 0, q=math.nan)
    with pytest.raises(TypeError, match="q applies"):
        time_window("mean", x, s, 0, "right", 0, q=0.5)
    with pytest.raises(ValueError, match="length 5"):
        time_window("sum", x, s[1:], 0, "right", 0)
    with pytest.raises(ValueError, match="length 3"):
        time_window("sum", x, s, 2, "right", 0)
    bad = s.copy()
    bad[3:] = 4  # start == end: an empty window (NaN), allowed
    assert np.isnan(time_window("sum", x, bad, 0, "right", 0)[3])
    bad[3:] = 5  # past the end of row 3's window [5, 4)
    with pytest.raises(ValueError, match=r"window 3 \(row 3\)"):
        time_window("sum", x, bad, 0, "right", 0)
    bad = s.copy()
    bad[2] = -1
    with pytest.raises(ValueError, match="window 2"):
        time_window("sum", x, bad, 0, "right", 0)
    bad = np.array([0, 1, 0, 2, 3])
    with pytest.raises(ValueError, match="window 2"):
        time_window("sum", x, bad, 0, "right", 0)
    with pytest.raises(TypeError, match="integers"):
        time_window("sum", x, s.astype(float), 0, "right", 0)
    with pytest.raises(ValueError, match="nan_policy"):
        time_window("sum", x, s, 0, "right", 0, nan_policy="raise")
    with pytest.raises(ValueError, match="min_count must be >= 1"):
        time_window("sum", x, s, 0, "right", 0, min_count=0)
    with pytest.raises(ValueError, match="base must be >= 0"):
        time_window("sum", x, s, 0, "right", -1)
    with pytest.raises(ValueError, match="base \\+ n"):
        time_window("sum", x, s, 0, "right", 2**63 - 3)
    with pytest.raises(ValueError, match="closed"):
        time_window("sum", x, s, 0, "middle", 0)
    with pytest.raises(ValueError, match="ddof"):
        time_window("var", x, s, 0, "right", 0, ddof=-1)
    with pytest.raises(TypeError, match="real numbers"):
        time_window("sum", x.astype(complex), s, 0, "right", 0)
    with pytest.raises(ValueError, match="hold no values"):
        time_window("sum", np.zeros((5, 0)), s, 0, "right", 0)
    with pytest.raises(ValueError, match="1-d or"):
        time_window("sum", np.zeros((5, 2, 2)), s, 0, "right", 0)
    with pytest.raises(ValueError, match="ends must be 1-d of length 5"):
        time_window("sum", x, s, 0, "right", 0, ends=s[:2])


def test_strided_input_is_copied_and_never_written() -> None:
    rng = np.random.default_rng(RNG_SEED + 7)
    big = rng.standard_normal((40, 6))
    view = big[::2, ::2]  # not contiguous
    before = big.copy()
    s = window_starts(np.arange(20), 4)
    for stat in ("sum", "median", "argmax"):
        out = time_window(stat, view, s, 0, "right", 3)
        _same_bytes(out, time_window(stat, np.ascontiguousarray(view), s, 0, "right", 3), stat)
        assert not np.shares_memory(out, big) and out.flags.owndata
    _same_bytes(big, before, "input unchanged")
