"""
Flagging unusual days with a moving rank
========================================

:meth:`~pystream.Stream.moving_rank` says where the newest record stands
among the last ``window`` records, scaled to [-1, 1]: 1 means it is the
largest, -1 the smallest, 0 the median.  Because it only compares values,
it needs no threshold in physical units and is not fooled by trends or
heavy tails.  The data are Google's daily trading volumes from August 2004
to October 2008 (``goog.npz``, matplotlib's sample data).
"""

import bottleneck as bn
import matplotlib.cbook as cbook
import matplotlib.pyplot as plt
import numpy as np

import pystream as ps

prices = cbook.get_sample_data("goog.npz")["price_data"]
dates, volume, close = prices["date"], prices["volume"], prices["close"]

# %%
# Volume is an int64 column; the window stages compute in float64.  A day
# whose volume is the largest of the last 60 trading days (about three
# months) gets rank 1.

rank = ps.from_array(volume).moving_rank(window=60).to_array()
busiest = rank == 1.0
print(f"{busiest.sum()} days out of {len(volume)} were the busiest of the last 60")
print("identical to bottleneck.move_rank:",
      np.array_equal(rank, bn.move_rank(volume.astype(float), 60), equal_nan=True))

# %%
# Most flagged days follow Google's quarterly earnings reports (late
# January, April, July and October), when the price jumps:

move = np.abs(np.diff(np.log(close), prepend=np.nan))
print(f"median |daily return|: {np.nanmedian(move[busiest]):.1%} on flagged days, "
      f"{np.nanmedian(move):.1%} on all days")

# %%
# ``rank == -1`` would flag the quietest days instead.

fig, (ax0, ax1) = plt.subplots(2, 1, sharex=True, figsize=(8, 5),
                               height_ratios=[2, 1])
ax0.plot(dates, close, color="k", lw=0.8)
ax0.plot(dates[busiest], close[busiest], "o", ms=4, color="C3",
         label="busiest day of the last 60")
ax0.set_ylabel("GOOG close (USD)")
ax0.legend(loc="upper left")
ax1.plot(dates, rank, color="C0", lw=0.6)
ax1.axhline(1, color="C3", lw=0.8, ls="--")
ax1.set_ylabel("moving rank")
fig.tight_layout()
plt.show()
