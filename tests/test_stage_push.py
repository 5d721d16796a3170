"""The push form of every built-in stage (``stage.push(...)``, :mod:`pystream.stages.pushers`).

Pushing the records in any chunking (1-record and empty chunks included)
gives the pull form's output bit for bit; with ``nan_policy="raise"`` the
same records come out before the same error; ``take`` is ``done`` after its
records and its pull form stops pulling upstream; an empty stream gives
nothing; and every built-in stage has a ``push`` taking its pull call's
arguments.
"""

from __future__ import annotations

import inspect
import itertools
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import pystream as ps
from pystream.plugins import get_registry
from pystream.stages.pushers import Pusher, drive
from pystream.stages.registry import BUILTIN_STAGES
from pystream.stages.structural import rechunk, skip, take

from stage_helpers import assert_bits_equal

# np.diff of inf - inf: numpy's own warning, in pull and push alike
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in subtract:RuntimeWarning")

STRUCTURAL = {"take": take, "skip": skip, "rechunk": rechunk}
N = 601  # prime: incomplete last blocks and windows


# ------------------------------------------------------------------------ data


def _floats(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Normal values with ties, signed zeros, NaNs (both signs) and infs."""
    x = rng.normal(size=shape) * 10
    x[rng.random(shape) < 0.1] = 0.0
    x[rng.random(shape) < 0.05] = -0.0
    x[rng.random(shape) < 0.05] = 3.0
    specials = np.array([np.nan, -np.nan, np.inf, -np.inf])
    mask = rng.random(shape) < 0.03
    x[mask] = rng.choice(specials, size=int(mask.sum()))
    return x.astype(dtype)


def make(kind: str, rs: tuple[int, ...] = (), seed: int = 0, n: int = N) -> np.ndarray:
    """Test data of `kind`: f8 / f4 (with NaN and inf), f8fin (finite), i8 (full
    range), i8small (-100..100), i8unit (mostly +-1: exact products fit), u1, bool."""
    rng = np.random.default_rng(seed)
    shape = (n, *rs)
    if kind in ("f8", "f4"):
        return _floats(rng, shape, "float64" if kind == "f8" else "float32")
    if kind == "f8fin":
        return rng.normal(size=shape)
    if kind == "i8":
        return rng.integers(-(2**62), 2**62, size=shape, dtype=np.int64)
    if kind == "i8small":
        return rng.integers(-100, 101, size=shape, dtype=np.int64)
    if kind == "i8unit":
        return rng.choice(np.array([1, -1, 1, 2], dtype=np.int64), p=[0.5, 0.45, 0.0, 0.05],
                          size=shape)
    if kind == "u1":
        return rng.integers(0, 256, size=shape, dtype=np.uint8)
    if kind == "bool":
        return rng.random(shape) < 0.5
    raise ValueError(kind)


def chunkings(x: np.ndarray, seed: int) -> list[np.ndarray]:
    """`x` cut in random pieces: empty and 1-record chunks always among them."""
    rng = np.random.default_rng(seed)
    sizes = (0, 1, 1, 2, 3, 5, 8, 31, 64, 200)
    pieces = [x[:0], x[:1]]
    i = 1
    while i < len(x):
        k = int(rng.choice(sizes))
        pieces.append(x[i : i + k])
        i += k
    pieces.insert(int(rng.integers(1, len(pieces) + 1)), x[:0])
    return pieces


def ones(x: np.ndarray) -> list[np.ndarray]:
    """One record per chunk, an empty chunk between every two."""
    out = []
    for i in range(len(x)):
        out += [x[i : i + 1], x[i:i]]
    return out


# ---------------------------------------------------------------------- stages

# (stage name, kwargs of the Stream method, data kind, record shape)
CASES: list[tuple[str, dict[str, Any], str, tuple[int, ...]]] = [
    ("moving_sum", {"window": 5, "min_count": 2}, "f8", ()),
    ("moving_sum", {"window": 3, "nan_policy": "propagate"}, "i8small", (3,)),
    ("moving_mean", {"window": 100}, "f8", ()),
    ("moving_mean", {"window": 7, "nan_policy": "propagate"}, "f4", (3,)),
    ("moving_var", {"window": 10, "ddof": 1}, "f8", ()),
    ("moving_std", {"window": 3, "min_count": 1}, "f8", (3,)),
    ("moving_min", {"window": 4}, "i8small", ()),
    ("moving_min", {"window": 9, "min_count": 3}, "f4", ()),
    ("moving_max", {"window": 6, "nan_policy": "propagate"}, "f8", ()),
    ("moving_argmin", {"window": 5}, "f8", ()),
    ("moving_argmax", {"window": 5, "min_count": 2}, "f4", (3,)),
    ("moving_median", {"window": 6, "min_count": 1}, "f8", ()),
    ("moving_quantile", {"window": 9, "q": 0.3}, "f8", (3,)),
    ("moving_rank", {"window": 6}, "f8", ()),
    ("moving_cov", {"window": 5, "min_count": 2}, "f8", (2,)),
    ("moving_cov", {"window": 7, "nan_policy": "propagate", "ddof": 0}, "f4", (3,)),
    ("moving_corr", {"window": 6}, "f8", (2,)),
    ("moving_corr", {"window": 3, "min_count": 1}, "i8small", (4,)),
    ("moving_beta", {"window": 5, "y": 0, "x": 1}, "f8", (2,)),
    ("moving_ols", {"window": 8, "y": 2, "min_count": 4}, "f8", (3,)),
    ("moving_ols", {"window": 5, "y": 0, "intercept": False}, "f4", (2,)),
    ("cumsum", {}, "f8", ()),
    ("cumsum", {"nan_policy": "omit"}, "f4", (3,)),
    ("cumsum", {}, "i8small", ()),
    ("cumsum", {}, "i8small", (3,)),
    ("cumsum", {}, "bool", ()),
    ("cumsum", {}, "u1", ()),
    ("cumprod", {"nan_policy": "omit"}, "f8", ()),
    ("cumprod", {}, "i8unit", ()),
    ("cumprod", {}, "i8unit", (3,)),
    ("cummean", {"nan_policy": "omit"}, "f8", (3,)),
    ("cummean", {}, "i8small", ()),
    ("cumvar", {"ddof": 1}, "f8", ()),
    ("cumvar", {"ddof": 1, "nan_policy": "omit"}, "f8", ()),
    ("cumstd", {}, "f4", ()),
    ("cummin", {}, "f8", ()),
    ("cummin", {"nan_policy": "omit"}, "f8", (3,)),
    ("cummin", {}, "u1", ()),
    ("cummax", {"nan_policy": "omit"}, "f4", ()),
    ("cummax", {}, "i8", (3,)),
    ("cummax", {}, "bool", ()),
    ("cumcount", {}, "f8", ()),
    ("cumcount", {"nan_policy": "propagate"}, "f4", (3,)),
    ("cumcount", {}, "i8", ()),
    ("diff", {}, "f8", ()),
    ("diff", {"n": 2}, "i8", ()),
    ("diff", {"n": 0}, "f8", ()),
    ("diff", {"n": 3}, "f4", (3,)),
    ("diff", {"n": 1}, "bool", ()),
    ("diff", {"n": 40}, "u1", ()),
    ("ewm_mean", {"alpha": 0.3}, "f8", ()),
    ("ewm_mean", {"com": 2.0, "adjust": False, "ignore_na": True}, "f4", (3,)),
    ("ewm_var", {"span": 5, "adjust": False}, "f8", (3,)),
    ("ewm_std", {"halflife": 4, "ignore_na": True, "min_periods": 3, "bias": True}, "f8", ()),
    ("ewm_cov", {"span": 5, "adjust": False}, "f8", (2,)),
    ("ewm_cov", {"alpha": 0.3, "min_periods": 3, "bias": True}, "f4", (3,)),
    ("ewm_corr", {"com": 2.0, "ignore_na": True}, "f8", (3,)),
    ("ewm_corr", {"halflife": 4}, "i8", (2,)),
    ("nwise", {"n": 3}, "f8", ()),
    ("nwise", {"n": 1}, "i8", (3,)),
    ("nwise", {"n": 50}, "f4", ()),
    ("sliding_window", {"n": 4, "step": 3}, "f8", ()),
    ("sliding_window", {"n": 3, "step": 7}, "f4", (3,)),
    ("sliding_window", {"n": 5, "step": 5}, "bool", ()),
    ("tumbling", {"n": 4}, "f8", ()),
    ("tumbling", {"n": 1}, "f8", ()),
    ("tumbling", {"n": 7}, "i8", (3,)),
    ("resample", {"n": 4, "how": "mean"}, "f8", ()),
    ("resample", {"n": 5, "how": "sum", "nan_policy": "omit"}, "f8", (3,)),
    ("resample", {"n": 3, "how": "sum", "partial": False}, "f4", ()),
    ("resample", {"n": 4, "how": "max"}, "f8", ()),
    ("resample", {"n": 6, "how": "min", "nan_policy": "omit"}, "f8", (3,)),
    ("resample", {"n": 3, "how": "max", "nan_policy": "omit"}, "f4", ()),
    ("resample", {"n": 5, "how": "first"}, "f8", ()),
    ("resample", {"n": 5, "how": "last", "partial": False}, "i8", ()),
    ("resample", {"n": 7, "how": "max"}, "i8", (3,)),
    ("resample", {"n": 2, "how": "min"}, "bool", ()),
    ("resample", {"n": 1, "how": "max"}, "f8", ()),
    ("take", {"n": 0}, "f8", ()),
    ("take", {"n": 1}, "f8", ()),
    ("take", {"n": 250}, "i8", (3,)),
    ("take", {"n": 10**9}, "f4", ()),
    ("skip", {"n": 0}, "f8", ()),
    ("skip", {"n": 3}, "f8", ()),
    ("skip", {"n": 250}, "i8", (3,)),
    ("skip", {"n": 10**9}, "f4", ()),
    ("rechunk", {"size": 1}, "f8", ()),
    ("rechunk", {"size": 7}, "f8", (3,)),
    ("rechunk", {"size": 64}, "i8", ()),
    ("rechunk", {"size": 1000}, "f4", ()),
]


def _case_id(case: tuple[str, dict[str, Any], str, tuple[int, ...]]) -> str:
    name, kw, kind, rs = case
    args = ",".join(f"{k}={v}" for k, v in kw.items())
    return f"{name}({args})-{kind}{list(rs) if rs else ''}"


def stage_object(name: str, kwargs: dict[str, Any]) -> Any:
    """The stage object the Stream method `name` pipes (built by the registry's factory)."""
    return get_registry().stages[name].factory(**kwargs)


def pusher(name: str, kwargs: dict[str, Any], start: int = 0) -> Pusher:
    if name in STRUCTURAL:
        return STRUCTURAL[name].push(**kwargs)
    return stage_object(name, kwargs).push(start=start)


def pulled(x: np.ndarray, name: str, kwargs: dict[str, Any], chunk_size: int) -> np.ndarray:
    return getattr(ps.from_array(x, chunk_size=chunk_size), name)(**kwargs).to_array()


def push_all(p: Pusher, pieces: list[np.ndarray], dtype: np.dtype | None = None,
             rs: tuple[int, ...] | None = None) -> list[np.ndarray]:
    """Send every piece (stopping when done), then close; check each output chunk."""
    outs: list[np.ndarray] = []
    for piece in pieces:
        got = p.send(piece)
        assert isinstance(got, list)
        outs += got
        assert p.error is None
        if p.done:
            break
    outs += p.close()
    for c in outs:
        assert len(c) > 0
        if dtype is not None:
            assert c.dtype == dtype and c.shape[1:] == rs
    return outs


def joined(outs: list[np.ndarray], like: np.ndarray) -> np.ndarray:
    """The output chunks as one array (`like`'s dtype and record shape if there are none)."""
    return np.concatenate(outs) if outs else np.empty((0, *like.shape[1:]), like.dtype)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_push_equals_pull(case: tuple[str, dict[str, Any], str, tuple[int, ...]]) -> None:
    name, kwargs, kind, rs = case
    x = make(kind, rs, seed=len(CASES) + CASES.index(case))
    ref = pulled(x, name, kwargs, 13)
    assert_bits_equal(pulled(x, name, kwargs, 4096), ref)
    for pieces in (chunkings(x, 1), chunkings(x, 2), ones(x), [x]):
        outs = push_all(pusher(name, kwargs), pieces, ref.dtype, ref.shape[1:])
        assert_bits_equal(joined(outs, ref), ref)
        if name == "rechunk":
            assert all(len(c) == kwargs["size"] for c in outs[:-1])
            assert len(outs) == -(-len(x) // kwargs["size"])


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_pull_form_drives_the_pusher(case: tuple[str, dict[str, Any], str, tuple[int, ...]]) -> None:
    """The pull call on random pieces (empty ones included) equals the Stream's output."""
    name, kwargs, kind, rs = case
    x = make(kind, rs, seed=CASES.index(case))
    ref = pulled(x, name, kwargs, 64)
    if name in STRUCTURAL:
        it = STRUCTURAL[name](iter(chunkings(x, 3)), **kwargs)
    else:
        it = stage_object(name, kwargs)(iter(chunkings(x, 3)), start=0)
    outs = [c.copy() for c in it]
    assert all(len(c) for c in outs)
    assert_bits_equal(joined(outs, ref), ref)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_empty_stream(case: tuple[str, dict[str, Any], str, tuple[int, ...]]) -> None:
    name, kwargs, kind, rs = case
    x = make(kind, rs)[:0]
    ref = pulled(x, name, kwargs, 13)
    assert len(ref) == 0
    assert pusher(name, kwargs).close() == []
    p = pusher(name, kwargs)
    assert p.send(x) == [] and p.send(x) == []
    assert p.close() == []


# ----------------------------------------------------------- nan_policy="raise"

# (stage name, kwargs, data kind, record shape): finite data, NaNs put in below.
RAISE_CASES: list[tuple[str, dict[str, Any], str, tuple[int, ...]]] = [
    ("moving_mean", {"window": 5, "nan_policy": "raise"}, "f8fin", ()),
    ("moving_median", {"window": 4, "nan_policy": "raise"}, "f8fin", (3,)),
    ("moving_max", {"window": 4, "nan_policy": "raise"}, "f4", ()),
    ("moving_corr", {"window": 4, "nan_policy": "raise"}, "f8fin", (2,)),
    ("moving_ols", {"window": 4, "y": 1, "nan_policy": "raise"}, "f8fin", (3,)),
    ("cumsum", {"nan_policy": "raise"}, "f8fin", ()),
    ("cummean", {"nan_policy": "raise"}, "f8fin", (3,)),
    ("cumstd", {"nan_policy": "raise"}, "f4", ()),
    ("cummin", {"nan_policy": "raise"}, "f8fin", ()),
    ("cummax", {"nan_policy": "raise"}, "f4", (3,)),
    ("cumcount", {"nan_policy": "raise"}, "f8fin", ()),
    ("cumcount", {"nan_policy": "raise"}, "f4", (3,)),
    ("resample", {"n": 4, "how": "max", "nan_policy": "raise"}, "f8fin", ()),
    ("resample", {"n": 3, "how": "min", "nan_policy": "raise"}, "f8fin", (3,)),
    ("resample", {"n": 4, "how": "mean", "nan_policy": "raise"}, "f8fin", ()),
    ("resample", {"n": 5, "how": "sum", "nan_policy": "raise"}, "f4", (3,)),
]


def _raise_data(kind: str, rs: tuple[int, ...], bad: int) -> np.ndarray:
    x = make(kind, rs, seed=bad)
    x = np.where(np.isnan(x), 1.5, x).astype(x.dtype)  # f4 data holds NaNs: remove them
    x.reshape(len(x), -1)[bad, -1] = np.nan
    x.reshape(len(x), -1)[bad + 50, 0] = np.nan
    return x


def _pull_until_error(stream: ps.Stream) -> tuple[list[np.ndarray], BaseException]:
    outs: list[np.ndarray] = []
    with pytest.raises(Exception) as info:
        for c in stream:
            outs.append(c.copy())
    return outs, info.value


@pytest.mark.parametrize("bad", [0, 1, 237])
@pytest.mark.parametrize("case", RAISE_CASES, ids=_case_id)
def test_raise_gives_the_same_records_then_the_same_error(
        case: tuple[str, dict[str, Any], str, tuple[int, ...]], bad: int) -> None:
    name, kwargs, kind, rs = case
    x = _raise_data(kind, rs, bad)
    for start in (0, 1000):
        pieces = chunkings(x, bad)
        stream = ps.Stream(lambda: iter(pieces), x.dtype, rs, start=start)
        piped = getattr(stream, name)(**kwargs)
        want, err = _pull_until_error(piped)
        assert type(err) is ValueError and f"NaN at record {start + bad}" in str(err)
        ref = joined(want, np.empty((0, *piped.record_shape), piped.dtype))
        for seed in (5, 6):
            p = pusher(name, kwargs, start=start)
            outs: list[np.ndarray] = []
            for piece in chunkings(x, seed):
                outs += p.send(piece)
                if p.done:
                    break
            assert p.done and isinstance(p.error, ValueError)
            assert str(p.error) == str(err)
            assert all(len(c) for c in outs)
            assert_bits_equal(joined(outs, ref), ref)
            # the pull form on the same pieces
            got: list[np.ndarray] = []
            with pytest.raises(ValueError) as info:
                for c in stage_object(name, kwargs)(iter(chunkings(x, seed)), start=start):
                    got.append(c.copy())
            assert str(info.value) == str(err)
            assert_bits_equal(joined(got, ref), ref)


def test_exact_cumsum_overflow_raises_from_send() -> None:
    x = np.array([2**62, 2**62, 1], dtype=np.int64)
    with pytest.raises(OverflowError) as pulled_err:
        ps.from_array(x).cumsum().to_array()
    p = pusher("cumsum", {})
    assert [c.tolist() for c in p.send(x[:1])] == [[2**62]]
    with pytest.raises(OverflowError) as pushed_err:
        p.send(x[1:])
    assert str(pushed_err.value) == str(pulled_err.value)
    assert "record 1" in str(pushed_err.value)


# ------------------------------------------------------------------------ take


class Upstream:
    """An endless iterator of 2-record chunks that counts its pulls and its close."""

    def __init__(self) -> None:
        self.pulled = 0
        self.closed = False
        self._values = itertools.count()

    def __iter__(self) -> Iterator[np.ndarray]:
        return self

    def __next__(self) -> np.ndarray:
        self.pulled += 1
        if self.pulled > 1000:  # a take that never stops fails instead of hanging
            raise RuntimeError("pulled 1000 chunks from an endless upstream")
        return np.array([next(self._values), next(self._values)])

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("n, pulls", [(0, 0), (1, 1), (4, 2), (5, 3)])
def test_take_stops_pulling_an_endless_upstream(n: int, pulls: int) -> None:
    up = Upstream()
    out = [c.tolist() for c in take(up, n)]
    assert sum(out, []) == list(range(n))
    assert up.pulled == pulls and up.closed


def test_take_is_done_after_n_records() -> None:
    p = take.push(5)
    assert not p.done
    assert [c.tolist() for c in p.send(np.arange(3))] == [[0, 1, 2]] and not p.done
    assert p.send(np.arange(0)) == [] and not p.done
    assert [c.tolist() for c in p.send(np.arange(10, 14))] == [[10, 11]] and p.done
    assert p.send(np.arange(4)) == [] and p.close() == []
    assert take.push(0).done
    p = take.push(2)
    assert [c.tolist() for c in p.send(np.arange(2))] == [[0, 1]] and p.done


def test_stream_take_of_endless_source_through_a_stage() -> None:
    def endless() -> Iterator[int]:
        for i in itertools.count():
            if i > 10_000:  # a take that never stops fails instead of hanging
                raise RuntimeError("pulled 10000 records from an endless source")
            yield i

    src = ps.from_iterable(endless(), "int64", chunk_size=3)
    assert src.cummax().take(7).to_array().tolist() == list(range(7))


@pytest.mark.parametrize("name, n, nonempty", [("take", 0, False), ("take", 1, False),
                                              ("take", 137, True), ("skip", 0, True),
                                              ("skip", 137, True)])
def test_passthrough_is_a_promise_send_keeps(name: str, n: int, nonempty: bool) -> None:
    """A chunk `passthrough` covers comes out of send unchanged and only lowers it."""
    x = make("f8", (), seed=9)
    p = pusher(name, {"n": n})
    covered = []
    for piece in chunkings(x, 4):
        budget = p.passthrough
        outs = p.send(piece)
        if len(piece) <= budget:
            covered.append(len(piece))
            assert outs == ([piece] if len(piece) else []) and (not outs or outs[0] is piece)
            assert p.passthrough == (budget if budget == sys.maxsize else budget - len(piece))
    assert covered.count(0) >= 2 and any(covered) == nonempty


# ----------------------------------------------------------------------- drive


def test_drive_closes_upstream_on_error_and_on_early_close() -> None:
    class Once:
        """Yields one chunk holding a NaN; records its close."""

        def __init__(self) -> None:
            self.closed = False
            self.chunks = iter([np.array([1.0, 2.0, np.nan, 4.0])])

        def __iter__(self) -> Once:
            return self

        def __next__(self) -> np.ndarray:
            return next(self.chunks)

        def close(self) -> None:
            self.closed = True

    up1 = Once()
    it = stage_object("cummax", {"nan_policy": "raise"})(up1, start=0)
    assert next(it).tolist() == [1.0, 2.0]
    assert not up1.closed
    with pytest.raises(ValueError, match="NaN at record 2"):
        next(it)
    assert up1.closed
    up2 = Upstream()
    it = drive(skip.push(1), up2)
    assert next(it).tolist() == [1]
    it.close()
    assert up2.closed and up2.pulled == 1


def test_drive_does_not_close_the_pusher_after_an_error() -> None:
    class Bad:
        done = False
        error: BaseException | None = None
        closed = False

        def send(self, chunk: np.ndarray) -> list[np.ndarray]:
            self.error = KeyError("bad record")
            self.done = True
            return [chunk[:1]]

        def close(self) -> list[np.ndarray]:
            self.closed = True
            return []

    p = Bad()
    it = drive(p, iter([np.arange(3), np.arange(3)]))
    assert next(it).tolist() == [0]
    with pytest.raises(KeyError, match="bad record"):
        next(it)
    assert not p.closed


def test_kernel_pusher_writes_into_alloc() -> None:
    bufs: list[np.ndarray] = []

    def alloc(nbytes: int) -> np.ndarray:
        bufs.append(np.empty(nbytes, np.uint8))
        return bufs[-1]

    p = stage_object("moving_mean", {"window": 2}).push(start=0, alloc=alloc)
    (out,) = p.send(np.arange(4.0))
    assert len(bufs) == 1 and np.shares_memory(out, bufs[0])
    assert out.tolist()[1:] == [0.5, 1.5, 2.5]


# -------------------------------------------------------------------- meta-tests


def test_every_builtin_stage_has_cases() -> None:
    # the stages that read the time column have a push form over times, tested in
    # tests/test_time_push.py and tests/test_time_stages.py
    timed = {name for name, row in BUILTIN_STAGES.items() if row.needs_time}
    assert (set(BUILTIN_STAGES) - timed) | set(STRUCTURAL) == {c[0] for c in CASES}
    # every stage class with a NaN check is tested with nan_policy="raise"
    checking = {type(stage_object(name, kw)) for name, kw, _, _ in CASES
                if name not in STRUCTURAL and not name.startswith("ewm")
                and hasattr(stage_object(name, kw), "nan_policy")}
    assert checking <= {type(stage_object(name, kw)) for name, kw, _, _ in RAISE_CASES}
    assert len(checking) >= 7


def _extra_parameters(fn: Any) -> list[tuple[str, Any, Any]]:
    params = list(inspect.signature(fn).parameters.values())
    return [(p.name, p.kind, p.default) for p in params]


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_push_takes_the_pull_calls_arguments(case: tuple[str, dict[str, Any], str, tuple[int, ...]]) -> None:
    """``stage.push(*args, **kwargs)`` for ``stage(chunks, *args, **kwargs)``."""
    name, kwargs = case[0], case[1]
    if name in STRUCTURAL:
        fn = STRUCTURAL[name]
        pull = _extra_parameters(fn)
        assert pull[0][0] == "chunks"
        assert _extra_parameters(fn.push) == pull[1:]
        return
    stage = stage_object(name, kwargs)
    assert callable(getattr(stage, "push", None)), f"{name}: {type(stage).__name__} has no push"
    pull = _extra_parameters(stage.__call__)
    assert pull[0][0] == "chunks"
    assert _extra_parameters(stage.push) == pull[1:]
    p = stage.push(start=0)
    assert isinstance(p, Pusher)
    assert p.done is False and p.error is None
