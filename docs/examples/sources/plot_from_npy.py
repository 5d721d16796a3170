"""
Streaming a ``.npy`` file
=========================

:func:`pystream.from_npy` reads the header of a ``.npy`` file, then reads its
data chunk by chunk into a few reused buffers, so a stream's memory stays at
a few chunks however large the file is. This is the natural way to work
through arrays larger than memory (a memory map would keep every page it
touched resident, and dies of SIGBUS if the file is truncated under it).

The data are the daily Google (GOOG) share prices from August 2004 to
October 2008 shipped with matplotlib's sample data (``goog.npz``, a numpy
record array).
"""

import os
import tempfile
import tracemalloc

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import cbook

import pystream as ps

with cbook.get_sample_data("goog.npz") as npz:
    prices = npz["price_data"]
columns = ["open", "high", "low", "close", "adj_close"]
table = np.column_stack([prices[name] for name in columns])  # (days, 5) float64

tmpdir = tempfile.TemporaryDirectory()
path = os.path.join(tmpdir.name, "goog.npy")
np.save(path, table)

# %%
# Open the file
# -------------
# Only the header is read now; it gives the dtype and the record shape (the
# trailing dimensions of the saved array).

goog = ps.from_npy(path, chunk_size=250)  # about a trading year per chunk
print(goog, "| dtype:", goog.dtype, "| record_shape:", goog.record_shape)

# %%
# Chunks are ordinary arrays read from the file into reused buffers: a
# buffer is filled again only when no chunk made from it is still
# referenced, so keeping chunks (``list(goog)``) is safe.

chunk = next(iter(goog))
print(f"chunk {chunk.shape} {chunk.dtype}, first close {chunk[0, 3]:.2f}")

# %%
# Statistics per column, checked against numpy on the array in memory:

d = goog.describe()
for name, lo, hi in zip(columns, d.min, d.max):
    print(f"{name:<10} {lo:7.2f} .. {hi:7.2f}")
print("same as numpy:", np.array_equal(d.max, table.max(axis=0)),
      np.allclose(d.mean, table.mean(axis=0)))

# %%
# Bounded memory
# --------------
# The point shows at scale. Save ten million values (80 MB) and summarise
# them: the memory allocated on the way stays at a few megabytes (the read
# buffers: several chunks are read per system call), not the size of the
# file, and the reducer's state has a fixed size.

big_path = os.path.join(tmpdir.name, "big.npy")
np.save(big_path, np.random.default_rng(0).standard_normal(10_000_000))

tracemalloc.start()
big = ps.from_npy(big_path)
summary = big.describe()
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(f"{summary.count:,} values, mean {summary.mean:+.5f}, std {summary.std:.5f}; "
      f"peak allocation {peak / 1e3:.0f} kB for a {os.path.getsize(big_path) / 1e6:.0f} MB file")

# %%
# The closing price, one colour per chunk, with each chunk's range (from the
# ``high`` and ``low`` columns):

dates = prices["date"]
fig, ax = plt.subplots(figsize=(8, 3.5))
for i, (offset, chunk) in enumerate(goog.chunks_with_offsets()):
    span = dates[offset:offset + len(chunk)]
    ax.plot(span, chunk[:, 3], color=f"C{i}", lw=0.8)
    ax.fill_between(span, chunk[:, 2].min(), chunk[:, 1].max(), color=f"C{i}", alpha=0.12)
ax.set_ylabel("GOOG close (USD)")
ax.set_title("One chunk of 250 trading days per colour")
fig.tight_layout()
plt.show()

del goog, big, chunk
tmpdir.cleanup()
