"""``fit`` is transactional: a refit that fails, for any reason, leaves the
model that was fitted before exactly as it was, and an unfitted distiller
unfitted; a refit that succeeds leaves nothing of the previous fit behind."""

import numpy as np
import pytest
from _shared import FAST
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.students._net import DistillationNet

# The linear problem SwitchableTeacher computes (its weights, 3 columns).
RNG = np.random.default_rng(0)
X = RNG.normal(size=(150, 3))
Y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * RNG.normal(size=150)


class SwitchableTeacher:
    """A plain callable teacher that can be made to fail, as a remote model
    or a flaky service would, between two fits."""

    def __init__(self):
        self.failure = None

    def __call__(self, Z):
        if self.failure is not None:
            raise self.failure
        return np.asarray(Z) @ np.array([1.0, -2.0, 0.5])


def _fitted_state(est):
    return {k: v for k, v in vars(est).items() if k.endswith("_")}


def _break_training(monkeypatch, exc):
    calls = []

    def train_step(self, batch, **fit_params):
        calls.append(1)
        if len(calls) > 2:  # in the middle of the first epoch or later
            raise exc
        return original(self, batch, **fit_params)

    original = DistillationNet.train_step
    monkeypatch.setattr(DistillationNet, "train_step", train_step)


CAUSES = {
    "bad X": lambda est, teacher, mp, tmp: est.fit(
        np.vstack([X, [[np.inf] * 3]]), np.r_[Y, 0]
    ),
    "teacher error": lambda est, teacher, mp, tmp: (
        setattr(teacher, "failure", RuntimeError("teacher service is down")),
        est.fit(X, Y),
    ),
    "Ctrl-C in the teacher query": lambda est, teacher, mp, tmp: (
        setattr(teacher, "failure", KeyboardInterrupt()),
        est.fit(X, Y),
    ),
    "Ctrl-C in training": lambda est, teacher, mp, tmp: (
        _break_training(mp, KeyboardInterrupt()),
        est.fit(X, Y),
    ),
    "error in training": lambda est, teacher, mp, tmp: (
        _break_training(mp, RuntimeError("out of memory")),
        est.fit(X, Y),
    ),
    "bad memory path": lambda est, teacher, mp, tmp: (
        (tmp / "a_file").write_text("not a directory"),
        est.set_params(memory=str(tmp / "a_file")),
        est.fit(X, Y),
    ),
}
RAISES = {
    "bad X": ValueError,
    "teacher error": RuntimeError,
    "Ctrl-C in the teacher query": KeyboardInterrupt,
    "Ctrl-C in training": KeyboardInterrupt,
    "error in training": RuntimeError,
    "bad memory path": ValueError,
}


@pytest.mark.parametrize("cause", list(CAUSES))
def test_failed_refit_keeps_the_previous_model(cause, monkeypatch, tmp_path):
    teacher = SwitchableTeacher()
    est = DistilledRegressor(teacher, **FAST).fit(X, Y)
    before = est.predict(X)
    state = _fitted_state(est)
    with pytest.raises(RAISES[cause]):
        CAUSES[cause](est, teacher, monkeypatch, tmp_path)
    np.testing.assert_array_equal(est.predict(X), before)
    after = _fitted_state(est)
    assert after.keys() == state.keys()
    assert all(after[k] is state[k] for k in state), "fitted attributes replaced"


@pytest.mark.parametrize("cause", list(CAUSES))
def test_failed_first_fit_leaves_the_distiller_unfitted(cause, monkeypatch, tmp_path):
    teacher = SwitchableTeacher()
    est = DistilledRegressor(teacher, **FAST)
    with pytest.raises(RAISES[cause]):
        CAUSES[cause](est, teacher, monkeypatch, tmp_path)
    assert not _fitted_state(est)
    with pytest.raises(NotFittedError):
        est.predict(X)


def test_failed_classifier_refit_keeps_the_previous_model():
    y = (Y > 0).astype(int)
    teacher = SwitchableTeacher()

    def proba(Z):
        p = 1 / (1 + np.exp(-teacher(Z)))
        return np.column_stack([1 - p, p])

    est = DistilledClassifier(proba, **FAST).fit(X, y)
    before = est.predict_proba(X)
    teacher.failure = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    np.testing.assert_array_equal(est.predict_proba(X), before)
    np.testing.assert_array_equal(est.classes_, [0, 1])


def test_successful_refit_forgets_the_previous_fit():
    """Nothing of the first fit survives the second: not its attributes, not
    the attributes only the first fit set."""
    est = DistilledRegressor(LinearRegression().fit(X, Y), **FAST).fit(X, Y)
    first = _fitted_state(est)
    est.stale_ = "set by an earlier fit"
    est.fit(X[:100], Y[:100] * 3)
    assert not hasattr(est, "stale_")
    assert est.student_ is not first["student_"]
    assert est.n_features_in_ == 3
    # The refit standardised the new targets, not the old ones.
    np.testing.assert_allclose(est._target_scale_, [np.std(Y[:100] * 3)])


def test_the_users_parameters_are_shared_not_copied():
    """fit works on a copy of the distiller, but the parameters it reads are the
    user's objects: a fitted teacher is the same object after fit."""
    teacher = LinearRegression().fit(X, Y)
    est = DistilledRegressor(teacher, **FAST).fit(X, Y)
    assert est.teacher is teacher
    assert est.teacher_ is teacher
