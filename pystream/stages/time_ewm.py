"""EWM over irregular times: ``ewm_mean(halflife="10s", times=True)`` (:class:`EwmTime`).

The weight of the observation at time t_j in the output at t_i is
``0.5 ** ((t_i - t_j) / halflife)``, pandas' ``ewm(halflife=..., times=...)``
(see ``docs/time_ewm.rst`` for where pandas and polars are reported wrong,
and which side the formula takes).  The kernel
(:mod:`pystream.stages.ewm_time_kernels`) carries its state across chunks,
so any chunking gives the same bytes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_count
from .._columns import TimeColumn
from .._native import check_record_values, kernel_dtype
from .._timeunits import parse_duration
from .ewm_time_kernels import EwmTimeState
from .timed import Duration, TimedPusher, TimedStage, Triple, is_duration, time_values

__all__ = ["EwmTime", "uses_times"]


def uses_times(halflife: Any, times: Any) -> bool:
    """Whether an EWM call weighs by time: `times` given, or a halflife that is a
    duration (``"10s"``, a timedelta, ``ps.duration(x)``)."""
    return (times is not None and times is not False) or is_duration(halflife)


class EwmTime(TimedStage):
    """An exponentially weighted stage whose decay follows the time column.

    Parameters
    ----------
    name : {"ewm_mean", "ewm_var", "ewm_std"}
    halflife : str, timedelta, Duration or float
        The time over which a weight halves: ``"10s"``, a timedelta, or a
        number in the units of a numeric time column.
    times : True or str, optional
        The stream's time column (True, or its name); implied by a duration
        `halflife`.
    min_periods : int, default 0
    adjust : bool, default True
    ignore_na : bool, default False
    bias : bool, default False
        ``ewm_var`` / ``ewm_std`` only.

    Examples
    --------
    >>> import numpy as np, pystream as ps
    >>> t = np.array([0, 1, 3], dtype="datetime64[s]")
    >>> ps.from_array(np.array([1.0, 2.0, 3.0]), time=t).ewm_mean(halflife="1s").to_array()
    array([1.        , 1.66666667, 2.63636364])
    """

    def __init__(self, name: str, halflife: Any, times: Any = True, min_periods: int = 0,
                 adjust: bool = True, ignore_na: bool = False, bias: bool = False) -> None:
        if name not in ("ewm_mean", "ewm_var", "ewm_std"):
            raise ValueError(f"EwmTime: unknown stage {name!r}")
        self.name = name
        if halflife is None:
            raise TypeError(f"{name}: an EWM over times takes its decay as halflife= "
                            "(a duration such as '10s'); com, span and alpha count records")
        self.halflife_value = halflife.value if isinstance(halflife, Duration) else halflife
        if times is not None and times is not True and not isinstance(times, str):
            raise TypeError(f"{name}: times must be True or the name of the stream's time "
                            f"column (the times travel with the stream), got {type(times).__name__}")
        self.times = times
        self.min_periods = check_count(min_periods, "min_periods", name)
        for flag, value in (("adjust", adjust), ("ignore_na", ignore_na), ("bias", bias)):
            if not isinstance(value, (bool, np.bool_, int)) or value not in (0, 1):
                raise TypeError(f"{name}: {flag} must be True or False, got {value!r}")
        if bias and name == "ewm_mean":
            raise TypeError("ewm_mean: bias applies to ewm_var and ewm_std only")
        self.adjust, self.ignore_na, self.bias = bool(adjust), bool(ignore_na), bool(bias)
        self.halflife: float | None = None
        if isinstance(self.halflife_value, str) or not isinstance(
                self.halflife_value, (int, float, np.number)):
            parse_duration(self.halflife_value, True, name)

    def __repr__(self) -> str:
        return f"EwmTime({self.name}: halflife={self.halflife_value!r})"

    def _bound(self) -> None:
        time: TimeColumn | None = self.time
        assert time is not None
        if isinstance(self.times, str) and time.name is not None and self.times != time.name:
            raise ValueError(f"{self.name}: times={self.times!r}, but the stream's time column "
                             f"is {time.name!r} (a stream has one time column)")
        self.halflife = float(parse_duration(self.halflife_value, time.is_datetime, self.name))

    def output_meta(self, dtype: np.dtype, record_shape: tuple[int, ...]
                    ) -> tuple[np.dtype, tuple[int, ...]]:
        """float64 records of the input's shape."""
        kernel_dtype(dtype, self.name)
        check_record_values(record_shape, self.name)
        return np.dtype(np.float64), tuple(record_shape)

    def push_timed(self, start: int = 0) -> _EwmTimePusher:
        """A fresh push form (send a chunk with its times, get its outputs)."""
        if self.halflife is None:
            raise TypeError(f"{self.name}: the stage is not bound to a time column (bind())")
        return _EwmTimePusher(self, start)


class _EwmTimePusher(TimedPusher):
    def __init__(self, stage: EwmTime, start: int) -> None:
        super().__init__(stage, start)
        self.state: EwmTimeState | None = None

    def _send(self, values: np.ndarray, time: np.ndarray, key: np.ndarray | None) -> list[Triple]:
        stage = self.stage
        assert isinstance(stage, EwmTime) and stage.halflife is not None
        rows = self.rows(values, "omit")
        if self.state is None:
            self.state = EwmTimeState(stage.name.removeprefix("ewm_"), stage.halflife,
                                      rows.shape[1], stage.adjust, stage.ignore_na,
                                      stage.min_periods, stage.bias)
        out = self.state.update(rows, time_values(time))
        return [(out.reshape(values.shape), time, key)]
