"""The keyed C core (csrc/keyed.c) through pystream.keyed.kernels: key map,
grouping, keyed moments and keyed stages, each compared bit for bit with
the unkeyed states fed one key's records alone, and with pandas / polars.

Speed figures: ``benchmarks/bench_keyed.py`` (timings live in the benchmarks, not the tests).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from pystream import Moments
from pystream._native import ffi, lib
from pystream.keyed.kernels import KeyedMomentsState, KeyedStageState, KeyLimitError, as_keys
from pystream.stages.kernel import StageState

I64 = np.iinfo(np.int64)
FIELDS = ("count", "nan_count", "sum", "mean", "m2", "min", "max", "isum_hi", "isum_lo",
          "imin", "imax")


def moments_fields(m: Moments) -> dict[str, np.ndarray]:
    """The raw ps_moments_result fields of an unkeyed state."""
    d = int(lib.ps_moments_width(m._state))
    arrays = {f: np.empty(d, np.uint64 if f == "isum_lo" else
                          (np.int64 if f in ("count", "nan_count", "isum_hi", "imin", "imax")
                           else np.float64)) for f in FIELDS}
    out = ffi.new("ps_moments_out *")
    for name, arr in arrays.items():
        setattr(out, name, ffi.cast(ffi.typeof(getattr(out, name)), arr.ctypes.data))
    lib.ps_moments_result(m._state, out)
    return arrays


def bits(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a.view(np.int64) if a.dtype == np.float64 else a


def check_against_unkeyed(state: KeyedMomentsState, x: np.ndarray, keys: np.ndarray) -> None:
    """Every key's fields equal a Moments fed that key's records, bit for bit."""
    got = state.results()
    ks = state.keys()
    _, first = np.unique(keys, return_index=True)
    assert ks.tolist() == keys[np.sort(first)].tolist()  # first-seen order
    fn = state.first_nan()
    for i, key in enumerate(ks.tolist()):
        ref = Moments().update(x[keys == key])
        want = moments_fields(ref)
        for f in FIELDS:
            np.testing.assert_array_equal(bits(got[f][i].reshape(-1)), bits(want[f]), err_msg=f)
        assert fn[i] == (-1 if ref.first_nan is None else ref.first_nan)


def feed(state: KeyedMomentsState, x: np.ndarray, keys: np.ndarray, rng) -> None:
    a = 0
    while a < len(x):
        n = int(rng.integers(0, 600))
        state.update(x[a:a + n], keys[a:a + n])
        a += n


def random_data(rng, n: int, nkeys: int, kind: str = "f8", width: tuple = ()):
    keys = rng.integers(0, nkeys, n) * 7919 - 3
    if kind == "f8":
        x = rng.standard_normal((n, *width)) * 100
        flat = x.reshape(-1)
        for v in (np.nan, np.inf, -np.inf):
            flat[rng.integers(0, flat.size, max(1, flat.size // 200))] = v
    elif kind == "f4":
        x = (rng.standard_normal((n, *width)) * 100).astype(np.float32)
        x.reshape(-1)[rng.integers(0, x.size, 5)] = np.nan
    else:  # int64 near overflow
        x = rng.integers(I64.max - 1000, I64.max, (n, *width), dtype=np.int64)
        x[::3] = rng.integers(I64.min, I64.min + 1000, x[::3].shape, dtype=np.int64)
    return x, keys


# -- key map and grouping ---------------------------------------------------

def test_keymap_special_keys_and_limit():
    keys = np.array([0, I64.min, I64.max, -1, 0, I64.max, 5], dtype=np.int64)
    s = KeyedMomentsState().update(np.arange(7.0), keys)
    assert s.keys().tolist() == [0, I64.min, I64.max, -1, 5]
    lim = KeyedMomentsState(max_keys=2).update(np.ones(2), np.array([4, 9]))
    before = lim.to_bytes()
    with pytest.raises(KeyLimitError) as e:
        lim.update(np.ones(4), np.array([4, 9, 4, 11]))
    assert (e.value.row, e.value.key, e.value.limit) == (3, 11, 2)
    assert "row 3" in str(e.value) and "max_keys=2" in str(e.value)
    assert lim.to_bytes() == before


def test_keymap_encode_direct():
    rng = np.random.default_rng(1)
    m = ffi.new("ps_keymap **")
    assert lib.ps_keymap_new(m) == 0
    km = ffi.gc(m[0], lib.ps_keymap_free)
    model: dict[int, int] = {}
    for _ in range(50):
        keys = rng.choice(np.array([I64.min, I64.max, 0, -1, *range(-300, 300)]), 200)
        ids = np.empty(200, np.int64)
        assert lib.ps_keymap_encode(km, ffi.from_buffer("int64_t[]", keys), 200, -1,
                                    ffi.from_buffer("int64_t[]", ids), ffi.NULL) == 0
        for k, i in zip(keys.tolist(), ids.tolist()):
            assert model.setdefault(k, len(model)) == i
    assert lib.ps_keymap_size(km) == len(model) == lib.ps_keymap_capacity(km)
    for k in list(model)[::2]:
        assert lib.ps_keymap_remove(km, k) == 0
    for k, i in model.items():
        assert lib.ps_keymap_find(km, k) == (-1 if list(model).index(k) % 2 == 0 else i)


@pytest.mark.parametrize("nslots", [1, 3, 1000])
def test_group_rows_matches_stable_argsort(nslots):
    rng = np.random.default_rng(nslots)
    for n in (0, 1, 17, 5000):
        ids = rng.integers(0, nslots, n).astype(np.int64)
        scratch = np.zeros(nslots, np.int64)
        order, slots, off = (np.empty(n, np.int64), np.empty(n, np.int64),
                             np.empty(n + 1, np.int64))
        nseg = ffi.new("int64_t *")
        p = lambda a: ffi.from_buffer("int64_t[]", a)  # noqa: E731
        assert lib.ps_group_rows(p(ids), n, nslots, p(scratch), p(order), p(slots), p(off),
                                 nseg) == 0
        _, first = np.unique(ids, return_index=True)
        seen = ids[np.sort(first)]  # slots in order of first appearance
        assert slots[:nseg[0]].tolist() == seen.tolist()
        rank = np.empty(nslots, np.int64)
        rank[seen] = np.arange(len(seen))
        assert order.tolist() == np.argsort(rank[ids], kind="stable").tolist()
        assert off[:nseg[0] + 1].tolist() == [0, *np.cumsum(np.bincount(rank[ids]))[:len(seen)]]
        assert not scratch.any()


# -- keyed moments ----------------------------------------------------------

@pytest.mark.parametrize("nkeys", [1, 7, 1000])
@pytest.mark.parametrize("kind,width", [("f8", ()), ("f4", ()), ("i8", ()), ("f8", (3,)),
                                         ("f8", (2, 2))])
def test_keyed_moments_equal_unkeyed(nkeys, kind, width):
    rng = np.random.default_rng(nkeys + len(width))
    x, keys = random_data(rng, 6000, nkeys, kind, width)
    s = KeyedMomentsState()
    feed(s, x, keys, rng)
    check_against_unkeyed(s, x, keys)


def test_keyed_moments_edge_cases():
    empty = KeyedMomentsState().update(np.zeros(0), np.zeros(0, np.int64))
    assert empty.nkeys == 0 and empty.keys().size == 0
    assert empty.results()["count"].shape == (0,)
    for x in (np.array([np.nan]), np.full(5, np.nan), np.array([2.5]), np.ones(3000),
              np.array([1.0, np.inf, -np.inf, np.nan])):
        keys = np.arange(len(x)) % 2
        s = KeyedMomentsState().update(x, keys)
        check_against_unkeyed(s, x, keys)


def test_keyed_moments_input_layouts():
    rng = np.random.default_rng(5)
    x, keys = random_data(rng, 3000, 13, "f8", (3,))
    strided = np.asfortranarray(x)[::1]
    swapped = x.astype(">f8")
    ro = x.copy()
    ro.flags.writeable = False
    ref = KeyedMomentsState().update(x, keys).to_bytes()
    for variant in (strided, swapped, ro, x[::-1][::-1]):
        assert KeyedMomentsState().update(variant, keys.astype(">i4")).to_bytes() == ref
    s = KeyedMomentsState().update(x[::2], keys[::2])  # strided records and keys
    check_against_unkeyed(s, x[::2], keys[::2])


def test_keyed_moments_bad_input():
    s = KeyedMomentsState().update(np.ones(2), [1, 2])
    with pytest.raises(ValueError, match="3 keys for 2 records"):
        s.update(np.ones(2), [1, 2, 3])
    with pytest.raises(TypeError, match="integers"):
        s.update(np.ones(2), np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="dtype"):
        s.update(np.ones(2, np.int32), [1, 2])
    with pytest.raises(ValueError, match="record shape"):
        s.update(np.ones((2, 2)), [1, 2])
    with pytest.raises(ValueError, match="does not fit int64"):
        as_keys(np.array([2**63], np.uint64), 1, "k")
    big = KeyedMomentsState().preset([1], [I64.max - 3000])  # key 1's index would overflow
    before = big.update(np.ones(2), [7, 7]).to_bytes()
    with pytest.raises(OverflowError, match="key 1 .row 2 of the chunk"):
        big.update(np.ones(4000), np.r_[7, 7, np.ones(3998, np.int64)])
    assert big.to_bytes() == before  # refused before any key changed
    with pytest.raises(ValueError, match="already has records"):
        s.preset([1], [5])


@pytest.mark.parametrize("cuts", [[2500], [700, 2222, 4000], [0, 5000]])
def test_merge_of_partitions_with_presets_is_serial(cuts):
    rng = np.random.default_rng(len(cuts))
    x, keys = random_data(rng, 6000, 50)
    serial = KeyedMomentsState().update(x, keys)
    bounds = [0, *cuts, len(x)]
    parts = []
    for a, b in zip(bounds, bounds[1:]):
        p = KeyedMomentsState()
        seen, counts = np.unique(keys[:a], return_counts=True)
        order = np.argsort([np.argmax(keys == k) for k in seen], kind="stable")
        p.preset(seen[order], counts[order])  # every earlier key, in first-seen order
        feed(p, x[a:b], keys[a:b], rng)
        parts.append(p)
    # a tree merge: ((p0 + p1) + (p2 + ...))
    while len(parts) > 1:
        nxt = []
        for i in range(0, len(parts), 2):
            nxt.append(parts[i].merge(parts[i + 1]) if i + 1 < len(parts) else parts[i])
        parts = nxt
    assert parts[0].to_bytes() == serial.to_bytes()
    check_against_unkeyed(parts[0], x, keys)


def test_merge_refuses_gaps_and_mismatch():
    a = KeyedMomentsState().update(np.ones(3), [1, 1, 2])
    b = KeyedMomentsState().update(np.ones(2), [1, 3])
    with pytest.raises(ValueError, match="key 1 is not adjacent"):
        a.merge(b)
    c = KeyedMomentsState().update(np.ones(2, np.float32), [5, 6])
    with pytest.raises(TypeError):
        a.merge(c)
    lim = KeyedMomentsState(max_keys=2).update(np.ones(2), [1, 2])
    with pytest.raises(KeyLimitError, match="key 9 would be key number 3") as e:
        lim.merge(KeyedMomentsState().update(np.ones(1), [9]))
    assert e.value.row == -1 and lim.keys().tolist() == [1, 2]  # unchanged


def test_pickle_round_trip_continues_bit_for_bit():
    rng = np.random.default_rng(9)
    x, keys = random_data(rng, 5000, 40, "f8", (2,))
    whole = KeyedMomentsState().update(x, keys)
    half = KeyedMomentsState().update(x[:2100], keys[:2100])
    again = pickle.loads(pickle.dumps(half)).update(x[2100:], keys[2100:])
    assert again.to_bytes() == whole.to_bytes()
    copied = half.copy().update(x[2100:], keys[2100:])
    assert copied.to_bytes() == whole.to_bytes()
    assert half.nkeys <= 40 and half.nbytes > 0


def test_corrupt_bytes_raise():
    rng = np.random.default_rng(3)
    x, keys = random_data(rng, 300, 5)
    data = bytearray(KeyedMomentsState().update(x, keys).to_bytes())
    for i in range(0, len(data), 5):
        bad = bytearray(data)
        bad[i] ^= 0x10
        with pytest.raises(ValueError):
            KeyedMomentsState.from_bytes(bad)
    for cut in range(0, len(data), 97):
        with pytest.raises(ValueError):
            KeyedMomentsState.from_bytes(data[:cut])
    with pytest.raises(TypeError):
        KeyedMomentsState.from_bytes(12)


def test_keyed_moments_against_pandas():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(11)
    x = rng.standard_normal(20000) * 10 + 3
    keys = rng.integers(0, 300, 20000)
    s = KeyedMomentsState().update(x, keys)
    r = s.results()
    g = pd.DataFrame({"k": keys, "x": x}).groupby("k", sort=False)["x"]
    want = g.agg(["count", "sum", "mean", "var", "min", "max"]).loc[s.keys()]
    np.testing.assert_array_equal(r["count"], want["count"])
    np.testing.assert_allclose(r["sum"], want["sum"], rtol=1e-12)
    np.testing.assert_allclose(r["mean"], want["mean"], rtol=1e-12)
    np.testing.assert_allclose(r["m2"] / (r["count"] - 1), want["var"], rtol=1e-10)
    np.testing.assert_array_equal(r["min"], want["min"])
    np.testing.assert_array_equal(r["max"], want["max"])


# -- keyed stages -----------------------------------------------------------

STAGES = [("moving_mean", dict(window=3, min_count=1)),
          ("moving_mean", dict(window=100, min_count=1)),
          ("moving_std", dict(window=3, min_count=2, ddof=1)),
          ("moving_std", dict(window=100, min_count=1, ddof=1)),
          ("moving_max", dict(window=3, min_count=1)),
          ("moving_max", dict(window=100, min_count=1)),
          ("moving_median", dict(window=3, min_count=1)),
          ("moving_median", dict(window=100, min_count=1)),
          ("cumsum", {}),
          ("ewm_mean", dict(alpha=0.2, adjust=1, min_count=0))]


def stage_reference(name, params, rs, x, keys, evicted_at=None):
    """Each key's own StageState over its records (a fresh one after eviction)."""
    out = np.empty((len(x), *rs))
    states: dict[int, StageState] = {}
    for i, k in enumerate(keys.tolist()):
        if evicted_at is not None and i == evicted_at[0]:
            for e in evicted_at[1]:
                states.pop(e, None)
        st = states.setdefault(k, StageState(name, rs, **params))
        out[i] = st.update(x[i:i + 1])[0]
    return out


