"""Mergeable, serializable quantile sketches backed by the C core."""

from .kll import KLLSketch

__all__ = ["KLLSketch"]
