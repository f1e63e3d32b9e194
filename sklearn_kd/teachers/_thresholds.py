"""Where a fitted tree ensemble cuts each input column: its split thresholds.

A tree ensemble is piecewise constant between the thresholds it splits on, so
they are the natural bin edges for its input columns: a student that sees a
column through those bins sees exactly the distinctions the teacher makes.
:func:`split_thresholds` reads them from the fitted model:

- scikit-learn decision trees, random forests, extra trees, bagged trees
  (each member on its ``estimators_features_``), AdaBoost and gradient
  boosting over trees: ``tree_.threshold`` of the split nodes;
- ``HistGradientBoosting*``: the numeric splits of its predictors' nodes
  (categorical splits are no thresholds);
- XGBoost and LightGBM (their scikit-learn API): the numeric splits of the
  trees they predict with, read from the model itself.

A threshold is where the prediction may change, whichever side the boundary
value itself goes to: scikit-learn and LightGBM send ``x <= t`` left, XGBoost
``x < t``. The thresholds are reported as each library stores them.
"""

from __future__ import annotations

import numpy as np

from sklearn_kd._utils import is_dataframe
from sklearn_kd.teachers._features import (
    _unfrozen,
    booster_library,
    lightgbm_trees,
    xgboost_trees,
)

#: Rows of ``X`` a Pipeline's transformers see to match columns.
MAX_MATCH_ROWS = 2000

# LightGBM's decision_type is a bit field; its lowest bit marks a categorical
# split.
_LIGHTGBM_CATEGORICAL = 1


def split_thresholds(model, X) -> dict[int, tuple[np.ndarray, np.ndarray]] | None:
    """The split thresholds a fitted tree ensemble uses on each raw numeric column.

    Parameters
    ----------
    model : object
        The fitted teacher as the user gave it: a scikit-learn tree or tree
        ensemble, an XGBoost or LightGBM model, a ``Pipeline`` ending in one,
        any of them inside a ``FrozenEstimator``.
    X : array-like or DataFrame of shape (n_samples, n_features)
        The raw input the teacher receives (string and categorical columns
        allowed). Only its column count, and for a Pipeline its first
        :data:`MAX_MATCH_ROWS` rows, are used: a column the Pipeline's
        transformers pass through unchanged (its values equal a raw numeric
        column's on those rows) is that raw column; scaled, encoded or
        derived columns match none and their thresholds are left out.

    Returns
    -------
    dict or None
        ``{j: (thresholds, rows)}`` for each raw column position ``j`` the
        ensemble splits on numerically: the distinct thresholds, sorted
        (float64), and how much each is used (float64): the training rows
        that pass through the split nodes using it (their cover: weighted
        sample counts, XGBoost's hessian sum), over all trees, stages and
        classes. A split near the root that every row passes through weighs
        more than one deep in a tree that separates a handful of rows.
        Columns never split on are absent (a tree ensemble without numeric
        splits gives ``{}``). None when the model is not a supported tree
        ensemble, or a Pipeline none of whose split columns maps to a raw
        column.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> from sklearn_kd.teachers._thresholds import split_thresholds
    >>> X = np.array([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    >>> tree = DecisionTreeRegressor(max_depth=1).fit(X, [0, 0, 1, 1])
    >>> split_thresholds(tree, X)
    {0: (array([1.5]), array([4.]))}
    """
    from sklearn.pipeline import Pipeline

    model = _unfrozen(model)
    if isinstance(model, Pipeline):
        return _pipeline_thresholds(model, X)
    splits = _splits(model)
    if splits is None:
        return None
    # X.shape first: np.shape does not know scipy sparse matrices.
    n_columns = (X.shape if hasattr(X, "shape") else np.shape(X))[1]
    return _tally(*splits, n_columns=n_columns)


