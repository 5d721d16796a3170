"""Stream reductions built on the sketches: quantile, histogram, describe's quantiles."""

from __future__ import annotations

import numpy as np
import pytest

import pystream as ps
from pystream.reducers import DEFAULT_QUANTILES, quantile_label

RNG = np.random.default_rng(11)
X = RNG.lognormal(0.0, 1.5, 200_003)


def lower(x: np.ndarray, q) -> np.ndarray:
    return np.quantile(x, q, method="lower")


# ------------------------------------------------------------------ quantile

@pytest.mark.parametrize("q", [0.5, [0.0, 0.01, 0.5, 0.99, 1.0], np.array([[0.1, 0.9]])])
def test_quantile_relative_within_alpha_and_shape(q):
    got = ps.from_array(X, chunk_size=4096).quantile(q, method="relative")
    want = lower(X, q)
    assert np.shape(got) == np.shape(want)
    assert np.all(np.abs(got - want) <= 0.01 * np.abs(want))
    if np.ndim(q) == 0:
        assert isinstance(got, float)


def test_quantile_relative_is_chunk_invariant_bit_for_bit():
    q = np.linspace(0, 1, 101)
    a = ps.from_array(X, chunk_size=1000).quantile(q, method="relative")
    b = ps.from_chunks([X[:7], X[7:150_000], X[150_000:]]).quantile(q, method="relative")
    assert np.array_equal(a, b)


def test_quantile_kll_rank_error_and_exact_mode():
    q = np.linspace(0.01, 0.99, 99)
    got = ps.from_array(X).quantile(q, method="kll", k=200, seed=3)
    s = np.sort(X)
    rank = np.searchsorted(s, got, side="right") / s.size
    assert np.max(np.abs(rank - q)) < 0.0133
    small = X[:150]
    assert np.array_equal(ps.from_array(small).quantile(q, method="kll"), lower(small, q))


def test_quantile_kll_seed_reproducible_and_chunk_invariant():
    a = ps.from_array(X, chunk_size=999).quantile([0.3, 0.7], method="kll", seed=5)
    b = ps.from_array(X, chunk_size=64).quantile([0.3, 0.7], method="kll", seed=5)
    assert np.array_equal(a, b)


def test_quantile_records_per_column_like_numpy_axis0():
    r = np.stack([X[:5000], -X[:5000], 1000 * X[:5000]], axis=1).reshape(5000, 3, 1)
    q = [0.25, 0.5]
    got = ps.from_array(r).quantile(q, method="relative")
    want = np.quantile(r, q, axis=0, method="lower")
    assert got.shape == want.shape == (2, 3, 1)
    assert np.all(np.abs(got - want) <= 0.01 * np.abs(want))


def test_quantile_nan_policies():
    y = X[:1000].copy()
    y[17] = np.nan
    s = ps.from_array(y, chunk_size=100)
    assert np.isnan(s.quantile(0.5))
    want = np.nanquantile(y, 0.5, method="lower")
    assert abs(s.quantile(0.5, nan_policy="omit", method="relative") - want) <= 0.01 * want
    got = s.quantile(0.5, nan_policy="omit")          # KLL: within 1 % in rank
    assert abs(np.mean(y[~np.isnan(y)] <= got) - 0.5) <= 0.01
    with pytest.raises(ValueError, match="NaN at record 17"):
        s.quantile(0.5, nan_policy="raise")


def test_quantile_empty_stream_is_nan():
    assert np.isnan(ps.from_array(np.array([])).quantile(0.5))


@pytest.mark.parametrize("kwargs,match", [
    ({"q": 1.5}, "q must be in"), ({"q": [0.5, -0.1]}, "q must be in"),
    ({"q": np.nan}, "q must be in"), ({"q": 0.5, "method": "tdigest"}, "method must be"),
    ({"q": 0.5, "alpha": 0.0}, "alpha"), ({"q": 0.5, "method": "kll", "k": 2}, "k"),
    ({"q": 0.5, "nan_policy": "skip"}, "nan_policy"),
])
def test_quantile_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ps.from_array(X[:10]).quantile(**kwargs)


# ------------------------------------------------------------------ describe

def test_describe_relative_quantiles_within_alpha():
    d = ps.from_array(X).describe(quantile_method="relative")
    assert tuple(d.quantiles) == DEFAULT_QUANTILES and d.quantile_method == "relative"
    for q, v in d.quantiles.items():
        want = lower(X, q)
        assert abs(v - want) <= 0.01 * want
    assert "p50" in repr(d) and d.to_dict()["quantiles"]["p99"] == d.quantiles[0.99]


def test_describe_quantiles_chunk_invariant_and_skippable():
    a = ps.from_array(X, chunk_size=333).describe()
    b = ps.from_chunks([X[:1], X[1:]]).describe()
    assert a == b
    assert ps.from_array(X).describe(quantiles=()).quantiles == {}
    d = ps.from_array(X).describe(quantiles=[0.999])
    assert list(d.quantiles) == [0.999] and quantile_label(0.999) == "p99.9"


