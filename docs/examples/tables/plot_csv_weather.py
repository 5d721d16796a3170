"""
CSV: Seattle weather with missing values
========================================

Seattle's daily weather (2012-2015, ``vega_datasets``) written as a CSV file
with some cells blanked, then streamed back with :func:`~pystream.from_csv`
(pyarrow's streaming CSV reader, a block at a time).  The ISO dates are
parsed into the time column; a blank number is a null, read as NaN.
"""

import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from vega_datasets import local_data

import pystream as ps

weather = local_data.seattle_weather()
rng = np.random.default_rng(0)
blank = weather.copy()
for col in ["precipitation", "temp_max", "wind"]:
    blank.loc[rng.random(len(blank)) < 0.05, col] = np.nan  # written as empty cells
path = os.path.join(tempfile.mkdtemp(), "seattle.csv")
blank.to_csv(path, index=False, date_format="%Y-%m-%d")
print(open(path).read(300))

# %%
# The numeric columns by name, ``date`` as the time column, the weather
# label as the key.  Dates are parsed (ISO-8601; ``time_format=`` for others).

s = ps.from_csv(path, ["precipitation", "temp_max", "temp_min", "wind"], time="date",
                key="weather")
print(s.columns, s.time_column, sep="\n")

# %%
# ``describe`` by name: ``nan_count`` shows the blanked cells; with
# ``nan_policy="omit"`` the other statistics skip them.

d = s.describe(nan_policy="omit")
for j, name in enumerate(s.columns):
    print(f"{name:>13}: missing={d.nan_count[j]:3d}  mean={d.mean[j]:6.2f}  "
          f"min={d.min[j]:6.1f}  max={d.max[j]:6.1f}")

# %%
# The daily maximum temperature with its dates; the gaps are the missing days.

b = list(s.select("temp_max").batches())
t = np.concatenate([x.time for x in b])
v = np.concatenate([x.values for x in b])
fig, ax = plt.subplots(figsize=(8, 3))
ax.plot(t, v, lw=0.7)
ax.set_ylabel("temp_max (°C)")
ax.set_title(f"{int(np.isnan(v).sum())} missing days")
plt.show()
