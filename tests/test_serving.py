"""The lean predict path: traced float64/float32 graphs, column-by-column
encoding, chunked bulk predict. Predictions equal the eager float64 student's
(the reference) to the documented tolerance; speed is in benchmarks/."""

import copy
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from _shared import FAST
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import sklearn_kd._inference as inference
from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd._preprocessing import TabularEncoder

# A frame of every column kind the lean path encodes (float, string, int,
# categorical); the teacher is a formula of it.
RNG = np.random.default_rng(0)
N = 600
FRAME = pd.DataFrame(
    {
        "a": RNG.normal(size=N),
        "city": RNG.choice(["paris", "rome", "oslo"], size=N),
        "b": RNG.integers(0, 50, size=N),
        "grade": pd.Categorical(RNG.choice(["x", "y"], size=N)),
        "c": RNG.normal(size=N) * 100,
    }
)
Y = FRAME["a"] * 2 + (FRAME["city"] == "rome") + FRAME["b"] / 10


def _teacher_frame(X):
    return np.asarray(X["a"] * 2 + (X["city"] == "rome") + X["b"] / 10, float)


@pytest.fixture(scope="module")
def fitted():
    return DistilledRegressor(_teacher_frame, **FAST).fit(FRAME, Y)


def _reference(model, X):
    """What predict computed before the lean path: the eager float64 module
    on the whole encoded matrix."""
    Xs = model._student_matrix(X)
    with torch.no_grad():
        out = model._inference_module_(torch.from_numpy(Xs).double()).numpy()
    return out.ravel() * model._target_scale_ + model._target_mean_


def test_default_student_is_traced_and_predicts_like_the_eager_module(fitted):
    assert fitted._inference_graphs_ is not None
    for rows in (slice(0, 1), slice(0, 7), slice(0, 300)):
        X = FRAME.iloc[rows]
        # Below FLOAT32_MIN_ROWS: float64, equal to the eager module.
        np.testing.assert_allclose(
            fitted.predict(X), _reference(fitted, X), rtol=1e-12, atol=1e-12
        )


def test_large_batches_run_in_float32_within_the_documented_tolerance(fitted):
    big = pd.concat([FRAME] * 4, ignore_index=True)  # 2,400 rows
    assert len(big) >= inference.FLOAT32_MIN_ROWS
    np.testing.assert_allclose(
        fitted.predict(big), _reference(fitted, big), rtol=1e-5, atol=1e-6
    )


def test_a_rows_prediction_does_not_depend_on_its_neighbours(fitted):
    """Below the float32 threshold a row predicts the same alone or in a batch
    (scikit-learn's subset invariance); above it, to float32 precision."""
    one = np.concatenate([fitted.predict(FRAME.iloc[[i]]) for i in range(20)])
    np.testing.assert_allclose(one, fitted.predict(FRAME.iloc[:20]), rtol=1e-12)
    big = pd.concat([FRAME] * 4, ignore_index=True)
    np.testing.assert_allclose(one, fitted.predict(big)[:20], rtol=1e-5, atol=1e-6)


def test_bulk_predict_is_chunked_and_equal(monkeypatch, fitted):
    """Over CHUNK_SIZE rows, predict encodes and runs chunk by chunk (bounded
    memory) and gives what one pass gives."""
    big = pd.concat([FRAME] * 4, ignore_index=True)
    whole = fitted.predict(big)
    seen = []
    original = type(fitted)._run_student

    def spy(self, X):
        seen.append(X.shape[0])
        return original(self, X)

    monkeypatch.setattr(inference, "CHUNK_SIZE", 1000)
    monkeypatch.setattr(type(fitted), "_run_student", spy)
    chunked = fitted.predict(big)
    assert seen == [1000, 1000, 400]
    # The 400-row chunk runs in float64, the others in float32.
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("how", ["pickle", "deepcopy", "deploy", "deploy+pickle"])
def test_graphs_are_rebuilt_after_pickling_and_deploying(how, fitted):
    if how == "pickle":
        model = pickle.loads(pickle.dumps(fitted))
    elif how == "deepcopy":
        model = copy.deepcopy(fitted)
    elif how == "deploy":
        model = fitted.to_deployable()
    else:
        model = pickle.loads(pickle.dumps(fitted.to_deployable()))
    assert model._inference_graphs_ is not None
    assert "_inference_graphs_" not in fitted.__getstate__()
    X = FRAME.iloc[:50]
    np.testing.assert_array_equal(model.predict(X), fitted.predict(X))


def test_a_users_student_module_runs_eagerly():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3, 1)

        def forward(self, X):
            return self.linear(X)

    X = RNG.normal(size=(200, 3))
    y = X @ [1.0, 2.0, 3.0]
    model = DistilledRegressor(
        LinearRegression().fit(X, y), student=Net(), preprocessor=None, **FAST
    ).fit(X, y)
    assert model._inference_graphs_ is None
    np.testing.assert_allclose(
        model.predict(X[:5]), _reference(model, X[:5]).ravel(), rtol=1e-12
    )


def test_classifier_probabilities_through_the_graphs():
    y = (FRAME["a"] > 0).map({True: "up", False: "down"})

    def proba(X):
        p = 1 / (1 + np.exp(-3 * X["a"].to_numpy()))
        return np.column_stack([1 - p, p])

    model = DistilledClassifier(proba, **FAST).fit(FRAME, y)
    Xs = model._student_matrix(FRAME.iloc[:30])
    with torch.no_grad():
        logits = model._inference_module_(torch.from_numpy(Xs).double()).numpy()
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(
        model.predict_proba(FRAME.iloc[:30]), expected, rtol=1e-10
    )


@pytest.mark.parametrize("n_rows", [1, 10, 300])  # the small and the large path
def test_tabular_encoder_equals_scikit_learns_column_transformer(n_rows):
    X = FRAME.assign(
        flag=RNG.random(N) > 0.5,
        count=pd.array(RNG.integers(0, 9, size=N), dtype="Int64"),
    )
    numeric = ["a", "b", "c", "count"]
    categorical = ["city", "grade", "flag"]
    reference = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                categorical,
            ),
        ]
    ).fit(X)
    encoder = TabularEncoder().fit(X)
    new = X.iloc[:n_rows].copy()
    new.loc[new.index[0], "city"] = "lima"  # unseen: all zeros in its block
    np.testing.assert_allclose(
        encoder.transform(new), reference.transform(new), rtol=1e-6, atol=1e-6
    )


def test_tabular_encoder_names_missing_category_on_both_paths():
    encoder = TabularEncoder().fit(FRAME)
    for n_rows in (3, 300):
        bad = FRAME.iloc[:n_rows].copy()
        bad.loc[bad.index[-1], "city"] = None
        with pytest.raises(ValueError, match="NaN in column 'city'"):
            encoder.transform(bad)


def test_predict_on_a_forest_teacher_frame_matches_reference():
    """End to end with a string-column DataFrame and a forest teacher."""
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    teacher = make_pipeline(
        make_column_transformer(
            (OrdinalEncoder(), ["city", "grade"]), remainder="passthrough"
        ),
        RandomForestRegressor(n_estimators=10, random_state=0),
    ).fit(FRAME, Y)
    model = DistilledRegressor(teacher, **FAST).fit(FRAME, Y)
    for rows in (slice(0, 1), slice(0, 600)):
        X = FRAME.iloc[rows]
        np.testing.assert_allclose(model.predict(X), _reference(model, X), rtol=1e-12)
