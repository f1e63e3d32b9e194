"""The student's view of ``X``: the ``preprocessor="auto"`` transformer."""

from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_kd._utils import is_dataframe


def categorical_columns(X) -> list:
    """Names of the non-numeric columns of a DataFrame (strings, categories, bools)."""
    if not is_dataframe(X):
        return []
    import pandas as pd

    return [
        col
        for col in X.columns
        if not pd.api.types.is_numeric_dtype(X[col])
        or pd.api.types.is_bool_dtype(X[col])
    ]


def make_auto_preprocessor(X):
    """Standardise numeric columns and one-hot encode the others.

    Parameters
    ----------
    X : array-like or DataFrame
        The training input, used only to find which columns are categorical.

    Returns
    -------
    transformer
        An unfitted ``StandardScaler`` for numeric input, else a
        ``ColumnTransformer`` that scales numbers and one-hot encodes
        categories (unknown categories at predict time encode as all zeros).
    """
    categorical = categorical_columns(X)
    if not categorical:
        return StandardScaler()
    numeric = [col for col in X.columns if col not in categorical]
    return ColumnTransformer(
        [
            ("numeric", StandardScaler(), numeric),
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                categorical,
            ),
        ],
        sparse_threshold=0.0,
        verbose_feature_names_out=False,
    )


def to_float32_matrix(Xt, *, source: str) -> np.ndarray:
    """A dense, finite float32 matrix from a transformer's output.

    Raises
    ------
    ValueError
        If the output is not 2-D, not numeric, or holds NaN or infinity.
    """
    if hasattr(Xt, "toarray"):
        Xt = Xt.toarray()
    if is_dataframe(Xt):
        Xt = Xt.to_numpy()
    try:
        Xt = np.asarray(Xt, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(
            f"The {source} must output numbers for the student; got values that "
            "cannot be converted to float. Encode non-numeric columns (use "
            "preprocessor='auto' or a OneHotEncoder)."
        ) from None
    if Xt.ndim != 2:
        raise ValueError(
            f"The {source} must output a 2-D matrix; got shape {Xt.shape}."
        )
    if not np.isfinite(Xt).all():
        raise ValueError(
            f"The {source} output contains NaN or infinity (or values too large for "
            "float32); the student cannot be trained or queried on them."
        )
    return Xt
