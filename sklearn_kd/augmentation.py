"""Synthetic transfer sets for distillation: MUNGE and Gaussian noise.

A student mimics its teacher best where it has seen the teacher's answers.
Bucilua, Caruana & Niculescu-Mizil (2006) therefore label a large *synthetic*
transfer set with the teacher and train the student on it; the rows are drawn
near the training data by MUNGE so that they stay on the data's manifold. The
generators here follow the scikit-learn conventions (``fit(X)`` then
``sample(n_samples)``), keep a DataFrame a DataFrame (column names, order and
dtypes, ``str`` and ``category`` included) and an ndarray an ndarray, and are
reproducible with ``random_state``.

The distillers label the synthetic rows with the teacher and use them only in
the distillation terms: they have no true label.

References
----------
C. Bucilua, R. Caruana and A. Niculescu-Mizil, "Model compression",
Proceedings of the 12th ACM SIGKDD International Conference on Knowledge
Discovery and Data Mining (KDD), 2006, pp. 535-541.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from sklearn_kd._preprocessing import categorical_columns
from sklearn_kd._utils import is_dataframe

__all__ = ["MUNGE", "GaussianNoise", "make_transfer_set"]

#: Above this many one-hot columns the neighbour search runs on a sparse
#: encoding (brute force) instead of a dense one (tree search).
_MAX_DENSE_ONE_HOT = 64


class _Column:
    """One training column, stored in the form that rebuilds it exactly.

    ``values`` is a numpy array for numeric columns (the column's numpy dtype;
    nullable pandas dtypes use their numpy equivalent) and, for categorical
    columns, anything with a ``take`` method that keeps the dtype (a pandas
    ExtensionArray such as ``Categorical`` or ``StringArray``, or an ndarray).
    """

    __slots__ = ("dtype", "integer", "name", "numeric", "values")

    def __init__(self, name, values, dtype, *, numeric, integer=False):
        self.name = name
        self.values = values
        self.dtype = dtype
        self.numeric = numeric
        self.integer = integer

    def to_series(self, values):
        """Generated values (or taken rows) as a Series of the column's dtype.

        The dtype is explicit: pandas 3 would infer ``str`` for an object column
        of strings, and a nullable dtype needs the cast from its numpy values.
        """
        import pandas as pd

        return pd.Series(values, dtype=self.dtype, copy=False)


def _nan_error(column, n_bad: int) -> ValueError:
    return ValueError(
        f"Input X contains NaN or infinity in column {column!r} ({n_bad} row(s)). "
        "Impute or drop them first, for example with sklearn.impute.SimpleImputer."
    )


def _frame_columns(X) -> list[_Column]:
    """Split a DataFrame into numeric and categorical :class:`_Column` objects."""
    categorical = set(categorical_columns(X))
    columns = []
    for position, name in enumerate(X.columns):
        series = X.iloc[:, position]
        missing = series.isna().to_numpy()
        if missing.any():
            raise _nan_error(name, int(missing.sum()))
        dtype = series.dtype
        if name in categorical:
            columns.append(_Column(name, series.array, dtype, numeric=False))
            continue
        np_dtype = dtype if isinstance(dtype, np.dtype) else dtype.numpy_dtype
        values = series.to_numpy(dtype=np_dtype)
        columns.append(_numeric_column(name, values, dtype))
    return columns


def _array_columns(X) -> tuple[np.ndarray, list[_Column]]:
    """Validate an array-like and split it into :class:`_Column` objects."""
    if hasattr(X, "toarray") or hasattr(X, "tocsr"):
        raise TypeError(
            "Sparse input is not supported by the transfer-set generators; pass a "
            "dense array or a DataFrame."
        )
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2-D input (n_samples, n_features); got an array of shape "
            f"{X.shape}. Reshape it with X.reshape(-1, 1) for a single feature."
        )
    if X.dtype.kind not in "biuf":
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                "An ndarray X must be numeric (or boolean); got values that cannot "
                "be converted to float. Pass a DataFrame so that non-numeric "
                "columns are recognised as categorical."
            ) from None
    columns = []
    for j in range(X.shape[1]):
        values = np.ascontiguousarray(X[:, j])
        if X.dtype.kind == "b":
            columns.append(_Column(j, values, X.dtype, numeric=False))
            continue
        columns.append(_numeric_column(j, values, X.dtype))
    return X, columns


def _numeric_column(name, values: np.ndarray, dtype) -> _Column:
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values)
        if bad.any():
            raise _nan_error(name, int(bad.sum()))
    return _Column(name, values, dtype, numeric=True, integer=values.dtype.kind in "iu")


def _to_dtype(values: np.ndarray, column: _Column) -> np.ndarray:
    """Generated float64 values in the numpy dtype of ``column``.

    Integer columns are rounded to the nearest integer and clipped to the range
    of their dtype (so an unsigned column never wraps around below 0).
    """
    dtype = column.values.dtype
    if not column.integer:
        return values.astype(dtype, copy=False)
    info = np.iinfo(dtype)
    low, high = float(info.min), float(info.max)
    if int(high) > info.max:  # int64/uint64 maxima are not floats
        high = np.nextafter(high, -np.inf)
    return np.clip(np.rint(values), low, high).astype(dtype)


def _check_n_samples(n_samples) -> int:
    if isinstance(n_samples, (bool, np.bool_)) or not isinstance(
        n_samples, (Integral, np.integer)
    ):
        raise ValueError(
            f"n_samples must be a positive int; got {n_samples!r} of type "
            f"{type(n_samples).__name__}."
        )
    if n_samples < 1:
        raise ValueError(f"n_samples must be a positive int; got {n_samples}.")
    return int(n_samples)


class _TabularGenerator(BaseEstimator):
    """Shared fit/sample plumbing: column storage, seeding, output assembly."""

    #: Fewest training rows ``fit`` accepts.
    _min_rows = 1

    def _fit_columns(self, X):
        """Store the columns of ``X`` and reset the sampling stream."""
        self._validate_params()
        if is_dataframe(X):
            if X.shape[1] == 0:
                raise ValueError("X has no columns; at least one is required.")
            columns = _frame_columns(X)
            self._frame_columns_index = X.columns
            names = list(X.columns)
            if all(isinstance(c, str) for c in names):
                self.feature_names_in_ = np.asarray(names, dtype=object)
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            self._output_dtype = None
        else:
            X, columns = _array_columns(X)
            if X.shape[1] == 0:
                raise ValueError("X has no columns; at least one is required.")
            self._frame_columns_index = None
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            self._output_dtype = X.dtype
        n = len(X)
        if n < self._min_rows:
            raise ValueError(
                f"{type(self).__name__} needs at least {self._min_rows} training "
                f"row(s); got {n}."
            )
        self._columns = columns
        self.n_features_in_ = len(columns)
        self.n_samples_fit_ = n
        self.numeric_columns_ = [c.name for c in columns if c.numeric]
        self.categorical_columns_ = [c.name for c in columns if not c.numeric]
        self.integer_columns_ = [c.name for c in columns if c.integer]
        # A fresh stream at every fit: fit + sample is reproducible, and
        # successive sample calls continue the stream (different rows).
        self._random_state = check_random_state(self.random_state)
        return columns

    def _spawn_generators(self, n: int) -> list[np.random.Generator]:
        """``n`` independent numpy Generators seeded from ``random_state``."""
        entropy = self._random_state.randint(
            np.iinfo(np.uint32).max, size=4, dtype=np.uint32
        )
        seeds = np.random.SeedSequence([int(e) for e in entropy]).spawn(n)
        return [np.random.default_rng(s) for s in seeds]

    def _assemble(self, outputs: list):
        """The synthetic table, in the form of the training X."""
        if self._frame_columns_index is None:
            n_samples = len(outputs[0])
            out = np.empty((n_samples, len(outputs)), dtype=self._output_dtype)
            for j, values in enumerate(outputs):
                out[:, j] = values
            return out
        import pandas as pd

        data = {
            j: column.to_series(values)
            for j, (column, values) in enumerate(
                zip(self._columns, outputs, strict=True)
            )
        }
        frame = pd.DataFrame(data, copy=False)
        frame.columns = self._frame_columns_index
        return frame


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
    neighbors_ : ndarray of shape (n_samples_fit_,)
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
    feature_names_in_ : ndarray of shape (n_features_in_,)
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
    feature_names_in_ : ndarray of shape (n_features_in_,)
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


_GENERATORS = {"munge": MUNGE, "noise": GaussianNoise}


def make_transfer_set(generator, X, n_samples, *, random_state=None):
    """Synthetic rows from a clone of ``generator`` fitted on ``X``.

    Parameters
    ----------
    generator : {"munge", "noise"} or object with ``fit`` and ``sample``
        A generator such as :class:`MUNGE` or :class:`GaussianNoise` (cloned,
        never modified), or the name of one, built with its defaults.
    X : {array-like, DataFrame} of shape (n, n_features)
        Training rows.
    n_samples : int >= 1
        Number of synthetic rows.
    random_state : int, RandomState instance or None, default=None
        Seed for a generator given by name, and for a generator object whose
        own ``random_state`` is None; a generator's own non-None
        ``random_state`` wins.

    Returns
    -------
    X_new : {ndarray, DataFrame} of shape (n_samples, n_features)
        Synthetic rows in the form of ``X``.

    Raises
    ------
    ValueError
        If ``generator`` is an unknown name, or fitting or sampling fails.
    TypeError
        If ``generator`` has no ``fit`` and ``sample`` methods.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_kd.augmentation import make_transfer_set
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> make_transfer_set("munge", X, 1000, random_state=0).shape
    (1000, 3)
    """
    if isinstance(generator, str):
        if generator not in _GENERATORS:
            raise ValueError(
                f"Unknown transfer-set generator {generator!r}; use one of "
                f"{sorted(_GENERATORS)} or an object with fit and sample methods."
            )
        generator = _GENERATORS[generator](random_state=random_state)
    elif not (hasattr(generator, "fit") and hasattr(generator, "sample")):
        raise TypeError(
            "The transfer-set generator must be 'munge', 'noise' or an object with "
            f"fit and sample methods; got {type(generator).__name__}."
        )
    else:
        generator = clone(generator, safe=False)
        if (
            random_state is not None
            and hasattr(generator, "get_params")
            and generator.get_params(deep=False).get("random_state", 0) is None
        ):
            generator.set_params(random_state=random_state)
    n_samples = _check_n_samples(n_samples)
    return generator.fit(X).sample(n_samples)
