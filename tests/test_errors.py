"""Bad input fails fast: a scikit-learn style error naming the problem, raised
before the student starts training."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from _shared import TINY
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from torch import nn

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.losses import HPLoss, LogitMatching, OutputMatching, SoftTargets
from sklearn_kd.students import DistillationNet

# Not conftest's data: tiny, and three columns, as COLUMNS names them.
RNG = np.random.RandomState(0)
X = RNG.normal(size=(40, 3))
Y = X @ np.array([1.0, -1.0, 0.5])
XC, YC = make_classification(
    n_samples=45,
    n_features=3,
    n_informative=3,
    n_redundant=0,
    n_classes=3,
    n_clusters_per_class=1,
    random_state=0,
)
COLUMNS = ["age", "height", "weight"]


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    """Fail the test if a student starts training (fits here must error first).

    Module-scoped fixtures are set up before this one, so the fitted distillers
    they build are trained normally.
    """

    def fail(self, *args, **kwargs):
        pytest.fail("the student started training before the error was raised")

    monkeypatch.setattr(DistillationNet, "fit", fail)


@pytest.fixture(scope="module")
def linear():
    return LinearRegression().fit(X, Y)


@pytest.fixture(scope="module")
def forest_clf():
    return RandomForestClassifier(n_estimators=5, random_state=0).fit(XC, YC)


@pytest.fixture(scope="module")
def fitted_reg(linear):
    return DistilledRegressor(linear, **TINY).fit(X, Y)


@pytest.fixture(scope="module", params=["auto", None, StandardScaler()])
def fitted_reg_frame(request):
    """Fitted on a DataFrame, with each kind of preprocessor (own checks or not)."""
    frame = pd.DataFrame(X, columns=COLUMNS)
    teacher = LinearRegression().fit(frame, Y)
    est = DistilledRegressor(teacher, preprocessor=request.param, **TINY)
    return est.fit(frame, Y)


@pytest.fixture(scope="module")
def fitted_clf_mixed(forest_clf):
    """Fitted on a DataFrame with a string column."""
    frame = pd.DataFrame(XC, columns=COLUMNS)
    frame["colour"] = np.where(YC == 0, "red", "blue")

    def teacher(df):
        return forest_clf.predict_proba(df[COLUMNS].to_numpy())

    return DistilledClassifier(teacher, **TINY).fit(frame, YC)


def _fails_before_training(est, X, y, exc, match):
    """``est.fit(X, y)`` raises ``exc`` matching ``match`` and trains nothing."""
    with pytest.raises(exc, match=match) as info:
        est.fit(X, y)
    assert not hasattr(est, "student_")
    assert not hasattr(est, "history_")
    return info


# ----------------------------------------------------------------------
# Unfitted use
# ----------------------------------------------------------------------
@pytest.mark.parametrize("method", ["predict", "score"])
def test_unfitted_regressor_raises_not_fitted(method, linear):
    """predict and score before fit raise NotFittedError."""
    est = DistilledRegressor(linear)
    args = (X,) if method == "predict" else (X, Y)
    with pytest.raises(NotFittedError, match=r"DistilledRegressor.*not fitted"):
        getattr(est, method)(*args)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
def test_unfitted_classifier_raises_not_fitted(method, forest_clf):
    """predict, predict_proba and score before fit raise NotFittedError."""
    est = DistilledClassifier(forest_clf)
    args = (XC,) if method != "score" else (XC, YC)
    with pytest.raises(NotFittedError, match=r"DistilledClassifier.*not fitted"):
        getattr(est, method)(*args)


# ----------------------------------------------------------------------
# Non-finite and mis-shaped X
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, match", [(np.nan, "Input X contains NaN"), (np.inf, "infinity")]
)
def test_non_finite_array_at_fit(value, match, linear):
    """NaN or inf in an array X fails at fit."""
    Xbad = X.copy()
    Xbad[5, 1] = value
    _fails_before_training(
        DistilledRegressor(linear, **TINY), Xbad, Y, ValueError, match
    )


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_dataframe_at_fit_names_column(value):
    """Infinity in a DataFrame X fails at fit, naming the column."""
    frame = pd.DataFrame(X, columns=COLUMNS)
    teacher = LinearRegression().fit(frame, Y)
    frame.loc[7, "height"] = value
    _fails_before_training(
        DistilledRegressor(teacher, **TINY),
        frame,
        Y,
        ValueError,
        r"infinity in column 'height' \(1 row",
    )


def test_nan_for_a_teacher_that_refuses_it_names_teacher_and_column():
    """NaN reaches the teacher; one that cannot take it fails, named, with the
    columns that hold NaN, before any training."""
    frame = pd.DataFrame(X, columns=COLUMNS)
    teacher = LinearRegression().fit(frame, Y)
    frame.loc[7, "height"] = np.nan
    _fails_before_training(
        DistilledRegressor(teacher, **TINY),
        frame,
        Y,
        ValueError,
        r"The teacher LinearRegression failed on X, which has missing values in "
        r"column\(s\) \['height'\]",
    )


def test_missing_category_in_dataframe_at_fit_names_column(forest_clf):
    """A missing value in a string column fails at fit, naming the column."""
    frame = pd.DataFrame(XC, columns=COLUMNS)
    frame["colour"] = np.where(YC == 0, "red", "blue").astype(object)
    frame.loc[3, "colour"] = None

    def teacher(df):
        return forest_clf.predict_proba(df[COLUMNS].to_numpy())

    _fails_before_training(
        DistilledClassifier(teacher, **TINY), frame, YC, ValueError, "'colour'"
    )


@pytest.mark.parametrize(
    "value, match", [(np.nan, "Input X contains NaN"), (np.inf, "infinity")]
)
def test_non_finite_array_at_predict(value, match, fitted_reg):
    """NaN or inf in an array X fails at predict."""
    Xbad = X[:4].copy()
    Xbad[2, 0] = value
    with pytest.raises(ValueError, match=match):
        fitted_reg.predict(Xbad)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_dataframe_at_predict_names_column(value, fitted_reg_frame):
    """NaN or inf in a DataFrame X fails at predict, naming the column."""
    frame = pd.DataFrame(X[:5], columns=COLUMNS)
    frame.loc[1, "weight"] = value
    frame.loc[3, "weight"] = value
    with pytest.raises(ValueError, match=r"column 'weight' \(2 row"):
        fitted_reg_frame.predict(frame)


@pytest.mark.parametrize("value", [None, np.nan])
def test_missing_category_at_predict_names_column(value, fitted_clf_mixed):
    """A missing value in a string column fails at predict, naming the column."""
    frame = pd.DataFrame(XC[:4], columns=COLUMNS)
    frame["colour"] = pd.Series(["red", "blue", "red", "blue"], dtype=object)
    frame.loc[2, "colour"] = value
    with pytest.raises(ValueError, match=r"NaN.*column 'colour' \(1 row"):
        fitted_clf_mixed.predict(frame)
    with pytest.raises(ValueError, match=r"column 'colour'"):
        fitted_clf_mixed.predict_proba(frame)


def test_wrong_feature_count_at_predict(fitted_reg):
    """Predicting on X with another number of features raises ValueError."""
    with pytest.raises(ValueError, match=r"X has 2 features.*expecting 3"):
        fitted_reg.predict(X[:, :2])
    with pytest.raises(ValueError, match=r"X has 4 features.*expecting 3"):
        fitted_reg.predict(np.hstack([X, X[:, :1]]))


def test_wrong_columns_at_predict(fitted_reg_frame):
    """A DataFrame missing a fit-time column at predict raises, naming it."""
    frame = pd.DataFrame(X[:3], columns=COLUMNS).drop(columns="height")
    with pytest.raises(ValueError, match="height"):
        fitted_reg_frame.predict(frame)


# ----------------------------------------------------------------------
# Teachers that cannot teach this task
# ----------------------------------------------------------------------
def test_classifier_teacher_for_regressor(forest_clf):
    """A fitted multiclass classifier cannot teach a DistilledRegressor."""
    y = XC[:, 0]
    _fails_before_training(
        DistilledRegressor(forest_clf, **TINY),
        XC,
        y,
        ValueError,
        r"needs a regression teacher.*RandomForestClassifier is a classifier",
    )


def test_regressor_teacher_for_classifier():
    """A fitted regressor cannot teach a DistilledClassifier."""
    forest = RandomForestRegressor(n_estimators=3, random_state=0).fit(XC, YC)
    _fails_before_training(
        DistilledClassifier(forest, **TINY),
        XC,
        YC,
        ValueError,
        r"needs a classification teacher.*RandomForestRegressor is a regressor",
    )


def _three_probabilities(X):
    logits = np.asarray(X)[:, :3]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_probability_callable_for_single_target_regressor():
    """A callable returning 3 probability columns cannot teach 1 target."""
    _fails_before_training(
        DistilledRegressor(_three_probabilities, **TINY),
        X,
        Y,
        ValueError,
        r"gives 3 output\(s\) per row but y has 1",
    )


def test_probability_torch_module_for_single_target_regressor():
    """A torch module returning 3 softmax columns cannot teach 1 target."""
    module = nn.Sequential(nn.Linear(3, 3), nn.Softmax(dim=1))
    _fails_before_training(
        DistilledRegressor(module, **TINY),
        X,
        Y,
        ValueError,
        r"Sequential gives 3 output\(s\) per row but y has 1",
    )


def test_teacher_classes_do_not_cover_y(forest_clf):
    """A teacher that never saw some of y's classes raises, naming them."""
    y = np.where(YC == 2, 9, YC)
    y[:3] = 4
    _fails_before_training(
        DistilledClassifier(forest_clf, **TINY),
        XC,
        y,
        ValueError,
        r"do not cover the classes in y: \[4, 9\] missing",
    )


