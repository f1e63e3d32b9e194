"""The default student's numeric encoding: bins from the teacher, edge cases,
exports, and out-of-bag teacher labels."""

import numpy as np
import pandas as pd
import pytest
import torch
from _shared import fast
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.students import EncodingSpec, NumericEncoding
from sklearn_kd.teachers import PREDICTION, as_teacher

# More epochs and a larger step than FAST: the thresholds below were measured
# with these.
FAST = fast(max_epochs=8, lr=3e-3)


def raw_edges(model, column):
    """Bin edges of a student input column, back in the units of ``X``."""
    spec = model.encoding_
    prep = model.preprocessor_
    i = spec.columns.index(column)
    return np.asarray(spec.edges[i]) * prep.scale_[column] + prep.mean_[column]


@pytest.fixture(scope="module")
def step_data():
    """y steps at x0 = 0.3 and x0 = 0.7; x1 is noise, x2 constant."""
    rng = np.random.default_rng(0)
    X = np.column_stack(
        [rng.uniform(0, 1, 1200), rng.normal(size=1200), np.full(1200, 2.0)]
    )
    y = np.where(X[:, 0] > 0.3, 1.0, 0.0) + np.where(X[:, 0] > 0.7, 2.0, 0.0)
    return X, y + rng.normal(scale=0.05, size=len(y))


def test_bins_come_from_the_forests_thresholds(step_data):
    X, y = step_data
    forest = RandomForestRegressor(n_estimators=20, random_state=0).fit(X, y)
    model = DistilledRegressor(forest, n_bins=8, **FAST).fit(X, y)
    assert model.bins_source_ == "splits"
    used = {
        float(t)
        for tree in forest.estimators_
        for t, f in zip(tree.tree_.threshold, tree.tree_.feature, strict=True)
        if f == 0
    }
    edges = raw_edges(model, 0)
    inner = edges[1:-1]
    # Every inner edge is a threshold the forest really splits x0 on ...
    for edge in inner:
        assert min(abs(edge - t) for t in used) < 1e-6
    # ... and the two steps are among them.
    assert np.abs(inner - 0.3).min() < 0.02
    assert np.abs(inner - 0.7).min() < 0.02
    # The constant column passes through unencoded.
    assert 2 not in model.encoding_.columns


def test_a_column_the_teacher_never_splits_on_passes_through(step_data):
    X, y = step_data
    stumps = GradientBoostingRegressor(
        n_estimators=20, max_depth=1, random_state=0
    ).fit(X, y)
    model = DistilledRegressor(stumps, **FAST).fit(X, y)
    assert model.bins_source_ == "splits"
    assert model.encoding_.columns == (0,)
    width = model.student_.module_.layers.hidden_1[0].in_features
    assert width == len(model.encoding_.edges[0]) - 1 + 2


def test_an_ensemble_of_teachers_bins_on_every_members_splits(step_data):
    X, y = step_data
    forest = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)
    stumps = GradientBoostingRegressor(n_estimators=5, max_depth=1, random_state=0).fit(
        X, y
    )
    both = as_teacher([forest, stumps]).split_thresholds(X)
    for member in (forest, stumps):
        for column, (thresholds, rows) in (
            as_teacher(member).split_thresholds(X).items()
        ):
            assert set(thresholds) <= set(both[column][0])
            where = np.searchsorted(both[column][0], thresholds)
            assert (both[column][1][where] >= rows).all()
    model = DistilledRegressor([forest, stumps], **FAST).fit(X, y)
    assert model.bins_source_ == "splits"


def test_a_step_teacher_is_followed_better_than_without_encoding(step_data):
    X, y = step_data
    rng = np.random.default_rng(1)
    X_test = np.column_stack(
        [rng.uniform(0, 1, 600), rng.normal(size=600), np.full(600, 2.0)]
    )
    # A forest of step functions: the teacher's steps at 0.3 and 0.7.
    teacher = RandomForestRegressor(
        n_estimators=30, min_samples_leaf=3, random_state=0
    ).fit(X, y)
    fidelity = {}
    for encoding in ("none", "piecewise_linear"):
        model = DistilledRegressor(
            teacher, alpha=0.0, numeric_encoding=encoding, **FAST
        ).fit(X, y)
        fidelity[encoding] = r2_score(teacher.predict(X_test), model.predict(X_test))
    assert fidelity["piecewise_linear"] > fidelity["none"] + 0.03
    assert fidelity["piecewise_linear"] > 0.96


