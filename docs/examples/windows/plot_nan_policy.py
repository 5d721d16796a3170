"""
Gaps in the data: ``min_count`` and ``nan_policy``
==================================================

Real series have holes.  The weekly CO2 concentration measured at Mauna Loa
from 1958 to 2001 (``statsmodels.datasets.co2``, from the Scripps
Institution of Oceanography) misses 59 of its 2284 weeks.  Every moving
stage takes two parameters for this:

* ``nan_policy``: ``"omit"`` (the default) skips NaNs, ``"propagate"``
  makes every window holding a NaN give NaN, ``"raise"`` stops at the
  first NaN;
* ``min_count``: the least number of valid values a window needs to give a
  result (default: all of them, ``window``).
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from statsmodels.datasets import co2 as co2_data

import pystream as ps

co2 = co2_data.load_pandas().data["co2"]
x = co2.to_numpy()
print(f"{len(x)} weeks, {np.isnan(x).sum()} missing")

# %%
# A 52-week moving mean removes the seasonal cycle.  With the defaults a
# single missing week blanks a whole year of output; ``min_count=40``
# accepts windows with up to 12 missing weeks; ``"propagate"`` ignores
# ``min_count`` whenever a NaN is in the window.

s = ps.from_array(x)
strict = s.moving_mean(52).to_array()
lenient = s.moving_mean(52, min_count=40).to_array()
propagate = s.moving_mean(52, min_count=40, nan_policy="propagate").to_array()
for name, y in [("default", strict), ("min_count=40", lenient), ("propagate", propagate)]:
    print(f"{name:>13}: {np.isnan(y).sum():4d} NaN outputs")

# %%
# ``min_count`` is pandas' ``min_periods``:

ref = co2.rolling(52, min_periods=40).mean()
print("same NaNs as pandas:", np.array_equal(np.isnan(lenient), ref.isna()))
print(f"max |difference|: {np.nanmax(np.abs(lenient - ref)):.1e} ppm")

# %%
# ``moving_sum`` of the NaN mask (booleans are read as 0 and 1) counts the
# missing weeks in each window, and ``"raise"`` reports the first gap:

missing = ps.from_array(np.isnan(x)).moving_sum(52).to_array()
try:
    s.moving_mean(52, nan_policy="raise").to_array()
except ValueError as err:
    first_gap = co2.index[np.isnan(x)][0]
    print(f"{err}: the week of {first_gap.date()}")

# %%
# The first twelve years, where the gaps are:

fig, (ax0, ax1) = plt.subplots(2, 1, sharex=True, figsize=(8, 5),
                               height_ratios=[3, 1])
ax0.plot(co2.index, x, color="0.7", lw=0.7, label="weekly")
ax0.plot(co2.index, lenient, color="C0", lw=2, label="52-week mean, min_count=40")
ax0.plot(co2.index, strict, color="C3", lw=1, label="52-week mean, default")
ax0.set_ylabel("CO$_2$ (ppm)")
ax0.legend(loc="upper left")
ax1.fill_between(co2.index, 0, missing, step="post", color="C1")
ax1.axhline(52 - 40, color="k", ls="--", lw=0.8)
ax1.set_ylabel("missing weeks\nin window")
ax1.set_xlim(co2.index[0], pd.Timestamp("1970-01-01"))
ax0.set_ylim(312, 328)
fig.tight_layout()
plt.show()
