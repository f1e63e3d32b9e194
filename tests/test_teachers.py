"""Teacher adapters: which adapter a teacher gets and what it gives back."""

import numpy as np
import pandas as pd
import pytest
import torch
from _shared import XC, YC
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from skorch import NeuralNetClassifier, NeuralNetRegressor
from torch import nn

from sklearn_kd.teachers import (
    LOGITS,
    PREDICTION,
    CallableTeacher,
    SklearnTeacher,
    Teacher,
    TorchTeacher,
    as_teacher,
)

# 30 rows in 4 columns (as the torch teachers below take) for a regression and
# two classes; three classes are _shared's XC, YC.
RNG = np.random.RandomState(0)
X = RNG.normal(size=(30, 4))
Y_REG = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1
Y_BIN = (X[:, 0] + X[:, 1] > 0).astype(int)


@pytest.fixture(scope="module")
def forest_clf():
    return RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(
        XC, YC
    )


@pytest.fixture(scope="module")
def linear_reg():
    return LinearRegression().fit(X, Y_REG)


class _Logits(nn.Module):
    def __init__(self, n_out=2):
        super().__init__()
        self.linear = nn.Linear(4, n_out)

    def forward(self, X):
        return self.linear(X)


@pytest.fixture(scope="module")
def skorch_regressor():
    net = NeuralNetRegressor(
        nn.Linear,
        module__in_features=4,
        module__out_features=1,
        max_epochs=1,
        verbose=0,
    )
    return net.fit(X.astype(np.float32), Y_REG.reshape(-1, 1).astype(np.float32))


@pytest.fixture(scope="module")
def skorch_classifier():
    net = NeuralNetClassifier(
        _Logits, criterion=nn.CrossEntropyLoss, max_epochs=1, verbose=0
    )
    return net.fit(X.astype(np.float32), Y_BIN)


# ----------------------------------------------------------------------
# as_teacher
# ----------------------------------------------------------------------
def test_as_teacher_fitted_estimator(linear_reg, forest_clf):
    """A fitted scikit-learn estimator gets the SklearnTeacher adapter."""
    reg = as_teacher(linear_reg)
    assert isinstance(reg, SklearnTeacher)
    assert reg.estimator is linear_reg
    assert reg.is_classifier is False
    assert reg.signals == {PREDICTION}
    np.testing.assert_allclose(
        reg.query(X, [PREDICTION])[PREDICTION].ravel(), linear_reg.predict(X)
    )
    clf = as_teacher(forest_clf)
    assert isinstance(clf, SklearnTeacher)
    assert clf.is_classifier is True
    assert LOGITS in clf.signals
    np.testing.assert_array_equal(clf.classes, forest_clf.classes_)


def test_as_teacher_pipeline():
    """A fitted Pipeline is a scikit-learn teacher, classifier-ness included."""
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y_BIN)
    adapter = as_teacher(pipe)
    assert isinstance(adapter, SklearnTeacher)
    assert adapter.is_classifier is True
    np.testing.assert_array_equal(adapter.classes, [0, 1])
    logits = adapter.query(X, [LOGITS])[LOGITS]
    np.testing.assert_allclose(logits, np.log(pipe.predict_proba(X)))

    reg_pipe = make_pipeline(StandardScaler(), LinearRegression()).fit(X, Y_REG)
    reg = as_teacher(reg_pipe)
    assert reg.is_classifier is False
    assert reg.signals == {PREDICTION}


def test_as_teacher_frozen_estimator(forest_clf, linear_reg):
    """A FrozenEstimator is queried through the model it wraps."""
    frozen = as_teacher(FrozenEstimator(forest_clf))
    assert isinstance(frozen, SklearnTeacher)
    assert frozen.is_classifier is True
    np.testing.assert_array_equal(frozen.classes, forest_clf.classes_)
    np.testing.assert_allclose(
        frozen.query(XC, [LOGITS])[LOGITS],
        as_teacher(forest_clf).query(XC, [LOGITS])[LOGITS],
    )
    frozen_reg = as_teacher(FrozenEstimator(linear_reg))
    assert frozen_reg.is_classifier is False
    assert frozen_reg.signals == {PREDICTION}


