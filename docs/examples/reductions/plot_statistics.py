"""
One statistic at a time
=======================

:meth:`~pystream.Stream.count`, :meth:`~pystream.Stream.sum`,
:meth:`~pystream.Stream.mean`, :meth:`~pystream.Stream.var`,
:meth:`~pystream.Stream.std`, :meth:`~pystream.Stream.min` and
:meth:`~pystream.Stream.max` each read the stream once and return one
statistic, with numpy's conventions: ``ddof`` for the variance and standard
deviation, and ``nan_policy`` for missing values.

The data are the annual flow of the Nile at Aswan, 1871-1970 (10^8 m^3 per
year), shipped with ``statsmodels``; G. W. Cobb (1978, *Biometrika*) used
them to study a change point around 1898, when the flow dropped.
"""

import matplotlib.pyplot as plt
import numpy as np
from statsmodels.datasets import nile

import pystream as ps

data = nile.load_pandas().data
years = data["year"].to_numpy().astype(int)
volume = data["volume"].to_numpy()
flow = ps.from_array(volume)

# %%
# The seven reducers
# ------------------
# Each one matches numpy on the whole array.

checks = {
    "count": (flow.count(), volume.size),
    "sum": (flow.sum(), volume.sum()),
    "mean": (flow.mean(), volume.mean()),
    "var": (flow.var(), volume.var()),
    "std": (flow.std(), volume.std()),
    "min": (flow.min(), volume.min()),
    "max": (flow.max(), volume.max()),
}
for name, (streamed, numpy_value) in checks.items():
    print(f"{name:<5} {streamed:>10.6g}   numpy {numpy_value:>10.6g}")

# %%
# ``ddof``
# --------
# The variance divides by ``n - ddof``. The default ``ddof=0`` is numpy's
# (the population variance); ``ddof=1`` gives the sample variance, pandas'
# default.

print(f"std ddof=0: {flow.std():.3f} (numpy {volume.std():.3f})")
print(f"std ddof=1: {flow.std(ddof=1):.3f} (pandas {data['volume'].std():.3f})")

# %%
# Before and after the change point
# ---------------------------------
# Cobb's change point falls between 1898 and 1899: the first 28 years.
# Streams are cut with ``take`` and ``skip``.

before = flow.take(28)
after = flow.skip(28)
print(f"1871-1898: mean {before.mean():.0f}, std {before.std(ddof=1):.0f}")
print(f"1899-1970: mean {after.mean():.0f}, std {after.std(ddof=1):.0f}")
drop = before.mean() - after.mean()
print(f"drop: {drop:.0f}, or {drop / after.std(ddof=1):.1f} standard deviations of the later years")

# %%
# ``nan_policy``
# --------------
# Suppose the gauge failed in some years. ``"propagate"`` (the default)
# returns NaN, as numpy does; ``"omit"`` skips the gaps, as ``np.nanmean``
# does; ``"raise"`` reports the first gap.

gappy = volume.copy()
gappy[[5, 40, 41, 77]] = np.nan
gaps = ps.from_array(gappy)
print(f"propagate: {gaps.mean()} (numpy: {np.mean(gappy)})")
print(f"omit:      {gaps.mean(nan_policy='omit'):.3f} (numpy nanmean: {np.nanmean(gappy):.3f})")
print(f"count:     {gaps.count()} years with a value")
try:
    gaps.max(nan_policy="raise")
except ValueError as err:
    print(f"raise:     {err.args[0].split(';')[0]} -> year {years[5]}")

# %%
# The flow with the mean ± one standard deviation of each period:

fig, ax = plt.subplots(figsize=(8, 3.5))
ax.plot(years, volume, "o-", ms=3, lw=0.8, color="C0")
for part, span in [(before, years[:28]), (after, years[28:])]:
    m, s = part.mean(), part.std(ddof=1)
    ax.hlines(m, span[0], span[-1], color="C3")
    ax.fill_between(span, m - s, m + s, color="C3", alpha=0.15, lw=0)
ax.axvline(1898.5, color="0.5", ls="--", lw=1)
ax.set_ylabel("annual flow (10$^8$ m$^3$)")
ax.set_title("Nile at Aswan: mean ± std before and after 1898")
fig.tight_layout()
plt.show()
