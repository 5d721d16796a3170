"""Sphinx configuration for the pystream documentation.

Built by ``make docs`` with warnings as errors and no network: no
intersphinx, no remote images or scripts, data only from installed packages.
The gallery (``docs/examples/<family>/plot_*.py``) is executed on every build.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

import pystream  # noqa: E402

project = "pystream"
author = "pystream developers"
copyright = "2026, pystream developers"
release = version = pystream.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_design",
    "sphinx_gallery.gen_gallery",
    "example_index",
    "docs_generated",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "examples", "_generated", "**.ipynb_checkpoints", "README.md"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"

# API reference: one page per public object (autosummary), numpydoc docstrings.
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"          # numpydoc's Parameters sections say the types
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# The gallery: one folder per stage family, executed at build time.
sphinx_gallery_conf = {
    "examples_dirs": ["examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "subsection_order": [
        "examples/sources",
        "examples/elementwise",
        "examples/reductions",
        "examples/sketches",
        "examples/windows",
        "examples/records",
        "examples/tables",
        "examples/time",
        "examples/keys",
        "examples/multivariate",
        "examples/scans_ewm",
        "examples/engines",
        "examples/push",
        "examples/plugins",
        "examples/cli",
    ],
    "within_subsection_order": "FileNameSortKey",
    # sphinx-gallery's own backreferences; the API pages' "Examples using"
    # galleries come from docs/_ext/example_index.py, which also sees
    # methods called on streams (``ps.from_array(x).moving_mean(3)``).
    "backreferences_dir": "api/generated/backreferences",
    "doc_module": ("pystream", "pystream_signal", "pystream_text"),
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "remove_config_comments": True,
    "download_all_examples": False,
    "plot_gallery": "True",
    "show_memory": False,
    "min_reported_time": 1,
    "promote_jupyter_magic": False,
    "matplotlib_animations": False,
}

html_theme = "pydata_sphinx_theme"
html_title = f"pystream {release}"
html_static_path = ["_static"]
html_logo = "_static/logo.svg"
html_favicon = "_static/logo.svg"
# The theme's light/dark switch starts from this mode (an empty default is
# reported as an error in the browser console on a first visit).
html_context = {"default_mode": "auto"}
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"getting_started": [], "how_it_works": [], "engines": [], "push": [], "comparison": [], "performance": []}
html_show_sourcelink = False

# Quiet, reproducible builds.
os.environ.setdefault("PYSTREAM_STRICT_PLUGINS", "1")
