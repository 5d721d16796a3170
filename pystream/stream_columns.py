"""What a :class:`~pystream.Stream` says of its columns: names, the time column,
the key column, and the one way to iterate them with the values
(:meth:`ColumnMethods.batches`), as the mixin :class:`ColumnMethods`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._columns import Batch, Columns, KeyColumn, TimeColumn, as_key_codes, check_names
from .chain import Node
from .keyed.stages import AttachKeys
from .keyed.terminals import KeySpec
from .stream_keyed import KeyedStream

if TYPE_CHECKING:  # pragma: no cover
    from .stream import Stream

__all__ = ["ColumnMethods"]

_NS = np.dtype("datetime64[ns]")


class ColumnMethods:
    """Mixin of :class:`~pystream.Stream`: column names, time and key columns."""

    __slots__ = ()

    if TYPE_CHECKING:  # pragma: no cover
        _node: Node

        def _derive(self, node: Node) -> Stream: ...

        def _meta(self) -> tuple[np.dtype, tuple[int, ...]]: ...

    @property
    def columns(self) -> tuple[str, ...] | None:
        """tuple of str or None: the names of the record's columns.

        Names come from a table source (``from_parquet``, ``from_csv``...)
        or ``from_array(..., columns=)``.  They stay through every stage that
        keeps the record shape (maps included: a map that reorders columns
        should be followed by :meth:`rename`), follow ``select``, and are
        gone once the record shape no longer matches them.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> s = from_array(np.zeros((4, 2)), columns=["a", "b"])
        >>> s.columns
        ('a', 'b')
        >>> s.moving_mean(2).columns
        ('a', 'b')
        >>> s.nwise(2).columns is None
        True
        """
        return self._node.table.names_for(self._meta()[1])

    @property
    def time_column(self) -> TimeColumn | None:
        """TimeColumn or None: the time column travelling with the records.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> t = np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[D]")
        >>> from_array(np.zeros(2), time=t).time_column.dtype
        dtype('<M8[ns]')
        """
        return self._node.table.time

    @property
    def key_column(self) -> KeyColumn | None:
        """KeyColumn or None: the key column travelling with the records.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> k = from_array(np.zeros(3), key=["UA", "AA", "UA"]).key_column
        >>> k.dictionary.keys
        ('UA', 'AA')
        """
        return self._node.table.key

    def batches(self) -> Iterator[Batch]:
        """Iterate over the chunks with their time and key columns.

        Iterating a stream gives value chunks only; this gives, for each
        chunk, a :class:`~pystream.Batch` ``(values, time, key, start)``:
        `time` as ``datetime64[ns]`` (UTC) or numeric, `key` as int64 codes
        (decode string keys with ``key_column.decode``), each None when the
        stream has no such column.  Every stage moves them as its row map
        says (``docs/design.md``, "Tables"); the result does not depend on
        the chunking.

        Returns
        -------
        iterator of Batch

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> s = from_array(np.arange(4.0), time=np.arange(4) * 10, key=["a", "b", "a", "b"])
        >>> b = next(s.filter(lambda c: c > 1).batches())
        >>> b.values.tolist(), b.time.tolist(), b.key.tolist()
        ([2.0, 3.0], [20, 30], [0, 1])
        """
        node = self._node
        time = node.table.time
        shown = time is not None and time.dtype == _NS
        offset = node.start
        for v, t, k in node.triples():
            if shown and t is not None:
                t = t.view(_NS)
            yield Batch(v, t, k, offset)
            offset += len(v)

    def rename(self, columns: Sequence[str]) -> Stream:
        """The same stream with new column names.

        Parameters
        ----------
        columns : sequence of str
            One distinct, non-empty name per column of the record
            (``record_shape == (len(columns),)``, or one name for scalars).

        Returns
        -------
        Stream

        Raises
        ------
        ValueError
            If the count does not match the record or a name repeats.
        TypeError
            If a name is not a non-empty string.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> from_array(np.zeros((2, 2))).rename(["x", "y"]).columns
        ('x', 'y')
        """
        rs = self._meta()[1]
        if len(rs) > 1:
            raise ValueError(f"rename: records of shape {rs} have no flat list of columns")
        names = check_names(columns, rs[0] if rs else 1, "rename")
        node = self._node
        table = Columns(names, node.table.time, node.table.key)
        return self._derive(node.derive(table=table))

    def by(self, key: Any = None, *, sort: bool = False, max_keys: int | None = None,
           ttl: Any = None) -> KeyedStream:
        """The stream keyed: terminals and stages per key (see :doc:`/keys`).

        Parameters
        ----------
        key : str or array_like, optional
            The stream's key column (its name, or None), or, for a stream
            without one, one key per record (integers, or strings encoded in
            first-seen order): record ``i`` gets ``key[i]``, and the stream
            must have exactly ``len(key)`` records.
        sort : bool, default False
            Results list the keys in the order they are first seen (False),
            or sorted (True: numbers ascending, strings by code point).
        max_keys : int, optional
            At most this many distinct keys: the record bringing one more
            raises :class:`~pystream.keyed.grouping.TooManyKeys` (naming the
            record and the key) before its chunk changes anything.
        ttl : duration, optional
            For stages per key, on a stream with a time column: a record
            more than `ttl` after its key's previous record starts that key
            afresh (its outputs are the stage's over the key's records from
            there on), and keys idle for more than `ttl` are let go, so an
            endless stream of changing keys runs in bounded memory.

        Returns
        -------
        KeyedStream

        Raises
        ------
        ValueError
            If the stream has no key column and `key` is a name or None, or
            names another column.

        Examples
        --------
        >>> import numpy as np, pystream as ps
        >>> x = np.array([1.0, 2.0, 4.0, 8.0])
        >>> ps.from_array(x).by([0, 1, 0, 1]).mean().to_dict()
        {0: 2.5, 1: 5.0}
        """
        spec = KeySpec.checked(sort, max_keys)
        node = self._node
        current = node.table.key
        if key is None or isinstance(key, str):
            if current is None:
                raise ValueError(
                    "by: the stream has no key column; give one at the source "
                    "(from_array(x, key=k), from_parquet/from_csv(..., key='col'), --key COLUMN "
                    "on the command line) or give the keys here, one per record: by(keys)")
            if key is not None and key != current.name:
                raise ValueError(f"by: the stream's key column is {current.name!r}, not "
                                 f"{key!r}")
            return KeyedStream(self, spec, ttl)  # type: ignore[arg-type]
        arr = np.asarray(key) if not isinstance(key, np.ndarray) else key
        codes, dictionary = as_key_codes(arr, len(arr), "by")
        attach = AttachKeys(codes, KeyColumn(None, dictionary))
        return KeyedStream(self._add_stage(attach), spec, ttl)  # type: ignore[attr-defined]
