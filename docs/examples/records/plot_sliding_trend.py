"""
Trend in overlapping windows with ``sliding_window``
====================================================

``sliding_window(n, step)`` makes a record of every ``n`` consecutive
records, one every ``step`` records.  Each window is a row that a
vectorised function can reduce; here, a least-squares slope.

The data are the weekly CO2 concentrations measured at Mauna Loa from 1958
to 2001 (``statsmodels.datasets.co2``, from the Scripps Institution of
Oceanography).  The slope of each 10-year window is the growth rate of CO2
in that decade.
"""

import matplotlib.pyplot as plt
import numpy as np
from statsmodels.datasets import co2 as co2_data

import pystream as ps

co2 = co2_data.load_pandas().data["co2"]
x = co2.to_numpy()

# %%
# Windows of 520 weeks (10 years), one every 52 weeks.  The windows are
# read-only views of the input (no copy), of shape ``(k, 520)`` per chunk.

n, step = 520, 52
windows = ps.from_array(x, chunk_size=256).sliding_window(n, step=step)
print(windows.record_shape, len(windows.to_array()), "windows")

# %%
# The slope of each row, skipping the weeks with no measurement.  ``map``
# calls it once per chunk of windows, not once per window.

years = np.arange(n) * 7 / 365.25


def slope(w):
    """Least-squares slope of each row of w against `years`, ignoring NaNs."""
    t = np.where(np.isnan(w), np.nan, years)
    dt = t - np.nanmean(t, axis=1, keepdims=True)
    dx = w - np.nanmean(w, axis=1, keepdims=True)
    return np.nansum(dt * dx, axis=1) / np.nansum(dt * dt, axis=1)


rate = windows.map(slope).to_array()
starts = co2.index[::step][: len(rate)]
centres = starts + (co2.index[n // 2] - co2.index[0])

# %%
# Check: ``np.polyfit`` on the valid weeks of each window.

ref = []
for i in range(0, len(x) - n + 1, step):
    w = x[i:i + n]
    ok = ~np.isnan(w)
    ref.append(np.polyfit(years[ok], w[ok], 1)[0])
print(f"max |slope - polyfit|: {np.max(np.abs(rate - ref)):.1e} ppm/year")
print(f"growth rate: {rate[0]:.2f} ppm/year ({starts[0].year}-{starts[0].year + 10}), "
      f"{rate[-1]:.2f} ppm/year ({starts[-1].year}-{starts[-1].year + 10})")

# %%

fig, (ax0, ax1) = plt.subplots(2, 1, sharex=True, figsize=(8, 5))
ax0.plot(co2.index, x, color="C0", lw=0.6)
ax0.set_ylabel("CO$_2$ (ppm)")
ax1.plot(centres, rate, "o-", color="C3")
ax1.set_ylabel("growth rate\n(ppm/year, 10-year windows)")
ax1.set_xlabel("centre of the window")
fig.tight_layout()
plt.show()
