"""Scans: ``cumsum`` ... ``cumstd`` in C (:class:`Scan`), ``cummin``, ``cummax``,
``cumcount`` and ``diff`` exact to numpy (:mod:`pystream.stages.scans_exact`),
and the family's table.

Accuracy and dtype rules: ``docs/internals/stages.rst``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from .._checks import check_ddof, check_nan_policy
from .._native import check_record_values, check_status, ffi, kernel_dtype, lib
from .kernel import KernelStage
from .scans_exact import CumCount, CumMax, CumMin, Diff
from .slow_twins import slow_cumcount, slow_cummax, slow_cummin, slow_diff, slow_scan
from .table import StageRow
from .windows import DEFAULT_DDOF

__all__ = ["IntScanState", "SCAN_STAGES", "Scan", "TABLE"]

#: The C-backed scan names.
SCAN_STAGES = ("cumsum", "cumprod", "cummean", "cumvar", "cumstd")
_INT_KERNELS = {"cumsum": "ps_cumsum_int64", "cumprod": "ps_cumprod_int64"}
_INT64_MAX = np.iinfo(np.int64).max
_I8 = np.dtype(np.int64)


class Scan(KernelStage):
    """A running (cumulative) statistic: one output per input record.

    Parameters
    ----------
    name : {"cumsum", "cumprod", "cummean", "cumvar", "cumstd"}
    nan_policy : {"propagate", "omit", "raise"}, default "propagate"
        ``"propagate"``: from the first NaN on, every output is NaN (numpy's
        ``cumsum``); ``"omit"``: NaNs are skipped (``np.nancumsum``: a NaN
        counts as 0 in a sum, 1 in a product); ``"raise"``: ``ValueError``.
    ddof : float, optional
        ``cumvar`` / ``cumstd`` only: divisor ``count - ddof``, NaN while
        ``count - ddof <= 0``; default 1 (pandas' ``expanding().var()``).

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> ps.from_array(np.array([1.0, 2.0, 3.0])).pipe(Scan("cummean")).to_array()
    array([1. , 1.5, 2. ])
    """

    def __init__(self, name: str, nan_policy: str = "propagate",
                 ddof: float | None = None) -> None:
        if name not in SCAN_STAGES:
            raise ValueError(f"Scan: unknown scan {name!r}; expected one of {SCAN_STAGES}")
        self.name = name  # type: ignore[misc]
        self.kernel = name
        self.nan_policy = check_nan_policy(nan_policy, name)
        params: dict[str, Any] = {}
        if name in ("cumvar", "cumstd"):
            params["ddof"] = float(check_ddof(DEFAULT_DDOF if ddof is None else ddof, name))
        elif ddof is not None and ddof != 0:
            raise TypeError(f"{name}: ddof applies to cumvar and cumstd only")
        self.kernel_params = params

    def _exact_int(self, dtype: np.dtype) -> bool:
        return self.name in _INT_KERNELS and np.dtype(dtype).kind in "biu"

    def output_meta(self, dtype: np.dtype, record_shape: tuple[int, ...]) -> tuple[np.dtype, tuple[int, ...]]:
        """int64 for integer/bool cumsum and cumprod (exact), float64 otherwise."""
        kernel_dtype(dtype, self.name)
        check_record_values(record_shape, self.name)
        if self._exact_int(dtype):
            return np.dtype(np.int64), tuple(record_shape)
        return np.dtype(np.float64), tuple(record_shape)

    def new_state(self, chunk: np.ndarray, start: int) -> Any:
        """The state of a pass, picked by its first non-empty `chunk`: exact int64
        for integer and bool ``cumsum`` / ``cumprod``, the float64 C kernel otherwise."""
        if self._exact_int(chunk.dtype):
            return IntScanState(self.name, tuple(chunk.shape[1:]), start)
        return self.state(tuple(chunk.shape[1:]), start)


class IntScanState:
    """The exact int64 ``cumsum`` / ``cumprod`` state: the running value of each
    value of the record, carried across chunks.

    The interface a :class:`~pystream.stages.kernel.KernelPusher` feeds
    (``update``, ``flush``, ``position``), as :class:`StageState`'s.

    Parameters
    ----------
    name : {"cumsum", "cumprod"}
    record_shape : tuple of int
        Shape of one record.
    start : int
        Global index of the first record (named in errors).

    Examples
    --------
    >>> import numpy as np
    >>> st = IntScanState("cumsum", (), 0)
    >>> st.update(np.array([1, 2])), st.update(np.array([3], dtype=np.uint8))
    (array([1, 3]), array([6]))
    """

    __slots__ = ("_bad", "_carry", "_carry_c", "_kernel", "_record_shape", "_width", "name",
                 "position")

    def __init__(self, name: str, record_shape: tuple[int, ...], start: int) -> None:
        if name not in _INT_KERNELS:
            raise ValueError(f"IntScanState: {name!r} has no exact integer form")
        self.name = name
        self._kernel = getattr(lib, _INT_KERNELS[name])
        self._record_shape = record_shape
        self._width = int(np.prod(record_shape, dtype=np.int64))
        self._carry = np.full(self._width, 0 if name == "cumsum" else 1, dtype=np.int64)
        self._carry_c = ffi.from_buffer("int64_t[]", self._carry, require_writable=True)
        self._bad = ffi.new("int64_t *")
        #: Global index of the next record.
        self.position: int = start

    def __repr__(self) -> str:
        return f"<pystream.IntScanState {self.name} at record {self.position}>"

    def update(self, chunk: np.ndarray, buffer: np.ndarray | None = None) -> np.ndarray:
        """Scan a chunk of integers or bools; return its int64 outputs.

        Parameters
        ----------
        chunk : ndarray
            Shape ``(k, *record_shape)``, bool or integer dtype.
        buffer : ndarray of uint8, optional
            Memory of at least ``8 * chunk.size`` bytes for the output (then
            a view of it); default: a new array.

        Raises
        ------
        OverflowError
            When a value or the exact result leaves int64; no output of this
            chunk is kept.
        """
        n = len(chunk)
        position = self.position
        if chunk.dtype == np.uint64 and chunk.size and int(chunk.max()) > _INT64_MAX:
            row = int(np.argmax((chunk > _INT64_MAX).reshape(n, -1).any(axis=1)))
            raise OverflowError(f"{self.name}: value at record {position + row} does not fit int64")
        width = self._width
        if type(chunk) is np.ndarray and chunk.dtype == _I8 and chunk.flags.c_contiguous \
                and chunk.flags.aligned:
            rows = chunk  # the common case, without np.require's overhead
        else:
            rows = np.require(chunk.reshape(n, width), np.int64, ["C", "A"])
        if buffer is None:
            out = np.empty((n, *self._record_shape), np.int64)
        else:
            out = buffer[: 8 * n * width].view(np.int64)
            if self._record_shape:
                out = out.reshape(n, *self._record_shape)
        bad = self._bad
        status = self._kernel(ffi.from_buffer("int64_t[]", rows), n, width, self._carry_c,
                              ffi.from_buffer("int64_t[]", out, require_writable=True), bad)
        if status:
            if status == lib.PS_ERR_OVERFLOW:
                raise OverflowError(
                    f"{self.name}: int64 overflow at record {position + int(bad[0])} "
                    "(integers accumulate exactly; use .astype(float) for a float result)"
                )
            check_status(status, f"{self.name}: chunk at record {position}")
        self.position = position + n
        return out

    def flush(self) -> np.ndarray:
        """A scan has no pending output: an empty int64 array."""
        return np.empty((0, *self._record_shape), np.int64)


# --------------------------------------------------------------------------- the table

_NAN = 'nan_policy : {"propagate", "omit", "raise"}, default "propagate"'
_EXAMPLE = "Examples\n--------\n>>> import numpy as np, pystream as ps\n"


def _scan_doc(head: str, params: str, returns: str, example: str) -> str:
    return (f"{head}\n\nParameters\n----------\n{params}\n\nReturns\n-------\n{returns}"
            f"\n\n{_EXAMPLE}{example}")


def _scan_row(name: str, doc: str, build: Any, params: str, call: str, twin: Any,
              sample: dict[str, Any] | None = None) -> StageRow:
    kinds = (name,) if name in SCAN_STAGES else ()
    row = StageRow(name, "scans", doc, build, params, call, twin, sample or {}, kinds=kinds,
                   partitioning="records" if name == "diff" else "sequential")
    if kinds:
        row.build.__doc__ = row.docstring  # type: ignore[attr-defined]
    return row


def _c_scan(name: str, doc: str, ddof: bool = False) -> StageRow:
    params = "ddof: float = 1, nan_policy: str = \"propagate\"" if ddof else \
        "nan_policy: str = \"propagate\""
    return _scan_row(name, doc, partial(Scan, name), params,
                     "nan_policy, ddof" if ddof else "nan_policy", partial(slow_scan, name),
                     {"ddof": 1} if name == "cumvar" else None)


#: The scans, one row each.
TABLE: tuple[StageRow, ...] = (
    _c_scan("cumsum", _scan_doc(
        "Running sum (``np.cumsum``; ``np.nancumsum`` with ``nan_policy=\"omit\"``).\n\n"
        "Floats accumulate in float64 (bit-identical to ``np.cumsum`` on\n"
        "float64); integers and bools exactly in int64, an overflow raising\n"
        "``OverflowError`` with the record's index.", _NAN,
        "Stream\n    float64 records (int64 for integer input).",
        ">>> ps.from_array(np.arange(5), chunk_size=2).cumsum().to_array()\n"
        "array([ 0,  1,  3,  6, 10])")),
    _c_scan("cumprod", _scan_doc(
        "Running product (``np.cumprod``; ``np.nancumprod`` with ``nan_policy=\"omit\"``).\n\n"
        "Same dtype rules as :meth:`cumsum`.", _NAN, "Stream",
        ">>> ps.from_array(np.array([1.0, 2.0, np.nan, 4.0])).cumprod(nan_policy=\"omit\")"
        ".to_array()\narray([1., 2., 2., 8.])")),
    _scan_row("cummin", _scan_doc(
        "Running minimum (``np.minimum.accumulate``; ``np.fmin.accumulate`` with\n"
        "``nan_policy=\"omit\"``); the dtype is kept.", _NAN, "Stream",
        ">>> ps.from_array(np.array([3, 1, 2, 0])).cummin().to_array()\n"
        "array([3, 1, 1, 0])"), CumMin, "nan_policy: str = \"propagate\"", "nan_policy",
        slow_cummin),
    _scan_row("cummax", _scan_doc(
        "Running maximum (``np.maximum.accumulate``; ``np.fmax.accumulate`` with\n"
        "``nan_policy=\"omit\"``); the dtype is kept.", _NAN, "Stream",
        ">>> ps.from_array(np.array([1, 3, 2, 4])).cummax().to_array()\n"
        "array([1, 3, 3, 4])"), CumMax, "nan_policy: str = \"propagate\"", "nan_policy",
        slow_cummax),
    _scan_row("cumcount", _scan_doc(
        "Running count of values (int64): at each record, how many non-NaN values\n"
        "there were so far, this record included.",
        'nan_policy : {"omit", "propagate", "raise"}, default "omit"\n'
        "    ``\"propagate\"`` counts NaNs too.", "Stream",
        ">>> ps.from_array(np.array([1.0, np.nan, 2.0])).cumcount().to_array()\n"
        "array([1, 1, 2])"), CumCount, "nan_policy: str = \"omit\"", "nan_policy",
        slow_cumcount),
    _c_scan("cummean", _scan_doc(
        "Running mean at every record (compensated sum / count; float64).",
        _NAN + "\n    ``\"omit\"``: the mean of the non-NaN values so far (NaN before\n"
        "    the first one).", "Stream",
        ">>> ps.from_array(np.array([2.0, 4.0, np.nan, 6.0])).cummean(nan_policy=\"omit\")"
        ".to_array()\narray([2., 3., 3., 4.])")),
    _c_scan("cumvar", _scan_doc(
        "Running variance at every record (Welford; NaN while ``count - ddof <= 0``).",
        "ddof : float, default 1\n"
        "    Delta degrees of freedom: divisor ``count - ddof``.  The default\n"
        "    1 is pandas' ``expanding().var()``; ``ddof=0`` divides by the\n"
        "    count, as ``np.var`` of the records so far.  The reducers\n"
        "    (:meth:`var`, :meth:`describe`) keep numpy's default 0.\n" + _NAN, "Stream",
        ">>> ps.from_array(np.array([1.0, 3.0, 5.0])).cumvar().to_array()\n"
        "array([nan,  2.,  4.])\n"
        ">>> ps.from_array(np.array([1.0, 3.0, 5.0])).cumvar(ddof=0).to_array()\n"
        "array([0.        , 1.        , 2.66666667])"), ddof=True),
    _c_scan("cumstd", _scan_doc(
        "Running standard deviation at every record (the square root of :meth:`cumvar`).",
        "ddof : float, default 1\n"
        "    Delta degrees of freedom: divisor ``count - ddof``; 1 is pandas'\n"
        "    ``expanding().std()``, 0 is ``np.std`` of the records so far.\n" + _NAN, "Stream",
        ">>> ps.from_array(np.array([1.0, 3.0, 5.0])).cumstd().to_array()\n"
        "array([       nan, 1.41421356, 2.        ])"), ddof=True),
    _scan_row("diff", _scan_doc(
        "The `n`-th discrete difference along the stream, as ``np.diff(x, n, axis=0)``.\n\n"
        "The output has ``n`` records fewer than the input and numpy's dtype\n"
        "(``not_equal`` for bools; unsigned integers wrap around as in numpy).",
        "n : int, default 1\n    Order of the difference (``>= 0``).", "Stream",
        ">>> ps.from_array(np.array([1, 4, 9, 16]), chunk_size=3).diff().to_array()\n"
        "array([3, 5, 7])"), Diff, "n: int = 1", "n", slow_diff, {"n": 2}),
)