def test_teacher_string_classes_do_not_cover_y():
    """Missing string labels are named in the error."""
    labels = np.array(["ant", "bee", "cat"])
    teacher = RandomForestClassifier(n_estimators=3, random_state=0)
    teacher.fit(XC, labels[YC])
    y = labels[YC].astype(object)
    y[YC == 2] = "dog"
    _fails_before_training(
        DistilledClassifier(teacher, **TINY), XC, y, ValueError, r"\['dog'\] missing"
    )


def test_teacher_without_classes_wrong_column_count():
    """A callable classifier teacher must give one score per class of y."""

    def two_scores(X):
        return np.asarray(X)[:, :2]

    _fails_before_training(
        DistilledClassifier(two_scores, **TINY),
        XC,
        YC,
        ValueError,
        r"gives 2 class score\(s\) per row but y has 3 classes",
    )


class _NoMethods:
    """An object that can do nothing."""


@pytest.mark.parametrize(
    "make_teacher",
    [
        lambda: StandardScaler().fit(X),
        lambda: _NoMethods(),
        lambda: StandardScaler(),
    ],
    ids=["fitted-scaler", "plain-object", "unfitted-scaler"],
)
@pytest.mark.parametrize("Distiller", [DistilledRegressor, DistilledClassifier])
def test_teacher_without_prediction_method(make_teacher, Distiller):
    """A teacher with no predict/predict_proba/decision_function is rejected."""
    teacher = make_teacher()
    y = Y if Distiller is DistilledRegressor else (Y > 0).astype(int)
    info = _fails_before_training(
        Distiller(teacher, **TINY), X, y, TypeError, "predict"
    )
    assert type(teacher).__name__ in str(info.value)


