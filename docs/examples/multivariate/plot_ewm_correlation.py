"""
Exponentially weighted correlation of stock returns
===================================================

Monthly closing prices of five stocks, January 2000 to March 2010 (the
``stocks`` data set bundled with ``vega_datasets``; Google is listed from
August 2004 only, so its column is missing before).  How closely did
Microsoft's and IBM's monthly returns move together, and how did that change
through the 2000 crash and the 2008 crisis?  An exponentially weighted
correlation (a span of 12 months) answers it per month, as pandas'
``a.ewm(span=12).corr(b)`` does; a record of more than two columns gives the
whole correlation matrix per month, as ``DataFrame.ewm(span=12).corr()``.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from vega_datasets import local_data

import pystream as ps

prices = local_data.stocks().pivot(index="date", columns="symbol", values="price")
returns = prices.pct_change(fill_method=None).iloc[1:]
names = list(returns.columns)
print(names, returns.shape)
s = ps.from_array(returns.to_numpy(), chunk_size=10, columns=names)

# %%
# Two columns give one correlation per month; ``columns=`` picks them by name.

corr = s.ewm_corr(span=12, min_periods=6, columns=["MSFT", "IBM"]).to_array()
want = returns["MSFT"].ewm(span=12, min_periods=6).corr(returns["IBM"]).to_numpy()
assert np.array_equal(np.isnan(corr), np.isnan(want))
assert np.allclose(corr, want, rtol=1e-12, atol=1e-14, equal_nan=True)
print(f"MSFT-IBM EWM correlation: the same as pandas (largest difference "
      f"{np.nanmax(np.abs(corr - want)):.1e}); lowest {np.nanmin(corr):.2f}, "
      f"highest {np.nanmax(corr):.2f}")

# %%
# All five columns give the (5, 5) matrix per month.  Google's row and column
# are NaN until it has 6 returns; every other pair uses its own months, as
# pandas does pair by pair.

matrix = s.ewm_corr(span=12, min_periods=6).to_array()
want_m = returns.ewm(span=12, min_periods=6).corr().to_numpy().reshape(matrix.shape)
assert np.array_equal(np.isnan(matrix), np.isnan(want_m))
assert np.allclose(matrix, want_m, rtol=1e-12, atol=1e-14, equal_nan=True)
print(matrix.shape)
print(pd.DataFrame(matrix[-1], index=names, columns=names).round(2))

# %%
# The covariance of the same pair, unbiased as pandas' default, and the same
# bytes whatever the chunking.

cov = s.ewm_cov(span=12, columns=["MSFT", "IBM"]).to_array()
again = ps.from_array(returns.to_numpy(), chunk_size=1, columns=names) \
    .ewm_cov(span=12, columns=["MSFT", "IBM"]).to_array()
assert np.array_equal(cov.view(np.int64), again.view(np.int64))
assert np.allclose(cov, returns["MSFT"].ewm(span=12).cov(returns["IBM"]).to_numpy(),
                   rtol=1e-12, atol=1e-16, equal_nan=True)

# %%
# The correlation through time, with Amazon against Apple for comparison.

other = s.ewm_corr(span=12, min_periods=6, columns=["AMZN", "AAPL"]).to_array()
fig, ax = plt.subplots(figsize=(8, 3.5))
ax.plot(returns.index, corr, label="MSFT / IBM")
ax.plot(returns.index, other, label="AMZN / AAPL")
ax.axhline(0, color="grey", lw=0.5)
ax.set_ylabel("EWM correlation of monthly returns (span 12)")
ax.set_ylim(-1, 1)
ax.legend()
fig.tight_layout()
plt.show()
