"""Transfer data: unlabeled rows and the teacher-output cache (memory)."""

import numpy as np
import pandas as pd
import pytest
import torch
from _shared import FAST
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.model_selection import GridSearchCV

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.losses import Objective
from sklearn_kd.students import TensorDataset


class QueryLoggingForest(RandomForestClassifier):
    """Appends a line to the file ``self.log`` per predict_proba call.

    A file named by an instance attribute, so that queries made in joblib
    worker processes (which get a pickled copy) are counted too.
    """

    def predict_proba(self, X):
        with open(self.log, "a") as log:
            log.write(f"{len(X)}\n")
        return super().predict_proba(X)


def logging_forest(log, X, y):
    forest = QueryLoggingForest(n_estimators=10, random_state=0)
    forest.log = str(log)
    return forest.fit(X, y)


@pytest.fixture
def query_log(tmp_path):
    path = tmp_path / "queries.log"
    path.touch()
    return path


# Not conftest's data: the tests count these 600 rows (200 labelled, 400 not)
# and name the 5 columns.
@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    return X, y


def test_grid_search_queries_teacher_once_per_fold_with_memory(
    data, query_log, tmp_path
):
    """3 alpha x 3 T x 3 folds: with memory, one query per fold plus the refit."""
    X, y = data
    teacher = logging_forest(query_log, X, y)
    grid = {"alpha": [0.0, 0.5, 0.9], "T": [1.0, 2.0, 4.0]}
    memory = str(tmp_path / "cache")
    GridSearchCV(DistilledClassifier(teacher, memory=memory, **FAST), grid, cv=3).fit(
        X, y
    )
    sizes = query_log.read_text().split()
    assert sizes == ["400", "400", "400", "600"]
    query_log.write_text("")
    GridSearchCV(DistilledClassifier(teacher, **FAST), grid, cv=3).fit(X, y)
    assert len(query_log.read_text().split()) == 28


def test_memory_with_parallel_search_matches_serial(data, query_log, tmp_path):
    """With n_jobs=2 the cache is shared on disk and results equal the serial run."""
    X, y = data
    teacher = logging_forest(query_log, X, y)
    grid = {"alpha": [0.0, 0.5], "T": [1.0, 4.0]}
    memory = str(tmp_path / "cache")
    serial = GridSearchCV(
        DistilledClassifier(teacher, memory=memory, **FAST),
        grid,
        cv=2,
        error_score="raise",
    ).fit(X, y)
    parallel = GridSearchCV(
        DistilledClassifier(teacher, memory=memory, **FAST),
        grid,
        cv=2,
        n_jobs=2,
        error_score="raise",
    ).fit(X, y)
    np.testing.assert_allclose(
        serial.cv_results_["mean_test_score"], parallel.cv_results_["mean_test_score"]
    )
    # The serial search queried once per fold and once to refit; the parallel
    # one reads the cache (two workers starting on a cold entry at the same
    # moment may both compute it, so allow one per fold, never one per
    # candidate: that would be 8 more).
    assert len(query_log.read_text().split()) <= 3 + 2


def test_memory_misses_on_refitted_teacher_or_new_rows(data, query_log, tmp_path):
    """A refitted teacher or other rows are never served stale outputs."""
    X, y = data
    memory = str(tmp_path / "cache")
    teacher = logging_forest(query_log, X, y)
    first = DistilledClassifier(teacher, memory=memory, alpha=0.0, **FAST).fit(X, y)
    DistilledClassifier(teacher, memory=memory, alpha=0.0, **FAST).fit(X, y)
    assert len(query_log.read_text().split()) == 1  # hit
    teacher.set_params(random_state=1).fit(X, y[::-1])  # same object, refitted
    again = DistilledClassifier(teacher, memory=memory, alpha=0.0, **FAST).fit(X, y)
    assert len(query_log.read_text().split()) == 2  # miss
    assert not np.allclose(first.predict_proba(X), again.predict_proba(X))
    DistilledClassifier(teacher, memory=memory, alpha=0.0, **FAST).fit(X[1:], y[1:])
    assert len(query_log.read_text().split()) == 3  # miss on new rows


def test_memory_warns_for_plain_callable(data, tmp_path):
    """A lambda cannot be fingerprinted: it is queried each time, with a warning."""
    X, y = data
    with pytest.warns(UserWarning, match="memory is ignored"):
        DistilledRegressor(lambda X: X[:, 0], memory=str(tmp_path / "c"), **FAST).fit(
            X, y.astype(float)
        )


