"""The table of terminal specs, complete: the spec modules register their
specs (``@terminal``) as they are imported here."""

from __future__ import annotations

from . import describe, distribution  # noqa: F401  (they fill TERMINALS, in this order)
from . import covariance, outputs  # noqa: F401  (cov, corr after the describe family)
from . import regression  # noqa: F401  (ols)
from .protocol import TERMINALS

__all__ = ["TERMINALS"]