def test_describe_quantiles_records_and_nan_policy():
    r = np.stack([X[:3000], -X[:3000]], axis=1)
    r[5, 1] = np.nan
    d = ps.from_array(r).describe()
    assert d.quantiles[0.5].shape == (2,)
    assert np.isnan(d.quantiles[0.5][1]) and not np.isnan(d.quantiles[0.5][0])
    d = ps.from_array(r).describe(nan_policy="omit", quantile_method="relative")
    want = np.nanquantile(r, 0.5, axis=0, method="lower")
    assert np.all(np.abs(d.quantiles[0.5] - want) <= 0.01 * np.abs(want))


def test_describe_bad_quantiles():
    with pytest.raises(ValueError, match="quantiles must be in"):
        ps.from_array(X[:5]).describe(quantiles=[2.0])
    with pytest.raises(TypeError, match="quantiles must be"):
        ps.from_array(X[:5]).describe(quantiles="median")


def test_description_equality_for_records():
    # frozen dataclass equality used to raise on array fields
    r = np.stack([X[:100], X[100:200]], axis=1)
    assert ps.from_array(r).describe() == ps.from_array(r, chunk_size=7).describe()
    assert ps.from_array(r).describe() != ps.from_array(r[:50]).describe()
    with pytest.raises(TypeError):
        hash(ps.from_array(r).describe())


def test_reductions_do_not_pay_for_quantiles():
    d = ps.from_array(X)._describe(0, "propagate", "mean")[1]
    assert d.quantiles == {}


# ------------------------------------------------------------------ histogram

@pytest.mark.parametrize("dtype", ["float64", "float32", "int16"])
def test_histogram_default_range_is_numpys(dtype):
    x = (RNG.normal(size=10_001) * 100).astype(dtype)
    got = ps.from_array(x, chunk_size=999).histogram(bins=17)
    counts, edges = np.histogram(x, bins=17)
    assert np.array_equal(got.counts, counts)
    assert np.array_equal(got.edges, edges) and got.edges.dtype == edges.dtype
    assert got.underflow == got.overflow == got.nan_count == 0


def test_histogram_counts_what_numpy_drops():
    x = np.array([-5.0, 0.0, 1.0, np.nan, 2.0, 2.0, 9.0, np.inf])
    got = ps.from_array(x, chunk_size=3).histogram(bins=2, range=(0, 2))
    assert got.counts.tolist() == np.histogram(x, bins=2, range=(0, 2))[0].tolist() == [1, 3]
    assert (got.underflow, got.overflow, got.nan_count) == (1, 2, 1)
    # default range: NaNs skipped (numpy raises on them)
    assert ps.from_array(x[np.isfinite(x)]).histogram(bins=3).counts.sum() == 6
    with pytest.raises(ValueError, match="not finite"):
        ps.from_array(x).histogram(bins=3)


def test_histogram_edges_log_and_empty():
    x = RNG.lognormal(size=5000)
    edges = np.array([0.0, 0.5, 1.0, 4.0, 100.0])
    assert np.array_equal(ps.from_array(x).histogram(edges=edges).counts,
                          np.histogram(x, bins=edges)[0])
    lg = ps.from_array(x).histogram(bins=8, range=(0.01, 100.0), log=True)
    assert np.array_equal(lg.counts, np.histogram(x, bins=np.geomspace(0.01, 100.0, 9))[0])
    empty = ps.from_array(np.array([])).histogram(bins=4)
    assert empty.counts.tolist() == [0, 0, 0, 0]
    assert np.array_equal(empty.edges, np.histogram(np.array([]), bins=4)[1])


def test_histogram_one_shot_stream_needs_a_range():
    s = ps.from_iterable(iter([1.0, 2.0, 3.0]), dtype=np.float64)
    with pytest.raises(ValueError, match="range=.*or edges="):
        s.histogram(bins=3)
    s = ps.from_iterable(iter([1.0, 2.0, 3.0]), dtype=np.float64)
    assert s.histogram(bins=3, range=(1, 3)).counts.tolist() == [1, 1, 1]


def test_histogram_state_equality():
    a = ps.Histogram(bins=5, range=(0, 10)).update(X[:1000])
    b = ps.Histogram(bins=5, range=(0, 10)).update(X[:500]).merge(
        ps.Histogram(bins=5, range=(0, 10)).update(X[500:1000]))
    assert a == b and a == a.copy()
    assert a != ps.Histogram(bins=5, range=(0, 10)).update(X[:999])
    assert a != ps.Histogram(bins=6, range=(0, 10)).update(X[:1000])
    with pytest.raises(TypeError):
        hash(a)
