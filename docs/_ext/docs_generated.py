"""Pages the docs build writes itself, before Sphinx reads the sources.

* ``_generated/registry.inc``: the catalogue of every registered stage,
  source and reducer (built-in and plugins), read from the live registry;
* ``_generated/perf/``: the performance page's figures and tables, from a
  small run of the benchmark suite against the peers (``perf_figures``).

It also runs ``docs/migration.py``, the comparison page's snippets, which
assert that each peer and pystream agree: a false claim fails the build.

``PYSTREAM_DOCS_REUSE_BENCH=1`` keeps an earlier benchmark run's files when
they are all there (for quick rebuilds while writing); CI never sets it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent.parent
GENERATED = DOCS / "_generated"
PERF_FILES = ("machine.rst", "windows.png", "windows_table.rst", "reductions.png",
              "reductions_table.rst", "sketches.png", "sketches_table.rst",
              "cpu_starvation.png", "cpu_starvation_table.rst")

_KIND_TITLES = {"sources": "Sources", "stages": "Stages", "reducers": "Reducers"}


def _api_role(kind: str, name: str, entry: Any) -> str:
    """A cross-reference to the entry's API page."""
    if entry.plugin == "pystream":
        if kind == "sources":
            return f":func:`pystream.from_{name}`"
        if kind == "reducers":
            return f":class:`pystream.{type_name(entry)}`"
        return f":meth:`pystream.Stream.{name}`"
    module = entry.factory.__module__.split(".")[0]
    public = getattr(__import__(module), entry.factory.__name__, None)
    role = "class" if isinstance(entry.factory, type) else "func"
    if public is entry.factory:
        return f":{role}:`{module}.{entry.factory.__name__}`"
    return f"``{name}``"


def type_name(entry: Any) -> str:
    return getattr(entry.factory, "__name__", entry.name)


def write_registry(path: Path) -> None:
    """A list-table per kind: name, family, plugin, summary, API page."""
    from pystream.plugins import get_registry

    reg = get_registry()
    out = []
    for kind in ("sources", "stages", "reducers"):
        entries = getattr(reg, kind)
        out += [_KIND_TITLES[kind], "-" * len(_KIND_TITLES[kind]), "",
                ".. list-table::", "   :header-rows: 1", "   :widths: 18 12 14 40 16", "",
                "   * - name", "     - family", "     - package", "     - what it does",
                "     - reference"]
        for name in sorted(entries, key=lambda n: (entries[n].family, n)):
            e = entries[name]
            call = f"pystream.from_{name}(...)" if kind == "sources" else f"stream.{name}(...)"
            summary = " ".join(e.summary.split()) or "--"
            out += [f"   * - ``{call}``", f"     - {e.family}", f"     - {e.origin}",
                    f"     - {summary}", f"     - {_api_role(kind, name, e)}"]
        out.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def write_perf(outdir: Path, logger: Any) -> None:
    if os.environ.get("PYSTREAM_DOCS_REUSE_BENCH") == "1" and all(
            (outdir / f).exists() for f in PERF_FILES):
        logger.info("performance figures: reusing %s", outdir)
        return
    import perf_figures

    t0 = time.perf_counter()
    perf_figures.build(outdir)
    logger.info("performance figures: built in %.1f s", time.perf_counter() - t0)


def check_migration() -> None:
    """Run the comparison page's snippets; an AssertionError fails the build."""
    import runpy

    runpy.run_path(str(DOCS / "migration.py"), run_name="__docs__")


def _on_builder_inited(app: Any) -> None:
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    write_registry(GENERATED / "registry.inc")
    check_migration()
    write_perf(GENERATED / "perf", logger)


def setup(app: Any) -> dict[str, Any]:
    # Before sphinx-gallery and autosummary (priority 500) read anything.
    app.connect("builder-inited", _on_builder_inited, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
