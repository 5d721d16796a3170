"""Build glue: setuptools runs csrc/build_ffi.py (not shipped) via cffi_modules."""

from setuptools import setup

setup(cffi_modules=["csrc/build_ffi.py:ffibuilder"])
