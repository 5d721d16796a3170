"""
Inflation and back: ``diff`` and ``cumprod`` on US prices
=========================================================

The US consumer price index, quarterly from 1959 to 2009 (the ``macrodata``
dataset that ships with statsmodels, from the Federal Reserve Bank of St.
Louis' FRED database).  :meth:`~pystream.Stream.diff` of the log CPI is the
quarterly inflation rate; :meth:`~pystream.Stream.cumprod` of the quarterly
growth factors rebuilds the price level from them.
"""

import matplotlib.pyplot as plt
import numpy as np
from statsmodels.datasets import macrodata

import pystream as ps

data = macrodata.load_pandas().data
quarter = data["year"].to_numpy() + (data["quarter"].to_numpy() - 1) / 4
label = [f"{y:.0f}Q{q:.0f}" for y, q in zip(data["year"], data["quarter"])]
cpi = data["cpi"].to_numpy()

# %%
# Annualised inflation is ``400 * diff(log(cpi))``: one record fewer than the
# input, bit-identical to ``np.diff`` for any chunking.  statsmodels ships the
# same series as ``infl``, rounded to two decimals:

log_cpi = ps.from_array(np.log(cpi), chunk_size=50)
d = log_cpi.diff().to_array()
infl = 400 * d
rounding = np.max(np.abs(infl - data["infl"].to_numpy()[1:]))
print("identical to np.diff:", np.array_equal(d, np.diff(np.log(cpi))),
      f"| max |infl - statsmodels' infl| = {rounding:.4f}")

# %%
# ``diff(n=2)`` differentiates twice: the change of the inflation rate from
# one quarter to the next.  Its largest swings come with the 2008 crash and
# the 1986 collapse of oil prices.

accel = 400 * log_cpi.diff(n=2).to_array()
print("largest quarter-to-quarter swings of inflation:",
      [f"{label[i + 2]}: {accel[i]:+.1f}" for i in np.argsort(np.abs(accel))[-3:][::-1]])

# %%
# Back to prices: the quarterly growth factors ``cpi[t] / cpi[t-1]``
# multiplied up (``cumprod``, numpy's sequential loop, bit for bit) rebuild
# the CPI from its first value.

factors = cpi[1:] / cpi[:-1]
growth = ps.from_array(factors, chunk_size=50)
level = growth.cumprod().to_array()
rebuilt = cpi[0] * level
error = np.max(np.abs(rebuilt / cpi[1:] - 1))
print("cumprod identical to np.cumprod:", np.array_equal(level, np.cumprod(factors)),
      f"| max relative error of the rebuilt CPI: {error:.1e}")

fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
ax1.plot(quarter, cpi, color="k", lw=3, alpha=0.3, label="CPI")
ax1.plot(quarter[1:], rebuilt, color="C0", lw=1, label="cpi[0] × cumprod(growth)")
ax1.set_ylabel("CPI (1982-84 = 100)")
ax1.legend(loc="upper left")
ax2.plot(quarter[1:], infl, color="C3", lw=1)
ax2.axhline(0, color="grey", lw=0.5)
ax2.set_ylabel("inflation (% a year)")
ax2.set_xlabel("year")
fig.tight_layout()
plt.show()
