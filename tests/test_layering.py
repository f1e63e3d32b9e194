"""The package's layers, checked on its source (see ARCHITECTURE.md).

Every module is parsed with ``ast`` and every import is read, also those
inside functions, so a lazy import cannot slip past a rule:

- the leaf modules import nothing of the package;
- nothing under ``losses/`` or ``students/`` imports ``teachers``: terms and
  the student net see the teacher only through the batch and the probe the
  distiller hands them; they import only their own package and the leaves;
- nothing under ``export/`` imports ``teachers``: a deployed student carries
  no teacher;
- no module but ``_compat.py`` imports a private scikit-learn name.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

import sklearn_kd
from sklearn_kd import _compat

PACKAGE = Path(sklearn_kd.__file__).parent

#: Modules that import nothing of the package, by path from the package root.
LEAVES = (
    "_utils.py",
    "_torch_utils.py",
    "_batch.py",
    "_cache.py",
    "_fingerprint.py",
    "_compat.py",
)

#: Modules still allowed to import private scikit-learn names directly, until
#: they are switched to ``sklearn_kd._compat``. Keep it empty once they are;
#: a listed module that no longer needs its place fails the test.
PRIVATE_SKLEARN_ALLOWED: set[str] = set()


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    if path.is_relative_to(PACKAGE):
        return path.relative_to(PACKAGE).as_posix()
    return path.name


def _package_of(path: Path) -> str:
    """Dotted package that holds ``path`` (for relative imports)."""
    parts = ("sklearn_kd", *path.relative_to(PACKAGE).parent.parts)
    return ".".join(parts)


def imports(path: Path, package: str | None = None):
    """``(line, imported module, imported names)`` for every import in ``path``.

    Relative imports are made absolute (``package`` is the dotted package
    that holds ``path``, found from its place under the package by default);
    ``from a import b`` yields the module ``a`` and the names ``("b",)``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = (package or _package_of(path)).split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            yield node.lineno, module, tuple(a.name for a in node.names)


def _targets(module: str, names) -> list[str]:
    """Every dotted name an import may bind: the module and ``module.name``."""
    return [module, *(f"{module}.{n}" for n in names)]


def _within(target: str, package: str) -> bool:
    return target == package or target.startswith(package + ".")


def _violations(paths, forbidden: str, package: str | None = None) -> list[str]:
    found = []
    for path in paths:
        for line, module, names in imports(path, package):
            if any(_within(t, forbidden) for t in _targets(module, names)):
                shown = f"from {module} import {', '.join(names)}" if names else module
                found.append(f"{_name(path)}:{line}: {shown}")
    return found


def _imported_module(hit: str) -> str:
    """The module a ``_violations`` entry imports from (or imports)."""
    shown = hit.split(": ", 1)[1]
    return shown.split()[1] if shown.startswith("from ") else shown


def _under(folder: str):
    return [p for p in _modules() if p.relative_to(PACKAGE).parts[0] == folder]


def test_the_package_is_found():
    """The rules below see the modules they are about."""
    names = {_name(p) for p in _modules()}
    assert {"losses/_base.py", "students/_net.py", "teachers/_probe.py"} <= names
    assert set(LEAVES) <= names


@pytest.mark.parametrize("leaf", LEAVES)
def test_leaf_modules_import_nothing_of_the_package(leaf):
    """The leaf modules import only the standard library, third parties and
    other leaves (``_cache`` keys on ``_fingerprint``'s hashes)."""
    other_leaves = {f"sklearn_kd.{name[:-3]}" for name in LEAVES}
    bad = [
        hit
        for hit in _violations([PACKAGE / leaf], "sklearn_kd")
        if _imported_module(hit) not in other_leaves
    ]
    assert not bad, f"The leaf module {leaf} imports the package: {bad}"


@pytest.mark.parametrize("folder", ["losses", "students", "export"])
def test_layer_does_not_import_teachers(folder):
    """Terms, the student net and the exported student never import teachers."""
    bad = _violations(_under(folder), "sklearn_kd.teachers")
    assert not bad, (
        f"Modules under {folder}/ must not import sklearn_kd.teachers (move what "
        f"they need to a leaf module such as _batch.py or _torch_utils.py): {bad}"
    )


@pytest.mark.parametrize("folder", ["losses", "students"])
def test_terms_and_students_import_only_leaves(folder):
    """``losses/`` and ``students/`` import their own package and the leaves."""
    allowed = (f"sklearn_kd.{folder}", *(f"sklearn_kd.{leaf[:-3]}" for leaf in LEAVES))
    bad = []
    for path in _under(folder):
        for line, module, names in imports(path):
            # ``from sklearn_kd import x`` imports the module ``sklearn_kd.x``.
            targets = (
                _targets(module, names)[1:] if module == "sklearn_kd" else [module]
            )
            if any(_within(t, "sklearn_kd") for t in targets) and not all(
                any(_within(t, a) for a in allowed) for t in targets
            ):
                bad.append(f"{_name(path)}:{line}: {module} {names}")
    assert not bad, f"{folder}/ may import only itself and the leaf modules: {bad}"