def test_as_teacher_torch_module():
    """A torch nn.Module gets the TorchTeacher adapter."""
    module = _Logits(3)
    adapter = as_teacher(module)
    assert isinstance(adapter, TorchTeacher)
    assert adapter.module is module
    out = adapter.query(X, [LOGITS])[LOGITS]
    with torch.no_grad():
        expected = module(torch.as_tensor(X, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(out, expected)
    assert out.dtype == np.float64


def test_as_teacher_skorch_regressor(skorch_regressor):
    """A fitted skorch NeuralNetRegressor is a regression teacher fed float32."""
    adapter = as_teacher(skorch_regressor)
    assert isinstance(adapter, SklearnTeacher)
    assert adapter.is_classifier is False
    # float64 X works: the adapter casts it to the net's float32.
    pred = adapter.query(X, [PREDICTION])[PREDICTION]
    np.testing.assert_allclose(
        pred, skorch_regressor.predict(X.astype(np.float32)), rtol=1e-6
    )


def test_as_teacher_skorch_classifier(skorch_classifier):
    """A fitted skorch NeuralNetClassifier gives log-probability logits."""
    adapter = as_teacher(skorch_classifier)
    assert isinstance(adapter, SklearnTeacher)
    assert adapter.is_classifier is True
    np.testing.assert_array_equal(adapter.classes, [0, 1])
    logits = adapter.query(X, [LOGITS])[LOGITS]
    proba = skorch_classifier.predict_proba(X.astype(np.float32))
    np.testing.assert_allclose(logits, np.log(np.clip(proba, 1e-6, 1)), rtol=1e-6)


def test_as_teacher_function():
    """A plain function gets the CallableTeacher adapter."""

    def teacher(X):
        return X.sum(axis=1)

    adapter = as_teacher(teacher)
    assert isinstance(adapter, CallableTeacher)
    assert adapter.is_classifier is None
    assert adapter.name == "teacher"
    np.testing.assert_allclose(
        adapter.query(X, [PREDICTION])[PREDICTION], X.sum(axis=1, keepdims=True)
    )
    assert isinstance(as_teacher(lambda X: X[:, :1]), CallableTeacher)


def test_as_teacher_passes_adapters_through():
    """An adapter given as teacher is used as it is."""
    adapter = CallableTeacher(np.sin)
    assert as_teacher(adapter) is adapter


@pytest.mark.parametrize("bad", [3, "forest", None, object()])
def test_as_teacher_rejects_non_teachers(bad):
    """Something that cannot predict raises a TypeError naming its type."""
    with pytest.raises(TypeError, match=rf"'teacher'.*got {type(bad).__name__}"):
        as_teacher(bad)


# ----------------------------------------------------------------------
# Logits from scikit-learn classifiers
# ----------------------------------------------------------------------
def test_logits_are_log_of_clipped_proba(forest_clf):
    """A forest's exact-zero probabilities become finite logits log(1e-6)."""
    proba = forest_clf.predict_proba(XC)
    assert (proba == 0).any(), "test needs a forest with zero probabilities"
    logits = as_teacher(forest_clf).query(XC, [LOGITS])[LOGITS]
    assert np.isfinite(logits).all()
    np.testing.assert_allclose(logits, np.log(np.clip(proba, 1e-6, None)))
    assert logits.min() == pytest.approx(np.log(1e-6))


def test_decision_function_teacher_binary():
    """A binary LinearSVC's margins m become the logits [-m/2, m/2]."""
    svc = LinearSVC(random_state=0).fit(X, Y_BIN)
    adapter = as_teacher(svc)
    assert adapter.is_classifier is True
    assert LOGITS in adapter.signals
    logits = adapter.query(X, [LOGITS])[LOGITS]
    margins = svc.decision_function(X)
    assert logits.shape == (len(X), 2)
    np.testing.assert_allclose(logits[:, 0], -margins / 2)
    np.testing.assert_allclose(logits[:, 1], margins / 2)
    # softmax of these logits is sigmoid(m) for the positive class
    p1 = np.exp(logits[:, 1]) / np.exp(logits).sum(axis=1)
    np.testing.assert_allclose(p1, 1 / (1 + np.exp(-margins)))


def test_decision_function_teacher_multiclass():
    """A multiclass LinearSVC's scores are used as logits as they are."""
    svc = LinearSVC(random_state=0).fit(XC, YC)
    logits = as_teacher(svc).query(XC, [LOGITS])[LOGITS]
    np.testing.assert_allclose(logits, svc.decision_function(XC))


# ----------------------------------------------------------------------
# class_columns
# ----------------------------------------------------------------------
def test_class_columns_string_labels():
    """A teacher trained on string labels is aligned to y's labels by name."""
    labels = np.array(["cat", "dog", "emu"])[YC]
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(XC, labels)
    adapter = as_teacher(forest)
    np.testing.assert_array_equal(
        adapter.class_columns(np.array(["cat", "dog", "emu"]), 3), [0, 1, 2]
    )
    # y may hold a subset of the teacher's classes.
    np.testing.assert_array_equal(
        adapter.class_columns(np.array(["dog", "emu"]), 3), [1, 2]
    )


class _ShuffledClassesModel(ClassifierMixin, BaseEstimator):
    """A fitted classifier whose classes_ are not in sorted order."""

    def fit(self, X, y):
        self.classes_ = np.array(["b", "c", "a"])
        return self

    def predict_proba(self, X):
        # Column j is the probability of classes_[j].
        return np.tile([0.2, 0.7, 0.1], (len(X), 1))


class _DuckClassifier:
    """Not a scikit-learn estimator, but with the fitted-classifier API."""

    classes_ = np.array([0, 1])

    def predict(self, X):
        return (np.asarray(X)[:, 0] > 0).astype(int)

    def predict_proba(self, X):
        p = 1 / (1 + np.exp(-np.asarray(X)[:, 0]))
        return np.column_stack([1 - p, p])


def test_class_columns_follow_teacher_class_order():
    """Columns are matched by label when the teacher's classes_ are unsorted."""
    adapter = as_teacher(_ShuffledClassesModel().fit(X, None))
    columns = adapter.class_columns(np.array(["a", "b", "c"]), 3)
    np.testing.assert_array_equal(columns, [2, 0, 1])
    logits = adapter.query(X[:2], [LOGITS])[LOGITS][:, columns]
    np.testing.assert_allclose(np.exp(logits[0]), [0.1, 0.2, 0.7])

    callable_adapter = CallableTeacher(
        lambda X: np.tile([0.2, 0.7, 0.1], (len(X), 1)), classes=["b", "c", "a"]
    )
    np.testing.assert_array_equal(
        callable_adapter.class_columns(["a", "b", "c"], 3), [2, 0, 1]
    )


def test_class_columns_missing_classes_raise(forest_clf):
    """Classes of y the teacher never saw raise a ValueError naming them."""
    adapter = as_teacher(forest_clf)
    with pytest.raises(ValueError, match=r"\[3, 7\] missing"):
        adapter.class_columns(np.array([0, 1, 2, 3, 7]), 3)
    strings = CallableTeacher(np.exp, classes=["a", "b"])
    with pytest.raises(ValueError, match=r"\['z'\] missing"):
        strings.class_columns(np.array(["a", "z"]), 2)


def test_class_columns_without_classes_counts_columns():
    """A teacher without classes_ must give one column per class of y."""
    adapter = as_teacher(_Logits(3))
    assert adapter.classes is None
    np.testing.assert_array_equal(adapter.class_columns([0, 1, 2], 3), [0, 1, 2])
    with pytest.raises(ValueError, match=r"gives 2 class score.*y has 3 classes"):
        adapter.class_columns([0, 1, 2], 2)
    with pytest.raises(ValueError, match=r"gives 4 class score.*y has 3 classes"):
        CallableTeacher(np.exp).class_columns(np.array([0, 1, 2]), 4)


def test_duck_typed_model_is_a_teacher():
    """An object with predict_proba and classes_ but no sklearn base is a teacher."""
    duck = _DuckClassifier()
    adapter = as_teacher(duck)
    assert isinstance(adapter, SklearnTeacher)
    assert adapter.is_classifier is True
    logits = adapter.query(X, [LOGITS])[LOGITS]
    np.testing.assert_allclose(logits, np.log(np.clip(duck.predict_proba(X), 1e-6, 1)))


# ----------------------------------------------------------------------
# TorchTeacher
# ----------------------------------------------------------------------
class _RecordingNet(nn.Module):
    """BatchNorm + Dropout: outputs and buffers change in training mode."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 2)
        )
        self.modes = []

    def forward(self, X):
        self.modes.append(self.training)
        return self.net(X)


@pytest.mark.parametrize("training", [True, False])
def test_torch_teacher_restores_mode_and_keeps_parameters(training):
    """Querying runs the module in eval mode and leaves it exactly as it was."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        module = _RecordingNet()
    module.train(training)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    adapter = TorchTeacher(module)
    first = adapter.query(X, [LOGITS], chunk_size=7)[LOGITS]
    second = adapter.query(X, [LOGITS])[LOGITS]
    assert module.modes and not any(module.modes), "module ran in training mode"
    assert module.training is training
    assert all(m.training is training for m in module.modules())
    after = module.state_dict()
    for key, value in before.items():
        torch.testing.assert_close(after[key], value, rtol=0, atol=0)
    # Eval mode: no dropout, BatchNorm on running stats, so rows are independent.
    np.testing.assert_allclose(first, second, rtol=1e-6)


def test_torch_teacher_restores_mode_on_error():
    """A module that fails is still put back in its training mode."""

    class Broken(nn.Module):
        def forward(self, X):
            raise RuntimeError("boom")

    module = Broken().train()
    with pytest.raises(RuntimeError, match="boom"):
        TorchTeacher(module).query(X, [PREDICTION])
    assert module.training is True


def test_torch_teacher_accepts_numeric_dataframe():
    """A numeric DataFrame is fed to a torch teacher as float32."""
    module = _Logits(2)
    frame = pd.DataFrame(X, columns=list("abcd"))
    adapter = TorchTeacher(module)
    np.testing.assert_allclose(
        adapter.query(frame, [LOGITS])[LOGITS], adapter.query(X, [LOGITS])[LOGITS]
    )


# ----------------------------------------------------------------------
# Chunked queries
# ----------------------------------------------------------------------
def test_queries_are_chunked_and_match_one_call():
    """Teachers are asked chunk by chunk; the result equals one big call."""
    sizes = []

    def teacher(X):
        sizes.append(len(X))
        return np.column_stack([X.sum(axis=1), X[:, 0] * 2])

    adapter = CallableTeacher(teacher)
    chunked = adapter.query(X, [PREDICTION], chunk_size=8)[PREDICTION]
    assert sizes == [8, 8, 8, 6]
    sizes.clear()
    whole = adapter.query(X, [PREDICTION], chunk_size=1000)[PREDICTION]
    assert sizes == [30]
    np.testing.assert_array_equal(chunked, whole)
    np.testing.assert_array_equal(whole, teacher(X))


def test_dataframe_queries_are_chunked_by_rows():
    """A DataFrame reaches the teacher as DataFrame chunks of consecutive rows."""
    frame = pd.DataFrame(X, columns=list("abcd"), index=np.arange(30) * 10)
    seen = []

    def teacher(df):
        assert isinstance(df, pd.DataFrame)
        seen.append(list(df.index))
        return df["a"].to_numpy()

    out = CallableTeacher(teacher).query(frame, [PREDICTION], chunk_size=12)
    assert [len(s) for s in seen] == [12, 12, 6]
    assert [i for chunk in seen for i in chunk] == list(frame.index)
    np.testing.assert_array_equal(out[PREDICTION].ravel(), X[:, 0])


def test_sklearn_query_chunked_matches_one_call(forest_clf):
    """A scikit-learn teacher gives the same logits in small and large chunks."""
    adapter = as_teacher(forest_clf)
    small = adapter.query(XC, [LOGITS, PREDICTION], chunk_size=7)
    large = adapter.query(XC, [LOGITS, PREDICTION])
    for key in (LOGITS, PREDICTION):
        np.testing.assert_array_equal(small[key], large[key])


def test_query_rejects_bad_outputs():
    """Unknown signals, wrong row counts and NaN outputs raise ValueError."""
    with pytest.raises(ValueError, match="cannot give the signal"):
        as_teacher(LinearRegression().fit(X, Y_REG)).query(X, [LOGITS])
    with pytest.raises(ValueError, match="shape"):
        CallableTeacher(lambda X: np.zeros(3)).query(X, [PREDICTION])
    with pytest.raises(ValueError, match="NaN or infinite"):
        CallableTeacher(lambda X: np.full(len(X), np.nan)).query(X, [PREDICTION])


# ----------------------------------------------------------------------
# CallableTeacher responses
# ----------------------------------------------------------------------
PROBA = np.array([[0.2, 0.8], [1.0, 0.0], [0.5, 0.5]])
SCORES = np.array([[2.0, -1.0], [0.3, 0.1], [-4.0, 4.0]])


def _const(values):
    return lambda X: values[: len(X)]


def test_callable_auto_takes_rows_summing_to_one_as_proba():
    """response='auto' turns probability rows into log(clip(p)) logits."""
    out = CallableTeacher(_const(PROBA)).query(X[:3], [LOGITS])[LOGITS]
    np.testing.assert_allclose(out, np.log(np.clip(PROBA, 1e-6, 1)))
    assert np.isfinite(out).all()


def test_callable_auto_keeps_other_outputs_as_logits():
    """response='auto' keeps scores that are not probabilities as logits."""
    out = CallableTeacher(_const(SCORES)).query(X[:3], [LOGITS])[LOGITS]
    np.testing.assert_array_equal(out, SCORES)
    # Non-negative rows that do not sum to one are scores too.
    counts = np.array([[1.0, 3.0], [2.0, 2.0], [0.0, 5.0]])
    out = CallableTeacher(_const(counts)).query(X[:3], [LOGITS])[LOGITS]
    np.testing.assert_array_equal(out, counts)


def test_callable_explicit_response():
    """response='logits' and 'proba' override the automatic guess."""
    raw = CallableTeacher(_const(PROBA), response="logits")
    np.testing.assert_array_equal(raw.query(X[:3], [LOGITS])[LOGITS], PROBA)
    forced = CallableTeacher(_const(np.array([[0.5, 0.1]] * 3)), response="proba")
    np.testing.assert_allclose(
        forced.query(X[:3], [LOGITS])[LOGITS], np.log([[0.5, 0.1]] * 3)
    )


def test_callable_prediction_ignores_response():
    """As a regression teacher, a callable's outputs are used unchanged."""
    adapter = CallableTeacher(_const(PROBA), response="proba")
    np.testing.assert_array_equal(adapter.query(X[:3], [PREDICTION])[PREDICTION], PROBA)


def test_callable_rejects_bad_response():
    """An unknown response raises a parameter error naming it."""
    with pytest.raises(ValueError, match="response"):
        CallableTeacher(np.exp, response="probability")


# ----------------------------------------------------------------------
# clone
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        lambda: as_teacher(LinearRegression().fit(X, Y_REG)),
        lambda: TorchTeacher(_Logits(2)),
        lambda: CallableTeacher(np.exp),
    ],
    ids=["sklearn", "torch", "callable"],
)
def test_adapter_clone_returns_itself(make):
    """clone keeps an adapter as the same object: a teacher is never copied."""
    adapter = make()
    assert isinstance(adapter, Teacher)
    assert adapter.__sklearn_clone__() is adapter
    assert clone(adapter) is adapter
