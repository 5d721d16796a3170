"""Pages the docs build writes itself, before Sphinx reads the sources.

* ``_generated/registry.inc``: the catalogue of every registered stage,
  source and reducer (built-in and plugins), read from the live registry;
* ``_generated/engine_stages.inc``: which stages run inside the partitions
  of ``engine="threads"`` / ``"dask"`` and which run sequentially, read from
  the live registry through the engines' own planner
  (:func:`pystream.chain.make_plan`);
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
              "cpu_starvation.png", "cpu_starvation_table.rst", "levels_table.rst")

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


# Arguments for the example call of a plugin stage in the engines table (a
# built-in's is its table row's ``sample``; stages whose parameters all have
# defaults need none).
_STAGE_ARGS: dict[str, dict[str, Any]] = {
    "decimate": {"q": 4},
    "sosfilt": {"sos": [[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]]},
}
_DEFAULT_ARGS = {"window": 100, "n": 4}


def _example_call(name: str, factory: Any) -> dict[str, Any]:
    """Keyword arguments for a small example call of stage `name`."""
    import inspect

    from pystream.stages.registry import BUILTIN_STAGES

    if name in BUILTIN_STAGES:
        return dict(BUILTIN_STAGES[name].sample)
    if name in _STAGE_ARGS:
        return dict(_STAGE_ARGS[name])
    kwargs = {}
    for p in inspect.signature(factory).parameters.values():
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_OR_KEYWORD,
                                                                p.KEYWORD_ONLY):
            if p.name not in _DEFAULT_ARGS:
                raise RuntimeError(
                    f"docs engines table: stage {name!r} needs argument {p.name!r}; add an "
                    "example call to _STAGE_ARGS in docs/_ext/docs_generated.py")
            kwargs[p.name] = _DEFAULT_ARGS[p.name]
    return kwargs


def _engine_row(call: str, stream: Any) -> tuple[str, str, str]:
    """``(call, where it runs, what a partition needs)`` from the engines' planner."""
    from pystream.chain import make_plan
    from pystream.stream import node_of
    from pystream.stages.partitioning import POINTWISE, Cap, Records, Shift, TimeWindow, Window

    plan = make_plan(node_of(stream), columns=True)
    if plan.suffix and plan.suffix[0].timed is not None:
        return (call, "sequential", "reads the time column: runs in order in the calling "
                "thread, after the partitions of the stages before it")
    if plan.suffix:
        return (call, "sequential",
                "its whole history: runs in order, in the calling thread")
    (step,) = plan.prefix
    m = step.mapping
    if step.filter:
        return (call, "parallel", "nothing; but the global index is lost after it, so later "
                "windows, records stages, scans and positional reducers run sequentially")
    if m == POINTWISE:
        return (call, "parallel", "nothing (one output per input)")
    if isinstance(m, Window):
        return (call, "parallel",
                f"a warm-up of the {m.history - 1} records before the partition (a halo)")
    if isinstance(m, TimeWindow):
        return (call, "parallel", "a warm-up back to the first record in its first record's "
                "window, found by reading the source's times")
    if isinstance(m, Records):
        if m.size == m.step:
            what = f"blocks of {m.size} aligned on the global index"
        else:
            what = f"windows of {m.size} every {m.step}, aligned on the global index"
        return (call, "parallel", f"{what}: starts at its first output's first input "
                                  f"(up to {m.size - 1} record{'s' if m.size > 2 else ''} early)")
    if isinstance(m, (Shift, Cap)):
        return (call, "parallel", "nothing (shifts or caps the global index)")
    return (call, "parallel", repr(m))  # pragma: no cover - a new mapping kind


def write_engine_stages(path: Path) -> None:
    """A list-table: every registered stage and the core structural ones,
    parallel or sequential under ``engine="threads"`` / ``"dask"``."""
    import numpy as np

    import pystream as ps
    from pystream.plugins import get_registry

    from pystream.stages.registry import BUILTIN_STAGES

    reg = get_registry()
    base = ps.from_array(np.zeros(256))
    timed = ps.from_array(np.zeros(256), time=np.arange(256).astype("datetime64[s]"))
    numeric = ps.from_array(np.zeros(256), time=np.arange(256.0))   # the rows' samples
    pairs = ps.from_array(np.zeros((256, 2)))    # multivariate stages: records of 2 columns

    def passthrough(chunks: Any) -> Any:
        yield from chunks

    rows = [
        ("core", "pystream", *_engine_row("map(np.abs)", base.map(np.abs))),
        ("core", "pystream", *_engine_row("astype / select", base.astype(np.float32))),
        ("core", "pystream", *_engine_row("filter(pred)", base.filter(lambda c: c > 0))),
        ("core", "pystream", *_engine_row("take(n) / skip(n)", base.take(10))),
        ("core", "pystream", *_engine_row("rechunk(n)", base.rechunk(10))),
        ("core", "pystream", *_engine_row("pipe(generator)", base.pipe(passthrough))),
        ("windows", "pystream", *_engine_row("moving_mean(window='5min') (a duration)",
                                             timed.moving_mean("5min"))),
        ("records", "pystream", *_engine_row("resample('1h') (calendar bins)",
                                             timed.resample("1h"))),
    ]
    for name in sorted(reg.stages, key=lambda n: (reg.stages[n].plugin != "pystream",
                                                   reg.stages[n].family, n)):
        e = reg.stages[name]
        row = BUILTIN_STAGES.get(name)
        src = numeric if row is not None and row.needs_time else base
        if row is not None and row.min_columns > 1:
            src = pairs
        kwargs = _example_call(name, getattr(src, name))
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        rows.append((e.family, e.origin, *_engine_row(f"{name}({args})",
                                                      getattr(src, name)(**kwargs))))
    out = [".. list-table::", "   :header-rows: 1", "   :widths: 30 10 14 12 40", "",
           "   * - stage (example call)", "     - family", "     - package",
           "     - on threads / Dask", "     - what a partition needs"]
    for family, origin, call, where, needs in rows:
        out += [f"   * - ``{call}``", f"     - {family}", f"     - {origin}",
                f"     - {where}", f"     - {needs}"]
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
    write_engine_stages(GENERATED / "engine_stages.inc")
    check_migration()
    write_perf(GENERATED / "perf", logger)


def setup(app: Any) -> dict[str, Any]:
    # Before sphinx-gallery and autosummary (priority 500) read anything.
    app.connect("builder-inited", _on_builder_inited, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
