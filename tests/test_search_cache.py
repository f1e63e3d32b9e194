"""A cached search queries the teacher, and generates synthetic rows, once per fold.

``GridSearchCV`` over 3 ``alpha`` x 3 ``T`` with 3 folds fits 27 candidates
and one refit. With ``memory`` the teacher's outputs, MUNGE's synthetic rows
and ``teacher_cv``'s out-of-fold outputs depend only on the fold, so each is
computed once per fold (and once for the refit on all rows); without it,
once per fit. Counted in this process (``n_jobs=1``).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV

from sklearn_kd import DistilledClassifier
from sklearn_kd.augmentation import MUNGE

GRID = {"alpha": [0.0, 0.5, 0.9], "T": [1.0, 2.0, 4.0]}
FAST = {"max_epochs": 2, "batch_size": 128, "random_state": 0}
N = 150  # 100 rows per training fold


class CountingForest(RandomForestClassifier):
    """Records the rows of each ``predict_proba`` call and each fit."""

    queries: list = []  # noqa: RUF012 (reset by the fixture)
    fits: list = []  # noqa: RUF012

    def fit(self, X, y, sample_weight=None):
        CountingForest.fits.append(len(X))
        return super().fit(X, y, sample_weight=sample_weight)

    def predict_proba(self, X):
        CountingForest.queries.append(len(X))
        return super().predict_proba(X)


@pytest.fixture
def counts(monkeypatch):
    """Resets the teacher's counters; counts MUNGE's generations."""
    CountingForest.queries, CountingForest.fits = [], []
    generated = []
    original = MUNGE.sample

    def sample(self, n_samples=1):
        generated.append(n_samples)
        return original(self, n_samples)

    monkeypatch.setattr(MUNGE, "sample", sample)
    return generated


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.8)
    return X, y


def _search(teacher, X, y, **params):
    GridSearchCV(
        DistilledClassifier(teacher, **FAST, **params),
        GRID,
        cv=3,
        error_score="raise",
    ).fit(X, y)


@pytest.mark.parametrize("augment", [None, "munge"])
def test_cached_search_queries_the_teacher_once_per_fold(
    augment, data, counts, tmp_path
):
    """A fitted teacher: 3 folds + 1 refit queries (and MUNGE generations)
    with memory, 28 of each without."""
    X, y = data
    teacher = CountingForest(n_estimators=5, random_state=0).fit(X, y)
    rows = 2 if augment else 1  # MUNGE adds as many rows as the fold has
    _search(teacher, X, y, augment=augment, memory=str(tmp_path / "cache"))
    assert CountingForest.queries == [rows * 100] * 3 + [rows * N]
    assert counts == ([100] * 3 + [N] if augment else [])

    CountingForest.queries.clear()
    counts.clear()
    _search(teacher, X, y, augment=augment)
    assert len(CountingForest.queries) == 28
    assert len(counts) == (28 if augment else 0)


def test_cached_search_with_teacher_cv_fits_out_of_fold_clones_once_per_fold(
    data, counts, tmp_path
):
    """``teacher_cv=2`` with an unfitted teacher and MUNGE: the out-of-fold
    clones are fitted and queried once per fold, the synthetic rows generated
    once per fold, and the teacher fitted on the fold (refitted at every
    candidate with the same seed: the same forest) queried once per fold."""
    X, y = data
    teacher = CountingForest(n_estimators=5, random_state=0)
    _search(
        teacher, X, y, augment="munge", teacher_cv=2, memory=str(tmp_path / "cache")
    )
    # Per fold (100 rows) and for the refit (150 rows): the whole teacher on
    # the transfer set (labelled + synthetic rows), then two clones, each on
    # its held-out half.
    assert CountingForest.queries == [200, 50, 50] * 3 + [300, 75, 75]
    assert counts == [100] * 3 + [N]
    # The teacher itself is fitted at each of the 28 fits (not cached); the
    # clones twice per fold.
    assert len(CountingForest.fits) == 28 + 2 * 4

    CountingForest.queries.clear()
    counts.clear()
    _search(teacher, X, y, augment="munge", teacher_cv=2)
    assert len(CountingForest.queries) == 28 * 3
    assert len(counts) == 28
