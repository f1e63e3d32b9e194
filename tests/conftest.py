"""Shared data and fitted teachers; fitted once per module, small and fast."""

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


@pytest.fixture
def rng():
    return np.random.default_rng(0)
