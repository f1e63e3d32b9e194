"""Split thresholds of tree ensembles, and the per-tree features of XGBoost and
LightGBM.

Reference values come from the models themselves, read another way than the
code under test does: scikit-learn's ``tree_`` arrays and ``decision_path``,
HistGradientBoosting's predictor nodes, XGBoost's and LightGBM's
``trees_to_dataframe``, staged margins, ``get_leaf_output``. A threshold weighs
the training rows that pass through the split nodes using it (their cover:
``weighted_n_node_samples``, the nodes' ``count``, XGBoost's ``Cover``,
LightGBM's ``count``), summed by hand here. XGBoost and LightGBM are optional;
their tests skip when they are not installed.
"""

import numpy as np
import pandas as pd
import pytest
from _shared import TINY
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    AdaBoostRegressor,
    BaggingClassifier,
    BaggingRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.losses import FeatureMatching
from sklearn_kd.teachers import as_teacher
from sklearn_kd.teachers._features import available_features, tree_matrix
from sklearn_kd.teachers._thresholds import split_thresholds

# 160 rows, 4 columns: x0 carries a step at 0.3, x1 a slope, x2 noise and x3
# is constant (no tree can split on it). x0 takes 20 values 0.025, 0.075, ...,
# each about 8 times, so that every bootstrap sample has rows either side of
# the step and every tree cuts it at the same place.
_RNG = np.random.default_rng(0)
N = 160
GRID = 0.025 + 0.05 * np.arange(20)
X = np.column_stack(
    [_RNG.choice(GRID, size=N), _RNG.uniform(size=N), _RNG.uniform(size=N), np.ones(N)]
)
STEP = 0.3
Y = 2.0 * (X[:, 0] > STEP) + X[:, 1]
# Three classes: the step, and x1 above 0.5 among the rows past the step.
YC = (X[:, 0] > STEP).astype(int) + ((X[:, 0] > STEP) & (X[:, 1] > 0.5))
YB = (X[:, 0] > STEP).astype(int)


def _tally(features, thresholds, rows, mapping=None):
    """{column: (distinct thresholds, rows summed over them)} by hand, from one
    (column, threshold, rows) per split node. ``mapping`` renames columns and
    drops those it lacks; infinite thresholds (splits of missing values only)
    are none."""
    sums = {}
    for j, t, r in zip(features, thresholds, rows, strict=True):
        j = int(j) if mapping is None else mapping.get(int(j))
        if j is not None and np.isfinite(t):
            column = sums.setdefault(j, {})
            column[float(t)] = column.get(float(t), 0.0) + float(r)
    return {
        j: (np.array(sorted(column)), np.array([column[t] for t in sorted(column)]))
        for j, column in sums.items()
    }


def _tree_nodes(tree, columns=None):
    """(column, threshold, rows) of the split nodes of a scikit-learn ``Tree``,
    rows its ``weighted_n_node_samples``."""
    split = tree.feature >= 0
    features = tree.feature[split]
    if columns is not None:
        features = np.asarray(columns)[features]
    return (
        list(features),
        list(tree.threshold[split]),
        list(tree.weighted_n_node_samples[split]),
    )


def _members_reference(members, subsets=None, mapping=None):
    """:func:`_tally` of the split nodes of scikit-learn trees, each member's
    features through its column subset."""
    if subsets is None:
        subsets = [None] * len(members)
    features, thresholds, rows = [], [], []
    for member, columns in zip(members, subsets, strict=True):
        f, t, r = _tree_nodes(member.tree_, columns)
        features += f
        thresholds += t
        rows += r
    return _tally(features, thresholds, rows, mapping)


def _hgb_reference(model, mapping=None):
    """:func:`_tally` of the numeric split nodes of a HistGradientBoosting
    model's predictors (all stages and classes), rows their ``count``."""
    nodes = np.concatenate([p.nodes for stage in model._predictors for p in stage])
    numeric = (nodes["is_leaf"] == 0) & (nodes["is_categorical"] == 0)
    return _tally(
        nodes["feature_idx"][numeric],
        nodes["num_threshold"][numeric],
        nodes["count"][numeric],
        mapping,
    )


