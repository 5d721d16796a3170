"""Migration snippets for the comparison page, checked on every docs build.

Each section shows a peer's code and the pystream equivalent, then asserts
that both give the same numbers.  ``docs/comparison.rst`` shows the sections
with ``literalinclude`` (between the ``# [name]`` / ``# [/name]`` markers),
and the docs build runs this file (``docs/_ext/docs_generated.py``), so the
page cannot claim an equivalence that does not hold.
"""

import numpy as np

import pystream as ps

rng = np.random.default_rng(0)
x = rng.normal(size=100_000)
x[rng.integers(0, x.size, 50)] = np.nan

# [numpy]
import numpy as np

whole = np.nancumsum(x)                                         # numpy: whole array
streamed = ps.from_array(x).cumsum(nan_policy="omit").to_array()   # pystream
# [/numpy]
assert np.array_equal(whole, streamed)

# [numpy-reduce]
m_np = np.nanmean(x), np.nanstd(x, ddof=1)
d = ps.from_array(x).describe(ddof=1, nan_policy="omit")
m_ps = d.mean, d.std
# [/numpy-reduce]
assert np.allclose(m_np, m_ps, rtol=1e-12)

# [bottleneck]
import bottleneck as bn

b = bn.move_mean(x, window=50, min_count=10)
p = ps.from_array(x).moving_mean(window=50, min_count=10).to_array()
# [/bottleneck]
assert np.allclose(b, p, rtol=1e-9, atol=1e-12, equal_nan=True)

# [pandas]
import pandas as pd

s = pd.Series(x)
r_pd = s.rolling(50, min_periods=10).median().to_numpy()
e_pd = s.ewm(halflife=20, ignore_na=True).mean().to_numpy()

r_ps = ps.from_array(x).moving_median(50, min_count=10).to_array()
e_ps = ps.from_array(x).ewm_mean(halflife=20, ignore_na=True).to_array()
# [/pandas]
assert np.array_equal(r_pd, r_ps, equal_nan=True)
assert np.allclose(e_pd, e_ps, rtol=1e-12, equal_nan=True)

y = np.nan_to_num(x)[:5_000]

# [river]
from river import stats

ewm = stats.EWMean(fading_factor=0.1)
out = []
for v in y:                       # river: one Python call per value
    ewm.update(v)
    out.append(ewm.get())

p = ps.from_array(y).ewm_mean(alpha=0.1, adjust=False).to_array()   # per chunk
# [/river]
assert np.allclose(out, p, rtol=1e-12)

# [streamz]
import streamz

source = streamz.Stream()
means = []
source.sliding_window(3, return_partial=False).map(np.mean).sink(means.append)
for v in y:                       # streamz: push one Python object at a time
    source.emit(v)

p = ps.from_array(y).sliding_window(3).map(lambda c: c.mean(axis=1)).to_array()
# [/streamz]
assert np.allclose(means, p, rtol=1e-12)

# [npstreams]
import npstreams

images = [rng.normal(size=(64, 64)) for _ in range(50)]       # a stream of frames
avg_np = npstreams.mean(iter(images))                          # npstreams
avg_ps = ps.from_chunks(im[np.newaxis] for im in images).mean()   # pystream
# [/npstreams]
assert avg_ps.shape == (64, 64)
assert np.allclose(avg_np, avg_ps, rtol=1e-12)

print("migration snippets: all equivalences hold")
