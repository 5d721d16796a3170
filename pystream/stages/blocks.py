"""Block reductions in C: ``resample(n, how="sum" | "mean")``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_count, check_nan_policy
from .kernel import KernelStage
from .records import Resample
from .partitioning import Records

__all__ = ["BlockReduce", "resample_stage"]


class BlockReduce(KernelStage):
    """Sum or mean of each block of `n` records, accumulated in float64 in record order.

    Parameters
    ----------
    n : int
        Block length (``>= 1``); blocks are aligned on the stream's first record.
    how : {"sum", "mean"}
    nan_policy : {"propagate", "omit", "raise"}, default "propagate"
        ``"omit"``: NaNs are skipped (an all-NaN block sums to 0, its mean is NaN).
    partial : bool, default True
        Emit the reduction of an incomplete last block at the end of the stream.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> ps.from_array(np.arange(5.0)).pipe(BlockReduce(2, "sum")).to_array()
    array([1., 5., 4.])
    """

    name = "resample"  # type: ignore[assignment]

    def __init__(self, n: int, how: str = "mean", nan_policy: str = "propagate",
                 partial: bool = True) -> None:
        if how not in ("sum", "mean"):
            raise ValueError(f"resample: BlockReduce computes how='sum' or 'mean', got {how!r}")
        if not isinstance(partial, (bool, np.bool_)):
            raise TypeError(f"resample: partial must be True or False, got {partial!r}")
        self.kernel = f"resample_{how}"
        self.kernel_params = {"window": check_count(n, "n", "resample", minimum=1,
                                                    maximum=2**63 - 1)}
        self.nan_policy = check_nan_policy(nan_policy, "resample")
        self.emit_flush = bool(partial)

    def partitioning(self) -> Any:
        """How outputs depend on inputs, for the parallel engines
        (:mod:`pystream.stages.partitioning`): output ``i`` is inputs ``[i*n, (i+1)*n)``
        (the partial last block is the final partition's flush)."""

        n = self.kernel_params["window"]
        return Records(n, n)


def resample_stage(n: int, how: str = "mean", nan_policy: str = "propagate",
                   partial: bool = True) -> BlockReduce | Resample:
    """The stage for ``resample(n, how)``: C block sums/means, numpy for the rest.

    Examples
    --------
    >>> resample_stage(4, "sum")
    BlockReduce(resample: window=4)
    >>> resample_stage(4, "max")
    Resample(n=4, how='max', nan_policy='propagate', partial=True)
    """
    if how in ("sum", "mean"):
        return BlockReduce(n, how, nan_policy, partial)
    return Resample(n, how, nan_policy, partial)
