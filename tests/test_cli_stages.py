"""The command line's stage arguments (pystream/cli/stage_args.py): parsing,
checking against the stage's signature, applying, and the --help listing."""

from __future__ import annotations

import importlib.metadata
import inspect
import math
import sys
import types
from typing import Optional

import numpy as np
import pytest

import pystream as ps
from pystream import hookspecs, plugins
from pystream.cli.stage_args import (
    STRUCTURAL,
    CLIStage,
    StageSpecError,
    apply_stages,
    catalogue,
    format_catalogue,
    parse_stage,
    parse_value,
)
from pystream.hookspecs import hookimpl


# -- values --------------------------------------------------------------------


@pytest.mark.parametrize("text,value", [
    ("100", 100), ("-3", -3), ("1_000", 1000), ("0.9", 0.9), ("1e-3", 1e-3),
    ("-2.5", -2.5), ("inf", math.inf), ("-inf", -math.inf), ("+Inf", math.inf),
    ("True", True), ("false", False), ("TRUE", True), ("None", None), ("none", None),
    ("(0, 2)", (0, 2)), ("[1,2,3]", [1, 2, 3]), ("'a,b'", "a,b"), ('"max"', "max"),
    ("max", "max"), ("float32", "float32"), ("<f4", "<f4"), ("a b", "a b"),
    ("{'k': 1}", {"k": 1}),
])
def test_parse_value(text, value):
    got = parse_value(text)
    assert got == value and type(got) is type(value)


def test_parse_value_nan():
    for text in ("nan", "NaN", "-nan"):
        got = parse_value(text)
        assert isinstance(got, float) and math.isnan(got)


def test_unbalanced_literal_stays_a_string():
    assert parse_value("(1,") == "(1,"
    assert parse_value("") == ""


# -- parsing -------------------------------------------------------------------


@pytest.mark.parametrize("text,name,args,kwargs", [
    ("cumsum", "cumsum", (), {}),
    ("cumsum:", "cumsum", (), {}),
    ("moving_mean:window=100", "moving_mean", (), {"window": 100}),
    ("moving_mean:100", "moving_mean", (100,), {}),
    ("moving_quantile:window=50,q=0.9", "moving_quantile", (), {"window": 50, "q": 0.9}),
    ("moving_quantile:50, q=0.9 ,nan_policy=propagate", "moving_quantile", (50,),
     {"q": 0.9, "nan_policy": "propagate"}),
    ("resample:10,how=max", "resample", (10,), {"how": "max"}),
    ("astype:dtype=float32", "astype", (), {"dtype": "float32"}),
    ("astype:<f4", "astype", ("<f4",), {}),
    ("select:columns=(0,2)", "select", (), {"columns": (0, 2)}),
    ("select:[0, 2]", "select", ([0, 2],), {}),
    ("take:n=10", "take", (), {"n": 10}),
    ("ewm_mean:halflife=60,adjust=false", "ewm_mean", (), {"halflife": 60, "adjust": False}),
    ("resample:4,how='max'", "resample", (4,), {"how": "max"}),
])
def test_parse_stage(text, name, args, kwargs):
    spec = parse_stage(text)
    assert (spec.text, spec.name, spec.args, spec.kwargs) == (text, name, args, kwargs)


def _error(text, stages=None):
    with pytest.raises(StageSpecError) as info:
        parse_stage(text, stages)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"stage {text!r}: ")
    return message


def test_unknown_stage_lists_the_valid_ones():
    message = _error("movng_mean:window=5")
    assert "unknown stage 'movng_mean'" in message
    assert "did you mean 'moving_mean'" in message
    for name in ("moving_mean", "cumsum", "resample", *STRUCTURAL):
        assert name in message
    assert "map" not in message.split("Valid stages:")[1].split(", ")  # takes a function


def test_unknown_parameter_lists_the_parameters():
    message = _error("moving_mean:windw=5")
    assert "moving_mean has no parameter 'windw'" in message
    assert "did you mean 'window'" in message
    assert "window, min_count=None, nan_policy='omit'" in message


def test_builtin_stage_parameters_are_its_method_s():
    # the registry's factory for every moving window also takes q and ddof
    message = _error("moving_mean:window=5,q=0.5")
    assert "no parameter 'q'" in message


