"""
Count requests by status, in partitions
=======================================

``stream.count_by(key=0, values=[1])`` counts records by the value of one
column and sums other columns per key.  The state is mergeable and
serializable: reduce partitions of a log anywhere, ship ``to_bytes()``, and
merge in order to get exactly the serial result (sums are exact).
"""

# %%
import numpy as np

import pystream as ps
import pystream_text as pt

rng = np.random.default_rng(1)
statuses = rng.choice([200, 301, 404, 500], size=30_000, p=[0.8, 0.1, 0.07, 0.03])
lines = [f'1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" {st} {int(n)} "-" "ua"'
         for st, n in zip(statuses, rng.integers(0, 10_000, size=len(statuses)))]

# %%
# One pass: counts and total bytes per status.
report = pt.ParseReport()
r = ps.from_log(lines, format="combined", report=report).count_by(key=0, values=[1])
print(report)
for status, count, (nbytes,) in zip(r.unique_keys, r.counts, r.sums):
    print(f"status {int(status)}: {count:6d} requests, {int(nbytes):12,d} bytes")

# %%
# Three partitions reduced separately (e.g. on three machines), merged in order.
parts = []
for lo, hi in [(0, 7_000), (7_000, 21_000), (21_000, 30_000)]:
    state = pt.CountBy(key=0, values=[1])
    for chunk in ps.from_log(lines[lo:hi], format="combined", report=pt.ParseReport()):
        state.update(chunk)
    parts.append(state.to_bytes())
merged = pt.CountBy.from_bytes(parts[0])
for b in parts[1:]:
    merged.merge(pt.CountBy.from_bytes(b))
m = merged.result()
print("merged == serial:", m == r and np.array_equal(m.sums, r.sums))

# %%
# Optional plot (needs matplotlib).
try:
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover
    plt = None
if plt is not None:
    fig, ax = plt.subplots()
    ax.bar([str(int(k)) for k in r.unique_keys], r.counts)
    ax.set_xlabel("HTTP status")
    ax.set_ylabel("requests")
