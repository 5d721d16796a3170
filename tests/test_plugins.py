"""The plugin system: hooks, registry, lazy loading, isolation, conflicts, switches, CLI.

Plugins are registered in tests through fake entry points (modules placed in
``sys.modules`` and an ``importlib.metadata.EntryPoint`` naming them); one
test installs a real (deliberately broken) distribution on ``sys.path`` and
lets ``importlib.metadata`` discover it in a subprocess.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

import pystream as ps
from pystream import hookspecs, plugins
from pystream.hookspecs import hookimpl
from pystream.stages.registry import BUILTIN_STAGES

ROOT = Path(__file__).resolve().parents[1]


class ClipAbs:
    """Absolute value clipped at `limit` (a test plugin stage)."""

    name = "clip_abs"

    def __init__(self, limit: float = 1.0) -> None:
        if not limit > 0:
            raise ValueError(f"clip_abs: limit must be > 0, got {limit!r}")
        self.limit = float(limit)

    def output_meta(self, dtype, record_shape):
        if np.dtype(dtype).kind not in "biuf":
            raise TypeError(f"clip_abs: unsupported dtype {dtype}")
        return np.dtype(np.float64), tuple(record_shape)

    def __call__(self, chunks, start=0):
        for c in chunks:
            if len(c):
                yield np.minimum(np.abs(c.astype(np.float64)), self.limit)


class Total:
    """Sum of all values (a test plugin reducer)."""

    def __init__(self) -> None:
        self.total = 0.0

    def update(self, chunk):
        self.total += float(np.sum(chunk))
        return self

    def merge(self, other):
        self.total += other.total
        return self

    def result(self):
        return self.total

    def to_bytes(self):
        return np.float64(self.total).tobytes()

    @classmethod
    def from_bytes(cls, data):
        t = cls()
        t.total = float(np.frombuffer(data, np.float64)[0])
        return t


def from_ramp(n: int) -> ps.Stream:
    """0, 1, ..., n-1 as float64 (a test plugin source)."""
    return ps.from_array(np.arange(float(n)))


def make_module(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, func in hooks.items():
        setattr(module, hook_name, hookimpl(func))
    return module


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    """CI runs the suite with PYSTREAM_STRICT_PLUGINS=1; these tests choose their mode."""
    monkeypatch.delenv("PYSTREAM_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("PYSTREAM_DISABLE_PLUGINS", raising=False)


@pytest.fixture
def install(monkeypatch):
    """install({ep_name: module_or_exception}) -> fake entry points; registry reloaded."""
    def _install(mods: dict) -> plugins.Registry:
        eps = []
        for ep_name, mod in mods.items():
            modname = f"_pystream_test_plugin_{ep_name}"
            if isinstance(mod, BaseException):
                monkeypatch.setitem(sys.modules, modname, None)  # importing it fails
            else:
                monkeypatch.setitem(sys.modules, modname, mod)
            eps.append(importlib.metadata.EntryPoint(ep_name, modname, hookspecs.ENTRY_POINT_GROUP))
        monkeypatch.setattr(plugins, "_entry_points", lambda: eps)
        plugins.reset_registry()
        return plugins.get_registry()

    yield _install
    plugins.reset_registry()


def test_import_pystream_loads_no_plugin():
    code = "import pystream, pystream.plugins as p; print(p._registry is None)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_builtins_are_registered_through_the_hooks():
    registry = plugins.get_registry()
    assert set(BUILTIN_STAGES) <= set(registry.stages)
    assert all(registry.stages[n].origin == "pystream" for n in BUILTIN_STAGES)
    assert {"array", "npy", "text", "file", "chunks", "iterable"} <= set(registry.sources)
    assert registry.reducers["moments"].factory is ps.Moments
    assert registry.plugins[0].name == "pystream" and registry.plugins[0].error is None


def test_register_stages_hook_makes_a_stream_method(install):
    mod = make_module("clip", register_stages=lambda register: register(
        "clip_abs", ClipAbs, family="elementwise", example="examples/clip.py"))
    registry = install({"clip": mod})
    entry = registry.stages["clip_abs"]
    assert entry.summary == "Absolute value clipped at `limit` (a test plugin stage)."
    assert entry.plugin == "clip" and entry.example == "examples/clip.py"
    x = np.array([-3.0, 0.5, 2.0])
    s = ps.from_array(x)
    np.testing.assert_array_equal(s.clip_abs(limit=1.0).to_array(), [1.0, 0.5, 1.0])
    assert "clip_abs" in dir(s)
    assert "Absolute value clipped" in s.clip_abs.__doc__
    assert "limit" in str(inspect.signature(s.clip_abs))
    assert ps.stages.clip_abs is ClipAbs
    assert "clip_abs" in dir(ps.stages)
    with pytest.raises(ValueError, match="limit must be > 0"):
        s.clip_abs(limit=0)  # parameters are checked when the stage is added


def test_register_sources_hook_makes_from_name(install):
    install({"ramp": make_module("ramp", register_sources=lambda register: register("ramp", from_ramp))})
    np.testing.assert_array_equal(ps.from_ramp(4).to_array(), [0.0, 1.0, 2.0, 3.0])
    assert "from_ramp" in dir(ps)
    with pytest.raises(AttributeError):
        ps.from_nothing


def test_register_reducers_hook_makes_a_terminal_method(install):
    install({"tot": make_module("tot", register_reducers=lambda register: register(
        "total", Total, family="reductions"))})
    assert ps.from_array(np.arange(10.0), chunk_size=3).total() == 45.0


def test_unknown_attribute_says_how_to_list_plugins():
    with pytest.raises(AttributeError, match="pystream plugins"):
        ps.from_array(np.arange(3.0)).no_such_stage


def test_broken_import_is_isolated_and_named(install):
    good = make_module("good", register_stages=lambda register: register(
        "clip_abs", ClipAbs, family="elementwise"))
    with pytest.warns(plugins.PluginWarning, match=r"plugin 'bad' .* failed to import"):
        registry = install({"bad": ImportError("no module"), "good": good})
    assert "clip_abs" in registry.stages
    failed = [p for p in registry.plugins if p.error]
    assert [p.name for p in failed] == ["bad"]


def test_failing_registration_is_isolated_and_rolled_back(install):
    def register_stages(register):
        register("clip_abs", ClipAbs, family="elementwise")
        raise RuntimeError("half-way")

    with pytest.warns(plugins.PluginWarning, match="failed to register: RuntimeError: half-way"):
        registry = install({"half": make_module("half", register_stages=register_stages)})
    assert "clip_abs" not in registry.stages  # nothing of the failed plugin remains
    assert "moving_mean" in registry.stages


def test_strict_switch_turns_failures_into_errors(install, monkeypatch):
    monkeypatch.setenv("PYSTREAM_STRICT_PLUGINS", "1")
    with pytest.raises(plugins.PluginError, match="'bad'"):
        install({"bad": ImportError("no module")})


def test_disable_switches(install, monkeypatch):
    clip = make_module("clip", register_stages=lambda register: register(
        "clip_abs", ClipAbs, family="elementwise"))
    ramp = make_module("ramp", register_sources=lambda register: register("ramp", from_ramp))
    monkeypatch.setenv("PYSTREAM_DISABLE_PLUGINS", "1")
    registry = install({"clip": clip, "ramp": ramp})
    assert "clip_abs" not in registry.stages and "ramp" not in registry.sources
    assert "moving_mean" in registry.stages  # built-ins always load
    monkeypatch.setenv("PYSTREAM_DISABLE_PLUGINS", "clip")
    registry = install({"clip": clip, "ramp": ramp})
    assert "clip_abs" not in registry.stages and "ramp" in registry.sources


def test_two_plugins_with_one_name_conflict_naming_both(install):
    a = make_module("a", register_stages=lambda register: register("clip_abs", ClipAbs, family="x"))
    b = make_module("b", register_stages=lambda register: register("clip_abs", ClipAbs, family="x"))
    with pytest.raises(plugins.PluginError, match=r"'clip_abs' is registered by both .*'a'.*'b'"):
        install({"a": a, "b": b})


def test_overriding_a_builtin_needs_opt_in(install):
    plain = make_module("plain", register_stages=lambda register: register(
        "moving_mean", ClipAbs, family="windows"))
    with pytest.raises(plugins.PluginError, match="override=True"):
        install({"plain": plain})

    def faster_mean(window, min_count=None, nan_policy="omit"):
        return ClipAbs(limit=float(window))

    opt_in = make_module("optin", register_stages=lambda register: register(
        "moving_mean", faster_mean, family="windows", override=True))
    registry = install({"optin": opt_in})
    assert registry.stages["moving_mean"].plugin == "optin"
    out = ps.from_array(np.array([-5.0, 1.0])).moving_mean(2).to_array()
    np.testing.assert_array_equal(out, [2.0, 1.0])  # the built-in method uses the override


def test_core_method_names_are_refused(install):
    with pytest.warns(plugins.PluginWarning, match="'map' is a Stream method of the core"):
        registry = install({"m": make_module("m", register_stages=lambda register: register(
            "map", ClipAbs, family="x"))})
    assert registry.stages["moving_mean"].origin == "pystream"


@pytest.mark.parametrize("bad_call,match", [
    (lambda r: r("not an identifier", ClipAbs, family="x"), "identifier"),
    (lambda r: r("ok_name", 42, family="x"), "callable"),
    (lambda r: r("ok_name", ClipAbs), "family is required"),
])
def test_register_checks_its_arguments(install, bad_call, match):
    with pytest.warns(plugins.PluginWarning, match=match):
        install({"m": make_module("m", register_stages=lambda register: bad_call(register))})


def test_cli_lists_plugins(install, capsys):
    from pystream import cli

    install({"clip": make_module("clip", register_stages=lambda register: register(
        "clip_abs", ClipAbs, family="elementwise"))})
    assert cli.main(["plugins"]) == 0
    text = capsys.readouterr().out
    assert "pystream (pystream" in text and "clip_abs" in text and "from_npy" in text
    assert cli.main(["plugins", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["plugin"] for r in rows} >= {"pystream", "clip"}


def test_real_broken_distribution_is_reported_and_the_rest_loads(tmp_path):
    """A distribution installed on sys.path (dist-info + entry point) whose module fails."""
    dist = tmp_path / "broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[pystream]\nbroken = broken_plugin_mod\n")
    (tmp_path / "broken_plugin_mod.py").write_text("raise RuntimeError('deliberately broken')\n")
    code = textwrap.dedent("""
        import warnings, numpy as np, pystream as ps
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            ps.plugins.load()  # a built-in name alone loads no plugin (issue 16)
            out = ps.from_array(np.arange(4.0)).moving_sum(2, min_count=1).to_array()
        print([str(x.message) for x in w])
        print(out.tolist())
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSTREAM_")}
    env["PYTHONPATH"] = str(tmp_path)  # pystream itself: the one this Python has installed
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    assert "broken-plugin 0.1 failed to import: RuntimeError: deliberately broken" in res.stdout
    assert "[0.0, 1.0, 3.0, 5.0]" in res.stdout
    strict = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**env, "PYSTREAM_STRICT_PLUGINS": "1"})
    assert strict.returncode != 0 and "PluginError" in strict.stderr


