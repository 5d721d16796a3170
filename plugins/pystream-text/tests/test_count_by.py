"""count_by: against collections.Counter, mergeable, bytes round trip."""

from __future__ import annotations

import collections
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import pystream_text as pt
from pystream.testing import assert_reducer_mergeable
from _gen import access_log


def same_result(a, b) -> bool:
    return (np.array_equal(a.unique_keys, b.unique_keys, equal_nan=True) and np.array_equal(a.counts, b.counts)
            and ((a.sums is None and b.sums is None)
                 or np.array_equal(a.sums, b.sums, equal_nan=True)))


def run(data, chunk, **kw):
    s = pt.CountBy(**kw)
    for i in range(0, len(data), chunk):
        s.update(data[i:i + chunk])
    return s


@pytest.fixture(scope="module")
def parsed():
    lines = access_log(3000, seed=7, bad=0.1)
    return pt.from_log(lines, format="combined_latency", report=pt.ParseReport()).to_array()


def test_counts_equal_counter(parsed):
    want = collections.Counter(parsed[:, 0].tolist())
    for chunk in (1, 7, 100, len(parsed)):
        r = run(parsed, chunk, key=0).result()
        assert r == want and dict(r) == dict(want) and r.sums is None
        assert list(r.unique_keys) == sorted(want) and r.counts.sum() == len(parsed)


def test_sums_exact(parsed):
    r = run(parsed, 13, key=0, values=[1, 2]).result()
    for k, row in r.sums_dict().items():
        sel = parsed[parsed[:, 0] == k]
        assert row[0] == float(sum(int(v) for v in sel[:, 1]))
        assert np.isnan(row[1]) == bool(np.isnan(sel[:, 2]).any())
    from fractions import Fraction
    x = np.random.default_rng(0).normal(size=(500, 2)) * 10.0 ** np.random.default_rng(1).integers(-8, 8, (500, 2))
    x[:, 0] = np.round(np.abs(x[:, 0])) % 3
    r = run(x, 17, key=0, values=1).result()
    for k, row in r.sums_dict().items():
        assert row[0] == float(sum(Fraction(v) for v in x[x[:, 0] == k, 1]))