def _assert_same(got, expected):
    assert sorted(got) == sorted(expected)
    for j, (thresholds, rows) in expected.items():
        assert got[j][0].dtype == np.float64
        assert got[j][1].dtype == np.float64
        np.testing.assert_array_equal(got[j][0], thresholds)
        np.testing.assert_allclose(got[j][1], rows, rtol=1e-12)


def _assert_top_at_the_step(pair):
    """The threshold the most training rows pass through lies between the grid
    values either side of the step, 0.275 and 0.325 (up to XGBoost's float32),
    and outweighs all x0's other thresholds together."""
    thresholds, rows = pair
    top = thresholds[np.argmax(rows)]
    assert STEP - 0.025 - 1e-6 <= top <= STEP + 0.025 + 1e-6
    assert rows.max() > rows.sum() / 2


# ----------------------------------------------------------------------
# 1. scikit-learn trees and ensembles
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cls", "y"),
    [(DecisionTreeRegressor, Y), (DecisionTreeClassifier, YC)],
    ids=["regressor", "classifier"],
)
def test_decision_tree_thresholds_are_its_split_nodes(cls, y):
    """One tree: column j's thresholds are tree_.threshold[tree_.feature == j],
    each weighing the training rows that reach its nodes, counted here by
    routing X down the tree (decision_path); the root's weighs every row."""
    tree = cls(max_depth=4, random_state=0).fit(X, y)
    reached = np.asarray(tree.decision_path(X).sum(axis=0)).ravel()
    split = tree.tree_.feature >= 0
    expected = _tally(
        tree.tree_.feature[split], tree.tree_.threshold[split], reached[split]
    )
    got = split_thresholds(tree, X)
    _assert_same(got, expected)
    assert 3 not in got  # the constant column
    assert np.all(np.diff(got[0][0]) > 0)
    thresholds, rows = got[tree.tree_.feature[0]]
    assert rows[thresholds == tree.tree_.threshold[0]].item() >= N


@pytest.mark.parametrize(
    ("model", "y"),
    [
        (RandomForestRegressor(n_estimators=4, max_depth=3, random_state=0), Y),
        (ExtraTreesRegressor(n_estimators=4, max_depth=3, random_state=0), Y),
        (RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0), YC),
        (ExtraTreesClassifier(n_estimators=4, max_depth=3, random_state=0), YC),
        (GradientBoostingRegressor(n_estimators=4, max_depth=2, random_state=0), Y),
        (GradientBoostingClassifier(n_estimators=4, max_depth=2, random_state=0), YC),
        (AdaBoostRegressor(n_estimators=4, random_state=0), Y),
    ],
    ids=["rf", "et", "rf-clf", "et-clf", "gb", "gb-clf", "ada"],
)
def test_ensemble_thresholds_are_every_member_split(model, y):
    """Every split node of every tree (and stage and class) is counted once,
    with its weighted_n_node_samples."""
    model.fit(X, y)
    if isinstance(model, GradientBoostingClassifier):
        assert np.shape(model.estimators_) == (4, 3)  # stages by classes
    got = split_thresholds(model, X)
    _assert_same(got, _members_reference(np.ravel(model.estimators_)))
    assert 3 not in got


@pytest.mark.parametrize(
    ("model", "y"),
    [
        (RandomForestRegressor(n_estimators=5, max_depth=3, random_state=0), Y),
        (RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0), YB),
        (GradientBoostingRegressor(n_estimators=5, max_depth=2, random_state=0), Y),
        (HistGradientBoostingRegressor(max_iter=5, max_depth=2, random_state=0), Y),
        (HistGradientBoostingClassifier(max_iter=5, max_depth=2, random_state=0), YC),
        (BaggingRegressor(DecisionTreeRegressor(max_depth=3), 5, random_state=0), Y),
    ],
    ids=["rf", "rf-clf", "gb", "hgb", "hgb-clf", "bagging"],
)
def test_step_target_puts_the_top_threshold_at_the_step(model, y):
    """Where the target jumps, every tree cuts, near its root: x0's most used
    threshold is there, nearly every training row of the 5 trees or stages
    passing through it (a forest tree whose root may not pick x0 cuts it
    lower); x3, constant, is absent."""
    got = split_thresholds(model.fit(X, y), X)
    _assert_top_at_the_step(got[0])
    assert got[0][1].max() >= 4 * N
    assert 3 not in got


