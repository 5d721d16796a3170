"""
Picking columns and changing dtypes
===================================

A stream of records (one row of a table per record) often carries more
columns than a computation needs. :meth:`~pystream.Stream.select` picks
columns without copying, and :meth:`~pystream.Stream.astype` casts the
values, with numpy's casting rules.

The data are the daily Google (GOOG) share prices and volumes from August
2004 to October 2008, shipped with matplotlib's sample data (``goog.npz``).
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import cbook

import pystream as ps

with cbook.get_sample_data("goog.npz") as npz:
    prices = npz["price_data"]
columns = ["open", "high", "low", "close"]
ohlc = np.column_stack([prices[name] for name in columns])  # (days, 4) float64

days = ps.from_array(ohlc)
print("record_shape:", days.record_shape, "| columns:", columns)

# %%
# Select columns
# --------------
# An int removes the column axis (a stream of scalars); a list or a slice
# keeps it.

close = days.select(3)
high_low = days.select([1, 2])
print("close:", close.record_shape, "| high and low:", high_low.record_shape)
print(f"mean close {close.mean():.2f} USD (numpy: {prices['close'].mean():.2f})")

# %%
# Selected chunks are views of the input, not copies:

chunk = next(iter(high_low))
print("a view of the array:", np.shares_memory(chunk, ohlc))

# %%
# ``map`` may change the record shape too: from the four prices of a day to
# one value, the day's trading range (high minus low) relative to the close.

spread = days.map(lambda c: (c[:, 1] - c[:, 2]) / c[:, 3] * 100)
print(f"daily range: record_shape {spread.record_shape}, "
      f"median {np.median(spread.to_array()):.2f} % of the close")

# %%
# Cast with ``astype``
# --------------------
# Halve the memory of the prices with float32: a cent-rounded share price
# keeps about seven significant digits, enough for these prices.

small = days.astype(np.float32)
error = np.abs(small.select(3).to_array() - close.to_array()).max()
print(f"{small.dtype}: {small.dtype.itemsize * 4} bytes per record instead of "
      f"{days.dtype.itemsize * 4}; largest rounding error of the close {error:.1e} USD")

# %%
# Reductions accumulate float32 in float64, so the mean moves only by the
# rounding of the stored values:

print(f"mean close: float32 stream {small.select(3).mean():.6f}, "
      f"float64 stream {close.mean():.6f}")

# %%
# Integer streams keep their dtype through the reductions; sums are exact.
# ``astype`` turns the daily volume into floats, e.g. to work in millions.

volume = ps.from_array(prices["volume"])
print(f"{volume.dtype} total volume: {volume.sum():,} shares (numpy: {prices['volume'].sum():,})")
millions = volume.astype(np.float64).map(lambda v: v / 1e6)
print(f"{millions.dtype}: median day {np.median(millions.to_array()):.2f} million shares")

# %%
# ``casting`` refuses lossy casts up front, before anything is read:

try:
    days.astype(np.int32, casting="safe")
except TypeError as err:
    print("TypeError:", err)

# %%
# Close, daily range and volume, each read from its own stream:

fig, axes = plt.subplots(3, 1, figsize=(8, 5.5), sharex=True)
axes[0].plot(prices["date"], close.to_array(), lw=0.7, color="C0")
axes[0].set_ylabel("close (USD)")
axes[1].plot(prices["date"], spread.to_array(), lw=0.6, color="C1")
axes[1].set_ylabel("high - low\n(% of close)")
axes[2].plot(prices["date"], millions.to_array(), lw=0.6, color="C2")
axes[2].set_ylabel("volume\n(million shares)")
fig.align_ylabels(axes)
fig.tight_layout()
plt.show()
