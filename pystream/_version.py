"""The package's version and its distribution name on the package index."""

__all__ = ["DISTRIBUTION", "__version__"]

__version__ = "0.1.0"
#: ``pip install pystream-numeric``; the import name stays ``pystream``
#: ("pystream" on PyPI is an unrelated project).
DISTRIBUTION = "pystream-numeric"
