"""The cov / corr terminals and describe(cov=True): numpy and pandas semantics,
the same bytes for every chunking, engine, push, fork and key."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import pystream as ps


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, np.float64).view(np.int64)


def _data(n: int = 6000, d: int = 4, seed: int = 0, nan: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 1e3
    if nan:
        x[rng.random(x.shape) < nan] = np.nan
    return x


@pytest.mark.parametrize("name", ["cov", "corr"])
@pytest.mark.parametrize("nan", [0.0, 0.02])
def test_same_bytes_for_chunkings_engines_push_fork(name: str, nan: float) -> None:
    x = _data(nan=nan)
    kw = {"nan_policy": "omit"}
    ref = getattr(ps.from_array(x), name)(**kw)
    for size in (1, 7, 1000):
        got = getattr(ps.from_array(x, chunk_size=size), name)(**kw)
        assert (_bits(got) == _bits(ref)).all()
    for engine, extra in (("threads", {"workers": 2}), ("dask", {})):
        got = getattr(ps.from_array(x, chunk_size=500), name)(
            **kw, engine=engine, partition_size=1234, **extra)
        assert (_bits(got) == _bits(ref)).all(), engine
    sink = ps.pipeline().push(getattr(ps.pipeline(), name)(**kw))
    for a in range(0, len(x), 777):
        sink.send(x[a:a + 777])
    assert (_bits(sink.close()) == _bits(ref)).all()
    forked = ps.from_array(x, chunk_size=300).fork(
        a=getattr(ps.pipeline(), name)(**kw), b=ps.pipeline().describe(quantiles=()))
    assert (_bits(forked["a"]) == _bits(ref)).all()
    tee = ps.tee(a=getattr(ps.pipeline(), name)(**kw), n="count")
    teed = ps.pipeline().push(tee)
    for a in range(0, len(x), 1000):
        teed.send(x[a:a + 1000])
    assert (_bits(teed.close()["a"]) == _bits(ref)).all()


def test_numpy_and_pandas_semantics() -> None:
    x = _data(nan=0.0)
    s = ps.from_array(x)
    np.testing.assert_allclose(s.cov(), np.cov(x, rowvar=False), rtol=1e-13)
    np.testing.assert_allclose(s.cov(ddof=0), np.cov(x, rowvar=False, ddof=0), rtol=1e-13)
    np.testing.assert_allclose(s.corr(), np.corrcoef(x, rowvar=False), rtol=1e-13, atol=1e-15)
    y = _data(nan=0.05, seed=3)
    frame = pd.DataFrame(y)
    s = ps.from_array(y, chunk_size=333)
    np.testing.assert_allclose(s.cov(nan_policy="omit"), frame.cov().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(s.corr(nan_policy="omit"), frame.corr().to_numpy(), rtol=1e-12)
    assert np.isnan(s.cov()).all()                    # propagate: every column saw a NaN
    z = x.copy()
    z[10, 2] = np.nan
    prop = ps.from_array(z).cov()
    keep = [0, 1, 3]
    np.testing.assert_allclose(prop[np.ix_(keep, keep)], np.cov(x[:, keep], rowvar=False),
                               rtol=1e-13)
    assert np.isnan(prop[2]).all() and np.isnan(prop[:, 2]).all()
    with pytest.raises(ValueError, match="record 10, column 2"):
        ps.from_array(z, chunk_size=4).cov(nan_policy="raise")


def test_polars_agrees() -> None:
    pl = pytest.importorskip("polars")
    x = _data(d=3, seed=5)
    df = pl.DataFrame(x, schema=["a", "b", "c"])
    s = ps.from_array(x).rename(["a", "b", "c"])
    assert abs(s.cov(["a", "c"])[0, 1] - df.select(pl.cov("a", "c")).item()) < 1e-9
    assert abs(s.corr(["b", "c"])[0, 1] - df.select(pl.corr("b", "c")).item()) < 1e-13


def test_columns_by_name_and_position() -> None:
    x = _data(d=4)
    s = ps.from_array(x).rename(["a", "b", "c", "d"])
    full = s.cov()
    assert (_bits(s.cov(["c", "a"])) == _bits(ps.from_array(x[:, [2, 0]]).cov())).all()
    assert (_bits(s.cov([3, -4])) == _bits(ps.from_array(x[:, [3, 0]]).cov())).all()
    np.testing.assert_allclose(s.cov(["b", "d"]), full[np.ix_([1, 3], [1, 3])], rtol=1e-13)
    with pytest.raises(KeyError, match="no column named 'z'"):
        s.cov(["a", "z"])
    with pytest.raises(KeyError, match="no column names"):
        ps.from_array(x).cov(["a", "b"])
    with pytest.raises(IndexError, match="out of range"):
        s.corr([0, 9])
    with pytest.raises(ValueError, match="at least 2 columns"):
        s.cov(["a"])
    with pytest.raises(ValueError, match="twice"):
        s.cov(["a", 0])
    with pytest.raises(TypeError, match="names or integer"):
        s.cov([1.5, 2])


def test_bad_streams_and_arguments() -> None:
    with pytest.raises(ValueError, match="at least 2 columns"):
        ps.from_array(np.arange(10.0)).cov()
    with pytest.raises(ValueError, match="at least 2 columns"):
        ps.from_array(np.ones((4, 2, 2))).corr()
    with pytest.raises(ValueError, match="nan_policy"):
        ps.from_array(np.ones((4, 2))).cov(nan_policy="ignore")
    with pytest.raises((TypeError, ValueError), match="ddof"):
        ps.from_array(np.ones((4, 2))).cov(ddof="x")
    sink = ps.pipeline().push(ps.pipeline().cov())
    with pytest.raises(ValueError, match="at least 2 columns"):
        sink.send(np.arange(3.0))
    empty = ps.from_array(np.empty((0, 3))).cov()
    assert empty.shape == (3, 3) and np.isnan(empty).all()
    ints = np.arange(40).reshape(20, 2) ** 2
    assert (_bits(ps.from_array(ints, chunk_size=3).cov())
            == _bits(ps.from_array(ints.astype(float)).cov())).all()


def test_per_key_equals_the_keys_records() -> None:
    rng = np.random.default_rng(7)
    x = _data(n=3000, d=3, nan=0.01)
    k = rng.integers(0, 4, len(x))
    s = ps.from_array(x, key=k, chunk_size=250).rename(["a", "b", "c"])
    for name in ("cov", "corr"):
        res = getattr(s.by(), name)(["c", "a", "b"], nan_policy="omit")
        for key, value in zip(res.keys.tolist(), res.values):
            alone = getattr(ps.from_array(x[k == key][:, [2, 0, 1]]), name)(nan_policy="omit")
            assert (_bits(value) == _bits(alone)).all()
    res = ps.from_array(x, key=k).by(sort=True).cov(nan_policy="omit")
    groups = pd.DataFrame(x).groupby(k).cov()
    for key, value in zip(res.keys.tolist(), res.values):
        np.testing.assert_allclose(value, groups.loc[key].to_numpy(), rtol=1e-12)


def test_describe_with_cov() -> None:
    x = _data(d=3, nan=0.0)
    s = ps.from_array(x, chunk_size=999).rename(["a", "b", "c"])
    plain = s.describe(quantiles=())
    d = s.describe(quantiles=(), cov=True)
    assert plain.cov is None and plain.corr is None
    assert d == ps.from_array(x).rename(["a", "b", "c"]).describe(quantiles=(), cov=True)
    for field in ("count", "mean", "var", "min", "max", "sum"):
        assert (np.asarray(getattr(d, field)) == np.asarray(getattr(plain, field))).all()
    np.testing.assert_allclose(np.diagonal(d.cov), d.var, rtol=1e-13)
    np.testing.assert_allclose(d.cov, np.cov(x, rowvar=False, ddof=0), rtol=1e-13)
    assert (_bits(d.corr) == _bits(s.corr())).all()
    d1 = s.describe(quantiles=(), cov=True, ddof=1)
    assert (_bits(d1.cov) == _bits(s.cov())).all()
    text = repr(d)
    assert "cov" in text and "corr" in text
    assert d.to_dict()["corr"][0][0] == 1.0
    threads = s.describe(quantiles=(), cov=True, engine="threads", workers=2, partition_size=700)
    assert threads == d
    res = ps.from_array(x, key=np.arange(len(x)) % 3).by().describe(quantiles=(), cov=True)
    for key, value in zip(res.keys.tolist(), res.values):
        assert (_bits(value.cov) == _bits(ps.from_array(x[np.arange(len(x)) % 3 == key])
                                          .describe(quantiles=(), cov=True).cov)).all()
    with pytest.raises(ValueError, match="at least 2 columns"):
        ps.from_array(np.arange(5.0)).describe(cov=True)
    with pytest.raises(TypeError, match="cov must be True or False"):
        ps.from_array(x).describe(cov="yes")
    y = x.copy()
    y[5, 1] = np.nan
    om = ps.from_array(y).describe(quantiles=(), cov=True, nan_policy="omit")
    np.testing.assert_allclose(om.corr, pd.DataFrame(y).corr().to_numpy(), rtol=1e-12)
    forked = ps.from_array(x, chunk_size=100).fork(a=ps.pipeline().describe(cov=True),
                                                    b=ps.pipeline().describe())
    assert forked["a"].cov is not None and forked["b"].cov is None
    assert forked["b"] == ps.from_array(x).describe()
