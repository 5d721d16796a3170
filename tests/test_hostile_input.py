"""Hostile input (issue 15): lying arrays, array-likes, 0-d and zero-size records,
plugin stages that break their promise, and user code that writes to its input."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pystream as ps
from pystream.sketches import DDSketch, Histogram, KLLSketch

# --------------------------------------------------------------------------- lying arrays

_LIAR = textwrap.dedent("""
    import numpy as np

    class Liar(np.ndarray):
        # Python-level attributes that lie about the buffer's geometry.
        @property
        def shape(self):
            return (10**9,)

        @property
        def strides(self):
            return (8 * 1024,)

        @property
        def __class__(self):
            return np.ndarray

        def reshape(self, *args, **kwargs):
            return self

        def view(self, *args, **kwargs):
            return self
""")


def test_an_array_whose_shape_and_strides_lie_is_read_from_its_buffer():
    # Before the fix every one of these read far past the 10 values: SIGSEGV.
    # A subprocess, so a crash fails the test instead of killing the run.
    code = _LIAR + textwrap.dedent("""
        import pystream as ps
        from pystream.sketches import DDSketch, Histogram, KLLSketch
        x = np.arange(10.0).view(Liar)
        print(ps.Moments().update(x).stop)
        print(DDSketch().update(x).count)
        print(KLLSketch().update(x).count)
        print(int(Histogram(5, range=(0, 10)).update(x).result().counts.sum()))
        print(len(ps.StageState("cumsum").update(x)))
        print(ps.from_array(x).sum())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["10", "10", "10", "10", "10", "45.0"]


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_np_matrix_counts_every_value():
    m = np.matrix(np.arange(1000.0))
    assert KLLSketch().update(m).count == 1000            # was 1
    assert DDSketch().update(m).count == 1000
    assert Histogram(4, range=(0, 1000)).update(m).result().counts.sum() == 1000
    assert ps.Moments().update(m).record_shape == (1000,)   # a matrix row is a record


# --------------------------------------------------------------------------- array-likes


@pytest.mark.parametrize("data", [[1.0, 2.0], (1.0, 2.0), bytearray(b"\x01\x02"),
                                  memoryview(np.array([1.0, 2.0]))])
def test_every_state_update_accepts_array_likes(data):
    expected = np.asarray(data).astype(np.float64)
    np.testing.assert_array_equal(ps.StageState("cumsum").update(data), np.cumsum(expected))
    assert ps.Moments().update(data).result().sum == expected.sum()
    assert DDSketch().update(data).count == 2
    assert KLLSketch().update(data).count == 2
    assert Histogram(2, range=(0, 2)).update(data).result().counts.sum() == 2


@pytest.mark.parametrize("data", [None, object(), (x for x in range(3)), [1.0, "a"], [[1.0], [2.0, 3.0]]])
def test_every_state_update_refuses_non_numbers_with_a_type_error(data):
    for state in (ps.StageState("cumsum"), ps.Moments(), DDSketch(), KLLSketch(),
                  Histogram(2, range=(0, 2))):
        with pytest.raises(TypeError, match=r"update|cumsum|chunk at record"):
            state.update(data)


def test_a_0d_array_is_one_scalar_record_for_every_state():
    for x in (np.float64(2.5), np.array(2.5), 2.5):
        assert ps.Moments().update(x).stop == 1
        np.testing.assert_array_equal(ps.StageState("cumsum").update(x), [2.5])
        assert DDSketch().update(x).count == 1
        assert KLLSketch().update(x).count == 1
        assert Histogram(2, range=(0, 5)).update(x).result().counts.sum() == 1
    with pytest.raises(ValueError, match="record shape"):
        ps.Moments().update(np.zeros((2, 3))).update(np.float64(1.0))


# --------------------------------------------------------------------------- zero-size records


@pytest.mark.parametrize("shape", [(0, 0), (5, 0), (0, 3, 0)])
@pytest.mark.parametrize("op", [
    lambda s: s.sum(), lambda s: s.mean(), lambda s: s.describe(),
    lambda s: s.moving_sum(2), lambda s: s.moving_median(3), lambda s: s.cumsum(),
    lambda s: s.cummean(), lambda s: s.ewm_mean(alpha=0.5),
    lambda s: s.quantile(0.5), lambda s: s.quantile([0.1, 0.9], method="relative"),
    lambda s: s.histogram(),
])
def test_zero_size_records_are_refused_whatever_the_record_count(shape, op):
    # moving_sum on zeros((0, 0)) gave an empty array while sum() raised.
    with pytest.raises(ValueError, match="hold no values"):
        out = op(ps.from_array(np.zeros(shape)))
        if isinstance(out, ps.Stream):
            out.to_array()


