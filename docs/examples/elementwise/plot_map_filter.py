"""
Transforming and filtering records
==================================

:meth:`~pystream.Stream.map` applies a vectorised function to every chunk
and :meth:`~pystream.Stream.filter` keeps the records for which a predicate
holds. Both are lazy: building a pipeline reads nothing, and the work happens
one chunk at a time when a result is asked for.

The data are the hourly air temperatures of Seattle for the year 2010 (°F),
public-domain NOAA data shipped with the ``vega_datasets`` package.
"""

import matplotlib.pyplot as plt
import numpy as np
from vega_datasets import local_data

import pystream as ps

weather = local_data.seattle_temps()
temp_f = weather["temp"].to_numpy()

# %%
# A lazy pipeline
# ---------------
# Convert to °C. To see when the work happens, the conversion counts its
# calls.

calls = []


def to_celsius(f):
    calls.append(len(f))
    return (f - 32) * 5 / 9


hourly = ps.from_array(temp_f, chunk_size=1000)
celsius = hourly.map(to_celsius)
print(f"pipeline built; to_celsius has seen chunks of {calls} records")

# %%
# The only call so far was on an empty chunk: ``map`` uses it to learn the
# output dtype and record shape. Iterating pulls the data through the stage,
# one chunk at a time:

warmest = max(chunk.max() for chunk in celsius)
print(f"warmest hour {warmest:.1f} °C; to_celsius has now seen chunks of {calls} records")

# %%
# Filter
# ------
# The predicate gets a chunk and returns one boolean per record. Here: the
# hours warmer than 20 °C.

warm = celsius.filter(lambda c: c > 20)
print(f"{warm.count()} hours above 20 °C "
      f"(pandas: {((weather['temp'] - 32) * 5 / 9 > 20).sum()})")

# %%
# Heating degree-days
# -------------------
# Engineers measure heating demand in degree-days: how far, and for how long,
# the air stays below 18 °C. ``map`` gives the deficit hour by hour, a sum
# over the stream adds it up. Several stages in a row cost one loop over the
# chunks.

deficit = celsius.map(lambda c: np.maximum(18.0 - c, 0.0))
hdd = deficit.sum() / 24
reference = np.maximum(18.0 - (temp_f - 32) * 5 / 9, 0.0).sum() / 24
print(f"heating degree-days in 2010: {hdd:.1f} (numpy on the whole array: {reference:.1f})")

# %%
# Iterate chunk by chunk
# ----------------------
# A plain ``for`` loop over a stream gets each chunk as an ndarray. Here,
# degree-days per chunk of 1000 hours (about six weeks):

per_chunk = [chunk.sum() / 24 for chunk in deficit]
print("degree-days per 1000 h:", np.round(per_chunk).astype(int))

# %%
# The temperatures, with the hours kept by the filter in red:

c = celsius.to_array()
fig, ax = plt.subplots(figsize=(8, 3.5))
ax.plot(weather["date"], c, lw=0.4, color="0.5")
ax.plot(weather["date"][c > 20], warm.to_array(), ".", ms=2, color="C3", label="> 20 °C (filter)")
ax.fill_between(weather["date"], c, 18, where=c < 18, color="C0", alpha=0.3, lw=0,
                label="below 18 °C (degree-hours)")
ax.axhline(18, color="C0", lw=0.8)
ax.set_ylabel("°C")
ax.legend(loc="upper left")
fig.tight_layout()
plt.show()