def test_every_hook_is_tested_and_documented():
    """Meta-test: each hookspec has tests here and a section in the plugin guide."""
    source = Path(__file__).read_text()
    guide = (ROOT / "docs" / "plugins.md").read_text()
    for hook in hookspecs.HOOKS:
        assert f"def test_{hook}_hook" in source, f"{hook} has no test"
        assert f"`{hook}" in guide, f"{hook} is not in docs/plugins.md"
        assert inspect.getdoc(getattr(hookspecs, hook)), f"{hook} has no docstring"


def test_hook_reference_in_the_guide_is_generated_from_the_hookspecs():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gen_hook_reference
    finally:
        sys.path.pop(0)
    guide = (ROOT / "docs" / "plugins.md").read_text()
    assert gen_hook_reference.reference() in guide, "run scripts/gen_hook_reference.py"


def test_registry_load_is_fast():
    """First registry use in a fresh process: well under 50 ms (bench_plugins.py reports it)."""
    code = ("import time, pystream, pystream.plugins as p; t = time.perf_counter(); "
            "p.get_registry(); print(time.perf_counter() - t)")
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout) for _ in range(3)]
    assert min(runs) < 0.25  # generous bound for a loaded CI machine; the goal (50 ms) is benchmarked


C_SOURCE = """
#include <stdint.h>
#include <math.h>
/* running maximum of |x| carried across calls */
void run_absmax(const double *x, int64_t n, double *carry, double *out)
{
    double m = *carry;
    for (int64_t i = 0; i < n; i++) {
        double a = fabs(x[i]);
        m = (a > m || a != a) ? a : m;
        out[i] = m;
    }
    *carry = m;
}
"""


