"""Push mode with times (issue 19): records out of order within the allowed
lateness are placed in order, results equal the pull run over the sorted
records bit for bit, and late records go to a callback or raise -- never vanish."""

from __future__ import annotations

import numpy as np
import pytest

import pystream as ps

NS = np.dtype("datetime64[ns]")


def shuffled(n: int, lateness_s: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Values and times (ns) arriving out of order by at most `lateness_s` seconds."""
    rng = np.random.default_rng(seed)
    t = (np.cumsum(rng.exponential(0.5, n)) * 1e9).astype(np.int64)
    t[rng.random(n) < 0.05] = t[0]                   # some repeated times ...
    t = np.sort(t)
    arrival = t + (rng.random(n) * lateness_s * 1e9).astype(np.int64)
    order = np.argsort(arrival, kind="stable")
    return rng.normal(size=n)[order], t[order].view(NS)


def pull_sorted(p: ps.Pipeline, x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(t, kind="stable")
    out = list(p(ps.from_array(x[order], time=t[order])).batches())
    return np.concatenate([b.values for b in out]), np.concatenate([b.time for b in out])


PIPES = {
    "window": ps.pipeline().moving_mean("3s"),
    "median": ps.pipeline().map(np.abs).moving_median("2s", closed="left"),
    "bins": ps.pipeline().resample("5s", how=["mean", "count"]),
    "session": ps.pipeline().session("1s", how="sum"),
    "ewm": ps.pipeline().ewm_std(halflife="2s"),
    "scan": ps.pipeline().cumsum(),
}


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", sorted(PIPES))
def test_records_within_the_lateness_give_the_sorted_pull_run(name, seed):
    x, t = shuffled(3000, lateness_s=2.0, seed=seed)
    p = PIPES[name]
    sink = p.push(time=True, allowed_lateness="2s")
    rng = np.random.default_rng(seed)
    outs, lo = [], 0
    while lo < len(x):
        hi = lo + int(rng.integers(0, 50))
        outs.append(sink.send(x[lo:hi], time=t[lo:hi]))
        lo = hi
    outs.append(sink.close())
    want_v, want_t = pull_sorted(p, x, t)
    got_v = np.concatenate([b.values for b in outs])
    got_t = np.concatenate([b.time for b in outs])
    assert got_v.tobytes() == want_v.tobytes()
    assert got_t.tobytes() == want_t.tobytes()
    assert sink.late_records == 0


def test_outputs_wait_for_the_watermark():
    sink = ps.pipeline().moving_sum("10s").push(time=True, allowed_lateness="5s")
    t = np.array([0, 3, 8], dtype="datetime64[s]")
    first = sink.send(np.array([1.0, 2.0, 4.0]), time=t)
    assert first.values.tolist() == [1.0, 3.0]             # watermark 3 s: 8 s waits
    assert sink.watermark == np.datetime64(3, "s").astype(NS).view(np.int64)
    second = sink.send(np.array([8.0]), time=np.array([4], dtype="datetime64[s]"))
    assert second.values.tolist() == []                     # 4 s > watermark: held
    rest = sink.close()                                     # 4 s, then 8 s, in time order
    assert rest.values.tolist() == [11.0, 15.0]
    assert rest.time.astype("datetime64[s]").astype(int).tolist() == [4, 8]


def test_late_records_go_to_the_callback_or_raise():
    seen = []
    sink = ps.pipeline().cumsum().push(time=True, allowed_lateness="1s",
                                       late=lambda v, t: seen.append((v.copy(), t.copy())))
    t = np.array([0, 5, 10], dtype="datetime64[s]")
    sink.send(np.array([1.0, 2.0, 3.0]), time=t)             # watermark 9 s
    out = sink.send(np.array([10.0, 20.0]), time=np.array([2, 9], dtype="datetime64[s]"))
    assert [v.tolist() for v, _ in seen] == [[10.0]]
    assert seen[0][1].astype("datetime64[s]").tolist()[0].second == 2
    assert sink.late_records == 1
    assert out.values.tolist() == [23.0]                     # 20 at 9 s, after 1, 2 (0 s, 5 s)
    assert sink.close().values.tolist() == [26.0]            # 3 at 10 s

    strict = ps.pipeline().cumsum().push(time=True, allowed_lateness="1s")
    strict.send(np.array([1.0, 2.0]), time=np.array([0, 10], dtype="datetime64[s]"))
    with pytest.raises(ps.LateRecords, match="later than allowed_lateness") as info:
        strict.send(np.array([5.0, 6.0]), time=np.array([9, 3], dtype="datetime64[s]"))
    assert info.value.values.tolist() == [6.0]
    # nothing of the refused send was taken: the sink goes on
    assert strict.send(np.array([5.0]), time=np.array([9], dtype="datetime64[s]")).values \
        .tolist() == [6.0]
    assert strict.close().values.tolist() == [8.0]


def test_numeric_times_and_errors():
    sink = ps.pipeline().moving_sum(ps.duration(2.0)).push(time="float64", allowed_lateness=1.0)
    out = sink.send(np.array([1.0, 2.0, 3.0]), time=np.array([0.0, 1.5, 1.0]))
    rest = sink.close()
    assert np.concatenate([out.values, rest.values]).tolist() == [1.0, 4.0, 6.0]
    with pytest.raises(TypeError, match="times sent are"):
        ps.pipeline().cumsum().push(time="float64").send([1.0], time=np.array(["2024-01-01"],
                                                                               dtype="M8[D]"))
    with pytest.raises(ValueError, match=r"pipeline.push\(time=True\)"):
        ps.pipeline().moving_mean("5s").push().send(np.ones(3))
    with pytest.raises(TypeError, match="need time="):
        ps.pipeline().cumsum().push(allowed_lateness="1s")
    with pytest.raises(ValueError, match="one time per record"):
        ps.pipeline().cumsum().push(time=True).send(np.ones(3), time=np.zeros(2, dtype=NS))
    with pytest.raises(TypeError, match="drops the time column"):
        ps.pipeline().pipe(lambda chunks: chunks).push(time=True).send(
            np.ones(2), time=np.zeros(2, dtype=NS))


def test_a_failing_stage_aborts_the_sink():
    sink = ps.pipeline().moving_mean("5s", nan_policy="raise").push(time=True)
    with pytest.raises(ValueError, match="NaN at record 1"):
        sink.send(np.array([1.0, np.nan]), time=np.array([0, 1], dtype="datetime64[s]"))
    with pytest.raises(ps.PushError):
        sink.send(np.array([1.0]), time=np.array([2], dtype="datetime64[s]"))


def test_lateness_does_not_depend_on_how_records_are_batched():
    t = np.array([0, 100, 5, 95, 120], dtype="datetime64[s]")
    x = np.arange(5.0)
    got = []
    for cuts in ([5], [1, 4], [2, 3], [1, 1, 1, 1, 1]):
        late: list[float] = []
        sink = ps.pipeline().cumsum().push(time=True, allowed_lateness="10s",
                                           late=lambda v, tt: late.extend(v.tolist()))
        out, lo = [], 0
        for c in cuts:
            out.append(sink.send(x[lo:lo + c], time=t[lo:lo + c]).values)
            lo += c
        out.append(sink.close().values)
        got.append((late, np.concatenate(out).tolist()))
    # 5 s arrives 95 s behind the newest time before it (100 s): late in every batching
    assert all(g == ([2.0], [0.0, 3.0, 4.0, 8.0]) for g in got), got
