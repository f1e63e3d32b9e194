"""What a teacher computes inside: features for the feature-matching terms.

One function per kind of teacher a tabular user has:

- torch modules and skorch nets: the output of any named submodule, caught by
  a forward hook that is removed afterwards;
- scikit-learn ``MLPRegressor``/``MLPClassifier``: hidden-layer activations
  recomputed from ``coefs_``/``intercepts_`` (``'hidden_1'`` ...);
- a fitted ``Pipeline``: the output of a named intermediate step, or a
  feature of its final estimator on the transformed input;
- a fitted distiller (self-distillation, born-again networks): its student's
  named layers, on its own preprocessed input;
- tree ensembles: ``'trees'``, the matrix of per-tree predictions (random
  forests and extra trees: each tree's prediction, or class probabilities;
  gradient boosting and HistGradientBoosting: each stage's contribution to the
  raw score, from ``staged_predict``/``staged_decision_function``).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from sklearn_kd._utils import float32_values, is_dataframe

#: The feature name of the per-tree prediction matrix.
TREES = "trees"


def torch_features(module, device, X, layer_name: str, owner: str) -> np.ndarray:
    """The output of ``module``'s submodule ``layer_name`` on ``X``, per row."""
    from sklearn_kd.teachers._gradients import capture_output, find_layer

    layer = find_layer(module, layer_name, owner)
    param = next(iter(module.parameters()), None)
    dtype = torch.float32 if param is None else param.dtype
    batch = torch.tensor(float32_values(X, owner), device=device, dtype=dtype)
    was_training = module.training
    module.eval()
    try:
        with capture_output(layer) as seen, torch.inference_mode():
            module(batch)
    finally:
        module.train(was_training)
    out = seen[0]
    if not isinstance(out, torch.Tensor):
        raise ValueError(
            f"The layer {layer_name!r} of the {owner} returns "
            f"{type(out).__name__}, not a tensor; pick a layer with a tensor output."
        )
    return out.reshape(len(batch), -1).to("cpu", torch.float64).numpy()


def sklearn_features(estimator, X, layer: str, owner: str) -> np.ndarray:
    """Feature ``layer`` of a fitted scikit-learn model on ``X``, per row.

    Raises
    ------
    ValueError
        If the model has no such feature; the message lists what it has.
    """
    from sklearn.pipeline import Pipeline

    estimator = _unfrozen(estimator)
    if isinstance(estimator, Pipeline):
        names = [name for name, _ in estimator.steps]
        if layer in names[:-1]:
            stop = names.index(layer) + 1
            return _dense(estimator[:stop].transform(X))
        if len(names) > 1:
            X = estimator[:-1].transform(X)
        estimator = estimator[-1]
        owner = f"{owner} (final step {type(estimator).__name__})"
        if layer in names:
            raise ValueError(
                f"The {owner} is the final step {layer!r}; name an intermediate step "
                f"{names[:-1]}, or a feature of the final estimator "
                f"({available_features(estimator)})."
            )
    if hasattr(estimator, "coefs_") and layer.startswith("hidden_"):
        return _mlp_hidden(estimator, X, layer, owner)
    if layer == TREES and _is_tree_ensemble(estimator):
        return tree_matrix(estimator, X)
    raise ValueError(
        f"The {owner} has no feature {layer!r}; it has {available_features(estimator)}."
    )


def available_features(estimator) -> list:
    """Feature names :func:`sklearn_features` accepts for ``estimator``."""
    from sklearn.pipeline import Pipeline

    estimator = _unfrozen(estimator)
    if isinstance(estimator, Pipeline):
        return [n for n, _ in estimator.steps[:-1]] + available_features(estimator[-1])
    if hasattr(estimator, "coefs_"):
        return [f"hidden_{i}" for i in range(1, len(estimator.coefs_))]
    if _is_tree_ensemble(estimator):
        return [TREES]
    return []


def _unfrozen(estimator):
    """The model inside a ``FrozenEstimator``; any other model as it is."""
    try:
        from sklearn.frozen import FrozenEstimator
    except ImportError:  # pragma: no cover - scikit-learn < 1.6
        return estimator
    return estimator.estimator if isinstance(estimator, FrozenEstimator) else estimator


