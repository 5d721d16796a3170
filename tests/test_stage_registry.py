"""Meta-tests over the table of built-in stages: every stage is a documented Stream
method with a slow twin, and the twin agrees with the stage on random data."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import pystream as ps
from pystream.stages.registry import BUILTIN_STAGES

from slow_windows import SLOW_TWINS

# One call per stage: (Stream method kwargs, slow twin kwargs).
CALLS = {
    "moving_sum": ({"window": 5, "min_count": 2}, {"window": 5, "min_count": 2}),
    "moving_mean": ({"window": 5}, {"window": 5}),
    "moving_var": ({"window": 5, "ddof": 1}, {"window": 5, "ddof": 1}),
    "moving_std": ({"window": 5}, {"window": 5}),
    "moving_min": ({"window": 5}, {"window": 5}),
    "moving_max": ({"window": 5}, {"window": 5}),
    "moving_argmin": ({"window": 5}, {"window": 5}),
    "moving_argmax": ({"window": 5}, {"window": 5}),
    "moving_median": ({"window": 6, "min_count": 1}, {"window": 6, "min_count": 1}),
    "moving_quantile": ({"window": 6, "q": 0.7}, {"window": 6, "q": 0.7}),
    "moving_rank": ({"window": 6}, {"window": 6}),
    "cumsum": ({}, {}),
    "cumprod": ({}, {}),
    "cummean": ({}, {}),
    "cumvar": ({"ddof": 1}, {"ddof": 1}),
    "cumstd": ({}, {}),
    "cummin": ({}, {}),
    "cummax": ({}, {}),
    "cumcount": ({}, {}),
    "diff": ({"n": 2}, {"n": 2}),
    "ewm_mean": ({"alpha": 0.3}, {"alpha": 0.3}),
    "ewm_var": ({"alpha": 0.3}, {"alpha": 0.3}),
    "ewm_std": ({"alpha": 0.3}, {"alpha": 0.3}),
    "nwise": ({"n": 3}, {"n": 3}),
    "sliding_window": ({"n": 3, "step": 2}, {"n": 3, "step": 2}),
    "tumbling": ({"n": 4}, {"n": 4}),
    "resample": ({"n": 4, "how": "mean"}, {"n": 4, "how": "mean"}),
}


def test_every_stage_has_a_twin_and_a_call():
    assert set(BUILTIN_STAGES) == set(SLOW_TWINS) == set(CALLS)


@pytest.mark.parametrize("name", sorted(BUILTIN_STAGES))
def test_stage_is_a_documented_stream_method(name):
    info = BUILTIN_STAGES[name]
    method = getattr(ps.Stream, name)
    doc = inspect.getdoc(method)
    assert doc and info.summary and info.summary in doc
    for section in ("Parameters", "Returns", "Examples"):
        assert section in doc, (name, section)
    assert info.family in ("windows", "scans", "ewm", "records")


@pytest.mark.parametrize("name", sorted(BUILTIN_STAGES))
def test_stage_matches_its_slow_twin(name):
    rng = np.random.default_rng(len(name))
    x = rng.normal(size=(61, 2))
    x[rng.random(x.shape) < 0.05] = np.nan
    if name == "cumprod":
        x = 1 + x / 100
    kw, twin_kw = CALLS[name]
    want = np.asarray(SLOW_TWINS[name](x, **twin_kw))
    got = getattr(ps.from_array(x, chunk_size=7), name)(**kw).to_array()
    assert got.shape == want.shape, name
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=name)


@pytest.mark.parametrize("name", sorted(BUILTIN_STAGES))
def test_builtin_stages_pass_the_plugin_author_battery(name):
    """The helpers plugin authors use (pystream.testing) hold for every built-in stage."""
    from pystream import testing
    from pystream.plugins import get_registry

    kw, _ = CALLS[name]
    stage = get_registry().stages[name].factory(**kw)
    x = np.random.default_rng(3).normal(size=(90, 2))
    x[[4, 40], 1] = np.nan
    testing.assert_chunk_invariant(stage, x)
    testing.check_bad_inputs(stage)
    swapped = ps.from_array(x.astype(">f8"), chunk_size=8)
    np.testing.assert_array_equal(getattr(swapped, name)(**kw).to_array(),
                                  getattr(ps.from_array(x), name)(**kw).to_array())
