"""Hardening: each test pins one defect fixed after b688239.

Every test here fails on the code at commit b688239 (before the fixes), except
those whose docstring says "Not a regression test".
"""

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from _shared import TINY
from sklearn.compose import make_column_transformer
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.losses import DistillationTerm
from sklearn_kd.students._net import DistillationNet

# A small linear problem in three columns, and a class for each side of a line.
RNG = np.random.RandomState(0)
N = 120
X = RNG.normal(size=(N, 3))
Y = X @ np.array([1.0, -1.0, 0.5]) + 0.1 * RNG.normal(size=N)
YC = (X[:, 0] + X[:, 1] > 0).astype(int)


@pytest.fixture(scope="module")
def linear():
    return LinearRegression().fit(X, Y)


@pytest.fixture(scope="module")
def logistic():
    return LogisticRegression().fit(X, YC)


def zero_teacher(Z):
    return np.zeros(len(Z))


# 1. Negative sample weights


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_negative_sample_weight_raises(task, linear, logistic):
    if task == "regression":
        model, y = DistilledRegressor(linear, **TINY), Y
    else:
        model, y = DistilledClassifier(logistic, **TINY), YC
    weights = np.ones(N)
    weights[3] = -1.0
    with pytest.raises(
        ValueError, match="Negative values in data passed to `sample_weight`"
    ):
        model.fit(X, y, sample_weight=weights)
    with pytest.raises(ValueError):
        model.fit(X, y, sample_weight=np.zeros(N))


# 2. Overflow


def test_huge_x_value_names_the_column(linear):
    X_big = X.copy()
    X_big[5, 0] = 1e300
    with pytest.raises(ValueError, match="X's column 0 is too large to standardise"):
        DistilledRegressor(linear, **TINY).fit(X_big, Y)


def test_huge_x_value_without_preprocessor():
    """The error for X beyond float32 comes before the teacher is queried (the
    old code raised the same message, but only after a full teacher pass)."""
    calls = []

    def teacher(Z):
        calls.append(len(Z))
        return np.zeros(len(Z))

    X_big = X.copy()
    X_big[5, 0] = 1e300
    model = DistilledRegressor(teacher, preprocessor=None, **TINY)
    with pytest.raises(ValueError, match="too large for float32, in column 0"):
        model.fit(X_big, Y)
    assert calls == []


def test_huge_y_raises(linear):
    with pytest.raises(ValueError, match="y is too large to standardise"):
        DistilledRegressor(linear, **TINY).fit(X, Y * 1e300)


def test_teacher_signal_too_large_for_float32():
    model = DistilledRegressor(lambda Z: np.full(len(Z), 1e39), **TINY)
    with pytest.raises(ValueError, match="too large to train on in float32") as info:
        model.fit(X, Y)
    assert "prediction" in str(info.value)


class InfiniteTerm(DistillationTerm):
    """A term whose loss is infinite on every row."""

    requires = ()
    tasks = ("regression", "classification")

    def loss(self, y_pred, batch, student):
        return torch.full_like(y_pred[:, 0], float("inf"))


def test_non_finite_loss_stops_fit(linear):
    model = DistilledRegressor(linear, terms=[("bad", InfiniteTerm())], **TINY)
    with pytest.raises(ValueError, match="non-finite in epoch 1") as info:
        model.fit(X, Y)
    assert "'bad'" in str(info.value)
    with pytest.raises(NotFittedError):
        check_is_fitted(model)


# 3. Integer column names checked at predict


@pytest.fixture(scope="module")
def int_frame_model():
    frame = pd.DataFrame(X)
    teacher = LinearRegression().fit(frame, Y)
    return frame, DistilledRegressor(teacher, **TINY).fit(frame, Y)


@pytest.mark.parametrize("change", ["reorder", "rename"])
def test_integer_column_names_checked(int_frame_model, change):
    frame, model = int_frame_model
    bad = frame[[2, 1, 0]] if change == "reorder" else frame.rename(columns={0: 5})
    with pytest.raises(ValueError, match="columns differ from those seen at fit"):
        model.predict(bad)
    with pytest.raises(ValueError, match="columns differ from those seen at fit"):
        model.to_deployable().predict(bad)