@pytest.mark.parametrize("text,fragment", [
    ("moving_mean", "parameter 'window' is required"),
    ("take:1,2", "too many values"),
    ("moving_mean:min_count=2,5", "comes after a named one"),
    ("moving_mean:window=1,window=2", "given twice"),
    ("moving_mean:window=5,,", "empty parameter"),
    ("moving_mean:,window=5", "empty parameter"),
    (":window=5", "no stage name"),
    ("moving_mean:window=5.0", "window must be an integer or a string, got 5.0"),
    ("moving_mean:window=True", "window must be an integer or a string, got True"),
    ("moving_mean:window=5,min_count=x", "min_count must be an integer or None"),
    ("ewm_mean:alpha=0.5,adjust=maybe", "adjust must be True or False, got 'maybe'"),
    ("moving_var:window=5,ddof=one", "ddof must be a number"),
    ("moving_mean:window=5,nan_policy=3", "nan_policy must be a string, got 3"),
])
def test_parse_errors(text, fragment):
    assert fragment in _error(text)


def test_float_parameter_takes_an_int():
    assert parse_stage("moving_var:window=5,ddof=1").kwargs == {"window": 5, "ddof": 1}


# -- applying ------------------------------------------------------------------


X = np.random.default_rng(3).normal(size=(1000, 3))


@pytest.mark.parametrize("text,method", [
    ("moving_mean:window=5", lambda s: s.moving_mean(window=5)),
    ("moving_quantile:20,q=0.9,min_count=1", lambda s: s.moving_quantile(20, q=0.9, min_count=1)),
    ("moving_var:window=7,ddof=1", lambda s: s.moving_var(7, ddof=1)),
    ("cumsum:nan_policy=omit", lambda s: s.cumsum(nan_policy="omit")),
    ("diff", lambda s: s.diff()),
    ("ewm_mean:halflife=10.5", lambda s: s.ewm_mean(halflife=10.5)),
    ("resample:10,how=max", lambda s: s.resample(10, how="max")),
    ("sliding_window:4,step=2", lambda s: s.sliding_window(4, step=2)),
    ("take:n=17", lambda s: s.take(17)),
    ("skip:5", lambda s: s.skip(5)),
    ("rechunk:size=33", lambda s: s.rechunk(33)),
    ("astype:dtype=float32", lambda s: s.astype(np.float32)),
    ("select:columns=(0,2)", lambda s: s.select([0, 2])),
    ("select:1", lambda s: s.select(1)),
])
def test_apply_equals_the_method(text, method):
    stream = ps.from_array(X, chunk_size=100)
    got = parse_stage(text).apply(stream).to_array()
    want = method(stream).to_array()
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want, equal_nan=True)


def test_apply_stages_in_order():
    specs = [parse_stage(t) for t in ("select:0", "moving_mean:3", "take:n=5")]
    got = apply_stages(ps.from_array(X), specs).to_array()
    assert np.array_equal(got, ps.from_array(X).select(0).moving_mean(3).take(5).to_array(),
                          equal_nan=True)


@pytest.mark.parametrize("text,fragment", [
    ("moving_mean:window=0", "window must be >= 1"),
    ("moving_quantile:window=5,q=1.5", "q"),
    ("select:7", "out of range"),
    ("astype:dtype=nonsense", "nonsense"),
    ("resample:4,how=median", "median"),
])
def test_bad_values_are_reported_with_the_argument(text, fragment):
    spec = parse_stage(text)
    with pytest.raises(StageSpecError) as info:
        spec.apply(ps.from_array(X))
    message = str(info.value)
    assert message.startswith(f"stage {text!r}: ") and fragment in message
    assert f"{spec.name} takes " in message and "\n" not in message


# -- the catalogue and --help ---------------------------------------------------


def test_catalogue_has_every_registered_and_structural_stage():
    stages = catalogue()
    assert set(plugins.get_registry().stages) | set(STRUCTURAL) == set(stages)
    assert list(stages)[-len(STRUCTURAL):] == list(STRUCTURAL)
    assert "map" not in stages and "filter" not in stages and "pipe" not in stages
    mean = stages["moving_mean"]
    assert list(mean.signature.parameters) == ["window", "min_count", "nan_policy", "closed"]
    assert mean.family == "windows" and mean.origin == "pystream"
    assert stages["take"].family == "structural"


