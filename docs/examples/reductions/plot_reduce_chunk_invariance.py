"""
Same answer for any chunking
============================

Floating-point addition is not associative: summing the same numbers in
chunks of a different size usually changes the last digits of the result --
in float32, much more than the last digits. pystream's reducers fix the order
of the arithmetic in the stream's global index space, so every chunking of
the same data gives the same result, bit for bit, and they accumulate in
float64, even for float32 data.

The data are two recordings shipped with matplotlib's sample data, both raw
binary files: a membrane-potential trace (``membrane.dat``, 12,000 float32
values, the trace of matplotlib's original logo) and four EEG channels
(``eeg.dat``, 800 samples of 4 float64 values).
"""

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import cbook

import pystream as ps

membrane_path = cbook.get_sample_data("membrane.dat", asfileobj=False)
eeg_path = cbook.get_sample_data("eeg.dat", asfileobj=False)
sizes = [1, 2, 3, 7, 10, 64, 100, 333, 1000, 3200, 12000]


def running_total(stream, dtype):
    """The textbook streaming sum: numpy's sum of each chunk, added to a total."""
    total = dtype(0)
    for chunk in stream:
        total += chunk.sum(dtype=dtype)
    return float(total)


# %%
# float32 data
# ------------
# Read the membrane file in chunks of 1 to 12,000 values and describe it
# each time.

results = [ps.from_file(membrane_path, dtype=np.float32, chunk_size=k).describe()
           for k in sizes]
for name in ["sum", "mean", "var", "min", "max"]:
    distinct = {getattr(d, name) for d in results}
    print(f"{name:<4}: {len(distinct)} distinct value(s) over {len(sizes)} chunk sizes")

# %%
# The textbook loop, with a float32 running total like the data, drifts with
# the chunk size. pystream's sum is the correctly rounded sum here.

exact32 = math.fsum(np.fromfile(membrane_path, np.float32).astype(np.float64))
naive32 = [running_total(ps.from_file(membrane_path, dtype=np.float32, chunk_size=k),
                         np.float32) for k in sizes]
print(f"running float32 total: {len(set(naive32))} distinct values, "
      f"{min(naive32):.4f} to {max(naive32):.4f}")
print(f"pystream: {float(results[0].sum)!r}, correctly rounded: {exact32!r}, "
      f"equal: {results[0].sum == exact32}")

# %%
# float64 data
# ------------
# In float64 the textbook loop is accurate, but still not reproducible: the
# last bits change with the chunking. pystream's do not.

exact64 = math.fsum(np.fromfile(eeg_path, np.float64))
naive64 = [running_total(ps.from_file(eeg_path, dtype=np.float64, chunk_size=k), np.float64)
           for k in sizes]
streamed64 = [ps.from_file(eeg_path, dtype=np.float64, chunk_size=k).sum() for k in sizes]
print(f"running float64 total: {len(set(naive64))} distinct values; "
      f"pystream: {len(set(streamed64))}")

# %%
# After stages too
# ----------------
# The guarantee is about the stream, not the source: after a filter and a map,
# or for records (the EEG as 800 records of 4 channels), the chunking still
# does not matter.

after_stages = {ps.from_file(membrane_path, dtype=np.float32, chunk_size=k)
                .filter(lambda c: c > -0.6).map(np.square).std() for k in sizes}
per_channel = {ps.from_file(eeg_path, dtype=np.float64, record_shape=(4,), chunk_size=k)
               .var(ddof=1).tobytes() for k in sizes}
print("std after filter and map:", len(after_stages), "distinct value(s)")
print("variance of the 4 EEG channels:", len(per_channel), "distinct result(s)")

# %%
# Error of each sum against the correctly rounded one:

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
ax1.plot(sizes, np.subtract(naive32, exact32), "o-", label="running total")
ax1.plot(sizes, [d.sum - exact32 for d in results], "k^-", label="pystream")
ax1.set_title("membrane.dat, float32")
ax2.plot(sizes, np.subtract(naive64, exact64), "o-", label="running total")
ax2.plot(sizes, np.subtract(streamed64, exact64), "k^-", label="pystream")
ax2.set_title("eeg.dat, float64")
for ax in (ax1, ax2):
    ax.set_xscale("log")
    ax.set_xlabel("chunk size (values)")
    ax.axhline(0, color="0.7", lw=0.8)
ax1.set_ylabel("sum - correctly rounded sum")
ax1.legend()
fig.tight_layout()
plt.show()
