"""Sphinx configuration of the sklearn_kd documentation.

Build it from the repository root (the examples run in their quick setting)::

    pip install -e ".[docs]"
    SKLEARN_KD_QUICK=1 python -m sphinx -W --keep-going -b html doc doc/_build/html

``-D plot_gallery=0`` builds the gallery pages without running the examples.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from sphinx.pycode import ModuleAnalyzer

DOC = Path(__file__).resolve().parent
ROOT = DOC.parent
# The package is installed (pip install -e); the repository root is on the
# path as well, so that a plain checkout documents itself.
sys.path.insert(0, str(ROOT))

import sklearn_kd  # noqa: E402

# -- Project ---------------------------------------------------------------

project = "sklearn_kd"
author = "the sklearn_kd developers"
copyright = "the sklearn_kd developers, BSD-3-Clause"
version = release = sklearn_kd.__version__

# -- Extensions ------------------------------------------------------------
# No intersphinx: the build must work offline, so it links nothing outside.

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "sg_execution_times.rst",
]
root_doc = "index"
default_role = "literal"
nitpicky = False

# -- autodoc, autosummary, numpydoc ----------------------------------------

autosummary_generate = True
autodoc_typehints = "none"
autoclass_content = "class"
autodoc_member_order = "groupwise"
# Class pages list their methods with autodoc; numpydoc adds no second table.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# -- HTML ------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn_kd {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_show_sourcelink = False
html_theme_options = {
    "navbar_end": ["theme-switcher", "navbar-icon-links"],
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc", "sg_download_links", "sg_launcher_links"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_sidebars = {"index": [], "auto_examples/index": []}

# -- Gallery ---------------------------------------------------------------
# Every examples/*.py runs, except files starting with "_" (shared helpers,
# not examples) and the command-line scripts: compress_forest.py, the
# README's main job, keeps its argparse interface (--quick, --json) and is not
# a gallery script (tests/test_examples.py). Export SKLEARN_KD_QUICK=1 for the
# quick setting that CI builds. An example that raises fails the build.
_CLI_SCRIPTS = ("compress_forest.py",)

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"\.py$",
    "ignore_pattern": "|".join([r"^_", *(rf"^{re.escape(f)}$" for f in _CLI_SCRIPTS)]),
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("sklearn_kd",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"sklearn_kd": None},
    "image_scrapers": ("matplotlib",),
    "remove_config_comments": True,
    "show_memory": False,
    "download_all_examples": False,
    "matplotlib_animations": False,
    "min_reported_time": 1,
}


def _skip_member(app, what, name, obj, skip, options):
    """Leave out scikit-learn's metadata-routing machinery (``set_fit_request``,
    ``get_metadata_routing`` ...): scikit-learn documents it."""
    if name == "get_metadata_routing" or (
        name.startswith("set_") and name.endswith("_request")
    ):
        return True
    return None


_THIRD_PARTY_ROLE = re.compile(r":(?:ref|term):`([^`<]*?)\s*(?:<([^`>]*)>)?`")


def _plain_third_party_roles(app, what, name, obj, options, lines):
    """Methods inherited from scikit-learn (``score``, ``get_params``) cite
    scikit-learn's own user guide and glossary, which this site does not
    have: their ``:ref:`` and ``:term:`` roles become plain text."""
    module = getattr(obj, "__module__", None) or ""
    if module.split(".")[0] == "sklearn_kd":
        return
    for i, line in enumerate(lines):
        lines[i] = _THIRD_PARTY_ROLE.sub(lambda m: m.group(1) or m.group(2), line)


def _constant_doc(app, what, name, obj, options, lines):
    """A string constant re-exported by a package (``teachers.LOGITS``) has
    no docstring of its own, and autodoc would print ``str``'s: show the
    ``#:`` comment where it is defined (``sklearn_kd._batch``) instead, or
    nothing."""
    if what != "data" or not isinstance(obj, (str, int, float)):
        return
    attr_docs = ModuleAnalyzer.for_module("sklearn_kd._batch").find_attr_docs()
    comment = attr_docs.get(("", name.rsplit(".", 1)[-1]))
    if comment:
        lines[:] = list(comment)
    elif lines and lines[0].strip() == type(obj).__doc__.splitlines()[0].strip():
        lines[:] = []


def setup(app):
    app.connect("autodoc-process-docstring", _constant_doc)
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("autodoc-process-docstring", _plain_third_party_roles, priority=400)
