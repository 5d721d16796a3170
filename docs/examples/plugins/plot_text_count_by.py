"""
Parse a text file with a regex, count by key with ``count_by``
==============================================================

``ps.from_log(path, pattern=...)`` (from the ``pystream-text`` plugin) reads
any line-oriented text through one regular expression with named groups and
streams their values as numeric records; ``stream.count_by(key, values)``
counts records by one column and sums others per key, exactly.  The file:
Seattle's daily weather from 2012 to 2015 (``seattle-weather.csv``, NOAA
observations as shipped in ``vega_datasets``: date, precipitation in mm,
maximum and minimum temperature in °C, wind in m/s, a weather word).
"""

import math

import matplotlib.pyplot as plt
import numpy as np
from vega_datasets import local_data

import pystream as ps
import pystream_text as pt

path = local_data.seattle_weather.filepath
pattern = (r"^(?P<year>\d{4})/(?P<month>\d\d)/\d\d,(?P<precipitation>[^,]*),"
           r"(?P<temp_max>[^,]*),(?P<temp_min>[^,]*),(?P<wind>[^,]*),")

# %%
# Records are ``(year, month, precipitation, temp_max, temp_min, wind)``.  A
# line the pattern does not match is counted in the report, never silently
# dropped: here the CSV header.

report = pt.ParseReport()
days = ps.from_log(path, pattern=pattern, report=report)
wet = days.filter(lambda c: c[:, 2] > 0).count_by(key=1, values=[2])
bad = report.examples[0]
print(f"{report.lines} lines, {report.records} records, {report.bad} bad: "
      f"line {bad.line}, {bad.reason}: {bad.text!r}")

# %%
# Days with rain (or snow) per month and their total precipitation, over the
# four years.  The sums are exact: the same as ``math.fsum`` per month.

table = days.to_array()
fsum = [math.fsum(table[(table[:, 1] == month) & (table[:, 2] > 0), 2])
        for month in wet.unique_keys]
print("wet days per month:", {int(k): int(n) for k, n in zip(wet.unique_keys, wet.counts)})
print("sums identical to math.fsum:", np.array_equal(wet.sums[:, 0], fsum))

# %%
# The state is mergeable: one partition per year, reduced separately and
# shipped as bytes, merges in order into exactly the serial result.

with open(path, encoding="utf-8") as f:
    lines = f.read().splitlines()
years = np.array([line[:4] for line in lines])
shipped = []
for year in ["2012", "2013", "2014", "2015"]:
    part = pt.CountBy(key=1, values=[2])
    rows = [line for line, y in zip(lines, years) if y == year]
    year_days = ps.from_log(rows, pattern=pattern, report=pt.ParseReport())
    for chunk in year_days.filter(lambda c: c[:, 2] > 0):
        part.update(chunk)
    shipped.append(part.to_bytes())
merged = pt.CountBy.from_bytes(shipped[0])
for blob in shipped[1:]:
    merged.merge(pt.CountBy.from_bytes(blob))
total = merged.result()
print("4 yearly partitions merged == serial:",
      total == wet and np.array_equal(total.sums, wet.sums))

fig, ax1 = plt.subplots(figsize=(7, 3.5))
months = wet.unique_keys.astype(int)
ax1.bar(months, wet.counts / 4, color="C0", alpha=0.6)
ax1.set_xticks(months, labels=["J", "F", "M", "A", "M", "J", "J", "A", "S", "O", "N", "D"])
ax1.set_ylabel("wet days (mean of 4 years)")
ax2 = ax1.twinx()
ax2.plot(months, wet.sums[:, 0] / 4, "o-", color="C3")
ax2.set_ylabel("precipitation (mm a month)", color="C3")
ax1.set_title("Seattle, 2012-2015")
fig.tight_layout()
plt.show()
