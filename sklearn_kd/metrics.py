"""How closely a distilled student follows its teacher.

Fidelity is the student's score against the teacher's predictions instead of
the true labels: the coefficient of determination R^2 of the student's
predictions to the teacher's for a regressor, and the fraction of rows on
which the two predict the same class (agreement) for a classifier. A student
can score above its teacher on held-out labels and still follow it loosely;
fidelity says how well the compression kept the teacher's behaviour.

:func:`fidelity_score` computes it for a fitted distiller (or a Pipeline ending
in one); :func:`fidelity_scorer` is the same as a scorer, for
``GridSearchCV(scoring=...)`` or ``cross_validate``.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from sklearn_kd.teachers import LOGITS, PREDICTION, as_teacher

__all__ = ["fidelity_score", "fidelity_scorer"]


def fidelity_score(estimator, X) -> float:
    """R^2 to the teacher (regression) or agreement with it (classification).

    Parameters
    ----------
    estimator : DistilledRegressor, DistilledClassifier or Pipeline
        A fitted distiller, or a fitted Pipeline whose last step is one (the
        earlier steps transform ``X`` first, as ``predict`` does).
    X : {array-like, DataFrame} of shape (n_samples, n_features)
        Rows to compare on; held-out rows say how the student generalises the
        teacher's behaviour.

    Returns
    -------
    float
        ``r2_score(teacher predictions, student predictions)`` (averaged
        uniformly over outputs) for a regressor, ``accuracy_score(teacher
        labels, student labels)`` for a classifier.

    Examples
    --------
    >>> from sklearn.datasets import make_friedman1
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> from sklearn_kd import DistilledRegressor
    >>> from sklearn_kd.metrics import fidelity_score
    >>> X, y = make_friedman1(n_samples=300, random_state=0)
    >>> forest = RandomForestRegressor(n_estimators=20, random_state=0).fit(X, y)
    >>> student = DistilledRegressor(forest, max_epochs=20, random_state=0).fit(X, y)
    >>> 0 < fidelity_score(student, X) <= 1
    True
    """
    distiller = estimator
    if isinstance(estimator, Pipeline):
        distiller = estimator.steps[-1][1]
        X = estimator[:-1].transform(X) if len(estimator) > 1 else X
    check_is_fitted(distiller, "teacher_")
    student = distiller.predict(X)
    teacher = as_teacher(distiller.teacher_)
    if hasattr(distiller, "classes_"):
        logits = teacher.query(X, [LOGITS])[LOGITS]
        columns = teacher.class_columns(distiller.classes_, logits.shape[1])
        labels = distiller.classes_[np.argmax(logits[:, columns], axis=1)]
        return float(accuracy_score(labels, student))
    reference = teacher.query(X, [PREDICTION])[PREDICTION]
    return float(r2_score(reference, np.reshape(student, reference.shape)))


def fidelity_scorer(estimator, X, y=None) -> float:
    """:func:`fidelity_score` as a scikit-learn scorer (``y`` is ignored).

    Use it as ``GridSearchCV(..., scoring=fidelity_scorer)`` or in a dict of
    scorers, ``scoring={"r2": "r2", "fidelity": fidelity_scorer}`` with
    ``refit="r2"``. Greater is better.

    Parameters
    ----------
    estimator : DistilledRegressor, DistilledClassifier or Pipeline
        The fitted candidate.
    X : {array-like, DataFrame} of shape (n_samples, n_features)
        The validation rows.
    y : ignored
        Present for the scorer signature.

    Returns
    -------
    float
    """
    return fidelity_score(estimator, X)