def test_bins_from_the_teachers_outputs_for_any_teacher(step_data):
    X, y = step_data
    forest = RandomForestRegressor(n_estimators=20, random_state=0).fit(X, y)
    model = DistilledRegressor(forest.predict, n_bins=6, **FAST).fit(X, y)
    assert model.bins_source_ == "outputs"
    inner = raw_edges(model, 0)[1:-1]
    assert np.abs(inner - 0.3).min() < 0.03
    assert np.abs(inner - 0.7).min() < 0.03
    assert len(inner) <= 5


def test_a_student_from_scratch_bins_on_the_labels(step_data):
    X, y = step_data
    forest = RandomForestRegressor(n_estimators=10, random_state=0).fit(X, y)
    model = DistilledRegressor(forest, alpha=1.0, beta=0.0, **FAST).fit(X, y)
    assert model.bins_source_ == "labels"


def test_quantile_bins_and_none(step_data):
    X, y = step_data
    model = DistilledRegressor(
        lambda X: X[:, 0], binning="quantile", n_bins=4, **FAST
    ).fit(X, y)
    assert model.bins_source_ == "quantile"
    np.testing.assert_allclose(
        raw_edges(model, 0), np.quantile(X[:, 0], [0, 0.25, 0.5, 0.75, 1]), atol=1e-6
    )
    plain = DistilledRegressor(lambda X: X[:, 0], numeric_encoding="none", **FAST)
    plain.fit(X, y)
    assert plain.bins_source_ is None
    assert plain.student_.module_.layers.hidden_1[0].in_features == X.shape[1]


def test_binning_splits_needs_a_tree_teacher(step_data):
    X, y = step_data
    with pytest.raises(ValueError, match="binning='splits' needs a tree-ensemble"):
        DistilledRegressor(lambda X: X[:, 0], binning="splits", **FAST).fit(X, y)


def test_encoding_is_monotone_and_extrapolates():
    spec = EncodingSpec(
        "piecewise_linear",
        columns=(0, 1),
        edges=((-1.0, 0.0, 2.0), (0.0, 1.0, 2.0, 3.0)),
    )
    module = NumericEncoding(3, spec)
    x = torch.linspace(-5, 5, 201)
    X = torch.stack([x, x, x], dim=1)
    out = module(X)
    assert out.shape == (201, 2 + 3 + 1)
    assert (out.diff(dim=0) >= -1e-7).all()
    # Outside the fitted range the end components go on linearly.
    assert out[0, 0] == pytest.approx(-4.0)  # (-5 - -1) / 1
    assert out[-1, 1] == pytest.approx(2.5)  # (5 - 0) / 2
    # The third column passes through as it is.
    torch.testing.assert_close(out[:, -1], x)


def test_edge_cases_fit_and_predict_finite():
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame(
        {
            "few": rng.integers(0, 3, n),  # an integer column with 3 values
            "heavy": rng.lognormal(0, 3, n),  # heavy-tailed
            "const": np.ones(n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "x": rng.normal(size=n),
        }
    )
    y = (
        frame["few"]
        + np.log1p(frame["heavy"])
        + frame["x"]
        + (frame["colour"] == "red")
    )
    forest = RandomForestRegressor(n_estimators=10, random_state=0)
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    teacher = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["colour"]), remainder="passthrough"),
        forest,
    ).fit(frame, y)
    model = DistilledRegressor(teacher, **FAST).fit(frame, y)
    assert model.bins_source_ == "splits"
    prep = model.preprocessor_
    # Numeric inputs first (few, heavy, const, x), one-hot columns after.
    assert set(model.encoding_.columns) <= {0, 1, 3}
    assert 2 not in model.encoding_.columns
    few_edges = raw_edges(model, 0)
    assert few_edges[0] == pytest.approx(0, abs=1e-6)
    assert few_edges[-1] == pytest.approx(2)
    width = model.student_.module_.layers.hidden_1[0].in_features
    n_bins = sum(len(e) - 1 for e in model.encoding_.edges)
    assert width == n_bins + 1 + len(prep.categories_[0])  # const + one-hot
    # Values far outside the fitted range, unseen categories: finite.
    odd = frame.head(5).copy()
    odd["heavy"] = [1e12, -1e3, 0.0, 1e-9, 5e5]
    odd["few"] = [-10, 10, 100, 3, 1]
    odd["colour"] = "purple"
    assert np.isfinite(model.predict(odd)).all()


