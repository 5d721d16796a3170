"""
Slicing and regrouping a stream
===============================

:meth:`~pystream.Stream.take` keeps the first ``n`` records,
:meth:`~pystream.Stream.skip` drops them, and
:meth:`~pystream.Stream.rechunk` regroups the records into chunks of a fixed
size. Together they cut a stream the way slicing cuts an array -- without
having the array. :meth:`~pystream.Stream.to_array` collects what is left.

The data are the hourly air temperatures of Seattle for the year 2010 (°F),
public-domain NOAA data shipped with the ``vega_datasets`` package.
"""

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from vega_datasets import local_data

import pystream as ps

# The record skips the hour lost to daylight saving time (14 March, 2 am);
# interpolate it so that every day has 24 hours.
weather = local_data.seattle_temps().set_index("date").asfreq("h").interpolate().reset_index()
temp_f = weather["temp"].to_numpy()
hourly = ps.from_array(temp_f, chunk_size=1000)

# %%
# ``take`` and ``skip``
# ---------------------
# January is the first 31 x 24 hours; July starts after 181 days.

january = hourly.take(31 * 24)
july = hourly.skip(181 * 24).take(31 * 24)
print(f"January: {january.count()} hours, mean {january.mean():.1f} °F")
print(f"July:    {july.count()} hours, mean {july.mean():.1f} °F")
print("July as numpy slices it:", np.array_equal(july.to_array(), temp_f[181 * 24:212 * 24]))

# %%
# ``take`` stops reading as soon as it has enough: a source that logs the
# chunks it hands out shows that only the first of nine was read.

handed_out = []


def logged_chunks():
    for chunk in hourly:
        handed_out.append(len(chunk))
        yield chunk


first_weeks = ps.from_chunks(logged_chunks()).take(3 * 7 * 24)
print(f"{len(first_weeks.to_array())} hours taken; chunks read: {handed_out}")

# %%
# ``rechunk``: one chunk per day
# ------------------------------
# The source's chunks of 1000 hours do not line up with days. Regrouped by
# 24, every chunk is exactly one calendar day (the record starts at
# midnight), so a loop over the chunks is a loop over days.

daily = hourly.rechunk(24)
lows, highs = [], []
for day in daily:
    lows.append(day.min())
    highs.append(day.max())
print(f"{len(highs)} days of {len(day)} hours")
print(f"largest daily swing: {max(np.subtract(highs, lows)):.1f} °F")

# %%
# Chunk lengths before and after:

print("source:  ", [len(c) for c in hourly])
print("rechunked:", {len(c) for c in daily})

# %%
# The mean daily cycle of January and July, from the two slices:

hours = np.arange(24)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.5))
for name, stream, color in [("January", january, "C0"), ("July", july, "C3")]:
    by_day = stream.to_array().reshape(-1, 24)
    ax1.plot(hours, by_day.mean(axis=0), color=color, label=name)
ax1.set_xlabel("hour of day")
ax1.set_ylabel("mean temperature (°F)")
ax1.legend()
ax2.fill_between(weather["date"][::24], lows, highs, color="C1", alpha=0.6, lw=0)
ax2.set_ylabel("daily low to high (°F)")
ax2.xaxis.set_major_locator(mdates.MonthLocator(bymonth=[1, 4, 7, 10]))
ax2.xaxis.set_major_formatter(mdates.DateFormatter("%b"))
fig.tight_layout()
plt.show()
