"""
Running statistics of the Nile's flow
=====================================

The annual flow of the Nile at Aswan from 1871 to 1970 (in 10⁸ m³; the
``nile`` dataset that ships with statsmodels, from Cobb 1978) drops around
1898, when the first Aswan dam was built.  Scans show it without looking
ahead: :meth:`~pystream.Stream.cummean`, :meth:`~pystream.Stream.cumstd` and
:meth:`~pystream.Stream.cumvar` give the mean and spread of all years so far,
:meth:`~pystream.Stream.cummin` and :meth:`~pystream.Stream.cummax` the record
low and high, and :meth:`~pystream.Stream.cumsum` of the deviations from the
mean is the classic CUSUM chart of a change point.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from statsmodels.datasets import nile

import pystream as ps

data = nile.load_pandas().data
years, flow = data["year"].to_numpy(), data["volume"].to_numpy()

# %%
# Chunks of 16 years make every scan carry its state across chunk
# boundaries.  The running mean, variance and standard deviation (``ddof=1``,
# the default, as pandas' ``expanding()``) come out exactly as pandas computes them here:

s = ps.from_array(flow, chunk_size=16)
mean = s.cummean().to_array()
std = s.cumstd(ddof=1).to_array()
var = s.cumvar(ddof=1).to_array()

ref = pd.Series(flow).expanding()
print("cummean, cumstd, cumvar equal to pandas' expanding():",
      [np.array_equal(a, b, equal_nan=True)
       for a, b in [(mean, ref.mean()), (std, ref.std()), (var, ref.var())]])

# %%
# Record years, and the CUSUM: the sum of the deviations from the overall
# mean climbs while the flow is above it and falls after the dam.  Both are
# bit-identical to numpy on the whole array.

low = s.cummin().to_array()
high = s.cummax().to_array()
cusum = s.map(lambda c: c - flow.mean()).cumsum().to_array()
print("cummin/cummax/cumsum identical to numpy:",
      np.array_equal(low, np.minimum.accumulate(flow)),
      np.array_equal(high, np.maximum.accumulate(flow)),
      np.array_equal(cusum, np.cumsum(flow - flow.mean())))
before, after = flow[years <= 1898].mean(), flow[years > 1898].mean()
print(f"CUSUM peaks in {years[np.argmax(cusum)]:.0f}; "
      f"mean flow up to 1898: {before:.0f}, after: {after:.0f}")

# %%
fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
ax1.plot(years, flow, color="k", lw=0.8, label="annual flow")
ax1.plot(years, mean, color="C0", label="cummean")
ax1.fill_between(years, mean - std, mean + std, color="C0", alpha=0.2, label="± cumstd")
ax1.step(years, low, where="post", color="C3", lw=1, label="cummin (record low)")
ax1.step(years, high, where="post", color="C2", lw=1, label="cummax (record high)")
ax1.set_ylabel("flow (10⁸ m³)")
ax1.set_ylim(100, None)
ax1.legend(loc="lower right", fontsize="small", ncol=3)
ax2.plot(years, cusum, color="C1")
ax2.axvline(1898, color="grey", ls="--", lw=0.8)
ax2.set_ylabel("CUSUM (cumsum of flow − mean)")
ax2.set_xlabel("year")
fig.tight_layout()
plt.show()
