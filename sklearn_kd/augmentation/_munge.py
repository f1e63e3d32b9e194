"""MUNGE (Bucilua et al. 2006): neighbour-swap transfer sets."""

from __future__ import annotations

from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted

from sklearn_kd._compat import Interval
from sklearn_kd.augmentation._tabular import (
    _MAX_DENSE_ONE_HOT,
    _check_n_samples,
    _Column,
    _TabularGenerator,
    _to_dtype,
)


class MUNGE(_TabularGenerator):
    """MUNGE: synthetic rows that swap values with their nearest neighbour.

    The transfer-set generator of Bucilua, Caruana & Niculescu-Mizil (2006).
    Each synthetic row starts as a training row ``e`` and, attribute by
    attribute, moves towards ``e'``, the nearest neighbour of ``e`` among the
    other training rows:

    - with probability ``p``, a continuous attribute ``a`` becomes a draw from
      ``Normal(e'_a, sd)`` with ``sd = |e_a - e'_a| / s``;
    - with probability ``p``, a categorical attribute ``a`` becomes ``e'_a``
      (swapped, never averaged, so categories stay valid);
    - otherwise the attribute keeps ``e_a``.

    The training rows are used in turn, one synthetic row each, in as many
    passes as ``n_samples`` needs, each pass in a fresh random order. (The
    paper also modifies ``e'`` symmetrically and emits both; one row per
    input row is all a transfer set needs.)

    Distance. The neighbour of a row minimises, over the other rows,
    ``sum_j ((x_j - x'_j) / std_j)^2 + #{categorical a : x_a != x'_a}``: the
    squared Euclidean distance between the standardised numeric columns plus one
    per mismatching categorical column (a one-hot encoding scaled by
    ``1/sqrt(2)``). It is computed once, in ``fit``, by
    :class:`sklearn.neighbors.NearestNeighbors` (a k-d tree, or brute force
    when the one-hot part is wider than 64 columns); the search breaks ties,
    and an exact duplicate of a row (distance 0) is a valid neighbour, which
    leaves that row's synthetic copies unchanged.

    Column kinds. In a DataFrame, columns that are not numeric, or are boolean,
    are categorical (``str``, ``object``, ``category``, ``bool``, datetimes);
    the others are continuous. Continuous columns of an integer dtype are
    rounded to the nearest integer and clipped to their dtype's range. An
    ndarray's columns are all continuous, except for a boolean array, whose
    columns are categorical.

    Parameters
    ----------
    p : float in [0, 1], default=0.5
        Probability of modifying each attribute of each synthetic row. ``p=0``
        returns the training rows unchanged (in random order).
    s : float > 0, default=1.0
        Local variance parameter: the standard deviation of a continuous draw is
        the distance to the neighbour divided by ``s``. Larger ``s`` keeps the
        draws closer to the neighbour's value.
    random_state : int, RandomState instance or None, default=None
        Seeds the pass orders, the attribute choices and the normal draws. The
        stream restarts at each ``fit``; successive ``sample`` calls continue
        it. The result does not depend on ``chunk_size``.
    chunk_size : int >= 1, default=10_000
        Synthetic rows generated at a time; bounds the temporary arrays to
        ``chunk_size x n_features``.

    Attributes
    ----------
    neighbors_ : ndarray of shape (`n_samples_fit_`,)
        Index of the nearest neighbour of each training row.
    mean_ : ndarray of shape (n_numeric,)
        Mean of each numeric column, for the distance.
    scale_ : ndarray of shape (n_numeric,)
        Standard deviation of each numeric column (1 where it is 0).
    numeric_columns_ : list
        Names (DataFrame) or positions (ndarray) of the continuous columns.
    categorical_columns_ : list
        Names or positions of the categorical columns.
    integer_columns_ : list
        Continuous columns of an integer dtype (rounded back to integers).
    n_samples_fit_ : int
        Number of training rows.
    n_features_in_ : int
        Number of columns.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when fitted on a DataFrame whose column names are all
        strings.

    See Also
    --------
    GaussianNoise : Training rows plus Gaussian noise on the numeric columns.
    make_transfer_set : Fit a generator on X and sample from it.

    References
    ----------
    C. Bucilua, R. Caruana and A. Niculescu-Mizil, "Model compression",
    KDD 2006, pp. 535-541 (Section 3.3, Algorithm "MUNGE").

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_kd.augmentation import MUNGE
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> munge = MUNGE(p=0.5, s=1.0, random_state=0).fit(X)
    >>> munge.sample(250).shape
    (250, 3)
    """

    _parameter_constraints: ClassVar[dict] = {
        "p": [Interval(Real, 0, 1, closed="both")],
        "s": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
    }

    _min_rows = 2

    def __init__(self, p=0.5, s=1.0, random_state=None, chunk_size=10_000):
        self.p = p
        self.s = s
        self.random_state = random_state
        self.chunk_size = chunk_size

    def fit(self, X, y=None):
        """Learn column kinds, the standardisation and each row's neighbour.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Training rows, at least two, without missing values.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted generator.

        Raises
        ------
        ValueError
            If X has fewer than two rows, or holds NaN (or a numeric infinity).
        """
        columns = self._fit_columns(X)
        numeric = [c for c in columns if c.numeric]
        n = self.n_samples_fit_
        if numeric:
            Z = np.column_stack([c.values.astype(np.float64) for c in numeric])
            self.mean_ = Z.mean(axis=0)
            std = Z.std(axis=0)
            self.scale_ = np.where(std > 0, std, 1.0)
            Z -= self.mean_
            Z /= self.scale_
        else:
            Z = np.zeros((n, 0))
            self.mean_ = np.zeros(0)
            self.scale_ = np.ones(0)
        encoding = _append_one_hot(Z, [c for c in columns if not c.numeric])
        # A k-d tree for dense encodings: tabular data rarely fills its
        # dimensions, and the one-hot columns take two values each, so the tree
        # beats brute force (O(n^2)) far beyond the 15 columns of "auto".
        algorithm = "brute" if hasattr(encoding, "tocsr") else "kd_tree"
        search = NearestNeighbors(n_neighbors=1, algorithm=algorithm).fit(encoding)
        # X=None: each row's neighbour among the *other* rows (itself excluded,
        # an exact duplicate allowed).
        self.neighbors_ = search.kneighbors(return_distance=False)[:, 0]
        return self

    def sample(self, n_samples=1):
        """Generate ``n_samples`` synthetic rows.

        Parameters
        ----------
        n_samples : int >= 1, default=1
            Number of rows. Several times the training size cycles through the
            training rows in several passes.

        Returns
        -------
        X_new : {ndarray, DataFrame} of shape (n_samples, n_features)
            Synthetic rows in the form of the training X: same column names,
            order and dtypes (a fresh ``RangeIndex``), or an ndarray of the same
            dtype.

        Raises
        ------
        NotFittedError
            If the generator is not fitted.
        ValueError
            If ``n_samples`` is not a positive int.
        """
        check_is_fitted(self, "neighbors_")
        n_samples = _check_n_samples(n_samples)
        order_rng, mask_rng, normal_rng = self._spawn_generators(3)
        n = self.n_samples_fit_
        n_passes = -(-n_samples // n)
        order = np.concatenate([order_rng.permutation(n) for _ in range(n_passes)])
        order = order[:n_samples]

        columns = self._columns
        n_numeric = sum(c.numeric for c in columns)
        outputs = [
            np.empty(n_samples, dtype=c.values.dtype)
            if c.numeric
            else np.empty(n_samples, dtype=np.intp)
            for c in columns
        ]
        for start in range(0, n_samples, self.chunk_size):
            stop = min(start + self.chunk_size, n_samples)
            source = order[start:stop]
            neighbor = self.neighbors_[source]
            # Row-major draws from separate streams: independent of chunk_size.
            modify = mask_rng.random((stop - start, len(columns))) < self.p
            noise = normal_rng.standard_normal((stop - start, n_numeric))
            k = 0
            for j, column in enumerate(columns):
                if not column.numeric:
                    outputs[j][start:stop] = np.where(modify[:, j], neighbor, source)
                    continue
                values = column.values[source]
                rows = np.flatnonzero(modify[:, j])
                if len(rows):
                    own = values[rows].astype(np.float64)
                    other = column.values[neighbor[rows]].astype(np.float64)
                    draws = other + np.abs(own - other) / self.s * noise[rows, k]
                    values[rows] = _to_dtype(draws, column)
                outputs[j][start:stop] = values
                k += 1
        outputs = [
            out if c.numeric else c.values.take(out)
            for c, out in zip(columns, outputs, strict=True)
        ]
        return self._assemble(outputs)


def _append_one_hot(Z: np.ndarray, categorical: list[_Column]):
    """``Z`` followed by a one-hot encoding of ``categorical`` scaled by 1/sqrt(2).

    Two rows that differ in one categorical column are then at squared
    Euclidean distance exactly 1 in its block. Returns a dense array, or a
    sparse CSR matrix when the one-hot part is wider than
    ``_MAX_DENSE_ONE_HOT`` columns.
    """
    if not categorical:
        return Z
    import pandas as pd

    n = len(Z)
    codes, widths = [], []
    for column in categorical:
        code, uniques = pd.factorize(np.asarray(column.values, dtype=object))
        codes.append(code)
        widths.append(len(uniques))
    weight = 1.0 / np.sqrt(2.0)
    if sum(widths) <= _MAX_DENSE_ONE_HOT:
        out = np.zeros((n, Z.shape[1] + sum(widths)))
        out[:, : Z.shape[1]] = Z
        offset = Z.shape[1]
        rows = np.arange(n)
        for code, width in zip(codes, widths, strict=True):
            out[rows, offset + code] = weight
            offset += width
        return out
    from scipy import sparse

    blocks = [sparse.csr_matrix(Z)]
    for code, width in zip(codes, widths, strict=True):
        blocks.append(
            sparse.csr_matrix(
                (np.full(n, weight), (np.arange(n), code)), shape=(n, width)
            )
        )
    return sparse.hstack(blocks, format="csr")
