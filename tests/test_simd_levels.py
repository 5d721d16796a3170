"""Every SIMD level of the C kernels gives the same bits (``csrc/simd.h``).

The kernels are run at each level this build and CPU offer
(:func:`pystream.set_simd_level`), on data that takes the vector paths
(clean runs) and their fallbacks (NaN, inf, -0.0), with windows that are
and are not multiples of the 4 lanes, one- and two-value records and
random chunkings; the outputs must agree byte for byte with the portable
level's.  The C tests check the same across builds (-DPS_NO_AVX2,
-DPS_NO_SIMD: ``make ctest``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import numpy as np
import pytest

import pystream as ps

LEVELS = ps.SIMD_LEVELS[: ps.SIMD_LEVELS.index(ps.machine().simd_best) + 1]


@pytest.fixture(autouse=True)
def _restore_level() -> Iterator[None]:
    before = ps.simd_level()
    yield
    ps.set_simd_level(None if before == ps.machine().simd_best else before)


def _data(seed: int, n: int, width: int, kind: str) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(1e4, 100.0, size=(n, width) if width > 1 else n)
    flat = x.reshape(-1)
    if kind == "nan":
        flat[rng.integers(0, flat.size, 3)] = np.nan
        flat[rng.integers(0, flat.size, 2)] = np.inf
        flat[rng.integers(0, flat.size, 2)] = -0.0
    elif kind == "runs":
        flat[(np.arange(flat.size) // 37) % 4 == 1] = np.nan
    return x


def _chunked(x: np.ndarray, seed: int) -> ps.Stream:
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.integers(0, len(x) + 1, size=12))
    return ps.from_chunks([x[a:b] for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(x)])])


STAGES: dict[str, Callable[[ps.Stream, int], ps.Stream]] = {
    "moving_sum": lambda s, w: s.moving_sum(w, min_count=1),
    "moving_mean": lambda s, w: s.moving_mean(w),
    "moving_mean_omit": lambda s, w: s.moving_mean(w, min_count=max(1, w // 2), nan_policy="omit"),
    "moving_var": lambda s, w: s.moving_var(w, ddof=1, nan_policy="omit", min_count=1),
    "moving_std": lambda s, w: s.moving_std(w),
    "moving_max": lambda s, w: s.moving_max(w),
    "moving_median": lambda s, w: s.moving_median(w),
    "cumsum": lambda s, w: s.cumsum(),
    "cummean": lambda s, w: s.cummean(),
    "cumvar": lambda s, w: s.cumvar(),
    "ewm_mean": lambda s, w: s.ewm_mean(alpha=2.0 / (w + 1)),
    "ewm_std": lambda s, w: s.ewm_std(alpha=2.0 / (w + 1)),
}


@pytest.mark.parametrize("name", sorted(STAGES))
@pytest.mark.parametrize("window", [3, 4, 7, 100])
@pytest.mark.parametrize("kind", ["clean", "nan", "runs"])
@pytest.mark.parametrize("width", [1, 2])
def test_stage_bits_equal_at_every_level(name: str, window: int, kind: str, width: int) -> None:
    x = _data(window * 7 + width, 1200 + window, width, kind)
    outs = {}
    for level in LEVELS:
        ps.set_simd_level(level)
        outs[level] = STAGES[name](_chunked(x, window), window).to_array()
    ref = outs[LEVELS[0]]
    for level in LEVELS[1:]:
        np.testing.assert_array_equal(outs[level].view(np.uint64), ref.view(np.uint64),
                                      err_msg=f"{name}: {level} differs from {LEVELS[0]}")


@pytest.mark.parametrize("kind", ["clean", "nan"])
def test_reducers_bits_equal_at_every_level(kind: str) -> None:
    x = _data(5, 50_001, 1, kind)
    outs = []
    for level in LEVELS:
        ps.set_simd_level(level)
        d = ps.from_array(x, chunk_size=4099).describe(nan_policy="omit", quantiles=())
        h = ps.from_array(x, chunk_size=4099).histogram(bins=17, range=(9e3, 1.1e4))
        outs.append((repr(d.to_dict()), h.counts.tobytes()))
    assert all(o == outs[0] for o in outs[1:])


def test_levels_and_machine() -> None:
    info = ps.machine()
    assert info.simd_level in ps.SIMD_LEVELS and info.simd_best in ps.SIMD_LEVELS
    assert ps.SIMD_LEVELS.index(info.simd_level) <= ps.SIMD_LEVELS.index(info.simd_best)
    assert "kernels: " + info.simd_level in info.line()
    before = ps.set_simd_level("portable")
    assert ps.simd_level() == "portable"
    assert ps.set_simd_level("avx512") == "portable"
    assert ps.simd_level() == info.simd_best  # capped by the CPU
    with pytest.raises(ValueError, match="not a SIMD level.*portable, sse2"):
        ps.set_simd_level("avx3")
    assert before == info.simd_level


def test_environment_variable_caps_the_level() -> None:
    code = "import pystream as ps; print(ps.simd_level(), ps.machine().simd_best)"
    env = dict(os.environ, PYSTREAM_SIMD="portable")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split()[0] == "portable"
    env["PYSTREAM_SIMD"] = "bogus"
    out = subprocess.run([sys.executable, "-W", "always", "-c", code], env=env,
                         capture_output=True, text=True, check=True)
    assert "PYSTREAM_SIMD='bogus' is not a SIMD level" in out.stderr
    assert out.stdout.split()[0] == out.stdout.split()[1]