def test_n_bins_auto_keeps_the_student_with_the_lowest_validation_loss(step_data):
    """With a validation set, 'auto' trains one student per bin count and
    keeps the best on the validation rows: the very student that count alone
    gives. Counts that give the same bins train once; without a validation
    set one student is sized by the rows."""
    X, y = step_data
    forest = RandomForestRegressor(n_estimators=20, random_state=0).fit(X, y)
    model = DistilledRegressor(forest, **FAST).fit(X, y)
    search = model.n_bins_search_
    assert model.early_stopping_ and set(search) <= {8, 16, 32, 64}
    assert len(search) >= 3
    assert model.n_bins_ == min(search, key=search.get)
    assert np.min(model.history_[:, "valid_loss"]) == search[model.n_bins_]
    losses = list(search.values())
    assert len(set(losses)) == len(losses)  # each count trained another student
    alone = DistilledRegressor(forest, n_bins=model.n_bins_, **FAST).fit(X, y)
    assert alone.n_bins_search_ is None and alone.n_bins_ == model.n_bins_
    assert alone.encoding_ == model.encoding_
    np.testing.assert_array_equal(alone.predict(X), model.predict(X))
    # Small boosted trees split on a handful of thresholds: 32 and 64 bins
    # give the same encoding as a smaller count, trained once.
    small_trees = GradientBoostingRegressor(
        n_estimators=12, max_depth=2, random_state=0
    ).fit(X, y)
    few = DistilledRegressor(small_trees, **FAST).fit(X, y)
    assert 8 in few.n_bins_search_ and 64 not in few.n_bins_search_
    # No validation set: one student, about one bin per 50 rows.
    single = DistilledRegressor(forest, early_stopping=False, **FAST).fit(X, y)
    assert single.n_bins_search_ is None and single.n_bins_ == len(X) // 50
    none = DistilledRegressor(forest, numeric_encoding="none", **FAST).fit(X, y)
    assert none.n_bins_ is None and none.n_bins_search_ is None


def test_encoded_width_stays_small():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 40))
    y = X.sum(axis=1)
    model = DistilledRegressor(lambda X: X.sum(axis=1), n_bins=32, **FAST).fit(X, y)
    widths = [len(e) - 1 for e in model.encoding_.edges]
    assert sum(widths) <= 256
    assert max(widths) <= 6
    # One-hot strings count too: 100 of them leave 156 inputs to the bins.
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=3000),
            "b": rng.normal(size=3000),
            "code": [f"c{i % 100}" for i in range(3000)],
        }
    )
    wide = DistilledRegressor(
        lambda Z: Z["a"].to_numpy() + Z["b"].to_numpy(), n_bins=200, **FAST
    ).fit(frame, frame["a"] + frame["b"])
    first = wide.student_.module_.layers.hidden_1[0].in_features
    assert first <= 256
    assert [len(e) - 1 for e in wide.encoding_.edges] == [78, 78]


def test_grid_search_over_the_encoding(step_data):
    X, y = step_data
    forest = RandomForestRegressor(n_estimators=10, random_state=0).fit(X, y)
    search = GridSearchCV(
        DistilledRegressor(forest, **FAST),
        {"numeric_encoding": ["none", "piecewise_linear"], "n_bins": [3, 8]},
        cv=2,
    ).fit(X, y)
    results = search.cv_results_
    scores = dict(
        zip(
            zip(
                results["param_numeric_encoding"], results["param_n_bins"], strict=True
            ),
            results["mean_test_score"],
            strict=True,
        )
    )
    # n_bins changes the encoded student, and only that one.
    assert scores["piecewise_linear", 3] != scores["piecewise_linear", 8]
    assert scores["none", 3] == scores["none", 8]
    assert search.best_params_["numeric_encoding"] == "piecewise_linear"