def _splits(model) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Column index, threshold and training rows (cover) of every numeric split
    node of ``model``; None when it is no tree ensemble this module knows."""
    library = booster_library(model)
    if library == "xgboost":
        return _xgboost_splits(model)
    if library == "lightgbm":
        return _lightgbm_splits(model)
    if hasattr(model, "_predictors"):
        return _hist_gradient_boosting_splits(model)
    if hasattr(model, "tree_"):
        return _tree_splits(model.tree_)
    return _member_tree_splits(model)


def _tree_splits(tree, columns=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The split nodes of a scikit-learn ``Tree``; ``columns`` maps the
    tree's feature indices to the ensemble's (a bagged member's subset)."""
    internal = tree.children_left != -1  # leaves have no children
    features = tree.feature[internal].astype(np.intp)
    if columns is not None:
        features = np.asarray(columns, dtype=np.intp)[features]
    return (
        features,
        tree.threshold[internal].astype(np.float64),
        tree.weighted_n_node_samples[internal].astype(np.float64),
    )


def _member_tree_splits(model) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Split nodes of an ensemble of scikit-learn trees (forests, bagging,
    AdaBoost; gradient boosting's 2-D array of trees, stages by classes)."""
    members = getattr(model, "estimators_", None)
    if members is None or len(members) == 0:
        return None
    members = list(np.ravel(members)) if isinstance(members, np.ndarray) else members
    if not all(hasattr(member, "tree_") for member in members):
        return None
    subsets = getattr(model, "estimators_features_", None)
    if subsets is None:
        subsets = [None] * len(members)
    parts = [
        _tree_splits(member.tree_, columns)
        for member, columns in zip(members, subsets, strict=True)
    ]
    return _concatenate(parts)


def _hist_gradient_boosting_splits(model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numeric split nodes of a fitted ``HistGradientBoosting*``."""
    nodes = np.concatenate([p.nodes for stage in model._predictors for p in stage])
    numeric = (nodes["is_leaf"] == 0) & (nodes["is_categorical"] == 0)
    features = nodes["feature_idx"][numeric].astype(np.intp)
    categorical = getattr(model, "is_categorical_", None)
    if categorical is not None and getattr(model, "_preprocessor", None) is not None:
        # With categorical features the model reorders its input: the
        # (ordinal-encoded) categorical columns first, then the others.
        order = np.concatenate(
            [np.flatnonzero(categorical), np.flatnonzero(~categorical)]
        )
        features = order[features]
    return (
        features,
        nodes["num_threshold"][numeric].astype(np.float64),
        nodes["count"][numeric].astype(np.float64),
    )


def _xgboost_splits(model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numeric split nodes of the trees an XGBoost model predicts with."""
    parts = []
    for tree in xgboost_trees(model)[0]:
        internal = np.asarray(tree["left_children"]) != -1
        numeric = internal & (np.asarray(tree["split_type"]) == 0)
        # XGBoost compares float32 values: its thresholds are float32 numbers.
        thresholds = np.asarray(tree["split_conditions"], dtype=np.float32)
        parts.append(
            (
                np.asarray(tree["split_indices"], dtype=np.intp)[numeric],
                thresholds[numeric].astype(np.float64),
                # Cover: the hessian sum, the row count for squared error.
                np.asarray(tree["sum_hessian"], dtype=np.float64)[numeric],
            )
        )
    return _concatenate(parts)


def _lightgbm_splits(model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numeric split nodes of the trees a LightGBM model predicts with."""
    parts = []
    for tree in lightgbm_trees(model):
        kinds = np.asarray(tree.get("decision_type", "").split(), dtype=np.int64)
        numeric = (kinds & _LIGHTGBM_CATEGORICAL) == 0
        features = np.asarray(tree.get("split_feature", "").split(), dtype=np.intp)
        # A categorical split's "threshold" indexes its category set: drop it
        # before reading the numbers.
        thresholds = np.asarray(tree.get("threshold", "").split(), dtype=object)
        rows = np.asarray(tree.get("internal_count", "").split(), dtype=np.float64)
        if len(rows) != len(features):
            rows = np.ones(len(features))
        parts.append(
            (
                features[numeric],
                thresholds[numeric].astype(np.float64),
                rows[numeric],
            )
        )
    return _concatenate(parts)


def _concatenate(parts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not parts:
        return (
            np.empty(0, dtype=np.intp),
            np.empty(0, dtype=np.float64),
            np.empty(0, dtype=np.float64),
        )
    features, thresholds, rows = zip(*parts, strict=True)
    return np.concatenate(features), np.concatenate(thresholds), np.concatenate(rows)


def _tally(features, thresholds, rows, *, n_columns) -> dict:
    """``{column: (distinct thresholds, rows)}`` of the finite thresholds of
    the columns ``0 ... n_columns - 1``, rows summed over equal thresholds."""
    # A split that only separates missing values has an infinite threshold.
    keep = np.isfinite(thresholds) & (features >= 0) & (features < n_columns)
    features, thresholds, rows = features[keep], thresholds[keep], rows[keep]
    out = {}
    for j in np.unique(features):
        mine = features == j
        values, where = np.unique(thresholds[mine], return_inverse=True)
        total = np.bincount(where.ravel(), weights=rows[mine], minlength=len(values))
        out[int(j)] = (values.astype(np.float64), total)
    return out


def merge_thresholds(pairs) -> tuple[np.ndarray, np.ndarray]:
    """One ``(thresholds, rows)`` from several, rows of equal ones summed."""
    thresholds = np.concatenate([t for t, _ in pairs])
    counts = np.concatenate([c for _, c in pairs])
    values, where = np.unique(thresholds, return_inverse=True)
    total = np.zeros(len(values), dtype=np.float64)
    np.add.at(total, where.ravel(), counts)
    return values, total


def _pipeline_thresholds(pipeline, X) -> dict | None:
    """The final step's thresholds, on the raw columns its input passes
    through unchanged."""
    sample = X.iloc[:MAX_MATCH_ROWS] if is_dataframe(X) else X[:MAX_MATCH_ROWS]
    if len(pipeline) == 1:
        return split_thresholds(pipeline[-1], X)
    transformed = pipeline[:-1].transform(sample)
    if hasattr(transformed, "tocsc"):  # scipy sparse: column slices are cheap
        transformed = transformed.tocsc()
    inner = split_thresholds(pipeline[-1], transformed)
    if not inner:  # not a tree ensemble (None), or one without splits ({})
        return inner
    # Keyed by content, so that wide inputs are not compared pairwise; the
    # first of equal raw columns wins.
    raw: dict[bytes, int] = {}
    for j, values in _numeric_columns(sample).items():
        raw.setdefault(_content(values), j)
    found: dict[int, list] = {}
    for t, pair in inner.items():
        values = _float_column(transformed, t)
        j = None if values is None else raw.get(_content(values))
        if j is not None:
            found.setdefault(j, []).append(pair)
    if not found:
        return None
    return {j: merge_thresholds(pairs) for j, pairs in sorted(found.items())}


def _content(values) -> bytes:
    """Bytes that are equal exactly when the float columns are equal as
    ``np.array_equal(..., equal_nan=True)`` sees them: -0.0 is 0.0 and every
    NaN the same NaN."""
    return np.where(np.isnan(values), np.nan, values + 0.0).tobytes()


def _numeric_columns(X) -> dict[int, np.ndarray]:
    """``{position: float64 values}`` of the numeric columns of ``X``."""
    from pandas.api.types import is_numeric_dtype

    frame = X if is_dataframe(X) else _frame(X)
    out = {}
    for j in range(frame.shape[1]):
        column = frame.iloc[:, j]
        if is_numeric_dtype(column.dtype):
            out[j] = column.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _frame(X):
    """``X`` as a DataFrame whose columns have their values' dtypes (an
    object array's numeric columns become numeric, its strings stay objects)."""
    import pandas as pd

    values = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    return pd.DataFrame(values.reshape(len(values), -1)).infer_objects()


def _float_column(Xt, t) -> np.ndarray | None:
    """Column ``t`` of a transformer's output as float64; None if not numbers."""
    if hasattr(Xt, "toarray"):  # scipy sparse
        column = Xt[:, [t]].toarray().ravel()
    elif is_dataframe(Xt):
        column = Xt.iloc[:, t].to_numpy()
    else:
        column = np.asarray(Xt)[:, t]
    try:
        return np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError):
        return None
