"""The compiled C core and the one place where buffers are checked
(:func:`prepare_chunk`; see :doc:`/internals/native`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ._pystream_c import ffi, lib

__all__ = [
    "ffi",
    "lib",
    "KernelInput",
    "as_array",
    "check_record_values",
    "read_only",
    "prepare_chunk",
    "check_status",
    "dtype_from_code",
    "kernel_dtype",
]

_CODES: dict[np.dtype, int] = {
    np.dtype(np.bool_): lib.PS_BOOL,
    np.dtype(np.int8): lib.PS_INT8,
    np.dtype(np.int16): lib.PS_INT16,
    np.dtype(np.int32): lib.PS_INT32,
    np.dtype(np.int64): lib.PS_INT64,
    np.dtype(np.uint8): lib.PS_UINT8,
    np.dtype(np.uint16): lib.PS_UINT16,
    np.dtype(np.uint32): lib.PS_UINT32,
    np.dtype(np.uint64): lib.PS_UINT64,
    np.dtype(np.float32): lib.PS_FLOAT32,
    np.dtype(np.float64): lib.PS_FLOAT64,
}
_DTYPES: dict[int, np.dtype] = {code: dt for dt, code in _CODES.items()}


class KernelInput(NamedTuple):
    """A chunk ready for a kernel: a 2-D ``(n, d)`` view and its layout.

    ``array`` must stay referenced while ``pointer`` is in use.
    """

    array: np.ndarray
    pointer: object  # cffi ``void *``
    n: int
    d: int
    record_stride: int
    value_stride: int
    code: int


def kernel_dtype(dtype: np.dtype, where: str = "input") -> np.dtype:
    """The native dtype a kernel reads for data of ``dtype``.

    Raises
    ------
    TypeError
        If the dtype is not numeric (complex, object, strings, datetimes...).
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f" and dtype.itemsize == 2:
        return np.dtype(np.float32)  # float16 is widened exactly
    native = dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype
    if native not in _CODES:
        raise TypeError(
            f"{where}: dtype {dtype} is not supported; pystream reduces bool, "
            "int8..int64, uint8..uint64, float16, float32 and float64 "
            "(convert with .astype(...) first)"
        )
    return native


def read_only(a: np.ndarray) -> np.ndarray:
    """`a` if it is read-only, else a read-only view of it.

    Sources hand the caller's own arrays to user code (``map`` and
    ``filter`` functions, ``pipe`` generators, plugin stages and reducers,
    callbacks) only through such views, so code that writes to its input
    fails with numpy's "assignment destination is read-only" instead of
    changing the caller's data.  Views of a read-only array are read-only
    too, so slicing chunks off it costs nothing more.

    Examples
    --------
    >>> x = np.zeros(3)
    >>> v = read_only(x)
    >>> v.flags.writeable, x.flags.writeable, np.shares_memory(v, x)
    (False, True, True)
    """
    if not a.flags.writeable:
        return a
    v = a.view()
    v.setflags(write=False)
    return v


def check_record_values(record_shape: tuple[int, ...], where: str) -> int:
    """The number of values of a record of `record_shape`; refuses zero.

    Every stage and reducer that computes on values (C stages, reducers,
    sketches) refuses records that hold no values, such as those of
    ``np.zeros((n, 0))``, as soon as it knows the record shape (at
    construction for a stage, whatever the record count), so an empty
    stream of such records fails as a non-empty one does.

    Raises
    ------
    ValueError
        If a dimension of `record_shape` is 0.

    Examples
    --------
    >>> check_record_values((3, 2), "moving_sum")
    6
    """
    d = 1
    for size in record_shape:
        d *= int(size)
    if d == 0:
        raise ValueError(f"{where}: records of shape {tuple(record_shape)} hold no values")
    return d


def dtype_from_code(code: int) -> np.dtype:
    """numpy dtype of a C dtype code."""
    return _DTYPES[code]


