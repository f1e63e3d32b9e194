"""Column handling shared by the generators, and their base class."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from sklearn_kd._preprocessing import categorical_columns
from sklearn_kd._utils import is_dataframe

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
        f"Input X contains NaN or infinity in column {column!r} ({n_bad} row(s)); "
        "synthetic transfer rows (augment='munge' or 'noise') are drawn from "
        "complete rows only. Impute or drop them first, for example with "
        "sklearn.impute.SimpleImputer, or set augment=None: the distiller itself "
        "takes missing values."
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
