"""Row-level helpers for the distillers' input: checks and concatenation."""

from __future__ import annotations

import numpy as np
from scipy.sparse import issparse

from sklearn_kd._utils import is_dataframe


def concat_rows(X, extra):
    if is_dataframe(X):
        import pandas as pd

        return pd.concat([X, extra], ignore_index=True)
    if issparse(X):
        from scipy import sparse

        return sparse.vstack([X, sparse.csr_matrix(extra, dtype=X.dtype)]).tocsr()
    return np.concatenate([X, np.asarray(extra, dtype=X.dtype)], axis=0)


def is_ready_array(X, estimator) -> bool:
    """A finite 2-D float ndarray of the fitted width, for an estimator fitted
    without feature names: what predict would accept unchanged."""
    return (
        type(X) is np.ndarray
        and getattr(estimator, "_columns_seen_", None) is None
        and X.ndim == 2
        and X.dtype in (np.float64, np.float32)
        and X.shape[0] > 0
        and X.shape[1] == getattr(estimator, "n_features_in_", -1)
        and not hasattr(estimator, "feature_names_in_")
        and bool(np.isfinite(X).all())
    )


def check_frame_finite(X) -> None:
    """Raise a ValueError naming the first column with infinity (numeric
    columns) or a missing value (non-numeric ones); NaN in a numeric column is
    accepted: the student encodes it."""
    import pandas as pd

    for col in X.columns:
        values = X[col]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(
            values
        ):
            # Missing numbers are the student's to encode; infinity is an error.
            bad = np.isinf(values.to_numpy(dtype=np.float64, na_value=np.nan))
            what = "infinity"
        else:
            bad = values.isna().to_numpy()
            what = "NaN"
        if bad.any():
            raise ValueError(
                f"Input X contains {what} in column {col!r} "
                f"({int(bad.sum())} row(s)). Impute or drop them first, for example "
                "with sklearn.impute.SimpleImputer."
            )
