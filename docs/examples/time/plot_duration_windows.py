"""
Duration windows across gaps
============================

A window of 7 *records* is a week of daily data only while no day is
missing: across a gap it reaches further back.  A window of 7 *days*
(``moving_mean("7D")``) holds the records whose times are in ``(t - 7 days,
t]`` whatever the gaps, pandas' offset-window rule (``closed="right"``,
``min_count=1`` by default).

Seattle's daily maximum temperature 2012-2015 (``vega_datasets``), with a
station outage of three weeks and 15 % of the other days dropped at random:
an irregular daily series, as real loggers produce.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from vega_datasets import local_data

import pystream as ps

weather = local_data.seattle_weather()
rng = np.random.default_rng(0)
keep = rng.random(len(weather)) > 0.15
keep[(weather["date"] >= "2014-02-01") & (weather["date"] < "2014-02-22")] = False  # outage
days = weather[keep]
t = days["date"].to_numpy()                 # datetime64[us]: any unit is accepted
x = days["temp_max"].to_numpy()
gap = np.diff(t) / np.timedelta64(1, "D")
print(f"{len(x)} days kept of {len(weather)}; gaps up to {gap.max():.0f} days")

# %%
# The same stage, two kinds of window: an integer counts records, a
# duration measures time.

s = ps.from_array(x, time=t)
by_time = s.moving_mean("7D").to_array()
by_count = s.moving_mean(7).to_array()

# %%
# pandas agrees on both: ``rolling("7D")`` over a DatetimeIndex (an output
# from the first record on: ``min_count=1``), and ``rolling(7)`` (the first
# 6 outputs NaN: a record window wants ``min_count=window`` by default).

series = pd.Series(x, index=pd.DatetimeIndex(t))
assert np.allclose(by_time, series.rolling("7D").mean().to_numpy())
assert np.allclose(by_count, series.rolling(7).mean().to_numpy(), equal_nan=True)

# %%
# Numeric times work the same way: a float64 time column (here days since
# the first record) and a width in its units, wrapped in
# :func:`~pystream.duration` (a bare integer would count records).

days_since = (t - t[0]) / np.timedelta64(1, "D")
numeric = ps.from_array(x, time=days_since).moving_mean(ps.duration(7.0)).to_array()
assert np.array_equal(numeric, by_time)

# %%
# Where do they differ?  Where the last 7 records span more than 7 days:
# after every missing day, and for a week after the outage, when the record
# window still averages January's days.

span = np.full(len(x), np.nan)
span[6:] = (t[6:] - t[:-6]) / np.timedelta64(1, "D") + 1      # days covered by 7 records
differ = ~np.isclose(by_time, by_count)
differ[:6] = False                                              # no 7 records yet
print(f"the windows differ at {differ.sum()} of {len(x)} records; "
      f"there 7 records span {np.nanmin(span[differ]):.0f} to {np.nanmax(span[differ]):.0f} days")
assert np.all(span[6:][differ[6:]] > 7) and np.all(~differ[6:][span[6:] == 7])

after = (t >= np.datetime64("2014-02-22")) & (t < np.datetime64("2014-03-01"))
print("first week after the outage:")
for ti, a, b, n in zip(t[after], by_time[after], by_count[after], span[after]):
    print(f"  {str(ti)[:10]}  7 days: {a:5.2f}  7 records: {b:5.2f}  (span {n:.0f} days)")

# %%
# Around the outage: the duration window restarts from the new days, the
# record window blends in the weeks before.

zoom = (t >= np.datetime64("2014-01-10")) & (t < np.datetime64("2014-03-15"))
fig, ax = plt.subplots(figsize=(8, 3.5))
ax.plot(t[zoom], x[zoom], ".", color="0.6", label="temp_max (kept days)")
ax.plot(t[zoom], by_time[zoom], "-o", ms=3, label='moving_mean("7D")')
ax.plot(t[zoom], by_count[zoom], "-s", ms=3, label="moving_mean(7)")
ax.axvspan(np.datetime64("2014-02-01"), np.datetime64("2014-02-22"), color="0.9",
           label="outage")
ax.set_ylabel("°C")
ax.legend(fontsize=8)
fig.autofmt_xdate()
plt.show()
