"""
Exponentially weighted statistics, as pandas computes them
==========================================================

The daily maximum temperature in Seattle from 2012 to 2015 (1461 days of
NOAA observations, as shipped in ``vega_datasets``) smoothed with
:meth:`~pystream.Stream.ewm_mean`, with a band from
:meth:`~pystream.Stream.ewm_std`.  The parameters are pandas'
``Series.ewm``: exactly one of ``com``, ``span``, ``halflife`` or ``alpha``,
plus ``adjust``, ``ignore_na`` and ``min_periods``; the results are pandas'
to rounding.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from vega_datasets import local_data

import pystream as ps

data = local_data.seattle_weather()
day, tmax = data["date"].to_numpy(), data["temp_max"].to_numpy()
s = ps.from_array(tmax, chunk_size=100)

# %%
# One decay, four spellings: ``span=19`` is ``com=9`` is ``alpha=0.1``
# (``alpha = 2 / (span + 1) = 1 / (1 + com)``) is a half-life of
# ``log(0.5) / log(1 - alpha)`` = 6.6 days.  Each is compared with pandas on
# the whole series:

halflife = np.log(0.5) / np.log(1 - 0.1)
by_span = s.ewm_mean(span=19).to_array()
by_com = s.ewm_mean(com=9).to_array()
by_alpha = s.ewm_mean(alpha=0.1).to_array()
by_halflife = s.ewm_mean(halflife=halflife).to_array()
for kw, got in [({"span": 19}, by_span), ({"com": 9}, by_com), ({"alpha": 0.1}, by_alpha),
                ({"halflife": halflife}, by_halflife)]:
    want = pd.Series(tmax).ewm(**kw).mean().to_numpy()
    args = ", ".join(f"{k}={v:.4g}" for k, v in kw.items())
    print(f"ewm_mean({args}): max |difference| to pandas "
          f"{np.max(np.abs(got - want)):.1e} °C")

# %%
# Variance and standard deviation (unbiased by default, ``bias=True`` for the
# population estimate) agree with pandas to rounding, not bit for bit: the
# two order their floating-point operations differently.  The recursive form
# ``adjust=False`` (``y[t] = (1 - alpha) y[t-1] + alpha x[t]``) runs pandas'
# own operations, so its mean is identical, bit for bit.

std = s.ewm_std(span=19).to_array()
var = s.ewm_var(span=19, bias=True).to_array()
ref = pd.Series(tmax).ewm(span=19)
print("max relative difference to pandas:",
      f"ewm_std {np.nanmax(np.abs(std / ref.std() - 1)):.1e},",
      f"ewm_var(bias=True) {np.nanmax(np.abs(var / ref.var(bias=True) - 1)):.1e}")
recursive = s.ewm_mean(span=19, adjust=False).to_array()
print("ewm_mean(adjust=False) identical to pandas:",
      np.array_equal(recursive, pd.Series(tmax).ewm(span=19, adjust=False).mean()))

# %%
# The first year: the ``span=19`` mean follows the weather, and the band of
# two standard deviations widens when it changes fast.  A half-life of two
# months (``halflife=61``) keeps only the seasons, with a lag.

seasons = s.ewm_mean(halflife=61).to_array()
w = slice(0, 366)
fig, ax = plt.subplots(figsize=(8, 4))
ax.plot(day[w], tmax[w], "k.", ms=3, label="daily maximum")
ax.plot(day[w], by_span[w], color="C0", label="ewm_mean(span=19)")
ax.fill_between(day[w], by_span[w] - 2 * std[w], by_span[w] + 2 * std[w],
                color="C0", alpha=0.2, label="± 2 ewm_std(span=19)")
ax.plot(day[w], seasons[w], color="C3", label="ewm_mean(halflife=61)")
ax.set_ylabel("temperature (°C)")
ax.legend(loc="upper left", fontsize="small")
fig.autofmt_xdate()
fig.tight_layout()
plt.show()
