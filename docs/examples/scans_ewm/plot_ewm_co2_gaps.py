"""
EWM across missing data: ``ignore_na``, ``adjust``, ``min_periods``
===================================================================

The weekly Mauna Loa CO₂ record (March 1958 to December 2001, the ``co2``
dataset that ships with statsmodels, from the Scripps CO₂ program) misses 59
weeks, 18 of them in a row in early 1964.  The EWM stages skip NaNs as pandas
does, and pandas' three options decide what a gap means: ``ignore_na``
whether it still ages the old values, ``adjust`` whether the weights are
normalised or recursive, ``min_periods`` how many values an output needs.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from statsmodels.datasets import co2

import pystream as ps

data = co2.load_pandas().data
weeks, ppm = data.index, data["co2"].to_numpy()
s = ps.from_array(ppm, chunk_size=200)

# %%
# Each combination against pandas on the whole series: the NaN outputs are
# the same, and the values agree to rounding.

for kw in [{}, {"ignore_na": True}, {"adjust": False}, {"adjust": False, "ignore_na": True},
           {"min_periods": 8}]:
    got = s.ewm_mean(span=13, **kw).to_array()
    want = pd.Series(ppm).ewm(span=13, **kw).mean().to_numpy()
    same_nan = np.array_equal(np.isnan(got), np.isnan(want))
    args = ", ".join(f"{k}={v}" for k, v in {"span": 13, **kw}.items())
    print(f"ewm_mean({args}): "
          f"NaNs where pandas has them: {same_nan}, "
          f"max |difference| {np.nanmax(np.abs(got - want)):.1e} ppm")

# %%
# With ``ignore_na=False`` (pandas' default) weights follow the calendar: the
# 18 missing weeks decay the values before the gap, and the first weeks after
# it dominate.  With ``ignore_na=True`` the gap does not exist for the
# weights.  The variance follows the same rules.

calendar = s.ewm_mean(span=13).to_array()
skipping = s.ewm_mean(span=13, ignore_na=True).to_array()
spread = s.ewm_std(span=13, ignore_na=True, min_periods=8).to_array()
i = np.nanargmax(np.abs(calendar - skipping))
print(f"largest difference {abs(calendar[i] - skipping[i]):.2f} ppm, "
      f"in the week of {weeks[i]:%d %B %Y}, just after the gap")

# %%
# ``min_periods=8`` leaves the first 7 measured weeks NaN; in a gap the EWM
# keeps its last value, as pandas' does.

fig, ax = plt.subplots(figsize=(8, 4))
w = (weeks >= "1963-06-01") & (weeks < "1965-01-01")
ax.plot(weeks[w], ppm[w], "k.", ms=4, label="weekly CO₂ (gap: Jan-May 1964)")
ax.plot(weeks[w], calendar[w], color="C0", label="ewm_mean(span=13)")
ax.plot(weeks[w], skipping[w], color="C3", label="ewm_mean(span=13, ignore_na=True)")
ax.fill_between(weeks[w], skipping[w] - spread[w], skipping[w] + spread[w], color="C3",
                alpha=0.15, label="± ewm_std(span=13, ignore_na=True, min_periods=8)")
ax.set_ylabel("CO₂ (ppm)")
ax.legend(loc="upper left", fontsize="small")
fig.tight_layout()
plt.show()
