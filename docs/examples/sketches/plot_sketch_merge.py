"""
Merging quantile sketches from partitions
=========================================

A quantile cannot be combined from the quantiles of the parts -- the median
of twelve monthly medians is not the median of the year -- but quantile
*sketches* can be merged.  :class:`~pystream.DDSketch` and
:class:`~pystream.KLLSketch` are the states behind
:meth:`~pystream.Stream.quantile`: each part of a data set is sketched
where it lives, the sketch travels as bytes (``to_bytes`` /
``from_bytes``: a few hundred bytes for a DDSketch; for a KLL sketch a few
kilobytes per block of 2**19 values, plus the values of the partial block
it starts in, sent raw -- here each month is smaller than a block, so most
are sent whole), and the receiver merges them.

The data are the hourly air temperatures of Seattle in 2010 (°F,
public-domain NOAA data shipped with ``vega_datasets``), cut into twelve
months as if each month were a file read by a different worker.
"""

import matplotlib.pyplot as plt
import numpy as np
from vega_datasets import local_data

import pystream as ps

weather = local_data.seattle_temps()
temp = weather["temp"].to_numpy()
month = weather["date"].dt.month.to_numpy()
months = np.split(temp, np.flatnonzero(np.diff(month)) + 1)

# %%
# The workers
# -----------
# Each worker streams its month through both sketches and sends back their
# bytes.  ``update`` returns the sketch, and any chunking of the month gives
# the same state.


def worker(values, start):
    # a KLL sketch is told where its part starts in the whole stream
    dd, kll = ps.DDSketch(alpha=0.01), ps.KLLSketch(k=200, seed=0, start=start)
    for chunk in ps.from_array(values, chunk_size=256):
        dd.update(chunk)
        kll.update(chunk)
    return dd.to_bytes(), kll.to_bytes()


offsets = np.cumsum([0] + [len(m) for m in months])
sent = [worker(values, start) for values, start in zip(months, offsets)]
dd_parts = [ps.DDSketch.from_bytes(b) for b, _ in sent]
kll_parts = [ps.KLLSketch.from_bytes(b) for _, b in sent]
print(f"{len(temp)} values in 12 months; sent {sum(len(b) for b, _ in sent)} bytes of "
      f"DDSketch and {sum(len(b) for _, b in sent)} bytes of KLL")


def merge_all(parts):
    """Merge copies of ``parts`` into the first one, left to right."""
    out = parts[0].copy()
    for part in parts[1:]:
        out.merge(part)
    return out


