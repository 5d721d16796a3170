"""Conventions and documented differences from the peers (issue 15).

* ``ddof``: the variance *stages* (``moving_var``/``moving_std``,
  ``cumvar``/``cumstd``) default to ``ddof=1``, as pandas' ``rolling`` /
  ``expanding`` and polars; the *reducers* (``Stream.var``/``std``,
  ``describe``, ``Moments``) default to numpy's ``ddof=0``.
* Each difference listed in ``docs/design.md`` ("Differences from the peers")
  and on the comparison page has a test here, run against the installed
  pandas, bottleneck and numbagg, so the documentation cannot go stale.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import warnings

import bottleneck
import numbagg
import numpy as np
import pandas as pd
import pytest

import pystream as ps
from pystream.cli.stage_args import parse_stage

VAR_STAGES = ("moving_var", "moving_std", "cumvar", "cumstd")


def data(seed: int, n: int = 500, nan: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n) * 5 + 280.0
    x[rng.random(n) < nan] = np.nan
    return x


# ------------------------------------------------------------------ ddof: stages
@pytest.mark.parametrize("name", VAR_STAGES)
def test_variance_stages_default_to_ddof_1(name):
    for owner in (ps.Stream, ps.pipeline().__class__):
        assert inspect.signature(getattr(owner, name)).parameters["ddof"].default == 1
    # the registry's factory (what plugins and the CLI build) has the same default
    from pystream.plugins import get_registry

    factory = get_registry().stages[name].factory
    stage = factory(5) if name.startswith("moving") else factory()
    assert stage.kernel_params["ddof"] == 1.0


@pytest.mark.parametrize("stat", ["var", "std"])
@pytest.mark.parametrize("window,min_periods", [(1, None), (2, None), (2, 1), (5, None),
                                                (5, 1), (5, 2), (5, 4), (30, 10)])
def test_moving_var_std_default_is_pandas_rolling(stat, window, min_periods):
    x = data(window * 7 + (min_periods or 0))
    want = getattr(pd.Series(x).rolling(window, min_periods=min_periods), stat)().to_numpy()
    kw = {} if min_periods is None else {"min_count": min_periods}
    for chunk_size in (7, len(x)):
        got = getattr(ps.from_array(x, chunk_size=chunk_size), "moving_" + stat)(window, **kw)
        got = got.to_array()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        # pandas' running sums lose ~1e-9 relative on data shifted to 280 (ours do not)
        np.testing.assert_allclose(got, want, rtol=1e-7, equal_nan=True)
    # pushed through a pipeline: the same default
    pushed = ps.pipeline().__getattribute__("moving_" + stat)(window, **kw).push()
    got = np.concatenate([pushed.send(x[:100]), pushed.send(x[100:]), pushed.close()])
    np.testing.assert_allclose(got, want, rtol=1e-7, equal_nan=True)


@pytest.mark.parametrize("stat", ["var", "std"])
def test_cumvar_cumstd_default_is_pandas_expanding(stat):
    x = data(3, nan=0.0)
    want = getattr(pd.Series(x).expanding(), stat)().to_numpy()
    got = getattr(ps.from_array(x, chunk_size=11), "cum" + stat)().to_array()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-9, equal_nan=True)
    # pandas' expanding skips NaNs: nan_policy="omit"
    x = data(4)
    want = getattr(pd.Series(x).expanding(), stat)().to_numpy()
    got = getattr(ps.from_array(x, chunk_size=11), "cum" + stat)(nan_policy="omit").to_array()
    np.testing.assert_allclose(got, want, rtol=1e-9, equal_nan=True)


def test_ddof_0_is_bottleneck_move_std():
    x = data(5)
    for stat in ("var", "std"):
        want = getattr(bottleneck, "move_" + stat)(x, 20, min_count=5)
        got = getattr(ps.from_array(x), "moving_" + stat)(20, min_count=5, ddof=0).to_array()
        np.testing.assert_allclose(got, want, rtol=1e-9, equal_nan=True)
        # and the default is not bottleneck's: the 0.55 degree trap of issue 15
        default = getattr(ps.from_array(x), "moving_" + stat)(20, min_count=5).to_array()
        ok = ~np.isnan(want)
        assert np.all(default[ok] > want[ok])


def test_cli_stage_defaults_follow_the_methods(tmp_path):
    assert parse_stage("moving_std:5").stage.signature.parameters["ddof"].default == 1
    x = data(6, n=300)
    src, out = tmp_path / "x.npy", tmp_path / "out.npy"
    np.save(src, x)
    proc = subprocess.run([sys.executable, "-m", "pystream", "run", str(src), "moving_std:5",
                           "-o", str(out)], capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(np.load(out), pd.Series(x).rolling(5).std().to_numpy(),
                               rtol=1e-7, equal_nan=True)


# ---------------------------------------------------------------- ddof: reducers
@pytest.mark.parametrize("shape", [(1000,), (200, 3)])
def test_reducers_default_to_numpys_ddof_0(shape):
    rng = np.random.default_rng(7)
    x = rng.normal(size=shape) * 5 + 280.0
    s = ps.from_array(x, chunk_size=77)
    np.testing.assert_allclose(s.var(), np.var(x, axis=0), rtol=1e-12)
    np.testing.assert_allclose(s.std(), np.std(x, axis=0), rtol=1e-12)
    d = s.describe()
    assert d.ddof == 0
    np.testing.assert_allclose(d.var, np.var(x, axis=0), rtol=1e-12)
    np.testing.assert_allclose(ps.Moments().update(x).result().var, np.var(x, axis=0),
                               rtol=1e-12)
    for f in (ps.Stream.var, ps.Stream.std, ps.Stream.describe, ps.Moments.result):
        assert inspect.signature(f).parameters["ddof"].default == 0


# ------------------------------------------------------- differences from the peers
INF_EXAMPLE = np.array([20, 10, 10, np.inf, 1, 1, 2, 3], dtype=float)


def test_pandas_rolling_treats_inf_as_missing_pystream_as_a_value():
    pandas = pd.Series(INF_EXAMPLE).rolling(3, min_periods=1).var().to_numpy()
    ours = ps.from_array(INF_EXAMPLE).moving_var(3, min_count=1).to_array()
    # the outputs shown in docs/design.md and on the comparison page
    np.testing.assert_allclose(pandas, [np.nan, 50, 100 / 3, 0, 40.5, 0, 1 / 3, 1],
                               equal_nan=True)
    np.testing.assert_allclose(ours, [np.nan, 50, 100 / 3, np.nan, np.nan, np.nan, 1 / 3, 1],
                               equal_nan=True)
    # pystream's mean of a window holding inf is inf, pandas' skips it
    assert np.isinf(ps.from_array(INF_EXAMPLE).moving_mean(3, min_count=1).to_array()[3:6]).all()
    assert np.isfinite(pd.Series(INF_EXAMPLE).rolling(3, min_periods=1).mean()).all()
    # pandas' expanding too
    assert pd.Series(INF_EXAMPLE).expanding().var().notna().sum() == 7
    # the documented workaround: infs to NaN first gives pandas' numbers
    as_nan = ps.from_array(INF_EXAMPLE).map(lambda c: np.where(np.isinf(c), np.nan, c))
    np.testing.assert_allclose(as_nan.moving_var(3, min_count=1).to_array(), pandas,
                               equal_nan=True)


def test_pandas_accepts_min_periods_0_and_window_0_pystream_refuses():
    z = np.array([1.0, np.nan, np.nan, 3.0])
    assert pd.Series(z).rolling(2, min_periods=0).sum().tolist() == [1, 1, 0, 3]
    assert pd.Series(z).rolling(0).sum().tolist() == [0, 0, 0, 0]
    assert pd.Series(z).rolling(0).mean().isna().all()
    with pytest.raises(ValueError, match=r"min_count must be in \[1, window=2\], got 0"):
        ps.from_array(z).moving_sum(2, min_count=0)
    with pytest.raises(ValueError, match="window must be >= 1, got 0"):
        ps.from_array(z).moving_sum(0)
    # what to write instead: min_count=1 (the same except the empty window's sum, 0 in
    # pandas, NaN here: fill it when an empty sum must be 0)
    got = ps.from_array(z).moving_sum(2, min_count=1).to_array()
    np.testing.assert_array_equal(got, [1, 1, np.nan, 3])
    filled = ps.from_array(z).moving_sum(2, min_count=1).map(np.nan_to_num).to_array()
    np.testing.assert_array_equal(filled, pd.Series(z).rolling(2, min_periods=0).sum())
    for stat in ("mean", "var", "std", "median", "min", "max"):
        np.testing.assert_array_equal(
            getattr(ps.from_array(z), "moving_" + stat)(2, min_count=1).to_array(),
            getattr(pd.Series(z).rolling(2, min_periods=0), stat)().to_numpy())


def test_window_longer_than_the_stream():
    y = np.arange(5.0)
    assert np.isnan(ps.from_array(y).moving_mean(10).to_array()).all()
    assert pd.Series(y).rolling(10).mean().isna().all()                 # pandas: the same
    np.testing.assert_array_equal(ps.from_array(y).moving_mean(10, min_count=1).to_array(),
                                  pd.Series(y).rolling(10, min_periods=1).mean())
    with pytest.raises(ValueError):                                     # bottleneck raises
        bottleneck.move_mean(y, 10)
    with pytest.raises(ValueError):                                     # numbagg raises
        numbagg.move_mean(y, window=10)


@pytest.mark.parametrize("name", ["ewm_mean", "ewm_var", "ewm_std"])
def test_ewm_with_a_tiny_alpha_raises(name):
    y = np.arange(5.0)
    with pytest.raises(ValueError, match="decay is too small to represent"):
        getattr(ps.from_array(y), name)(alpha=5e-324)
    # a tiny (even subnormal) alpha whose centre of mass is finite works, as pandas
    got = getattr(ps.from_array(y), name)(alpha=1e-308).to_array()
    want = getattr(pd.Series(y).ewm(alpha=1e-308), name[4:])().to_numpy()
    np.testing.assert_allclose(got, want, equal_nan=True)
    # pandas accepts 5e-324; its result (adjust=True) is the expanding statistic,
    # which is what to write instead: cummean / cumvar / cumstd (ddof=1, as bias=False)
    want = getattr(pd.Series(y).ewm(alpha=5e-324), name[4:])().to_numpy()
    instead = {"ewm_mean": "cummean", "ewm_var": "cumvar", "ewm_std": "cumstd"}[name]
    np.testing.assert_allclose(getattr(ps.from_array(y), instead)().to_array(), want,
                               equal_nan=True)


@pytest.mark.parametrize("kw", [{"halflife": 1e17}, {"halflife": 1e308}, {"com": np.inf},
                                {"alpha": 5.5e-309}])
def test_ewm_with_a_decay_too_small_to_represent_raises_a_clear_error(kw):
    # halflife=1e17 used to leak a ZeroDivisionError (its decay rounds to 0)
    with pytest.raises(ValueError, match="decay is too small to represent"):
        ps.from_array(np.arange(5.0)).ewm_mean(**kw)


@pytest.mark.parametrize("values,ddof,numpy_var", [
    ([1.0, 2.0], 2, np.inf),      # numpy divides a non-zero sum of squares by 0
    ([1.0, 2.0], 3, np.inf),
    ([5.0], 1, np.nan),           # 0 / 0
    ([], 0, np.nan),
])
def test_reducers_give_nan_when_count_le_ddof(values, ddof, numpy_var):
    x = np.array(values)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got_np = np.var(x, ddof=ddof)
    assert caught, "numpy warns"
    np.testing.assert_array_equal(got_np, numpy_var)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                # pystream does not warn
        assert np.isnan(ps.from_array(x).var(ddof=ddof))
        assert np.isnan(ps.from_array(x).describe(ddof=ddof).std)
    assert np.isnan(pd.Series(x, dtype=float).var(ddof=ddof))         # pandas: NaN too
