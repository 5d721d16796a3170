"""
Mergeable state: ``Moments``
============================

Every reduction of a stream runs on a :class:`~pystream.Moments` state: it is
updated chunk by chunk, can report its statistics at any time, and can be
serialized and merged with the state of the neighbouring part of the data.
So a dataset can be split, each part reduced somewhere else (another
process, another machine, another day), and the parts combined -- with
exactly the result of one pass over the whole.

The data are the hourly air temperatures of Seattle for the year 2010 (°F),
public-domain NOAA data shipped with the ``vega_datasets`` package.
"""

import pickle

import matplotlib.pyplot as plt
import numpy as np
from vega_datasets import local_data

import pystream as ps

weather = local_data.seattle_temps()
temp = weather["temp"].to_numpy()
whole = ps.from_array(temp).describe(ddof=1)

# %%
# Two halves, reduced separately
# ------------------------------
# A state is told where its part starts in the whole record (``start``);
# ``update`` adds records and returns the state itself.

half = len(temp) // 2
first = ps.Moments(start=0).update(temp[:half])
second = ps.Moments(start=half).update(temp[half:])
print(first, second)
print(f"first half mean {first.result().mean:.3f} °F, second half {second.result().mean:.3f} °F")

# %%
# The same state runs over a whole stream as the ``moments`` reducer: a fresh
# ``Moments`` updated with every chunk, returning its (default) result.

hourly = ps.from_array(temp, chunk_size=1000)
print("stream.moments() == stream.describe():",
      hourly.moments().var == hourly.describe().var)

# %%
# Ship the states as bytes
# ------------------------
# ``to_bytes`` gives a versioned, checksummed blob of bounded size: a few
# block summaries plus the raw values of at most two partial blocks (about
# 1024 values each) at the edges of the part, however long the part is.
# ``from_bytes`` rebuilds the state; pickle uses the same bytes.

blob_1, blob_2 = first.to_bytes(), second.to_bytes()
print(f"{len(blob_1)} and {len(blob_2)} bytes for {half} and {len(temp) - half} values")
received_1 = ps.Moments.from_bytes(blob_1)
received_2 = pickle.loads(pickle.dumps(second))

# %%
# Merge
# -----
# ``merge`` combines adjacent states in place. The merged result is not just
# close to the one-pass result: it is identical, bit for bit.

merged = received_1.merge(received_2)
together = merged.result(ddof=1)
print(merged)
print("merged == one pass over the whole year:",
      all(getattr(together, name) == getattr(whole, name)
          for name in ["count", "sum", "mean", "var", "std", "min", "max"]))

# %%
# The order of the merge does not matter, as long as the parts touch: a part
# can be merged in from either side. Parts with a gap between them are
# refused, since the result would depend on the missing records.

other_way = second.copy().merge(first)
print("merged from the right:", other_way.result(ddof=1).var == whole.var)
try:
    ps.Moments(start=0).update(temp[:100]).merge(second)
except ValueError as err:
    print("ValueError:", err)

# %%
# Twelve months, merged in a tree
# -------------------------------
# The same holds for any number of parts merged in any grouping. Here each
# month is a part (as if from twelve monthly files), and the parts are merged
# pairwise, like a parallel reduction.

months = weather["date"].dt.month.to_numpy()
bounds = np.flatnonzero(np.diff(months)) + 1
starts = np.concatenate([[0], bounds])
parts = [ps.Moments(start=int(a)).update(chunk)
         for a, chunk in zip(starts, np.split(temp, bounds))]
monthly_means = [p.result().mean for p in parts]

level = [p.copy() for p in parts]
while len(level) > 1:
    level = [level[i].merge(level[i + 1]) if i + 1 < len(level) else level[i]
             for i in range(0, len(level), 2)]
print("tree of 12 months == one pass:", level[0].result(ddof=1).std == whole.std)

# %%
# A running summary
# -----------------
# ``result()`` can be called at any time, so one state updated as data come
# in gives the statistics so far -- here after each month.

running = ps.Moments()
so_far_mean, so_far_std = [], []
for chunk in np.split(temp, bounds):
    running.update(chunk)
    r = running.result(ddof=1)
    so_far_mean.append(r.mean)
    so_far_std.append(r.std)

fig, ax = plt.subplots(figsize=(8, 3.5))
names = [f"{m:%b}" for m in weather["date"].iloc[starts]]
ax.bar(names, monthly_means, color="C0", alpha=0.5, label="mean of the month (one state each)")
ax.errorbar(names, so_far_mean, yerr=so_far_std, fmt="o-", color="C3", capsize=3,
            label="mean ± std of the year so far (one running state)")
ax.axhline(whole.mean, color="0.3", ls="--", lw=1, label="whole year")
ax.set_ylabel("temperature (°F)")
ax.set_ylim(30, 75)
ax.legend(loc="upper left", fontsize="small")
fig.tight_layout()
plt.show()
