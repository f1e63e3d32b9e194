"""Teacher lists: averaged members, weights, class union, cloning, errors."""

import numpy as np
import pytest
from _shared import FAST, XR, YR
from scipy.special import softmax
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.teachers import EnsembleTeacher, as_teacher


def test_weighted_average_of_predictions():
    """A list of (teacher, weight) pairs predicts the weighted mean of its members."""
    X, y = XR, YR
    a = LinearRegression().fit(X, y)
    b = LinearRegression().fit(X, 2 * y)
    adapter = as_teacher([(a, 1.0), (b, 3.0)])
    assert isinstance(adapter, EnsembleTeacher)
    got = adapter.query(X, ["prediction"])["prediction"].ravel()
    np.testing.assert_allclose(got, 0.25 * a.predict(X) + 0.75 * b.predict(X))


def test_probabilities_averaged_over_class_union():
    """Class scores average as probabilities; a member lacking a class gives it 0."""
    X = XR
    labels = np.where(X[:, 0] > 0.5, "high", np.where(X[:, 0] < -0.5, "low", "mid"))
    full = LogisticRegression().fit(X, labels)
    partial = RandomForestClassifier(n_estimators=10, random_state=0).fit(
        X[labels != "low"], labels[labels != "low"]
    )
    adapter = as_teacher([full, partial])
    assert list(adapter.classes) == ["high", "low", "mid"]
    proba = softmax(adapter.query(X, ["logits"])["logits"], axis=1)
    expected = 0.5 * full.predict_proba(X)
    expected[:, [0, 2]] += 0.5 * partial.predict_proba(X)
    np.testing.assert_allclose(
        proba, expected / expected.sum(1, keepdims=True), atol=1e-5
    )


def test_distillers_accept_teacher_lists():
    """teacher=[...] works for both distillers; labels are matched by name."""
    X, y = XR, YR
    reg = DistilledRegressor(
        [LinearRegression().fit(X, y), HistGradientBoostingRegressor().fit(X, y)],
        **FAST,
    ).fit(X, y)
    assert reg.predict(X).shape == (len(X),)
    labels = np.where(y > 0, "up", "down")
    clf = DistilledClassifier(
        [LogisticRegression().fit(X, labels), RandomForestClassifier(5).fit(X, labels)],
        **FAST,
    ).fit(X, labels)
    assert set(clf.predict(X)) <= {"up", "down"}


def test_clone_keeps_fitted_members_and_fits_clones_of_unfitted():
    """Fitted members survive clone as themselves; unfitted ones are cloned, fitted."""
    X, y = XR, YR
    fitted = LinearRegression().fit(X, y)
    unfitted = HistGradientBoostingRegressor(max_iter=5)
    model = clone(DistilledRegressor([(fitted, 0.5), (unfitted, 0.5)], **FAST))
    assert model.teacher[0][0] is fitted
    assert model.teacher[1][0] is not unfitted
    model.fit(X, y)
    assert model.teacher_[0][0] is fitted
    assert model.teacher_[1][0].n_iter_ == 5
    assert not hasattr(unfitted, "n_iter_")


@pytest.mark.parametrize(
    "teacher, match",
    [
        ("empty", "empty"),
        ("mixed", "not a mix"),
        ("negative", "non-negative"),
        ("kinds", "cannot mix classifiers and regressors"),
    ],
)
def test_bad_ensembles_are_rejected(teacher, match):
    """Empty lists, half-weighted lists, negative weights, mixed tasks fail clearly."""
    X, y = XR, YR
    a = LinearRegression().fit(X, y)
    teacher = {
        "empty": [],
        "mixed": [(a, 1.0), a],
        "negative": [(a, 1.0), (a, -1.0)],
        "kinds": [a, LogisticRegression().fit(X, y > 0)],
    }[teacher]
    with pytest.raises(ValueError, match=match):
        DistilledRegressor(teacher, **FAST).fit(X, y)


def test_numpy_weights_are_accepted():
    """Weights may be numpy numbers, as they come out of array code."""
    X, y = XR, YR
    a = LinearRegression().fit(X, y)
    adapter = as_teacher([(a, np.float32(1.0)), (a, np.int64(3))])
    np.testing.assert_allclose(adapter.weights, [0.25, 0.75])