def test_missing_teacher():
    """teacher=None raises, saying a teacher is required."""
    _fails_before_training(
        DistilledRegressor(None, **TINY), X, Y, TypeError, r"'teacher'.*required"
    )


# ----------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [1.5, -0.1])
@pytest.mark.parametrize("Distiller", [DistilledRegressor, DistilledClassifier])
def test_alpha_outside_unit_interval(alpha, Distiller, linear):
    """alpha outside [0, 1] raises an InvalidParameterError naming alpha."""
    y = Y if Distiller is DistilledRegressor else (Y > 0).astype(int)
    _fails_before_training(
        Distiller(linear, alpha=alpha, **TINY),
        X,
        y,
        InvalidParameterError,
        rf"'alpha' parameter.*\[0.0, 1.0\]. Got {alpha}",
    )


def test_negative_beta(linear):
    """A negative beta raises an InvalidParameterError naming beta."""
    _fails_before_training(
        DistilledRegressor(linear, beta=-1.0, **TINY),
        X,
        Y,
        InvalidParameterError,
        "'beta' parameter",
    )


@pytest.mark.parametrize("T", [0, 0.0, -1.0])
def test_non_positive_temperature(T, forest_clf):
    """T <= 0 raises an InvalidParameterError naming T."""
    _fails_before_training(
        DistilledClassifier(forest_clf, T=T, **TINY),
        XC,
        YC,
        InvalidParameterError,
        r"'T' parameter.*\(0.0, inf\)",
    )


