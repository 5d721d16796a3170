"""Every registered stage, source and reducer has a gallery example.

The examples are read with ``ast`` (``docs/_ext/example_index.py``); the docs
build (``make docs``) runs them.  Built-ins must be shown in their family's
folder, plugin entries in ``docs/examples/plugins``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import pystream

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import example_index  # noqa: E402

# Registry family -> the gallery folder that shows it.
FOLDER_OF_FAMILY = {
    "sources": "sources",
    "reductions": "reductions",
    "windows": "windows",
    "records": "records",
    "scans": "scans_ewm",
    "ewm": "scans_ewm",
    "tables": "tables",
    "comoving": "multivariate",
    "ewm_pairs": "multivariate",
}
FOLDERS = set(FOLDER_OF_FAMILY.values()) | {"elementwise", "plugins", "sketches", "engines",
                                            "push", "cli", "tables", "time", "keys", "multivariate"}
# Built-ins that only exist on a time column are shown in docs/examples/time
# (issue 19), whatever their registry family.
FOLDER_OF_STAGE = {"session": "time"}


@pytest.fixture(scope="module")
def index() -> dict[Path, set[str]]:
    return example_index.build_index()


def _folders_using(index: dict[Path, set[str]], key: str) -> set[str]:
    return {p.parent.name for p in example_index.files_using(index, key)}


def _registry_cases() -> list[tuple[str, str, object]]:
    names = example_index.registry_names()
    return [(kind, name, entry) for kind, entries in names.items()
            for name, entry in sorted(entries.items())]


@pytest.mark.parametrize("kind,name,entry", _registry_cases(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_registered_entry_has_an_example(index, kind, name, entry):
    key = ("source:" if kind == "sources" else "method:") + name
    folders = _folders_using(index, key)
    if entry.plugin == "pystream":
        want = FOLDER_OF_STAGE.get(name, FOLDER_OF_FAMILY[entry.family])
    else:
        want = "plugins"
    assert want in folders, (
        f"{kind[:-1]} {name!r} ({entry.origin}, family {entry.family!r}) has no example in "
        f"docs/examples/{want}/ (found in: {sorted(folders) or 'none'}); add a plot_*.py "
        f"that calls it")


@pytest.mark.parametrize("member", sorted(example_index.public_stream_members()))
def test_stream_member_has_an_example(index, member):
    assert example_index.files_using(index, "method:" + member), (
        f"Stream.{member} is used by no gallery example")


@pytest.mark.parametrize("name", sorted(n for n in pystream.__all__
                                        if not n.startswith("from_") and n != "Stream"))
def test_public_object_has_an_example(index, name):
    assert example_index.files_using(index, "object:" + name), (
        f"pystream.{name} is used by no gallery example")


def test_gallery_layout():
    examples = ROOT / "docs" / "examples"
    folders = {p.name for p in examples.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert folders == FOLDERS
    for folder in folders:
        assert (examples / folder / "README.rst").is_file(), f"{folder} has no README.rst"
        assert list((examples / folder).glob("plot_*.py")), f"{folder} has no example"


def test_every_stream_member_is_in_the_api_reference():
    text = (ROOT / "docs" / "api" / "stream.rst").read_text()
    missing = [m for m in sorted(example_index.public_stream_members())
               if f"Stream.{m}\n" not in text]
    assert not missing, f"docs/api/stream.rst does not list: {missing}"


# The scanner itself: the receiver's type decides, not the attribute's name.
RETURNING = {"map", "moving_mean", "cumsum"}


@pytest.mark.parametrize("code,present,absent", [
    ("import numpy as np\nx = np.ones(3)\nx.mean()", set(), {"method:mean"}),
    ("import pystream as ps\nps.from_array(x).moving_mean(3).mean()",
     {"source:array", "method:moving_mean", "method:mean"}, set()),
    ("import pystream as p2\ns = p2.from_npy('a')\nt = s.map(f)\nfor c in t.cumsum(): pass\nt.std()",
     {"source:npy", "method:map", "method:cumsum", "method:std"}, set()),
    ("import pystream as ps\ns = ps.from_array(x)\ny = s.to_array()\ny.mean()",
     {"method:to_array"}, {"method:mean"}),
    ("from pystream import Moments, from_text\nm = Moments()\nfrom_text('f').sum()",
     {"object:Moments", "source:text", "method:sum"}, set()),
    ("import pystream as ps\nps.Description\ns = ps.from_array(x)\ns.dtype",
     {"object:Description", "method:dtype"}, set()),
    ("import pandas as pd\npd.Series(x).rolling(3).mean()", set(),
     {"method:mean", "method:rolling"}),
])
def test_scanner(code, present, absent):
    found = example_index.scan_source(code, RETURNING)
    assert present <= found, (present - found, found)
    assert not (absent & found), absent & found


def test_key_for_documented_names():
    assert example_index.key_for("pystream.from_npy") == "source:npy"
    assert example_index.key_for("pystream.Stream.moving_mean") == "method:moving_mean"
    assert example_index.key_for("pystream.Moments") == "object:Moments"


def test_example_file_names_are_unique():
    # sphinx-gallery links examples by file name: two plot_x.py in different
    # folders break each other's links.
    names = [p.name for p in example_index.example_files()]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
