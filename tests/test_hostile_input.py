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