def test_periodic_encoding_trains():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(500, 3))
    y = np.sin(3 * X[:, 0]) + X[:, 1]
    model = DistilledRegressor(
        lambda X: np.sin(3 * X[:, 0]) + X[:, 1], numeric_encoding="periodic", **FAST
    ).fit(X, y)
    assert model.encoding_.kind == "periodic"
    assert model.bins_source_ is None
    assert np.isfinite(model.predict(X)).all()


def test_a_student_of_your_own_is_not_encoded(step_data):
    from sklearn_kd.students import MLP

    X, y = step_data
    model = DistilledRegressor(lambda X: X[:, 0], student=MLP, **FAST).fit(X, y)
    assert model.encoding_ is None


def test_exports_carry_the_encoding(step_data, tmp_path):
    pytest.importorskip("onnxruntime")
    from sklearn_kd.export import (
        export_onnx,
        export_torchscript,
        load_onnx,
        load_torchscript,
    )

    X, y = step_data
    forest = RandomForestRegressor(n_estimators=10, random_state=0).fit(X, y)
    model = DistilledRegressor(forest, **FAST).fit(X, y)
    assert model.encoding_.columns
    X_odd = np.vstack([X[:50], X[:50] * 5 - 2])  # out-of-range rows too
    expected = model.predict(X_odd)
    export_onnx(model, tmp_path / "m.onnx")
    export_torchscript(model, tmp_path / "m.pt")
    for loaded in (
        load_onnx(tmp_path / "m.onnx"),
        load_torchscript(tmp_path / "m.pt"),
        model.to_deployable(),
    ):
        np.testing.assert_allclose(
            loaded.predict(X_odd), expected, rtol=1e-4, atol=1e-4
        )


# ----------------------------------------------------------------------------
# Out-of-bag teacher labels
# ----------------------------------------------------------------------------


def test_oob_labels_replace_the_in_sample_outputs(regression_split):
    from sklearn_kd._cache import no_cache

    X, _, y, _ = regression_split
    forest = RandomForestRegressor(n_estimators=30, oob_score=True, random_state=0)
    forest.fit(X, y)
    model = DistilledRegressor(forest, teacher_labels="oob", **FAST)
    adapter = as_teacher(forest)
    extra = forest.predict(X[:7])
    signals = {PREDICTION: np.concatenate([forest.predict(X), extra])[:, None]}
    replaced, used = model._out_of_bag(adapter, signals, X, no_cache)
    assert used
    replaced = replaced[PREDICTION]
    np.testing.assert_allclose(replaced[: len(X), 0], forest.oob_prediction_)
    np.testing.assert_allclose(replaced[len(X) :, 0], extra)
    # End to end: another (more honest) set of targets, another student.
    model.fit(X, y)
    assert model.teacher_labels_ == "oob"
    oob = model.predict(X)
    in_sample = DistilledRegressor(forest, teacher_labels="in_sample", **FAST)
    assert in_sample.fit(X, y).teacher_labels_ == "in_sample"
    assert not np.allclose(oob, in_sample.predict(X))


def test_oob_labels_for_a_classifier_follow_its_classes(classification_split):
    X, _, y, _ = classification_split
    labels = np.array(["a", "b", "c"])[y]
    forest = RandomForestClassifier(n_estimators=30, oob_score=True, random_state=0)
    forest.fit(X, labels)
    model = DistilledClassifier(forest, teacher_labels="oob", **FAST).fit(X, labels)
    assert model.score(X, labels) > 0.5
    oob = as_teacher(forest).out_of_bag("logits", X)
    np.testing.assert_allclose(
        np.exp(oob), np.clip(forest.oob_decision_function_, 1e-6, 1), rtol=1e-6
    )


