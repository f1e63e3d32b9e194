"""Gaussian-noise transfer sets."""

from __future__ import annotations

from numbers import Real
from typing import ClassVar

import numpy as np
from sklearn.utils.validation import check_is_fitted

from sklearn_kd._compat import Interval
from sklearn_kd.augmentation._tabular import (
    _check_n_samples,
    _TabularGenerator,
    _to_dtype,
)


class GaussianNoise(_TabularGenerator):
    """Training rows drawn with replacement plus Gaussian noise.

    Each synthetic row is a training row ``x`` drawn uniformly with
    replacement; each numeric column ``j`` becomes
    ``x_j + Normal(0, scale * std_j)``, with ``std_j`` the training standard
    deviation of the column, so that its variance grows by a factor of about
    ``1 + scale**2``. Categorical columns keep the drawn row's values. A simple
    baseline for the MUNGE transfer set of Bucilua, Caruana &
    Niculescu-Mizil (2006), which perturbs rows towards their neighbours
    instead.

    Column kinds, integer rounding and the output form follow :class:`MUNGE`.

    Parameters
    ----------
    scale : float >= 0, default=0.1
        Noise standard deviation, as a fraction of each numeric column's
        standard deviation. ``scale=0`` is a bootstrap resample.
    random_state : int, RandomState instance or None, default=None
        Seeds the row draws and the noise. The stream restarts at each
        ``fit``; successive ``sample`` calls continue it.

    Attributes
    ----------
    std_ : ndarray of shape (n_numeric,)
        Training standard deviation of each numeric column (0 for a constant
        column, which gets no noise).
    numeric_columns_ : list
        Names (DataFrame) or positions (ndarray) of the numeric columns.
    categorical_columns_ : list
        Names or positions of the categorical columns.
    integer_columns_ : list
        Numeric columns of an integer dtype (rounded back to integers).
    n_samples_fit_ : int
        Number of training rows.
    n_features_in_ : int
        Number of columns.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when fitted on a DataFrame whose column names are all
        strings.

    See Also
    --------
    MUNGE : Neighbour-based synthetic rows.
    make_transfer_set : Fit a generator on X and sample from it.

    References
    ----------
    C. Bucilua, R. Caruana and A. Niculescu-Mizil, "Model compression",
    KDD 2006, pp. 535-541.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_kd.augmentation import GaussianNoise
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> GaussianNoise(scale=0.1, random_state=0).fit(X).sample(50).shape
    (50, 3)
    """

    _parameter_constraints: ClassVar[dict] = {
        "scale": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, scale=0.1, random_state=None):
        self.scale = scale
        self.random_state = random_state

    def fit(self, X, y=None):
        """Learn column kinds and the standard deviation of the numeric columns.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Training rows, without missing values.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted generator.

        Raises
        ------
        ValueError
            If X is empty or holds NaN (or a numeric infinity).
        """
        columns = self._fit_columns(X)
        self.std_ = np.array(
            [c.values.astype(np.float64).std() for c in columns if c.numeric]
        )
        return self

    def sample(self, n_samples=1):
        """Generate ``n_samples`` noisy resampled rows.

        Parameters
        ----------
        n_samples : int >= 1, default=1
            Number of rows.

        Returns
        -------
        X_new : {ndarray, DataFrame} of shape (n_samples, n_features)
            Synthetic rows in the form of the training X (see
            :meth:`MUNGE.sample`).

        Raises
        ------
        NotFittedError
            If the generator is not fitted.
        ValueError
            If ``n_samples`` is not a positive int.
        """
        check_is_fitted(self, "std_")
        n_samples = _check_n_samples(n_samples)
        (rng,) = self._spawn_generators(1)
        source = rng.integers(self.n_samples_fit_, size=n_samples)
        outputs = []
        k = 0
        for column in self._columns:
            values = column.values.take(source)
            if column.numeric:
                sd = self.scale * self.std_[k]
                noise = rng.standard_normal(n_samples)
                if sd > 0:
                    values = _to_dtype(values + sd * noise, column)
                k += 1
            outputs.append(values)
        return self._assemble(outputs)