def test_hist_gradient_boosting_thresholds_are_its_numeric_nodes():
    """HistGradientBoosting: every numeric node of every predictor, by class,
    with its count of training rows."""
    model = HistGradientBoostingClassifier(max_iter=3, max_depth=3, random_state=0)
    model.fit(X, YC)
    assert np.shape(model._predictors) == (3, 3)  # stages by classes
    _assert_same(split_thresholds(model, X), _hgb_reference(model))


def test_hist_gradient_boosting_skips_categorical_splits_and_maps_columns():
    """With a categorical column HGB reorders its input (categories first):
    thresholds still land on the raw columns, and categorical splits are none."""
    frame = pd.DataFrame(
        {
            "x0": X[:, 0],
            "x1": X[:, 1],
            "color": pd.Categorical(np.where(X[:, 2] > 0.5, "red", "blue")),
        }
    )
    y = Y + 3.0 * (frame["color"] == "red")
    model = HistGradientBoostingRegressor(max_iter=5, max_depth=2, random_state=0)
    model.fit(frame, y)
    nodes = np.concatenate([p.nodes for stage in model._predictors for p in stage])
    assert nodes["is_categorical"].any()
    got = split_thresholds(model, frame)
    assert set(got) <= {0, 1}
    # The model's columns: color, x0, x1.
    _assert_same(got, _hgb_reference(model, mapping={1: 0, 2: 1}))
    _assert_top_at_the_step(got[0])


@pytest.mark.parametrize("cls", [BaggingRegressor, BaggingClassifier])
def test_bagging_maps_member_features_to_columns(cls):
    """A bagged tree trained on columns [c0, c1] reports its feature i as c_i."""
    tree = DecisionTreeRegressor if cls is BaggingRegressor else DecisionTreeClassifier
    model = cls(tree(max_depth=3), n_estimators=6, max_features=2, random_state=0)
    model.fit(X, Y if cls is BaggingRegressor else YC)
    subsets = [list(s) for s in model.estimators_features_]
    assert any(s != [0, 1] for s in subsets)  # the mapping matters
    expected = _members_reference(model.estimators_, subsets)
    _assert_same(split_thresholds(model, X), expected)


def test_frozen_model_is_unwrapped():
    forest = RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0)
    forest.fit(X, Y)
    expected = _members_reference(forest.estimators_)
    _assert_same(split_thresholds(FrozenEstimator(forest), X), expected)


@pytest.mark.parametrize(
    "model",
    [
        LinearRegression(),
        KNeighborsRegressor(n_neighbors=3),
        Pipeline([("scale", StandardScaler()), ("ridge", Ridge())]),
    ],
    ids=["linear", "knn", "pipeline-ridge"],
)
def test_unsupported_models_give_none(model):
    assert split_thresholds(model.fit(X, Y), X) is None


# ----------------------------------------------------------------------
# 2. Pipelines: transformed columns back to raw columns
# ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def frame():
    """A string column, three numeric ones (x3 only scaled) and a constant."""
    color = np.where(X[:, 2] > 0.5, "red", "blue")
    return pd.DataFrame(
        {
            "color": color,
            "x0": X[:, 0],
            "x1": X[:, 1],
            "x3": _RNG.uniform(size=N),
            "const": 1.0,
        }
    )


@pytest.fixture(scope="module")
def pipeline(frame):
    encode = ColumnTransformer(
        [
            ("onehot", OneHotEncoder(), ["color"]),
            ("scaled", StandardScaler(), ["x3"]),
            ("numeric", "passthrough", ["x0", "x1", "const"]),
        ]
    )
    y = Y + 2.0 * (frame["color"] == "red") + 3.0 * frame["x3"]
    forest = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0)
    return Pipeline([("encode", encode), ("forest", forest)]).fit(frame, y)


