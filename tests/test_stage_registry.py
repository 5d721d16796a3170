"""Meta-tests over the stage-family tables (bottleneck's ``get_functions("move")``
tests, for every family): every row is a documented Stream and Pipeline method, a
registry entry, a command-line stage and an API-doc entry; its C kinds are the
header's; and it agrees with its slow twin on random data in random chunkings."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pytest

import pystream as ps
from pystream.cli import stage_args as _cli_stages
from pystream._native import lib
from pystream.stages.kernel import KINDS
from pystream.stages.partitioning import POINTWISE, Records, Window
from pystream.stages.registry import BUILTIN_STAGES, FAMILIES
from pystream.stages.table import PARTITIONINGS

ROOT = Path(__file__).resolve().parent.parent
ROWS = sorted(BUILTIN_STAGES)


def test_tables_are_the_builtin_stages():
    assert [r.name for table in FAMILIES.values() for r in table] == list(BUILTIN_STAGES)
    for family, table in FAMILIES.items():
        assert table and all(row.family == family for row in table)
        assert table is getattr(__import__(f"pystream.stages.{family}", fromlist=["TABLE"]),
                                "TABLE"), family


def test_every_stage_has_a_twin_and_a_call():
    for name, row in BUILTIN_STAGES.items():
        assert callable(row.twin) and callable(row.build), name
        assert row.partitioning in PARTITIONINGS, name
        assert set(row.sample) <= set(inspect.signature(getattr(ps.Stream, name)).parameters)


@pytest.mark.parametrize("name", ROWS)
def test_partitioning_is_the_stage_objects(name):
    row = BUILTIN_STAGES[name]
    stage = row.build(**row.sample)
    mapping = stage.partitioning() if hasattr(stage, "partitioning") else None
    expected = {"window": (Window,), "records": (Records, type(POINTWISE)),
                "sequential": (type(None),)}[row.partitioning]
    assert isinstance(mapping, expected), (name, mapping)


@pytest.mark.parametrize("name", ROWS)
def test_stage_is_a_documented_stream_method(name):
    info = BUILTIN_STAGES[name]
    method = getattr(ps.Stream, name)
    doc = inspect.getdoc(method)
    assert doc and info.summary and info.summary in doc
    assert doc == info.doc
    for section in ("Parameters", "Returns", "Examples"):
        assert section in doc, (name, section)
    assert info.family in FAMILIES
    # the Pipeline's method is the same, and the signature is the row's
    pipe = getattr(ps.Pipeline, name)
    assert inspect.signature(pipe) == inspect.signature(method)
    assert inspect.getdoc(pipe) == doc
    assert str(inspect.signature(method)).startswith(f"(self, {info.params.split(':')[0]}")


@pytest.mark.parametrize("name", ROWS)
def test_stage_has_a_registry_cli_and_api_entry(name):
    from pystream.plugins import get_registry

    row = BUILTIN_STAGES[name]
    entry = get_registry().stages[name]
    assert entry.origin == "pystream" and entry.factory is row.build
    assert entry.summary == row.summary and entry.family == row.family
    assert getattr(ps.stages, name) is row.build
    cli = _cli_stages.catalogue()[name]
    assert cli.family == row.family and cli.origin == "pystream"
    assert str(cli.signature) == str(_cli_stages._method_signature(getattr(ps.Stream, name)))
    assert f"   {name}:" in _cli_stages.format_catalogue() or f"    {name}:" in \
        _cli_stages.format_catalogue()
    assert f"Stream.{name}\n" in (ROOT / "docs" / "api" / "stream.rst").read_text()


def _header_kinds() -> dict[str, int]:
    """The enumerators of csrc/pystream.h's stage-kind enum (the one holding PS_MOVE_SUM)."""
    text = (ROOT / "csrc" / "pystream.h").read_text()
    body = next(b for b in re.findall(r"enum\s*\{(.*?)\}", text, re.S) if "PS_MOVE_SUM" in b)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    return {k: int(v) for k, v in re.findall(r"(PS_\w+)\s*=\s*(\d+)", body)}


