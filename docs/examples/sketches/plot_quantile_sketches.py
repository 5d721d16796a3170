"""
Quantiles of a stream: ``quantile`` and its sketches
====================================================

:meth:`~pystream.Stream.quantile` estimates quantiles in one pass and in
bounded memory, from a quantile *sketch* fed chunk by chunk:

* ``method="kll"`` (the default, as for ``describe()``) uses a
  :class:`~pystream.KLLSketch`: the *rank* of the returned value is within
  1 % of ``q`` with probability >= 99 % per quantile (the a-priori bound
  for the default ``k=400`` is 0.68 %), whatever the units and the origin
  of the data;
* ``method="relative"`` uses a :class:`~pystream.DDSketch`: every returned
  quantile is within a *relative* error ``alpha`` (1 %) of the exact one,
  ``np.quantile(x, q, method="lower")``, for data spanning orders of
  magnitude (see :ref:`sphx_glr_auto_examples_sketches_plot_which_quantile.py`).

Both are checked here against numpy on a real data set, the hourly air
temperatures of Seattle in 2010 (°F, public-domain NOAA data shipped with
``vega_datasets``), and on a synthetic stream of ten million lognormal
values, where the point is scale: the sketches stay a few kilobytes.
"""

import matplotlib.pyplot as plt
import numpy as np
from vega_datasets import local_data

import pystream as ps

temp = local_data.seattle_temps()["temp"].to_numpy()
qs = np.array([0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99])


def rank_error(x_sorted, values, q):
    """Distance from q to the true normalized rank of each value.

    With ties, a value covers the ranks ``[#(x < v), #(x <= v)] / n``; the
    error is 0 when q falls in that interval.
    """
    n = len(x_sorted)
    lo = np.searchsorted(x_sorted, values, side="left") / n
    hi = np.searchsorted(x_sorted, values, side="right") / n
    return np.maximum(0.0, np.maximum(lo - q, q - hi))


# %%
# Real data: a year of hourly temperatures
# ----------------------------------------
# One call per method; each reads the stream once.  The exact quantiles use
# numpy's ``method="lower"`` (an observed value), the convention both
# sketches follow.

hourly = ps.from_array(temp, chunk_size=1000)
exact_t = np.quantile(temp, qs, method="lower")
dd_t = hourly.quantile(qs, method="relative")
kll_t = hourly.quantile(qs)                     # method="kll", k=400

for name, est in [("relative", dd_t), ("kll", kll_t)]:
    print(f"{name:>8}: " + "  ".join(f"{v:5.1f}" for v in est) + "  °F")
print(f"{'exact':>8}: " + "  ".join(f"{v:5.1f}" for v in exact_t) + "  °F")

# %%
# The relative sketch is off by at most 1 % of the value (here up to
# ~0.4 °F), wherever the quantile lies.  KLL returns values that were
# actually seen, often the exact one: its guarantee is on the rank.

sorted_t = np.sort(temp)
rel_t = np.abs(dd_t - exact_t) / np.abs(exact_t)
rank_t = rank_error(sorted_t, kll_t, qs)
print(f"Seattle: max relative error {rel_t.max():.2%} (bound 1%), "
      f"max KLL rank error {rank_t.max():.2%}")

# %%
# Scale: ten million lognormal values
# -----------------------------------
# The stream below is 80 MB of float64 in 153 chunks.  It is held in memory
# only so that numpy can check the answers; a stream read from a file or a
# generator goes through the sketches the same way.  To look at the sketches
# themselves, feed :class:`~pystream.DDSketch` and
# :class:`~pystream.KLLSketch` with the chunks -- the result is the one
# ``quantile`` gives, bit for bit.

x = np.random.default_rng(42).lognormal(mean=0.0, sigma=1.0, size=10_000_000)
big = ps.from_array(x, chunk_size=65_536)

dd = ps.DDSketch(alpha=0.01)
kll = ps.KLLSketch(k=400, seed=0)              # quantile()'s default
for chunk in big:
    dd.update(chunk)
    kll.update(chunk)

