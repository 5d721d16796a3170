"""cffi builder for pystream's C core (API / out-of-line mode).

Not shipped in the package: setuptools runs it at build time through
``cffi_modules`` in setup.py.  The cdef is read from the public headers:
``csrc/pystream.h`` first, then every other ``csrc/*.h`` that has
``cffi-cdef`` markers (the region between them), never kept in a Python
string.  Every ``csrc/*.c`` is compiled (the C tests live in
``csrc/tests/``), so a new kernel is a ``.c`` file and, if it has a public
API, a header with markers.

Environment switches (read at build time):

``PYSTREAM_SANITIZE=1``
    Build with AddressSanitizer + UndefinedBehaviorSanitizer, ``-O1 -g``.
    Run Python with ``LD_PRELOAD=$(gcc -print-file-name=libasan.so)``.
``PYSTREAM_DEBUG=1``
    ``-O0 -g`` without sanitizers.
"""

from __future__ import annotations

import os
import pathlib

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
HEADER = HERE / "pystream.h"
SOURCES = sorted(p.name for p in HERE.glob("*.c"))

BEGIN = "/* cffi-cdef-begin */"
END = "/* cffi-cdef-end */"


def read_cdef(header: pathlib.Path = HEADER) -> str:
    """Return the cdef region of the public header."""
    text = header.read_text(encoding="utf-8")
    try:
        start = text.index(BEGIN) + len(BEGIN)
        stop = text.index(END, start)
    except ValueError as exc:  # pragma: no cover - header is ours
        raise RuntimeError(f"{header}: cffi-cdef markers missing") from exc
    return text[start:stop]


def compile_args() -> tuple[list[str], list[str]]:
    """Compiler and linker flags for the selected build mode."""
    common = ["-std=c11", "-Wall", "-Wextra", "-fno-strict-aliasing", "-ffp-contract=off"]
    if os.environ.get("PYSTREAM_SANITIZE") == "1":
        flags = ["-O1", "-g", "-fno-omit-frame-pointer",
                 "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
        return common + flags, ["-fsanitize=address,undefined"]
    if os.environ.get("PYSTREAM_DEBUG") == "1":
        return common + ["-O0", "-g"], []
    return common + ["-O3"], []


def public_headers() -> list[pathlib.Path]:
    """``pystream.h``, then the other headers that declare a cffi API."""
    others = sorted(p for p in HERE.glob("*.h")
                    if p != HEADER and BEGIN in p.read_text(encoding="utf-8"))
    return [HEADER, *others]


def make_ffi() -> FFI:
    ffi = FFI()
    headers = public_headers()
    ffi.cdef("\n".join(read_cdef(h) for h in headers))
    cflags, ldflags = compile_args()
    ffi.set_source(
        "pystream._pystream_c",
        "".join(f'#include "{h.name}"\n' for h in headers),
        sources=[str((HERE / name).relative_to(HERE.parent)) for name in SOURCES],
        include_dirs=[str(HERE.relative_to(HERE.parent))],
        extra_compile_args=cflags,
        extra_link_args=ldflags,
        libraries=["m"],
    )
    return ffi


ffibuilder = make_ffi()

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
