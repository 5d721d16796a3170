"""Migration snippets for the comparison page, checked on every docs build.

Each section shows a peer's code and the pystream equivalent, then asserts
that both give the same numbers.  ``docs/comparison.rst`` shows the sections
with ``literalinclude`` (between the ``# [name]`` / ``# [/name]`` markers),
and the docs build runs this file (``docs/_ext/docs_generated.py``), so the
page cannot claim an equivalence that does not hold.
"""

import warnings

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
sd_np = np.nanstd(x)                                   # ddof=0 by default, as numpy's
sd_ps = ps.from_array(x).std(nan_policy="omit")        # ddof=0 by default
# [/numpy-reduce]
assert np.allclose(m_np, m_ps, rtol=1e-12)
assert np.allclose(sd_np, sd_ps, rtol=1e-12)

quiet = warnings.catch_warnings()   # numpy's RuntimeWarning, shown in the snippet
quiet.__enter__()
warnings.simplefilter("ignore", RuntimeWarning)
# [numpy-ddof]
np.var([1.0, 2.0], ddof=2)                         # numpy: inf, and a RuntimeWarning
ps.from_array(np.array([1.0, 2.0])).var(ddof=2)    # pystream: nan (count <= ddof), as pandas
# [/numpy-ddof]
assert np.isinf(np.var([1.0, 2.0], ddof=2))
quiet.__exit__(None, None, None)
with warnings.catch_warnings():
    warnings.simplefilter("error")
    assert np.isnan(ps.from_array(np.array([1.0, 2.0])).var(ddof=2))

# [bottleneck]
import bottleneck as bn

b = bn.move_mean(x, window=50, min_count=10)
p = ps.from_array(x).moving_mean(window=50, min_count=10).to_array()

b_std = bn.move_std(x, window=50, min_count=10)                       # divides by count
p_std = ps.from_array(x).moving_std(window=50, min_count=10, ddof=0).to_array()
# [/bottleneck]
assert np.allclose(b, p, rtol=1e-9, atol=1e-12, equal_nan=True)
assert np.allclose(b_std, p_std, rtol=1e-9, atol=1e-12, equal_nan=True)
assert not np.allclose(b_std, ps.from_array(x).moving_std(50, min_count=10).to_array(),
                       equal_nan=True)   # the default is pandas' ddof=1, not bottleneck's

# [bottleneck-long]
y5 = np.arange(5.0)
try:
    bn.move_mean(y5, window=10)                       # bottleneck (and numbagg): ValueError
except ValueError:
    pass
p = ps.from_array(y5).moving_mean(window=10).to_array()   # pystream: all NaN, as pandas
# [/bottleneck-long]
assert np.isnan(p).all()

# [pandas]
import pandas as pd

s = pd.Series(x)
r_pd = s.rolling(50, min_periods=10).median().to_numpy()
sd_pd = s.rolling(50, min_periods=10).std().to_numpy()          # ddof=1
v_pd = s.expanding().var().to_numpy()                           # ddof=1
e_pd = s.ewm(halflife=20, ignore_na=True).mean().to_numpy()

r_ps = ps.from_array(x).moving_median(50, min_count=10).to_array()
sd_ps = ps.from_array(x).moving_std(50, min_count=10, ddof=1).to_array()   # 1: the default
v_ps = ps.from_array(x).cumvar(ddof=1, nan_policy="omit").to_array()      # 1: the default
e_ps = ps.from_array(x).ewm_mean(halflife=20, ignore_na=True).to_array()
# [/pandas]
assert np.array_equal(r_pd, r_ps, equal_nan=True)
assert np.allclose(sd_pd, sd_ps, rtol=1e-9, equal_nan=True)
assert np.allclose(v_pd, v_ps, rtol=1e-9, equal_nan=True)
assert np.allclose(e_pd, e_ps, rtol=1e-12, equal_nan=True)
assert np.array_equal(ps.from_array(x).moving_std(50, min_count=10).to_array(), sd_ps,
                      equal_nan=True)

# [pandas-inf]
z = np.array([20, 10, 10, np.inf, 1, 1, 2, 3])
pd.Series(z).rolling(3, min_periods=1).var().to_numpy()
# pandas:   [nan, 50, 33.33,   0, 40.5,   0, 0.33, 1]    inf is skipped, as a NaN
ps.from_array(z).moving_var(3, min_count=1, ddof=1).to_array()
# pystream: [nan, 50, 33.33, nan,  nan, nan, 0.33, 1]    inf is a value (numpy's var: nan)
no_inf = ps.from_array(z).map(lambda c: np.where(np.isinf(c), np.nan, c))
no_inf.moving_var(3, min_count=1, ddof=1).to_array()     # pandas' numbers
# [/pandas-inf]
want_pd = [np.nan, 50, 100 / 3, 0, 40.5, 0, 1 / 3, 1]
assert np.allclose(pd.Series(z).rolling(3, min_periods=1).var(), want_pd, equal_nan=True)
assert np.allclose(ps.from_array(z).moving_var(3, min_count=1, ddof=1).to_array(),
                   [np.nan, 50, 100 / 3, np.nan, np.nan, np.nan, 1 / 3, 1], equal_nan=True)
assert np.allclose(no_inf.moving_var(3, min_count=1, ddof=1).to_array(), want_pd, equal_nan=True)

# [pandas-min-periods]
w = pd.Series([1.0, np.nan, np.nan, 3.0])
w.rolling(2, min_periods=0).sum()                         # pandas: [1, 1, 0, 3]
ps.from_array(w.to_numpy()).moving_sum(2, min_count=1)     # pystream: [1, 1, nan, 3]
# min_count=0 and window=0 raise ValueError; an empty window's sum is NaN here
ps.from_array(w.to_numpy()).moving_sum(2, min_count=1).map(np.nan_to_num)   # [1, 1, 0, 3]
# [/pandas-min-periods]
assert np.array_equal(
    ps.from_array(w.to_numpy()).moving_sum(2, min_count=1).map(np.nan_to_num).to_array(),
    w.rolling(2, min_periods=0).sum().to_numpy())
for bad in ({"window": 2, "min_count": 0}, {"window": 0}):
    try:
        ps.from_array(w.to_numpy()).moving_sum(**bad)
    except ValueError:
        pass
    else:
        raise AssertionError(f"moving_sum({bad}) should raise")

# [pandas-ewm-tiny]
v = pd.Series(np.arange(5.0))
v.ewm(alpha=5e-324).mean()           # pandas: the expanding mean (the weights are all 1)
ps.from_array(v.to_numpy()).cummean()  # pystream: ewm_mean(alpha=5e-324) raises ValueError
# [/pandas-ewm-tiny]
assert np.allclose(v.ewm(alpha=5e-324).mean(), ps.from_array(v.to_numpy()).cummean().to_array())
try:
    ps.from_array(v.to_numpy()).ewm_mean(alpha=5e-324)
except ValueError:
    pass
else:
    raise AssertionError("ewm_mean(alpha=5e-324) should raise")

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
