"""The example scripts: gallery scripts that document themselves; the quickest run.

Every example except ``compress_forest.py`` (the README's main job, a
command-line script with ``--quick`` and ``--json``) is a flat sphinx-gallery
script: an RST title and a paragraph in its module docstring, then ``# %%``
cells, no ``main()``, no argparse; its quick setting comes from
``SKLEARN_KD_QUICK`` through ``examples/_settings.py``. Each is checked without
running it. The quickest (the synthetic regression, the CNN on digits and the
gradient, feature and route examples) run in their quick setting, in this
process (a subprocess would import torch again), a few seconds each; the
others take tens of seconds even then.
"""

import ast
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# What sphinx-gallery runs: every script whose name does not start with "_".
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
CLI_SCRIPTS = {"compress_forest.py"}
GALLERY_SCRIPTS = [p for p in SCRIPTS if p.name not in CLI_SCRIPTS]


def test_examples_are_found():
    assert {p.name for p in SCRIPTS} >= {
        "compress_forest.py",
        "synthetic_regression.py",
        "mlp_digits.py",
        "cnn_digits.py",
        "grid_search.py",
        "pipeline_categorical.py",
        "teacher_ensemble.py",
        "gradient_matching.py",
        "feature_matching.py",
        "route_distillation.py",
    }
    assert (EXAMPLES / "_settings.py").is_file()


def test_gallery_index_exists():
    """sphinx-gallery needs a README.txt: a title underlined with '=', then text."""
    lines = (EXAMPLES / "README.txt").read_text().splitlines()
    assert lines[0].strip() and set(lines[1]) == {"="}
    assert len(lines[1]) >= len(lines[0])
    assert any(line.strip() for line in lines[2:])


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_compiles(script):
    source = script.read_text()
    tree = ast.parse(source, filename=str(script))
    compile(tree, str(script), "exec")
    assert ast.get_docstring(tree), f"{script.name} has no module docstring"
    assert "reference/" not in source and "lecture" not in source


def test_compress_forest_keeps_its_command_line():
    """The README's main job: ``python examples/compress_forest.py``, with
    ``--quick`` or ``SKLEARN_KD_QUICK=1``."""
    source = (EXAMPLES / "compress_forest.py").read_text()
    assert "python examples/compress_forest.py" in source
    assert "--quick" in source and "SKLEARN_KD_QUICK" in source
    assert 'if __name__ == "__main__":' in source


@pytest.mark.parametrize("script", GALLERY_SCRIPTS, ids=lambda p: p.name)
def test_example_is_a_gallery_script(script):
    """An RST title and a paragraph, ``# %%`` cells, no main() nor argparse,
    the quick setting from ``_settings``."""
    source = script.read_text()
    tree = ast.parse(source)
    lines = ast.get_docstring(tree).splitlines()
    title, underline = lines[0], lines[1]
    assert title.strip() and set(underline) == {"="}, script.name
    assert len(underline) >= len(title), f"{script.name}: underline too short"
    assert len(lines) > 3 and not lines[2].strip() and lines[3].strip()
    assert source.count("\n# %%\n") >= 2
    functions = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert "main" not in functions
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert "argparse" not in imported
    assert "_settings" in imported
    # The environment is read in one place only, _settings.
    assert "os.environ" not in source and "getenv" not in source
    assert "__name__" not in source and "__file__" not in source


@pytest.fixture
def run_example(monkeypatch):
    """Run an example in its quick setting, as sphinx-gallery would: figures
    on the Agg backend, the examples folder on ``sys.path``."""
    plt = pytest.importorskip("matplotlib.pyplot")
    plt.switch_backend("Agg")
    monkeypatch.setenv("SKLEARN_KD_QUICK", "1")
    monkeypatch.syspath_prepend(str(EXAMPLES))
    # _settings reads the environment when it is imported: import it afresh.
    monkeypatch.delitem(sys.modules, "_settings", raising=False)

    def run(name):
        try:
            namespace = runpy.run_path(str(EXAMPLES / name))
            assert plt.get_fignums() or name in {"pipeline_categorical.py"}
            return namespace
        finally:
            plt.close("all")

    return run


@pytest.mark.slow
def test_synthetic_regression_quick(run_example, capsys):
    namespace = run_example("synthetic_regression.py")
    summary = namespace["scores"].groupby("model")[["test R2", "test MSE"]].mean()
    assert set(summary.index) == {
        "standard teacher",
        "student from scratch",
        "distilled from standard",
    }
    assert ((summary["test R2"] > 0) & (summary["test R2"] <= 1)).all()
    assert (summary["test MSE"] > 0).all()
    assert "distilled from standard: test MSE" in capsys.readouterr().out


@pytest.mark.slow
def test_cnn_digits_quick(run_example, capsys):
    namespace = run_example("cnn_digits.py")
    # Short training, but well above chance (10 %) for teacher and students.
    assert namespace["teacher_acc"] > 50
    assert np.all(namespace["scratch"] > 30) and np.all(namespace["distilled"] > 30)
    assert "distillation gain" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize(
    "script",
    ["gradient_matching.py", "feature_matching.py", "route_distillation.py"],
)
def test_term_family_example_runs_quick(script, run_example, capsys):
    """The examples of the gradient, feature and route terms run end to end."""
    run_example(script)
    assert capsys.readouterr().out.strip()
