"""
Parse a web server's access log with ``from_log``
=================================================

``ps.from_log(path, format="combined_latency")`` (from the ``pystream-text``
plugin) reads an Apache/nginx access log in blocks of lines, matches each
line with one compiled regular expression and converts the numeric fields
(status, bytes, latency) with one numpy conversion per field and block.  Bad
lines are counted in a :class:`pystream_text.ParseReport`, never silently
dropped.

No real web log ships with the libraries this runs with offline, so the log
is written here: a static server serving matplotlib's own data directory
(``matplotlib.get_data_path()``: its fonts, images, style sheets and sample
data).  The paths and byte counts are those real files; the clients, their
requests, caching and latencies are simulated.
"""

import gzip
import os
import tempfile

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

import pystream as ps
import pystream_text as pt

root = matplotlib.get_data_path()
site = sorted(os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/")
              for d, _, files in os.walk(root) for f in files)
size = {p: os.path.getsize(os.path.join(root, p)) for p in site}

# %%
# 20,000 requests from 300 clients, popular files more often (Zipf-like).
# A client asking again for a file it has gets ``304 Not Modified`` with no
# body (``-``); 2% of the requests are for paths that do not exist (404); a
# few lines were cut short when the log was rotated.

rng = np.random.default_rng(2010)
popularity = 1 / np.arange(1, len(site) + 1) ** 1.1
popularity /= popularity.sum()
agents = ["Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
          "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15",
          "curl/8.5.0", "python-requests/2.32.3"]
cache, served = set(), {200: 0, 304: 0, 404: 0}
tmp = tempfile.TemporaryDirectory()
path = os.path.join(tmp.name, "access.log.gz")
with gzip.open(path, "wt", encoding="utf-8") as log:
    for i, second in enumerate(np.sort(rng.integers(0, 86_400, 20_000))):
        client = f"10.0.{rng.integers(0, 3)}.{rng.integers(1, 101)}"
        if rng.random() < 0.02:
            url, status, nbytes = f"/{site[rng.integers(len(site))]}.bak", 404, 153
        else:
            url = "/" + site[rng.choice(len(site), p=popularity)]
            status, nbytes = (304, 0) if (client, url) in cache else (200, size[url[1:]])
            cache.add((client, url))
        latency = 0.002 * rng.lognormal(0, 0.5) + nbytes / 4e6 * rng.lognormal(0, 0.3)
        h, m, sec = second // 3600, second // 60 % 60, second % 60
        line = (f"{client} - - [14/Mar/2010:{h:02d}:{m:02d}:{sec:02d} -0800] "
                f'"GET {url} HTTP/1.1" {status} {nbytes if nbytes else "-"} '
                f'"-" "{agents[rng.integers(4)]}" {1e6 * latency:.0f}')
        if i % 4999 == 4998:
            line = line[:rng.integers(10, 60)]  # cut short at log rotation
        else:
            served[status] += nbytes
        log.write(line + "\n")

# %%
# Stream it (gzip is recognised by its magic bytes): records are
# ``(status, bytes, latency)``; a ``-`` byte count is 0, and the latency is
# the last field, here in microseconds (Apache's ``%D``).

report = pt.ParseReport()
s = ps.from_log(path, format="combined_latency", report=report, chunk_lines=4096)
latency = s.select(2).describe()
print(f"{report.lines} lines, {report.records} requests, {report.bad} bad lines "
      f"(line {report.examples[0].line}: {report.examples[0].reason}); "
      f"latency mean {latency.mean / 1000:.1f} ms, max {latency.max / 1000:.0f} ms")

# %%
# Requests and bytes per status, in one pass.  The byte sums are exact, so
# they equal the sizes of the files served (in the lines that were not cut),
# added up while the log was written.

by_status = s.count_by(key=0, values=[1])
for status, count, (nbytes,) in zip(by_status.unique_keys, by_status.counts,
                                    by_status.sums):
    print(f"status {status:.0f}: {count:6d} requests, {nbytes:12,.0f} bytes")
print("bytes per status == sizes served:",
      all(by_status.sums_dict()[k][0] == v for k, v in served.items()))

# %%
# A filter before the reducer: the slow requests (over 50 ms), by status.

slow = s.filter(lambda c: c[:, 2] > 50_000).count_by(key=0)
print("requests over 50 ms by status:", {int(k): n for k, n in slow.items()})

records = s.to_array()
tmp.cleanup()
fig, ax = plt.subplots(figsize=(7, 4))
bins = np.geomspace(0.1, 1000, 60)
ax.hist([records[records[:, 0] == status, 2] / 1000 for status in (200, 304, 404)],
        bins=bins, stacked=True, color=["C0", "C2", "C3"],
        label=["200 OK", "304 Not Modified", "404 Not Found"])
ax.set_xscale("log")
ax.set_xlabel("latency (ms)")
ax.set_ylabel("requests")
ax.legend(loc="upper right")
fig.tight_layout()
plt.show()
