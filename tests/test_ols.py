"""Streaming least squares (issue 21): ``Stream.ols`` and ``LeastSquares``.

The C kernel (exact cross-products, csrc/crossprod.c) against its slow twin
(exact Fractions in Python) on random data and edge cases; the fit against
statsmodels OLS and numpy lstsq; the same bytes for every chunking, engine,
push, fork, serialized merge and per key; NaN policies; bad input.
"""

from __future__ import annotations

import pickle
from fractions import Fraction

import numpy as np
import pytest

import pystream as ps
from pystream.multivariate.exact import (
    RankDeficient,
    dependent_columns,
    exact_crossproducts,
    solve,
    sqrt_float,
)

try:            # the oracle; the kernel's own tests run without it (the ASan venv)
    import statsmodels.api as sm
except ImportError:  # pragma: no cover
    sm = None
needs_statsmodels = pytest.mark.skipif(sm is None, reason="statsmodels is not installed")
pd = pytest.importorskip("pandas")


def _data(n: int = 2000, k: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, k)) * [1.0, 10.0, 0.01][:k] + [0.0, 5.0, -3.0][:k]
    y = 0.5 + x @ np.arange(1.0, k + 1) + rng.normal(size=n)
    return np.c_[x, y]


def _bits(r: ps.OLSResult) -> tuple:
    """Every float of a result as its int64 bits (NaN-safe exact comparison)."""
    floats = np.r_[r.coef, r.stderr, r.resid_std, r.r_squared, r.rss]
    return tuple(floats.view(np.int64).tolist()) + (r.nobs, r.df_resid, r.names)


def _gram_fractions(state: ps.LeastSquares) -> list[list[Fraction]]:
    g, s = state.gram()
    scale = Fraction(2) ** s
    return [[v * scale for v in row] for row in g]


def _twin(z: np.ndarray) -> list[list[Fraction]]:
    """The slow twin's sums as a symmetric matrix."""
    m = z.shape[1]
    sums = exact_crossproducts(z)
    out = [[Fraction(0)] * m for _ in range(m)]
    e = 0
    for a in range(m):
        for b in range(a, m):
            out[a][b] = out[b][a] = sums[e]
            e += 1
    return out


# --------------------------------------------------------------------------- kernel vs twin


def _z(a: np.ndarray, y: int, xs: list[int], intercept: bool) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    cols = [a[:, c] for c in xs] + [a[:, y]]
    if intercept:
        cols.insert(0, np.ones(len(a)))
    return np.stack(cols, axis=1) if len(a) else np.zeros((0, len(cols)))


EDGE_VALUES = [0.0, -0.0, 1.0, -1.5, 5e-324, -2.2250738585072014e-308, 1e-300, 1e300,
               -1.7976931348623157e308, 2.0 ** 52 + 1, 0.1, 3.0]


@pytest.mark.parametrize("intercept", [True, False])
def test_kernel_equals_twin_random(intercept):
    rng = np.random.default_rng(1)
    for trial in range(6):
        n, d = int(rng.integers(0, 60)), int(rng.integers(2, 6))
        a = rng.normal(size=(n, d)) * 10.0 ** rng.integers(-30, 30, size=d)
        if trial % 2:
            a[rng.random(size=a.shape) < 0.2] = rng.choice(EDGE_VALUES)
        y = int(rng.integers(0, d))
        xs = [c for c in range(d) if c != y]
        st = ps.LeastSquares(y, xs, intercept=intercept).update(a)
        assert _gram_fractions(st) == _twin(_z(a, y, xs, intercept))
        assert st.nobs == n


def test_kernel_equals_twin_extremes_and_edges():
    vals = np.array(EDGE_VALUES)
    a = np.stack(np.meshgrid(vals, vals), axis=-1).reshape(-1, 2)       # every pair
    st = ps.LeastSquares(1).update(a)
    assert _gram_fractions(st) == _twin(_z(a, 1, [0], True))
    # huge products beyond the float64 range are exact too
    g = _gram_fractions(st)
    assert g[2][2] == sum(Fraction(v) ** 2 for v in a[:, 1])