def test_unlabeled_rows_reach_teacher_but_not_task_loss(data, monkeypatch):
    """X_unlabeled is labelled by the teacher; the task loss sees labeled rows only."""
    X, y = data
    seen = []
    task_rows = []
    original = Objective.forward

    def spy(self, y_pred, y_true, batch, student):
        if "labeled" in batch:
            task_rows.append(int(batch["labeled"].sum()))
        return original(self, y_pred, y_true, batch, student)

    monkeypatch.setattr(Objective, "forward", spy)

    def teacher(X):
        seen.append(len(X))
        return X[:, 0]

    model = DistilledRegressor(
        teacher, batch_size=1000, max_epochs=1, early_stopping=False, random_state=0
    )
    model.fit(X[:200], y[:200].astype(float), X_unlabeled=X[200:])
    assert seen == [600]
    assert task_rows == [200]


def test_unlabeled_rows_change_nothing_when_only_the_task_counts(data):
    """With alpha=1, beta=0 unlabeled rows have no effect at all (masked out)."""
    X, y = data
    y = y.astype(float)
    kwargs = {"alpha": 1.0, "beta": 0.0, "batch_size": 1000, "max_epochs": 5}
    forest = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)
    plain = DistilledRegressor(forest, **kwargs, random_state=0).fit(X[:200], y[:200])
    with_extra = DistilledRegressor(forest, **kwargs, random_state=0).fit(
        X[:200], y[:200], X_unlabeled=np.zeros((1, 5))
    )
    # One extra row changes the batch composition only through the mask: the
    # full-batch gradient of the task loss is the same.
    np.testing.assert_allclose(
        plain.predict(X[300:]), with_extra.predict(X[300:]), rtol=1e-4, atol=1e-5
    )


def test_unlabeled_dataframe_must_match_columns(data):
    """X_unlabeled comes in X's form: a DataFrame with the same columns."""
    X, y = data
    frame = pd.DataFrame(X, columns=list("abcde"))
    model = DistilledRegressor(lambda X: X["a"].to_numpy(), **FAST)
    with pytest.raises(ValueError, match="X_unlabeled must be a DataFrame"):
        model.fit(frame, y.astype(float), X_unlabeled=X)
    with pytest.raises(ValueError, match="feature names"):
        model.fit(frame, y.astype(float), X_unlabeled=frame.rename(columns={"a": "z"}))
    model.fit(frame.iloc[:300], y[:300].astype(float), X_unlabeled=frame.iloc[300:])
    assert torch.isfinite(torch.as_tensor(model.predict(frame))).all()


def test_unlabeled_rows_routed_through_a_pipeline(data):
    """With metadata routing, Pipeline.fit passes X_unlabeled to the distiller."""
    from sklearn import config_context
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = data
    seen = []

    def teacher(X):
        seen.append(len(X))
        return X[:, 0]

    with config_context(enable_metadata_routing=True):
        distiller = DistilledRegressor(teacher, **FAST).set_fit_request(
            X_unlabeled=True, sample_weight=False
        )
        # Routed metadata is passed as is: earlier steps do not transform it,
        # so X_unlabeled must already be in the form the distiller gets X.
        scaler = StandardScaler().fit(X[:200])
        pipe = make_pipeline(StandardScaler(), distiller)
        pipe.fit(X[:200], y[:200].astype(float), X_unlabeled=scaler.transform(X[200:]))
    assert seen == [600]


@pytest.mark.parametrize("augment", ["munge", "noise"])
def test_augmented_rows_are_labelled_by_teacher_only(data, augment, monkeypatch):
    """Synthetic rows reach the teacher (augment_size x n rows), not the task loss."""
    X, y = data
    seen, task_rows = [], []
    original = Objective.forward

    def spy(self, y_pred, y_true, batch, student):
        task_rows.append(int(batch["labeled"].sum()))
        return original(self, y_pred, y_true, batch, student)

    monkeypatch.setattr(Objective, "forward", spy)

    def teacher(X):
        seen.append(len(X))
        return X[:, 0]

    DistilledRegressor(
        teacher,
        augment=augment,
        augment_size=2.0,
        batch_size=2000,
        max_epochs=1,
        early_stopping=False,
    ).fit(X[:300], y[:300].astype(float))
    assert seen == [900]
    assert task_rows == [300]