def test_pipeline_thresholds_are_on_the_raw_columns(pipeline, frame):
    """Passed-through columns map to their raw positions (x0 -> 1, x1 -> 2);
    one-hot and scaled columns, though split on, match no raw column."""
    transformed = pipeline[:-1].transform(frame)
    inner = split_thresholds(pipeline[-1], transformed)
    # Transformed layout: blue, red, scaled x3, x0, x1, const.
    assert {0, 1, 2} & set(inner)  # the forest does split on what is dropped
    got = split_thresholds(pipeline, frame)
    assert set(got) == {1, 2}
    _assert_same(got, {1: inner[3], 2: inner[4]})
    expected = _members_reference(pipeline[-1].estimators_, mapping={3: 1, 4: 2})
    _assert_same(got, expected)
    _assert_top_at_the_step(got[1])
    _assert_same(split_thresholds(FrozenEstimator(pipeline), frame), got)


def test_pipeline_matches_on_the_first_rows_only(pipeline, frame):
    """The column match reads at most 2000 rows: a long input gives the same."""
    long = pd.concat([frame] * 15, ignore_index=True)
    assert len(long) > 2000
    _assert_same(split_thresholds(pipeline, long), split_thresholds(pipeline, frame))


def test_pipeline_with_sparse_output_maps_the_same(pipeline, frame):
    """A ColumnTransformer that outputs a sparse matrix maps the same way."""
    sparse = clone(pipeline).set_params(encode__sparse_threshold=1.0)
    y = Y + 2.0 * (frame["color"] == "red") + 3.0 * frame["x3"]
    sparse.fit(frame, y)
    transformed = sparse[:-1].transform(frame)
    assert hasattr(transformed, "toarray")
    inner = split_thresholds(sparse[-1], transformed)
    got = split_thresholds(sparse, frame)
    _assert_same(got, {1: inner[3], 2: inner[4]})
    expected = _members_reference(sparse[-1].estimators_, mapping={3: 1, 4: 2})
    _assert_same(got, expected)


def test_pipeline_on_an_object_array_with_missing_values_maps_columns():
    """An object array (strings and numbers) whose numeric columns hold NaN:
    passed-through columns still match theirs, NaN matching NaN."""
    raw = np.empty((N, 3), dtype=object)
    raw[:, 0] = np.where(X[:, 2] > 0.5, "red", "blue")
    raw[:, 1] = np.where(np.arange(N) % 10 == 0, np.nan, X[:, 0])
    raw[:, 2] = X[:, 1]
    encode = ColumnTransformer(
        [("onehot", OneHotEncoder(), [0])], remainder="passthrough"
    )
    model = HistGradientBoostingRegressor(max_iter=8, max_depth=3, random_state=0)
    pipe = Pipeline([("encode", encode), ("hgb", model)])
    pipe.fit(raw, Y + 2.0 * (raw[:, 0] == "red"))
    # Transformed layout: blue, red, raw column 1, raw column 2.
    inner = split_thresholds(pipe[-1], pipe[:-1].transform(raw))
    assert {0, 1} & set(inner) and {2, 3} <= set(inner)
    got = split_thresholds(pipe, raw)
    _assert_same(got, {1: inner[2], 2: inner[3]})
    _assert_same(got, _hgb_reference(pipe[-1], mapping={2: 1, 3: 2}))
    _assert_top_at_the_step(got[1])


def test_pipeline_sums_the_rows_of_copies_of_a_raw_column():
    """Two passed-through copies of x0 both map to it: its thresholds are
    those of both, the rows of a threshold both use summed."""
    encode = ColumnTransformer(
        [("copy", "passthrough", [0]), ("numeric", "passthrough", [0, 1])]
    )
    forest = RandomForestRegressor(n_estimators=6, max_depth=3, random_state=0)
    pipe = Pipeline([("encode", encode), ("forest", forest)]).fit(X, Y)
    # Transformed layout: x0, x0, x1.
    inner = split_thresholds(pipe[-1], pipe[:-1].transform(X))
    assert {0, 1} <= set(inner)  # the forest splits on both copies
    got = split_thresholds(pipe, X)
    expected = _members_reference(forest.estimators_, mapping={0: 0, 1: 0, 2: 1})
    _assert_same(got, expected)
    _assert_top_at_the_step(got[0])