def test_summaries_are_whole_plain_sentences():
    stages = catalogue()
    # the registry's summary is the docstring's first line, cut mid-sentence here
    assert plugins.get_registry().stages["cummin"].summary.endswith("with")
    assert stages["cummin"].summary.endswith("the dtype is kept.")
    for stage in stages.values():
        assert stage.summary, stage.name
        assert "``" not in stage.summary and ":meth:" not in stage.summary, stage.summary
    assert stages["cumstd"].summary.endswith("(the square root of cumvar).")
    # two sentences in the docstring's first paragraph: the first one only
    assert "O(log window)" not in stages["moving_median"].summary


def test_format_catalogue_lists_every_stage_with_parameters():
    text = format_catalogue()
    for stage in catalogue().values():
        assert f"    {stage.name}: " in text
    assert "moving_quantile: window, q, min_count=None, nan_policy='omit'" in text
    assert "structural (built-in)" in text
    assert max(len(line) for line in text.splitlines()) <= 79


# -- plugin stages --------------------------------------------------------------


class Gain:
    """Multiply every value by `factor`.

    (A test plugin stage.)
    """

    name = "gain"

    def __init__(self, factor: float, *, offset: Optional[float] = None) -> None:
        self.factor = float(factor)
        self.offset = 0.0 if offset is None else float(offset)

    def output_meta(self, dtype, record_shape):
        return np.dtype(np.float64), tuple(record_shape)

    def __call__(self, chunks, start=0):
        for c in chunks:
            yield c * self.factor + self.offset


def _loose(**kwargs):
    """A stage factory taking any keywords (a test plugin stage)."""
    return Gain(kwargs.get("factor", 1.0))


@pytest.fixture
def gain_plugin(monkeypatch):
    monkeypatch.delenv("PYSTREAM_DISABLE_PLUGINS", raising=False)
    module = types.ModuleType("_pystream_test_cli_gain")

    def register_stages(register):
        register("gain", Gain, family="arith")
        register("loose", _loose, family="arith", summary="Anything goes.")

    module.register_stages = hookimpl(register_stages)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    ep = importlib.metadata.EntryPoint("gain", module.__name__, hookspecs.ENTRY_POINT_GROUP)
    monkeypatch.setattr(plugins, "_entry_points", lambda: [ep])
    plugins.reset_registry()
    yield
    plugins.reset_registry()


def test_plugin_stage(gain_plugin):
    stages = catalogue()
    assert stages["gain"].origin == "_pystream_test_cli_gain"  # the package of the entry point
    assert stages["gain"].family == "arith"
    assert stages["gain"].summary == "Multiply every value by factor."
    assert stages["gain"].parameters_text() == "factor, offset=None"
    spec = parse_stage("gain:2.5,offset=1")
    got = spec.apply(ps.from_array(np.arange(4.0))).to_array()
    assert got.tolist() == [1.0, 3.5, 6.0, 8.5]
    # Optional[float] (a real annotation object, not a string) is checked too
    assert "offset must be a number or None" in _error("gain:2,offset=x")
    # keyword-only parameters cannot be given by position
    assert "too many values" in _error("gain:2,3")
    text = format_catalogue()
    assert "arith (plugin _pystream_test_cli_gain)" in text
    assert "gain: factor, offset=None" in text


def test_plugin_stage_with_var_keywords(gain_plugin):
    assert parse_stage("loose:factor=3,anything=1").kwargs == {"factor": 3, "anything": 1}
    assert catalogue()["loose"].summary == "Anything goes."
    assert catalogue()["loose"].parameters_text() == "**kwargs"


def test_annotation_without_plain_types_is_not_checked():
    sig = inspect.Signature([inspect.Parameter("sos", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                               annotation="Any")])
    stage = CLIStage("f", sig, "", "x", "y")
    assert parse_stage("f:sos=((1,2),)", {"f": stage}).kwargs == {"sos": ((1, 2),)}
    assert parse_stage("f:sos=text", {"f": stage}).kwargs == {"sos": "text"}


# -- a misspelled keyword: the same suggestion in Python and on the command line ----


def _misspelled_cases() -> list[tuple[str, str, str]]:
    """(stage, its parameter, a misspelling of it) for every stage the CLI runs."""
    cases = []
    for name, stage in sorted(catalogue().items()):
        for key, p in stage.signature.parameters.items():
            if key in ("self", "start") or p.kind not in (p.POSITIONAL_OR_KEYWORD,
                                                          p.KEYWORD_ONLY):
                continue
            bad = key[:-1] + ("z" if key[-1] != "z" else "y") if len(key) > 2 else key + "x"
            cases.append((name, key, bad))
    return cases


