"""The ``pystream`` command (``pystream describe``, ``run``, ``plugins``).

How it reads its input and writes its output: :doc:`/internals/cli`.
"""

from .app import main

__all__ = ["main"]
