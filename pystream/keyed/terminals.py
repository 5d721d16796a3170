"""Terminals per key: any reduction terminal (``describe`` and its statistics,
``histogram``, ``quantile``, plugin reducers) run once per key in one pass,
giving a :class:`~pystream.keyed.results.KeyedResult`.

Each key's state is the terminal's own, made for the key's first record and
fed the key's records in stream order, so each key's result is, bit for bit,
the terminal's result over that key's records alone.  The describe family
keeps all keys' moments in one C state (:mod:`pystream.keyed.kernels`).
On the threads and Dask engines the chain's stages run by partitions and the
keyed states are fed the records in order in the calling thread, so the
results are those of the local run.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._checks import first_nan_record, nan_policy_error
from ..chain import Node
from ..engines import check_engine
from ..engines.columns import ordered_triples
from ..terminals.describe import DescribeTerminal
from ..terminals.distribution import HistogramTerminal
from ..terminals.protocol import ReducerTerminal
from .grouping import check_max_keys
from .results import KeyedResult
from .states import PerKeyStates

__all__ = ["KeySpec", "keyed_call", "keyed_result"]


@dataclass(frozen=True)
class KeySpec:
    """What ``by(...)`` says: sort the keys in the result, and the most keys."""

    sort: bool = False
    max_keys: int | None = None

    @classmethod
    def checked(cls, sort: object, max_keys: object) -> KeySpec:
        if not isinstance(sort, (bool, np.bool_)):
            raise TypeError(f"by: sort must be True or False, got {sort!r}")
        return cls(bool(sort), check_max_keys(max_keys, "by"))


def keyed_call(node: Node, key: KeySpec, make: Any, args: tuple[Any, ...],
               kwargs: dict[str, Any], engine: object, workers: object,
               partition_size: object) -> KeyedResult:
    """``stream.by(...).<terminal>(*args, **kwargs, engine=...)``."""
    name = getattr(make, "name", "terminal")
    if getattr(make, "checks_first", False):
        spec = make(*args, **kwargs)
        options = check_engine(engine, workers, partition_size, name)
    else:
        options = check_engine(engine, workers, partition_size, name)
        spec = make(*args, **kwargs)
    if not isinstance(spec, ReducerTerminal):
        raise TypeError(f"by(...).{name}: per key, only reductions run (describe, count, "
                        f"sum, mean, var, std, min, max, histogram, quantile, plugin "
                        f"reducers); {name} writes the records: call it on the stream")
    return keyed_result(node, key, spec, options)


def keyed_result(node: Node, key: KeySpec, spec: ReducerTerminal, options: Any) -> KeyedResult:
    """The result of `spec` per key over the chain `node` (records with their key)."""
    column = node.table.key
    if column is None:
        raise ValueError(f"by(...).{spec.name}: the stream has no key column")
    if isinstance(spec, DescribeTerminal):
        spec = spec.prepare(node, options)
    make = _maker(node, key, spec, options)
    states = PerKeyStates(make, key.max_keys, f"by(...).{spec.name}")
    if column.dictionary is not None:
        states.slots.describe_key = lambda c: column.dictionary.decode(np.array([c]))[0]
    check_nan = spec.raises_nan
    for values, _time, codes in ordered_triples(node, options):
        if codes is None:
            raise ValueError(f"by(...).{spec.name}: a chunk came without its key column")
        if check_nan:
            bad = first_nan_record(values)
            if bad >= 0:
                raise nan_policy_error(spec.name, states.position + bad)
        states.update(values, codes)
    meta = node.meta
    values_out = [spec.finish(s, meta) for s in states.states_in_order()]
    codes = states.keys()
    keys = column.decode(codes)
    order = "first-seen"
    if key.sort and len(keys):
        idx = np.argsort(np.asarray(keys.tolist(), dtype=object if keys.dtype == object
                                    else keys.dtype), kind="stable")
        keys = keys[idx]
        values_out = [values_out[i] for i in idx.tolist()]
        order = "sorted"
    names = node.table.names_for(node.meta()[1])
    return KeyedResult(spec.name, keys, values_out, column.name, names, order)


def _maker(node: Node, key: KeySpec, spec: ReducerTerminal, options: Any) -> Any:
    """``make(start, code)``: the state of one key."""
    if isinstance(spec, HistogramTerminal) and spec.params["edges"] is None \
            and spec.params["range"] is None:
        ranges = _key_ranges(node, key, options)

        def make_histogram(start: int, code: int) -> Any:
            ready = copy.copy(spec)
            ready.params = {**spec.params, "range": ranges[code]}
            return ready.state(start)
        return make_histogram
    return lambda start, code: spec.state(start)


def _key_ranges(node: Node, key: KeySpec, options: Any) -> dict[int, tuple[Any, Any]]:
    """numpy's default histogram range of each key (a first pass: its min and max)."""
    if node.one_shot:
        raise ValueError("by(...).histogram: this stream can be read only once, and numpy's "
                         "default range (each key's min and max) needs a first pass: pass "
                         "range=(lo, hi) or edges=")
    d = keyed_result(node, KeySpec(False, key.max_keys),
                     DescribeTerminal(nan_policy="omit", quantiles=()), options)
    codes = _codes_of(node, d)
    out: dict[int, tuple[Any, Any]] = {}
    for code, desc in zip(codes, d.values):
        if int(np.sum(desc.count)) == 0:
            out[code] = (0.0, 1.0)
            continue
        lo, hi = np.min(desc.min), np.max(desc.max)
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(f"by(...).histogram: the range of key {d.keys[len(out)]!r}, "
                             f"[{lo}, {hi}], is not finite; pass range=")
        out[code] = (lo, hi)
    return out


def _codes_of(node: Node, result: KeyedResult) -> list[int]:
    """The key codes of a first-seen result's keys."""
    column = node.table.key
    assert column is not None
    if column.dictionary is None:
        return [int(k) for k in result.keys.tolist()]
    return [column.dictionary.code(k) for k in result.keys.tolist()]
