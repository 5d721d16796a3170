"""``describe`` and its statistics per key: every key's moments in one C state
(:class:`~pystream.keyed.kernels.KeyedMomentsState`: a ``ps_moments`` per key,
fed by one grouping pass per chunk), and, when quantiles are asked for, one
column sketch per key.  Each key's Description is the one the plain
``describe`` gives over that key's records alone, bit for bit: the same C state
per key, and the same arithmetic on its fields (:func:`pystream.reducers.moment_statistics`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import first_nan_record, nan_policy_error
from .._columns import KeyColumn
from ..reducers import description_of, moment_statistics, with_quantiles
from ..sketches.columns import ColumnQuantiles, describe_sketch_factory
from .grouping import TooManyKeys
from .kernels import KeyedMomentsState, KeyLimitError
from .results import KeyedResult
from .states import PerKeyStates

__all__ = ["KeyedDescribe"]

#: The statistics a keyed describe lists per key in its tables.
TABLE_STATS = ("count", "nan_count", "mean", "std", "min", "max")


class KeyedDescribe:
    """``describe()`` (or one of its statistics, ``spec.pick``) per key.

    Parameters
    ----------
    spec : DescribeTerminal
        The terminal (ddof, nan_policy, quantiles, quantile_method, pick, names).
    sort : bool
        Sort the keys of the result.
    max_keys : int or None
        At most this many keys (:class:`~pystream.keyed.grouping.TooManyKeys`).
    column : KeyColumn or None
        The key column (decodes string keys); may be set before :meth:`result`.
    """

    def __init__(self, spec: Any, sort: bool = False, max_keys: int | None = None,
                 column: KeyColumn | None = None) -> None:
        self.spec = spec
        self.sort = sort
        self.max_keys = max_keys
        self.column = column
        self.where = f"by(...).{spec.name}"
        self.moments = KeyedMomentsState(-1 if max_keys is None else max_keys)
        self.sketches: PerKeyStates | None = None
        if spec.qs:
            make = describe_sketch_factory(spec.method)
            self.sketches = PerKeyStates(lambda start, code: ColumnQuantiles(make, start),
                                         None, self.where)
        self.position = 0

    def _shown(self, code: int) -> Any:
        c = self.column
        return code if c is None or c.dictionary is None else c.dictionary.decode(
            np.array([code]))[0]

    def update(self, values: np.ndarray, codes: np.ndarray | None) -> None:
        """Feed the next records with their key codes."""
        spec = self.spec
        if codes is None:
            raise ValueError(f"{self.where}: a chunk came without its key column")
        if spec.raises_nan:
            bad = first_nan_record(values)
            if bad >= 0:
                raise nan_policy_error(spec.name, self.position + bad)
        try:
            self.moments.update(values, codes)
        except KeyLimitError as e:
            assert self.max_keys is not None
            raise TooManyKeys(self.where, self.position + e.row, self._shown(e.key),
                              self.max_keys) from None
        if self.sketches is not None:
            self.sketches.update(values, codes)
        self.position += len(values)

    def result(self, meta: Any, names: tuple[str, ...] | None) -> KeyedResult:
        """The :class:`KeyedResult` over the records fed so far."""
        spec, column = self.spec, self.column
        m = self.moments
        codes = m.keys()
        keys = codes if column is None else column.decode(codes)
        if not len(codes):
            return KeyedResult(spec.name, keys, [], None if column is None else column.name,
                               names)
        dtype = m.dtype
        shape = tuple(m.record_shape or ())
        width = int(np.prod(shape, dtype=np.int64))
        arrays = {k: v.reshape(-1) for k, v in m.results().items()}
        stats = moment_statistics(arrays, dtype, spec.ddof, spec.policy)
        sketches = None if self.sketches is None else self.sketches.states_in_order()
        labels = spec.names if spec.pick is None else None

        def description(i: int) -> Any:
            d = description_of(stats, slice(i * width, (i + 1) * width), spec.ddof, spec.policy,
                               shape, dtype)
            if sketches is not None:
                d = with_quantiles(d, sketches[i], spec.qs, spec.policy)
            return d if labels is None else d.with_names(labels)

        index = np.arange(len(codes))
        order = "first-seen"
        if self.sort:
            index = np.argsort(keys if keys.dtype != object else keys.astype(str), kind="stable")
            keys = keys[index]
            order = "sorted"
        pick = spec.pick

        def item(i: int) -> Any:
            d = description(int(index[i]))
            return d if pick is None else getattr(d, pick)

        table = None
        if sketches is None:
            shown = (pick,) if pick is not None else TABLE_STATS

            def table() -> dict[str, Any]:
                out: dict[str, Any] = {}
                for stat in shown:
                    if stat == "sum" and dtype.kind in "biu":
                        per_key = [item(i) for i in range(len(index))]
                        values = np.asarray(per_key).reshape(len(index), width)
                    else:
                        values = np.asarray(stats[stat]).reshape(-1, width)[index]
                    if width == 1 and shape == ():
                        out[stat] = values[:, 0]
                    elif names is not None and len(names) == width:
                        for j, c in enumerate(names):
                            out[f"{c}_{stat}"] = values[:, j]
                    else:
                        for j in range(width):
                            out[f"{stat}_{j}"] = values[:, j]
                return out
        return KeyedResult(spec.name, keys, None, None if column is None else column.name,
                           names, order, item=item, table=table)
