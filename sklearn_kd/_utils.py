"""Small helpers shared by the package: seeding, devices, chunking, frames.

This module imports nothing from the rest of ``sklearn_kd``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from sklearn.utils import check_random_state

#: Rows per teacher call and per prediction chunk: large enough to amortise
#: per-call overhead, small enough that a 1M-row transfer set never needs a
#: second full copy of its teacher outputs in flight.
CHUNK_SIZE = 8192


def is_dataframe(X) -> bool:
    """Whether ``X`` is a pandas DataFrame (checked without importing pandas)."""
    return hasattr(X, "iloc") and hasattr(X, "columns")


def take_rows(X, rows):
    """Rows ``rows`` (a slice or integer positions) of an array, DataFrame or Series.

    Positional for pandas objects too: ``y[rows]`` on a Series would look the
    positions up as index labels.
    """
    return X.iloc[rows] if hasattr(X, "iloc") else X[rows]


def missing_value_columns(X) -> list:
    """Names (DataFrame) or positions (array) of the columns of ``X`` with a
    missing value."""
    if is_dataframe(X):
        return [c for c, bad in zip(X.columns, X.isna().any(), strict=True) if bad]
    try:
        values = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        return []
    if values.ndim != 2:
        return []
    return [int(j) for j in np.flatnonzero(np.isnan(values).any(axis=0))]


@contextlib.contextmanager
def missing_values_named(who: str, X):
    """Re-raise an error of ``who`` on ``X`` with NaN as one that says so.

    A teacher that cannot take missing values fails inside its own library
    with a message that names neither the teacher nor the columns.
    """
    try:
        yield
    except (ValueError, TypeError) as err:
        columns = missing_value_columns(X)
        if not columns:
            raise
        raise ValueError(
            f"The {who} failed on X, which has missing values in column(s) "
            f"{columns}: {err} Give a teacher that takes NaN (HistGradientBoosting, "
            "XGBoost, LightGBM, or a scikit-learn forest or tree from 1.4 on), or "
            "impute X first, for example with sklearn.impute.SimpleImputer."
        ) from err


def float32_values(X, owner: str) -> np.ndarray:
    """``X`` (an array or a numeric DataFrame) as float32 values for a torch model.

    Raises
    ------
    TypeError
        If a DataFrame has non-numeric columns; ``owner`` names the model.
    """
    if is_dataframe(X):
        try:
            return X.to_numpy(dtype=np.float32)
        except (TypeError, ValueError):
            raise TypeError(
                f"The {owner} needs numeric X; got a DataFrame with non-numeric "
                "columns. Encode them first, or wrap the module in a callable that "
                "does."
            ) from None
    return np.asarray(X, dtype=np.float32)


def iter_chunks(n_samples: int, chunk_size: int = CHUNK_SIZE) -> Iterator[slice]:
    """Consecutive slices covering ``range(n_samples)``."""
    for start in range(0, n_samples, chunk_size):
        yield slice(start, min(start + chunk_size, n_samples))


def draw_seed(random_state) -> int:
    """An int seed for torch, drawn from a scikit-learn ``random_state``."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


@contextlib.contextmanager
def torch_seeded(seed: int, device: torch.device):
    """Seed torch inside ``fork_rng`` so the caller's global RNG is untouched."""
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else 0]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def resolve_device(device) -> torch.device:
    """Turn the ``device`` parameter into a usable ``torch.device``.

    Raises
    ------
    ValueError
        If ``device`` names no torch device, or names one this machine lacks.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"The 'device' parameter must be 'auto', 'cpu', 'cuda', 'cuda:N' or a "
            f"torch.device; got {device!r}."
        ) from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on this "
                "machine (torch.cuda.is_available() is False); use device='cpu' or "
                "device='auto'."
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but only "
                f"{torch.cuda.device_count()} CUDA device(s) are visible."
            )
    elif resolved.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(
                f"device={device!r} was requested but MPS is not available on this "
                "machine; use device='cpu' or device='auto'."
            )
    elif resolved.type != "cpu":
        raise ValueError(
            f"The 'device' parameter must be 'auto', 'cpu', 'cuda', 'cuda:N' or "
            f"'mps'; got {device!r}."
        )
    return resolved