@pytest.mark.parametrize("name,params", STAGES)
@pytest.mark.parametrize("rs", [(), (2,)])
def test_keyed_stage_equals_unkeyed(name, params, rs):
    rng = np.random.default_rng(len(name) + len(rs))
    n = 1500
    x = rng.standard_normal((n, *rs))
    x.reshape(-1)[rng.integers(0, x.size, 40)] = np.nan
    x.reshape(-1)[rng.integers(0, x.size, 5)] = np.inf
    keys = rng.integers(0, 9, n) - 4
    s = KeyedStageState(name, rs, **params)
    got, a, cut = [], 0, 700
    while a < n:
        b = min(n, a + int(rng.integers(1, 300)), cut if a < cut else n)
        got.append(s.update(x[a:b], keys[a:b]))
        if b == cut:  # checkpoint and evict two keys half-way
            s = pickle.loads(pickle.dumps(s)).evict([-4, 3, 1000])
        a = b
    want = stage_reference(name, params, rs, x, keys, (cut, (-4, 3)))
    np.testing.assert_array_equal(bits(np.concatenate(got)), bits(want))


def test_keyed_stage_evict_reuse_and_limit():
    s = KeyedStageState("cumsum", max_keys=2)
    s.update(np.ones(3), [10, 20, 10])
    with pytest.raises(KeyLimitError) as e:
        s.update(np.ones(2), [10, 30])
    assert e.value.row == 1
    assert s.keys().tolist() == [10, 20] and s.positions().tolist() == [2, 1]
    s.evict([10, 99])  # an absent key is ignored
    assert s.keys().tolist() == [20]
    assert s.update(np.ones(1), [30]).tolist() == [1.0]
    assert s.keys().tolist() == [30, 20]  # 30 took 10's freed slot
    with pytest.raises(KeyLimitError):
        s.update(np.ones(1), [10])
    s.evict(np.array([20]))
    assert s.update(np.full(2, 2.0), [10, 30]).tolist() == [2.0, 3.0]  # 10 starts afresh
    assert s.keys().tolist() == [30, 10] and s.positions().tolist() == [2, 1]


