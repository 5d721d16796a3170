"""describe() of a stream with column names: the Description carries them, prints
them, gives one column by name; the same on every engine and through fork."""

from __future__ import annotations

import json

import numpy as np
import pytest

import pystream as ps
from pystream.reducers import Description

NAMES = ["dep_delay", "arr_delay", "distance", "air_time"]
RNG = np.random.default_rng(7)


def records(n: int = 2000) -> np.ndarray:
    x = RNG.normal(size=(n, 4)) * [10.0, 12.0, 800.0, 90.0] + [5.0, 3.0, 1000.0, 150.0]
    x[RNG.random((n, 4)) < 0.05] = np.nan
    return x


def stream(x: np.ndarray, **kw) -> ps.Stream:
    return ps.from_array(x, columns=NAMES, chunk_size=150, **kw)


def test_names_printed_instead_of_positions():
    x = records()
    d = stream(x).describe(nan_policy="omit")
    assert d.names == tuple(NAMES)
    text = repr(d)
    header = text.splitlines()[1].split()
    assert header == ["stat", *NAMES]
    assert "[" not in "\n".join(text.splitlines()[1:])       # no positional [a b c d] rows
    # each printed value is the column's own statistic
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[2:]}
    assert rows["count"] == [str(int(c)) for c in (~np.isnan(x)).sum(axis=0)]
    assert rows["mean"] == [f"{m:.7g}" for m in np.nanmean(x, axis=0)]
    # unnamed: the positional form as before
    plain = ps.from_array(x, chunk_size=150).describe(nan_policy="omit")
    assert plain.names is None and "mean       [" in repr(plain)
    assert plain == d                                          # names are not compared


def test_column_by_name_and_index_against_numpy():
    x = records()
    d = stream(x).describe(nan_policy="omit", ddof=1)
    for j, name in enumerate(NAMES):
        c = d[name]
        assert c is not None and c.record_shape == () and c.names == (name,)
        assert c == d.column(j) == d[j - 4]
        col = x[:, j][~np.isnan(x[:, j])]
        assert c.count == len(col) and isinstance(c.count, int)
        assert c.nan_count == int(np.isnan(x[:, j]).sum())
        np.testing.assert_allclose(c.mean, col.mean(), rtol=1e-13)
        np.testing.assert_allclose(c.var, col.var(ddof=1), rtol=1e-12)
        assert c.min == col.min() and c.max == col.max()
        assert set(c.quantiles) == set(d.quantiles)
        for q, v in c.quantiles.items():
            assert v == d.quantiles[q][j]
            assert c.quantile_error[q] == d.quantile_error[q][j]
        # the column's Description is the one of the column streamed alone (the
        # moments up to the last bits: the record kernel sums in another order)
        alone = ps.from_array(x[:, j], columns=[name]).describe(nan_policy="omit", ddof=1)
        assert alone.names == (name,)
        assert (alone.count, alone.nan_count, alone.min, alone.max) == \
            (c.count, c.nan_count, c.min, c.max)
        assert alone.quantiles == c.quantiles
        for stat in ("sum", "mean", "var", "std"):
            np.testing.assert_allclose(getattr(alone, stat), getattr(c, stat), rtol=1e-13)
    with pytest.raises(KeyError, match="no column named 'nope'.*dep_delay"):
        d["nope"]
    with pytest.raises(IndexError, match="out of range"):
        d[4]
    with pytest.raises(TypeError, match="a name or an int"):
        d[1.5]


def test_integer_records_column_sum_is_exact_int():
    x = RNG.integers(-10**15, 10**15, size=(100, 2))
    d = ps.from_array(x, columns=["a", "b"]).describe(quantiles=())
    assert d["b"].sum == int(x[:, 1].astype(object).sum()) and isinstance(d["b"].sum, int)
    assert d["a"].min == x[:, 0].min()


def test_to_dict_lists_the_names():
    d = stream(records()).describe()
    out = d.to_dict()
    assert out["columns"] == NAMES
    assert len(out["mean"]) == 4
    json.dumps({k: v for k, v in out.items() if k != "quantiles"}, allow_nan=True)
    assert "columns" not in ps.from_array(records()).describe().to_dict()


def test_names_follow_select_and_stages_and_drop_with_shape():
    s = stream(records())
    assert s.select(["distance", "dep_delay"]).describe().names == ("distance", "dep_delay")
    assert s.moving_mean(5).describe().names == tuple(NAMES)
    assert s.rename(["a", "b", "c", "d"]).describe().names == ("a", "b", "c", "d")
    assert s.nwise(2).describe().names is None               # shape (2, 4): no names
    one = ps.from_array(records()[:, 0], columns=["x"]).describe()
    assert one.names == ("x",) and one["x"] is one and "x" in repr(one)
    # the statistics alone are unchanged arrays
    assert s.mean().shape == (4,)


@pytest.mark.parametrize("engine", ["threads", "dask"])
def test_same_labelled_description_on_engines(engine):
    x = records(5000)
    s = stream(x)
    local = s.describe(nan_policy="omit")
    if engine == "dask":
        pytest.importorskip("dask")
        other = s.describe(nan_policy="omit", engine="dask", partition_size=700)
    else:
        other = s.describe(nan_policy="omit", engine="threads", workers=2, partition_size=700)
    assert other == local
    assert other.names == tuple(NAMES)
    assert repr(other) == repr(local)


def test_fork_branches_are_labelled():
    x = records()
    s = stream(x)
    want = s.describe()
    for workers in (None, 2):
        r = s.fork(d="describe", m=ps.pipeline().moving_mean(3).describe(quantiles=()),
                   sel=ps.pipeline().select(["air_time"]).describe(), mean="mean",
                   both=ps.tee(d="describe"), workers=workers)
        assert r["d"] == want and r["d"].names == tuple(NAMES)
        assert r["m"].names == tuple(NAMES)
        assert r["sel"].names == ("air_time",)
        assert r["both"]["d"].names == tuple(NAMES)
        assert np.array_equal(r["mean"], want.mean, equal_nan=True)


def test_with_names_checks_the_shape():
    d = ps.from_array(np.zeros((3, 2))).describe(quantiles=())
    with pytest.raises(ValueError, match="3 names for records of shape"):
        d.with_names(("a", "b", "c"))
    assert isinstance(d.with_names(("a", "b")), Description)
    wide = ps.from_array(np.zeros((3, 30)), columns=[f"c{i}" for i in range(30)]).describe()
    head = repr(wide).splitlines()[1].split()
    assert head == ["stat", "c0", "c1", "c2", "...", "c27", "c28", "c29"]


def test_cli_table_heads_columns_by_name():
    from pystream.cli.inputs import Input
    from pystream.cli.report import to_table

    x = records(300)
    named = stream(x)
    d = named.describe()
    text = to_table(Input(named, "npy", "flights.npy"), d, 300, d.dtype)
    head = next(line for line in text.splitlines() if line.startswith("stat"))
    assert head.split() == ["stat", *NAMES]
    plain = ps.from_array(x).describe()
    text = to_table(Input(named, "npy", "flights.npy"), plain, 300, plain.dtype)
    head = next(line for line in text.splitlines() if line.startswith("stat"))
    assert head.split() == ["stat", "[0]", "[1]", "[2]", "[3]"]
