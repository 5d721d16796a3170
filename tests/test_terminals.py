"""The terminal table is the one place a terminal operation is written:
the Stream and Pipeline methods, the branch names and the engines' view
all come from it (issue 16)."""

import inspect

import numpy as np
import pytest

import pystream as ps
from pystream.terminals.protocol import ReducerTerminal, Reduction
from pystream.terminals.specs import TERMINALS

ENGINE_ARGS = ("engine", "workers", "partition_size")


def test_table_lists_every_terminal_once():
    assert list(TERMINALS) == ["describe", "count", "sum", "mean", "var", "std", "min", "max",
                               "histogram", "quantile", "cov", "corr", "to_array", "to_npy",
                               "to_file", "to_text", "to_callback", "ols"]
    assert all(spec.name == name for name, spec in TERMINALS.items())


@pytest.mark.parametrize("name", list(TERMINALS))
def test_methods_come_from_the_spec(name):
    spec = TERMINALS[name]
    stream_sig = inspect.signature(getattr(ps.Stream, name))
    pipe_sig = inspect.signature(getattr(ps.Pipeline, name))
    spec_params = list(inspect.signature(spec).parameters)
    assert list(stream_sig.parameters) == ["self", *spec_params, *ENGINE_ARGS]
    assert list(pipe_sig.parameters) == ["self", *spec_params]
    doc = getattr(ps.Stream, name).__doc__
    assert "{engine_parameters}" not in doc and "partition_size : int, optional" in doc


@pytest.mark.parametrize("name", [n for n, s in TERMINALS.items()
                                  if issubclass(s, ReducerTerminal) and n not in ("quantile", "ols")])
def test_spec_drives_every_mode(name):
    x = np.arange(1000.0)
    if name in ("cov", "corr"):                  # multivariate: records of 2 columns
        x = np.c_[x, np.sqrt(x)]
    kwargs = {"range": (0, 1000)} if name == "histogram" else {}
    spec = TERMINALS[name](**kwargs)
    assert isinstance(spec.reduction(), Reduction)
    pulled = getattr(ps.from_array(x, chunk_size=100), name)(**kwargs)
    threads = getattr(ps.from_array(x, chunk_size=100), name)(**kwargs, engine="threads",
                                                               workers=2, partition_size=300)
    pushed = ps.pipeline().push(getattr(ps.pipeline(), name)(**kwargs))
    pushed.send(x)
    forked = ps.from_array(x, chunk_size=100).fork(r=getattr(ps.pipeline(), name)(**kwargs))["r"]
    for other in (threads, pushed.close(), forked):
        if name == "histogram":
            assert np.array_equal(pulled.counts, other.counts)
        elif name == "describe":
            assert pulled == other
        else:
            assert np.array_equal(pulled, other)