def test_pipeline_with_only_scaled_columns_gives_none():
    forest = RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0)
    pipe = Pipeline([("scale", StandardScaler()), ("forest", forest)]).fit(X, Y)
    assert split_thresholds(pipe, X) is None


# ----------------------------------------------------------------------
# 3. XGBoost and LightGBM thresholds
# ----------------------------------------------------------------------
def _xgboost_splits(model):
    """The numeric split rows of ``trees_to_dataframe``."""
    table = model.get_booster().trees_to_dataframe()
    return table[(table["Feature"] != "Leaf") & table["Category"].isna()]


def _xgboost_reference(model, columns):
    """Numeric splits from ``trees_to_dataframe``, by column position, rows
    their ``Cover`` (hessian sum)."""
    table = _xgboost_splits(model)
    position = {name: i for i, name in enumerate(columns)}
    return _tally(table["Feature"].map(position), table["Split"], table["Cover"])


def _lightgbm_splits(model):
    """The numeric split rows of ``trees_to_dataframe``."""
    table = model.booster_.trees_to_dataframe()
    return table[table["decision_type"] == "<="]


def _lightgbm_reference(model, columns):
    """Numeric splits from ``trees_to_dataframe``, by column position, rows
    their ``count``."""
    table = _lightgbm_splits(model)
    position = {name: i for i, name in enumerate(columns)}
    return _tally(
        table["split_feature"].map(position), table["threshold"], table["count"]
    )


def _assert_close(got, expected):
    """As printed by trees_to_dataframe: equal to about 7 digits."""
    assert sorted(got) == sorted(expected)
    for j, (thresholds, rows) in expected.items():
        assert got[j][1].dtype == np.float64
        np.testing.assert_allclose(got[j][0], thresholds, rtol=1e-6)
        np.testing.assert_allclose(got[j][1], rows, rtol=1e-6)


@pytest.fixture(scope="module")
def mixed_frame():
    """Numeric columns and a pandas categorical one."""
    return pd.DataFrame(
        {
            "x0": X[:, 0],
            "x1": X[:, 1],
            "color": pd.Categorical(np.where(X[:, 2] > 0.5, "red", "blue")),
            "const": 1.0,
        }
    )


def test_xgboost_thresholds_are_its_numeric_splits(mixed_frame):
    xgb = pytest.importorskip("xgboost")
    y = Y + 3.0 * (mixed_frame["color"] == "red")
    model = xgb.XGBRegressor(
        n_estimators=5, max_depth=3, enable_categorical=True, n_jobs=1
    ).fit(mixed_frame, y)
    table = model.get_booster().trees_to_dataframe()
    assert table["Category"].notna().any()  # there are categorical splits
    got = split_thresholds(model, mixed_frame)
    _assert_close(got, _xgboost_reference(model, mixed_frame.columns))
    assert set(got) <= {0, 1}
    _assert_top_at_the_step(got[0])


def test_xgboost_classifier_thresholds_count_every_class_tree():
    xgb = pytest.importorskip("xgboost")
    model = xgb.XGBClassifier(n_estimators=3, max_depth=2, n_jobs=1).fit(X, YC)
    assert _xgboost_splits(model)["Tree"].nunique() == 3 * 3  # rounds by classes
    got = split_thresholds(model, X)
    _assert_close(got, _xgboost_reference(model, [f"f{i}" for i in range(4)]))


def test_xgboost_linear_booster_gives_none():
    xgb = pytest.importorskip("xgboost")
    model = xgb.XGBRegressor(booster="gblinear", n_estimators=2, n_jobs=1).fit(X, Y)
    assert split_thresholds(model, X) is None
    assert available_features(model) == []


