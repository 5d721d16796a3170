"""Hostile and legacy serialized states (issue 15)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

import pystream as ps
from pystream.sketches import DDSketch, Histogram, KLLSketch


def _data(n: int = 3000, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(280.0, 5.0, n)
    x[::97] = np.nan
    return x


def legacy_states() -> dict[str, Callable[[], Any]]:
    """Deterministic states of every serialized type (fixtures' recipes)."""
    x = _data()
    x2 = x[:1500].reshape(-1, 2)

    def moments() -> ps.Moments:
        m = ps.Moments(start=1020)  # raw head of 4, two full blocks, tail of 52
        m.update(x[:2100])
        return m

    def moments_int() -> ps.Moments:
        m = ps.Moments()
        m.update(np.arange(-500, 1100, dtype=np.int32).reshape(-1, 2))
        return m

    def stage(name: str, shape: tuple[int, ...] = (), **params: Any) -> Callable[[], Any]:
        def make() -> ps.StageState:
            s = ps.StageState(name, record_shape=shape, **params)
            s.update(x2 if shape else x[:1001])
            return s
        return make

    out: dict[str, Callable[[], Any]] = {
        "moments": moments,
        "moments_int": moments_int,
        "cumsum": stage("cumsum"),
        "cumvar": stage("cumvar", (2,), ddof=1.0),
        "cummean": stage("cummean"),
        "ewm_mean": stage("ewm_mean", alpha=0.1, adjust=1),
        "ewm_var": stage("ewm_var", (2,), alpha=0.3, adjust=0, bias=0),
        "resample_mean": stage("resample_mean", window=7),
        "moving_mean": stage("moving_mean", (2,), window=5, min_count=1),
        "moving_median": stage("moving_median", window=4, min_count=2),
        "ddsketch": lambda: DDSketch().update(x),
        "kll": lambda: KLLSketch(k=64).update(x),
        "histogram": lambda: Histogram(10, range=(260.0, 300.0)).update(x),
    }
    return out