def merge_tree(parts):
    """Merge copies of ``parts`` pairwise, like a parallel reduction."""
    level = [p.copy() for p in parts]
    while len(level) > 1:
        level = [level[i].merge(level[i + 1]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    return level[0]


shuffled = np.random.default_rng(0).permutation(12)

# %%
# DDSketch: one answer, whatever the route
# ----------------------------------------
# A DDSketch only counts values in fixed logarithmic buckets, so its state is
# a function of the multiset of values: the twelve months merged in calendar
# order, in reverse, in a random order or as a tree, and the whole year
# streamed in one go with any chunk size, all give the same sketch, and the
# same bytes.

dd_routes = {
    "calendar order": merge_all(dd_parts),
    "reverse order": merge_all(dd_parts[::-1]),
    "random order": merge_all([dd_parts[i] for i in shuffled]),
    "tree": merge_tree(dd_parts),
    "one stream, chunks of 1000": ps.DDSketch(),
    "one stream, chunks of 7": ps.DDSketch(),
}
for chunk in ps.from_array(temp, chunk_size=1000):
    dd_routes["one stream, chunks of 1000"].update(chunk)
for chunk in ps.from_array(temp, chunk_size=7):
    dd_routes["one stream, chunks of 7"].update(chunk)

dd_year = dd_routes["calendar order"]
print("DDSketch: all routes ==:", all(s == dd_year for s in dd_routes.values()),
      "| distinct to_bytes():", len({s.to_bytes() for s in dd_routes.values()}))

# %%
# KLL: one answer too, for neighbours
# ------------------------------------
# A KLL sketch keeps a sample of the values and halves it at random when it
# is full, so a plain KLL merge depends on the order of the merges.  A
# :class:`~pystream.KLLSketch` sketches fixed blocks of the *global* stream
# (it knows where its part starts: ``start=``) and combines them along a
# fixed tree, so the months merged in calendar order, in reverse order or
# as a tree give the sketch of the whole year streamed in one piece, bit
# for bit, whatever the chunking.

kll_whole = {}
for size in (1, 97, 5000):
    sketch = ps.KLLSketch(k=200, seed=0)
    for chunk in ps.from_array(temp, chunk_size=size):
        sketch.update(chunk)
    kll_whole[size] = sketch.to_bytes()
kll_year = merge_all(kll_parts)
kll_reverse = merge_all(kll_parts[::-1])
print("KLL, one stream, chunks of 1 / 97 / 5000: identical bytes:",
      len(set(kll_whole.values())) == 1)
print("KLL, months in calendar order, reverse order, tree, whole stream: identical bytes:",
      len({kll_year.to_bytes(), kll_reverse.to_bytes(), merge_tree(kll_parts).to_bytes(),
           kll_whole[97]}) == 1)

# %%
# The price: only neighbours merge (``a.stop == b.start``).  A month merged
# next to one it does not touch is refused -- there would be no canonical
# answer to reproduce.

try:
    kll_parts[0].copy().merge(kll_parts[5])
except ValueError as e:
    print("January + June:", str(e).split(":")[0])
qs = [0.1, 0.25, 0.5, 0.75, 0.9]
exact = np.quantile(temp, qs, method="lower")
for name, values in [("KLL", kll_year.quantile(qs)), ("exact", exact),
                     ("DDSketch", dd_year.quantile(qs))]:
    print(f"  {name:>9}: " + "  ".join(f"{v:6.2f}" for v in values))

# %%
# Ranks
# -----
# ``rank(v)`` is the estimated fraction of values ``<= v``: here the share of
# the hours of 2010 at or below 50 °F.  KLL's rank error is within its bound
# (:meth:`~pystream.KLLSketch.normalized_rank_error`); the DDSketch resolves
# values only to its buckets (1 % wide), so its rank of a value inside a
# busy bucket is off by the share of the data in that bucket.

print(f"hours <= 50 °F: exact {np.mean(temp <= 50):.2%}, DDSketch {dd_year.rank(50.0):.2%}, "
      f"KLL {kll_year.rank(50.0):.2%}")

# %%
# The monthly sketches give each month's spread; the merged ones the year's.
# Right: the error of the merged sketches' ``rank`` over the whole range of
# temperatures, against the exact fraction of hours at or below.  KLL (any
# merge order: the same sketch) stays well inside its bound; the DDSketch's rank
# error saws up and down bucket by bucket, since its guarantee is on values
# (1 %), not on ranks.

grid = np.linspace(temp.min(), temp.max(), 400)
true_rank = np.searchsorted(np.sort(temp), grid, side="right") / len(temp)

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4))
names = [f"{d:%b}" for d in weather["date"].iloc[np.r_[0, np.flatnonzero(np.diff(month)) + 1]]]
band = np.array([p.quantile([0.1, 0.5, 0.9]) for p in dd_parts])
pos = np.arange(12)
ax0.fill_between(pos, band[:, 0], band[:, 2], color="C0", alpha=0.25,
                 label="month: p10 to p90 (its own DDSketch)")
ax0.plot(pos, band[:, 1], "o-", color="C0", label="month: median")
for q, style in zip([0.1, 0.5, 0.9], [":", "-", ":"]):
    ax0.axhline(dd_year.quantile(q), color="C3", ls=style, lw=1,
                label="year: p10, median, p90 (merged)" if q == 0.5 else None)
ax0.set_xticks(pos, names)
ax0.set_ylabel("temperature (°F)")
ax0.legend(fontsize="small", loc="upper left")

bound = kll_year.normalized_rank_error()
ax1.axhspan(-100 * bound, 100 * bound, color="0.9", label="KLL bound (k=200, 99%)")
for sketch, color, label in [(dd_year, "C0", "DDSketch (any order)"),
                             (kll_year, "C1", "KLL (any order)")]:
    ax1.plot(grid, 100 * (sketch.rank(grid) - true_rank), color=color, lw=1, label=label)
ax1.set_xlabel("temperature (°F)")
ax1.set_ylabel("rank(v) - true rank (% of hours)")
ax1.set_ylim(-3.2, 5)
ax1.legend(fontsize="small", loc="upper center", ncols=2)
fig.tight_layout()
plt.show()