def test_lightgbm_thresholds_are_its_numeric_splits(mixed_frame):
    lgb = pytest.importorskip("lightgbm")
    y = Y + 3.0 * (mixed_frame["color"] == "red")
    model = lgb.LGBMRegressor(
        n_estimators=5, num_leaves=6, min_child_samples=5, verbose=-1, n_jobs=1
    ).fit(mixed_frame, y)
    table = model.booster_.trees_to_dataframe()
    assert (table["decision_type"] == "==").any()  # there are categorical splits
    got = split_thresholds(model, mixed_frame)
    _assert_close(got, _lightgbm_reference(model, mixed_frame.columns))
    assert set(got) <= {0, 1}
    _assert_top_at_the_step(got[0])


def test_lightgbm_classifier_thresholds_count_every_class_tree():
    lgb = pytest.importorskip("lightgbm")
    model = lgb.LGBMClassifier(n_estimators=3, num_leaves=4, verbose=-1, n_jobs=1)
    model.fit(X, YC)
    assert _lightgbm_splits(model)["tree_index"].nunique() == 3 * 3
    columns = model.booster_.feature_name()
    got = split_thresholds(model, X)
    _assert_close(got, _lightgbm_reference(model, columns))
    # Each of the 9 trees' roots splits all 160 rows.
    assert sum(rows.sum() for _, rows in got.values()) >= 3 * 3 * N


# ----------------------------------------------------------------------
# 4. Per-tree features of XGBoost and LightGBM
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("task", "y", "width"),
    [("regressor", Y, 1), ("binary", YB, 1), ("3 classes", YC, 3)],
)
def test_xgboost_tree_matrix_sums_to_the_margin(task, y, width):
    """One column per tree (per class), its contribution: the columns sum to
    the margin less the base score, and each round's to the staged margins'
    difference."""
    xgb = pytest.importorskip("xgboost")
    cls = xgb.XGBRegressor if task == "regressor" else xgb.XGBClassifier
    model = cls(n_estimators=6, max_depth=2, n_jobs=1).fit(X, y)
    got = tree_matrix(model, X)
    assert got.shape == (N, 6 * width)
    per_round = got.reshape(N, 6, width)
    margin = model.predict(X, output_margin=True).reshape(N, width)
    base = margin - per_round.sum(axis=1)
    np.testing.assert_allclose(base, np.broadcast_to(base[0], base.shape), atol=1e-5)
    for k in range(1, 6):
        staged = [
            model.predict(X, output_margin=True, iteration_range=(0, stop))
            for stop in (k, k + 1)
        ]
        step = (staged[1] - staged[0]).reshape(N, width)
        np.testing.assert_allclose(per_round[:, k], step, atol=1e-5)


@pytest.mark.parametrize(
    ("task", "y", "width"),
    [("regressor", Y, 1), ("binary", YB, 1), ("3 classes", YC, 3)],
)
def test_lightgbm_tree_matrix_is_leaf_outputs_summing_to_raw_score(task, y, width):
    """Each column is the tree's get_leaf_output at the row's leaf; they sum to
    the raw score (LightGBM's initial score is inside the first trees)."""
    lgb = pytest.importorskip("lightgbm")
    cls = lgb.LGBMRegressor if task == "regressor" else lgb.LGBMClassifier
    model = cls(n_estimators=4, num_leaves=4, verbose=-1, n_jobs=1).fit(X, y)
    got = tree_matrix(model, X)
    assert got.shape == (N, 4 * width)
    leaves = model.predict(X, pred_leaf=True)
    expected = np.array(
        [
            [model.booster_.get_leaf_output(t, int(leaf)) for t, leaf in enumerate(row)]
            for row in leaves
        ]
    )
    np.testing.assert_array_equal(got, expected)
    raw = model.predict(X, raw_score=True).reshape(N, width)
    np.testing.assert_allclose(got.reshape(N, 4, width).sum(axis=1), raw, rtol=1e-12)


