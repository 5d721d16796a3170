"""
Streaming a CSV file
====================

:func:`pystream.from_text` reads numeric text -- CSV, TSV or whitespace
separated columns -- block by block with numpy's parser, so a text file of
any size can be summarised without loading it. ``usecols`` picks the numeric
columns, ``skiprows`` skips the header, and ``.gz`` files are decompressed
on the fly.

The data are the daily weather records of Seattle, 2012-2015 (precipitation
in mm, highest and lowest temperature in °C, wind speed in m/s), public-domain
NOAA data shipped with the ``vega_datasets`` package. We write them to a
temporary CSV file exactly as a data portal would deliver them.
"""

import gzip
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from vega_datasets import local_data

import pystream as ps

weather = local_data.seattle_weather()
tmpdir = tempfile.TemporaryDirectory()
csv_path = os.path.join(tmpdir.name, "seattle-weather.csv")
weather.to_csv(csv_path, index=False)
with open(csv_path) as f:
    print("".join(f.readline() for _ in range(3)), end="")

# %%
# Several columns: a stream of records
# ------------------------------------
# The date and the weather label are not numbers, so pick columns 1 to 4.
# Several columns give records of shape ``(4,)``.

table = ps.from_text(csv_path, delimiter=",", usecols=[1, 2, 3, 4], skiprows=1)
print("dtype:", table.dtype, "| record_shape:", table.record_shape)

d = table.describe(ddof=1)  # ddof=1 as pandas
columns = ["precipitation", "temp_max", "temp_min", "wind"]
for name, mean, std in zip(columns, d.mean, d.std):
    print(f"{name:<13} mean {mean:6.2f}  std {std:5.2f}")
expected = weather[columns].describe()
print("same as pandas:", np.allclose(d.mean, expected.loc["mean"])
      and np.allclose(d.std, expected.loc["std"]) and np.array_equal(d.max, expected.loc["max"]))

# %%
# One column: a stream of scalars
# -------------------------------
# ``chunk_size`` sets how many lines are parsed at a time; with 366 the
# chunks are roughly calendar years.

rain = ps.from_text(csv_path, delimiter=",", usecols=1, skiprows=1, chunk_size=366)
print("record_shape:", rain.record_shape, "| total rain:", rain.sum(), "mm")
totals = {}
for offset, chunk in rain.chunks_with_offsets():
    first_day = f"{weather['date'].iloc[offset]:%Y-%m-%d}"
    totals[first_day] = chunk.sum()
    print(f"{len(chunk)} days from {first_day}: {totals[first_day]:6.1f} mm of rain")

# %%
# Compressed files
# ----------------
# A path ending in ``.gz`` is decompressed while it is read.

gz_path = csv_path + ".gz"
with open(csv_path, "rb") as src, gzip.open(gz_path, "wb") as dst:
    dst.write(src.read())
packed = ps.from_text(gz_path, delimiter=",", usecols=[1, 2, 3, 4], skiprows=1)
print(f"{os.path.getsize(gz_path)} bytes instead of {os.path.getsize(csv_path)}; "
      f"same statistics: {np.array_equal(packed.mean(), d.mean) and np.array_equal(packed.max(), d.max)}")

# %%
# Errors name the line
# --------------------
# Suppose one day's precipitation was written as ``NA``. A value that is not
# a number stops the stream with the line number (all lines counted, header
# included) and the offending line.

with open(csv_path) as f:
    lines = f.readlines()
fields = lines[1000].split(",")
fields[1] = "NA"
lines[1000] = ",".join(fields)
with open(csv_path, "w") as f:
    f.writelines(lines)
try:
    ps.from_text(csv_path, delimiter=",", usecols=[1, 2, 3, 4], skiprows=1).describe()
except ValueError as err:
    print(str(err).replace(tmpdir.name + os.sep, ""))

# %%
# Rain per chunk of 366 days:

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.bar(list(totals), list(totals.values()), color="C0")
ax.set_ylabel("precipitation (mm)")
ax.set_xlabel("first day of the chunk")
ax.set_title("Seattle: total rain in each chunk of (up to) 366 lines")
fig.tight_layout()
plt.show()

tmpdir.cleanup()
