"""
Rolling correlation of stocks: ``moving_corr``, ``moving_cov``, ``moving_beta``, ``moving_ols``
===============================================================================================

How closely do Apple and Microsoft move together, and does it change? The
monthly closing prices of both from 2000 to 2010 (the ``stocks`` data set
shipped with ``vega_datasets``) become monthly returns; ``moving_corr(12)``
gives, for every month, the correlation of the two over the last twelve
months, ``moving_beta(12, y="AAPL", x="MSFT")`` the slope of Apple's returns
on Microsoft's in the same window.  A record of two columns gives one value
per record (pandas' ``a.rolling(12).corr(b)``); with more columns each
record gives the matrix of every pair (``df.rolling(12).corr()``).

The windows are computed from their own values only: no running sum is
kept and subtracted, so the outputs are the same bytes for any chunking,
and a constant window gives covariance exactly 0 after any spike. Each
result is checked against pandas.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from vega_datasets import data

import pystream as ps

stocks = data.stocks()
prices = stocks.pivot(index="date", columns="symbol", values="price")
returns = prices[["AAPL", "MSFT", "IBM", "AMZN"]].pct_change().dropna()
print(returns.head(3))

# %%
# One pair: a value per month
# ---------------------------
# The stream carries the column names, so the pair is chosen by name.  The
# months go in by chunks of 5 (as a file or a socket would deliver them):
# the results do not depend on it.

months = returns.index.to_numpy()
stream = ps.from_array(returns.to_numpy(), time=months, chunk_size=5).rename(list(returns.columns))
corr = stream.moving_corr(12, columns=["AAPL", "MSFT"]).to_array()
beta = stream.moving_beta(12, y="AAPL", x="MSFT").to_array()

want = returns["AAPL"].rolling(12).corr(returns["MSFT"]).to_numpy()
np.testing.assert_allclose(corr, want, rtol=1e-12, equal_nan=True)
want_beta = (returns["AAPL"].rolling(12).cov(returns["MSFT"])
             / returns["MSFT"].rolling(12).var()).to_numpy()
np.testing.assert_allclose(beta, want_beta, rtol=1e-12, equal_nan=True)
whole = ps.from_array(returns.to_numpy()).moving_corr(12, columns=[0, 1]).to_array()
assert np.array_equal(corr.view(np.int64), whole.view(np.int64))   # any chunking, same bytes
print(f"12-month correlation AAPL/MSFT: from {np.nanmin(corr):.2f} to {np.nanmax(corr):.2f}")

# %%
# A duration window on the time column
# ------------------------------------
# With a time column the window can be a duration: the returns of the last
# 365 days (pandas' offset windows, ``rolling("365D")``; ``min_count`` plays
# ``min_periods``).

corr_365 = stream.moving_corr("365D", columns=["AAPL", "MSFT"], min_count=6).to_array()
by_date = returns.set_axis(pd.DatetimeIndex(months))
want_365 = by_date["AAPL"].rolling("365D", min_periods=6).corr(by_date["MSFT"]).to_numpy()
np.testing.assert_allclose(corr_365, want_365, rtol=1e-12, equal_nan=True)

# %%
# Every pair: a matrix per month
# ------------------------------
# Four columns give a 4 x 4 correlation matrix per record, as pandas'
# ``df.rolling(24).corr()`` gives per row.

matrices = stream.moving_corr(24).to_array()
print(matrices.shape)
want_m = returns.rolling(24).corr().to_numpy().reshape(-1, 4, 4)
np.testing.assert_allclose(matrices, want_m, rtol=1e-12, atol=1e-12, equal_nan=True)

# %%
# Covariances, and a rolling regression
# -------------------------------------
# ``moving_cov`` gives the covariance matrices the correlations come from
# (pandas' ``df.rolling(24).cov()``), and ``moving_ols`` the least-squares
# coefficients of Apple's returns on Microsoft's and IBM's in each
# 24-month window, intercept first, as statsmodels' ``RollingOLS``.

covs = stream.moving_cov(24).to_array()
want_c = returns.rolling(24).cov().to_numpy().reshape(-1, 4, 4)
np.testing.assert_allclose(covs, want_c, rtol=1e-12, atol=1e-15, equal_nan=True)

from statsmodels.api import add_constant  # noqa: E402
from statsmodels.regression.rolling import RollingOLS  # noqa: E402

coefs = stream.moving_ols(24, "AAPL", ["MSFT", "IBM"]).to_array()
rolling = RollingOLS(returns["AAPL"], add_constant(returns[["MSFT", "IBM"]]), window=24).fit()
np.testing.assert_allclose(coefs, rolling.params.to_numpy(), rtol=1e-9, atol=1e-12,
                           equal_nan=True)
print("last window: AAPL = {:.4f} + {:.3f} MSFT + {:.3f} IBM".format(*coefs[-1]))

fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
top.plot(months, corr, label="moving_corr(12)")
top.plot(months, corr_365, "--", label='moving_corr("365D")')
top.set_ylabel("correlation AAPL / MSFT")
top.legend()
for j, name in enumerate(returns.columns[1:], start=1):
    bottom.plot(months, matrices[:, 0, j], label=f"AAPL / {name}")
bottom.plot(months, beta, ":", color="black", label="beta of AAPL on MSFT (12)")
bottom.set_ylabel("24-month correlation")
bottom.legend(fontsize="small")
fig.tight_layout()
plt.show()
