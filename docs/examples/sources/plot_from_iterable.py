"""
Streaming values from Python
============================

Sometimes values come one at a time from Python code: a parser, a database
cursor, a simulation loop. :func:`pystream.from_iterable` pulls them from any
iterable ``chunk_size`` at a time and packs each batch into a numpy chunk, so
everything downstream runs on arrays again.

The data are the daily weather records of Seattle, 2012-2015 (public-domain
NOAA data, as a CSV file shipped with the ``vega_datasets`` package), read
row by row with Python's :mod:`csv` module.
"""

import csv
import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from vega_datasets import local_data

import pystream as ps

csv_path = local_data.seattle_weather.filepath

# %%
# Records from a generator
# ------------------------
# Each CSV row becomes a record of two values, the day's highest and lowest
# temperature (°C). A generator gives a one-shot stream: it is read once, as
# the stream is consumed.


def extremes(path):
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            yield float(row["temp_max"]), float(row["temp_min"])


days = ps.from_iterable(extremes(csv_path), dtype=np.float64, record_shape=(2,), chunk_size=365)
print(days, "| record_shape:", days.record_shape)

d = days.describe(ddof=1)
print("mean (max, min):", d.mean.round(3), "| std:", d.std.round(3))

reference = pd.read_csv(csv_path)[["temp_max", "temp_min"]]
print("same as pandas:", np.allclose(d.mean, reference.mean()) and np.allclose(d.std, reference.std()))

# %%
# The generator has been used up, so a second pass is refused:

try:
    days.count()
except RuntimeError as err:
    print("RuntimeError:", str(err).split(";")[0])

# %%
# A list (or any re-iterable) gives a stream you can read again. Here the
# values are batched 365 at a time: about one chunk per year.

rows = list(extremes(csv_path))
again = ps.from_iterable(rows, dtype=np.float64, record_shape=(2,), chunk_size=365)
print("chunk lengths:", [len(c) for c in again], "| re-readable:", not again.one_shot)

# %%
# Endless iterables
# -----------------
# Nothing is pulled before it is needed, so an infinite iterable is fine as
# long as something downstream stops, such as :meth:`~pystream.Stream.take`.
# Here the four years are cycled forever, and the stream stops after the
# first two (2 x 365 + 1 days: 2012 is a leap year). One pass (the stream is
# one-shot) gives the warmest day and the coldest night.

endless = ps.from_iterable(itertools.cycle(rows), dtype=np.float64, record_shape=(2,))
first_two_years = endless.take(731).describe()
print(f"2012-2013: warmest day {first_two_years.max[0]} °C, "
      f"coldest night {first_two_years.min[1]} °C")

# %%
# The daily temperature range, read back from the stream:

extremes_array = again.to_array()
dates = pd.to_datetime(pd.read_csv(csv_path, usecols=["date"])["date"])
fig, ax = plt.subplots(figsize=(8, 3.5))
ax.fill_between(dates, extremes_array[:, 1], extremes_array[:, 0], color="C1", alpha=0.5, lw=0)
ax.set_ylabel("°C")
ax.set_title("Seattle: daily low to daily high, 2012-2015")
fig.tight_layout()
plt.show()
