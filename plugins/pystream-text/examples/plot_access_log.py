"""
Parse an access log into a numeric stream
=========================================

``pystream.from_log(path, format="combined_latency")`` reads an Apache/nginx
access log in blocks of lines, matches each line with one compiled regular
expression and converts the numeric fields (status, bytes, latency) with one
numpy conversion per field and block.  Bad lines are counted in a
:class:`pystream_text.ParseReport`, never silently dropped.
"""

# %%
# Write a small synthetic log (with a few malformed lines mixed in).
import os
import tempfile

import numpy as np

import pystream as ps
import pystream_text as pt

rng = np.random.default_rng(0)
path = os.path.join(tempfile.mkdtemp(), "access.log")
with open(path, "w", encoding="utf-8") as f:
    for i in range(20_000):
        if i % 997 == 0:
            f.write("### truncated line\n")
            continue
        status = rng.choice([200, 200, 200, 304, 404, 500])
        nbytes = "-" if status == 304 else int(rng.integers(100, 50_000))
        latency = rng.gamma(2.0, 0.05)
        f.write(f'10.0.0.{i % 250} - - [10/Oct/2023:13:55:{i % 60:02d} +0000] "GET /p/{i % 37} HTTP/1.1" '
                f'{status} {nbytes} "-" "curl/8.0" {latency:.3f}\n')

# %%
# Stream it: records are (status, bytes, latency); "-" bytes count as 0.
report = pt.ParseReport()
s = ps.from_log(path, format="combined_latency", report=report, chunk_lines=4096)
d = s.select(2).describe()
print(f"latency: mean {d.mean:.4f} s, max {d.max:.3f} s over {d.count} requests")
print(report)
for bad in report.examples[:3]:
    print(f"  line {bad.line}: {bad.reason}: {bad.text!r}")

# %%
# Slow requests: a filter on the latency column, then the status of each.
slow = s.filter(lambda c: c[:, 2] > 0.3).count_by(key=0)
print("slow requests by status:", slow.as_dict())

# %%
# Optional plot (needs matplotlib).
try:
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover
    plt = None
if plt is not None:
    lat = s.select(2).to_array()
    fig, ax = plt.subplots()
    ax.hist(lat, bins=60)
    ax.set_xlabel("latency (s)")
    ax.set_ylabel("requests")
    ax.set_title("Request latency")