def test_lightgbm_linear_tree_matrix_sums_to_raw_score():
    """Linear trees' leaves are not constants: the columns still sum to it."""
    lgb = pytest.importorskip("lightgbm")
    model = lgb.LGBMRegressor(
        n_estimators=4, num_leaves=4, linear_tree=True, verbose=-1, n_jobs=1
    ).fit(X, Y)
    got = tree_matrix(model, X)
    assert got.shape == (N, 4)
    np.testing.assert_allclose(
        got.sum(axis=1), model.predict(X, raw_score=True), rtol=1e-10
    )


# LightGBM 4.7 deprecates eval_set for eval_X/eval_y, which 4.0 lacks.
@pytest.mark.filterwarnings("ignore:The argument 'eval_set' is deprecated")
@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_early_stopped_tree_matrix_has_the_trees_predict_uses(library):
    """After early stopping, predict stops at the best iteration: so do the
    'trees' columns, which still sum to the margin (up to the base score)."""
    module = pytest.importorskip(library)
    noisy = Y[100:] + np.random.default_rng(1).normal(scale=2.0, size=N - 100)
    if library == "xgboost":
        model = module.XGBRegressor(
            n_estimators=60, max_depth=2, early_stopping_rounds=2, n_jobs=1
        )
        model.fit(X[:100], Y[:100], eval_set=[(X[100:], noisy)], verbose=False)
        used = model.best_iteration + 1
        margin = model.predict(X, output_margin=True)
    else:
        model = module.LGBMRegressor(n_estimators=60, num_leaves=4, verbose=-1)
        model.set_params(n_jobs=1).fit(
            X[:100],
            Y[:100],
            eval_set=[(X[100:], noisy)],
            callbacks=[module.early_stopping(2, verbose=False)],
        )
        used = model.best_iteration_
        margin = model.predict(X, raw_score=True)
    assert used < 60
    got = tree_matrix(model, X)
    assert got.shape == (N, used)
    base = margin - got.sum(axis=1)
    np.testing.assert_allclose(base, base[0], atol=1e-5)
    if library == "lightgbm":
        np.testing.assert_allclose(base, 0.0, atol=1e-12)


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_boosting_library_teachers_offer_trees(library):
    """The teacher adapter lists and serves 'trees' for both libraries."""
    module = pytest.importorskip(library)
    cls = module.XGBRegressor if library == "xgboost" else module.LGBMRegressor
    extra = {"n_jobs": 1} if library == "xgboost" else {"n_jobs": 1, "verbose": -1}
    model = cls(n_estimators=5, max_depth=2, **extra).fit(X, Y)
    assert available_features(model) == ["trees"]
    assert available_features(FrozenEstimator(model)) == ["trees"]
    np.testing.assert_array_equal(
        as_teacher(model).features(X, "trees"), tree_matrix(model, X)
    )


def test_unfitted_boosting_models_have_no_features():
    xgb = pytest.importorskip("xgboost")
    lgb = pytest.importorskip("lightgbm")
    assert available_features(xgb.XGBRegressor()) == []
    assert available_features(lgb.LGBMClassifier()) == []


def test_distilled_regressor_matches_xgboost_tree_features():
    xgb = pytest.importorskip("xgboost")
    teacher = xgb.XGBRegressor(n_estimators=10, max_depth=2, n_jobs=1).fit(X, Y)
    terms = [("fit", FeatureMatching(teacher_layer="trees", n_components=4))]
    model = DistilledRegressor(teacher, terms=terms, **TINY).fit(X, Y)
    assert np.isfinite(model.history_[:, "train_fit"]).all()


def test_distilled_classifier_matches_lightgbm_tree_features():
    lgb = pytest.importorskip("lightgbm")
    teacher = lgb.LGBMClassifier(n_estimators=4, num_leaves=4, verbose=-1, n_jobs=1)
    teacher.fit(X, YC)
    terms = [("fit", FeatureMatching(teacher_layer="trees", n_components=4))]
    model = DistilledClassifier(teacher, terms=terms, **TINY).fit(X, YC)
    assert np.isfinite(model.history_[:, "train_fit"]).all()
