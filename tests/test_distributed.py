"""Hyper-parameter search scaled out through joblib's Dask backend."""

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from sklearn_kd import DistilledClassifier

distributed = pytest.importorskip("distributed")


@pytest.mark.slow
def test_dask_search_matches_serial_search(classification_split, boosting):
    """A search over alpha, T and hidden sizes on a 2-worker local Dask cluster
    returns the serial run's scores and best parameters."""
    X, _, y, _ = classification_split
    teacher = boosting
    grid = {
        "alpha": [0.0, 0.5],
        "T": [1.0, 4.0],
        "hidden_layer_sizes": [(16,), (32, 32)],
    }
    estimator = DistilledClassifier(teacher, max_epochs=5, random_state=0)
    serial = GridSearchCV(estimator, grid, cv=2).fit(X, y)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
        joblib.parallel_backend("dask"),
    ):
        parallel = GridSearchCV(estimator, grid, cv=2, n_jobs=-1).fit(X, y)
    assert parallel.best_params_ == serial.best_params_
    np.testing.assert_allclose(
        parallel.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )
    assert parallel.best_estimator_.teacher_ is parallel.best_estimator_.teacher