@pytest.mark.parametrize(
    "Forest", [RandomForestRegressor, RandomForestClassifier, ExtraTreesClassifier]
)
def test_oob_outputs_are_rebuilt_as_scikit_learn_computes_them(
    classification_split, Forest
):
    """Without oob_score=True the out-of-bag outputs are rebuilt from the
    bootstrap samples, and equal the ones scikit-learn stores."""
    from sklearn_kd.teachers._oob import fitted_on, forest_out_of_bag

    X, _, y, _ = classification_split
    params = {"n_estimators": 25, "random_state": 0, "max_samples": 0.7}
    if Forest is ExtraTreesClassifier:
        params["bootstrap"] = True
    stored = Forest(oob_score=True, **params).fit(X, y)
    plain = Forest(**params).fit(X, y)
    probabilities = Forest is not RandomForestRegressor
    expected = (
        stored.oob_decision_function_ if probabilities else stored.oob_prediction_
    )
    assert fitted_on(plain, X)
    rebuilt = forest_out_of_bag(plain, X, probabilities=probabilities)
    np.testing.assert_allclose(rebuilt.reshape(expected.shape), expected, rtol=1e-12)
    # The same rows shuffled, or other rows of the same length, are refused.
    order = np.random.default_rng(0).permutation(len(X))
    assert not fitted_on(plain, X[order])
    assert not fitted_on(plain, X + 1e-3)


