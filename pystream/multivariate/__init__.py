"""Multivariate statistics (issue 21): states over records of several columns.

:class:`CoMoments` -- count, means and co-moment matrix (``cov``, ``corr``);
:class:`LeastSquares` -- exact cross-products of a least-squares fit
(``Stream.ols``), whose result is an :class:`OLSResult`.
"""

from __future__ import annotations

from .comoments import CoMoments
from .ols import LeastSquares
from .result import OLSResult

__all__ = ["CoMoments", "LeastSquares", "OLSResult"]
