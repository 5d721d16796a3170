import pickle

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import given, settings
from hypothesis import strategies as st
from pystream.testing import (assert_chunk_invariant, assert_matches_reference,
                              check_bad_inputs, run_stage)

from pystream_signal import SosFilt, SosfiltState


def ref(sos, zi=None):
    return lambda x: ss.sosfilt(sos, x, axis=0, zi=zi)[0] if zi is not None else ss.sosfilt(sos, x, axis=0)


def test_matches_scipy_exactly(sos, rng):
    x = rng.normal(size=300)
    stage = SosFilt(sos)
    assert_matches_reference(stage, x, ref(sos))  # rtol = atol = 0: bit for bit
    assert_chunk_invariant(stage, x)


def test_record_streams(sos, rng):
    x = rng.normal(size=(200, 3))
    assert_matches_reference(SosFilt(sos), x, ref(sos))
    x = rng.normal(size=(120, 2, 2))
    assert_matches_reference(SosFilt(sos), x, ref(sos))


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.int64, np.uint8, np.bool_])
def test_dtypes_like_scipy(dtype, rng):
    sos = ss.butter(4, 0.2, output="sos")
    x = (rng.normal(size=(150, 3)) * 10).astype(dtype)
    stage = SosFilt(sos)
    want = ss.sosfilt(sos, x, axis=0)
    assert stage.output_meta(x.dtype, (3,)) == (want.dtype, (3,))
    assert_matches_reference(stage, x, ref(sos))


def test_float32_coefficients_stay_float32(rng):
    sos = ss.butter(4, 0.2, output="sos").astype(np.float32)
    x = rng.normal(size=100).astype(np.float32)
    stage = SosFilt(sos)
    assert stage.output_meta(x.dtype, ())[0] == np.float32
    assert_matches_reference(stage, x, ref(sos))


def test_nan_propagates_like_scipy(sos, rng):
    x = rng.normal(size=(100, 2))
    x[40, 0] = np.nan
    x[70, 1] = np.inf
    want = ss.sosfilt(sos, x, axis=0)
    assert np.isnan(want[40:, 0]).all() and not np.isnan(want[:40]).any()
    assert_matches_reference(SosFilt(sos), x, ref(sos))


def test_initial_state(rng):
    sos = ss.butter(4, 0.1, output="sos")
    x = rng.normal(size=(80, 3)) + 5
    zi = ss.sosfilt_zi(sos)[:, :, None] * x[0]           # steady state for each column
    assert_matches_reference(SosFilt(sos, zi=zi), x, ref(sos, zi))
    zi1 = ss.sosfilt_zi(sos)                              # (n_sections, 2): broadcast to columns
    assert_matches_reference(SosFilt(sos, zi=zi1[:, :, None]), x,
                             ref(sos, np.broadcast_to(zi1[:, :, None], (len(sos), 2, 3))))
    assert_matches_reference(SosFilt(sos, zi=zi1), x[:, 0], ref(sos, zi1))


def test_bad_inputs(sos):
    check_bad_inputs(SosFilt(sos))


def test_checkpoint_resume_bit_identical(sos, rng):
    x = rng.normal(size=(257, 3))
    want = ss.sosfilt(sos, x, axis=0)
    for cut in (0, 1, 100, 256):
        a = SosFilt(sos).state((3,))
        first = a.update(x[:cut])
        b = SosfiltState.from_bytes(a.to_bytes())
        assert b.position == cut
        second = b.update(x[cut:])
        assert np.array_equal(np.concatenate([first, second]), want)
        c = pickle.loads(pickle.dumps(SosFilt(sos).state((3,))))
        assert np.array_equal(c.update(x), want)


def test_corrupt_bytes_raise(rng):
    sos = ss.butter(4, 0.2, output="sos")
    s = SosFilt(sos).state(())
    s.update(rng.normal(size=10))
    data = s.to_bytes()
    for i in range(0, len(data), max(1, len(data) // 40)):
        bad = bytearray(data)
        bad[i] ^= 0x40
        with pytest.raises(ValueError):
            SosfiltState.from_bytes(bytes(bad))
    for bad in (b"", data[:10], data[:-1], data + b"x", b"garbage" * 10):
        with pytest.raises(ValueError):
            SosfiltState.from_bytes(bad)
    with pytest.raises(TypeError):
        SosfiltState.from_bytes(3.5)


def test_state_record_shape_checked():
    s = SosFilt(ss.butter(2, 0.2, output="sos")).state((3,))
    with pytest.raises(ValueError, match="sosfilt"):
        s.update(np.zeros((4, 2)))


@pytest.mark.parametrize("bad, exc", [
    (np.zeros((2, 5)), ValueError),
    (np.zeros((0, 6)), ValueError),
    (np.ones((1, 6)) * np.array([1, 0, 0, 2, 0, 0]), ValueError),   # a0 != 1
    (np.array([[1, 0, 0, 1, np.nan, 0]]), ValueError),
    (np.zeros((1, 6), complex), TypeError),
    ("abc", TypeError),
    (np.zeros((2, 2, 6)), ValueError),
])
def test_bad_sos(bad, exc):
    with pytest.raises(exc, match="^sosfilt"):
        SosFilt(bad)


def test_bad_zi():
    sos = ss.butter(4, 0.2, output="sos")
    with pytest.raises(ValueError, match="^sosfilt"):
        SosFilt(sos, zi=np.zeros((3, 2)))
    with pytest.raises(TypeError, match="^sosfilt"):
        SosFilt(sos, zi=np.zeros((2, 2), complex))
    stage = SosFilt(sos, zi=np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match="^sosfilt"):
        run_stage(stage, np.zeros((5, 3)))


def test_stops_early_closes_upstream():
    closed = []

    def gen():
        try:
            for _ in range(10):
                yield np.ones(4)
        finally:
            closed.append(True)

    it = SosFilt(ss.butter(2, 0.2, output="sos"))(gen())
    next(it)
    it.close()
    assert closed == [True]


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(0, 40), min_size=1, max_size=20),
       order=st.integers(1, 8), width=st.integers(1, 3))
def test_random_chunkings_hypothesis(sizes, order, width):
    sos = ss.butter(order, 0.25, output="sos")
    n = sum(sizes)
    x = np.random.default_rng(n).normal(size=(n, width))
    got = run_stage(SosFilt(sos), x, sizes)
    if n == 0:  # scipy.signal.sosfilt cannot filter an empty array; the stream yields nothing
        assert got.shape == (0, width)
        return
    assert np.array_equal(got, ss.sosfilt(sos, x, axis=0))
