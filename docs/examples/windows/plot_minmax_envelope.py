"""
Daily temperature envelope
==========================

:meth:`~pystream.Stream.moving_min` and :meth:`~pystream.Stream.moving_max`
give the coldest and warmest value of the last ``window`` records;
:meth:`~pystream.Stream.moving_argmin` and
:meth:`~pystream.Stream.moving_argmax` say *how long ago* it was.  The data
are the hourly temperatures of Seattle in 2010 (°F, a smooth series), the
``seattle-temps`` data set of vega-datasets (public-domain NOAA data, bundled
with the ``vega_datasets`` package).
"""

import bottleneck as bn
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from vega_datasets import local_data

import pystream as ps

df = local_data.seattle_temps().set_index("date").asfreq("h")
temp = df["temp"].to_numpy()
print(f"{len(temp)} hours, {np.isnan(temp).sum()} missing")

# %%
# The data skip 2 a.m. on 14 March (the switch to daylight saving time);
# ``asfreq("h")`` puts a NaN there.  NaNs are skipped (``nan_policy="omit"``)
# but, with the default ``min_count=window``, a window holding one gives
# NaN.  ``min_count=20`` asks for at least 20 valid hours out of 24 instead.

s = ps.from_array(temp)
day = dict(window=24, min_count=20)
lo, hi = s.moving_min(**day).to_array(), s.moving_max(**day).to_array()
ago_lo = s.moving_argmin(**day).to_array()  # 0 = this hour, 23 = a day ago
ago_hi = s.moving_argmax(**day).to_array()

# %%
# The results are bottleneck's ``move_min`` ... ``move_argmax``, exactly
# (ties go to the newest record, as in bottleneck):

same = all(np.array_equal(ours, ref(temp, **day), equal_nan=True)
           for ours, ref in [(lo, bn.move_min), (hi, bn.move_max),
                             (ago_lo, bn.move_argmin), (ago_hi, bn.move_argmax)])
print("identical to bottleneck:", same)

# %%
# Read at 11 p.m., the 24-hour window is the calendar day, so
# ``23 - argmin`` is the hour of the day's low.  Lows come before dawn,
# highs in the afternoon.

late = df.index.hour == 23
hour_lo = 23 - ago_lo[late]
hour_hi = 23 - ago_hi[late]

july = df.index.month == 7
fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(8, 6))
ax0.plot(df.index[july], temp[july], color="k", lw=0.8, label="hourly")
ax0.fill_between(df.index[july], lo[july], hi[july], color="C1", alpha=0.3,
                 label="min–max of the last 24 h")
ax0.set_ylabel("temperature (°F)")
ax0.set_title("Seattle, July 2010")
ax0.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax0.xaxis.get_major_locator()))
ax0.legend(loc="lower right")
bins = np.arange(25) - 0.5
ax1.hist(hour_lo, bins, color="C0", alpha=0.7, label="daily low")
ax1.hist(hour_hi, bins, color="C3", alpha=0.7, label="daily high")
ax1.set_xlabel("hour of day (2010)")
ax1.set_ylabel("days")
ax1.set_xticks(range(0, 24, 3))
ax1.legend()
fig.tight_layout()
plt.show()
