"""CoMoments: the C kernel against its numpy slow twin (bit for bit), against
numpy / pandas / polars and an exact rational computation, chunk and merge
invariance, NaN policies, serialization and hostile bytes."""

from __future__ import annotations

import pickle
import struct
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

import pystream as ps
from pystream._native import lib

# --------------------------------------------------------------------------- slow twin
# The same block algorithm in numpy: np.add.accumulate is a sequential sum,
# so every element is the same sequence of IEEE operations as in C.


def _block_size(d: int) -> int:
    return int(lib.ps_moments_block(d))


SUB = 16       # records per sub-block of the co-moment sums (csrc/comoments.c)


def _seq(a: np.ndarray) -> np.ndarray:
    """Sequential sum along axis 0 (record order), from 0.0 as in C."""
    return np.add.accumulate(np.concatenate([np.zeros((1, *a.shape[1:])), a]), axis=0)[-1]


def _tree(parts: list) -> np.ndarray:
    """The C code's pairwise tree over sub-block sums."""
    parts = list(parts)
    w = 1
    while w < len(parts):
        for q in range(0, len(parts) - w, 2 * w):
            parts[q] = parts[q] + parts[q + w]
        w *= 2
    return parts[0]


def _subsums(prod: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Sum of `prod` over records: sequential per sub-block, then the tree."""
    n = len(prod)
    parts = []
    for q in range(0, n, SUB):
        chunk = prod[q:q + SUB] if valid is None else prod[q:q + SUB][valid[q:q + SUB]]
        parts.append(_seq(chunk))
    return _tree(parts)


@np.errstate(invalid="ignore")
def _block(x: np.ndarray) -> dict:
    n, d = x.shape
    if np.isnan(x).any():
        return _block_pairwise(x)
    s = _seq(x)
    const = (x == x[0]).all(axis=0)
    m0 = np.where(const, x[0], s / n)
    y = x - m0
    e = _seq(y)
    S = _subsums(y[:, :, None] * y[:, None, :])
    return {"pw": False, "n": n, "mu": m0, "ml": e / n, "c": S - np.outer(e, e) / n}


def _block_pairwise(x: np.ndarray) -> dict:
    n, d = x.shape
    cnt = np.zeros((d, d), np.int64)
    mu, ml, c, v = (np.zeros((d, d)) for _ in range(4))
    for i in range(d):
        for j in range(d):
            ok = ~np.isnan(x[:, i]) & ~np.isnan(x[:, j])
            a, b = x[ok, i], x[ok, j]
            k = len(a)
            ai, bj = np.where(ok, x[:, i], 0.0), np.where(ok, x[:, j], 0.0)
            cnt[i, j] = k
            if k == 0:
                continue
            mi = a[0] if (a == a[0]).all() else _seq(a) / k
            mj = b[0] if (b == b[0]).all() else _seq(b) / k
            yi, yj = a - mi, b - mj
            ei, ej = _seq(yi), _seq(yj)
            fi, fj = ai - mi, bj - mj                     # every record, for the sub-blocks
            c[i, j] = _subsums(fi * fj, ok) - (ei * ej) / k
            v[i, j] = _subsums(fi * fi, ok) - (ei * ei) / k
            mu[i, j], ml[i, j] = mi, ei / k
    return {"pw": True, "n": n, "cnt": cnt, "mu": mu, "ml": ml, "c": c, "v": v}


def _pairwise(s: dict) -> dict:
    if s["pw"]:
        return s
    d = len(s["mu"])
    n = s["n"]
    return {"pw": True, "n": n, "cnt": np.full((d, d), n, np.int64),
            "mu": np.repeat(s["mu"][:, None], d, axis=1) if n else np.zeros((d, d)),
            "ml": np.repeat(s["ml"][:, None], d, axis=1) if n else np.zeros((d, d)),
            "c": s["c"].copy(), "v": np.repeat(np.diagonal(s["c"])[:, None], d, axis=1)}


def _combine(a: dict | None, b: dict) -> dict:
    if a is None:
        return b
    if not a["pw"] and not b["pw"]:
        n = a["n"] + b["n"]
        f = float(a["n"]) * float(b["n"]) / float(n)
        r = float(b["n"]) / float(n)
        delta = (b["mu"] - a["mu"]) + (b["ml"] - a["ml"])
        return {"pw": False, "n": n, "c": (a["c"] + b["c"]) + np.outer(delta, delta) * f,
                "mu": a["mu"], "ml": a["ml"] + delta * r}
    a, b = _pairwise(a), _pairwise(b)
    na, nb = a["cnt"], b["cnt"]
    n = na + nb
    with np.errstate(invalid="ignore", divide="ignore"):
        f = na.astype(float) * nb.astype(float) / n.astype(float)
        r = nb.astype(float) / n.astype(float)
        di = (b["mu"] - a["mu"]) + (b["ml"] - a["ml"])
        dj = di.T
        out = {"pw": True, "n": a["n"] + b["n"], "cnt": n,
               "c": (a["c"] + b["c"]) + (di * dj) * f,
               "v": (a["v"] + b["v"]) + (di * di) * f, "mu": a["mu"], "ml": a["ml"] + di * r}
    for key in ("c", "v", "mu", "ml"):
        out[key] = np.where(nb == 0, a[key], np.where(na == 0, b[key], out[key]))
    return out


def _node(x: np.ndarray, lo: int, hi: int, B: int) -> dict:
    """Summary of the aligned tree node covering blocks [lo, hi) (x from block 0)."""
    if hi - lo == 1:
        return _block(x[lo * B:(lo + 1) * B])
    mid = (lo + hi) // 2
    return _combine(_node(x, lo, mid, B), _node(x, mid, hi, B))


def twin(x: np.ndarray, start: int = 0) -> dict:
    """The pairwise result of the slow twin for records x at global index start
    (means as shift ``mu`` plus offset ``ml``, reported as their sum)."""
    n, d = x.shape
    B = _block_size(d)
    stop = start + n
    hb = -(-start // B) * B
    head_end = min(stop, hb)
    body_end = max(head_end, stop // B * B)
    acc = None
    if head_end > start:
        acc = _combine(acc, _block(x[:head_end - start]))
    a, b = head_end // B, body_end // B
    while a < b:                      # canonical nodes, greedy from the left
        L = 0
        while a % (2 ** (L + 1)) == 0 and b - a >= 2 ** (L + 1):
            L += 1
        lo = a * B - start
        acc = _combine(acc, _node(x[lo:lo + (B << L)], 0, 2 ** L, B))
        a += 2 ** L
    if stop > body_end:
        acc = _combine(acc, _block(x[body_end - start:]))
    out = _pairwise(acc)
    return {**out, "mu": out["mu"] + out["ml"]}


def kernel(c: ps.CoMoments) -> dict:
    return c._arrays()


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and bool((a.view(np.int64) == b.view(np.int64)).all())


def assert_twin(x: np.ndarray, start: int = 0) -> None:
    got = kernel(ps.CoMoments(start).update(x))
    want = twin(np.asarray(x, np.float64), start)
    assert (got["count"] == want["cnt"]).all()
    for k, w in (("mean", "mu"), ("comoment", "c"), ("m2", "v")):
        assert same_bits(got[k], want[w]), k


# --------------------------------------------------------------------------- twin


@pytest.mark.parametrize("d", [2, 3, 5, 8, 9])
@pytest.mark.parametrize("start", [0, 3, 1000])
def test_kernel_equals_slow_twin(d: int, start: int) -> None:
    rng = np.random.default_rng(d * 7 + start)
    x = rng.normal(size=(700, d)) * rng.uniform(0.1, 100, d) + rng.normal(0, 1e3, d)
    assert_twin(x, start)


def test_twin_edge_cases() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 4))
    assert_twin(x[:1])                                   # one record
    c = x.copy()
    c[:, 1] = 7.25                                       # constant column
    assert_twin(c)
    got = ps.CoMoments().update(c).cov()
    assert (got[1] == 0).all() and (got[:, 1] == 0).all()
    for pos in [0, 1, 63, 64, 150, 299]:                 # NaN at many positions
        for col in range(4):
            y = x.copy()
            y[pos, col] = np.nan
            assert_twin(y)
    y = x.copy()
    y[:, 2] = np.nan                                     # all-NaN column
    assert_twin(y)
    y = x.copy()
    y[10, 0], y[20, 3] = np.inf, -np.inf                 # infinities
    assert_twin(y)


def test_input_layouts_give_the_same_bytes() -> None:
    rng = np.random.default_rng(9)
    x = rng.normal(size=(999, 5))
    ref = kernel(ps.CoMoments().update(x))["comoment"]
    wide = np.zeros((999, 10))
    wide[:, ::2] = x
    views = [wide[:, ::2],                               # strided records
             np.asfortranarray(x),                       # column-major
             x.astype(x.dtype.newbyteorder()),           # byte-swapped
             x[::-1][::-1]]
    ro = x.copy()
    ro.flags.writeable = False
    views.append(ro)                                     # read-only
    for v in views:
        assert same_bits(kernel(ps.CoMoments().update(v))["comoment"], ref)
    f32 = x.astype(np.float32)                           # float32 is read exactly as float64
    assert same_bits(kernel(ps.CoMoments().update(f32))["comoment"],
                     kernel(ps.CoMoments().update(f32.astype(np.float64)))["comoment"])
    ints = rng.integers(-1000, 1000, size=(500, 3))      # integers: converted to float64
    assert same_bits(ps.CoMoments().update(ints).cov(),
                     ps.CoMoments().update(ints.astype(np.float64)).cov())


# --------------------------------------------------------------------------- invariance


@pytest.mark.parametrize("nan", [False, True])
def test_chunking_and_merging_give_the_same_bytes(nan: bool) -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(5000, 6)) + 1e6
    if nan:
        x[rng.random(x.shape) < 0.01] = np.nan
    ref = ps.CoMoments().update(x)
    want = [ref.cov(nan_policy="omit"), ref.corr(nan_policy="omit"), ref.cov()]
    for size in (1, 7, 1000, 5000):
        s = ps.CoMoments()
        for i in range(0, len(x), size):
            s.update(x[i:i + size])
        got = [s.cov(nan_policy="omit"), s.corr(nan_policy="omit"), s.cov()]
        assert all(same_bits(g, w) for g, w in zip(got, want))
        assert s.to_bytes() == ref.to_bytes()
    cuts = [0, 1, 130, 2048, 2049, 4000, 5000]
    parts = [ps.CoMoments(a).update(x[a:b]) for a, b in zip(cuts, cuts[1:])]
    groups = [[k, k] for k in range(len(parts))]          # [first part, last part]
    for k in rng.permutation(len(parts) - 1):             # merge neighbours in random order
        left = next(g for g in groups if g[1] == k)
        right = next(g for g in groups if g[0] == k + 1)
        parts[left[0]].merge(ps.CoMoments.from_bytes(parts[right[0]].to_bytes()))
        groups.remove(right)
        left[1] = right[1]
    whole = parts[0]
    assert whole.to_bytes() == ref.to_bytes()
    assert same_bits(whole.cov(nan_policy="omit"), want[0])


def test_merge_rules() -> None:
    x = np.arange(20.0).reshape(10, 2)
    a, b = ps.CoMoments().update(x[:5]), ps.CoMoments(5).update(x[5:])
    b.merge(a)                                             # left neighbour merged in
    assert same_bits(b.cov(), ps.CoMoments().update(x).cov())
    with pytest.raises(ValueError, match="not adjacent"):
        ps.CoMoments().update(x).merge(ps.CoMoments(11).update(x))
    with pytest.raises(TypeError, match="CoMoments"):
        ps.CoMoments().merge(ps.Moments())
    with pytest.raises(TypeError):
        ps.CoMoments().update(x).merge(ps.CoMoments(10).update(np.ones((3, 3))))
    empty = ps.CoMoments(10)
    whole = ps.CoMoments().update(x)
    assert whole.merge(empty).stop == 10
    assert same_bits(ps.CoMoments().merge(ps.CoMoments().update(x)).cov(), whole.cov())


# --------------------------------------------------------------------------- oracles


def test_against_numpy_pandas_polars() -> None:
    pl = pytest.importorskip("polars")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4000, 5)) @ rng.normal(size=(5, 5))
    c = ps.CoMoments().update(x)
    np.testing.assert_allclose(c.cov(), np.cov(x, rowvar=False), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(c.cov(ddof=0), np.cov(x, rowvar=False, ddof=0), rtol=1e-13)
    np.testing.assert_allclose(c.corr(), np.corrcoef(x, rowvar=False), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(c.mean, x.mean(axis=0), rtol=1e-13, atol=1e-14)
    df = pl.DataFrame(x, schema=[f"c{j}" for j in range(5)])
    pc = df.select(pl.cov("c0", "c3")).item()
    pr = df.select(pl.corr("c1", "c4")).item()
    assert abs(c.cov()[0, 3] - pc) <= 1e-12 * abs(pc) + 1e-14
    assert abs(c.corr()[1, 4] - pr) <= 1e-12
    y = x.copy()                                            # pairwise-complete NaN: pandas
    y[rng.random(y.shape) < 0.1] = np.nan
    y[:50, 2] = np.nan
    c = ps.CoMoments().update(y)
    frame = pd.DataFrame(y)
    np.testing.assert_allclose(c.cov(nan_policy="omit"), frame.cov().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(c.corr(nan_policy="omit"), frame.corr().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(c.means("omit"), np.nanmean(y, axis=0), rtol=1e-13)
    prop = c.cov()
    assert np.isnan(prop).all()                            # every column has a NaN here
    assert c.nan_count.tolist() == np.isnan(y).sum(axis=0).tolist()


def test_real_data_against_pandas() -> None:
    sm = pytest.importorskip("statsmodels.api")
    data = sm.datasets.longley.load_pandas().data
    x = data.to_numpy(np.float64)
    c = ps.CoMoments().update(x)
    np.testing.assert_allclose(c.cov(), data.cov().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(c.corr(), data.corr().to_numpy(), rtol=1e-12)


def _exact_cov(x: np.ndarray) -> list[list[Fraction]]:
    n, d = x.shape
    f = [[Fraction(float(v)) for v in col] for col in x.T]
    means = [sum(col) / n for col in f]
    dev = [[v - m for v in col] for col, m in zip(f, means)]
    return [[sum(a * b for a, b in zip(dev[i], dev[j])) / (n - 1) for j in range(d)]
            for i in range(d)]


def test_shifted_data_within_a_few_ulps_of_exact() -> None:
    """Each entry within 8 ulps of sqrt(C_ii C_jj), the scale of the
    entries (measured: pystream <= 2.5, pandas ~140, np.cov ~75000)."""
    rng = np.random.default_rng(21)
    n, d = 3000, 3
    x = 1e9 + rng.normal(size=(n, d)) @ np.array([[1, 0.5, 0], [0, 1, 0.3], [0, 0, 1.0]])
    exact = _exact_cov(x)
    for size in (7, 1000, n):
        s = ps.CoMoments()
        for i in range(0, n, size):
            s.update(x[i:i + size])
        got = s.cov()
        for i in range(d):
            for j in range(d):
                scale = float(exact[i][i] * exact[j][j]) ** 0.5
                err = abs(Fraction(float(got[i, j])) - exact[i][j])
                assert float(err) <= 8 * np.spacing(scale), (i, j, float(err), scale)
    textbook = (x.T @ x - n * np.outer(x.mean(0), x.mean(0))) / (n - 1)
    assert abs(textbook[0, 0] - float(exact[0][0])) > 1e3 * np.spacing(float(exact[0][0]))


# --------------------------------------------------------------------------- policies


def test_nan_policies_and_edges() -> None:
    x = np.array([[1.0, 2.0, 3.0], [2.0, np.nan, 1.0], [4.0, 7.0, 0.0], [5.0, 1.0, 2.0]])
    c = ps.CoMoments(10).update(x)
    prop = c.cov()
    assert np.isnan(prop[1]).all() and np.isnan(prop[:, 1]).all()
    np.testing.assert_allclose(prop[np.ix_([0, 2], [0, 2])], np.cov(x[:, [0, 2]], rowvar=False))
    with pytest.raises(ValueError, match="record 11, column 1"):
        c.cov(nan_policy="raise")
    assert c.first_nan == (11, 1)
    with pytest.raises(ValueError, match="nan_policy"):
        c.corr(nan_policy="skip")
    one = ps.CoMoments().update(x[:1])
    assert np.isnan(one.cov()).all() and (one.cov(ddof=0) == 0).all()
    assert np.isnan(one.corr()).all()
    const = ps.CoMoments().update(np.array([[1e12, 1.0], [3.0, 2.0]] + [[3.0, 1.5]] * 2000)[1:])
    r = const.corr()
    assert np.isnan(r[0]).all() and np.isnan(r[:, 0]).all() and not np.isnan(r[1, 1])
    assert (const.cov()[0] == 0).all()
    rng = np.random.default_rng(0)
    z = rng.normal(size=(500, 3))
    r = ps.CoMoments().update(np.c_[z, 2 * z[:, 0] + 1]).corr()
    assert (np.diagonal(r) == 1.0).all() and (np.abs(r) <= 1.0).all()


def test_bad_input() -> None:
    c = ps.CoMoments()
    with pytest.raises(ValueError, match="at least 2 columns"):
        c.update(np.arange(5.0))
    with pytest.raises(ValueError, match="at least 2 columns"):
        c.update(np.ones((3, 1)))
    with pytest.raises(ValueError, match="1-d rows"):
        c.update(np.ones((3, 2, 2)))
    with pytest.raises(TypeError, match="not numbers"):
        c.update(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="no records"):
        c.cov()
    c.update(np.ones((2, 3)))
    with pytest.raises(ValueError, match="3"):
        c.update(np.ones((2, 4)))
    with pytest.raises(ValueError, match="start"):
        ps.CoMoments(-1)
    with pytest.raises(TypeError):
        ps.CoMoments().update(np.ones((2, 2), np.complex128))


# --------------------------------------------------------------------------- bytes


def _fnv(data: bytes) -> bytes:
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return struct.pack("<Q", h)


def _forge(raw: bytes, offset: int, fmt: str, value: object) -> bytes:
    body = bytearray(raw[:-8])
    struct.pack_into(fmt, body, offset, value)
    return bytes(body) + _fnv(bytes(body))


def test_serialization_round_trip_and_pickle() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(777, 3))
    x[5, 1] = np.nan
    c = ps.CoMoments(3).update(x)
    for other in (ps.CoMoments.from_bytes(c.to_bytes()), pickle.loads(pickle.dumps(c)), c.copy()):
        assert other.to_bytes() == c.to_bytes()
        assert same_bits(other.cov(nan_policy="omit"), c.cov(nan_policy="omit"))
    empty = ps.CoMoments(5)
    assert ps.CoMoments.from_bytes(empty.to_bytes()).stop == 5


def test_hostile_bytes_are_refused() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2000, 2))
    x[1500, 1] = np.nan                                    # a compact and a pairwise node
    raw = ps.CoMoments(3).update(x).to_bytes()
    for k in range(0, len(raw), 7):                        # truncations
        with pytest.raises(ValueError):
            ps.CoMoments.from_bytes(raw[:k])
    for k in rng.choice(len(raw), 200, replace=False):     # random flips
        bad = bytearray(raw)
        bad[k] ^= 1 << int(rng.integers(8))
        with pytest.raises(ValueError):
            ps.CoMoments.from_bytes(bytes(bad))
    header = 8 + 8                                         # magic, version
    d_at, start_at, stop_at, head_at = header, header + 8, header + 16, header + 24
    for off, fmt, val in [(d_at, "<q", 3), (d_at, "<q", -1), (d_at, "<q", 2 ** 40),
                          (start_at, "<q", 0), (stop_at, "<q", 10 ** 15),
                          (head_at, "<q", 5), (8, "<Q", 2)]:
        with pytest.raises(ValueError):
            ps.CoMoments.from_bytes(_forge(raw, off, fmt, val))
    # node payload: the first node's first co-moment (a diagonal M2) made negative
    nodes_at = header + 8 * 8 + 8 * 2                      # fields, then 2 NaN counts
    c00 = nodes_at + 8 * 3 + 8 * 4                         # level, index, form; mean shift, offset
    with pytest.raises(ValueError):
        ps.CoMoments.from_bytes(_forge(raw, c00, "<d", -1.0))
    with pytest.raises(ValueError):                        # asymmetric matrix
        ps.CoMoments.from_bytes(_forge(raw, c00 + 8, "<d", 12345.0))
    with pytest.raises(TypeError):
        ps.CoMoments.from_bytes(3)  # type: ignore[arg-type]


def test_simd_levels_give_the_same_bits() -> None:
    rng = np.random.default_rng(12)
    x = rng.normal(size=(3000, 7)) * 1e3 + 5
    level = ps.simd_level()
    try:
        outs = []
        for name in ps.SIMD_LEVELS:
            ps.set_simd_level(name)
            outs.append(ps.CoMoments().update(x).to_bytes())
    finally:
        ps.set_simd_level(level)
    assert all(o == outs[0] for o in outs)


def test_threads_are_refused_while_busy() -> None:
    c = ps.CoMoments()
    assert c._lock.acquire(False)
    try:
        with pytest.raises(RuntimeError, match="another thread"):
            c.update(np.ones((2, 2)))
    finally:
        c._lock.release()


def test_forged_words_give_an_error_or_a_usable_state() -> None:
    """Every 8-byte word of a state (header, NaN counts, node payloads, raw
    edges) set to extreme values under a valid checksum: a ValueError, or a
    state whose results, merges and updates run (never a crash)."""
    rng = np.random.default_rng(13)
    x = rng.normal(size=(1200, 2))
    x[700, 0] = np.nan
    raw = ps.CoMoments(5).update(x).to_bytes()
    extremes = [("<q", 0), ("<q", -1), ("<q", 2 ** 62), ("<q", 1), ("<d", np.inf),
                ("<d", -np.inf), ("<d", np.nan), ("<d", -1e300), ("<d", 1e-300)]
    refused = accepted = 0
    words = list(range(8, 8 * 64, 8))                    # header, NaN counts, the nodes
    words += sorted(8 * rng.choice(np.arange(64, len(raw) // 8 - 1), 40, replace=False))
    for off in words:                                     # ... and some raw-edge words
        for fmt, val in extremes:
            try:
                c = ps.CoMoments.from_bytes(_forge(raw, off, fmt, val))
            except ValueError:
                refused += 1
                continue
            accepted += 1
            with np.errstate(all="ignore"):
                c.cov(nan_policy="omit")
                c.corr()
                c.update(x[:3])
                c.copy().merge(ps.CoMoments(c.stop).update(x[:600]))
    assert refused > 0 and accepted > 0
