"""
A stream as a table: Arrow, pandas and Parquet
==============================================

Seattle's daily weather (2012-2015, ``seattle-weather`` from
``vega_datasets``) streamed with its column names, the date as the time
column and the weather label as the key.  A weekly summary comes out as a
``pyarrow.Table`` (:meth:`~pystream.Stream.to_arrow`), a pandas DataFrame
indexed by time (:meth:`~pystream.Stream.to_pandas`), and a Parquet file
written batch by batch, atomically (:meth:`~pystream.Stream.to_parquet`; an
Arrow IPC file with :meth:`~pystream.Stream.to_ipc`).  ``describe`` labels
its statistics by the column names.
"""

import os
import tempfile

import matplotlib.pyplot as plt
import pyarrow.parquet as pq
from vega_datasets import local_data

import pystream as ps

weather = local_data.seattle_weather()
names = ["temp_max", "temp_min", "precipitation", "wind"]
s = ps.from_array(weather[names].to_numpy(), chunk_size=128, columns=names,
                  time=weather["date"].to_numpy(), key=weather["weather"].to_numpy())

# %%
# ``describe`` prints the columns by name, and one column is ``d[name]``.

d = s.describe(quantiles=(0.05, 0.5, 0.95))
print(d)
print(d["precipitation"].quantiles)

# %%
# A weekly mean by ``resample(7)``: each week keeps the date and the weather
# label of its first day.  As a ``pyarrow.Table``: the time column
# (``timestamp[ns, UTC]``), the key (a dictionary of the labels, in the order
# they first appear) and the values by name.

weekly = s.resample(7, how="mean")
table = weekly.to_arrow()
print(table.schema)
print(table.slice(0, 3).to_pydict())

# %%
# The same as a pandas DataFrame: a UTC ``DatetimeIndex``, the key as a
# ``Categorical``, the values by name.

frame = weekly.to_pandas()
print(frame.head())
print(frame["key"].cat.categories.tolist())

# %%
# Written to Parquet (zstd, row groups of a fixed size whatever the chunking)
# under a temporary name, renamed when complete; read back, it is the same
# table.

folder = tempfile.mkdtemp()
path = os.path.join(folder, "weekly.parquet")
print(weekly.to_parquet(path, row_group_size=64), "weeks written")
back = pq.read_table(path)
print(back.num_rows, pq.ParquetFile(path).metadata.num_row_groups, "row groups")
print("same table:", back.to_pandas().set_index("time").equals(frame))
print(weekly.to_ipc(os.path.join(folder, "weekly.arrow")), "weeks written to Arrow IPC")

# %%
# The weekly maximum temperature, coloured by the first day's weather.

fig, ax = plt.subplots(figsize=(8, 3.5))
for label, part in frame.groupby("key", observed=True):
    ax.scatter(part.index, part["temp_max"], s=10, label=label)
ax.set_ylabel("weekly mean of temp_max (°C)")
ax.legend(title="first day's weather", fontsize="small", ncol=5)
fig.tight_layout()
plt.show()
