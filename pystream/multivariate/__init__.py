"""Multivariate statistics (issue 21): states over records of several columns.

:class:`CoMoments` -- count, means and co-moment matrix (``cov``, ``corr``).
"""

from __future__ import annotations

from .comoments import CoMoments

__all__ = ["CoMoments"]