def test_zero_size_records_still_stream_through_structural_stages():
    s = ps.from_array(np.zeros((4, 0)))
    assert s.to_array().shape == (4, 0)
    assert s.take(2).to_array().shape == (2, 0)


# --------------------------------------------------------------------------- plugin stages


class _Declares:
    """A plugin-style stage that declares float64 records of the input's shape
    and yields what `make` makes of each input chunk from the `bad_from`-th on."""

    name = "liar"

    def __init__(self, make, bad_from=0, meta=None):
        self.make = make
        self.bad_from = bad_from
        self.meta = meta

    def output_meta(self, dtype, record_shape):
        return self.meta if self.meta is not None else (np.dtype(np.float64), tuple(record_shape))

    def __call__(self, chunks, start=0):
        for i, c in enumerate(chunks):
            yield self.make(c) if i >= self.bad_from else c.astype(np.float64)


class _DeclaresWithPush(_Declares):
    def push(self, start=0):
        stage = self

        class P:
            done, error, i = False, None, 0

            def send(self, chunk):
                self.i += 1
                return [stage.make(chunk) if self.i > stage.bad_from else chunk.astype(np.float64)]

            def close(self):
                return []

        return P()


_BROKEN = {
    "int32": (lambda c: c.astype(np.int32), TypeError, "dtype int32, but the stage declared float64"),
    "shape": (lambda c: np.stack([c, c], 1).astype(float), ValueError, r"records of shape \(2,\)"),
    "list": (lambda c: c.tolist(), TypeError, "is a list, not a numpy array"),
    "str": (lambda c: "abc", TypeError, "is a str, not a numpy array"),
    "None": (lambda c: None, TypeError, "is a NoneType, not a numpy array"),
    "scalar": (lambda c: np.float64(1.0), TypeError, "is a float64, not a numpy array"),
    "0-d": (lambda c: np.array(1.0), ValueError, "is 0-d"),
    "masked": (lambda c: np.ma.masked_array(c.astype(float)), TypeError, "masked"),
}


def _terminals(s):
    return {"to_array": s.to_array, "describe": s.describe, "sum": s.sum,
            "quantile": lambda: s.quantile(0.5, method="kll")}


@pytest.mark.parametrize("case", sorted(_BROKEN))
def test_a_plugin_stage_that_breaks_its_declaration_is_named(case):
    # describe() reported an int32 count for a declared float64 stream, lists
    # and None failed deep inside with AttributeError.
    make, exc, match = _BROKEN[case]
    x = np.arange(12.0)
    for name, run in _terminals(ps.from_array(x, chunk_size=4)._add_stage(_Declares(make, 1))).items():
        with pytest.raises(exc, match=rf"stage 'liar': its output chunk at global record 4 .*{match}"):
            run()


@pytest.mark.parametrize("case", sorted(_BROKEN))
def test_a_pipe_generator_that_breaks_its_declaration_is_named(case):
    make, exc, match = _BROKEN[case]

    def gen(chunks):
        for i, c in enumerate(chunks):
            yield make(c) if i else c.astype(np.float64)

    s = ps.from_array(np.arange(12.0), chunk_size=5).pipe(gen)
    for run in _terminals(s).values():
        with pytest.raises(exc, match=rf"stage 'gen': its output chunk at global record 5 .*{match}"):
            run()


def test_a_pipe_generator_may_declare_what_it_yields():
    def to_int(chunks):
        for c in chunks:
            yield c.astype(np.int32)

    s = ps.from_array(np.arange(6.0), chunk_size=4).pipe(to_int, dtype=np.int32)
    assert s.sum() == 15 and s.describe().dtype == np.int32
    with pytest.raises(TypeError, match="dtype int32, but the stage declared float64"):
        ps.from_array(np.arange(6.0)).pipe(to_int).describe()


