"""Multivariate statistics (issue 21): streaming least squares
(:class:`LeastSquares`, :class:`OLSResult`, ``Stream.ols``)."""

from __future__ import annotations

from .ols import LeastSquares
from .result import OLSResult

__all__ = ["LeastSquares", "OLSResult"]
