import pickle
import warnings

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import given, settings
from hypothesis import strategies as st
from pystream.testing import assert_reducer_mergeable

from pystream_signal import Welch

PARAMS = [
    dict(nperseg=256),
    dict(nperseg=64, noverlap=0),
    dict(nperseg=100, noverlap=30, fs=250.0),
    dict(nperseg=32, noverlap=31),
    dict(nperseg=64, detrend="linear"),
    dict(nperseg=64, detrend=False, scaling="spectrum"),
    dict(nperseg=50, nfft=77),
    dict(nperseg=50, nfft=64, return_onesided=False),
    dict(nperseg=33, window=("tukey", 0.3)),
    dict(window=np.hamming(40)),
    dict(nperseg=48, window="boxcar"),
]
IDS = [str(i) for i in range(len(PARAMS))]
RTOL = 1e-12


def close(p, p0, rtol=RTOL):
    """rtol, plus an atol of rtol * peak for bins that vanish by cancellation (the DC bin
    of a boxcar window after constant detrending is ~1e-30: noise, in scipy's result too)."""
    np.testing.assert_allclose(p, p0, rtol=rtol, atol=rtol * np.nanmax(np.abs(p0)))


def feed(state, x, size):
    for i in range(0, len(x), size):
        state.update(x[i:i + size])
    return state


def scipy_welch(x, kw):
    kw = dict(kw)
    kw.setdefault("window", "hann")
    return ss.welch(x, axis=0, **kw)


@pytest.mark.parametrize("kw", PARAMS, ids=IDS)
@pytest.mark.parametrize("shape", [(3000,), (2000, 3), (1500, 2, 2)])
def test_matches_scipy(kw, shape, rng):
    x = rng.normal(size=shape) + 3.0
    f0, p0 = scipy_welch(x, kw)
    results = [feed(Welch(**kw), x, size).result() for size in (1, 7, 256, len(x))]
    for f, p in results:
        assert np.array_equal(f, f0)
        assert p.shape == p0.shape and p.dtype == p0.dtype
        close(p, p0)
        assert np.array_equal(p, results[0][1])  # chunk invariant, bit for bit


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.float16])
def test_dtypes(dtype, rng):
    x = (rng.normal(size=(1000, 2)) * 50).astype(dtype)
    f0, p0 = ss.welch(x, nperseg=100, axis=0)
    f, p = feed(Welch(nperseg=100), x, 33).result()
    assert p.dtype == p0.dtype
    close(p, p0, rtol=1e-6 if p0.dtype == np.float32 else RTOL)


def test_nan_propagates(rng):
    x = rng.normal(size=1000)
    x[500] = np.nan
    f0, p0 = ss.welch(x, nperseg=100, axis=0)
    f, p = feed(Welch(nperseg=100), x, 64).result()
    assert np.isnan(p0).all() and np.isnan(p).all()


@pytest.mark.parametrize("kw", PARAMS, ids=IDS)
def test_mergeable(kw, rng):
    x = rng.normal(size=(1200, 2))
    n = len(x)
    for splits in ([n // 3, 2 * n // 3], [1], [5, 6, 7, 300, 301], [0, 0, n], [n - 1],
                   [17, 40, 41, 900], list(range(100, 1200, 97))):
        assert_reducer_mergeable(lambda start: Welch(start=start, **kw), x, splits=splits,
                                 chunk_size=13, pass_start=True)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_merge_any_split_any_order_hypothesis(data):
    nperseg = data.draw(st.integers(2, 40))
    noverlap = data.draw(st.integers(0, nperseg - 1))
    n = data.draw(st.integers(nperseg, 400))
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=8)))
    x = np.random.default_rng(n).normal(size=n)
    kw = dict(nperseg=nperseg, noverlap=noverlap)
    serial = feed(Welch(**kw), x, 10).result()
    bounds = [0, *cuts, n]
    states = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        size = data.draw(st.integers(1, 50))
        s = feed(Welch(start=lo, **kw), x[lo:hi], size)
        states.append(Welch.from_bytes(s.to_bytes()) if data.draw(st.booleans()) else s)
    while len(states) > 1:  # merge adjacent pairs in a random order (a tree, not only a fold)
        i = data.draw(st.integers(0, len(states) - 2))
        states[i].merge(states.pop(i + 1))
    got = states[0].result()
    assert np.array_equal(got[1], serial[1]) and np.array_equal(got[0], serial[0])
    close(got[1], ss.welch(x, nperseg=nperseg, noverlap=noverlap)[1])