def test_integer_column_names_checked_through_onnx(int_frame_model, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from sklearn_kd.export import export_onnx, load_onnx

    frame, model = int_frame_model
    path = tmp_path / "student.onnx"
    export_onnx(model, path)
    loaded = load_onnx(path)
    assert loaded.predict(frame).shape == (N,)
    with pytest.raises(ValueError, match="feature names should match"):
        loaded.predict(frame[[2, 1, 0]])


# 4. String categories given as numbers at predict


def test_string_column_given_as_ints_at_predict():
    frame = pd.DataFrame(
        {"c": np.where(X[:, 0] > 0, "1000", "2000"), "a": X[:, 1], "b": X[:, 2]}
    )
    teacher = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["c"]), remainder="passthrough"
        ),
        LinearRegression(),
    ).fit(frame, Y)
    model = DistilledRegressor(teacher, **TINY).fit(frame, Y)
    as_ints = frame.assign(c=frame["c"].astype("int64"))
    with pytest.raises(ValueError, match="Column 'c' held string values") as info:
        model.predict(as_ints)
    assert "int64" in str(info.value)


# 5. Ctrl-C


def test_keyboard_interrupt_propagates(linear, monkeypatch):
    original = DistillationNet.train_step
    calls = []

    def interrupted(self, batch, **fit_params):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, batch, **fit_params)

    monkeypatch.setattr(DistillationNet, "train_step", interrupted)
    model = DistilledRegressor(linear, **TINY)  # batches of 32: 4 an epoch
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y)
    assert len(calls) == 2
    with pytest.raises(NotFittedError):
        model.predict(X)


def test_early_stopping_still_completes():
    """Not a regression test (passes on b688239 too): early stopping, which
    skorch implements with KeyboardInterrupt, still ends a fit normally now
    that Ctrl-C propagates."""
    rng = np.random.RandomState(1)
    X300 = rng.normal(size=(300, 3))
    y300 = X300 @ np.array([1.0, -1.0, 0.5])
    teacher = LinearRegression().fit(X300, y300)
    params = {**TINY, "max_epochs": 50}
    model = DistilledRegressor(
        teacher, early_stopping=True, patience=1, lr=0.05, **params
    ).fit(X300, y300)
    assert len(model.history_) < 50
    assert np.isfinite(model.predict(X300)).all()


# 6. A teacher that writes into its input


def test_mutating_teacher_leaves_x_unchanged():
    def mut(Z):
        Z[:, 0] = 0.0
        return Z.sum(axis=1)

    def clean(Z):
        return Z[:, 1:].sum(axis=1)

    X_user = X.copy()
    X_before = X_user.copy()
    model = DistilledRegressor(mut, **TINY).fit(X_user, Y)
    assert np.array_equal(X_before, X_user)
    # Same teacher outputs without the write: had the write reached the
    # transfer rows, the student would have trained on a zeroed column 0.
    reference = DistilledRegressor(clean, **TINY).fit(X, Y)
    np.testing.assert_allclose(model.predict(X), reference.predict(X), rtol=1e-6)


# 8. Column dtypes


def test_object_column_holding_numbers():
    frame = pd.DataFrame({"a": X[:, 0].astype(object), "b": X[:, 1], "c": X[:, 2]})
    with pytest.raises(ValueError, match="holds numbers but has dtype object") as e:
        DistilledRegressor(zero_teacher, **TINY).fit(frame, Y)
    assert "to_numeric" in str(e.value)


def test_datetime_column():
    frame = pd.DataFrame(
        {"d": pd.date_range("2020", periods=N), "b": X[:, 1], "c": X[:, 2]}
    )
    with pytest.raises(ValueError, match="datetime64") as info:
        DistilledRegressor(zero_teacher, **TINY).fit(frame, Y)
    assert "Convert" in str(info.value)


def test_many_categories_warn():
    labels = np.array([f"s{i}" for i in range(100)] + ["s0"] * (N - 100))
    frame = pd.DataFrame({"s": labels, "b": X[:, 1], "c": X[:, 2]})
    with pytest.warns(UserWarning, match="categories for"):
        DistilledRegressor(zero_teacher, **TINY).fit(frame, Y)


# 9. Missing classifier labels


def test_none_label_raises(logistic):
    y = np.where(YC == 1, "yes", "no").astype(object)
    y[4] = None
    with pytest.raises(ValueError, match="missing label"):
        DistilledClassifier(logistic, **TINY).fit(X, y)


# 10. Mixed object column


