"""Random access to a source: what lets an engine read partitions independently."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["RandomAccess", "array_chunks"]


@dataclasses.dataclass(frozen=True)
class RandomAccess:
    """How to read any contiguous range of a source's records.

    Attributes
    ----------
    name : str
        What the source is, for messages (``"from_npy('x.npy')"``).
    length : callable
        ``length()`` -> number of records, read when a run starts (a file
        may have grown since the stream was made).
    read : callable
        ``read(a, b, chunk_size)`` -> iterator of chunks holding records
        ``[a, b)`` (``b`` None: to the end, with the serial run's
        end-of-data checks); ``chunk_size`` None: the source's own.
    in_memory : bool
        Records are views of memory (an array in this process), so reading
        a whole partition as one chunk costs nothing.  File sources
        (``from_npy``, ``from_file``) are read, never memory-mapped, so they
        are not: a partition is read a chunk at a time, in bounded memory.
    array : callable or None
        ``array()`` -> the whole source as one array in this process's memory
        (``from_array``): the Dask engine wraps it with
        ``dask.array.from_array`` so each task receives only its block.
    dask : dask.array.Array or None
        The source itself is a Dask array (``from_dask``): the Dask engine
        maps over its blocks.  Without `array` or `dask`, Dask tasks call
        `read` themselves (it only captures file names, so it pickles small).
    triples : callable or None
        ``triples(a, b, chunk_size, keys)`` -> iterator of ``(chunk, time,
        key)`` for records ``[a, b)``: a table source's columns, read by
        range.  `keys` is a fresh :class:`~pystream.KeyDictionary` the key
        codes are encoded into when :attr:`local_keys` (the engine merges
        the partitions' dictionaries in order, which gives the serial
        run's first-seen codes); otherwise it is None and the codes are the
        stream's own.
    local_keys : bool
        The key codes `triples` gives are local to its `keys` dictionary.
    granules : callable or None
        ``granules()`` -> the record indices where a read starts cheaply
        (a Parquet file's row group starts: reading one record of a row
        group decodes all of it).  The threads engine then cuts partitions
        there, and into fewer of them when the stages need a warm-up (each
        partition's warm-up decodes a whole row group before it).
    """

    name: str
    length: Callable[[], int]
    read: Callable[[int, int | None, int | None], Iterator[np.ndarray]]
    in_memory: bool = False
    array: Callable[[], np.ndarray] | None = None
    dask: Any = None
    triples: Callable[..., Iterator[Any]] | None = None
    local_keys: bool = False
    granules: Callable[[], list[int]] | None = None


def array_chunks(arr: np.ndarray, a: int, b: int | None, chunk_size: int) -> Iterator[np.ndarray]:
    """Views of ``arr[a:b]`` in chunks of `chunk_size` records."""
    stop = len(arr) if b is None else min(b, len(arr))
    for i in range(a, stop, chunk_size):
        yield arr[i : min(i + chunk_size, stop)]
