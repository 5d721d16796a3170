"""
Wet spells with ``nwise``
=========================

``nwise(n)`` makes a record of every run of ``n`` consecutive records: the
stream of pairs (yesterday, today), of triples, and so on.  That is what a
Markov chain needs.  Do wet days follow wet days in Seattle?

The data are the daily weather of Seattle from 2012 to 2015, the
``seattle-weather`` data set of vega-datasets (public-domain NOAA data,
bundled with the ``vega_datasets`` package); a day is wet when its
precipitation is above zero.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from vega_datasets import local_data

import pystream as ps

weather = local_data.seattle_weather()
wet = (weather["precipitation"] > 0).to_numpy()
print(f"{len(wet)} days, {wet.mean():.0%} wet")

# %%
# Pairs of days, streamed in chunks of 100 days: ``nwise`` carries the last
# day of a chunk over, so the pairs that straddle two chunks are there too
# (1460 pairs for 1461 days).  Count the four transitions chunk by chunk:

pairs = ps.from_array(wet, chunk_size=100).nwise(2)
counts = np.zeros((2, 2), dtype=int)
for chunk in pairs:  # chunk: (k, 2) array of (yesterday, today)
    np.add.at(counts, (chunk[:, 0].astype(int), chunk[:, 1].astype(int)), 1)
print(counts.sum(), "pairs; same counts as pandas.crosstab:",
      np.array_equal(counts, pd.crosstab(wet[:-1], wet[1:]).to_numpy()))
p = counts / counts.sum(axis=1, keepdims=True)
print(f"P(wet | wet yesterday) = {p[1, 1]:.2f}, P(wet | dry yesterday) = {p[0, 1]:.2f}")

# %%
# Longer memory: after ``k`` wet (or dry) days in a row, how likely is a
# wet day?  ``nwise(k + 1)`` gives the ``k`` previous days and today.


def after_run(k, state):
    """P(today wet | the k previous days all equal `state`), and the number of cases."""
    runs = ps.from_array(wet).nwise(k + 1).to_array()
    hit = np.all(runs[:, :k] == state, axis=1)
    return runs[hit, k].mean(), hit.sum()


ks = np.arange(1, 8)
after_wet = [after_run(k, True) for k in ks]
after_dry = [after_run(k, False) for k in ks]
(p_wet, n_wet), (p_dry, n_dry) = after_wet[-1], after_dry[-1]
print(f"after a week of rain: P(wet) = {p_wet:.2f} ({n_wet} cases); "
      f"after a dry week: {p_dry:.2f} ({n_dry} cases)")

# %%

fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(ks, [v for v, _ in after_wet], "o-", color="C0", label="after k wet days")
ax.plot(ks, [v for v, _ in after_dry], "s-", color="C1", label="after k dry days")
ax.axhline(wet.mean(), color="k", ls="--", lw=0.8, label="all days")
ax.set_xlabel("k (days in a row)")
ax.set_ylabel("P(wet day)")
ax.set_ylim(0, 1)
ax.legend()
ax.set_title("Seattle 2012–2015", fontsize="medium")
fig.tight_layout()
plt.show()
