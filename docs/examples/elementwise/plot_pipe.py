"""
Writing your own stage with ``pipe``
====================================

When no built-in stage fits, write a generator: it receives the iterator of
chunks and yields new ones. :meth:`~pystream.Stream.pipe` plugs it into the
pipeline. A generator keeps its local variables between chunks, so a stage
that needs to remember something across chunk boundaries is just a loop with
a variable.

The data are the daily precipitation totals of Seattle, 2012-2015 (mm),
public-domain NOAA data shipped with the ``vega_datasets`` package.
"""

import matplotlib.pyplot as plt
import numpy as np
from vega_datasets import local_data

import pystream as ps

weather = local_data.seattle_weather()
rain = weather["precipitation"].to_numpy()

# %%
# A dry-spell counter
# -------------------
# For each day: how many dry days in a row end on that day (0 on a day with
# rain). Within a chunk this is a numpy computation; the only thing to carry
# to the next chunk is the length of the spell running at its end.


def dry_spell(chunks):
    running = 0  # length of the dry spell at the end of the previous chunk
    for chunk in chunks:
        index = np.arange(len(chunk))
        last_wet = np.maximum.accumulate(np.where(chunk > 0, index, -1))
        days = index - last_wet
        days[last_wet < 0] += running  # the spell started in an earlier chunk
        running = int(days[-1])
        yield days


# %%
# The output dtype differs from the input's, so say it: ``pipe`` cannot look
# inside a generator.

spells = ps.from_array(rain, chunk_size=100).pipe(dry_spell, dtype=np.int64)
print(spells, "| longest dry spell:", spells.max(), "days")

# %%
# Check against a plain Python loop over the whole record, and against other
# chunkings: a correct stage gives the same answer whatever the chunks are.

expected, run = [], 0
for mm in rain:
    run = 0 if mm > 0 else run + 1
    expected.append(run)
for size in (1, 7, 100, 5000):
    result = ps.from_array(rain, chunk_size=size).pipe(dry_spell, dtype=np.int64).to_array()
    print(f"chunk_size={size:<5} same as the loop: {np.array_equal(result, expected)}")

# %%
# Extra arguments
# ---------------
# Positional and keyword arguments after the stage are passed on to it. A
# stage may also change the record shape: this one pairs each day's spell
# length with a flag saying whether the spell has lasted ``min_days`` or more.


def flag_spells(chunks, min_days):
    for days in chunks:
        yield np.column_stack([days, days >= min_days]).astype(np.int64)


flagged = spells.pipe(flag_spells, 14, record_shape=(2,))
print("record_shape:", flagged.record_shape,
      "| days at least two weeks into a dry spell:", flagged.sum()[1])

# %%
# The spells over the four years; the long summer dry seasons stand out.

counter = spells.to_array()
fig, ax = plt.subplots(figsize=(8, 3.5))
ax.plot(weather["date"], counter, lw=0.8, color="C1")
ax.set_ylabel("dry days in a row")
longest = counter.argmax()
ax.annotate(f"{counter[longest]} days, ending {weather['date'][longest]:%d %b %Y}",
            (weather["date"][longest], counter[longest]), xytext=(10, -5),
            textcoords="offset points", va="top")
ax.set_title("Seattle: length of the current dry spell, 2012-2015")
fig.tight_layout()
plt.show()