def _mlp_hidden(mlp, X, layer, owner) -> np.ndarray:
    """Activations of hidden layer ``k`` of a fitted sklearn MLP."""
    from sklearn.neural_network._base import ACTIVATIONS

    n_hidden = len(mlp.coefs_) - 1
    try:
        k = int(layer[len("hidden_") :])
    except ValueError:
        k = 0
    if not 1 <= k <= n_hidden:
        raise ValueError(
            f"The {owner} has hidden layers hidden_1 ... hidden_{n_hidden}; got "
            f"{layer!r}."
        )
    out = np.asarray(
        X.to_numpy(dtype=np.float64) if is_dataframe(X) else X, dtype=np.float64
    )
    for coef, intercept in zip(mlp.coefs_[:k], mlp.intercepts_[:k], strict=True):
        out = out @ coef + intercept
        ACTIVATIONS[mlp.activation](out)  # in place, as sklearn does
    return out


def _is_tree_ensemble(estimator) -> bool:
    """A fitted forest, extra trees, bagged trees or boosted trees (not, say, a
    VotingRegressor, whose members are not trees and whose weights matter)."""
    if hasattr(estimator, "_predictors"):  # HistGradientBoosting
        return True
    members = getattr(estimator, "estimators_", None)
    if members is None or len(members) == 0:
        return False
    first = (
        np.ravel(members[0])[0] if isinstance(members[0], np.ndarray) else (members[0])
    )
    return hasattr(first, "tree_")


def bagged_predictions(estimator, X, *, proba: bool, limit=None) -> list:
    """Each member's prediction (or class probabilities) of a bagged ensemble,
    on the columns that member was trained on; the first ``limit`` members."""
    values = X.to_numpy() if is_dataframe(X) else np.asarray(X)
    values = np.asarray(values, dtype=np.float32)
    columns = getattr(estimator, "estimators_features_", None)
    out = []
    for i, tree in enumerate(estimator.estimators_[:limit]):
        rows = values if columns is None else values[:, columns[i]]
        out.append(tree.predict_proba(rows) if proba else tree.predict(rows))
    return out


def tree_matrix(estimator, X) -> np.ndarray:
    """Per-tree predictions of a fitted tree ensemble, (n_rows, n_trees * width).

    Bagged ensembles (random forests, extra trees): each tree's prediction
    (each output) or, for a classifier, its class probabilities. Boosted
    ensembles: each stage's contribution to the raw prediction (the
    difference of consecutive ``staged_predict`` or
    ``staged_decision_function`` values; the first stage includes the initial
    estimate), so the columns sum to the ensemble's raw output.
    """
    if hasattr(estimator, "staged_decision_function") or hasattr(
        estimator, "staged_predict"
    ):
        is_classifier = hasattr(estimator, "staged_decision_function")
        staged = (
            estimator.staged_decision_function(X)
            if is_classifier
            else estimator.staged_predict(X)
        )
        stages = [np.asarray(s, dtype=np.float64).reshape(len(X), -1) for s in staged]
        diffs = [stages[0]] + [b - a for a, b in itertools.pairwise(stages)]
        return np.concatenate(diffs, axis=1)
    proba = hasattr(estimator, "classes_") and hasattr(
        estimator.estimators_[0], "predict_proba"
    )
    outputs = bagged_predictions(estimator, X, proba=proba)
    return np.concatenate(
        [np.asarray(o, dtype=np.float64).reshape(len(X), -1) for o in outputs], axis=1
    )


def _dense(Xt) -> np.ndarray:
    if hasattr(Xt, "toarray"):
        Xt = Xt.toarray()
    if is_dataframe(Xt):
        Xt = Xt.to_numpy()
    try:
        return np.asarray(Xt, dtype=np.float64).reshape(len(Xt), -1)
    except (TypeError, ValueError):
        raise ValueError(
            "The Pipeline step's output is not numeric; pick a step whose output "
            "is a number matrix."
        ) from None
