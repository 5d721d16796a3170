"""The stages a :class:`~pystream.Stream` runs through its own chain: the fused
chunk functions (``map``, ``filter``, ``astype``, ``select``), generator
stages (``pipe``) and the record-count stages (``take``, ``skip``,
``rechunk``), as the mixin :class:`ChainStageMethods`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import DTypeLike

from ._checks import check_count, normalize_record_shape
from ._columns import Columns
from .chain import Node
from .chain.nodes import Meta, Resolver
from .stages.elementwise import (
    AstypeFn,
    ColumnsLike,
    FilterFn,
    MapFn,
    SelectFn,
    infer_map_output,
    normalize_columns,
)
from .stages.methods import _suggest_keywords_on_methods
from .stages.structural import rechunk, skip, take
from .stages.untrusted import CheckedGenerator, is_builtin_stage

if TYPE_CHECKING:  # pragma: no cover
    from .stream import Stream

__all__ = ["ChainStageMethods"]

ChunkFn = Callable[[np.ndarray], np.ndarray]


def names_to_positions(columns: ColumnsLike | str | Iterable[str], names: tuple[str, ...] | None
                       ) -> ColumnsLike:
    """``select``'s argument with column names replaced by their positions."""
    def pos(c: object) -> object:
        if not isinstance(c, str):
            return c
        if names is None:
            raise KeyError(f"select: the stream has no column names, so {c!r} names no column; "
                           "select by position, or name the columns (rename, or a table source)")
        if c not in names:
            raise KeyError(f"select: no column named {c!r}; the columns are {list(names)}")
        return names.index(c)

    if isinstance(columns, str):
        return pos(columns)  # type: ignore[return-value]
    if isinstance(columns, (list, tuple)):
        return [pos(c) for c in columns]  # type: ignore[return-value]
    return columns  # type: ignore[return-value]


