"""
Hourly temperatures to daily minimum, maximum and mean
======================================================

``resample(n, how=...)`` reduces every block of ``n`` consecutive records
to one record: with ``n=24``, hourly data become daily data.  ``how="sum"``
and ``"mean"`` run in C and accumulate in float64; ``"min"``, ``"max"``,
``"first"`` and ``"last"`` keep the input's dtype.

The data are the hourly temperatures of Seattle and San Francisco in 2010
(°F), the ``seattle-temps`` and ``sf-temps`` data sets of vega-datasets
(public-domain NOAA data, bundled with the ``vega_datasets`` package).
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from vega_datasets import local_data

import pystream as ps

df = pd.DataFrame({
    "Seattle": local_data.seattle_temps().set_index("date")["temp"],
    "San Francisco": local_data.sf_temps().set_index("date")["temp"],
}).asfreq("h")
print(df.shape, "missing hours:", df.isna().sum().to_dict())

# %%
# Both series skip 2 a.m. on 14 March (daylight saving time).
# ``asfreq("h")`` puts a NaN there, so every block of 24 records is a
# calendar day, and ``nan_policy="omit"`` skips the NaN.  Each record holds
# the two cities, and ``resample`` reduces each city separately.

s = ps.from_array(df.to_numpy())
daily = {how: s.resample(24, how=how, nan_policy="omit").to_array()
         for how in ("min", "max", "mean", "first", "last")}
print("daily records:", daily["mean"].shape)

# %%
# The same as pandas' calendar resampling (min/max/first/last exactly, the
# mean to rounding):

ref = df.resample("D")
for how, y in daily.items():
    print(f"{how:>5}: max |difference| from pandas {np.max(np.abs(y - ref.agg(how))):.1e}")

# %%
# San Francisco's days vary less than Seattle's, and so do its seasons.
# ``"first"`` is the temperature at midnight.

spread = np.mean(daily["max"] - daily["min"], axis=0)
print("mean daily range (°F):", dict(zip(df.columns, spread.round(1))))

days = df.index[::24]
fig, axes = plt.subplots(2, 1, sharex=True, sharey=True, figsize=(8, 6))
for j, (ax, city) in enumerate(zip(axes, df.columns)):
    ax.fill_between(days, daily["min"][:, j], daily["max"][:, j], color=f"C{j}",
                    alpha=0.3, label="daily min–max")
    ax.plot(days, daily["mean"][:, j], color=f"C{j}", label="daily mean")
    ax.plot(days, daily["first"][:, j], ".", ms=2, color="k", label="at midnight")
    ax.set_title(city, fontsize="medium")
    ax.set_ylabel("temperature (°F)")
    ax.legend(loc="lower center", ncols=3, fontsize="small")
fig.tight_layout()
plt.show()
