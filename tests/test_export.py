"""Deployable students: small, teacher-free, and predicting what the distiller does."""

import pickle
import re
import sys
import warnings

import numpy as np
import pytest
import torch
from _shared import FAST
from sklearn.compose import make_column_transformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OrdinalEncoder, StandardScaler

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.export import (
    DeployedClassifier,
    DeployedRegressor,
    deploy,
    export_onnx,
    export_torchscript,
    load_onnx,
    load_torchscript,
)


@pytest.fixture(scope="module")
def diamonds(diamonds):
    """The first 1,000 of conftest's rows; log(price) is the target."""
    rows = diamonds.iloc[:1000]
    return rows.drop(columns="price"), np.log(rows["price"].to_numpy(dtype=float))


@pytest.fixture(scope="module")
def fitted_regressor(diamonds):
    X, y = diamonds
    teacher = make_pipeline(
        make_column_transformer(
            (OrdinalEncoder(), ["cut", "color", "clarity"]), remainder="passthrough"
        ),
        RandomForestRegressor(n_estimators=50, random_state=0),
    ).fit(X, y)
    return DistilledRegressor(teacher, **FAST).fit(X, y)


def test_deployed_regressor_predicts_like_distiller_on_dataframes(
    fitted_regressor, diamonds
):
    """Same predictions and score on a DataFrame with string columns, also after
    a pickle round trip."""
    X, y = diamonds
    deployed = pickle.loads(pickle.dumps(fitted_regressor.to_deployable()))
    assert isinstance(deployed, DeployedRegressor)
    np.testing.assert_array_equal(deployed.predict(X), fitted_regressor.predict(X))
    np.testing.assert_array_equal(
        deployed.predict(X.iloc[:1]), fitted_regressor.predict(X.iloc[:1])
    )
    assert deployed.score(X, y) == fitted_regressor.score(X, y)


def test_deployed_student_holds_no_teacher(fitted_regressor):
    """The pickle has no forest in it and is a tiny fraction of the distiller's."""
    blob = pickle.dumps(fitted_regressor.to_deployable())
    assert b"RandomForest" not in blob and b"DecisionTree" not in blob
    assert len(blob) * 30 < len(pickle.dumps(fitted_regressor))
    assert not hasattr(fitted_regressor.to_deployable(), "teacher_")


def test_deployed_classifier_on_arrays():
    """predict_proba, predict and classes_ match on array input, string labels."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = np.where(X[:, 0] > 0, "yes", "no")
    teacher = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    model = DistilledClassifier(teacher, **FAST).fit(X, y)
    deployed = pickle.loads(pickle.dumps(deploy(model)))
    assert isinstance(deployed, DeployedClassifier)
    np.testing.assert_array_equal(deployed.classes_, model.classes_)
    np.testing.assert_array_equal(deployed.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(deployed.predict(X), model.predict(X))


def test_deployed_student_cannot_be_refitted_and_checks_input(
    fitted_regressor, diamonds
):
    """fit raises; wrong input raises the distiller's errors."""
    X, y = diamonds
    deployed = fitted_regressor.to_deployable()
    with pytest.raises(TypeError, match="cannot be fitted"):
        deployed.fit(X, y)
    with pytest.raises(ValueError, match="feature"):
        deployed.predict(X.drop(columns=["carat"]))


def test_deploy_needs_a_fitted_distiller():
    """An unfitted distiller has nothing to deploy."""
    with pytest.raises(NotFittedError):
        deploy(DistilledRegressor(RandomForestRegressor()))


def test_deployed_pickle_stores_float32_weights(fitted_regressor, diamonds):
    """The float64 inference copy pickles as float32 and comes back bit for bit."""
    X, _ = diamonds
    deployed = fitted_regressor.to_deployable()
    stored = deployed.__getstate__()["_inference_module_"]
    assert all(p.dtype == torch.float32 for p in stored.parameters())
    restored = pickle.loads(pickle.dumps(deployed))
    for p in restored._inference_module_.parameters():
        assert p.dtype == torch.float64
    np.testing.assert_array_equal(restored.predict(X), deployed.predict(X))