def as_array(data: Any, where: object = "input") -> np.ndarray:
    """`data` as a plain :class:`numpy.ndarray` whose geometry comes from its buffer.

    The one conversion every state's ``update()`` applies to its input
    before reading a shape, a stride or a pointer.  An ndarray subclass is
    viewed as a base-class array by :func:`numpy.asarray`, which takes the
    dtype, shape and strides from the array's C struct: a subclass whose
    Python ``shape``, ``strides``, ``dtype``, ``__class__`` or ``view``
    lie (or an ``np.matrix``, whose ``reshape(-1)`` stays 2-d) cannot make
    a kernel read past the buffer.  Other array-likes (lists, tuples,
    scalars, objects with the buffer protocol such as ``bytearray`` and
    ``memoryview``, objects with ``__array__``) are converted as numpy
    converts them.

    Parameters
    ----------
    data : array_like
        The input.
    where : object
        Named in error messages (formatted only on error).

    Returns
    -------
    ndarray
        `data` itself when it is a plain ndarray, else a view or a new array
        (same shape as numpy gives it; a scalar becomes a 0-d array).

    Raises
    ------
    TypeError
        For a masked array (its mask would be ignored), for data numpy
        cannot convert, and for objects that are not numbers (``None``,
        a generator...: numpy would make a 0-d object array of them).

    Examples
    --------
    >>> as_array([1, 2]).dtype.kind
    'i'
    >>> as_array(bytearray(b"ab")).tolist()
    [97, 98]
    """
    if type(data) is np.ndarray:
        return data
    if isinstance(data, np.ndarray):
        if isinstance(data, np.ma.MaskedArray):  # its mask would be silently ignored
            raise TypeError(
                f"{where}: masked arrays are not supported (the mask would be ignored); "
                "use a.filled(np.nan) with nan_policy='omit', or a.compressed()"
            )
        return np.asarray(data)  # a base-class view built from the C struct, not attributes
    try:
        out = np.asarray(data)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{where}: cannot convert {type(data).__name__} to an array of "
                        f"numbers: {e}") from None
    if type(out) is not np.ndarray:  # pragma: no cover - numpy returns base arrays
        out = np.asarray(out)
    if out.dtype.hasobject:
        raise TypeError(f"{where}: expected an array of numbers, got {type(data).__name__}"
                        + (f" holding {type(out.flat[0]).__name__}" if out.ndim and out.size else ""))
    return out


def prepare_chunk(chunk: np.ndarray, where: object = "chunk") -> KernelInput:
    """Check a chunk and return what a kernel needs to read it in place.

    Parameters
    ----------
    chunk : ndarray
        Shape ``(k, *record_shape)``, ``k >= 0``.
    where : object
        Named in error messages (e.g. ``"chunk at record 4096"``); only
        formatted when an error is raised.

    Returns
    -------
    KernelInput
        A view (or, for byte-swapped, misaligned or float16 input, a native
        copy) of shape ``(k, d)``, ``d = prod(record_shape)``.  A 0-d array
        is one record of one value (``k = d = 1``).

    Raises
    ------
    TypeError
        Not an array of a supported dtype (see :func:`as_array`).
    ValueError
        Records of size zero.
    """
    if type(chunk) is not np.ndarray:
        chunk = as_array(chunk, where)  # geometry from the buffer, not the object
    code = _CODES.get(chunk.dtype)
    if code is None:  # byte-swapped, float16 or unsupported: convert or refuse
        native = kernel_dtype(chunk.dtype, str(where))
        chunk = chunk.astype(native)
        code = _CODES[native]
    ndim = chunk.ndim
    if ndim == 0:  # one scalar record
        chunk = chunk.reshape(1)
        ndim = 1
    if ndim == 1:
        n, d = chunk.shape[0], 1
        s0 = s1 = chunk.strides[0]
    else:
        n = chunk.shape[0]
        d = 1
        for size in chunk.shape[1:]:
            d *= size
        if d == 0:
            raise ValueError(f"{where}: records of shape {chunk.shape[1:]} hold no values")
        if ndim != 2:
            chunk = chunk.reshape(n, d)  # a view whenever numpy can make one
        s0, s1 = chunk.strides
    if not chunk.flags.aligned:
        chunk = np.array(chunk, copy=True)  # fresh allocations are aligned
        s0, s1 = chunk.strides[0], chunk.strides[-1]
    if chunk.flags.c_contiguous:
        pointer = ffi.from_buffer(chunk)
    else:
        pointer = ffi.cast("void *", chunk.__array_interface__["data"][0])
    return KernelInput(chunk, pointer, n, d, s0, s1, code)


class PystreamError(RuntimeError):
    """An error reported by the C core that no more specific type fits."""


def check_status(status: int, what: str) -> None:
    """Raise the Python exception matching a C status code.

    Parameters
    ----------
    status : int
        Return value of a ``ps_*`` function.
    what : str
        What was being done, for the message.
    """
    if status == lib.PS_OK:
        return
    message = f"{what}: {ffi.string(lib.ps_status_message(status)).decode()}"
    if status == lib.PS_ERR_NOMEM:
        raise MemoryError(message)
    if status == lib.PS_ERR_OVERFLOW:
        raise OverflowError(message)
    if status in (lib.PS_ERR_DTYPE, lib.PS_ERR_MISMATCH):
        raise TypeError(message)
    if status in (lib.PS_ERR_CORRUPT, lib.PS_ERR_VERSION, lib.PS_ERR_ARG,
                  lib.PS_ERR_NOT_ADJACENT, lib.PS_ERR_UNSET):
        raise ValueError(message)
    raise PystreamError(message)