class ChainStageMethods:
    """Mixin of :class:`~pystream.Stream`: the stages run by the chain itself.

    Uses the stream's chain node (``_node``) and ``_derive``.
    """

    __slots__ = ()

    if TYPE_CHECKING:  # pragma: no cover
        _node: Node

        def _derive(self, node: Node) -> Stream: ...

    # ------------------------------------------------------------- stateless stages

    def _with_fn(self, fn: ChunkFn, meta: Meta | Resolver | None = None) -> Stream:
        return self._derive(self._node.with_fn(fn, meta))

    def map(self, func: Callable[[np.ndarray], Any], dtype: DTypeLike | None = None) -> Stream:
        """Apply `func` to every chunk (a stateless, fused stage).

        Parameters
        ----------
        func : callable
            ``func(chunk) -> array`` of shape ``(k, *out_record_shape)``: one
            output record per input record (use :meth:`filter` to drop
            records).  It sees whole chunks, so it should be vectorised.
        dtype : dtype-like, optional
            Output dtype; outputs of another dtype are cast to it.  By
            default the output dtype and record shape are inferred by
            calling `func` on an empty chunk, or, if that fails, on the
            first chunk.

        Returns
        -------
        Stream
            A new lazy stream.

        Raises
        ------
        TypeError
            If `func` is not callable; during iteration, if `func` returns
            a dtype different from the inferred one (and `dtype` was not
            given).
        ValueError
            During iteration, if `func` changes the number of records or the
            record shape.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> from_array(np.array([-1.0, 4.0])).map(np.abs).map(np.sqrt).to_array()
        array([1., 2.])
        """
        if not callable(func):
            raise TypeError(f"map: func must be callable, got {func!r}")
        out_dt = None if dtype is None else np.dtype(dtype)
        fn = MapFn(func, out_dt, None, cast=out_dt is not None)
        parent = self._node

        def resolve(child: Node) -> Meta:
            pdt, prs = parent.meta()
            inferred = infer_map_output(func, pdt, prs)
            if inferred is None:
                first = child.peek_first()
                inferred = (pdt, prs) if first is None else (first.dtype, tuple(first.shape[1:]))
            dt = out_dt if out_dt is not None else inferred[0]
            fn.set_meta(dt, inferred[1])
            return dt, inferred[1]

        if parent.dtype is not None:
            inferred = infer_map_output(func, parent.dtype, parent.record_shape)  # type: ignore[arg-type]
            if inferred is not None:
                dt = out_dt if out_dt is not None else inferred[0]
                fn.set_meta(dt, inferred[1])
                return self._with_fn(fn, (fn.dtype, fn.record_shape))  # type: ignore[arg-type]
        return self._with_fn(fn, resolve)

    def filter(self, predicate: Callable[[np.ndarray], Any]) -> Stream:
        """Keep the records for which ``predicate(chunk)`` is True (fused stage).

        Parameters
        ----------
        predicate : callable
            ``predicate(chunk) -> mask``: a boolean array of shape ``(k,)``,
            one value per record.

        Returns
        -------
        Stream
            A new lazy stream with the same dtype and record shape.

        Raises
        ------
        TypeError
            If `predicate` is not callable; during iteration, if the mask is
            not boolean.
        ValueError
            During iteration, if the mask does not have shape ``(k,)``.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> from_array(np.arange(6)).filter(lambda c: c % 2 == 1).to_array()
        array([1, 3, 5])
        """
        if not callable(predicate):
            raise TypeError(f"filter: predicate must be callable, got {predicate!r}")
        return self._with_fn(FilterFn(predicate))

    def astype(self, dtype: DTypeLike, casting: str = "unsafe") -> Stream:
        """Cast the chunks to `dtype` (fused stage).

        Parameters
        ----------
        dtype : dtype-like
            Target dtype.
        casting : {"no", "equiv", "safe", "same_kind", "unsafe"}, optional
            Casting rule, as in :meth:`numpy.ndarray.astype` (default
            ``"unsafe"``, numpy's default).

        Returns
        -------
        Stream
            A new lazy stream (this stream itself, re-wrapped, if the dtype
            is unchanged).

        Raises
        ------
        TypeError
            If the cast is not allowed under `casting`.
        ValueError
            If `casting` is not a valid rule.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> from_array(np.arange(3)).astype(np.float32).dtype
        dtype('float32')
        """
        dt = np.dtype(dtype)
        if casting not in ("no", "equiv", "safe", "same_kind", "unsafe"):
            raise ValueError(
                "astype: casting must be one of 'no', 'equiv', 'safe', 'same_kind', 'unsafe', "
                f"got {casting!r}"
            )
        if dt.hasobject:
            raise TypeError("astype: object dtypes are not supported in streams")
        parent = self._node
        if parent.dtype is not None:
            if not np.can_cast(parent.dtype, dt, casting=casting):
                raise TypeError(
                    f"astype: cannot cast {parent.dtype} to {dt} with casting={casting!r}"
                )
            if dt == parent.dtype:
                return self._derive(parent.derive())
            return self._with_fn(AstypeFn(dt, casting), (dt, parent.record_shape))  # type: ignore[arg-type]
        return self._with_fn(AstypeFn(dt, casting), lambda _n: (dt, parent.meta()[1]))

    def select(self, columns: ColumnsLike) -> Stream:
        """Pick columns of a record stream: index the first record axis (fused stage).

        Parameters
        ----------
        columns : int, str, slice or sequence of int or str
            An int (or a column name) drops the axis (records of shape
            ``record_shape[1:]``); a slice or a list keeps it.  Names are
            looked up in :attr:`columns`.  Lists forming an arithmetic
            progression become slices, so the result stays a view.

        Returns
        -------
        Stream
            A new lazy stream.

        Raises
        ------
        ValueError
            For a scalar stream, or if nothing is selected.
        IndexError
            If a column is out of range.
        KeyError
            If a name is not one of :attr:`columns` (or the stream has no names).
        TypeError
            If `columns` is not an int, a name, a slice or a sequence of them.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> s = from_array(np.arange(6).reshape(2, 3))
        >>> s.select(0).to_array()
        array([0, 3])
        >>> s.select([0, 2]).record_shape
        (2,)
        >>> n = s.rename(["a", "b", "c"]).select(["c", "a"])
        >>> n.columns, n.to_array().tolist()
        (('c', 'a'), [[2, 0], [5, 3]])
        """
        dt, rs = self._meta()
        table = self._node.table
        names = table.names_for(rs)
        columns = names_to_positions(columns, names)
        index, new_rs = normalize_columns(columns, rs)
        new_names = None
        if names is not None:
            picked = np.asarray(names, dtype=object)[index]
            new_names = tuple(picked.tolist()) if isinstance(picked, np.ndarray) else (picked,)
        return self._derive(self._node.with_fn(SelectFn(index), (dt, new_rs),
                                               Columns(new_names, table.time, table.key)))

    # ------------------------------------------------------------- structural stages

    def pipe(
        self,
        stage: Callable[..., Iterable[np.ndarray]],
        *args: Any,
        dtype: DTypeLike | None = None,
        record_shape: tuple[int, ...] | None = None,
        **kwargs: Any,
    ) -> Stream:
        """Add a generator stage ``stage(chunks, *args, **kwargs) -> chunks``.

        This is how stateful stages (windows, scans, plugins) plug in: the
        stage receives the iterator of this stream's chunks and yields new
        chunks.  Empty chunks it yields are dropped.  Every other chunk is
        checked against the declared `dtype` and `record_shape` (unless the
        stage is one of pystream's own): a chunk that is not an ndarray, or
        of another dtype or record shape, raises an error naming the stage
        and the chunk's global record offset.  The chunks the stage
        receives may be read-only (views of the caller's arrays): it must
        not write to them.

        Parameters
        ----------
        stage : callable
            Generator function over chunks.
        *args, **kwargs
            Extra arguments for `stage`.
        dtype : dtype-like, optional
            Output dtype; default: this stream's dtype.
        record_shape : tuple of int, optional
            Output record shape; default: this stream's record shape.

        Returns
        -------
        Stream
            A new lazy stream.

        Raises
        ------
        TypeError
            If `stage` is not callable; during iteration, if it yields
            something that is not an ndarray, or a chunk of another dtype.
        ValueError
            During iteration, if it yields a 0-d array or records of another
            shape than `record_shape`.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> def cumsum(chunks):
        ...     total = 0
        ...     for c in chunks:
        ...         out = np.cumsum(c) + total
        ...         total = out[-1]
        ...         yield out
        >>> from_array(np.arange(5), chunk_size=2).pipe(cumsum).to_array()
        array([ 0,  1,  3,  6, 10])
        """
        if not callable(stage):
            raise TypeError(f"pipe: stage must be callable, got {stage!r}")
        dt = None if dtype is None else np.dtype(dtype)
        rs = None if record_shape is None else normalize_record_shape(record_shape, "pipe")
        parent = self._node
        out: list[Node] = []  # the node made below: its metadata is the declaration
        if not is_builtin_stage(stage):  # each chunk it yields is checked against it
            stage = CheckedGenerator(stage, lambda: out[0].meta(), lambda: out[0].start)
        meta: Meta | Resolver
        if dt is not None and rs is not None:
            meta = (dt, rs)
        elif dt is None and rs is None:
            meta = parent.same_meta()
        else:
            meta = lambda _n: (
                dt if dt is not None else parent.meta()[0],
                rs if rs is not None else parent.meta()[1],
            )
        out.append(parent.with_stage(stage, args, kwargs, meta))
        return self._derive(out[0])

    # ------------------------------------------------------------- record-count stages

    def take(self, n: int) -> Stream:
        """Keep only the first `n` records.

        Upstream is not pulled any further once `n` records are out, so
        ``take`` works on infinite sources.

        Parameters
        ----------
        n : int
            Number of records (``>= 0``).

        Returns
        -------
        Stream
            A new lazy stream.

        Raises
        ------
        TypeError
            If `n` is not an integer.
        ValueError
            If `n` is negative.

        Examples
        --------
        >>> import itertools
        >>> from pystream.sources import from_iterable
        >>> from_iterable(itertools.count(), "int64").take(4).to_array()
        array([0, 1, 2, 3])
        """
        n = check_count(n, "n", "take")
        return self._derive(self._node.with_stage(take, (n,), nonempty=True))

    def skip(self, n: int) -> Stream:
        """Drop the first `n` records.

        Parameters
        ----------
        n : int
            Number of records (``>= 0``).

        Returns
        -------
        Stream
            A new lazy stream.

        Raises
        ------
        TypeError
            If `n` is not an integer.
        ValueError
            If `n` is negative.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> from_array(np.arange(5), chunk_size=2).skip(3).to_array()
        array([3, 4])
        """
        n = check_count(n, "n", "skip")
        if n == 0:
            return self._derive(self._node.derive())
        return self._derive(self._node.with_stage(skip, (n,), nonempty=True))

    def rechunk(self, size: int) -> Stream:
        """Regroup the records into chunks of exactly `size` records (the last may be shorter).

        Parameters
        ----------
        size : int
            Records per chunk (``>= 1``).

        Returns
        -------
        Stream
            A new lazy stream.

        Raises
        ------
        TypeError
            If `size` is not an integer.
        ValueError
            If `size` is smaller than 1.

        Examples
        --------
        >>> import numpy as np
        >>> from pystream.sources import from_array
        >>> [len(c) for c in from_array(np.arange(10), chunk_size=4).rechunk(3)]
        [3, 3, 3, 1]
        """
        size = check_count(size, "size", "rechunk", minimum=1)
        return self._derive(self._node.with_stage(rechunk, (size,), nonempty=True))


# Named as the Stream methods they are (help(), error messages), and a
# misspelled keyword suggests the one meant, as on every other stage method.
for _name, _member in list(vars(ChainStageMethods).items()):
    if inspect.isfunction(_member) and not _name.startswith("_"):
        _member.__qualname__ = f"Stream.{_name}"
        if hasattr(_member.__code__, "co_qualname"):  # Python >= 3.11
            _member.__code__ = _member.__code__.replace(co_qualname=f"Stream.{_name}")
del _name, _member
_suggest_keywords_on_methods(ChainStageMethods)