# ----------------------------------------------------------------------
# ONNX and TorchScript: the exported graph predicts what the distiller does
# ----------------------------------------------------------------------

EXPORT = {"onnx": export_onnx, "torchscript": export_torchscript}
LOAD = {"onnx": load_onnx, "torchscript": load_torchscript}
FORMATS = ["onnx", "torchscript"]


def assert_close(actual, expected):
    """float32 graph against the float64 student: relative 1e-5, and an absolute
    tolerance scaled to the outputs' magnitude for values near zero."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    np.testing.assert_allclose(
        actual, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max()
    )


class _Exports:
    """Each (model, format) exported once per module (an ONNX export takes
    seconds) and loaded back."""

    def __init__(self, directory):
        self.directory = directory
        self.loaded = {}

    def __call__(self, name, model, fmt):
        if (name, fmt) not in self.loaded:
            EXPORT[fmt](model, self.path(name, fmt))
            self.loaded[name, fmt] = LOAD[fmt](self.path(name, fmt))
        return self.loaded[name, fmt]

    def path(self, name, fmt):
        return self.directory / f"{name}.{fmt}"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return _Exports(tmp_path_factory.mktemp("exported"))


@pytest.fixture(scope="module")
def string_classifier(diamonds):
    """Three price bands with string labels, from the diamonds DataFrame."""
    X, log_price = diamonds
    y = np.where(log_price < 7, "cheap", np.where(log_price < 8.5, "mid", "dear"))
    teacher = make_pipeline(
        make_column_transformer(
            (OrdinalEncoder(), ["cut", "color", "clarity"]), remainder="passthrough"
        ),
        RandomForestClassifier(n_estimators=20, random_state=0),
    ).fit(X, y)
    return DistilledClassifier(teacher, **FAST).fit(X, y)


@pytest.fixture(scope="module")
def array_data():
    """Two targets of very different magnitudes on a numeric array."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    Y = np.column_stack([X[:, 0] + X[:, 1] ** 2, 100 * X[:, 2] - 3 * X[:, 3]])
    return X, Y


@pytest.fixture(scope="module")
def two_output_deployed(array_data):
    """A deployed student (not the distiller) of a 2-output regression."""
    X, Y = array_data
    teacher = RandomForestRegressor(n_estimators=20, random_state=0).fit(X, Y)
    return DistilledRegressor(teacher, **FAST).fit(X, Y).to_deployable()


@pytest.mark.parametrize("fmt", FORMATS)
def test_regressor_round_trip_on_dataframes(fmt, exported, fitted_regressor, diamonds):
    """A DataFrame with string columns, 1 row, 1,000 rows and 10,000 rows."""
    X, _ = diamonds
    student = exported("diamonds", fitted_regressor, fmt)
    many = X.sample(n=10_000, replace=True, random_state=0)
    for rows in (X.iloc[:1], X, many):
        assert_close(student.predict(rows), fitted_regressor.predict(rows))
    np.testing.assert_array_equal(student.feature_names_in_, X.columns)
    assert not hasattr(student, "predict_proba")


@pytest.mark.parametrize("fmt", FORMATS)
def test_two_output_regressor_round_trip_on_arrays(
    fmt, exported, two_output_deployed, array_data
):
    """(n, 2) predictions from a deployed student, float64 and float32 input."""
    X, _ = array_data
    student = exported("two_outputs", two_output_deployed, fmt)
    expected = two_output_deployed.predict(X)
    assert expected.shape == (len(X), 2)
    assert_close(student.predict(X), expected)
    assert_close(student.predict(X[:1]), expected[:1])
    assert_close(student.predict(X.astype(np.float32)), expected)


