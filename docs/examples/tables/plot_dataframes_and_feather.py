"""
DataFrames and Feather files as streams
=======================================

``from_table`` streams a table already in memory: a pyarrow Table, a pandas
or a polars DataFrame (through the Arrow C stream interface).  Numeric
columns without missing values are read without a copy.  ``from_ipc`` reads
an Arrow IPC (Feather v2) file record batch by record batch, with random
access, so the threads engine splits it as it splits Parquet.

The data are Seattle's daily weather (``vega_datasets``).
"""

import os
import tempfile

import numpy as np
import pandas as pd
from vega_datasets import local_data

import pystream as ps

weather = local_data.seattle_weather()

# %%
# A pandas DataFrame: the date as the time column, the weather label as the
# key, two numeric columns by name.  One column without nulls is a view of
# the frame's memory.

s = ps.from_table(weather, columns=["temp_max", "temp_min"], time="date", key="weather")
print(s)
print(s.describe(quantiles=()))

one = ps.from_table(weather, columns="temp_max")
print("zero-copy:", np.shares_memory(next(iter(one)), weather["temp_max"].to_numpy()))

# %%
# The daily range, smoothed over a week, as a pandas DataFrame again: the
# time is the index, the key a categorical column.

rng = s.map(lambda c: c[:, :1] - c[:, 1:]).rename(["range"]).moving_mean(7)
print(rng.to_pandas().tail())

# %%
# A Feather file written by pandas, read back by row ranges on two threads:
# the same bytes as the local run.

with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "weather.feather")
    weather.to_feather(path)
    f = ps.from_ipc(path, columns=["precipitation", "wind"], time="date")
    local = f.moving_max(30).to_pandas()
    threads = f.moving_max(30).to_pandas(engine="threads", workers=2)
    print("threads == local:", local.equals(threads))
    print(pd.concat([local.head(3), local.tail(3)]))