@pytest.mark.parametrize(
    "Distiller, known",
    [
        (DistilledRegressor, ["hp", "outputs"]),
        (DistilledClassifier, ["soft", "logits"]),
    ],
)
def test_unknown_loss_lists_known_ones(Distiller, known, linear):
    """An unknown loss name raises, listing the known loss names."""
    y = Y if Distiller is DistilledRegressor else (Y > 0).astype(int)
    info = _fails_before_training(
        Distiller(linear, loss="kl_div", **TINY),
        X,
        y,
        InvalidParameterError,
        r"'loss' parameter.*Got 'kl_div'",
    )
    for name in known:
        assert repr(name) in str(info.value)


def test_unknown_device(linear):
    """A device name torch does not know raises ValueError naming it."""
    _fails_before_training(
        DistilledRegressor(linear, device="foo", **TINY),
        X,
        Y,
        ValueError,
        r"'device' parameter.*got 'foo'",
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda")])
def test_cuda_device_without_cuda(device, linear):
    """Asking for CUDA on a machine without it raises ValueError saying so."""
    _fails_before_training(
        DistilledRegressor(linear, device=device, **TINY),
        X,
        Y,
        ValueError,
        "CUDA is not available",
    )


@pytest.mark.parametrize(
    "terms, exc, match",
    [
        ([HPLoss()], TypeError, r"\(name, DistillationTerm\) pairs.*HPLoss"),
        ([("extra", "hp")], TypeError, r"\(name, DistillationTerm\) pairs"),
        ([("extra", HPLoss)], TypeError, r"\(name, DistillationTerm\) pairs"),
        ([(1, HPLoss())], TypeError, r"\(name, DistillationTerm\) pairs"),
        ([("a", "b", HPLoss())], TypeError, r"\(name, DistillationTerm\) pairs"),
        ((("extra", HPLoss()),), InvalidParameterError, "'terms' parameter"),
        ("hp", InvalidParameterError, "'terms' parameter"),
    ],
    ids=["bare-term", "string", "class", "int-name", "triple", "tuple", "str"],
)
def test_terms_not_name_term_pairs(terms, exc, match, linear):
    """terms must be a list of (name, DistillationTerm) pairs."""
    _fails_before_training(
        DistilledRegressor(linear, terms=terms, **TINY), X, Y, exc, match
    )


@pytest.mark.parametrize(
    "Distiller, term, task",
    [
        (DistilledRegressor, SoftTargets(), "regression"),
        (DistilledRegressor, LogitMatching(), "regression"),
        (DistilledClassifier, HPLoss(), "classification"),
        (DistilledClassifier, OutputMatching(), "classification"),
    ],
)
def test_term_for_wrong_task(Distiller, term, task, linear, forest_clf):
    """A term that does not apply to the distiller's task is rejected."""
    if Distiller is DistilledRegressor:
        est, Xt, yt = Distiller(linear, terms=[("extra", term)], **TINY), X, Y
    else:
        est, Xt, yt = Distiller(forest_clf, terms=[("extra", term)], **TINY), XC, YC
    _fails_before_training(
        est,
        Xt,
        yt,
        ValueError,
        rf"term 'extra' \({type(term).__name__}\) applies to .*not to {task}",
    )


def test_duplicate_term_names(linear):
    """Two terms with the same name, or named like the main term, are rejected."""
    for terms in (
        [("extra", OutputMatching()), ("extra", OutputMatching())],
        [("hp", OutputMatching())],
        [("task", OutputMatching())],
    ):
        _fails_before_training(
            DistilledRegressor(linear, terms=terms, **TINY),
            X,
            Y,
            ValueError,
            "Term names must be unique",
        )


def test_negative_term_weight(linear):
    """A term with a negative weight raises an error naming the weight."""
    _fails_before_training(
        DistilledRegressor(linear, terms=[("out", OutputMatching(-1.0))], **TINY),
        X,
        Y,
        InvalidParameterError,
        "'weight' parameter of OutputMatching",
    )


def test_set_params_on_fitted_teacher_is_refused():
    """Setting teacher__* on a fitted teacher raises and leaves it untouched."""
    teacher = RandomForestRegressor(n_estimators=3, random_state=0).fit(X, Y)
    est = DistilledRegressor(teacher)
    with pytest.raises(ValueError, match=r"teacher__n_estimators.*teacher is fitted"):
        est.set_params(teacher__n_estimators=5)
    assert teacher.n_estimators == 3
    assert est.teacher is teacher


def test_set_params_on_unfitted_teacher_is_allowed():
    """An unfitted teacher's parameters can be set (and searched) as usual."""
    teacher = RandomForestRegressor(n_estimators=3)
    est = DistilledRegressor(teacher).set_params(teacher__n_estimators=5)
    assert est.teacher.n_estimators == 5
    assert est.get_params()["teacher__n_estimators"] == 5


# ----------------------------------------------------------------------
# Found while writing these tests, fixed since
# ----------------------------------------------------------------------
@pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is available here")
def test_mps_device_without_mps(linear):
    """Asking for MPS on a machine without it raises ValueError saying so."""
    _fails_before_training(
        DistilledRegressor(linear, device="mps", **TINY),
        X,
        Y,
        ValueError,
        r"device='mps'.*not available",
    )


@pytest.mark.parametrize("Distiller", [DistilledRegressor, DistilledClassifier])
def test_nothing_to_learn(Distiller, linear, forest_clf):
    """alpha=0, beta=0 and no terms is rejected: the student has no loss."""
    if Distiller is DistilledRegressor:
        est, Xt, yt = Distiller(linear, alpha=0.0, beta=0.0, **TINY), X, Y
    else:
        est, Xt, yt = Distiller(forest_clf, alpha=0.0, beta=0.0, **TINY), XC, YC
    _fails_before_training(est, Xt, yt, ValueError, "alpha.*beta")


@pytest.mark.parametrize("Distiller", [DistilledRegressor, DistilledClassifier])
def test_student_with_wrong_output_width(Distiller, linear, forest_clf):
    """A student module with the wrong number of outputs is rejected."""
    if Distiller is DistilledRegressor:
        est, Xt, yt = Distiller(linear, nn.Linear(3, 4), **TINY), X, Y
    else:
        est, Xt, yt = Distiller(forest_clf, nn.Linear(3, 5), **TINY), XC, YC
    _fails_before_training(est, Xt, yt, ValueError, "output")


def test_student_with_wrong_input_width(linear):
    """A student module expecting another input width is rejected."""
    _fails_before_training(
        DistilledRegressor(linear, nn.Linear(5, 1), **TINY),
        X,
        Y,
        ValueError,
        "input|features",
    )


@pytest.mark.parametrize("sizes", [(0,), (8, -3), ("8",)])
def test_bad_hidden_layer_sizes(sizes, linear):
    """hidden_layer_sizes must hold positive integers, as for MLPRegressor."""
    _fails_before_training(
        DistilledRegressor(linear, **{**TINY, "hidden_layer_sizes": sizes}),
        X,
        Y,
        ValueError,
        "hidden_layer_sizes",
    )


def test_failed_first_fit_leaves_distiller_unfitted(forest_clf):
    """After a first fit that failed, predict still raises NotFittedError."""
    est = DistilledClassifier(forest_clf, **TINY)
    with pytest.raises(ValueError, match="missing"):
        est.fit(XC, YC * 5)
    with pytest.raises(NotFittedError):
        est.predict(XC)


@pytest.fixture(scope="module")
def fitted_clf(forest_clf):
    return DistilledClassifier(forest_clf, **TINY).fit(XC, YC)


def _predict_unchanged(est, X, before):
    # fit is transactional: the previous model survives a failed refit.
    np.testing.assert_array_equal(est.predict(X), before)


def test_failed_refit_does_not_corrupt_classifier(fitted_clf):
    """A refit that fails leaves the classifier unchanged."""
    est = copy.deepcopy(fitted_clf)
    before = est.predict(XC)
    with pytest.raises(ValueError, match=r"\[5, 10\] missing"):
        est.fit(XC, YC * 5)
    _predict_unchanged(est, XC, before)


def test_failed_refit_does_not_corrupt_regressor(fitted_reg):
    """A refit that fails leaves the regressor unchanged."""
    est = copy.deepcopy(fitted_reg)
    before = est.predict(X[:5])
    with pytest.raises(ValueError, match=r"gives 1 output\(s\) per row but y has 2"):
        est.fit(X, np.column_stack([Y, Y]) * 100)
    _predict_unchanged(est, X[:5], before)
