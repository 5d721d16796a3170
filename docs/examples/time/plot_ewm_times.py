"""
EWM over irregular times
========================

An exponentially weighted mean with ``halflife=6`` halves a value's weight
every 6 *records*: right for a sensor that reports every hour, wrong when it
reports irregularly.  With a duration, ``ewm_mean(halflife="6h")`` weighs
each value by the time elapsed since it was observed, ``0.5 ** (dt / 6 h)``:
pandas' ``ewm(halflife="6h", times=...)``, with the time differences kept
exact in int64 nanoseconds.

Seattle's hourly temperature normals (``vega_datasets``) stand for a sensor;
a logger that keeps 30 % of the hours at random, and loses two days in
April, makes the irregular series.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from vega_datasets import local_data

import pystream as ps

temps = local_data.seattle_temps()
t_all = temps["date"].to_numpy()
x_all = temps["temp"].to_numpy()
rng = np.random.default_rng(1)
kept = rng.random(len(x_all)) < 0.3
kept[(t_all >= np.datetime64("2010-04-10")) & (t_all < np.datetime64("2010-04-12"))] = False
t, x = t_all[kept], x_all[kept]
print(f"{len(x)} of {len(x_all)} hours kept; gaps from "
      f"{np.diff(t).min() / np.timedelta64(1, 'h'):.0f} to "
      f"{np.diff(t).max() / np.timedelta64(1, 'h'):.0f} hours")

# %%
# By time and by record count, on the same irregular series:

s = ps.from_array(x, time=t)
by_time = s.ewm_mean(halflife="6h").to_array()
by_count = ps.from_array(x).ewm_mean(halflife=6).to_array()
spread = s.ewm_std(halflife="6h").to_array()

# %%
# pandas agrees on the means (``times=`` takes the index):

series = pd.Series(x, index=pd.DatetimeIndex(t))
assert np.allclose(by_time, series.ewm(halflife="6h", times=series.index).mean().to_numpy())
assert np.allclose(by_count, series.ewm(halflife=6).mean().to_numpy())

# %%
# pandas has no ``std`` with ``times`` (``NotImplementedError``); pystream's
# is pandas' bias-corrected EWM variance with the time weights.  Written out
# for each record, with weights ``w = 0.5 ** (dt / 6 h)`` over the records up
# to it: ``var = sum(w (x - m)**2) / sum(w) * sum(w)**2 / (sum(w)**2 - sum(w**2))``.

hours = (t - t[0]) / np.timedelta64(1, "h")
direct = np.full(len(x), np.nan)
for i in range(1, len(x)):
    w = 0.5 ** ((hours[i] - hours[: i + 1]) / 6.0)
    m = np.sum(w * x[: i + 1]) / w.sum()
    var = np.sum(w * (x[: i + 1] - m) ** 2) / w.sum()
    direct[i] = np.sqrt(var * w.sum() ** 2 / (w.sum() ** 2 - np.sum(w**2)))
assert np.allclose(spread, direct, equal_nan=True)
print(f"ewm_std: largest difference to the direct sums {np.nanmax(abs(spread - direct)):.1e}")

# %%
# How much do the values before the two lost days still weigh?  Feed both
# EWMs an indicator, 1 before the gap and 0 after: the output is the weight
# of the old values.  At the first reading after the gap, the time-based
# mean has multiplied their weights by ``0.5 ** (gap / 6 h)``, leaving them a
# fraction of a percent of the total; the count-based one sees one record
# more and still gives them most of it.

after = int(np.argmax(np.diff(t) == np.diff(t).max())) + 1
old = (np.arange(len(x)) < after).astype(float)
w_time = ps.from_array(old, time=t).ewm_mean(halflife="6h").to_array()[after]
w_count = ps.from_array(old).ewm_mean(halflife=6).to_array()[after]
gap_h = (t[after] - t[after - 1]) / np.timedelta64(1, "h")
print(f"first reading after the {gap_h:.0f} h gap ({t[after]}): the old values weigh "
      f"{w_time:.2%} by time, {w_count:.2%} by record count")
total_old = np.sum(0.5 ** ((t[after - 1] - t[:after]) / np.timedelta64(6, "h")))
expected = total_old * 0.5 ** (gap_h / 6) / (total_old * 0.5 ** (gap_h / 6) + 1)
assert np.isclose(w_time, expected) and w_time < 0.01 and w_count > 0.8

# %%
# The week around the two lost days: after the gap, the time-based mean
# starts from the new readings, the count-based one drags the old ones along.

zoom = (t >= np.datetime64("2010-04-06")) & (t < np.datetime64("2010-04-16"))
zoom_all = (t_all >= np.datetime64("2010-04-06")) & (t_all < np.datetime64("2010-04-16"))
fig, ax = plt.subplots(figsize=(9, 3.5))
ax.plot(t_all[zoom_all], x_all[zoom_all], color="0.8", lw=1, label="all hours")
ax.plot(t[zoom], x[zoom], ".", color="0.4", label="kept hours")
ax.plot(t[zoom], by_time[zoom], "-", label='ewm_mean(halflife="6h")')
ax.fill_between(t[zoom], by_time[zoom] - spread[zoom], by_time[zoom] + spread[zoom],
                alpha=0.2, label='± ewm_std(halflife="6h")')
ax.plot(t[zoom], by_count[zoom], "--", label="ewm_mean(halflife=6) (records)")
ax.set_ylabel("°F")
ax.legend(fontsize=7, ncol=2)
fig.autofmt_xdate()
plt.show()
