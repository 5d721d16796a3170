"""What a :class:`~pystream.Stream` says of its columns: names, the time column,
the key column, and the one way to iterate them with the values
(:meth:`ColumnMethods.batches`), as the mixin :class:`ColumnMethods`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ._columns import Batch, Columns, KeyColumn, TimeColumn, check_names
from .chain import Node

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
