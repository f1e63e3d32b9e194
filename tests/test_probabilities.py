"""predict_proba: rows of probabilities at T=1, columns in the order of
``classes_``; and MUNGE transfer rows from a table with a string column."""

import itertools

import numpy as np
import pandas as pd
import pytest
from _shared import fast
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import make_column_transformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.students import TensorDataset

# Longer and with a larger step than FAST: the students here must follow
# their teachers' probabilities.
FAST = fast(max_epochs=30, lr=3e-3)


def proba_distance(p, q):
    """Mean over rows of the L1 distance between two rows of probabilities."""
    return float(np.abs(p - q).sum(axis=1).mean())


# --------------------------------------------------------------------------
# Rows of probabilities, for each way of teaching
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def logistic(classification_split):
    X_train, _, y_train, _ = classification_split
    return LogisticRegression().fit(X_train, y_train)


@pytest.fixture(scope="module")
def students(classification_split, boosting, logistic):
    """Students of the boosted teacher: soft targets at T=4, logit matching,
    and soft targets (T=2) from the list [boosting, logistic]."""
    X_train, _, y_train, _ = classification_split
    made = {
        "soft_T4": DistilledClassifier(boosting, alpha=0.0, T=4.0, **FAST),
        "logits": DistilledClassifier(boosting, alpha=0.0, loss="logits", **FAST),
        "ensemble": DistilledClassifier([boosting, logistic], alpha=0.0, T=2.0, **FAST),
    }
    return {name: model.fit(X_train, y_train) for name, model in made.items()}


@pytest.mark.parametrize("name", ["soft_T4", "logits", "ensemble"])
def test_probabilities_are_rows_that_sum_to_one(students, classification_split, name):
    """predict_proba gives one probability per class in [0, 1], rows summing to
    one, and predict is the label of the largest, for every way of teaching."""
    _, X_test, _, _ = classification_split
    model = students[name]
    proba = model.predict_proba(X_test)
    assert proba.shape == (len(X_test), 3)
    assert np.isfinite(proba).all()
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(
        model.predict(X_test), model.classes_[np.argmax(proba, axis=1)]
    )
    # Not a constant: the rows differ, and every class is someone's argmax.
    assert set(np.argmax(proba, axis=1)) == {0, 1, 2}


def test_temperature_is_for_training_only(students, classification_split, boosting):
    """With T=4 the student learns the teacher's softened outputs, but its
    predict_proba is at T=1: close to the teacher's probabilities, far from
    the teacher's probabilities at T=4."""
    _, X_test, _, _ = classification_split
    proba = students["soft_T4"].predict_proba(X_test)
    teacher = boosting.predict_proba(X_test)
    softened = softmax(np.log(np.clip(teacher, 1e-6, 1.0)) / 4.0, axis=1)
    # Measured over random_state 0, 1, 2: 0.21-0.24 to the teacher at T=1,
    # 0.66-0.69 to the teacher at T=4.
    assert proba_distance(proba, teacher) < 0.5 * proba_distance(proba, softened)


def test_ensemble_student_follows_the_average_of_its_teachers(
    students, classification_split, boosting, logistic
):
    """A list of teachers teaches the average of their probabilities: the
    student is closer to that average than to either member."""
    _, X_test, _, _ = classification_split
    proba = students["ensemble"].predict_proba(X_test)
    members = [boosting.predict_proba(X_test), logistic.predict_proba(X_test)]
    average = proba_distance(proba, (members[0] + members[1]) / 2)
    # Measured over random_state 0, 1, 2: 0.16-0.18 to the average, 0.43-0.48
    # to the forest, 0.23-0.27 to the logistic regression.
    for member in members:
        assert average < proba_distance(proba, member) - 0.03


