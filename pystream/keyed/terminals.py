"""Terminals per key: any reduction terminal (``describe`` and its statistics,
``histogram``, ``quantile``, plugin reducers) run once per key in one pass,
giving a :class:`~pystream.keyed.results.KeyedResult`.

Each key's state is the terminal's own, made for the key's first record and
fed the key's records in stream order, so each key's result is, bit for bit,
the terminal's result over that key's records alone.  The describe family
keeps all keys' moments in one C state (:mod:`pystream.keyed.describe`).
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
from .._columns import KeyColumn
from .._extensions import find as find_entry
from ..chain import Node
from ..engines import check_engine
from ..engines.columns import ordered_triples
from ..terminals.describe import DescribeTerminal
from ..terminals.distribution import HistogramTerminal
from ..terminals.plugin import PluginTerminal
from ..terminals.protocol import ReducerTerminal
from ..terminals.specs import TERMINALS
from .describe import KeyedDescribe
from .grouping import batched, check_max_keys
from .results import KeyedResult
from .states import PerKeyStates

__all__ = ["KeySpec", "KeyedReduction", "keyed_call", "keyed_reduction", "keyed_result",
           "keyed_target"]


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


class KeyedReduction:
    """A reduction terminal per key, fed records with their key codes (the pull run
    and push sinks' targets both use it).

    Parameters
    ----------
    spec : ReducerTerminal
        The terminal (its arguments checked).
    key : KeySpec
        Sorting of the result, max_keys.
    make : callable
        ``make(start, code)``: one key's state (by default ``spec.state(start)``).
    column : KeyColumn or None
        The key column (decodes string keys in the result and in errors); may
        be set later, before :meth:`result`.
    """

    def __init__(self, spec: ReducerTerminal, key: KeySpec, make: Any = None,
                 column: KeyColumn | None = None) -> None:
        self.spec = spec
        self.key = key
        self.column = column
        self.states = PerKeyStates(make or (lambda start, code: spec.state(start)),
                                   key.max_keys, f"by(...).{spec.name}")
        self.states.slots.describe_key = self._describe_key

    def _describe_key(self, code: int) -> Any:
        column = self.column
        if column is None or column.dictionary is None:
            return code
        return column.dictionary.decode(np.array([code]))[0]

    def update(self, values: np.ndarray, codes: np.ndarray | None) -> None:
        """Feed the next records with their key codes."""
        spec = self.spec
        if codes is None:
            raise ValueError(f"by(...).{spec.name}: a chunk came without its key column")
        if spec.raises_nan:
            bad = first_nan_record(values)
            if bad >= 0:
                raise nan_policy_error(spec.name, self.states.position + bad)
        self.states.update(values, codes)

    def result(self, meta: Any, names: tuple[str, ...] | None) -> KeyedResult:
        """The :class:`KeyedResult` over the records fed so far (`meta`: the input's
        ``(dtype, record_shape)`` when asked)."""
        spec, column = self.spec, self.column
        values_out = [spec.finish(s, meta) for s in self.states.states_in_order()]
        codes = self.states.keys()
        keys = codes if column is None else column.decode(codes)
        order = "first-seen"
        if self.key.sort and len(keys):
            idx = np.argsort(keys if keys.dtype != object else keys.astype(str), kind="stable")
            keys = keys[idx]
            values_out = [values_out[i] for i in idx.tolist()]
            order = "sorted"
        return KeyedResult(spec.name, keys, values_out, None if column is None else column.name,
                           names, order)


def keyed_reduction(spec: ReducerTerminal, key: KeySpec, column: KeyColumn | None = None,
                    make: Any = None) -> KeyedReduction | KeyedDescribe:
    """The per-key form of `spec`: every key's moments in one C state for the describe
    family, one state of the terminal's own per key otherwise."""
    if isinstance(spec, DescribeTerminal) and not spec.with_cov:
        return KeyedDescribe(spec, key.sort, key.max_keys, column)
    return KeyedReduction(spec, key, make, column)


def keyed_result(node: Node, key: KeySpec, spec: ReducerTerminal, options: Any) -> KeyedResult:
    """The result of `spec` per key over the chain `node` (records with their key)."""
    column = node.table.key
    if column is None:
        raise ValueError(f"by(...).{spec.name}: the stream has no key column")
    if isinstance(spec, DescribeTerminal) or getattr(spec, "reads_names", False):
        # the column names label the result (describe) or pick columns (cov, corr)
        spec = spec.prepare(node, options)
    reduction = keyed_reduction(spec, key, column, _maker(node, key, spec, options))
    for values, _time, codes in batched(ordered_triples(node, options)):
        reduction.update(values, codes)
    return reduction.result(node.meta, node.table.names_for(node.meta()[1]))


def keyed_target(target: Any, where: str) -> ReducerTerminal:
    """The reduction a keyed push sink feeds: a terminal's name (``"describe"``) or a
    pipeline branch made without stages (``ps.pipeline().quantile(0.5)``)."""
    name, args, kwargs = target, (), {}
    if not isinstance(target, str):
        name = getattr(target, "name", None)
        if name is None or getattr(getattr(target, "pipeline", None), "_ops", ()) \
                or getattr(target, "target", None) is not None:
            raise TypeError(f"{where}: the target of a keyed push is a terminal's name "
                            "('describe') or a branch without stages "
                            f"(ps.pipeline().quantile(0.5)), got {target!r}")
        args, kwargs = target.args, target.kwargs
    spec_class = TERMINALS.get(name)
    if spec_class is None:
        entry = find_entry("reducers", name)
        if entry is None:
            raise ValueError(f"{where}: no terminal named {name!r}")
        spec: Any = PluginTerminal(entry)(*args, **kwargs)
    else:
        spec = spec_class(*args, **kwargs)
    if not isinstance(spec, ReducerTerminal):
        raise TypeError(f"{where}: per key, only reductions run, not {name!r}")
    if isinstance(spec, HistogramTerminal) and spec.params["edges"] is None \
            and spec.params["range"] is None:
        raise ValueError(f"{where}: a pushed histogram reads its input once, so it needs "
                         "range=(lo, hi) or edges=")
    spec.state(0)        # checks what is checked when the range is known
    return spec


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
