"""Source factories: make a :class:`~pystream.stream.Stream` from data.

Every source is lazy (see :doc:`/internals/sources`): arrays and chunks in
``arrays``, ``.npy`` and raw files in ``binary``, text in ``text``, a random-access
``read(start, stop)`` callable in ``reader``.
"""

from .._buffers import BufferPool  # noqa: F401 -- the readers' pool (tests patch it here)
from .._npy import NPY_HEADER_LOCK  # noqa: F401 -- re-exported
from .arrays import as_ndarray, from_array, from_chunks, from_dask, from_iterable
from .binary import from_file, from_npy
from .reader import from_reader
from .text import from_text
from .tables import from_ipc, from_parquet, from_table
from .table_csv import from_csv

__all__ = ["from_array", "from_chunks", "from_csv", "from_dask", "from_file", "from_ipc",
           "from_iterable", "from_npy", "from_parquet", "from_reader", "from_table", "from_text"]
