"""
Bollinger bands on stock prices
===============================

A Bollinger band is the 20-day moving mean of a price plus and minus two
20-day moving standard deviations.  Here it is computed with
:meth:`~pystream.Stream.moving_mean` and :meth:`~pystream.Stream.moving_std`
on Google's daily closing prices from August 2004 to October 2008
(``goog.npz``, part of matplotlib's sample data).
"""

import matplotlib.cbook as cbook
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import pystream as ps

prices = cbook.get_sample_data("goog.npz")["price_data"]
dates, close = prices["date"], prices["close"]

# %%
# The stream is lazy: the two stages run when ``to_array()`` pulls the
# chunks through them.  A small ``chunk_size`` makes the windows span chunk
# boundaries, which changes nothing in the result.

s = ps.from_array(close, chunk_size=100)
mid = s.moving_mean(window=20).to_array()
width = 2 * s.moving_std(window=20, ddof=0).to_array()  # ddof=0, as Bollinger's bands

# %%
# The first 19 values are NaN (``min_count`` defaults to ``window``), as in
# pandas' ``rolling(20)``.  Both agree to rounding (pandas' ``std()`` and
# pystream's ``moving_std`` default to the sample std, ``ddof=1``; Bollinger's
# bands use ``ddof=0``, spelled out on both sides):

ref = pd.Series(close).rolling(20)
print("max |mean - pandas|:", np.nanmax(np.abs(mid - ref.mean())))
print("max |std  - pandas|:", np.nanmax(np.abs(width / 2 - ref.std(ddof=0))))

# %%
# Days that close outside the band are the classic "overbought" and
# "oversold" signals.

outside = np.abs(close - mid) > width
fig, ax = plt.subplots(figsize=(8, 4))
ax.fill_between(dates, mid - width, mid + width, color="C0", alpha=0.2,
                label="mean ± 2 std (20 days)")
ax.plot(dates, close, color="k", lw=0.8, label="close")
ax.plot(dates, mid, color="C0", lw=1, label="20-day mean")
ax.plot(dates[outside], close[outside], "o", ms=3, color="C3", label="outside the band")
ax.set_ylabel("GOOG close (USD)")
ax.legend(loc="upper left")
fig.tight_layout()
plt.show()
