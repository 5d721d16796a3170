"""Keyed streams (issue 20): per-key states in C, one grouping pass per chunk.

:mod:`pystream.keyed.kernels` wraps the C core (``csrc/keyed.h``):
:class:`~pystream.keyed.kernels.KeyedMomentsState` and
:class:`~pystream.keyed.kernels.KeyedStageState`.
"""
