"""What every source shares: argument checks, paths, the source nodes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, Union

import numpy as np

from .._config import default_chunk_size
from .._checks import check_count
from ..chain import CallableSource, OneShotSource

PathLike = Union[str, "os.PathLike[str]"]


# --------------------------------------------------------------------------- helpers


def _chunk_size(chunk_size: object, dtype: np.dtype, record_shape: tuple[int, ...], where: str) -> int:
    if chunk_size is None:
        return default_chunk_size(dtype, record_shape)
    return check_count(chunk_size, "chunk_size", where, minimum=1)


def _check_dtype(dtype: object, where: str) -> np.dtype:
    if dtype is None:
        raise TypeError(f"{where}: dtype is required (e.g. dtype=np.float64)")
    try:
        dt = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError as e:
        raise TypeError(f"{where}: invalid dtype {dtype!r}: {e}") from None
    if dt.hasobject:
        raise TypeError(f"{where}: object dtypes are not supported (got {dt}); streams hold raw numeric data")
    if dt.subdtype is not None:
        raise TypeError(
            f"{where}: dtype {dt} is a subarray dtype; pass the element dtype and the record "
            f"shape separately: dtype={dt.subdtype[0]}, record_shape={dt.subdtype[1]}"
        )
    return dt


def _is_path(obj: object) -> bool:
    return isinstance(obj, (str, bytes, os.PathLike))


def _fspath(path: PathLike, where: str) -> str:
    p = os.fsdecode(os.fspath(path))
    if not os.path.exists(p):
        raise FileNotFoundError(f"{where}: no such file: {p!r}")
    if os.path.isdir(p):
        raise IsADirectoryError(f"{where}: {p!r} is a directory, not a file")
    return p


def _source(make: Callable[[], Iterable[np.ndarray]], one_shot: bool, nonempty: bool) -> Any:
    return OneShotSource(make, nonempty) if one_shot else CallableSource(make, nonempty)


def _is_stdin(path: object) -> bool:
    return isinstance(path, str) and path == "-"
