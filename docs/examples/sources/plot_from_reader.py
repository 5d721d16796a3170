"""
Random access from any reader
=============================

:func:`pystream.from_reader` makes a stream from a function that reads any
range of records, ``read(start, stop)``, and the number of records. The
stream is re-iterable and *random access*: ``engine="threads"`` and
``engine="dask"`` read each partition through the same function, so the
pipeline runs in parallel. It is how a plugin's source declares random
access (see the plugin guide).

The data are the weekly atmospheric CO2 concentrations measured at Mauna Loa
(Hawaii) from 1958 to 2001 by C. D. Keeling and T. P. Whorf (Scripps
Institution of Oceanography), shipped with ``statsmodels``; the gaps are
stored as NaN.
"""

import threading

import matplotlib.pyplot as plt
import numpy as np
from statsmodels.datasets import co2

import pystream as ps

data = co2.load_pandas().data["co2"]

# %%
# A reader over a pandas column
# -----------------------------
# ``read(start, stop)`` returns records ``[start, stop)`` as an array of the
# declared dtype; here it also notes which thread asked for which range.

reads = []
lock = threading.Lock()


def read(start, stop):
    with lock:
        reads.append((threading.current_thread().name, start, stop))
    return data.iloc[start:stop].to_numpy(dtype=np.float64)


weekly = ps.from_reader(read, len(data), np.float64, chunk_size=256, name="co2")
print(weekly, "| records:", len(data))

# %%
# In order, the stream reads ``chunk_size`` records at a time:

smooth = weekly.moving_mean(52, min_count=26)
serial = smooth.to_array()
print("reads in order:", [(a, b) for _, a, b in reads][:4], "...")

# %%
# On two threads, each partition reads its own ranges (starting 51 records
# early: the moving window's history), and the result is the same, bit for
# bit:

reads.clear()
parallel = smooth.to_array(engine="threads", workers=2, partition_size=500)
assert np.array_equal(parallel, serial, equal_nan=True)
starts = sorted({a for _, a, _ in reads})
print("partitions start reading at:", starts[:6], "...")
print("threads used:", sorted({name for name, _, _ in reads}))
print(f"mean {weekly.mean(nan_policy='omit', engine='threads', workers=2):.4f} ppm")

# %%
# A reader must return what it declared: another dtype or length is an
# error naming the source and the range.

broken = ps.from_reader(lambda a, b: np.zeros(b - a, np.float32), 10, np.float64, name="broken")
try:
    broken.to_array()
except TypeError as err:
    print(err)

# %%
# The weekly record and its one-year moving mean:

fig, ax = plt.subplots(figsize=(8, 3.5))
ax.plot(data.index, data.to_numpy(), lw=0.6, color="C9", label="weekly")
ax.plot(data.index, parallel, color="C3", label="52-week moving mean (2 threads)")
ax.set_ylabel("CO$_2$ (ppm)")
ax.legend()
fig.tight_layout()
plt.show()