def test_oob_labels_auto(regression_split):
    """'auto' takes a bootstrap forest's out-of-bag outputs on its own rows
    (also at the end of a Pipeline) and in-sample outputs otherwise."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, _, y, _ = regression_split
    forest = RandomForestRegressor(n_estimators=20, random_state=0).fit(X, y)
    piped = make_pipeline(StandardScaler(), RandomForestRegressor(n_estimators=20))
    piped.fit(X, y)
    boosted = GradientBoostingRegressor(n_estimators=20).fit(X, y)
    no_bootstrap = RandomForestRegressor(n_estimators=20, bootstrap=False).fit(X, y)
    order = np.random.default_rng(0).permutation(len(X))

    def used(teacher, X, y, **params):
        return DistilledRegressor(teacher, **FAST, **params).fit(X, y).teacher_labels_

    assert used(forest, X, y) == "oob"
    assert used(piped, X, y) == "oob"
    assert used(forest, X[order], y[order]) == "in_sample"
    assert used(forest, X[:100], y[:100]) == "in_sample"
    assert used(boosted, X, y) == "in_sample"
    assert used(no_bootstrap, X, y) == "in_sample"
    assert used(lambda X: X[:, 0], X, y) == "in_sample"
    assert used(RandomForestRegressor(n_estimators=5), X, y, teacher_cv=2) == (
        "out_of_fold"
    )
    # The rebuilt labels reach the loss: the same student as with stored ones.
    stored = RandomForestRegressor(n_estimators=20, random_state=0, oob_score=True)
    a = DistilledRegressor(forest, **FAST).fit(X, y).predict(X)
    b = DistilledRegressor(stored.fit(X, y), **FAST).fit(X, y).predict(X)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    in_sample = DistilledRegressor(forest, teacher_labels="in_sample", **FAST)
    assert not np.allclose(a, in_sample.fit(X, y).predict(X), rtol=1e-3)


def test_oob_labels_errors(regression_split, forest):
    X, _, y, _ = regression_split
    plain = forest  # fitted on these rows without oob_score: rebuilt
    assert DistilledRegressor(plain, teacher_labels="oob", **FAST).fit(X, y)
    boosted = GradientBoostingRegressor(n_estimators=10).fit(X, y)
    with pytest.raises(ValueError, match="oob_score=True"):
        DistilledRegressor(boosted, teacher_labels="oob", **FAST).fit(X, y)
    with pytest.raises(ValueError, match="oob_score=True"):
        DistilledRegressor(lambda X: X[:, 0], teacher_labels="oob", **FAST).fit(X, y)
    order = np.random.default_rng(0).permutation(len(X))
    with pytest.raises(ValueError, match="X is not the table the teacher"):
        DistilledRegressor(plain, teacher_labels="oob", **FAST).fit(X[order], y[order])
    from sklearn.ensemble import BaggingRegressor

    other_rows = BaggingRegressor(n_estimators=10, oob_score=True, random_state=0)
    other_rows.fit(X[:100], y[:100])
    with pytest.raises(ValueError, match="for 100 rows but X has"):
        DistilledRegressor(other_rows, teacher_labels="oob", **FAST).fit(X, y)
    with pytest.raises(ValueError, match="choose one"):
        DistilledRegressor(
            RandomForestRegressor(n_estimators=5),
            teacher_labels="oob",
            teacher_cv=3,
            **FAST,
        ).fit(X, y)
    with pytest.raises(ValueError, match="teacher_labels"):
        DistilledRegressor(plain, teacher_labels="oops", **FAST).fit(X, y)
    from sklearn_kd.teachers import TeacherRoute

    route = TeacherRoute.from_staged(plain, n_checkpoints=2)
    with pytest.raises(ValueError, match="a TeacherRoute has one output per"):
        DistilledRegressor(route, teacher_labels="oob", **FAST).fit(X, y)


# ----------------------------------------------------------------------------
# Missing values, as the teacher sees them
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nan_data(regression_split):
    """conftest's Friedman #1 with 10 % of the values missing; missing x0 adds
    3 to y."""
    rng = np.random.default_rng(0)
    X_train, X_test, y_train, y_test = (a.copy() for a in regression_split)
    for X, y in ((X_train, y_train), (X_test, y_test)):
        X[rng.random(X.shape) < 0.1] = np.nan
        y += 3.0 * np.isnan(X[:, 0])
    return X_train, X_test, y_train, y_test


def test_missing_values_reach_the_teacher_and_the_student_encodes_them(
    nan_data, tmp_path
):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer

    X, X_test, y, _ = nan_data
    teacher = HistGradientBoostingRegressor(random_state=0).fit(X, y)
    settings = {**FAST, "max_epochs": 40}
    model = DistilledRegressor(teacher, **settings).fit(X, y)
    assert model.encoding_.missing == tuple(range(X.shape[1]))
    pred = model.predict(X_test)
    nan_rows = np.isnan(X_test).any(axis=1)
    assert nan_rows.sum() > 100
    assert np.isfinite(pred).all()
    # A student that sees imputed values (the teacher still gets NaN) follows
    # the teacher less well: mean imputation hides what "missing" meant.
    imputed = DistilledRegressor(teacher, preprocessor=SimpleImputer(), **settings).fit(
        X, y
    )
    truth = teacher.predict(X_test)
    assert r2_score(truth, pred) > r2_score(truth, imputed.predict(X_test)) + 0.02
    # The same through ONNX and the deployed student.
    pytest.importorskip("onnxruntime")
    from sklearn_kd.export import export_onnx, load_onnx

    export_onnx(model, tmp_path / "nan.onnx")
    loaded = load_onnx(tmp_path / "nan.onnx")
    np.testing.assert_allclose(loaded.predict(X_test), pred, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(model.to_deployable().predict(X_test), pred)


def test_nan_where_there_was_none_at_fit_fails_at_predict(nan_data):
    X, X_test, y, _ = nan_data
    full = np.nan_to_num(X)
    model = DistilledRegressor(lambda Z: np.nansum(Z, axis=1), **FAST).fit(full, y)
    assert model.encoding_.missing == ()
    with pytest.raises(ValueError, match=r"NaN in column 0 .*no missing values"):
        model.predict(X_test)


def test_nan_needs_the_default_student(nan_data):
    from sklearn_kd.students import MLP

    X, _, y, _ = nan_data
    with pytest.raises(ValueError, match="only the default student"):
        DistilledRegressor(lambda Z: np.nansum(Z, axis=1), student=MLP, **FAST).fit(
            X, y
        )


def test_infinity_is_still_an_error(nan_data):
    X, _, y, _ = nan_data
    X = X.copy()
    X[3, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        DistilledRegressor(lambda Z: np.nansum(Z, axis=1), **FAST).fit(X, y)


def test_missing_values_through_a_user_preprocessor_and_its_export(tmp_path):
    pytest.importorskip("onnxruntime")
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.preprocessing import FunctionTransformer

    from sklearn_kd.export import export_onnx, load_onnx

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = X.sum(axis=1)
    X[rng.random(X.shape) < 0.1] = np.nan
    teacher = HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(X, y)
    model = DistilledRegressor(
        teacher, preprocessor=FunctionTransformer(np.negative), **FAST
    ).fit(X, y)
    assert model.encoding_.missing == (0, 1, 2)
    export_onnx(model, tmp_path / "m.onnx")
    loaded = load_onnx(tmp_path / "m.onnx", allow_pickle=True)
    np.testing.assert_allclose(
        loaded.predict(X), model.predict(X), rtol=1e-4, atol=1e-4
    )
