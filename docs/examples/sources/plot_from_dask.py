"""
Streaming a Dask array
======================

:func:`pystream.from_dask` streams the records of a ``dask.array.Array``
along its first axis.  With the default local engine the blocks are computed
one after the other and streamed in order, so memory holds one block at a
time.  With ``engine="dask"`` a terminal operation becomes one Dask graph:
a task per block runs the pipeline (a moving window's task also receives the
``window - 1`` rows before its block, as ``dask.array.map_overlap`` does) and
the reducer states are merged in a tree.  Both give the same bits.

The data are the elevations of the Jacksboro fault (Tennessee), a digital
elevation model shipped with matplotlib's sample data
(``jacksboro_fault_dem.npz``: 344 rows x 403 columns of int16 metres on a
3 arc-second grid, about 90 m between rows).  Each **row** of the map is one
record of the stream.
"""

import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import cbook

import pystream as ps

with cbook.get_sample_data("jacksboro_fault_dem.npz") as dem:
    elevation = dem["elevation"]                      # (344, 403) int16

# A Dask array of 4 blocks of 86 rows (Dask arrays usually come from
# zarr/HDF5 files or from other Dask computations; here from memory).
tiles = da.from_array(elevation, chunks=(86, 403))
print(tiles)

rows = ps.from_dask(tiles)
print(rows, "| dtype:", rows.dtype, "| record_shape:", rows.record_shape)

# %%
# One block at a time
# -------------------
# Iterating the stream computes the blocks in order; each block is one chunk
# (``chunk_size=`` cuts blocks into smaller chunks).

print([chunk.shape for chunk in rows])
print([chunk.shape for chunk in ps.from_dask(tiles, chunk_size=50)])

# %%
# Local engine and Dask engine: the same bits
# -------------------------------------------
# ``describe`` gives one statistic per column (each record is a row of 403
# values).  With ``engine="dask"`` the four blocks are reduced as four Dask
# tasks and the states merged in a tree; the int16 values are accumulated in
# float64 in both cases, and the results are bit-identical.

local = rows.describe(quantiles=())
on_dask = rows.describe(quantiles=(), engine="dask")
same = all(np.array_equal(getattr(local, f), getattr(on_dask, f))
           for f in ("count", "mean", "var", "min", "max"))
print("identical:", same)
print(f"highest point {local.max.max()} m, lowest {local.min.min()} m")

# %%
# A moving window across block boundaries: the mean of 9 rows (about 800 m
# north-south).  With ``engine="dask"`` each block's task gets the 8 rows
# before it as a halo, so the rows right after a block boundary come out
# exactly as in the serial run.  ``partition_size=`` re-chunks the Dask
# array (here into 6 partitions of 60 rows).

smooth = rows.moving_mean(9)
serial = smooth.to_array()
parallel = smooth.to_array(engine="dask", partition_size=60)
print("moving_mean identical:", np.array_equal(serial, parallel, equal_nan=True),
      "| NaN warm-up rows:", int(np.isnan(serial[:, 0]).sum()))

# %%
# The map, its four Dask blocks, and the per-column statistics from the
# ``engine="dask"`` run:

fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(8, 6.5), height_ratios=[3, 2], sharex=True)
ax0.imshow(elevation, cmap="gist_earth", aspect="auto")
for edge in np.cumsum(tiles.chunks[0])[:-1]:
    ax0.axhline(edge - 0.5, color="w", lw=1, ls="--")
ax0.set_ylabel("row (one record)")
ax0.set_title("Jacksboro fault DEM: 4 Dask blocks of 86 rows")
columns = np.arange(elevation.shape[1])
ax1.fill_between(columns, on_dask.min, on_dask.max, color="C0", alpha=0.25, label="min .. max")
ax1.plot(columns, on_dask.mean, color="C0", label="mean")
ax1.set_xlabel("column")
ax1.set_ylabel("elevation (m)")
ax1.legend(loc="upper right")
fig.tight_layout()
plt.show()