@pytest.mark.parametrize("name,key,bad", _misspelled_cases(),
                         ids=lambda v: v if isinstance(v, str) else None)
def test_misspelled_keyword_suggests_the_same_in_python_and_the_cli(name, key, bad):
    """``moving_mean(windw=3)`` -> TypeError "... (did you mean 'window'?)", as
    ``pystream run x moving_mean:windw=3`` says (issue 15)."""
    from pystream._arguments import did_you_mean

    hint = did_you_mean(bad, [k for k in catalogue()[name].signature.parameters
                              if k not in ("self", "start")])
    assert hint, (name, key, bad)
    with pytest.raises(StageSpecError) as cli_error:
        parse_stage(f"{name}:{bad}=1")
    assert hint in str(cli_error.value)
    for target in (ps.from_array(np.arange(5.0)), ps.pipeline()):
        method = getattr(target, name, None)
        if method is None:        # a structural stage: a Stream method only
            continue
        with pytest.raises(TypeError) as py_error:
            method(**{bad: 1})
        assert str(py_error.value) == f"{name}() got an unexpected keyword argument " \
                                      f"{bad!r}{hint}"


def test_keyword_suggestions_of_plugin_reducers_and_non_binding_errors(monkeypatch):
    class Total:
        def __init__(self, scale: float = 1.0):
            self.scale, self.value = scale, 0.0

        def update(self, chunk):
            self.value += float(chunk.sum())

        def result(self):
            return self.value * self.scale

    module = types.ModuleType("_pystream_test_plugin_total")
    module.register_reducers = hookimpl(lambda register: register("total_test", Total, family="reductions"))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(plugins, "_entry_points", lambda: [importlib.metadata.EntryPoint(
        "total", module.__name__, hookspecs.ENTRY_POINT_GROUP)])
    monkeypatch.delenv("PYSTREAM_DISABLE_PLUGINS", raising=False)
    plugins.reset_registry()
    try:
        s = ps.from_array(np.arange(4.0))
        assert s.total_test(scale=2) == 12.0
        for engine in ("local", "threads"):
            with pytest.raises(TypeError, match=r"^total_test\(\) got an unexpected keyword "
                                                r"argument 'scal' \(did you mean 'scale'\?\)"):
                s.total_test(scal=2, engine=engine)
        # the same on a Pipeline, whose reducer branch is built when the method
        # is called (issue 15: it said "Total.__init__() got an unexpected ...")
        with pytest.raises(TypeError, match=r"^total_test\(\) got an unexpected keyword "
                                            r"argument 'scal' \(did you mean 'scale'\?\)"):
            ps.pipeline().total_test(scal=2)
    finally:
        plugins.reset_registry()
    # a mistake that is not a keyword keeps Python's own message
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'window'"):
        s.moving_mean()
    # a TypeError raised inside a method is not rewritten
    with pytest.raises(TypeError) as info:
        s.moving_mean(window="3")
    assert "did you mean" not in str(info.value) and "window" in str(info.value)


def test_terminal_names_suggest_the_keyword_meant():
    """A terminal given by name (a push sink or a branch: ``terminal_maker``)
    names the keyword meant, as the Stream method does (issue 15)."""
    from pystream.terminals.fanout import terminal_maker

    with pytest.raises(TypeError, match=r"^describe\(\) got an unexpected keyword argument "
                                        r"'quantile_methd' \(did you mean 'quantile_method'\?\)"):
        terminal_maker("describe", (), {"quantile_methd": "kll"})
    with pytest.raises(TypeError, match=r"^quantile\(\): missing a required argument"):
        terminal_maker("quantile", (), {})


def test_pandas_min_periods_suggests_min_count():
    """``moving_std(5, min_periods=1)`` (pandas' ``rolling(5, min_periods=1)``)
    names bottleneck's ``min_count`` the windows take, and the EWM stages'
    ``min_periods`` is suggested for ``min_count`` (issue 15 replay)."""
    s = ps.from_array(np.arange(5.0))
    with pytest.raises(TypeError, match=r"^moving_std\(\) got an unexpected keyword argument "
                                        r"'min_periods' \(did you mean 'min_count'\?\)$"):
        s.moving_std(5, min_periods=1)
    with pytest.raises(TypeError, match=r"\(did you mean 'min_periods'\?\)$"):
        s.ewm_mean(alpha=0.5, min_count=1)
    with pytest.raises(StageSpecError, match=r"did you mean 'min_count'"):
        parse_stage("moving_mean:3,min_periods=1")