def test_augmentation_is_reproducible(data):
    """The same random_state draws the same synthetic rows: identical students."""
    X, y = data
    forest = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)
    preds = [
        DistilledRegressor(forest, augment="munge", **FAST)
        .fit(X, y.astype(float))
        .predict(X)
        for _ in range(2)
    ]
    np.testing.assert_array_equal(*preds)


@pytest.fixture
def training_signals(monkeypatch):
    """The per-row tensors of each fit's training set, in row order (X's rows,
    then the transfer rows), captured where the distiller builds its dataset:
    before any shuffling, so row i is X's row i."""
    captured = []
    original = TensorDataset.__init__

    def spy(self, X, y):
        original(self, X, y)
        captured.append({k: v.detach().cpu().numpy() for k, v in self.X.items()})

    monkeypatch.setattr(TensorDataset, "__init__", spy)
    return captured


def test_out_of_fold_teacher_outputs(data, training_signals):
    """teacher_cv labels each training row with a clone that never saw it: row
    by row, the teacher targets the student trains on are cross_val_predict's
    with the same (shuffled) splitter; transfer rows get the teacher fitted on
    all rows."""
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import KFold, cross_val_predict

    X, y = data
    y = y.astype(float)
    X_labeled, y_labeled, X_unlabeled = X[:450], y[:450], X[450:]
    cv = KFold(3, shuffle=True, random_state=0)
    model = DistilledRegressor(
        LinearRegression(), teacher_cv=cv, max_epochs=1, early_stopping=False
    ).fit(X_labeled, y_labeled, X_unlabeled=X_unlabeled)
    [signals] = training_signals
    got = signals["prediction"][:, 0] * y_labeled.std() + y_labeled.mean()
    expected = cross_val_predict(LinearRegression(), X_labeled, y_labeled, cv=cv)
    np.testing.assert_allclose(got[:450], expected, rtol=1e-5, atol=1e-5)
    in_sample = LinearRegression().fit(X_labeled, y_labeled)
    np.testing.assert_allclose(
        got[450:], in_sample.predict(X_unlabeled), rtol=1e-5, atol=1e-5
    )
    # Out of fold is not in sample: the check above could not pass by chance.
    assert not np.allclose(got[:450], in_sample.predict(X_labeled), atol=1e-3)
    assert model.teacher_.coef_.shape == (5,)
    with pytest.raises(ValueError, match="teacher_cv needs an unfitted teacher"):
        DistilledRegressor(model.teacher_, teacher_cv=3, **FAST).fit(X, y)


def test_out_of_fold_classifier_logits(data, training_signals):
    """For a classifier, each training row's teacher logits are log(clip(p))
    of cross_val_predict(method='predict_proba') with the same splitter, row
    by row and class by class (string labels, sorted as classes_)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    X, y = data
    labels = np.array(["zeta", "alpha", "mid"])[y]
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    model = DistilledClassifier(
        LogisticRegression(), teacher_cv=cv, max_epochs=1, early_stopping=False
    ).fit(X, labels)
    assert list(model.classes_) == ["alpha", "mid", "zeta"]
    [signals] = training_signals
    proba = cross_val_predict(
        LogisticRegression(), X, labels, cv=cv, method="predict_proba"
    )
    expected = np.log(np.clip(proba, 1e-6, 1.0))
    np.testing.assert_allclose(signals["logits"], expected, rtol=1e-5, atol=1e-5)
    in_sample = LogisticRegression().fit(X, labels).predict_proba(X)
    assert not np.allclose(signals["logits"], np.log(in_sample), atol=1e-3)


def test_out_of_fold_with_pandas_and_a_shuffled_index(data, training_signals):
    """teacher_cv picks fold rows by position, also for a DataFrame and a Series
    y whose index labels are a permutation of 0..n-1 (label lookups would
    silently pick other rows)."""
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import KFold, cross_val_predict

    X, y = data
    y = y.astype(float) + X[:, 0]
    index = np.random.default_rng(0).permutation(len(X))
    frame = pd.DataFrame(X, columns=list("abcde"), index=index)
    target = pd.Series(y, index=index)
    model = DistilledRegressor(LinearRegression(), teacher_cv=3, **FAST)
    model.fit(frame, target)
    assert np.isfinite(model.predict(frame)).all()
    [signals] = training_signals
    got = signals["prediction"][:, 0] * y.std() + y.mean()
    expected = cross_val_predict(LinearRegression(), X, y, cv=KFold(3))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
