"""EWM kernels (csrc/ewm.c): the blocked mean (adjust=True) and the other modes.

Same bits at every SIMD level, for every chunking and across save/load;
pandas and the slow twin within O(eps / alpha); edge cases (empty, one value,
NaN / inf at every position, long gaps, alpha near 0 and 1, float32 input,
constant series, overflow).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import pystream as ps
from pystream.stages.kernel import StageState
from pystream.stages.slow_twins import slow_ewm

LEVELS = ["portable", "sse2", "avx2"]
NAMES = ["ewm_mean", "ewm_var", "ewm_std"]


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float64).view(np.uint64)


def same_bits(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    nan = np.isnan(a) & np.isnan(b)
    return a.shape == b.shape and bool(np.all(nan | (bits(a) == bits(b))))


@pytest.fixture
def restore_level():
    before = ps.set_simd_level(None)
    ps.set_simd_level(before)
    yield
    ps.set_simd_level(before)


def hostile(rng, n, width=None):
    """Long runs without gap (the group kernels) broken by NaN / inf runs."""
    shape = (n,) if width is None else (n, width)
    x = rng.normal(size=shape) * 3 + 1
    for _ in range(max(1, n // 2500)):
        a = rng.integers(0, n)
        x[a:a + rng.integers(1, 60)] = rng.choice([np.nan, np.inf, -np.inf])
    x[rng.random(shape) < 0.002] = np.nan
    return x


def run(name, x, chunks, **kw):
    """The stage over x cut at the given chunk sizes (cycled); adjust=1 unless
    given (the C parameters' default is 0)."""
    s = StageState(name, record_shape=x.shape[1:], **{"adjust": 1, **kw})
    out, i, k = [], 0, 0
    while i < len(x):
        c = chunks[k % len(chunks)]
        out.append(s.update(x[i:i + c]))
        i += c
        k += 1
    return np.concatenate(out) if out else np.empty(x.shape)


CONFIGS = [
    dict(alpha=2 / 101),
    dict(alpha=2 / 101, adjust=0),
    dict(alpha=0.3, ignore_na=1, min_count=20),
    dict(alpha=1.0),
    dict(alpha=0.999, adjust=0, ignore_na=1),
    dict(alpha=1e-3),
]


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("name", NAMES)
def test_same_bits_at_every_level_and_chunking(name, cfg, restore_level):
    rng = np.random.default_rng(hash((name, str(cfg))) % 2**32)
    n = 40000 if cfg["alpha"] == 1e-3 else 12000
    x = hostile(rng, n)
    ps.set_simd_level(None)
    want = run(name, x, [n], **cfg)
    for level in LEVELS:
        ps.set_simd_level(level)
        for chunks in ([n], [1], [31, 1, 257, 7, 4096], list(rng.integers(1, 100, 50))):
            got = run(name, x, chunks, **cfg)
            assert same_bits(got, want), (level, chunks[:5])
        got = getattr(ps.from_array(x, chunk_size=999), name)(
            alpha=cfg["alpha"], adjust=bool(cfg.get("adjust", 1)),
            ignore_na=bool(cfg.get("ignore_na", 0)),
            min_periods=cfg.get("min_count", 0)).to_array()
        assert same_bits(got, want), level


@pytest.mark.parametrize("name", NAMES)
def test_width_and_save_load_keep_the_bits(name, restore_level):
    rng = np.random.default_rng(5)
    x = hostile(rng, 3000, width=3)
    want = run(name, x, [3000], alpha=0.05)
    for level in LEVELS:
        ps.set_simd_level(level)
        for j in range(3):
            col = np.ascontiguousarray(x[:, j])
            assert same_bits(run(name, col, [3000], alpha=0.05), want[:, j])
        s = StageState(name, record_shape=(3,), alpha=0.05, adjust=1)
        out, i = [], 0
        for c in rng.integers(1, 90, 200):
            out.append(s.update(x[i:i + c]))
            i += int(c)
            s = StageState.from_bytes(s.to_bytes())  # checkpoint between every chunk
            if i >= len(x):
                break
        out.append(s.update(x[i:]))
        assert same_bits(np.concatenate(out), want), level


def test_nan_and_inf_at_every_position():
    rng = np.random.default_rng(9)
    base = rng.normal(size=80) + 2
    for pos in range(80):
        for bad in (np.nan, np.inf):
            x = base.copy()
            x[pos] = bad
            x[pos + 3:pos + 40] = np.where(pos % 2, np.nan, x[pos + 3:pos + 40])
            for name in NAMES:
                whole = run(name, x, [80], alpha=0.2)
                ones = run(name, x, [1], alpha=0.2)
                assert same_bits(whole, ones), (name, pos)
                want = slow_ewm(name, np.where(np.isinf(x), np.nan, x)[:, None], 0.2)[:, 0]
                np.testing.assert_allclose(whole, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("alpha", [1e-4, 2 / 101, 0.5, 0.999999, 1.0])
@pytest.mark.parametrize("adjust", [True, False])
def test_mean_agrees_with_pandas(alpha, adjust):
    rng = np.random.default_rng(3)
    x = rng.normal(size=50000) * 10 + 1e3
    x[20000:20100] = np.nan
    got = ps.from_array(x, chunk_size=4096).ewm_mean(alpha=alpha, adjust=adjust).to_array()
    want = pd.Series(x).ewm(alpha=alpha, adjust=adjust).mean().to_numpy()
    if not adjust:
        assert same_bits(got, want)  # pandas' own recurrence
    else:
        # relative error O(eps / alpha) (docs/design.md, EWM kernels)
        np.testing.assert_allclose(got, want, rtol=max(1e-13, 40 * 2.0**-52 / alpha), atol=0)


def test_edge_cases():
    for name in NAMES:
        assert run(name, np.empty(0), [1], alpha=0.5).shape == (0,)
        one = run(name, np.array([3.5]), [1], alpha=0.5)
        assert (one[0] == 3.5) if name == "ewm_mean" else np.isnan(one[0])
        x32 = np.random.default_rng(1).normal(size=5000).astype(np.float32)
        got = getattr(ps.from_array(x32, chunk_size=100), name)(alpha=0.1).to_array()
        want = getattr(ps.from_array(x32.astype(np.float64)), name)(alpha=0.1).to_array()
        assert got.dtype == np.float64 and same_bits(got, want)


@pytest.mark.parametrize("adjust", [True, False])
def test_constant_series_is_exact(adjust, restore_level):
    x = np.full(20000, 0.1)
    x[5000:5003] = np.nan
    for level in LEVELS:
        ps.set_simd_level(level)
        assert np.all(ps.from_array(x, chunk_size=777).ewm_mean(alpha=0.01, adjust=adjust)
                      .to_array() == 0.1)
        v = ps.from_array(x, chunk_size=777).ewm_var(alpha=0.01, adjust=adjust,
                                                     bias=True).to_array()
        assert np.all(v == 0.0)
    # noise, then a constant: the mean settles within a few ulps of it (as
    # pandas' does: neither reaches it exactly)
    y = np.concatenate([np.random.default_rng(2).normal(size=3000), np.full(20000, 7.0)])
    m = ps.from_array(y, chunk_size=1000).ewm_mean(alpha=0.05).to_array()
    assert np.all(np.abs(m[-1000:] - 7.0) <= 32 * np.spacing(7.0))


def test_overflow_restarts_like_pandas():
    x = np.array([1e308, 1e308, -1e308, 5.0, 6.0, 1e308, 1e308, 2.0] * 20)
    for adjust in (True, False):
        got = run("ewm_mean", x, [1], alpha=0.5, adjust=int(adjust))
        assert same_bits(got, run("ewm_mean", x, [len(x)], alpha=0.5, adjust=int(adjust)))
        want = pd.Series(x).ewm(alpha=0.5, adjust=adjust).mean().to_numpy()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))


def test_long_gap_shows_the_last_mean():
    x = np.r_[np.arange(10.0), np.full(5000, np.nan), np.arange(10.0)]
    for adjust in (True, False):
        m = run("ewm_mean", x, [7], alpha=0.5, adjust=int(adjust))
        assert np.all(m[10:5010] == m[9])
        want = pd.Series(x).ewm(alpha=0.5, adjust=adjust).mean().to_numpy()
        np.testing.assert_allclose(m, want, rtol=1e-13)
