"""Out-of-bag outputs of a fitted scikit-learn forest, from its bootstrap samples.

A forest fitted with ``bootstrap=True`` keeps, for each tree, the rows it drew
(``estimators_samples_``, regenerated from the tree's seed), so its out-of-bag
outputs can be rebuilt after the fact, without ``oob_score=True``: each
training row is labelled by the trees that did not draw it, as
``oob_prediction_``/``oob_decision_function_`` would be (Breiman, "Random
Forests", 2001).

That only means something on the rows the forest was fitted on, in the same
order, and ``estimators_samples_`` holds row indices, not rows. So the rows
are checked first: every leaf of a tree records how many distinct rows
reached it in training (``tree_.n_node_samples``), and the rows of ``X`` that
the tree drew must land in its leaves in exactly those numbers. Another table
of the same length, or the same rows shuffled, fails that check.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

#: Trees whose leaf counts are checked against ``X`` before it is taken as the
#: forest's training set: one mismatch in any of them rejects ``X``.
TREES_CHECKED = 3

_FORESTS = (
    RandomForestClassifier,
    RandomForestRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
)


def is_bagging_forest(model) -> bool:
    """Whether ``model`` is a fitted single-output scikit-learn forest with
    bootstrap samples (the kind whose out-of-bag outputs can be rebuilt)."""
    return (
        isinstance(model, _FORESTS)
        and bool(getattr(model, "bootstrap", False))
        and hasattr(model, "estimators_")
        and getattr(model, "n_outputs_", 1) == 1
    )


def as_tree_input(X) -> np.ndarray:
    """``X`` as the trees take it: a float32 array (NaN kept); an array that
    already is one is returned as it is."""
    if hasattr(X, "to_numpy"):
        X = X.to_numpy()
    if hasattr(X, "toarray"):
        X = X.toarray()
    return np.asarray(X, dtype=np.float32)


def fitted_on(forest, X) -> bool:
    """Whether ``X`` holds exactly the rows ``forest`` was fitted on, in order.

    Parameters
    ----------
    forest : fitted forest
        A model for which :func:`is_bagging_forest` holds.
    X : array-like of shape (n_samples, n_features)
        Rows as the forest sees them (after a Pipeline's transformers).

    Returns
    -------
    bool
        False as soon as one checked tree's leaves disagree with ``X``.
    """
    X = as_tree_input(X)
    if X.ndim != 2 or X.shape[1] != forest.n_features_in_:
        return False
    samples = forest.estimators_samples_
    for tree, drawn in zip(forest.estimators_[:TREES_CHECKED], samples, strict=False):
        if len(drawn) and drawn.max() >= len(X):
            return False
        structure = tree.tree_
        leaves = structure.children_left == -1
        reached = np.bincount(
            tree.apply(X[np.unique(drawn)]), minlength=structure.node_count
        )
        if not np.array_equal(reached[leaves], structure.n_node_samples[leaves]):
            return False
    return True


def forest_out_of_bag(forest, X, probabilities: bool) -> np.ndarray:
    """Each row's output averaged over the trees that did not draw it.

    Parameters
    ----------
    forest : fitted forest
        A model for which :func:`is_bagging_forest` holds, fitted on ``X``
        (:func:`fitted_on`).
    X : array-like of shape (n_samples, n_features)
        The forest's training rows, as it sees them.
    probabilities : bool
        Class probabilities (a classifier's ``predict_proba`` columns) rather
        than the regression prediction.

    Returns
    -------
    ndarray of shape (n_samples, n_outputs)
        Float64; NaN on a row that every tree drew.
    """
    X = as_tree_input(X)
    n = len(X)
    width = len(forest.classes_) if probabilities else 1
    total = np.zeros((n, width))
    count = np.zeros(n)
    for tree, drawn in zip(forest.estimators_, forest.estimators_samples_, strict=True):
        left_out = np.ones(n, dtype=bool)
        left_out[drawn] = False
        if not left_out.any():
            continue
        rows = X[left_out]
        out = tree.predict_proba(rows) if probabilities else tree.predict(rows)
        total[left_out] += np.asarray(out, dtype=np.float64).reshape(len(rows), -1)
        count[left_out] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / count[:, None]
    out[count == 0] = np.nan
    return out
