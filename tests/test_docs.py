"""The API reference lists every public name, and only public names.

``doc/api.rst`` documents the package through ``autosummary`` tables under
``.. currentmodule::`` directives. This reads those tables as text (Sphinx is
not needed) and checks them against each package's ``__all__``: a name added
to the package without a page in the reference, or a page left for a name the
package no longer exports, fails here with the names in the message.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

API_RST = Path(__file__).resolve().parents[1] / "doc" / "api.rst"

PUBLIC_MODULES = [
    "sklearn_kd",
    "sklearn_kd.augmentation",
    "sklearn_kd.export",
    "sklearn_kd.losses",
    "sklearn_kd.metrics",
    "sklearn_kd.students",
    "sklearn_kd.teachers",
]

_DIRECTIVE = re.compile(r"^\.\.\s+([\w:-]+)::\s*(.*?)\s*$")


def autosummary_entries(text: str) -> list[str]:
    """Fully qualified names listed in the ``autosummary`` tables of ``text``.

    An entry is a non-option line indented under ``.. autosummary::``; it is
    qualified by the latest ``.. currentmodule::`` (unless already dotted
    from the package down).
    """
    entries = []
    module = None
    in_table = False
    for line in text.splitlines():
        directive = _DIRECTIVE.match(line)
        if directive:
            name, argument = directive.groups()
            if name in ("currentmodule", "py:currentmodule"):
                module = argument
            in_table = name == "autosummary"
            continue
        if not in_table:
            continue
        if line and not line[0].isspace():
            in_table = False  # the table ended at an unindented line
            continue
        entry = line.strip()
        if not entry or entry.startswith(":"):
            continue
        entry = entry.lstrip("~")
        if not entry.startswith("sklearn_kd.") and module:
            entry = f"{module}.{entry}"
        entries.append(entry)
    return entries


def public_names() -> set[str]:
    """``module.name`` for every name in the ``__all__`` of each public module
    (dunder names such as ``__version__`` are not API pages)."""
    names = set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if not (name.startswith("__") and name.endswith("__")):
                names.add(f"{module_name}.{name}")
    return names


@pytest.fixture(scope="module")
def documented():
    return autosummary_entries(API_RST.read_text(encoding="utf-8"))


def test_every_public_name_is_in_the_api_reference(documented):
    missing = sorted(public_names() - set(documented))
    assert not missing, (
        f"{len(missing)} public name(s) have no entry in doc/api.rst (add each "
        f"under its module's '.. currentmodule::' in an autosummary table): "
        + ", ".join(missing)
    )


def test_the_api_reference_lists_only_public_names(documented):
    stale = sorted(set(documented) - public_names())
    assert not stale, (
        "doc/api.rst lists name(s) that are not in their module's __all__: "
        + ", ".join(stale)
    )


def test_the_api_reference_lists_each_name_once(documented):
    repeated = sorted({name for name in documented if documented.count(name) > 1})
    assert not repeated, "doc/api.rst lists these more than once: " + ", ".join(
        repeated
    )


def test_the_parser_reads_autosummary_tables():
    text = """
.. currentmodule:: sklearn_kd.sub

.. autosummary::
   :toctree: generated/

   First
   ~sklearn_kd.other.Second

Some text.

.. autosummary::

   third
"""
    assert autosummary_entries(text) == [
        "sklearn_kd.sub.First",
        "sklearn_kd.other.Second",
        "sklearn_kd.sub.third",
    ]
