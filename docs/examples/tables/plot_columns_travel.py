"""
Names, times and keys travel with the records
=============================================

Seattle's daily weather (2012-2015, the ``seattle-weather`` data set bundled
with ``vega_datasets``) as a table: two numeric columns by name, the date as
the time column and the weather label as a string key.

Every stage says which input record gives each output its time and key (its
:class:`~pystream.RowMap`): a moving window keeps each day's own date, a
filter keeps the dates of the days it keeps, a 7-day ``resample`` labels a
week by its first day.  :meth:`~pystream.Stream.batches` gives the values
with their times and keys; plain iteration still gives values only.
"""

import matplotlib.pyplot as plt
import numpy as np
from vega_datasets import local_data

import pystream as ps

weather = local_data.seattle_weather()
values = weather[["temp_max", "precipitation"]].to_numpy()
s = ps.from_array(values, chunk_size=100, columns=["temp_max", "precipitation"],
                  time=weather["date"].to_numpy(), key=weather["weather"].to_numpy())
print(s.columns, s.time_column, s.key_column, sep="\n")

# %%
# String keys are dictionary encoded in the order they first appear; the
# :class:`~pystream.KeyDictionary` travels with the stream.

keys: ps.KeyDictionary = s.key_column.dictionary
print(keys.keys)

# %%
# Columns are chosen by name; the names follow ``select``.

hot = s.select("temp_max").moving_mean(window=7)
print(hot.columns)

# %%
# A filter drops the same rows of the time and key columns as of the values:
# here the rainy days (precipitation above 10 mm), with their dates and labels.

rainy = s.filter(lambda c: c[:, 1] > 10)
first: ps.Batch = next(rainy.batches())
for t, k, v in zip(first.time[:5], keys.decode(first.key[:5]), first.values[:5]):
    print(np.datetime_as_string(t, unit="D"), k, v)

# %%
# A weekly mean by ``resample(7)``: each week is labelled by its first day
# (``RowMap(step=7, offset=0)``), as pandas labels bins by their left edge.
# The same bytes come out for any chunking.

weeks = s.resample(7, how="mean")
out = list(weeks.batches())
t = np.concatenate([b.time for b in out])
v = np.concatenate([b.values for b in out])
again = list(ps.from_array(values, chunk_size=33, time=weather["date"].to_numpy())
             .resample(7, how="mean").batches())
print("chunking 100 vs 33, same times and values:",
      np.array_equal(t, np.concatenate([b.time for b in again]))
      and np.array_equal(v, np.concatenate([b.values for b in again])))
print(ps.RowMap(7, 0), "->", weeks.time_column)

fig, ax = plt.subplots(figsize=(7, 3))
days = [b for b in hot.batches()]
ax.plot(np.concatenate([b.time for b in days]), np.concatenate([b.values for b in days]),
        lw=0.8, label="7-day moving mean")
ax.plot(t, v[:, 0], lw=1.2, label="weekly mean (resample(7))")
ax.set_ylabel("temp_max (°C)")
ax.legend()
fig.tight_layout()

# %%
# ``rename`` gives new names (for a ``map`` that reorders columns), and a
# :class:`~pystream.TimeColumn` / :class:`~pystream.KeyColumn` says what the
# stream carries.

renamed = s.rename(["tmax", "rain"])
print(renamed.columns, isinstance(renamed.time_column, ps.TimeColumn),
      isinstance(renamed.key_column, ps.KeyColumn))
