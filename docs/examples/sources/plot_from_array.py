"""
Streaming an array in memory
============================

:func:`pystream.from_array` is the simplest source: it cuts an array into
chunks of consecutive records. The chunks are *views* into the array, not
copies, so wrapping even a large array costs nothing.

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
# Make a stream
# -------------
# A stream knows its element type (``dtype``) and the shape of one record
# (``record_shape``; ``()`` for a stream of scalars) before anything is read.

temps = ps.from_array(temp_f, chunk_size=24 * 30)  # about a month per chunk
print(temps, "| dtype:", temps.dtype, "| record_shape:", temps.record_shape)

# %%
# Iterating yields the chunks, and the chunks share memory with the array:

first = next(iter(temps))
print(f"first chunk: {first.shape}, a view of the array: {np.shares_memory(first, temp_f)}")

# %%
# Chunks with their offsets
# -------------------------
# :meth:`~pystream.Stream.chunks_with_offsets` also gives the global index of
# each chunk's first record -- handy to put a per-chunk result back on the
# time axis.

starts, means = [], []
for offset, chunk in temps.chunks_with_offsets():
    starts.append(weather["date"].iloc[offset])
    means.append(chunk.mean())
print(f"{len(means)} chunks; the last starts at record {offset} and holds {len(chunk)} hours")
print("offsets count from the stream's start:", temps.start)

# %%
# Reductions read the same stream; the result is the numpy one.

print(f"streamed mean {temps.mean():.4f} °F, numpy mean {temp_f.mean():.4f} °F")

# %%
# Records instead of scalars
# --------------------------
# A 2-D array of shape ``(N, k)`` is a stream of ``N`` records of ``k``
# values. Here: the daily Seattle weather 2012-2015 (also NOAA, from
# ``vega_datasets``), four numeric columns per day.

daily = local_data.seattle_weather()
columns = ["precipitation", "temp_max", "temp_min", "wind"]
days = ps.from_array(daily[columns].to_numpy())
print("record_shape:", days.record_shape)
means_4 = days.mean()
for name, value in zip(columns, means_4):
    print(f"mean {name:<13} {value:6.2f}")
print("same as pandas:", np.allclose(means_4, daily[columns].mean()))

# %%
# The hourly series with the mean of each chunk:

fig, ax = plt.subplots(figsize=(8, 3.5))
ax.plot(weather["date"], temp_f, lw=0.4, color="0.6", label="hourly")
ax.step(starts + [weather["date"].iloc[-1]], means + [means[-1]], where="post",
        color="C3", label="mean of each chunk")
ax.set_ylabel("temperature (°F)")
ax.set_title("Seattle, 2010: one chunk = 720 hours")
ax.legend(loc="upper left")
fig.tight_layout()
plt.show()