# --------------------------------------------------------------------------
# classes_ and the teacher's column order
# --------------------------------------------------------------------------
class FirstSeenOrderClassifier(ClassifierMixin, BaseEstimator):
    """A classifier that keeps its classes in the order they first appear in y
    (as some models outside scikit-learn do), its predict_proba columns too."""

    def fit(self, X, y):
        self.classes_ = pd.unique(np.asarray(y))
        self.model_ = LogisticRegression().fit(X, y)
        self.columns_ = [list(self.model_.classes_).index(c) for c in self.classes_]
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)[:, self.columns_]

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def test_string_labels_in_teacher_order_map_to_sorted_classes(classification_split):
    """A teacher whose classes_ are not sorted ("zeta", "alpha", "mid" as first
    seen): the student's classes_ are sorted as in scikit-learn, and column j
    of predict_proba is the probability of classes_[j], the teacher's column
    for that label."""
    X_train, X_test, y_train, _ = classification_split
    names = np.array(["zeta", "alpha", "mid"])
    labels = names[y_train]
    teacher = FirstSeenOrderClassifier().fit(X_train, labels)
    assert list(teacher.classes_) != sorted(teacher.classes_)  # the premise
    model = DistilledClassifier(teacher, alpha=0.0, T=2.0, **FAST).fit(X_train, labels)
    np.testing.assert_array_equal(model.classes_, ["alpha", "mid", "zeta"])
    np.testing.assert_array_equal(model.classes_, np.unique(labels))
    predicted = model.predict(X_test)
    assert set(predicted) <= set(names)
    # Measured over random_state 0, 1, 2: 0.95-0.97 of the test rows get the
    # teacher's label; 0.05-0.07 for the right column order, 0.60 for the next.
    assert np.mean(predicted == teacher.predict(X_test)) > 0.85
    # The teacher's columns put in the order of the student's classes_ are
    # the closest to the student's columns of all six orders.
    proba = model.predict_proba(X_test)
    raw = teacher.predict_proba(X_test)
    by_label = [list(teacher.classes_).index(c) for c in model.classes_]
    distances = {
        order: proba_distance(proba, raw[:, list(order)])
        for order in itertools.permutations(range(3))
    }
    best = min(distances, key=distances.get)
    assert best == tuple(by_label), distances
    second = sorted(distances.values())[1]
    assert distances[best] < second - 0.2, distances


# --------------------------------------------------------------------------
# MUNGE through fit: string column, Pipeline teacher
# --------------------------------------------------------------------------
CITIES = ["oslo", "lima", "pune"]


@pytest.fixture(scope="module")
def table():
    """Two numeric columns (one of integers) and a string column."""
    rng = np.random.default_rng(0)
    n = 200
    city = rng.choice(CITIES, size=n)
    size = rng.uniform(20, 120, size=n)
    age = rng.integers(0, 50, size=n)
    effect = pd.Series(city).map({"oslo": 3.0, "lima": 1.0, "pune": 0.0})
    y = size / 20 + effect.to_numpy() - 0.03 * age + rng.normal(0, 0.3, size=n)
    return pd.DataFrame({"city": city, "size": size, "age": age}), y


class RecordingPipeline(Pipeline):
    """A Pipeline that keeps a copy of each frame its predict methods get."""

    def _record(self, X):
        self.seen_frames.append(X.copy())

    def predict(self, X, **params):
        self._record(X)
        return super().predict(X, **params)

    def predict_proba(self, X, **params):
        self._record(X)
        return super().predict_proba(X, **params)


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_munge_transfer_rows_reach_a_pipeline_teacher(table, task, monkeypatch):
    """augment='munge' on a DataFrame with a string column, with a Pipeline
    teacher (OneHotEncoder then a forest): the teacher labels the training
    rows and augment_size x n MUNGE rows with valid categories, the student
    trains on all of them (and differs from the student without them) and
    predicts finite values."""
    X, y = table
    if task == "classification":
        y = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
        forest, distiller = RandomForestClassifier, DistilledClassifier
    else:
        forest, distiller = RandomForestRegressor, DistilledRegressor
    teacher = RecordingPipeline(
        [
            (
                "encode",
                make_column_transformer(
                    (OneHotEncoder(handle_unknown="ignore"), ["city"]),
                    remainder="passthrough",
                ),
            ),
            ("forest", forest(n_estimators=20, random_state=0)),
        ]
    ).fit(X, y)
    datasets = []
    original = TensorDataset.__init__

    def spy(self, tensors, target):
        original(self, tensors, target)
        datasets.append(self)

    monkeypatch.setattr(TensorDataset, "__init__", spy)
    settings = {**FAST, "max_epochs": 5}
    teacher.seen_frames = []
    model = distiller(teacher, augment="munge", augment_size=1.5, **settings)
    model.fit(X, y)
    seen = pd.concat(teacher.seen_frames, ignore_index=True)
    n, n_synthetic = len(X), round(1.5 * len(X))
    assert len(seen) == n + n_synthetic
    pd.testing.assert_frame_equal(seen.iloc[:n], X)
    synthetic = seen.iloc[n:]
    assert list(synthetic.columns) == list(X.columns)
    assert set(synthetic["city"]) <= set(CITIES)
    assert synthetic["age"].dtype == X["age"].dtype
    # MUNGE moved most rows: they are not copies of training rows.
    copies = synthetic.merge(X.drop_duplicates(), how="inner")
    assert len(copies) < 0.5 * n_synthetic
    # The student's training set holds all the rows, the task loss only X's.
    [dataset] = datasets
    assert len(dataset) == n + n_synthetic
    assert int(dataset.X["labeled"].sum()) == n

    pred = model.predict_proba(X) if task == "classification" else model.predict(X)
    assert np.isfinite(pred).all()
    plain = distiller(teacher, **settings).fit(X, y)
    plain_pred = (
        plain.predict_proba(X) if task == "classification" else plain.predict(X)
    )
    assert not np.allclose(pred, plain_pred)
