"""Distillers trained on a CUDA device: fit, predict, deploy, pickle and export.

Every test is skipped where ``torch.cuda.is_available()`` is False.
"""

import pickle

import numpy as np
import pytest
import torch
from _shared import FAST
from sklearn.ensemble import RandomForestClassifier

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.export import export_torchscript, load_torchscript

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="needs a CUDA device (torch.cuda.is_available() is False)",
)


def regression_problem(request):
    X, _, y, _ = request.getfixturevalue("regression_split")
    return DistilledRegressor, request.getfixturevalue("forest"), X, y


def classification_problem(request):
    """conftest's classes as strings, and a forest that learnt them so."""
    X, _, y, _ = request.getfixturevalue("classification_split")
    y = np.array(["ant", "bee", "cow"])[y]
    teacher = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    return DistilledClassifier, teacher, X, y


PROBLEMS = {"regression": regression_problem, "classification": classification_problem}


@pytest.fixture(
    scope="module",
    params=[(task, device) for task in PROBLEMS for device in ("cuda", "auto")],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def fitted(request):
    """A distiller fitted with ``device='cuda'`` or ``'auto'``, and its data."""
    task, device = request.param
    Distiller, teacher, X, y = PROBLEMS[task](request)
    model = Distiller(teacher, device=device, **FAST).fit(X, y)
    return model, X


def outputs(model, X):
    """What a user reads: predictions, and probabilities for a classifier."""
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)
    return model.predict(X)


def assert_close(actual, expected, rtol):
    np.testing.assert_allclose(
        actual, expected, rtol=rtol, atol=rtol * np.abs(expected).max()
    )


def test_fit_trains_on_the_gpu(fitted):
    """device='cuda' and device='auto' both put the student on the GPU."""
    model, _ = fitted
    assert model.device_.type == "cuda"
    assert torch.device(model.student_.device).type == "cuda"
    for module in (model.student_.module_, model._inference_module_):
        assert {p.device.type for p in module.parameters()} == {"cuda"}


def test_predictions_are_cpu_float64_and_match_a_cpu_deploy(fitted):
    """The CUDA student predicts numpy float64 and agrees with the same weights
    run on the CPU (float64 on both: only summation order differs)."""
    model, X = fitted
    cpu = model.to_deployable(device="cpu")
    assert cpu.device_.type == "cpu"
    out = outputs(model, X)
    assert type(out) is np.ndarray and out.dtype == np.float64
    assert_close(out, outputs(cpu, X), rtol=1e-6)
    if hasattr(model, "classes_"):
        np.testing.assert_array_equal(model.predict(X), cpu.predict(X))
    one = outputs(model, X[:1])
    assert type(one) is np.ndarray and one.shape[0] == 1


def test_to_deployable_on_cuda(fitted):
    model, X = fitted
    deployed = model.to_deployable(device="cuda")
    assert deployed.device_.type == "cuda"
    assert {p.device.type for p in deployed._inference_module_.parameters()} == {"cuda"}
    out = outputs(deployed, X)
    assert type(out) is np.ndarray and out.dtype == np.float64
    assert_close(out, outputs(model, X), rtol=1e-9)
    restored = pickle.loads(pickle.dumps(deployed))
    assert restored.device_.type == "cuda"
    assert_close(outputs(restored, X), out, rtol=1e-9)


def test_cuda_fitted_distiller_pickles(fitted):
    """A round trip keeps the device and the predictions."""
    model, X = fitted
    restored = pickle.loads(pickle.dumps(model))
    assert restored.device_.type == "cuda"
    assert_close(outputs(restored, X), outputs(model, X), rtol=1e-9)
    if hasattr(model, "classes_"):
        np.testing.assert_array_equal(restored.predict(X), model.predict(X))


def test_cuda_student_exports_and_runs_on_either_device(fitted, tmp_path):
    """The export is traced on the CPU whatever the training device; the file
    runs on the CPU and on the GPU."""
    model, X = fitted
    path = export_torchscript(model, tmp_path / "student.pt")
    expected = outputs(model.to_deployable(device="cpu"), X)
    for device in ("cpu", "cuda"):
        student = load_torchscript(path, device=device)
        assert_close(outputs(student, X), expected, rtol=1e-5)


@pytest.mark.parametrize("encoding", ["piecewise_linear", "periodic"])
def test_the_numeric_encoding_and_missing_values_run_on_the_gpu(
    encoding, regression_split
):
    """The student's encoding (bins from the forest, NaN codes) trains on the
    device, and the CPU deployment predicts what the GPU student does."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    X, _, y, _ = regression_split
    X = X.copy()
    X[np.random.default_rng(0).random(X.shape) < 0.1] = np.nan
    teacher = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(X, y)
    model = DistilledRegressor(
        teacher, device="cuda", numeric_encoding=encoding, **FAST
    ).fit(X, y)
    layer = model.student_.module_.layers.encoding
    assert all(b.device.type == "cuda" for b in layer.buffers())
    assert model.encoding_.missing == tuple(range(X.shape[1]))
    pred = model.predict(X)
    assert np.isfinite(pred).all()
    np.testing.assert_allclose(model.to_deployable("cpu").predict(X), pred, rtol=1e-6)
