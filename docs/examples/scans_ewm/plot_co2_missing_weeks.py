"""
Scans over a record with gaps: Mauna Loa CO₂
============================================

The weekly CO₂ concentration measured at Mauna Loa from March 1958 to
December 2001 (the ``co2`` dataset that ships with statsmodels, from the
Scripps CO₂ program) has 59 missing weeks, stored as NaN.  A scan's
``nan_policy`` decides what a gap does: ``"propagate"`` (numpy's rule) turns
everything after the first NaN into NaN, ``"omit"`` skips it.
:meth:`~pystream.Stream.cumcount` counts the weeks actually measured.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from statsmodels.datasets import co2

import pystream as ps

data = co2.load_pandas().data
weeks, ppm = data.index, data["co2"].to_numpy()
s = ps.from_array(ppm, chunk_size=256)

# %%
# Counting: with ``nan_policy="omit"`` (the default) ``cumcount`` counts the
# measured weeks, with ``"propagate"`` every record.

measured = s.cumcount().to_array()
records = s.cumcount(nan_policy="propagate").to_array()
print(f"{records[-1]} weeks, {measured[-1]} measured, {records[-1] - measured[-1]} missing")

# %%
# The record high so far.  Propagating, the first gap (May 1958) ends it;
# omitting NaNs gives ``np.fmax.accumulate``, and the running mean of the
# measured weeks is pandas' ``expanding().mean()``, which skips NaNs too.

high_propagate = s.cummax().to_array()
high = s.cummax(nan_policy="omit").to_array()
mean = s.cummean(nan_policy="omit").to_array()
print(f"propagate: {np.isnan(high_propagate).sum()} NaN outputs; omit: identical to "
      f"np.fmax.accumulate: {np.array_equal(high, np.fmax.accumulate(ppm))}, "
      f"cummean == pandas: {np.array_equal(mean, pd.Series(ppm).expanding().mean())}")

# %%
# How often a week set a new record: the number of distinct values the
# running maximum takes.

print(f"{len(np.unique(high)) - 1} new record highs after the first week, "
      f"from {high[0]:.1f} to {high[-1]:.1f} ppm")

fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True,
                               gridspec_kw={"height_ratios": [2, 1]})
ax1.plot(weeks, ppm, color="k", lw=0.5, label="weekly CO₂")
ax1.plot(weeks, high, color="C3", lw=1, label='cummax(nan_policy="omit")')
ax1.plot(weeks, mean, color="C0", lw=1, label='cummean(nan_policy="omit")')
ax1.set_ylabel("CO₂ (ppm)")
ax1.legend(loc="upper left")
ax2.plot(weeks, records - measured, color="C1")
ax2.set_ylabel("missing weeks so far")
ax2.set_xlabel("week")
fig.tight_layout()
plt.show()
