"""The code on the documentation's narrative pages runs and says what it claims.

Every ``.. code-block:: python`` of the home page, getting started, how it
works, engines, push and sinks is executed in order in one namespace, in a
directory where the files they read (``big.npy``, ``sensor.npy``,
``signal.f32``, ``log.csv``) exist, so a snippet that fails or an
``assert`` that does not hold fails here.  (The comparison page's snippets
are run by the docs build itself: ``docs/migration.py``.)
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = ("index.rst", "getting_started.rst", "how_it_works.rst", "engines.rst", "push.rst",
         "sinks.rst")
BLOCK = re.compile(r"^\.\. code-block:: python\n((?:\n|   .*\n)+)", re.M)


def python_blocks(page: str) -> list[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    return [re.sub(r"^   ", "", b, flags=re.M) for b in BLOCK.findall(text)]


def test_pages_have_code():
    for page in PAGES:
        assert python_blocks(page), page


def test_narrative_snippets_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(3)
    np.save("big.npy", rng.normal(size=50_000))
    np.save("sensor.npy", rng.normal(size=50_000))
    rng.normal(size=(10_000, 3)).astype("<f4").tofile("signal.f32")
    with open("log.csv", "w") as f:
        f.write("a,b\n" + "".join(f"{i},{i * 0.5}\n" for i in range(1000)))
    namespace: dict = {}
    for page in PAGES:
        for i, block in enumerate(python_blocks(page)):
            try:
                exec(compile(block, f"{page}[block {i}]", "exec"), namespace)
            except Exception as exc:  # report which snippet failed
                pytest.fail(f"{page}, code block {i} failed: {exc!r}\n{block}")
    out = capsys.readouterr().out
    assert "nan nan" not in out.lower(), out