def test_via_pickle_and_bytes(rng):
    x = rng.normal(size=(700, 3))
    s = feed(Welch(nperseg=64), x[:333], 50)
    t = pickle.loads(pickle.dumps(s))
    u = Welch.from_bytes(s.to_bytes())
    for st_ in (s, t, u):
        st_.update(x[333:])
    assert np.array_equal(s.result()[1], t.result()[1])
    assert np.array_equal(s.result()[1], u.result()[1])


def test_corrupt_bytes(rng):
    s = feed(Welch(nperseg=32, start=5), rng.normal(size=100), 9)
    data = s.to_bytes()
    for i in range(0, len(data), max(1, len(data) // 50)):
        bad = bytearray(data)
        bad[i] ^= 0x10
        with pytest.raises(ValueError):
            Welch.from_bytes(bytes(bad))
    for bad in (b"", data[:20], data[:-3], b"PSSIGNAL" + b"\0" * 30):
        with pytest.raises(ValueError):
            Welch.from_bytes(bad)


def test_short_and_empty_streams(rng):
    x = rng.normal(size=(100, 2))
    with pytest.warns(UserWarning):
        f0, p0 = ss.welch(x, nperseg=256, axis=0)
    with pytest.warns(UserWarning, match="welch"):
        f, p = feed(Welch(nperseg=256), x, 30).result()
    assert np.array_equal(f, f0)
    close(p, p0)
    f, p = Welch().result()
    assert f.shape == p.shape == (0,)


def test_merge_errors(rng):
    a = feed(Welch(nperseg=16), rng.normal(size=50), 10)
    with pytest.raises(ValueError, match="contiguous"):
        a.merge(Welch(nperseg=16, start=49))
    with pytest.raises(ValueError, match="parameters"):
        a.merge(Welch(nperseg=32, start=50))
    with pytest.raises(TypeError):
        a.merge(object())
    b = feed(Welch(nperseg=16, start=50), rng.normal(size=(5, 2)), 10)
    with pytest.raises(ValueError, match="shape"):
        a.merge(b)


@pytest.mark.parametrize("kw, exc", [
    (dict(average="median"), ValueError), (dict(average="max"), ValueError),
    (dict(fs=0), ValueError), (dict(fs="1"), TypeError), (dict(fs=np.inf), ValueError),
    (dict(nperseg=0), ValueError), (dict(nperseg=2.0), TypeError),
    (dict(nperseg=16, noverlap=16), ValueError), (dict(nperseg=16, noverlap=-1), ValueError),
    (dict(nperseg=16, nfft=8), ValueError), (dict(detrend="quadratic"), ValueError),
    (dict(detrend=lambda a: a), TypeError), (dict(scaling="power"), ValueError),
    (dict(window="no-such-window"), ValueError), (dict(window=np.ones(10), nperseg=20), ValueError),
    (dict(window=np.ones((2, 2))), TypeError), (dict(window=3), TypeError),
    (dict(start=-1), ValueError), (dict(return_onesided="yes"), TypeError),
])
def test_bad_params(kw, exc):
    with pytest.raises(exc, match="^welch"):
        Welch(**kw)


def test_bad_chunks():
    w = Welch(nperseg=8)
    for bad in (np.ones(4, complex), np.array(["a"]), np.array([object()])):
        with pytest.raises(TypeError, match="welch"):
            w.update(bad)
    w.update(np.ones((4, 2)))
    with pytest.raises(ValueError, match="welch"):
        w.update(np.ones((4, 3)))


@pytest.mark.parametrize("engine,kw", [("threads", dict(workers=3, partition_size=997)),
                                       ("threads", dict(workers=2, partition_size=1)),
                                       ("dask", dict(partition_size=1500))])
def test_engines_give_the_serial_result(engine, kw, rng):
    # A registered reducer whose state takes start= and merges adjacent states
    # is reduced per partition by the parallel engines, bit for bit.
    import pystream as ps

    x = rng.normal(size=(6000, 2))
    s = ps.from_array(x, chunk_size=500).moving_mean(3, min_count=1)
    ref = s.welch(nperseg=128, noverlap=50)
    got = s.welch(nperseg=128, noverlap=50, engine=engine, **kw)
    for a, b in zip(ref, got):
        assert a.tobytes() == b.tobytes()
