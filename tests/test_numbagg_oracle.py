"""numbagg as an oracle where its semantics agree with pystream's.

numbagg's moving functions skip NaNs with ``min_count`` (pystream's default
``nan_policy="omit"``); its ``move_std``/``move_var`` divide by ``count - 1``
(pystream's ``ddof=1``); ``move_exp_nanmean``/``move_exp_nanvar`` are pandas'
``ewm(alpha, adjust=True, ignore_na=False)`` mean and unbiased variance.
"""

from __future__ import annotations

import numbagg
import numpy as np
import pytest

import pystream as ps


def data(seed: int, n: int = 3000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n) * 5 + 3
    x[rng.random(n) < 0.05] = np.nan
    return x


@pytest.mark.parametrize("window", [1, 3, 20, 500])
@pytest.mark.parametrize("name,kw", [("sum", {}), ("mean", {}), ("std", {"ddof": 1}),
                                     ("var", {"ddof": 1})])
def test_moving_agrees_with_numbagg(window, name, kw):
    x = data(window)
    min_count = max(1, window // 2)
    if kw and min_count < 2:
        min_count = 2 if window >= 2 else 1
    want = getattr(numbagg, "move_" + name)(x, window=window, min_count=min_count)
    got = getattr(ps.from_array(x, chunk_size=257), "moving_" + name)(
        window, min_count=min_count, **kw).to_array()
    if kw:
        # where count - 1 <= 0 numbagg divides by zero; pystream gives NaN (as numpy)
        count = numbagg.move_sum((~np.isnan(x)).astype(float), window=window, min_count=1)
        assert np.all(np.isnan(got[count <= 1]))
        want = np.where(count <= 1, np.nan, want)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("alpha", [0.02, 0.3, 0.9])
def test_ewm_agrees_with_numbagg(alpha):
    x = data(int(alpha * 100))
    got = ps.from_array(x, chunk_size=100).ewm_mean(alpha=alpha).to_array()
    np.testing.assert_allclose(got, numbagg.move_exp_nanmean(x, alpha=alpha), rtol=1e-12, atol=1e-12)
    got = ps.from_array(x, chunk_size=100).ewm_var(alpha=alpha).to_array()
    want = numbagg.move_exp_nanvar(x, alpha=alpha)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
