"""The time and key columns travel with the records (issue 18).

Every built-in stage, and every stage the chain runs itself, is checked here
against an oracle written out per stage (which input record labels output
``j``), on random data and random chunkings: times and keys come out the
same whatever the cut.  The oracle is this file's table, not the stages'
``rows()``, so a stage that declares the wrong row map fails.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import pystream as ps
from pystream.stages.registry import BUILTIN_STAGES

# name -> (call, label) where label(n_in, n_out) gives the input index of each output
# (as written in the stage's docs: windows and scans keep their own record; diff the
# later one; blocks their first (tumbling, resample) or last (nwise, sliding_window)).
Label = Callable[[int, int], np.ndarray]


def own(n_in: int, n_out: int) -> np.ndarray:
    assert n_in == n_out
    return np.arange(n_out)


def offset(k: int) -> Label:
    return lambda n_in, n_out: np.arange(n_out) + k


def blocks(step: int, first: int) -> Label:
    return lambda n_in, n_out: np.arange(n_out) * step + first


def label_of(name: str, sample: dict) -> Label:
    if name.startswith(("moving_", "cum", "ewm_")):
        return own
    if name == "diff":
        return offset(sample["n"])
    if name in ("tumbling", "resample"):
        return blocks(sample["n"], 0)
    if name == "nwise":
        return blocks(1, sample["n"] - 1)
    if name == "sliding_window":
        return blocks(sample.get("step", 1), sample["n"] - 1)
    raise AssertionError(f"no oracle for the stage {name!r}: add one to this table")


def chunkings(n: int, rng: np.random.Generator) -> list[int]:
    return [1, 3, 7, n or 1, int(rng.integers(1, 50))]


def collect(s: ps.Stream) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    bs = list(s.batches())
    if not bs:
        return np.empty(0), None, None
    v = np.concatenate([b.values for b in bs])
    t = None if bs[0].time is None else np.concatenate([b.time for b in bs])
    k = None if bs[0].key is None else np.concatenate([b.key for b in bs])
    return v, t, k


def table(n: int, seed: int, rs: tuple[int, ...] = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *rs))
    x[rng.random(n) < 0.1] = np.nan
    t = np.cumsum(rng.integers(1, 10**9, n)).astype("datetime64[ns]")
    keys = np.array(["AA", "UA", "DL", "B6"])[rng.integers(0, 4, n)]
    return x, t, keys


@pytest.mark.parametrize("name", sorted(BUILTIN_STAGES))
@pytest.mark.parametrize("n", [0, 1, 5, 123])
def test_every_stage_moves_time_and_key_by_its_label(name: str, n: int) -> None:
    row = BUILTIN_STAGES[name]
    if row.needs_time:
        pytest.skip("a stage that reads the time column labels its outputs itself "
                    "(tests/test_time_stages.py checks those labels against pandas)")
    x, t, keys = table(n, n + 17, (row.min_columns,) if row.min_columns > 1 else ())
    want_v = np.asarray(row.twin(x.reshape(n, -1), **row.sample)) if n else None
    label = label_of(name, row.sample)
    seen = []
    for cs in chunkings(n, np.random.default_rng(n)):
        s = ps.from_array(x, chunk_size=cs, time=t, key=keys)
        v, tt, kk = collect(getattr(s, name)(**row.sample))
        idx = label(n, len(v))
        assert tt is not None and kk is not None or len(v) == 0
        if len(v):
            np.testing.assert_array_equal(tt.astype(np.int64), t.astype(np.int64)[idx])
            assert s.key_column.decode(kk).tolist() == keys[idx].tolist()
        if want_v is not None and len(v):
            # the values themselves are checked bit for bit in test_stage_registry
            np.testing.assert_allclose(v, np.asarray(want_v).reshape(v.shape), rtol=1e-12)
        seen.append((v.tobytes(), None if tt is None else tt.tobytes(),
                     None if kk is None else kk.tobytes()))
    assert len(set(seen)) == 1, f"{name}: the chunking changed the output"


def test_every_builtin_stage_declares_a_row_map() -> None:
    for name, row in BUILTIN_STAGES.items():
        if row.needs_time:      # labels its outputs itself (tests/test_time_stages.py)
            continue
        stage = row.build(**row.sample)
        rows = stage.rows()
        assert isinstance(rows, ps.RowMap), name


@pytest.mark.parametrize("seed", range(5))
def test_chain_stages_move_time_and_key(seed: int) -> None:
    n = 200
    x, t, keys = table(n, seed, (3,))
    ti = t.astype(np.int64)
    rng = np.random.default_rng(seed)
    for cs in (1, 8, 64, 200):
        s = ps.from_array(x, chunk_size=cs, columns=["a", "b", "c"], time=t, key=keys)
        # filter: the same rows as the values
        keep = ~np.isnan(x[:, 0]) & (x[:, 0] > 0)
        v, tt, kk = collect(s.filter(lambda c: ~np.isnan(c[:, 0]) & (c[:, 0] > 0)))
        np.testing.assert_array_equal(v, x[keep])
        np.testing.assert_array_equal(tt.astype(np.int64), ti[keep])
        assert s.key_column.decode(kk).tolist() == keys[keep].tolist()
        # take / skip / rechunk slice them; map, astype, select keep them
        for st, sl in [(s.take(17), slice(0, 17)), (s.skip(31), slice(31, None)),
                       (s.rechunk(9), slice(None)), (s.map(np.abs), slice(None)),
                       (s.astype(np.float32), slice(None)), (s.select("b"), slice(None)),
                       (s.skip(5).take(50).rechunk(7), slice(5, 55))]:
            v, tt, kk = collect(st)
            np.testing.assert_array_equal(tt.astype(np.int64), ti[sl])
            assert s.key_column.decode(kk).tolist() == keys[sl].tolist()
        # a chain of stages: each one's map composed
        k = int(rng.integers(2, 6))
        v, tt, kk = collect(s.select(["a", "c"]).skip(3).moving_mean(4).diff(1).resample(k))
        idx = 3 + 1 + np.arange(len(v)) * k
        np.testing.assert_array_equal(tt.astype(np.int64), ti[idx])


def test_names_follow_select_and_shape() -> None:
    s = ps.from_array(np.zeros((5, 3)), columns=["a", "b", "c"])
    assert s.select(["c", "a"]).columns == ("c", "a")
    assert s.select(slice(1, None)).columns == ("b", "c")
    assert s.select("b").columns == ("b",)
    assert s.select("b").record_shape == ()
    assert s.cumsum().columns == ("a", "b", "c")
    assert s.tumbling(2).columns is None
    assert s.map(lambda c: c[:, :2]).columns is None
    with pytest.raises(ValueError, match="3 column names for records of 2"):
        ps.from_array(np.zeros((5, 2)), columns=["a", "b", "c"])
    with pytest.raises(ValueError, match="appears twice"):
        ps.from_array(np.zeros((5, 2)), columns=["a", "a"])
    with pytest.raises(TypeError, match="non-empty strings"):
        ps.from_array(np.zeros((5, 2)), columns=["a", 3])


def test_a_stage_without_a_row_map_drops_time_and_key() -> None:
    s = ps.from_array(np.arange(6.0), columns=["x"], time=np.arange(6), key=np.arange(6) % 2)
    p = s.pipe(lambda chunks: (c * 2 for c in chunks))
    assert p.time_column is None and p.key_column is None
    assert p.columns == ("x",)
    b = next(p.batches())
    assert b.time is None and b.key is None


class _Declared:
    name = "declared"

    def __init__(self, rows: object) -> None:
        self._rows = rows

    def rows(self) -> object:
        return self._rows

    def output_meta(self, dtype: np.dtype, rs: tuple[int, ...]) -> tuple[np.dtype, tuple[int, ...]]:
        return dtype, rs

    def __call__(self, chunks, start=0):  # every other record
        parity = start % 2
        for c in chunks:
            out = c[parity::2]
            parity = (parity + len(c)) % 2
            yield out


def test_a_plugin_stage_declares_its_row_map() -> None:
    s = ps.from_array(np.arange(10.0), chunk_size=3, time=np.arange(10) * 10)
    b = list(s._add_stage(_Declared(ps.RowMap(2, 0))).batches())
    assert np.concatenate([x.time for x in b]).tolist() == [0, 20, 40, 60, 80]
    with pytest.raises(TypeError, match="rows\\(\\) must return a pystream.RowMap"):
        s._add_stage(_Declared((2, 0)))
    with pytest.raises(TypeError, match="step >= 1"):
        s._add_stage(_Declared(ps.RowMap(0, 0)))


def test_time_and_key_inputs_are_checked() -> None:
    x = np.zeros(3)
    with pytest.raises(ValueError, match="one time per record"):
        ps.from_array(x, time=np.arange(4))
    with pytest.raises(ValueError, match="NaT .* at record 1"):
        ps.from_array(x, time=np.array(["2020-01-01", "NaT", "2020-01-02"], "datetime64[D]"))
    with pytest.raises(ValueError, match="NaN at record 2"):
        ps.from_array(x, time=[0.0, 1.0, np.nan])
    with pytest.raises(TypeError, match="datetime64 or real numbers"):
        ps.from_array(x, time=["a", "b", "c"])
    with pytest.raises(OverflowError, match="range"):
        ps.from_array(x, time=np.array(["1000-01-01", "2000-01-01", "3000-01-01"], "datetime64[D]"))
    with pytest.raises(ValueError, match="one key per record"):
        ps.from_array(x, key=[1, 2])
    with pytest.raises(TypeError, match="integers or strings"):
        ps.from_array(x, key=[0.5, 1.5, 2.5])
    with pytest.raises(OverflowError, match="int64"):
        ps.from_array(x, key=np.array([0, 1, 2**64 - 1], np.uint64))


def test_time_units_are_nanoseconds_utc() -> None:
    days = np.array(["1970-01-02", "2024-02-29"], "datetime64[D]")
    b = next(ps.from_array(np.zeros(2), time=days).batches())
    assert b.time.dtype == np.dtype("datetime64[ns]")
    assert b.time.astype(np.int64).tolist() == [86400 * 10**9, days[1].astype("datetime64[ns]").astype(np.int64)]
    # numeric times stay numeric
    b = next(ps.from_array(np.zeros(2), time=np.array([0.5, 1.5], np.float32)).batches())
    assert b.time.dtype == np.float32


def test_key_dictionary_codes_are_first_seen_and_chunk_invariant() -> None:
    keys = np.array(["b", "a", "b", "c", "a"])
    d = ps.KeyDictionary()
    assert d.encode(keys[:2]).tolist() == [0, 1]
    assert d.encode(keys[2:]).tolist() == [0, 2, 1]
    assert d.keys == ("b", "a", "c")
    whole = ps.KeyDictionary()
    assert whole.encode(keys).tolist() == [0, 1, 0, 2, 1]
    # dictionary-encoded input: first occurrence in the indices, not the values' order
    e = ps.KeyDictionary()
    assert e.encode_indexed(["z", "y", None], np.array([1, 2, 0, 1, -1])).tolist() == [0, -1, 1, 0, -1]
    assert e.keys == ("y", "z")
    with pytest.raises(ValueError, match="key codes must be in"):
        e.decode(np.array([5]))
    assert d.decode(np.array([], np.int64)).tolist() == []
    # byte strings and objects with None
    assert ps.KeyDictionary().encode(np.array([b"x", b"y", b"x"])).tolist() == [0, 1, 0]
    assert ps.KeyDictionary().encode(np.array(["x", None], dtype=object)).tolist() == [0, -1]


def test_batches_report_global_starts() -> None:
    s = ps.from_array(np.arange(10.0), chunk_size=4, time=np.arange(10))
    assert [b.start for b in s.skip(2).batches()] == [0, 2, 6]
    assert [b.start for b in s.batches()] == [0, 4, 8]


def test_filter_errors_name_the_stage_in_column_mode() -> None:
    s = ps.from_array(np.arange(10.0), chunk_size=4, time=np.arange(10))

    def bad(c: np.ndarray) -> np.ndarray:
        if c[0] >= 4:
            raise RuntimeError("boom")
        return c > 1

    with pytest.raises(RuntimeError) as e:
        list(s.filter(bad).batches())
    assert "global records [4, 8)" in "".join(e.value.__notes__)


class _DropsRecords(_Declared):
    def __call__(self, chunks, start=0):  # declares RowMap() but drops the first record
        first = True
        for c in chunks:
            yield c[1:] if first else c
            first = False


class _Duplicates(_Declared):
    def __call__(self, chunks, start=0):
        for c in chunks:
            yield np.concatenate([c, c])


def test_a_stage_that_breaks_its_row_map_is_named() -> None:
    s = ps.from_array(np.arange(10.0), chunk_size=4, time=np.arange(10))
    with pytest.raises(ValueError, match="'declared' declares RowMap.* gives 10 output records "
                                         "for its 10 input records, but it gave 9"):
        list(s._add_stage(_DropsRecords(ps.RowMap())).batches())
    with pytest.raises(RuntimeError, match="'declared': a stage emitted records before reading"):
        list(s._add_stage(_Duplicates(ps.RowMap())).batches())
    # the values alone are not checked against a row map (iteration never reads it)
    assert len(s._add_stage(_DropsRecords(ps.RowMap())).to_array()) == 9
    # an early stop downstream (take) is not a broken row map
    b = list(s.moving_mean(3).take(4).batches())
    assert np.concatenate([x.time for x in b]).tolist() == [0, 1, 2, 3]
