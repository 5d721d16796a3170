"""
Summarising a stream with ``describe``
======================================

:meth:`~pystream.Stream.describe` reads a stream once and returns a
:class:`~pystream.Description`: count, NaN count, sum, mean, variance,
standard deviation, minimum, maximum and the quantiles p1 ... p99, in
bounded memory. Missing values (NaN) are handled as you choose with
``nan_policy``.

The data are the weekly atmospheric CO2 concentrations measured at Mauna Loa
(Hawaii) from 1958 to 2001 by C. D. Keeling and T. P. Whorf (Scripps
Institution of Oceanography), shipped with ``statsmodels``. The record has
59 missing weeks, stored as NaN.
"""

import matplotlib.pyplot as plt
import numpy as np
from statsmodels.datasets import co2

import pystream as ps

data = co2.load_pandas().data["co2"]
weekly = ps.from_array(data.to_numpy())

# %%
# NaN propagates by default
# -------------------------
# Like numpy, the default ``nan_policy="propagate"`` makes every statistic NaN
# once a NaN is seen. The counts are always reported: ``count`` is the number
# of values that are not NaN.

print(weekly.describe())

# %%
# ``nan_policy="omit"`` skips the NaNs, like ``np.nanmean`` and pandas. With
# ``ddof=1`` (the sample variance) the result matches ``pandas.describe``.

d = weekly.describe(ddof=1, nan_policy="omit")
print(d)
expected = data.describe()
print("same as pandas:", all(np.isclose(getattr(d, name), expected[name])
                             for name in ["count", "mean", "std", "min", "max"]))

# %%
# Quantiles: accurate in rank, printed to what that means
# --------------------------------------------------------
# The quantiles come from a KLL sketch (``quantile_method="kll"``, the
# default): each is a value of the data whose rank is within 1 % of ``q``
# (with probability >= 99 % per quantile), whatever the offset of the data
# from zero.  The repr prints each one digit finer than the range of values
# that 1 % of rank spans; means and variances get 7 significant digits.
# ``quantile_method="relative"`` (a DDSketch) promises 1 % of the *value*
# instead: 1 % of 340 ppm is 3.4 ppm, years of the CO2 rise, so its
# quantiles here are far off in rank.  It is for positive data spanning
# orders of magnitude, such as latencies.

exact = data.quantile(list(d.quantiles), interpolation="lower").to_numpy()
rel = weekly.describe(nan_policy="omit", quantile_method="relative")
values = np.array(list(data.dropna()))
for (q, v), r, x in zip(d.quantiles.items(), rel.quantiles.values(), exact):
    print(f"p{100 * q:<3g} exact {x:7.2f}  kll {v:7.2f} (rank {np.mean(values <= v):.3f})  "
          f"relative {r:7.2f} (rank {np.mean(values <= r):.3f})")

# %%
# ``nan_policy="raise"`` stops at the first NaN and names its record, here
# mapped back to a date:

try:
    weekly.describe(nan_policy="raise")
except ValueError as err:
    print(err)
    print("first gap:", data.index[data.isna()][0].date())

# %%
# The ``Description`` object
# --------------------------
# A frozen dataclass: read the statistics as attributes, or get plain Python
# values with ``to_dict()`` (e.g. for JSON).

print(isinstance(d, ps.Description), d.ddof, d.nan_policy)
print({key: round(value, 3) if isinstance(value, float) else value
       for key, value in d.to_dict().items()})

# %%
# Records give arrays
# -------------------
# For a stream of records, every statistic is an array with one value per
# column. Here: CO2 next to its year-on-year change (52 weeks apart).

growth = data.diff(52)
table = ps.from_array(np.column_stack([data, growth]))
both = table.describe(nan_policy="omit")
print(both)
print(f"mean growth {both.mean[1]:.2f} ppm per year")

# %%
# The record with its mean, ± one standard deviation, and extremes:

fig, ax = plt.subplots(figsize=(8, 3.5))
ax.plot(data.index, data, lw=0.7, color="C0", label="weekly CO$_2$")
ax.axhspan(d.mean - d.std, d.mean + d.std, color="C1", alpha=0.2, label="mean ± std")
ax.axhline(d.mean, color="C1")
for value in (d.min, d.max):
    ax.axhline(value, color="0.4", ls=":", lw=1)
ax.plot(data.index[data.isna()], np.full(d.nan_count, d.min - 2), "|", color="C3",
        label=f"{d.nan_count} missing weeks")
ax.set_ylabel("CO$_2$ (ppm)")
ax.legend(loc="upper left")
fig.tight_layout()
plt.show()
