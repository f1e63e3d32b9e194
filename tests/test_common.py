"""scikit-learn's estimator checks on both distillers, with an unfitted and a
fitted teacher, and the parameter-validation check."""

import re
from functools import partial

import pytest
from _shared import XC, XR, YC, YR, fast
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.utils.estimator_checks import (
    check_param_validation,
    estimator_checks_generator,
)

from sklearn_kd import DistilledClassifier, DistilledRegressor

# Longer and with a larger step than FAST: the checks fit the students on
# their own data and expect them to learn it.
FAST = fast(max_epochs=30, lr=1e-2)

# The fitted teachers are Dummy models: they are real fitted estimators that
# accept any number of features, so the checks can feed them the checks' own
# data. They were trained on another problem (_shared's small data), which the
# table below accounts for.
ESTIMATORS = [
    DistilledRegressor(LinearRegression(), **FAST),
    DistilledClassifier(LogisticRegression(), **FAST),
    DistilledRegressor(DummyRegressor().fit(XR, YR), **FAST),
    DistilledClassifier(DummyClassifier(strategy="prior").fit(XC, YC), **FAST),
]

SGD_WEIGHTS = (
    "The student is trained by mini-batch SGD: a row of weight 2 and the same row "
    "repeated twice land in different batches, so the fits agree only in "
    "expectation, as for SGDRegressor and MLPRegressor."
)
FOREIGN_TEACHER = (
    "The teacher was fitted before, on another problem, and is used as it is: "
    "distilling it cannot fit this check's target"
)


NAN_THROUGH_TEACHER = (
    "The distiller hands NaN in X to its teacher and encodes it for the student, "
    "so it takes NaN exactly when its teacher does (its allow_nan tag is the "
    "teacher's). A fitted Dummy teacher ignores X and takes NaN without saying "
    "so in its tags; with a teacher that refuses NaN (LinearRegression above) "
    "the check passes."
)


class FailedForAnotherReason(Exception):
    """An expected failure with the wrong message: not the failure we know of.

    Neither an AssertionError nor a ValueError, so that the strict xfail's
    ``raises`` does not accept it and the test fails.
    """


def _expected_failed_checks(estimator):
    """``{check name: (reason, exception type, message pattern or None)}``."""
    weights = (
        SGD_WEIGHTS,
        AssertionError,
        "not equivalent to fitting with removed or repeated data",
    )
    failures = {
        "check_sample_weight_equivalence_on_dense_data": weights,
        "check_sample_weight_equivalence_on_sparse_data": weights,
    }
    if isinstance(estimator.teacher, (DummyRegressor, DummyClassifier)):
        failures["check_estimators_nan_inf"] = (
            NAN_THROUGH_TEACHER,
            AssertionError,
            "doesn't check for NaN and inf in fit",
        )
    if isinstance(estimator.teacher, DummyRegressor):
        failures.update(
            {
                # The check's bare `assert score > 0.5`: no message to match.
                "check_regressors_train": (
                    FOREIGN_TEACHER
                    + " (its constant prediction pulls R^2 below the check's 0.5).",
                    AssertionError,
                    None,
                ),
                "check_regressor_multioutput": (
                    FOREIGN_TEACHER
                    + " (it predicts 1 output, the check asks for 5); the distiller "
                    "rejects the mismatch with a ValueError.",
                    ValueError,
                    r"gives 1 output\(s\) per row but y has 5",
                ),
            }
        )
    if isinstance(estimator.teacher, DummyClassifier):
        reason = (
            FOREIGN_TEACHER + " (it knows classes 0, 1, 2; the check's labels are "
            "others); the distiller rejects classes the teacher lacks with a "
            "ValueError."
        )
        missing = (reason, ValueError, r"classes \[0, 1, 2\] do not cover")
        # The sparse checks wrap the same ValueError in their own message.
        wrapped = (reason, AssertionError, "fail gracefully on sparse data")
        failures.update(
            {
                "check_classifiers_classes": missing,
                "check_dtype_object": missing,
                "check_estimator_sparse_array": wrapped,
                "check_estimator_sparse_matrix": wrapped,
            }
        )
    return failures


def _check_id(check):
    """``name`` or ``name(key=value,...)``, as scikit-learn names its checks."""
    if isinstance(check, partial) and check.keywords:
        keywords = ",".join(f"{k}={v}" for k, v in check.keywords.items())
        return f"{check.func.__name__}({keywords})"
    return _check_name(check)


def _check_name(check):
    return check.func.__name__ if isinstance(check, partial) else check.__name__


def _sklearn_checks():
    """Every check of each estimator; the expected failures as strict xfails.

    ``parametrize_with_checks(expected_failed_checks=...)`` marks them as
    non-strict xfails that accept any exception: a check that starts passing,
    or fails for another reason, would go unnoticed. Here an expected failure
    must fail, with its exception type (``raises``) and, where the table gives
    one, a message matching its pattern (checked in the test).
    """
    params = []
    for estimator in ESTIMATORS:
        expected = _expected_failed_checks(estimator)
        label = f"{type(estimator).__name__}[{type(estimator.teacher).__name__}]"
        for est, check in estimator_checks_generator(estimator, mark=None):
            known = expected.get(_check_name(check))
            marks = ()
            if known is not None:
                reason, error, _ = known
                marks = pytest.mark.xfail(strict=True, raises=error, reason=reason)
            params.append(
                pytest.param(
                    est, check, known, marks=marks, id=f"{label}-{_check_id(check)}"
                )
            )
    return params


@pytest.mark.parametrize("estimator, check, expected_failure", _sklearn_checks())
def test_sklearn_compatible(estimator, check, expected_failure):
    if expected_failure is None:
        check(estimator)
        return
    _, error, pattern = expected_failure
    try:
        check(estimator)
    except error as err:
        if pattern is not None and not re.search(pattern, str(err)):
            raise FailedForAnotherReason(
                f"expected a {error.__name__} matching {pattern!r}; got {err}"
            ) from err
        raise


def test_expected_failures_name_existing_checks():
    """Each entry of the expected-failure table names a check that is run: a
    check renamed or dropped by scikit-learn leaves no stale entry behind."""
    for estimator in ESTIMATORS:
        names = {
            _check_name(check)
            for _, check in estimator_checks_generator(estimator, mark=None)
        }
        assert set(_expected_failed_checks(estimator)) <= names


@pytest.mark.parametrize("estimator", ESTIMATORS[:2], ids=lambda e: type(e).__name__)
def test_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)