@pytest.mark.parametrize("case", ["int32", "list", "shape"])
@pytest.mark.parametrize("cls", [_Declares, _DeclaresWithPush])
def test_push_mode_checks_plugin_stages_too(case, cls):
    make, exc, match = _BROKEN[case]
    sink = ps.pipeline()._add_stage(cls(make, 1)).push(dtype=np.float64)
    sink.send(np.arange(3.0))
    with pytest.raises(exc, match=rf"stage 'liar': its output chunk at global record 3 .*{match}"):
        sink.send(np.arange(3.0))


def test_the_threads_engine_checks_plugin_stages_too():
    make, exc, match = _BROKEN["int32"]
    s = ps.from_array(np.arange(4000.0), chunk_size=100)._add_stage(_Declares(make, 3))
    with pytest.raises(exc, match=match):
        s.sum(engine="threads", workers=2)


@pytest.mark.parametrize("meta,match", [
    (None, "output_meta must return"), ((None, ()), "dtype None"),
    ((np.float64, "x"), "record shape"), ((object, ()), "Python objects"),
])
def test_a_broken_output_meta_is_named_when_the_stage_is_added(meta, match):
    class Broken(_Declares):
        def output_meta(self, dtype, record_shape):
            return meta

    with pytest.raises(TypeError, match=rf"stage 'liar'.*{match}"):
        ps.from_array(np.arange(3.0))._add_stage(Broken(None))


def test_a_good_plugin_stage_passes_and_empty_chunks_are_dropped():
    def make(c):
        return c[:0].astype(np.float32)  # empty, even of another dtype: dropped

    out = ps.from_array(np.arange(10.0), chunk_size=3)._add_stage(_Declares(make, 2)).to_array()
    np.testing.assert_array_equal(out, np.arange(6.0))


def test_builtin_stages_are_not_wrapped():
    from pystream.stages.untrusted import CheckedStage

    s = ps.from_array(np.arange(5.0))
    assert not isinstance(s.moving_mean(2)._node.source.stage, CheckedStage)
    assert not isinstance(s.cumsum()._node.source.stage, CheckedStage)
    assert isinstance(s._add_stage(_Declares(None))._node.source.stage, CheckedStage)


# --------------------------------------------------------------------------- user code and user data


class _Mutates(_Declares):
    name = "mutates"

    def __call__(self, chunks, start=0):
        for c in chunks:
            c *= 2          # breaks the protocol: "leave its input alone"
            yield c


@pytest.mark.parametrize("make", [
    lambda x: ps.from_array(x, chunk_size=4),
    lambda x: ps.from_chunks([x[:4], x[4:]]),
])
def test_user_code_cannot_write_to_the_callers_array(make):
    x = np.arange(10.0)
    runs = [
        lambda s: s._add_stage(_Mutates(None)).to_array(),
        lambda s: s.pipe(_Mutates(None).__call__).to_array(),
        lambda s: s.map(lambda c: np.negative(c, out=c)).to_array(),
        lambda s: s.filter(lambda c: np.greater(c.sort(), 0)).to_array(),
        lambda s: s.to_callback(lambda c: c.fill(0)),
    ]
    for run in runs:
        with pytest.raises(ValueError, match="read-only"):
            run(make(x))
    np.testing.assert_array_equal(x, np.arange(10.0))  # was doubled through from_array
    assert x.flags.writeable                            # the caller's array is untouched


def test_pushed_chunks_are_read_only_for_the_stages():
    x = np.arange(4.0)
    sink = ps.pipeline().map(lambda c: np.negative(c, out=c)).push()
    with pytest.raises(ValueError, match="read-only"):
        sink.send(x)
    np.testing.assert_array_equal(x, np.arange(4.0))


def test_a_map_function_returning_a_lying_subclass_is_read_from_its_buffer():
    namespace: dict = {}
    exec(_LIAR, namespace)
    liar = namespace["Liar"]
    out = ps.from_array(np.arange(6.0), chunk_size=4).map(lambda c: (c * 2).view(liar))
    np.testing.assert_array_equal(out.to_array(), np.arange(6.0) * 2)
    assert out.sum() == 30.0
    kept = ps.from_array(np.arange(6.0)).filter(lambda c: (c > 2).view(liar)).to_array()
    np.testing.assert_array_equal(kept, [3.0, 4.0, 5.0])