def test_object_column_mixing_numbers_and_strings():
    frame = pd.DataFrame({"a": [1, "x"] * (N // 2), "b": X[:, 1], "c": X[:, 2]})
    with pytest.raises(ValueError, match="Column 'a'") as info:
        DistilledRegressor(zero_teacher, **TINY).fit(frame, Y)
    assert "mixes" in str(info.value)


# 11. Messages


def test_numpy_at_predict_after_string_frame():
    frame = pd.DataFrame(
        {"c": np.where(X[:, 0] > 0, "u", "v"), "a": X[:, 1], "b": X[:, 2]}
    )
    teacher = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["c"]), remainder="passthrough"
        ),
        LinearRegression(),
    ).fit(frame, Y)
    model = DistilledRegressor(teacher, **TINY).fit(frame, Y)
    with pytest.raises(
        ValueError, match="fitted on a DataFrame with the non-numeric columns"
    ):
        model.predict(X)


def test_torch_teacher_of_wrong_width():
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="torch teacher Linear failed") as info:
        DistilledRegressor(torch.nn.Linear(5, 1), **TINY).fit(X, Y)
    assert "3 columns" in str(info.value)


def test_double_torch_teacher_fits():
    torch.manual_seed(0)
    teacher = torch.nn.Linear(3, 1).double()
    model = DistilledRegressor(teacher, **TINY).fit(X, Y)
    assert np.isfinite(model.predict(X)).all()


def test_x_unlabeled_of_wrong_width(linear):
    with pytest.raises(ValueError, match="X_unlabeled"):
        DistilledRegressor(linear, **TINY).fit(X, Y, X_unlabeled=X[:, :2])


def test_onnx_metadata_without_task(linear, tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from sklearn_kd.export import export_onnx, load_onnx

    model = DistilledRegressor(linear, **TINY).fit(X, Y)
    path = tmp_path / "student.onnx"
    export_onnx(model, path)
    proto = onnx.load(path)
    (prop,) = [p for p in proto.metadata_props if p.key == "sklearn_kd"]
    meta = json.loads(prop.value)
    del meta["task"]
    prop.value = json.dumps(meta)
    onnx.save(proto, path)
    with pytest.raises(ValueError, match="altered or damaged"):
        load_onnx(path)


def test_memory_that_is_a_file(linear, tmp_path):
    path = tmp_path / "cache.txt"
    path.write_text("not a folder")
    with pytest.raises(ValueError, match="is a file"):
        DistilledRegressor(linear, memory=str(path), **TINY).fit(X, Y)


def test_memory_empty_string(linear, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="memory=''"):
        DistilledRegressor(linear, memory="", **TINY).fit(X, Y)
    assert not (tmp_path / "joblib").exists()


def test_early_stopping_split_too_small_for_classes():
    y3 = np.arange(40) % 3
    teacher = LogisticRegression().fit(X[:40], y3)
    model = DistilledClassifier(
        teacher, early_stopping=True, validation_fraction=0.05, **TINY
    )
    with pytest.raises(ValueError, match=r"validation_fraction=0\.05") as info:
        model.fit(X[:40], y3)
    assert "3 classes" in str(info.value)


def test_regressor_given_classifier_teacher_and_string_y():
    forest = RandomForestClassifier(n_estimators=10, random_state=0)
    y_str = np.where(YC == 1, "yes", "no")
    forest.fit(X, y_str)
    with pytest.raises(ValueError, match="needs a regression teacher"):
        DistilledRegressor(forest, **TINY).fit(X, y_str)


def test_pipeline_narrowing_x_before_distiller():
    forest = RandomForestRegressor(n_estimators=10, random_state=0).fit(X, Y)
    pipe = make_pipeline(PCA(2), DistilledRegressor(forest, **TINY))
    with pytest.raises(ValueError, match="fitted on 3 columns but receives 2") as e:
        pipe.fit(X, Y)
    assert "preprocessor=" in str(e.value)


# 12. Sparse X


def test_sparse_x_with_linear_teacher():
    Xs = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
    teacher = LinearRegression().fit(Xs, Y)
    model = DistilledRegressor(teacher, **TINY).fit(Xs, Y, X_unlabeled=Xs[:40])
    pred = model.predict(Xs)
    assert pred.shape == (N,)
    assert np.isfinite(pred).all()
    np.testing.assert_allclose(pred, model.predict(Xs.toarray()), rtol=1e-6)


def test_sparse_x_with_dense_only_teacher():
    teacher = HistGradientBoostingRegressor(max_iter=5).fit(X, Y)
    assert not get_tags(teacher).input_tags.sparse
    with pytest.raises(TypeError, match="Sparse X"):
        DistilledRegressor(teacher, **TINY).fit(sp.csr_matrix(X), Y)
