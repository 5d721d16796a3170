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


def test_registry_load_imports_only_what_it_needs():
    """First registry use in a fresh process pulls in no optional package.

    Its time (goal: well under 50 ms) is measured by ``benchmarks/bench_plugins.py``;
    timings stay out of the tests, which check what the load imports instead.
    """
    code = ("import json, sys, pystream, pystream.plugins as p; before = set(sys.modules); "
            "p.get_registry(); print(json.dumps(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    new = json.loads(out.stdout)
    heavy = {"pandas", "polars", "pyarrow", "scipy", "matplotlib", "dask", "numba", "tqdm"}
    assert "pluggy" in new
    assert not [m for m in new if m.split(".")[0] in heavy], new


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


# --------------------------------------------------------------------------- issue 16


class WavWriter:
    """Mono 16-bit WAV of a float stream in [-1, 1] (a test plugin sink)."""

    def __init__(self, path, rate=8000, *, dtype, record_shape):
        import wave

        if record_shape != () or np.dtype(dtype).kind != "f":
            raise TypeError(f"to_wav: needs a scalar float stream, got {dtype} {record_shape}")
        self.path = path
        self.file = wave.open(str(path), "wb")
        self.file.setnchannels(1)
        self.file.setsampwidth(2)
        self.file.setframerate(rate)
        self.count = 0

    def write(self, chunk):
        pcm = np.clip(np.round(chunk * 32767), -32768, 32767).astype("<i2")
        self.file.writeframes(pcm.tobytes())
        self.count += len(chunk)

    def finish(self):
        self.file.close()
        return self.count

    def abort(self):
        self.file.close()
        os.remove(self.path)


def _read_wav(path):
    import wave

    with wave.open(str(path), "rb") as f:
        return f.getframerate(), np.frombuffer(f.readframes(f.getnframes()), "<i2")


def test_register_sinks_hook_makes_a_to_method(install, tmp_path):
    registry = install({"wav": make_module("wav", register_sinks=lambda register: register(
        "wav", WavWriter, example="examples/plot_wav.py"))})
    assert registry.sinks["wav"].call_name == "to_wav" and registry.sinks["wav"].family == "sinks"
    x = np.sin(np.arange(1000) / 10.0)
    s = ps.from_array(x, chunk_size=300)
    assert s.to_wav(tmp_path / "a.wav", rate=4000) == 1000
    rate, pcm = _read_wav(tmp_path / "a.wav")
    assert rate == 4000 and np.array_equal(pcm, np.round(x * 32767).astype("<i2"))
    assert "to_wav" in dir(s) and "to_wav" in dir(ps.pipeline())
    assert "dtype" not in str(inspect.signature(s.to_wav))
    # on the parallel engines (the chunks in order), as a fork branch and a push sink
    assert s.to_wav(tmp_path / "b.wav", engine="threads", workers=2, partition_size=256) == 1000
    assert np.array_equal(_read_wav(tmp_path / "b.wav")[1], pcm)
    out = s.fork(w=ps.pipeline().to_wav(tmp_path / "c.wav"), n="count")
    assert out == {"w": 1000, "n": 1000}
    assert np.array_equal(_read_wav(tmp_path / "c.wav")[1], pcm)
    sink = ps.pipeline().push(ps.pipeline().to_wav(tmp_path / "d.wav"))
    for i in range(0, 1000, 128):
        sink.send(x[i:i + 128])
    assert sink.close() == 1000
    assert np.array_equal(_read_wav(tmp_path / "d.wav")[1], pcm)
    # the writer's own checks, and an error removes the partial file
    with pytest.raises(TypeError, match="needs a scalar float stream"):
        ps.from_array(np.arange(3)).to_wav(tmp_path / "e.wav")

    def boom(c):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        s.map(boom).to_wav(tmp_path / "f.wav")
    assert not (tmp_path / "f.wav").exists()


def test_sinks_cannot_take_core_names(install):
    with pytest.warns(plugins.PluginWarning, match="'to_npy' is a Stream method of the core"):
        install({"m": make_module("m", register_sinks=lambda register: register("npy", WavWriter))})


@pytest.mark.parametrize("hook,name,meant", [
    ("register_sources", "from_ramp", "ramp"),
    ("register_sinks", "to_wav", "wav"),
])
def test_prefixed_names_are_refused_naming_the_plugin(install, hook, name, meant):
    mod = make_module("pre", **{hook: lambda register: register(name, from_ramp)})
    with pytest.raises(plugins.PluginError, match=rf"plugin 'pre' .*{name!r}.*register {meant!r}"):
        install({"pre": mod})


def test_builtin_names_load_no_plugin():
    """Built-in stages, sources and reducers never scan entry points or import pluggy."""
    code = textwrap.dedent("""
        import sys, numpy as np, pystream as ps
        x = np.arange(100.0)
        s = ps.from_array(x)
        s.moving_mean(10).to_array(); s.cumsum().describe(); s.moments(); s.count()
        ps.stages.moving_mean; ps.pipeline().moving_mean(3).moments()
        ps.from_reader(lambda a, b: x[a:b], 100, x.dtype).sum(engine="threads", workers=2)
        print(ps.plugins.is_loaded(), "pluggy" in sys.modules)
        dir(s)
        print(ps.plugins.is_loaded(), "pluggy" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "True", "True"]


@pytest.mark.parametrize("trigger", [
    lambda: ps.from_array(np.arange(3.0)).clip_abs,
    lambda: dir(ps.from_array(np.arange(3.0))),
    lambda: dir(ps),
    lambda: dir(ps.stages),
    lambda: ps.stages.clip_abs,
    lambda: ps.plugins.load(),
])
def test_plugins_load_on_an_unknown_name_dir_or_load(monkeypatch, trigger):
    mod = make_module("clip", register_stages=lambda register: register(
        "clip_abs", ClipAbs, family="elementwise"))
    monkeypatch.setitem(sys.modules, "_pystream_test_plugin_lazy", mod)
    ep = importlib.metadata.EntryPoint("clip", "_pystream_test_plugin_lazy",
                                       hookspecs.ENTRY_POINT_GROUP)
    monkeypatch.setattr(plugins, "_entry_points", lambda: [ep])
    plugins.reset_registry()
    try:
        ps.from_array(np.arange(3.0)).moving_mean(2).to_array()
        assert not plugins.is_loaded()
        trigger()
        assert plugins.is_loaded() and "clip_abs" in plugins.get_registry().stages
    finally:
        plugins.reset_registry()


def test_cli_names_sources_alike_in_text_and_json(install, capsys):
    from pystream import cli

    install({"ramp": make_module("ramp", register_sources=lambda register: register(
        "ramp", from_ramp)), "wav": make_module("wav", register_sinks=lambda register: register(
            "wav", WavWriter))})
    assert cli.main(["plugins"]) == 0
    text = capsys.readouterr().out
    assert "from_ramp" in text and "to_wav" in text
    assert cli.main(["plugins", "--json"]) == 0
    rows = {r["plugin"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["ramp"]["sources"] == ["from_ramp"] and rows["wav"]["sinks"] == ["to_wav"]
    assert "from_npy" in rows["pystream"]["sources"]


def test_help_of_a_plugin_method_gives_the_summary_once(install):
    install({"clip": make_module("clip", register_stages=lambda register: register(
        "clip_abs", ClipAbs, family="elementwise"))})
    doc = ps.from_array(np.arange(3.0)).clip_abs.__doc__
    assert doc.count("Absolute value clipped") == 1
    assert "(stage registered by" in doc


class RmsEnvelope:
    """RMS of each block of `block` records (a test plugin stage)."""

    name = "rms_envelope"

    def __init__(self, block=4):
        self.block = block

    def output_meta(self, dtype, record_shape):
        return np.dtype(np.float64), record_shape

    def __call__(self, chunks, start=0):
        for c in chunks:
            yield c.astype(np.float64)


def test_misspelled_keywords_name_the_one_meant(install, tmp_path):
    install({"kw": make_module(
        "kw",
        register_stages=lambda register: register("rms_envelope", RmsEnvelope, family="x"),
        register_sources=lambda register: register("ramp", from_ramp),
        register_reducers=lambda register: register("total", Total, family="x"),
        register_sinks=lambda register: register("wav", WavWriter))})
    s = ps.from_array(np.arange(5.0))
    calls = [
        (lambda: s.rms_envelope(blok=3), "block"),
        (lambda: ps.pipeline().rms_envelope(blok=3), "block"),
        (lambda: ps.from_ramp(nn=3), "n"),
        (lambda: s.to_wav(tmp_path / "x.wav", rat=8000), "rate"),
        (lambda: ps.pipeline().push(ps.pipeline().to_wav(tmp_path / "x.wav", rat=8000)), "rate"),
    ]
    for call, meant in calls:
        with pytest.raises(TypeError, match=rf"did you mean {meant!r}\?"):
            call()


class OrderFreeTotal(Total):
    """Sum of all values, exact for integers in any order (declares itself order-free)."""

    positional = False
    merges = 0

    def merge(self, other):
        OrderFreeTotal.merges += 1
        return super().merge(other)


def test_an_order_free_reducer_stays_parallel_after_filter(install):
    install({"tot": make_module("tot", register_reducers=lambda register: (
        register("total", Total, family="x"), register("exact_total", OrderFreeTotal, family="x")))})
    x = np.arange(100_000.0)
    s = ps.from_array(x).filter(lambda c: c % 3 == 0)
    want = s.total()
    OrderFreeTotal.merges = 0
    assert s.exact_total(engine="threads", workers=2, partition_size=10_000) == want
    assert OrderFreeTotal.merges >= 9  # one state per partition, merged in order
    assert s.total(engine="threads", workers=2, partition_size=10_000) == want  # in order


def test_from_reader_is_random_access():
    x = np.random.default_rng(3).normal(size=(50_000, 2))
    calls = []

    def read(a, b):
        calls.append((a, b))
        return x[a:b]

    s = ps.from_reader(read, len(x), x.dtype, (2,), chunk_size=4096)
    np.testing.assert_array_equal(s.to_array(), x)
    calls.clear()
    serial = s.moving_mean(5).describe()
    assert s.moving_mean(5).describe(engine="threads", workers=2, partition_size=10_000) == serial
    assert s.moving_mean(5).describe(engine="dask", partition_size=10_000) == serial
    assert any(a > 0 and a % 4096 for a, _ in calls)  # partitions read their own ranges
    grown = ps.from_reader(lambda a, b: np.arange(a, b, dtype=np.int64), lambda: 7, np.int64)
    assert grown.to_array().tolist() == list(range(7))
    with pytest.raises(TypeError, match=r"from_reader\(.*<lambda>\): read\(0, 3\) returned dtype"):
        ps.from_reader(lambda a, b: np.zeros(b - a, np.float32), 3, np.float64).to_array()
    with pytest.raises(ValueError, match=r"returned shape \(2,\); expected \(3,\)"):
        ps.from_reader(lambda a, b: np.zeros(2), 3, np.float64, name="r").to_array()
    with pytest.raises(TypeError, match="read must be callable"):
        ps.from_reader(None, 3, np.float64)


def test_a_plugin_source_declares_random_access(install):
    def from_squares(n):
        """Squares 0, 1, 4, ... as float64, random access."""
        return ps.from_reader(lambda a, b: np.arange(a, b, dtype=np.float64) ** 2, n, np.float64)

    install({"sq": make_module("sq", register_sources=lambda register: register(
        "squares", from_squares))})
    s = ps.from_squares(100_000)
    assert s.sum(engine="threads", workers=2, partition_size=20_000) == s.sum()


class HalfSum:
    """Sum of each record and the one before (a test plugin stage with partitioning)."""

    name = "half_sum"

    def __init__(self):
        self.starts = []

    def partitioning(self):
        from pystream.stages.partitioning import Window

        return Window(2)

    def output_meta(self, dtype, record_shape):
        return np.dtype(np.float64), record_shape

    def __call__(self, chunks, start=0):
        self.starts.append(start)
        prev = np.nan
        for c in chunks:
            c = c.astype(np.float64)
            out = c + np.concatenate(([prev], c[:-1]))
            prev = c[-1]
            yield out


def test_a_plugin_stage_with_partitioning_runs_per_partition(install):
    stages = []

    def half_sum():
        stages.append(HalfSum())
        return stages[-1]

    install({"hs": make_module("hs", register_stages=lambda register: register(
        "half_sum", half_sum, family="windows"))})
    x = np.arange(100_000.0)
    s = ps.from_array(x).half_sum()
    serial = s.to_array()
    assert np.array_equal(s.to_array(engine="threads", workers=2, partition_size=10_000), serial,
                          equal_nan=True)
    # start=: the serial run's 0, then each partition's first input record
    # (one record before the partition: Window(2)'s warm-up)
    assert sorted(stages[0].starts) == [0, 0] + [k * 10_000 - 1 for k in range(1, 10)]