def test_kernel_nonfinite_at_every_position():
    base = np.arange(1.0, 13.0).reshape(4, 3)
    for bad in (np.nan, np.inf, -np.inf):
        for i in range(4):
            for j in range(3):
                a = base.copy()
                a[i, j] = bad
                st = ps.LeastSquares(2, [0, 1], start=100).update(a)
                assert st.nobs == 3
                assert st.first_bad == (100 + i, j)
                assert _gram_fractions(st) == _twin(_z(a, 2, [0, 1], True))


@pytest.mark.parametrize("layout", ["float32", "byteswapped", "strided", "negative", "readonly",
                                    "fortran", "int64", "misaligned"])
def test_kernel_layouts(layout):
    rng = np.random.default_rng(2)
    a = rng.normal(size=(50, 3))
    if layout == "float32":
        src = a.astype(np.float32)
        ref = src.astype(np.float64)
    elif layout == "byteswapped":
        src = a.astype(">f8")
        ref = a
    elif layout == "strided":
        big = rng.normal(size=(100, 7))
        src = big[::2, ::3]
        ref = np.ascontiguousarray(src)
    elif layout == "negative":
        src = a[::-1, ::-1]
        ref = np.ascontiguousarray(src)
    elif layout == "readonly":
        src = a.copy()
        src.flags.writeable = False
        ref = a
    elif layout == "fortran":
        src = np.asfortranarray(a)
        ref = a
    elif layout == "int64":
        src = rng.integers(2 ** 53 - 50, 2 ** 53 + 50, size=(50, 3))
        ref = src.astype(np.float64)
    else:
        buf = np.zeros(50 * 3 * 8 + 1, np.uint8)
        src = np.frombuffer(buf.data, dtype=np.float64, count=150, offset=1).reshape(50, 3)
        ref = np.zeros((50, 3))
    got = ps.LeastSquares(0).update(src)
    want = ps.LeastSquares(0).update(np.array(ref, dtype=np.float64))
    assert got.to_bytes() == want.to_bytes()
    assert _gram_fractions(got) == _twin(_z(ref, 0, [1, 2], True))


def test_constant_and_empty_and_one_record():
    assert _gram_fractions(ps.LeastSquares(1, [0]).update(np.zeros((0, 2)))) == \
        [[0] * 3 for _ in range(3)]
    one = np.array([[2.0, 3.0]])
    assert _gram_fractions(ps.LeastSquares(1).update(one)) == _twin(_z(one, 1, [0], True))
    const = np.full((9, 2), 7.25)
    assert _gram_fractions(ps.LeastSquares(1).update(const)) == _twin(_z(const, 1, [0], True))


# --------------------------------------------------------------------------- exact solve


def test_bareiss_equals_fraction_elimination():
    rng = np.random.default_rng(3)
    for _ in range(20):
        p = int(rng.integers(1, 7))
        z = rng.integers(-50, 50, size=(p + 5, p + 1))
        g = (z.T @ z).tolist()
        try:
            sol = solve(g, p)
        except RankDeficient:
            assert dependent_columns(g, p)
            continue
        a = [[Fraction(v) for v in row[:p]] for row in g[:p]]
        c = [Fraction(row[p]) for row in g[:p]]
        inv = np.array([[Fraction(int(i == j)) for j in range(p)] for i in range(p)], object)
        # Gauss-Jordan with Fractions
        aug = [a[i] + [c[i]] + list(inv[i]) for i in range(p)]
        for k in range(p):
            piv = next(i for i in range(k, p) if aug[i][k] != 0)
            aug[k], aug[piv] = aug[piv], aug[k]
            aug[k] = [v / aug[k][k] for v in aug[k]]
            for i in range(p):
                if i != k and aug[i][k]:
                    f = aug[i][k]
                    aug[i] = [u - f * v for u, v in zip(aug[i], aug[k])]
        assert sol.coef == [aug[j][p] for j in range(p)]
        assert sol.inv_diag == [aug[j][p + 1 + j] for j in range(p)]


def test_sqrt_is_correctly_rounded():
    rng = np.random.default_rng(4)
    for _ in range(200):
        q = Fraction(int(rng.integers(1, 2 ** 62)), int(rng.integers(1, 2 ** 62))) * \
            Fraction(2) ** int(rng.integers(-600, 600))
        r = sqrt_float(q)
        lo, hi = np.nextafter(r, 0), np.nextafter(r, np.inf)
        # r is the float nearest sqrt(q): compare squares of the midpoints exactly
        assert (Fraction(r) + Fraction(lo)) ** 2 / 4 <= q <= (Fraction(r) + Fraction(hi)) ** 2 / 4