@pytest.mark.parametrize("values", [None, [1], [2, 1]])
def test_mergeable_any_split(parsed, values):
    n = len(parsed)
    for splits in ([], [0], [n], [1, 2], [n // 3, 2 * n // 3], [5, 5, 700, n - 1]):
        assert_reducer_mergeable(lambda: pt.CountBy(key=0, values=values), parsed, splits=splits,
                                 compare=same_result, chunk_size=11)


@settings(max_examples=50, deadline=None)
@given(data=st.lists(st.tuples(st.sampled_from([1.0, -0.0, 0.0, 2.0, np.nan, 3.0]),
                               st.floats(allow_nan=True, allow_infinity=True, width=64)),
                     min_size=0, max_size=60),
       cuts=st.lists(st.integers(0, 60), max_size=4), chunk=st.integers(1, 9))
def test_random_merge_bitwise(data, cuts, chunk):
    x = np.array(data, dtype=np.float64).reshape(-1, 2)
    serial = run(x, len(x) or 1, key=0, values=[1]).result()
    bounds = [0, *sorted(min(c, len(x)) for c in cuts), len(x)]
    parts = [run(x[a:b], chunk, key=0, values=[1]) for a, b in zip(bounds[:-1], bounds[1:])]
    m = parts[0]
    for p in parts[1:]:
        m.merge(pt.CountBy.from_bytes(p.to_bytes()))
    assert same_result(m.result(), serial)
    assert int(serial.counts.sum()) == len(x)
    assert len(serial.unique_keys) == len(set(np.where(np.isnan(x[:, 0]), -99, x[:, 0] + 0.0).tolist()))


def test_integer_and_scalar_streams():
    x = np.array([3, 1, 3, 3, 2**62, 2**62], dtype=np.int64)
    r = run(x, 2, key=0, values=0).result()
    assert dict(r) == {1: 1, 3: 3, 2**62: 2}
    assert r.sums.dtype == object and r.sums[-1, 0] == 2**63  # exact, beyond int64
    r = run(x[:4], 3, key=-1, values=[0]).result()
    assert r.sums.dtype == np.int64 and r.sums.ravel().tolist() == [1, 9]
    u = np.array([[2**64 - 1, 1]], dtype=np.uint64).repeat(3, axis=0)
    r = run(u, 1, key=1, values=0).result()
    assert r.sums[0, 0] == 3 * (2**64 - 1)


def test_bytes_round_trip_and_pickle(parsed):
    s = run(parsed, 50, key=0, values=[1, 2])
    for t in (pt.CountBy.from_bytes(s.to_bytes()), pickle.loads(pickle.dumps(s))):
        assert same_result(t.result(), s.result())
    e = pt.CountBy.from_bytes(pt.CountBy(key=2).to_bytes())
    assert e.key == 2 and len(e.result()) == 0
    assert same_result(e.merge(s.__class__.from_bytes(run(parsed, 9, key=2).to_bytes())).result(),
                       run(parsed, 9, key=2).result())


def test_corrupt_bytes_raise(parsed):
    b = run(parsed, 50, key=0, values=[1]).to_bytes()
    bad = [b"", b[:10], b[:-1], b + b"x", b"XXXXXXXX" + b[8:], b[:8] + b"\x09" + b[9:]]
    for i in range(8, len(b), max(1, len(b) // 40)):
        bad.append(b[:i] + bytes([b[i] ^ 0x5A]) + b[i + 1:])
    for data in bad:
        with pytest.raises(ValueError, match="count_by.from_bytes"):
            pt.CountBy.from_bytes(data)
    with pytest.raises(TypeError):
        pt.CountBy.from_bytes(3.5)


def test_forged_payload_rejected():
    import json, struct, zlib
    def frame(payload):
        body = json.dumps(payload).encode()
        return struct.pack("<8sHHII", b"PSTXCNTB", 1, 0, len(body), zlib.crc32(body)) + body
    good = {"key": 0, "values": [], "with_sums": False, "dtype": "<f8",
            "keys": np.array([2.0, 1.0]).tobytes().hex(), "counts": [1, 1], "acc": [[], []]}
    with pytest.raises(ValueError, match="sorted"):
        pt.CountBy.from_bytes(frame(good))
    for change in ({"counts": [1]}, {"dtype": "<c16"}, {"key": "a"}, {"acc": [[1], []]}, {"keys": "zz"}):
        with pytest.raises(ValueError):
            pt.CountBy.from_bytes(frame({**good, **change}))


@pytest.mark.parametrize("kwargs, exc", [
    ({"key": 1.5}, TypeError), ({"key": True}, TypeError), ({"key": "a"}, TypeError),
    ({"values": "ab"}, TypeError), ({"values": [1.0]}, TypeError), ({"values": []}, ValueError),
    ({"values": [1, 1]}, ValueError), ({"values": 2.0}, TypeError),
])
def test_bad_parameters(kwargs, exc):
    with pytest.raises(exc, match="count_by"):
        pt.CountBy(**kwargs)


def test_bad_chunks():
    with pytest.raises(ValueError, match="out of range"):
        pt.CountBy(key=3).update(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="out of range"):
        pt.CountBy(values=[5]).update(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="record shape"):
        pt.CountBy().update(np.zeros((2, 3, 4)))
    for bad in (np.zeros(3, complex), np.array(["a"]), np.zeros(2, object)):
        with pytest.raises(TypeError, match="count_by"):
            pt.CountBy().update(bad)
    s = pt.CountBy().update(np.zeros(2))
    with pytest.raises(TypeError, match="dtype"):
        s.update(np.zeros(2, np.int32))
    with pytest.raises(ValueError, match="parameters"):
        s.merge(pt.CountBy(values=0))
    assert pt.CountBy().update(np.zeros((0, 2))).result() == {}
    r = pt.CountBy().update(np.array([1.0, 2.0], dtype=">f8")).result()
    assert dict(r) == {1.0: 1, 2.0: 1}
