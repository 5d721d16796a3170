"""
Weekly price bars: ``first``, ``max``, ``min``, ``last`` and ``sum``
====================================================================

A price bar summarises a period by its open (first price), high (maximum),
low (minimum) and close (last price), and the volume traded (sum).  Each
is one ``how`` of ``resample``.  The data are Google's daily prices and
volumes from August 2004 to October 2008 (``goog.npz``, matplotlib's sample
data); blocks of 5 records are 5-trading-day bars.
"""

import matplotlib.cbook as cbook
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import pystream as ps

d = cbook.get_sample_data("goog.npz")["price_data"]
print(len(d), "trading days, fields:", d.dtype.names)

# %%
# One stream of 4-value records (open, high, low, close); ``select`` picks
# a column, ``resample`` reduces its blocks.  The volume is an int64
# stream: ``how="sum"`` runs in C and gives float64 (exact here, the
# sums stay far below 2**53).

ohlc = ps.from_array(np.column_stack([d["open"], d["high"], d["low"], d["close"]]))
bars = pd.DataFrame({
    "open": ohlc.select(0).resample(5, how="first").to_array(),
    "high": ohlc.select(1).resample(5, how="max").to_array(),
    "low": ohlc.select(2).resample(5, how="min").to_array(),
    "close": ohlc.select(3).resample(5, how="last").to_array(),
    "volume": ps.from_array(d["volume"]).resample(5, how="sum").to_array(),
    "date": ps.from_array(d["date"]).resample(5, how="first").to_array(),
})
print(bars.tail(3))

# %%
# 1047 days are 209 full bars and 2 days left over: by default the last,
# incomplete block is reduced too; ``partial=False`` drops it.

print(len(bars), "bars;", len(ohlc.resample(5, how="max", partial=False).to_array()),
      "with partial=False")

# %%
# Check against pandas, grouping the days five by five:

ref = pd.DataFrame(d).groupby(np.arange(len(d)) // 5).agg(
    open=("open", "first"), high=("high", "max"), low=("low", "min"),
    close=("close", "last"), volume=("volume", "sum"), date=("date", "first"))
print("same as pandas:", bars.equals(ref.astype({"volume": float})))

# %%
# The 2008 bars: green when the week closed above its open, red otherwise.

b = bars[bars["date"] >= np.datetime64("2008-01-01")]
up = b["close"] >= b["open"]
color = np.where(up, "tab:green", "tab:red")
fig, (ax0, ax1) = plt.subplots(2, 1, sharex=True, figsize=(8, 5),
                               height_ratios=[3, 1])
ax0.vlines(b["date"], b["low"], b["high"], color=color, lw=1)
ax0.bar(b["date"], b["close"] - b["open"], bottom=b["open"], width=4, color=color)
ax0.set_ylabel("GOOG (USD)")
ax0.set_title("5-trading-day bars, 2008", fontsize="medium")
ax1.bar(b["date"], b["volume"] / 1e6, width=4, color="0.5")
ax1.set_ylabel("volume (millions)")
fig.autofmt_xdate()
fig.tight_layout()
plt.show()
