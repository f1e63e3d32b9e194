"""Fidelity: R^2 to the teacher for regressors, agreement for classifiers."""

import numpy as np
import pytest
from _shared import fast
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.metrics import fidelity_score, fidelity_scorer

# Longer than FAST, in the default batches of 256: enough for the search
# below to see distilling follow the forest more closely than labels only.
FAST = fast(max_epochs=15, batch_size=256)


def test_regression_fidelity_is_r2_to_the_teacher(regression_split, forest):
    X_train, X_test, y_train, _ = regression_split
    student = DistilledRegressor(forest, **FAST).fit(X_train, y_train)
    expected = r2_score(forest.predict(X_test), student.predict(X_test))
    assert fidelity_score(student, X_test) == pytest.approx(expected)


def test_classification_fidelity_is_agreement(classification_split, boosting):
    X_train, X_test, y_train, _ = classification_split
    labels = np.array(["a", "b", "c"])[y_train]
    teacher = boosting  # fitted on integer labels 0, 1, 2

    def named(X):
        return teacher.predict_proba(X)

    student = DistilledClassifier(named, **FAST).fit(X_train, labels)
    expected = accuracy_score(
        np.array(["a", "b", "c"])[teacher.predict(X_test)], student.predict(X_test)
    )
    assert fidelity_score(student, X_test) == pytest.approx(expected)


def test_fidelity_through_a_pipeline(regression_split):
    from sklearn.linear_model import LinearRegression

    X_train, X_test, y_train, _ = regression_split
    pipe = make_pipeline(
        StandardScaler(), DistilledRegressor(LinearRegression(), **FAST)
    ).fit(X_train, y_train)
    teacher = pipe[-1].teacher_
    Z = pipe[:-1].transform(X_test)
    expected = r2_score(teacher.predict(Z), pipe.predict(X_test))
    assert fidelity_score(pipe, X_test) == pytest.approx(expected)


def test_fidelity_scorer_in_a_grid_search(regression_split, forest):
    X_train, _, y_train, _ = regression_split
    search = GridSearchCV(
        DistilledRegressor(forest, **FAST),
        {"alpha": [0.0, 1.0]},
        scoring={"r2": "r2", "fidelity": fidelity_scorer},
        refit="fidelity",
        cv=2,
    ).fit(X_train, y_train)
    fidelity = search.cv_results_["mean_test_fidelity"]
    assert np.all(np.isfinite(fidelity))
    # Distilling (alpha=0) follows the forest more closely than labels only.
    assert fidelity[0] > fidelity[1]
    assert search.best_params_ == {"alpha": 0.0}


def test_fidelity_of_an_unfitted_distiller_raises(forest):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        fidelity_score(DistilledRegressor(forest), np.zeros((2, 8)))
