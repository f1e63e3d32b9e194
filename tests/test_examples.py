"""The example scripts: each one compiles and documents itself; the quickest run.

Every script is checked without running it (it parses, has a module docstring
that says how to run it and offers ``--quick``). The quickest (the two seed
reproductions and the gradient, feature and route examples) run in their
``--quick`` setting, in this process (a subprocess would import torch
again), a few seconds each; the others take tens of seconds even then.
"""

import ast
import runpy
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))


def test_examples_are_found():
    assert {p.name for p in SCRIPTS} >= {
        "compress_forest.py",
        "seed_regression.py",
        "seed_mlp_digits.py",
        "seed_cnn_digits.py",
        "grid_search.py",
        "pipeline_categorical.py",
        "teacher_ensemble.py",
    }


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_compiles_and_documents_itself(script):
    source = script.read_text()
    tree = ast.parse(source, filename=str(script))
    compile(tree, str(script), "exec")
    docstring = ast.get_docstring(tree)
    assert docstring, f"{script.name} has no module docstring"
    assert f"python examples/{script.name}" in docstring
    assert "--quick" in source and "SKLEARN_KD_QUICK" in source
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "main" in functions
    assert 'if __name__ == "__main__":' in source


@pytest.mark.slow
def test_seed_regression_quick(capsys):
    main = runpy.run_path(str(EXAMPLES / "seed_regression.py"))["main"]
    summary = main(["--quick"])
    assert set(summary) == {
        "standard teacher",
        "student from scratch",
        "distilled from standard",
    }
    assert all(0 < row["r2"] <= 1 and row["mse"] > 0 for row in summary.values())
    assert "distilled from standard vs scratch" in capsys.readouterr().out


@pytest.mark.slow
def test_seed_cnn_digits_quick(capsys):
    main = runpy.run_path(str(EXAMPLES / "seed_cnn_digits.py"))["main"]
    results = main(["--quick"])
    # Short training, but well above chance (10 %) for teacher and students.
    assert results["teacher"] > 50
    assert np.all(results["scratch"] > 30) and np.all(results["distilled"] > 30)
    assert "distillation gain" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize(
    "script",
    ["gradient_matching.py", "feature_matching.py", "route_distillation.py"],
)
def test_term_family_example_runs_quick(script, capsys, monkeypatch):
    """The examples of the gradient, feature and route terms run end to end."""
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # as the scripts set it
    main = runpy.run_path(str(EXAMPLES / script))["main"]
    main(["--quick"])
    assert capsys.readouterr().out.strip()