def _is_sklearn(module: str) -> bool:
    return module == "sklearn" or module.startswith("sklearn.")


def private_sklearn_imports(path: Path, package: str | None = None) -> list[str]:
    """Imports of a private scikit-learn name: a name with a leading
    underscore, or anything from a private module (``sklearn.utils._x``)."""
    found = []
    for line, module, names in imports(path, package):
        if not _is_sklearn(module):
            continue
        private_path = any(part.startswith("_") for part in module.split("."))
        private = [n for n in names if n.startswith("_")]
        if private_path or private:
            shown = f"from {module} import {', '.join(names)}" if names else module
            found.append(f"{_name(path)}:{line}: {shown}")
    return found


def test_private_sklearn_names_come_from_compat():
    """Only ``_compat.py`` (and the allow-list) imports private scikit-learn
    names, so a scikit-learn release that moves them breaks one file."""
    bad = [
        hit
        for path in _modules()
        if _name(path) != "_compat.py" and _name(path) not in PRIVATE_SKLEARN_ALLOWED
        for hit in private_sklearn_imports(path)
    ]
    assert not bad, (
        f"Import these from sklearn_kd._compat (add them there if missing): {bad}"
    )


def test_private_sklearn_allow_list_is_not_stale():
    """Every allow-listed module still needs its place on the list."""
    stale = sorted(
        name
        for name in PRIVATE_SKLEARN_ALLOWED
        if not private_sklearn_imports(PACKAGE / name)
    )
    assert not stale, (
        f"{stale} no longer import private scikit-learn names; remove them from "
        "PRIVATE_SKLEARN_ALLOWED."
    )


def test_the_rule_sees_imports_inside_functions(tmp_path):
    """A lazy import counts like a module-level one, relative ones too."""
    source = tmp_path / "lazy.py"
    source.write_text(
        "import sklearn_kd._batch\n"
        "from . import _base\n"
        "def f():\n"
        "    from sklearn_kd.teachers import as_teacher\n"
        "    from ..teachers._probe import TeacherProbe\n"
        "    from .. import teachers\n"
        "    from sklearn.utils._param_validation import Interval\n"
        "    from sklearn.base import _fit_context, clone\n"
        "    from sklearn_kd._compat import _fit_context\n",
        encoding="utf-8",
    )
    bad = _violations([source], "sklearn_kd.teachers", "sklearn_kd.losses")
    assert [hit.split(":")[1] for hit in bad] == ["4", "5", "6"]
    private = private_sklearn_imports(source, "sklearn_kd.losses")
    assert [hit.split(":")[1] for hit in private] == ["7", "8"]


# --------------------------------------------------------------------------
# _compat's fallbacks behave like the scikit-learn names they stand in for.


def test_compat_activations_match_the_fallback():
    """The fallback MLP activations give scikit-learn's values, in place."""
    rng = np.random.default_rng(0)
    for name, activation in _compat.mlp_activations().items():
        if name not in _compat._FALLBACK_ACTIVATIONS:
            continue
        x = rng.normal(size=(5, 4)) * 3
        expected, got = x.copy(), x.copy()
        activation(expected)
        _compat._FALLBACK_ACTIVATIONS[name](got)
        np.testing.assert_allclose(got, expected, err_msg=name)


def test_compat_sample_weight_fallback_matches():
    """The ``_check_sample_weight`` fallback agrees on None, scalars, arrays."""
    X = np.zeros((4, 2))
    for weight in (None, 2.0, [1, 2, 3, 4]):
        np.testing.assert_array_equal(
            _compat._check_sample_weight_fallback(weight, X, dtype=np.float64),
            _compat._check_sample_weight(weight, X, dtype=np.float64),
        )
    for weight, options in (
        ([1, 2], {}),
        ([1, -1, 2, 0], {"ensure_non_negative": True}),
        ([0, 0, 0, 0], {}),
        ([np.nan, 1, 1, 1], {}),
    ):
        with pytest.raises(ValueError) as ours:
            _compat._check_sample_weight_fallback(weight, X, **options)
        with pytest.raises(ValueError) as theirs:
            _compat._check_sample_weight(weight, X, **options)
        assert str(ours.value)[:20] == str(theirs.value)[:20]


def test_compat_fit_context_fallback_validates_params():
    """The ``_fit_context`` fallback validates the parameters before ``fit``."""
    from numbers import Integral

    from sklearn.base import BaseEstimator

    class Tiny(BaseEstimator):
        _parameter_constraints: ClassVar[dict] = {
            "k": [_compat.Interval(Integral, 1, None, closed="left")]
        }

        def __init__(self, k=1):
            self.k = k

        @_compat._fit_context_fallback(prefer_skip_nested_validation=True)
        def fit(self, X=None):
            self.fitted_ = True
            return self

    assert Tiny().fit().fitted_
    with pytest.raises(_compat.InvalidParameterError):
        Tiny(k=0).fit()
