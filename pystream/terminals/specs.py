"""The table of terminal specs, complete: the spec modules register their
specs (``@terminal``) as they are imported here."""

from __future__ import annotations

from . import covariance, describe, distribution, outputs  # noqa: F401  (they fill TERMINALS)
from .protocol import TERMINALS

__all__ = ["TERMINALS"]
