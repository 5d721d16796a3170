"""Moving-window stages: ``moving_sum`` ... ``moving_rank`` (C kernels).

Semantics follow bottleneck's ``move_*`` functions so users can switch:
one output per input record; the window of record ``i`` holds records
``i - window + 1 .. i``; NaNs are skipped (``nan_policy="omit"``, the
default, as in bottleneck and pandas) and an output is NaN while the window
holds fewer than ``min_count`` non-NaN values (``min_count`` defaults to
``window``, so the first ``window - 1`` outputs are NaN).  With
``nan_policy="propagate"`` any NaN in the window makes the output NaN; with
``"raise"`` a NaN raises ``ValueError`` naming its record.  One exception:
``moving_var`` / ``moving_std`` default to ``ddof=1``, pandas' ``rolling``
(bottleneck's ``move_var`` / ``move_std`` are ``ddof=0``; see
:data:`DEFAULT_DDOF`).

Unlike the peers, the kernels carry their state across chunks and are
drift-free: every output is computed from the values in its window only
(see ``docs/design.md``), so a constant window after a spike has variance
exactly 0 and an inf that has left the window no longer affects the output.

A window's memory grows with the records it has seen, up to the window
(from a floor of 2**17 values, about 1 MB per array): a ``window`` of 3e8
over 1,000 records takes a few MB, not GBs, and ``moving_rank`` costs at
most the records in the window per value.
"""

from __future__ import annotations

from typing import Any

from .._checks import as_int, check_count, check_ddof, check_nan_policy
from .kernel import KernelStage
from .partitioning import Window

__all__ = ["DEFAULT_DDOF", "MAX_WINDOW", "MOVING_STAGES", "Moving", "check_quantile"]

#: The default ``ddof`` of the variance *stages* (``moving_var``/``moving_std``,
#: ``cumvar``/``cumstd``): 1, the sample variance, as pandas' ``rolling``,
#: ``expanding`` and ``ewm`` and polars' ``rolling_std``.  The *reducers*
#: (``Stream.var``/``std``, ``describe``, ``Moments``) keep numpy's 0
#: (see docs/design.md, "ddof: stages follow pandas, reducers follow numpy").
DEFAULT_DDOF = 1

#: The largest ``window`` of the moving stages: 2**52 records (the C
#: kernels' ``PS_WINDOW_MAX``; positions in a window stay exact in float64).
MAX_WINDOW = 2**52

#: The moving-window stage names, each a :class:`Moving` kind.
MOVING_STAGES = (
    "moving_sum",
    "moving_mean",
    "moving_var",
    "moving_std",
    "moving_min",
    "moving_max",
    "moving_argmin",
    "moving_argmax",
    "moving_median",
    "moving_quantile",
    "moving_rank",
)


def check_quantile(q: object, where: str) -> float:
    """Validate a quantile: a real number in [0, 1].

    Examples
    --------
    >>> check_quantile(0.25, "moving_quantile")
    0.25
    """
    if isinstance(q, bool) or not isinstance(q, (int, float)) and not hasattr(q, "__float__"):
        raise TypeError(f"{where}: q must be a number in [0, 1], got {q!r}")
    try:
        value = float(q)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{where}: q must be a number in [0, 1], got {q!r}") from None
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise ValueError(f"{where}: q must be in [0, 1], got {q!r}")
    return value


class Moving(KernelStage):
    """A moving-window stage (one of :data:`MOVING_STAGES`).

    Parameters
    ----------
    name : str
        Stage name, e.g. ``"moving_mean"``.
    window : int
        Window length in records, ``1 <= window <=`` :data:`MAX_WINDOW`
        (2**52).
    min_count : int, optional
        Least number of non-NaN values in the window for a non-NaN output,
        ``1 <= min_count <= window``; default `window`.
    nan_policy : {"omit", "propagate", "raise"}, default "omit"
    ddof : float, optional
        ``moving_var`` / ``moving_std`` only: divisor ``count - ddof``;
        default 1 (the sample variance, as pandas' ``rolling`` and polars'
        ``rolling_std``; bottleneck's ``move_std`` is ``ddof=0``).
    q : float, optional
        ``moving_quantile`` only: the quantile in [0, 1] (numpy's "linear"
        interpolation).

    Raises
    ------
    TypeError, ValueError
        For invalid parameters, when the stage is built (not mid-stream).

    Notes
    -----
    Memory grows with the records seen, never with the nominal window: the
    state holds ``min(window, records seen)`` records, at 16 to 96 bytes per
    value (scalar records: ``moving_rank`` 16, ``moving_sum``/``mean`` 64,
    ``moving_var``/``std`` 96 once the window is full), allocated as
    records arrive (doubling, so at most twice that meanwhile, and from
    ``min(window, 2**17)`` values on, so that windows up to 131,072 scalar
    records are allocated once, as they always were).  A window
    longer than the stream therefore costs what the stream holds, and a
    serialized state (``StageState.to_bytes``, pickling) holds the last
    ``min(window - 1, records seen)`` inputs.  ``moving_rank`` compares each
    value with the others in its window: O(records in the window) per value,
    like bottleneck's ``move_rank``.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> stage = Moving("moving_mean", window=2)
    >>> ps.from_array(np.arange(4.0)).pipe(stage, dtype=np.float64).to_array()
    array([nan, 0.5, 1.5, 2.5])
    """

    def __init__(
        self,
        name: str,
        window: int,
        min_count: int | None = None,
        nan_policy: str = "omit",
        ddof: float | None = None,
        q: float | None = None,
    ) -> None:
        if name not in MOVING_STAGES:
            raise ValueError(f"Moving: unknown stage {name!r}; expected one of {MOVING_STAGES}")
        self.name = name  # type: ignore[misc]
        self.kernel = name
        window = check_count(window, "window", name, minimum=1)
        if window > MAX_WINDOW:
            raise ValueError(
                f"{name}: window must be at most 2**52 = {MAX_WINDOW} records, got {window}"
            )
        if min_count is None:
            min_count = window
        else:
            min_count = as_int(min_count, "min_count must be an integer", name)
            if not 1 <= min_count <= window:
                raise ValueError(
                    f"{name}: min_count must be in [1, window={window}], got {min_count}"
                )
        self.nan_policy = check_nan_policy(nan_policy, name)
        params: dict[str, Any] = {"window": window, "min_count": min_count}
        if name in ("moving_var", "moving_std"):
            params["ddof"] = float(check_ddof(DEFAULT_DDOF if ddof is None else ddof, name))
        elif ddof is not None and ddof != 0:
            raise TypeError(f"{name}: ddof applies to moving_var and moving_std only")
        if name == "moving_quantile":
            if q is None:
                raise TypeError("moving_quantile: q (the quantile, in [0, 1]) is required")
            params["q"] = check_quantile(q, name)
        elif q is not None:
            raise TypeError(f"{name}: q applies to moving_quantile only")
        if name == "moving_median":
            params["q"] = 0.5
        self.kernel_params = params

    def partitioning(self) -> Any:
        """How outputs depend on inputs, for the parallel engines
        (:mod:`pystream.stages.partitioning`): output ``i`` needs inputs ``i - window + 1 .. i``."""
        return Window(self.kernel_params["window"])
