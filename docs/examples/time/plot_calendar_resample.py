"""
Calendar bins: months, and days around a DST change
===================================================

``resample(freq, how=...)`` cuts the time column into calendar bins and
gives one output record per bin, one value per reducer, with the bin's label
as its time (pandas' ``origin``, ``offset``, ``closed`` and ``label``).  Bins
by month (``"1MS"``: month starts) have 28 to 31 days; with ``tz=`` days are
local days, 23 or 25 hours long where the clocks change.

The data are NOAA's hourly climate normals for Seattle (30-year averages
for each hour of the year, dated 2010; ``vega_datasets``), in Fahrenheit.
NOAA states normals in local *standard* time, UTC-8 all year, so adding
8 hours gives the UTC instants a time column holds.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from vega_datasets import local_data

import pystream as ps

temps = local_data.seattle_temps()
t = temps["date"].to_numpy() + np.timedelta64(8, "h")     # PST -> UTC
x = temps["temp"].to_numpy()
s = ps.from_array(x, time=t)
print(f"{len(x)} hourly readings, {t[0]} .. {t[-1]} UTC")

# %%
# Several reducers in one pass
# ----------------------------
# ``how`` takes a list: each output record holds one value per reducer, in
# that order, and ``to_pandas()`` names the columns after them, with the
# bins' labels as the time column.

HOW = ["mean", "min", "max", "std", "count"]
monthly = s.resample("1MS", how=HOW, tz="America/Los_Angeles")
table = monthly.to_pandas()
print(table.round(2).to_string())

# %%
# pandas computes the same months from a tz-aware index; pystream's labels
# are the UTC instants of local midnight on the 1st.

local = pd.Series(x, index=pd.DatetimeIndex(t).tz_localize("UTC")
                  .tz_convert("America/Los_Angeles"))
want = local.resample("1MS").agg(HOW)
got = monthly.to_array()
assert np.allclose(got, want[HOW].to_numpy())
labels = np.concatenate([b.time for b in monthly.batches()])
assert np.array_equal(labels, want.index.tz_convert("UTC").tz_localize(None).to_numpy())

# %%
# Local days across the clock changes
# -----------------------------------
# In Los Angeles, 2010-03-14 had 23 hours and 2010-11-07 had 25.  Daily
# bins in that zone hold as many hourly readings (the spring day one less:
# the normals skip an hour there).

daily = s.resample("1D", how=["count", "mean"], tz="America/Los_Angeles")
d = daily.to_array()
day_t = np.concatenate([b.time for b in daily.batches()])
hours = np.diff(np.append(day_t, day_t[-1] + np.timedelta64(1, "D"))) / np.timedelta64(1, "h")
for day in ("2010-03-13", "2010-03-14", "2010-03-15", "2010-11-06", "2010-11-07", "2010-11-08"):
    i = int(np.searchsorted(day_t, np.datetime64(day) + np.timedelta64(7, "h")))
    print(f"{day}: bin starts {day_t[i]} UTC, {hours[i]:.0f} h long, "
          f"{d[i, 0]:.0f} readings, mean {d[i, 1]:.1f} F")

want_d = local.resample("1D").agg(["count", "mean"])
assert np.allclose(d, want_d.to_numpy())
assert sorted(set(hours[:-1])) == [23.0, 24.0, 25.0]

# %%
# The monthly spread and the daily means.

fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.5))
mid = labels + np.timedelta64(14, "D")
a1.fill_between(mid, got[:, 1], got[:, 2], alpha=0.3, label="min .. max")
a1.plot(mid, got[:, 0], "-o", label="mean")
a1.errorbar(mid, got[:, 0], yerr=got[:, 3], fmt="none", color="k", capsize=3, label="± std")
a1.set_title('resample("1MS", how=[mean, min, max, std, count])', fontsize=9)
a1.set_ylabel("°F")
a1.legend(fontsize=8)
a2.plot(day_t, hours, drawstyle="steps-post", label="hours in the local day")
a2.plot(day_t, d[:, 0], "--", drawstyle="steps-post", label="readings (count)")
for day in ("2010-03-14", "2010-11-07"):
    i = int(np.searchsorted(day_t, np.datetime64(day) + np.timedelta64(7, "h")))
    a2.annotate(f"{day}: {hours[i]:.0f} h", (day_t[i], hours[i]), fontsize=8,
                xytext=(0, 12 if hours[i] > 24 else -16), textcoords="offset points",
                ha="center")
a2.set_ylim(20.5, 26.5)
a2.legend(fontsize=8, loc="upper left")
a2.set_title('daily bins, resample("1D", tz="America/Los_Angeles")', fontsize=9)
fig.autofmt_xdate()
plt.show()