def test_keyed_stage_refusals_and_corrupt_bytes():
    with pytest.raises(ValueError, match="resample"):
        KeyedStageState("resample_sum", window=3)
    with pytest.raises(ValueError):
        KeyedStageState("moving_mean", window=0, min_count=1)
    s = KeyedStageState("moving_mean", (2,), window=5, min_count=1)
    s.update(np.ones((40, 2)), np.arange(40) % 3)
    with pytest.raises(ValueError, match="shape"):
        s.update(np.ones((2, 3)), [1, 2])
    data = bytearray(s.to_bytes())
    for i in range(0, len(data), 7):
        bad = bytearray(data)
        bad[i] ^= 4
        with pytest.raises(ValueError):
            KeyedStageState.from_bytes(bad, (2,))
    with pytest.raises(ValueError, match="record shape"):
        KeyedStageState.from_bytes(data, (3,))
    assert KeyedStageState.from_bytes(data, (2,)).record_shape == (2,)


def test_keyed_stage_against_polars():
    pl = pytest.importorskip("polars")
    rng = np.random.default_rng(2)
    x = rng.standard_normal(20000)
    keys = rng.integers(0, 50, 20000)
    got = KeyedStageState("moving_mean", window=100, min_count=100).update(x, keys)
    want = pl.DataFrame({"x": x, "k": keys}).select(
        pl.col("x").rolling_mean(100).over("k"))["x"].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True)
