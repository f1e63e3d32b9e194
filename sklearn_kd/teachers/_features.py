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
  raw score, from ``staged_predict``/``staged_decision_function``; XGBoost
  and LightGBM: each tree's leaf value, its contribution to the raw margin).
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import torch

from sklearn_kd._compat import mlp_activations
from sklearn_kd._torch_utils import capture_output, find_layer
from sklearn_kd._utils import float32_values, is_dataframe

#: The feature name of the per-tree prediction matrix.
TREES = "trees"


def torch_features(module, device, X, layer_name: str, owner: str) -> np.ndarray:
    """The output of ``module``'s submodule ``layer_name`` on ``X``, per row."""
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
    if layer == TREES and _has_tree_matrix(estimator):
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
    if _has_tree_matrix(estimator):
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
    activation = mlp_activations()[mlp.activation]
    for coef, intercept in zip(mlp.coefs_[:k], mlp.intercepts_[:k], strict=True):
        out = out @ coef + intercept
        activation(out)  # in place, as sklearn does
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


def _has_tree_matrix(estimator) -> bool:
    """Whether :func:`tree_matrix` knows ``estimator``'s trees."""
    return _is_tree_ensemble(estimator) or booster_library(estimator) is not None


def booster_library(estimator) -> str | None:
    """``'xgboost'`` or ``'lightgbm'`` for a fitted tree model of that library's
    scikit-learn API; None for anything else.

    Told by the class's module, so that neither library is needed (or imported)
    to ask. A linear XGBoost booster (``booster='gblinear'``) has no trees.
    """
    module = type(estimator).__module__
    try:
        if module.startswith("xgboost"):
            config = json.loads(estimator.get_booster().save_config())
            booster = config["learner"]["gradient_booster"]["name"]
            return "xgboost" if booster in ("gbtree", "dart") else None
        if module.startswith("lightgbm"):
            # booster_ raises when the model is not fitted.
            return "lightgbm" if estimator.booster_ is not None else None
    # Both libraries' not-fitted errors are AttributeError and ValueError.
    except (AttributeError, ValueError):
        return None
    return None


def xgboost_trees(estimator) -> tuple[list, np.ndarray]:
    """The trees a fitted XGBoost model predicts with, and each tree's weight.

    Read from the model's JSON, which holds each tree as node arrays
    (``left_children``, ``split_indices``, ``split_conditions``, ``split_type``,
    ``base_weights``; a leaf's value is its ``split_conditions`` entry). The
    weights are 1 except for DART, which scales each tree when predicting.
    After early stopping, only the trees up to the best iteration, which is
    what ``predict`` uses.
    """
    booster = estimator.get_booster()
    gbm = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]
    model = gbm["gbtree"]["model"] if gbm["name"] == "dart" else gbm["model"]
    trees = model["trees"]
    weights = np.asarray(gbm.get("weight_drop", [1.0] * len(trees)), dtype=np.float64)
    best = getattr(estimator, "best_iteration", None)
    if best is not None:
        indptr = model.get("iteration_indptr")
        if indptr is None:  # older model formats: equal-sized iterations
            per_round = len(trees) // max(1, booster.num_boosted_rounds())
            indptr = [per_round * i for i in range(booster.num_boosted_rounds() + 1)]
        stop = indptr[best + 1]
        trees, weights = trees[:stop], weights[:stop]
    return trees, weights


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

    XGBoost and LightGBM: each tree's leaf value on the row, in the booster's
    tree order (for multiclass, round by round and within a round class by
    class, as scikit-learn's stages; a multi-output XGBoost tree gives one
    column per target). The columns sum to the raw margin
    (``output_margin=True``, ``raw_score=True``) minus XGBoost's base score;
    LightGBM folds its initial score into the first tree, so there they sum
    to the raw score itself.
    """
    library = booster_library(estimator)
    if library == "xgboost":
        return _xgboost_tree_matrix(estimator, X)
    if library == "lightgbm":
        return _lightgbm_tree_matrix(estimator, X)
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


def _xgboost_tree_matrix(estimator, X) -> np.ndarray:
    """Leaf values of each XGBoost tree: ``apply`` finds the leaves (one
    prediction pass, however many trees), the model's JSON their values."""
    leaves = np.asarray(estimator.apply(X)).reshape(len(X), -1).astype(np.intp)
    trees, weights = xgboost_trees(estimator)
    columns = []
    for t in range(leaves.shape[1]):
        tree = trees[t]
        width = max(1, int(tree["tree_param"].get("size_leaf_vector", 1)))
        # float32, as XGBoost stores them, then float64 for exact sums.
        if width == 1:
            values = np.asarray(tree["split_conditions"], dtype=np.float32)[:, None]
        else:  # a multi-output tree keeps its leaf vectors in base_weights
            values = np.asarray(tree["base_weights"], dtype=np.float32)
            values = values.reshape(-1, width)
        columns.append(values.astype(np.float64)[leaves[:, t]] * weights[t])
    return np.concatenate(columns, axis=1)


def _lightgbm_tree_matrix(estimator, X) -> np.ndarray:
    """Leaf values of each LightGBM tree: ``pred_leaf`` finds the leaves, the
    model text their values. Linear trees, whose leaves are not constants: one
    iteration's raw score at a time."""
    trees = lightgbm_trees(estimator)
    if any(tree.get("is_linear") == "1" for tree in trees):
        per_round = estimator.booster_.num_model_per_iteration()
        return np.concatenate(
            [
                np.asarray(
                    estimator.predict(
                        X, raw_score=True, start_iteration=k, num_iteration=1
                    ),
                    dtype=np.float64,
                ).reshape(len(X), -1)
                for k in range(len(trees) // per_round)
            ],
            axis=1,
        )
    leaves = np.asarray(estimator.predict(X, pred_leaf=True)).reshape(len(X), -1)
    columns = [
        np.asarray(tree["leaf_value"].split(), dtype=np.float64)[leaves[:, t]]
        for t, tree in enumerate(trees[: leaves.shape[1]])
    ]
    return np.column_stack(columns)


def lightgbm_trees(estimator) -> list[dict[str, str]]:
    """The trees a fitted LightGBM model predicts with, each as the ``key=value``
    lines of LightGBM's model text (``split_feature``, ``threshold``,
    ``decision_type``, ``leaf_value``, ``is_linear`` ...; arrays are
    space-separated).

    The text, LightGBM's own model file format, writes doubles so that they
    read back exactly, and is an order of magnitude faster to get and read
    than ``dump_model``'s JSON or one ``get_leaf_output`` call per leaf. After
    early stopping, only the trees up to the best iteration, which is what
    ``predict`` uses.
    """
    text = estimator.booster_.model_to_string()
    body = text.split("\nend of trees", 1)[0]
    trees = []
    for block in body.split("\nTree=")[1:]:
        lines = (line.partition("=") for line in block.splitlines()[1:])
        trees.append({key: value for key, sep, value in lines if sep})
    return trees


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