def test_a_c_backed_plugin_stage_keeps_the_protocol(tmp_path, install, monkeypatch):
    """A plugin with its own cffi kernel: chunk offsets, state carried, checkpoints."""
    import cffi
    ffibuilder = cffi.FFI()
    ffibuilder.cdef("void run_absmax(const double *x, int64_t n, double *carry, double *out);")
    ffibuilder.set_source("_plugin_absmax", C_SOURCE, libraries=["m"])
    ffibuilder.compile(tmpdir=str(tmp_path), verbose=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    from _plugin_absmax import ffi, lib

    from pystream.stages.kernel import to_float64_rows

    class AbsMaxState:
        def __init__(self, carry: float = 0.0, position: int = 0) -> None:
            self.carry = ffi.new("double *", carry)
            self.position = position

        def update(self, chunk):
            rows = to_float64_rows(chunk, "absmax")[:, 0].copy()
            out = np.empty(len(rows))
            lib.run_absmax(ffi.from_buffer("double[]", rows), len(rows), self.carry,
                           ffi.from_buffer("double[]", out, require_writable=True))
            self.position += len(rows)
            return out

        def to_bytes(self):
            return b"ABSMAX1" + np.array([self.carry[0], self.position], np.float64).tobytes()

        @classmethod
        def from_bytes(cls, data):
            if len(data) != 23 or not data.startswith(b"ABSMAX1"):
                raise ValueError("absmax: corrupt state bytes")
            carry, position = np.frombuffer(data[7:], np.float64)
            return cls(float(carry), int(position))

    class AbsMax:
        """Running maximum of |x| (a C-backed plugin stage)."""

        name = "absmax"

        def output_meta(self, dtype, record_shape):
            if np.dtype(dtype).kind not in "biuf" or record_shape != ():
                raise TypeError(f"absmax: needs a scalar real stream, got {dtype} {record_shape}")
            return np.dtype(np.float64), ()

        def state(self):
            return AbsMaxState()

        def __call__(self, chunks, start=0):
            state = self.state()
            for c in chunks:
                if len(c):
                    yield state.update(c)

    install({"cabs": make_module("cabs", register_stages=lambda register: register(
        "absmax", AbsMax, family="scans"))})
    from pystream import testing

    x = np.random.default_rng(1).normal(size=300)
    reference = lambda a: np.maximum.accumulate(np.abs(a))  # noqa: E731
    testing.assert_matches_reference(AbsMax(), x, reference)
    testing.assert_chunk_invariant(AbsMax(), x)
    testing.check_bad_inputs(AbsMax())
    np.testing.assert_array_equal(ps.from_array(x, chunk_size=17).absmax().to_array(), reference(x))
    first = AbsMax().state()
    a = first.update(x[:100])
    b = AbsMaxState.from_bytes(first.to_bytes()).update(x[100:])
    np.testing.assert_array_equal(np.concatenate([a, b]), reference(x))
    with pytest.raises(ValueError, match="corrupt"):
        AbsMaxState.from_bytes(b"junk")


def _code_blocks(markdown: str) -> list[str]:
    blocks, inside, lines = [], False, []
    for line in markdown.splitlines():
        if line.startswith("```"):
            if inside:
                blocks.append("\n".join(lines) + "\n")
                lines = []
            inside = not inside
        elif inside:
            lines.append(line)
    return blocks


def test_the_guide_plugin_works_when_copied(tmp_path):
    """Copy the minimal plugin of docs/plugins.md, 'install' it, run its own test."""
    blocks = _code_blocks((ROOT / "docs" / "plugins.md").read_text())
    pyproject = next(b for b in blocks if b.startswith("[build-system]"))
    init = next(b for b in blocks if "class ClipAbs" in b)
    plugin = next(b for b in blocks if "@hookimpl" in b and "ClipAbs" in b)
    test = next(b for b in blocks if "def test_clip_abs" in b)
    pkg = tmp_path / "pystream-clip"
    (pkg / "src" / "pystream_clip").mkdir(parents=True)
    (pkg / "tests").mkdir()
    (pkg / "pyproject.toml").write_text(pyproject)
    (pkg / "src" / "pystream_clip" / "__init__.py").write_text(init)
    (pkg / "src" / "pystream_clip" / "plugin.py").write_text(plugin)
    (pkg / "tests" / "test_clip.py").write_text(test)
    # What `pip install` would leave behind: the package on sys.path and its
    # entry point declared in a dist-info directory.
    site = tmp_path / "site"
    dist = site / "pystream_clip-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pystream-clip\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[pystream]\nclip = pystream_clip.plugin\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(pkg / "src"), str(site)]),
           "PYSTREAM_STRICT_PLUGINS": "1"}
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(pkg / "tests")], capture_output=True, text=True, env=env,
                         cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    listing = subprocess.run([sys.executable, "-m", "pystream", "plugins"], capture_output=True,
                             text=True, env=env, check=True).stdout
    assert "clip (pystream-clip 0.1.0)" in listing and "clip_abs" in listing


def test_registered_reducer_starts_where_the_stream_starts():
    # stream.moments() must equal describe() bit for bit also for a stream
    # whose records start at a non-zero global index (blocks are aligned on
    # the global index, so the state has to know the start).
    x = np.random.default_rng(7).normal(size=100_003)
    s = ps.Stream(lambda: iter([x[:50_000], x[50_000:]]), np.float64, start=5)
    got, want = s.moments(), s.describe()
    assert (got.var, got.mean, got.sum) == (want.var, want.mean, want.sum)
    # An explicit start is still the caller's.
    assert s.moments(start=0).count == want.count
