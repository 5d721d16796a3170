"""
Days as records with ``tumbling``
=================================

``tumbling(n)`` cuts a stream into non-overlapping blocks of ``n`` records
and makes each block one record.  Hourly data with ``n=24`` become a
stream of days, each a record of 24 hours, and any numpy function along
the hours axis becomes a daily statistic, beyond the fixed menu of
``resample``.

The data are the hourly temperatures of San Francisco in 2010 (°F), the
``sf-temps`` data set of vega-datasets (public-domain NOAA data, bundled
with the ``vega_datasets`` package).
"""

import matplotlib.pyplot as plt
import numpy as np
from vega_datasets import local_data

import pystream as ps

sf = local_data.sf_temps().set_index("date")["temp"].asfreq("h")  # NaN at the DST gap
x = sf.to_numpy()

# %%
# With chunks of a whole number of days (here 30), every block is a view
# of the input: nothing is copied.

days = ps.from_array(x, chunk_size=30 * 24).tumbling(24)
print(days.record_shape, "first block is a view:", np.shares_memory(next(iter(days)), x))

grid = days.to_array()
same = np.array_equal(grid, x.reshape(-1, 24), equal_nan=True)
print(grid.shape, "equals x.reshape(-1, 24):", same)

# %%
# ``map`` applies a function to each chunk of days.  The hour of the
# daily maximum and the daily range are not ``resample`` reductions, but
# are one numpy call on the hours axis:

warmest_hour = days.map(lambda b: np.nanargmax(b, axis=1)).to_array()
daily_range = days.map(lambda b: np.nanmax(b, axis=1) - np.nanmin(b, axis=1)).to_array()
print(f"warmest hour: median {np.median(warmest_hour):.0f}:00, "
      f"daily range: {daily_range.min():.1f} to {daily_range.max():.1f} °F")

# %%
# A block that is not complete at the end of the stream is dropped:
# 8760 hours are exactly 365 days, but 8759 would give 364.

print(len(ps.from_array(x[:-1]).tumbling(24).to_array()), "days from 8759 hours")

# %%
# Each column of the image is a day; the white pixel on day 73 is the hour
# lost to daylight saving time.

fig, (ax0, ax1) = plt.subplots(2, 1, sharex=True, figsize=(8, 6),
                               height_ratios=[2, 1], layout="constrained")
im = ax0.imshow(grid.T, aspect="auto", origin="lower", cmap="RdYlBu_r",
                extent=(0.5, len(grid) + 0.5, -0.5, 23.5))
ax0.plot(np.arange(1, len(grid) + 1), warmest_hour, ".", ms=2, color="k",
         label="warmest hour")
ax0.set_ylabel("hour of day")
ax0.set_yticks(range(0, 24, 6))
ax0.legend(loc="upper left", fontsize="small")
ax1.plot(np.arange(1, len(grid) + 1), daily_range, color="C0")
ax1.set_ylabel("daily range (°F)")
ax1.set_xlabel("day of 2010")
fig.colorbar(im, ax=(ax0, ax1), label="temperature (°F)")
plt.show()