# --------------------------------------------------------------------------- against statsmodels


@needs_statsmodels
@pytest.mark.parametrize("intercept", [True, False])
def test_against_statsmodels_and_lstsq(intercept):
    a = _data(3000, 3, seed=5)
    r = ps.from_array(a, chunk_size=257).ols(3, intercept=intercept)
    X = sm.add_constant(a[:, :3]) if intercept else a[:, :3]
    fit = sm.OLS(a[:, 3], X).fit()
    np.testing.assert_allclose(r.coef, fit.params, rtol=1e-12)
    np.testing.assert_allclose(r.stderr, fit.bse, rtol=1e-12)
    np.testing.assert_allclose(r.r_squared, fit.rsquared, rtol=1e-12)
    np.testing.assert_allclose(r.resid_std ** 2, fit.scale, rtol=1e-12)
    np.testing.assert_allclose(r.rss, fit.ssr, rtol=1e-12)
    assert r.df_resid == fit.df_resid and r.nobs == 3000
    np.testing.assert_allclose(r.coef, np.linalg.lstsq(X, a[:, 3], rcond=None)[0], rtol=1e-12)


@needs_statsmodels
def test_real_data_longley_statsmodels():
    data = sm.datasets.longley.load_pandas().data
    arr = data.to_numpy(dtype=np.float64)
    names = list(data.columns)
    r = ps.from_array(arr, chunk_size=5).rename(names).ols("TOTEMP")
    fit = sm.OLS(data["TOTEMP"], sm.add_constant(data.drop(columns="TOTEMP"))).fit()
    assert r.names == ("intercept", *names[1:])
    np.testing.assert_allclose(r.coef, fit.params.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(r.stderr, fit.bse.to_numpy(), rtol=1e-8)


def test_columns_by_name_and_position():
    a = _data(500, 3)
    s = ps.from_array(a).rename(["a", "b", "c", "y"])
    by_name = s.ols("y", ["c", "a"])
    by_pos = ps.from_array(a).ols(-1, [2, 0])
    assert by_name.names == ("intercept", "c", "a")
    assert by_pos.names == ("intercept", "2", "0")
    assert _bits(by_name)[:-1] == _bits(by_pos)[:-1]
    assert s.ols("y", "b").names == ("intercept", "b")
    assert by_name.to_dict()["coef"]["c"] == by_name.coef[1]
    df = by_name.to_pandas()
    assert list(df.index) == ["intercept", "c", "a"] and df["stderr"].iloc[2] == by_name.stderr[2]
    assert "intercept" in repr(by_name) and "r_squared" in repr(by_name)


# --------------------------------------------------------------------------- invariance


def test_same_bytes_for_any_chunking_engine_push_fork():
    a = _data(5000, 3, seed=6)
    a[17, 1] = np.nan
    for policy in ("omit", "propagate"):
        want = _bits(ps.from_array(a).ols(3, nan_policy=policy))
        for chunk in (1, 7, 1000, len(a)):
            assert _bits(ps.from_array(a, chunk_size=chunk).ols(3, nan_policy=policy)) == want
        threads = ps.from_array(a, chunk_size=100).ols(3, nan_policy=policy, engine="threads",
                                                       workers=2, partition_size=700)
        assert _bits(threads) == want
        sink = ps.pipeline().push(ps.pipeline().ols(3, nan_policy=policy))
        for i in range(0, len(a), 333):
            sink.send(a[i:i + 333])
        assert _bits(sink.close()) == want
        forked = ps.from_array(a, chunk_size=64).fork(
            r=ps.pipeline().ols(3, nan_policy=policy), d="describe")["r"]
        assert _bits(forked) == want


def test_threads_after_a_filter():
    a = _data(3000, 2, seed=20)
    s = ps.from_array(a, chunk_size=100).filter(lambda c: c[:, 0] > 0)
    want = s.ols(2)
    for policy in ("propagate", "raise"):
        got = s.ols(2, nan_policy=policy, engine="threads", workers=2, partition_size=700)
        assert _bits(got) == _bits(want)


def test_dask_engine():
    pytest.importorskip("dask")
    a = _data(3000, 2, seed=7)
    want = _bits(ps.from_array(a).ols(2))
    got = ps.from_array(a, chunk_size=100).ols(2, engine="dask", partition_size=700)
    assert _bits(got) == want


def test_serialized_merge_any_split():
    a = _data(1000, 2, seed=8)
    whole = ps.LeastSquares(2).update(a)
    rng = np.random.default_rng(9)
    for _ in range(5):
        cuts = sorted(set(rng.integers(0, len(a), size=4).tolist()) | {0, len(a)})
        parts = [ps.LeastSquares(2, start=lo).update(a[lo:hi]) for lo, hi in zip(cuts, cuts[1:])]
        parts = [ps.LeastSquares.from_bytes(p.to_bytes()) for p in parts]
        acc = parts[0]
        for p in parts[1:]:
            acc.merge(pickle.loads(pickle.dumps(p)))
        assert acc.to_bytes() == whole.to_bytes()
        assert _bits(acc.result()) == _bits(whole.result())


def test_merge_refuses_bad_partners():
    a = _data(10, 2)
    left = ps.LeastSquares(2).update(a[:5])
    with pytest.raises(ValueError, match="not adjacent"):
        left.merge(ps.LeastSquares(2, start=6).update(a[6:]))
    with pytest.raises(ValueError, match="other columns"):
        left.merge(ps.LeastSquares(1, start=5).update(a[5:]))
    with pytest.raises(TypeError):
        left.merge(ps.Moments())


def test_from_bytes_refuses_corruption():
    data = ps.LeastSquares(2).update(_data(50, 2)).to_bytes()
    for cut in range(0, len(data), 7):
        with pytest.raises(ValueError):
            ps.LeastSquares.from_bytes(data[:cut])
    rng = np.random.default_rng(10)
    for _ in range(200):
        b = bytearray(data)
        b[int(rng.integers(0, len(b)))] ^= 1 << int(rng.integers(0, 8))
        try:
            st = ps.LeastSquares.from_bytes(bytes(b))
        except ValueError:
            continue
        st.result()          # a header edit that still parses gives a state that works


# --------------------------------------------------------------------------- per key


@needs_statsmodels
def test_keyed_equals_plain_call_per_key_and_statsmodels():
    a = _data(3000, 2, seed=11)
    keys = np.random.default_rng(12).choice(["a", "b", "c"], size=len(a))
    r = ps.from_array(a, key=keys, chunk_size=111).by(sort=True).ols(2)
    assert list(r.keys) == ["a", "b", "c"]
    df = pd.DataFrame(a, columns=["x0", "x1", "y"]).assign(k=keys)
    for k, g in df.groupby("k"):
        mine = r[k]
        plain = ps.from_array(a[keys == k], chunk_size=7).ols(2)
        assert _bits(mine) == _bits(plain)
        fit = sm.OLS(g["y"], sm.add_constant(g[["x0", "x1"]])).fit()
        np.testing.assert_allclose(mine.coef, fit.params.to_numpy(), rtol=1e-12)
        np.testing.assert_allclose(mine.stderr, fit.bse.to_numpy(), rtol=1e-12)


def test_keyed_by_name():
    a = _data(400, 2, seed=13)
    keys = np.arange(len(a)) % 2
    r = ps.from_array(a, key=keys).rename(["u", "v", "w"]).by().ols("w", ["v"])
    assert r[1].names == ("intercept", "v")
    assert _bits(r[0]) == _bits(ps.from_array(a[::2]).rename(["u", "v", "w"]).ols("w", "v"))


def test_keyed_push():
    a = _data(300, 2, seed=14)
    keys = np.arange(len(a)) % 3
    sink = ps.pipeline().push(ps.pipeline().ols(2), key=True)
    for i in range(0, len(a), 50):
        sink.send(a[i:i + 50], key=keys[i:i + 50])
    got = sink.close()
    for k in range(3):
        assert _bits(got[k]) == _bits(ps.from_array(a[keys == k]).ols(2))


# --------------------------------------------------------------------------- NaN policies


@needs_statsmodels
def test_nan_policies():
    a = _data(200, 2, seed=15)
    a[10, 0] = np.nan
    a[20, 2] = np.nan
    assert np.isnan(ps.from_array(a).ols(2).coef).all()
    omit = ps.from_array(a, chunk_size=7).ols(2, nan_policy="omit")
    fit = sm.OLS(a[:, 2], sm.add_constant(a[:, :2]), missing="drop").fit()
    np.testing.assert_allclose(omit.coef, fit.params, rtol=1e-12)
    assert omit.nobs == 198
    with pytest.raises(ValueError, match=r"record 10, column '0'"):
        ps.from_array(a, chunk_size=7).ols(2, nan_policy="raise")
    with pytest.raises(ValueError, match=r"record 10, column 'p'"):
        ps.from_array(a).rename(["p", "q", "r"]).ols("r", nan_policy="raise")
    # a NaN outside the chosen columns does not count
    b = a[:, [0, 1, 2]].copy()
    b[:, 0] = np.where(np.isnan(b[:, 0]), 0.0, b[:, 0])
    b[5, 0] = np.nan
    assert ps.from_array(b).ols(2, [1], nan_policy="omit").nobs == 199
    c = a.copy()
    c[30, 1] = np.inf
    assert np.isnan(ps.from_array(c).ols(2, nan_policy="omit").coef).all()


# --------------------------------------------------------------------------- edge cases


def test_rank_deficiency_names_the_column():
    a = _data(50, 2)
    const = np.c_[a[:, :2], np.full(50, 3.0), a[:, 2]]
    with pytest.raises(ValueError, match=r"'2' is an exact linear combination of 'intercept'"):
        ps.from_array(const).ols(3)
    dup = np.c_[a[:, 0], 2 * a[:, 0], a[:, 2]]
    with pytest.raises(ValueError, match=r"'1' is an exact linear combination of "
                                         r"'intercept', '0'"):
        ps.from_array(dup).ols(2)
    with pytest.raises(ValueError, match="only 2 records for 3 terms"):
        ps.from_array(a[:2]).ols(2)
    with pytest.raises(ValueError, match="no records"):
        ps.from_array(np.zeros((0, 3))).ols(2)


def test_exact_fit_and_n_equals_p():
    x = np.arange(10.0)
    r = ps.from_array(np.c_[x, 3.0 - 0.25 * x]).ols(1)
    assert r.coef.tolist() == [3.0, -0.25] and r.rss == 0.0 and r.stderr.tolist() == [0.0, 0.0]
    assert r.r_squared == 1.0
    sq = ps.from_array(np.array([[0.0, 1.0], [1.0, 2.0]])).ols(1)
    assert sq.df_resid == 0 and np.isnan(sq.resid_std) and np.isnan(sq.stderr).all()
    assert sq.coef.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("scale", [1.0, 1e300, 1e-300, 5e-320])
def test_huge_tiny_and_subnormal(scale):
    a = _data(100, 2, seed=16) * scale
    r = ps.from_array(a, chunk_size=7).ols(2)
    # the exact least-squares solution of these float64 values, rounded once
    g = _twin(_z(a, 2, [0, 1], True))
    den = max(v.denominator for row in g for v in row)       # powers of two: a multiple of all
    sol = solve([[int(v * den) for v in row] for row in g], 3)
    assert r.coef.tolist() == [float(c) for c in sol.coef]
def test_int64_near_2_53_and_float32():
    rng = np.random.default_rng(17)
    ints = rng.integers(2 ** 53 - 1000, 2 ** 53 + 1000, size=(100, 2))
    got = ps.from_array(ints).ols(1)
    assert _bits(got) == _bits(ps.from_array(ints.astype(np.float64)).ols(1))
    f32 = _data(100, 2).astype(np.float32)
    assert _bits(ps.from_array(f32).ols(2)) == _bits(ps.from_array(f32.astype(np.float64)).ols(2))


def test_bad_input_messages():
    with pytest.raises(ValueError, match="at least 2 columns"):
        ps.from_array(np.arange(5.0)).ols(0)
    with pytest.raises(ValueError, match="at least 2 columns"):
        ps.pipeline().push(ps.pipeline().ols(0)).send(np.arange(5.0))
    with pytest.raises(ValueError, match="at least 2 columns"):
        ps.LeastSquares(0).update(np.arange(5.0))
    with pytest.raises(KeyError, match="no column names"):
        ps.from_array(np.zeros((3, 2))).ols("y")
    with pytest.raises(KeyError, match="no column named 'z'"):
        ps.from_array(np.zeros((3, 2))).rename(["x", "y"]).ols("z")
    with pytest.raises(IndexError, match="out of range"):
        ps.from_array(np.zeros((3, 2))).ols(5)
    with pytest.raises(ValueError, match="also among the regressors"):
        ps.from_array(np.zeros((3, 2))).ols(1, [0, 1])
    with pytest.raises(TypeError, match="column name or position"):
        ps.from_array(np.zeros((3, 2))).ols(1.5)
    with pytest.raises(TypeError, match="intercept must be"):
        ps.from_array(np.zeros((3, 2))).ols(1, intercept="yes")
    with pytest.raises(ValueError, match="nan_policy"):
        ps.from_array(np.zeros((3, 2))).ols(1, nan_policy="drop")
    with pytest.raises(TypeError, match="real numbers"):
        ps.from_array(np.zeros((3, 2), complex)).ols(1)


def test_tee_and_a_state_as_push_target():
    a = _data(500, 2, seed=18)
    want = _bits(ps.from_array(a).ols(2))
    t = ps.tee(fit=ps.pipeline().ols(2), n="count")
    out = ps.from_array(a, chunk_size=33).fork(all=t)["all"]
    assert _bits(out["fit"]) == want
    sink = ps.pipeline().push(ps.LeastSquares(2))
    sink.send(a[:100])
    sink.send(a[100:])
    assert _bits(sink.close()) == want


def test_state_refuses_concurrent_use_and_bad_arguments():
    st = ps.LeastSquares(1)
    with st._lock:
        with pytest.raises(RuntimeError, match="another thread"):
            st.update(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="positions here"):
        ps.LeastSquares("y")
    with pytest.raises(ValueError, match="start"):
        ps.LeastSquares(1, start=-1)
    with pytest.raises(IndexError, match="out of range for records of 2 columns"):
        ps.LeastSquares(1, [0, 3]).update(np.zeros((2, 2)))
    bound = ps.LeastSquares(2).update(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="records of 2 columns, but the state.s records have 3"):
        bound.update(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="no records"):
        ps.LeastSquares(1).result()


def test_branches_resolve_names():
    a = _data(300, 2, seed=19)
    s = ps.from_array(a, chunk_size=50).rename(["p", "q", "r"])
    want = s.ols("r", ["p"])
    forked = s.fork(f=ps.pipeline().ols("r", ["p"]), t=ps.tee(g=ps.pipeline().ols("r")))
    assert forked["f"].names == ("intercept", "p") and _bits(forked["f"]) == _bits(want)
    assert forked["t"]["g"].names == ("intercept", "p", "q")
    with pytest.raises(KeyError, match="no column names"):      # push has no names
        ps.pipeline().push(ps.pipeline().ols("r")).send(a)
    with pytest.raises(KeyError, match="without column names"):
        ps.pipeline().push(ps.pipeline().ols("r"), key=True)


def test_a_state_refuses_records_of_another_width():
    """x=None means every other column of the first chunk: a wider chunk later would be
    read partly, so it is refused (and a restored state keeps the width)."""
    rng = np.random.default_rng(3)
    st = ps.LeastSquares(0).update(rng.normal(size=(10, 3)))
    with pytest.raises(ValueError, match="records of 4 columns, but the state's records have 3"):
        st.update(rng.normal(size=(5, 4)))
    back = ps.LeastSquares.from_bytes(st.to_bytes())
    with pytest.raises(ValueError, match="records of 2 columns"):
        back.update(rng.normal(size=(5, 2)))
    wide = ps.LeastSquares(0, start=10).update(rng.normal(size=(5, 4))[:, :3])
    assert back.merge(wide).nobs == 15
    other = ps.LeastSquares(0, intercept=False, start=15).update(rng.normal(size=(5, 3)))
    with pytest.raises(ValueError, match="intercept"):
        back.merge(other)