dd_x = big.quantile(qs, method="relative")
kll_x = big.quantile(qs)
print("quantile() == sketch.quantile():",
      np.array_equal(dd_x, dd.quantile(qs)), np.array_equal(kll_x, kll.quantile(qs)))

# %%
# Memory: the DDSketch holds counts for about 500 logarithmic buckets
# (:attr:`~pystream.DDSketch.nbytes`), the KLL sketch a few hundred of the
# values (:attr:`~pystream.KLLSketch.num_retained`, 8 bytes each).  Neither
# grows with the length of the stream: the DDSketch needs more buckets only
# when the data span more orders of magnitude (at most ``max_buckets``,
# 2048, per sign), and the KLL sketch grows like the logarithm of the count
# (about 50 more values for a hundred times more data).

print(f"data {x.nbytes / 1e6:.0f} MB; DDSketch {dd.nbytes / 1e3:.1f} kB of counts; "
      f"KLL {kll.num_retained} values ({8 * kll.num_retained / 1e3:.1f} kB)")

# %%
# Accuracy at scale is the same as on the small data set: the relative
# errors stay under ``alpha`` and the rank errors under the KLL bound for
# ``k=400`` (:meth:`~pystream.KLLSketch.normalized_rank_error`, at 99 %
# confidence).

exact_x = np.quantile(x, qs, method="lower")
rel_x = np.abs(dd_x - exact_x) / exact_x
rank_x = rank_error(np.sort(x), kll_x, qs)
bound = kll.normalized_rank_error()
print(f"lognormal: max relative error {rel_x.max():.2%} (bound {dd.alpha:.0%}), "
      f"max KLL rank error {rank_x.max():.3%} (bound {bound:.2%})")

# %%
# ``describe`` reports quantiles too
# ----------------------------------
# :meth:`~pystream.Stream.describe` runs the same rank-error sketch per
# column in the same pass as the moments (``quantile_method="relative"``
# for the DDSketch), and reports p1, p5, p25, p50, p75, p95 and p99 by
# default (``quantiles=`` chooses others, ``()`` none), printed to the
# digits the 1 % rank bound supports.

d = hourly.describe()
print(d)
print("describe p50 == quantile(0.5):", d.quantiles[0.5] == hourly.quantile(0.5))

# %%
# The errors, quantile by quantile
# --------------------------------

fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(10, 3.6),
                                    gridspec_kw={"width_ratios": [1, 1, 0.8]})
labels = [f"p{100 * q:g}" for q in qs]
pos = np.arange(len(qs))
ax0.plot(pos, 100 * rel_t, "o-", label="Seattle temperatures")
ax0.plot(pos, 100 * rel_x, "s-", label="lognormal, 1e7 values")
ax0.axhline(100 * dd.alpha, color="C3", ls="--", label="bound (alpha)")
ax0.set_title('method="relative" (DDSketch)', fontsize="medium")
ax0.set_ylabel("relative error (%)")

ax1.plot(pos, 100 * rank_t, "o-", label="Seattle temperatures")
ax1.plot(pos, 100 * rank_x, "s-", label="lognormal, 1e7 values")
ax1.axhline(100 * bound, color="C3", ls="--", label="bound (k=400, 99%)")
ax1.set_title('method="kll" (KLLSketch)', fontsize="medium")
ax1.set_ylabel("rank error (%)")
for ax, top in [(ax0, dd.alpha), (ax1, bound)]:
    ax.set_xticks(pos, labels, rotation=60)
    ax.set_ylim(0, 170 * top)
    ax.legend(fontsize="small", loc="upper left")

sizes = {"data": x.nbytes, "DDSketch": dd.nbytes, "KLL": 8 * kll.num_retained}
ax2.bar(list(sizes), list(sizes.values()), color=["0.6", "C0", "C1"])
ax2.set_yscale("log")
ax2.set_ylabel("bytes")
ax2.set_title("memory, 1e7 values", fontsize="medium")
fig.tight_layout()
plt.show()