@pytest.mark.parametrize("fmt", FORMATS)
def test_classifier_round_trip_with_string_labels(
    fmt, exported, string_classifier, diamonds
):
    """Same labels and probabilities as the distiller, one row and all rows."""
    X, _ = diamonds
    proba = string_classifier.predict_proba(X)
    top2 = np.sort(proba, axis=1)[:, -2:]
    # Labels are compared where the two most probable classes are not tied
    # within float32 rounding (a near-tie may flip, and that is no error).
    clear = top2[:, 1] - top2[:, 0] > 1e-4
    assert clear.mean() > 0.95
    student = exported("classifier", string_classifier, fmt)
    np.testing.assert_array_equal(student.classes_, ["cheap", "dear", "mid"])
    np.testing.assert_array_equal(
        student.predict(X)[clear], string_classifier.predict(X)[clear]
    )
    assert_close(student.predict_proba(X), proba)
    assert_close(student.predict_proba(X.iloc[[5]]), proba[[5]])
    assert student.predict(X.iloc[:1])[0] == string_classifier.predict(X.iloc[:1])[0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_category_is_all_zeros_like_the_distiller(
    fmt, exported, fitted_regressor, diamonds
):
    """An unseen category gets code -1 and the distiller's all-zero one-hot."""
    X, _ = diamonds
    student = exported("diamonds", fitted_regressor, fmt)
    rows = X.iloc[:300].copy()  # more than 256 rows: the per-column path
    rows.loc[rows.index[:3], "cut"] = "Unheard-of"
    for part in (rows.iloc[:3], rows):
        codes = student.to_graph_inputs(part)["categorical"]
        assert (codes[:3, 0] == -1).all() and (codes[3:, 0] >= 0).all()
        assert_close(student.predict(part), fitted_regressor.predict(part))
    zeroed = fitted_regressor.preprocessor_.transform(rows.iloc[:3])
    assert zeroed[:, 6:11].sum() == 0  # the cut block really is all zeros


def test_onnx_graph_takes_documented_inputs(exported, fitted_regressor, diamonds):
    """numeric float32 unscaled, categorical int64 codes into categories; the
    bare session gives what predict gives; the metadata is in the file."""
    X, _ = diamonds
    student = exported("diamonds", fitted_regressor, "onnx")
    rows = X.iloc[:4]
    inputs = student.to_graph_inputs(rows)
    encoder = fitted_regressor.preprocessor_
    assert [i.name for i in student.session.get_inputs()] == ["numeric", "categorical"]
    assert inputs["numeric"].dtype == np.float32
    np.testing.assert_allclose(
        inputs["numeric"], rows[encoder.numeric_columns_].to_numpy(), rtol=1e-7
    )
    assert inputs["categorical"].dtype == np.int64
    for j, col in enumerate(encoder.categorical_columns_):
        categories = np.asarray(student.metadata["categories"][j], dtype=object)
        np.testing.assert_array_equal(categories, encoder.categories_[j])
        np.testing.assert_array_equal(
            categories[inputs["categorical"][:, j]], rows[col]
        )
    (bare,) = student.session.run(None, inputs)
    assert bare.shape == (4, 1) and bare.dtype == np.float32
    np.testing.assert_array_equal(bare[:, 0].astype(np.float64), student.predict(rows))


@pytest.mark.parametrize("fmt", FORMATS)
def test_exported_files_hold_no_teacher(fmt, exported, fitted_regressor):
    """Exported from the distiller, which holds a forest: the network and its
    metadata only (about 100 kB for a student with 184 inputs)."""
    exported("diamonds", fitted_regressor, fmt)
    blob = exported.path("diamonds", fmt).read_bytes()
    assert len(blob) < 150_000
    assert len(blob) * 30 < len(pickle.dumps(fitted_regressor))
    assert b"RandomForest" not in blob and b"DecisionTree" not in blob


@pytest.mark.parametrize("fmt", FORMATS)
def test_exported_student_checks_input_like_the_distiller(
    fmt, exported, fitted_regressor, diamonds
):
    """Wrong or missing columns, NaN, empty or 1-D input: clear ValueErrors, as
    the distiller raises them."""
    X, _ = diamonds
    student = exported("diamonds", fitted_regressor, fmt)
    nan_numeric, nan_category = X.iloc[:3].copy(), X.iloc[:3].copy()
    nan_numeric.loc[nan_numeric.index[1], "depth"] = np.nan
    nan_category.loc[nan_category.index[1], "color"] = None
    text = X.iloc[:3].astype({"carat": object})
    text.loc[text.index[0], "carat"] = "heavy"
    cases = [
        (X.drop(columns=["carat"]), "missing \\['carat'\\]"),
        (X[X.columns[::-1]], "another order"),
        (nan_numeric, "NaN in column 'depth'.*no missing values when the student"),
        (nan_category, "NaN in column 'color'"),
        (text, "not numbers"),
        (X.iloc[:0], "0 sample"),
        (X.iloc[0].to_numpy(), "2D array"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            student.predict(bad)
        with pytest.raises((ValueError, TypeError)), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "no valid feature names"
            fitted_regressor.predict(bad)


@pytest.mark.parametrize("fmt", FORMATS)
def test_array_width_is_checked(fmt, exported, two_output_deployed, array_data):
    X, _ = array_data
    student = exported("two_outputs", two_output_deployed, fmt)
    with pytest.raises(ValueError, match=r"X has 4 features, but \w+ is expecting 5"):
        student.predict(X[:, :4])
    bad = X[:2].copy()
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="infinity in column 2 "):
        student.predict(bad)


def test_user_preprocessor_is_pickled_and_needs_allow_pickle(array_data, tmp_path):
    """Outside the graph: the loader applies it only when allowed to unpickle."""
    X, Y = array_data
    teacher = RandomForestRegressor(n_estimators=10, random_state=0).fit(X, Y[:, 0])
    model = DistilledRegressor(
        teacher, preprocessor=make_pipeline(StandardScaler()), **FAST
    ).fit(X, Y[:, 0])
    path = export_torchscript(model, tmp_path / "student.pt")
    with pytest.raises(ValueError, match="allow_pickle=True"):
        load_torchscript(path)
    student = load_torchscript(path, allow_pickle=True)
    assert isinstance(student.preprocessor_, Pipeline)
    assert_close(student.predict(X), model.predict(X))


def test_preprocessor_none_graph_takes_the_raw_matrix(array_data, tmp_path):
    X, Y = array_data
    teacher = RandomForestRegressor(n_estimators=10, random_state=0).fit(X, Y[:, 1])
    model = DistilledRegressor(teacher, preprocessor=None, **FAST).fit(X, Y[:, 1])
    student = load_torchscript(export_torchscript(model, tmp_path / "raw.pt"))
    np.testing.assert_array_equal(
        student.to_graph_inputs(X[:3])["numeric"], X[:3].astype(np.float32)
    )
    assert_close(student.predict(X), model.predict(X))


def test_torchscript_round_trip_emits_no_deprecation_warning(
    two_output_deployed, tmp_path
):
    """torch 2.13 deprecates torch.jit; the caller asked for TorchScript."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_torchscript(export_torchscript(two_output_deployed, tmp_path / "s.pt"))


def test_export_needs_a_fitted_student(tmp_path):
    with pytest.raises(TypeError, match="DistilledRegressor"):
        export_torchscript(RandomForestRegressor(), tmp_path / "x.pt")
    with pytest.raises(NotFittedError):
        export_onnx(DistilledRegressor(RandomForestRegressor()), tmp_path / "x.onnx")


def test_loaders_reject_files_sklearn_kd_did_not_write(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    tensor = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "foreign",
        [tensor],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
    )
    onnx.save(helper.make_model(graph), tmp_path / "foreign.onnx")
    with pytest.raises(ValueError, match="not an ONNX file written by sklearn_kd"):
        load_onnx(tmp_path / "foreign.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(torch.nn.Identity()), tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="sklearn_kd"):
        load_torchscript(tmp_path / "foreign.pt")


@pytest.mark.parametrize("module", ["onnxruntime", "onnx", "onnxscript"])
def test_missing_onnx_packages_say_what_to_install(
    module, monkeypatch, two_output_deployed, tmp_path
):
    monkeypatch.setitem(sys.modules, module, None)
    install = re.escape('pip install "sklearn_kd[onnx]"')
    with pytest.raises(ImportError, match=install):
        if module == "onnxruntime":
            load_onnx(tmp_path / "missing.onnx")
        else:
            export_onnx(two_output_deployed, tmp_path / "missing.onnx")