def test_c_kind_codes_agree_with_the_header_both_ways():
    header = _header_kinds()
    assert len(header) == len(set(header.values())) == len(KINDS)
    assert sorted(header.values()) == sorted(KINDS.values())
    for enumerator, value in header.items():
        assert getattr(lib, enumerator) == value, enumerator
    # every C kind belongs to exactly one table row, and rows name only C kinds
    used = [k for row in BUILTIN_STAGES.values() for k in row.kinds]
    assert len(used) == len(set(used)) and set(used) == set(KINDS)


def _times(rng, n):
    """Irregular numeric times with repeats and gaps, for the stages that read them."""
    return np.cumsum(rng.choice([0.0, 0.5, 1.0, 2.0, 7.0], size=n))


def _run(row, name, x, rng, chunks=None):
    """(want, got): the twin's output and the stage's, with times for a stage that
    reads them (its twin takes them as ``times=``)."""
    if row.needs_time:
        t = _times(rng, len(x))
        want = np.asarray(row.twin(x, **row.sample, times=t))
        sizes = [len(c) for c in chunks] if chunks is not None else None
        s = ps.from_array(x, time=t, chunk_size=7 if sizes is None else max(1, max(sizes)))
        return want, getattr(s, name)(**row.sample).to_array()
    want = np.asarray(row.twin(x, **row.sample))
    if chunks is None:
        return want, getattr(ps.from_array(x, chunk_size=7), name)(**row.sample).to_array()
    return want, getattr(ps.from_chunks(chunks, dtype=x.dtype, record_shape=x.shape[1:]),
                         name)(**row.sample).to_array()


@pytest.mark.parametrize("name", ROWS)
def test_stage_matches_its_slow_twin(name):
    rng = np.random.default_rng(len(name))
    x = rng.normal(size=(61, 2))
    x[rng.random(x.shape) < 0.05] = np.nan
    if name == "cumprod":
        x = 1 + x / 100
    row = BUILTIN_STAGES[name]
    want, got = _run(row, name, x, rng)
    assert got.shape == want.shape, name
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=name)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", ROWS)
def test_stage_matches_its_slow_twin_in_random_chunkings(name, seed):
    rng = np.random.default_rng([seed, len(name)])
    row = BUILTIN_STAGES[name]
    x = rng.normal(size=(int(rng.integers(1, 90)), max(row.min_columns, int(rng.integers(1, 4)))))
    x[rng.random(x.shape) < 0.1] = np.nan
    if name == "cumprod":
        x = 1 + x / 100
    row = BUILTIN_STAGES[name]
    cuts = np.sort(rng.integers(0, len(x) + 1, size=int(rng.integers(0, 8))))
    chunks = np.split(x, cuts)
    want, got = _run(row, name, x, rng, chunks)
    assert got.shape == want.shape, name
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=name)


@pytest.mark.parametrize("name", ROWS)
def test_builtin_stages_pass_the_plugin_author_battery(name):
    """The helpers plugin authors use (pystream.testing) hold for every built-in stage."""
    from pystream import testing
    from pystream.plugins import get_registry

    kw = BUILTIN_STAGES[name].sample
    if BUILTIN_STAGES[name].needs_time:
        pytest.skip("a stage that reads the time column is not a chunks -> chunks generator; "
                    "tests/test_time_stages.py checks its chunk invariance and bad input")
    stage = get_registry().stages[name].factory(**kw)
    x = np.random.default_rng(3).normal(size=(90, 2))
    x[[4, 40], 1] = np.nan
    testing.assert_chunk_invariant(stage, x)
    testing.check_bad_inputs(stage, (2,) if BUILTIN_STAGES[name].min_columns > 1 else ())
    swapped = ps.from_array(x.astype(">f8"), chunk_size=8)
    np.testing.assert_array_equal(getattr(swapped, name)(**kw).to_array(),
                                  getattr(ps.from_array(x), name)(**kw).to_array())
