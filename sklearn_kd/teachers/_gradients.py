"""How the teacher's outputs respond to its input: exact or finite differences.

Gradient terms compare the teacher's and the student's derivatives in one
coordinate system. Here it is the *standardised* numeric input
``w_j = (x_j - mean_j) / std_j``: a unit step means one training standard
deviation whatever the column's units, so one ``step`` suits every column and
the derivatives of different columns are comparable. One-hot and other
non-numeric inputs are never differentiated.

A derivative along a unit direction ``v`` (in ``w``) is taken

- exactly, by autograd, when the teacher is a torch module or a skorch net, or
- by central differences for any other teacher (forests, boosting, Pipelines,
  callables): ``(f(x + h v*std) - f(x - h v*std)) / (2 h)``, which for a tree
  ensemble is the mean slope over a window of ``2h`` standard deviations: a
  smoothed derivative where the exact one is zero almost everywhere.

The student reads its inputs in its own units ``z`` (``z = w`` for the default
encoder, ``z = x`` with ``preprocessor=None``); :class:`InputSpace` holds the
map, and the directions handed to the student are ``u = (dz/dw) * v``, so that
the student's Jacobian-vector product ``J_s u`` is the same directional
derivative.

:class:`~sklearn_kd.teachers._probe.TeacherProbe` asks for these derivatives
on the terms' behalf and memoises them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sklearn_kd._preprocessing import TabularEncoder
from sklearn_kd._torch_utils import jacobian_rows
from sklearn_kd._utils import (
    CHUNK_SIZE,
    float32_values,
    is_dataframe,
    iter_chunks,
    take_rows,
)

#: Derivative methods a gradient term may ask for.
METHODS = ("auto", "exact", "central", "directions")


@dataclass
class InputSpace:
    """Where the differentiable inputs sit in the raw ``X`` and the student matrix.

    Attributes
    ----------
    raw_columns : list
        Labels (DataFrame) or positions (array) of the differentiable columns.
    raw_positions : ndarray of int
        Their positions in ``X``.
    student_columns : ndarray of int
        Their positions in the student's input matrix.
    raw_std : ndarray
        Their training standard deviation, in the units of ``X``.
    student_per_std : ndarray
        Student input units per training standard deviation (``dz/dw``).
    n_student : int
        Width of the student's input matrix.
    """

    raw_columns: list
    raw_positions: np.ndarray
    student_columns: np.ndarray
    raw_std: np.ndarray
    student_per_std: np.ndarray
    n_student: int

    @property
    def n_features(self) -> int:
        return len(self.raw_columns)

    def student_directions(self, directions: np.ndarray) -> np.ndarray:
        """Unit directions in ``w`` (..., n_features) as directions in ``z``."""
        out = np.zeros((*directions.shape[:-1], self.n_student), dtype=np.float32)
        out[..., self.student_columns] = directions * self.student_per_std
        return out


def input_space(X, preprocessor, n_student: int) -> InputSpace:
    """The :class:`InputSpace` of a distiller's training input.

    Raises
    ------
    ValueError
        If the preprocessor is not the default encoder (or None): the student's
        inputs are then an unknown function of ``X``, so no derivative can be
        carried from one to the other; or if no numeric column varies.
    """
    if preprocessor is None:
        names = list(X.columns) if is_dataframe(X) else list(range(X.shape[1]))
        student_columns = np.arange(len(names))
    elif isinstance(preprocessor, TabularEncoder):
        names = list(preprocessor.numeric_columns_)
        student_columns = np.arange(len(names))
    else:
        raise ValueError(
            "Gradient terms need preprocessor='auto' or None: the student's inputs "
            f"must be a known per-column map of X, but the preprocessor is "
            f"{type(preprocessor).__name__}. Fit it outside the distiller (for "
            "example, in a Pipeline step before it) and pass preprocessor=None."
        )
    if is_dataframe(X):
        positions = np.array([X.columns.get_loc(c) for c in names], dtype=int)
        values = X[names].to_numpy(dtype=np.float64) if names else np.zeros((1, 0))
    else:
        positions = np.asarray(names, dtype=int)
        values = np.asarray(X, dtype=np.float64)[:, positions]
    std = values.std(axis=0)
    keep = std > 0
    if not keep.any():
        raise ValueError(
            "Gradient terms need at least one numeric input column that varies; "
            "X has none (one-hot and other non-numeric columns are not "
            "differentiated)."
        )
    if preprocessor is None:
        per_std = std
    else:
        per_std = std / np.asarray(preprocessor.scale_, dtype=np.float64)
    return InputSpace(
        raw_columns=[n for n, k in zip(names, keep, strict=True) if k],
        raw_positions=positions[keep],
        student_columns=student_columns[keep],
        raw_std=std[keep],
        student_per_std=per_std[keep],
        n_student=n_student,
    )


def unit_directions(n_rows: int, k: int, n_features: int, rng) -> np.ndarray:
    """``k`` random unit directions per row, uniform on the sphere, (n, k, p)."""
    v = rng.standard_normal((n_rows, k, n_features))
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def central_differences(
    outputs, X, space: InputSpace, directions, step: float, chunk_size=CHUNK_SIZE
) -> tuple[np.ndarray, int]:
    """Directional derivatives of ``outputs`` by central differences.

    Parameters
    ----------
    outputs : callable
        Rows of ``X`` (array or DataFrame) to a float array (n_rows, n_outputs).
    X : array-like or DataFrame of shape (n_samples, n_features_in)
        Points at which to differentiate, as the teacher takes them.
    space : InputSpace
        Which columns to move and their standard deviations.
    directions : ndarray of shape (n_samples, k, n_features) or (k, n_features)
        Unit directions in standardised coordinates; one set for every row when
        2-D.
    step : float
        Half-width ``h`` of the difference, in standard deviations.
    chunk_size : int, default=8192
        Perturbed rows per teacher call (about).

    Returns
    -------
    derivatives : ndarray of shape (n_samples, n_outputs, k)
    n_evaluated : int
        Rows the teacher evaluated: ``2 * k * n_samples``.
    """
    n = X.shape[0]
    shared = directions.ndim == 2
    k = directions.shape[-2]
    parts = []
    for rows in iter_chunks(n, max(1, chunk_size // (2 * k))):
        base = take_rows(X, rows)
        m = rows.stop - rows.start
        dirs = (
            np.broadcast_to(directions, (m, *directions.shape))
            if shared
            else (directions[rows])
        )
        moves = (step * dirs * space.raw_std).reshape(m * k, -1)
        moved = _repeat_rows(base, k)
        out = np.asarray(
            outputs(_concat(_shift(moved, space, moves), _shift(moved, space, -moves))),
            dtype=np.float64,
        )
        out = out.reshape(2, m, k, -1)
        parts.append(np.transpose((out[0] - out[1]) / (2 * step), (0, 2, 1)))
    return np.concatenate(parts, axis=0), 2 * k * n


def exact_derivatives(
    function, X, space: InputSpace, device, chunk_size=CHUNK_SIZE
) -> tuple[np.ndarray, int]:
    """The teacher's Jacobian along every standardised axis, by autograd.

    Parameters
    ----------
    function : callable
        Differentiable map of a float32 tensor batch to the teacher's outputs.
    X : array-like or DataFrame of shape (n_samples, n_features_in)
        Numeric input, as the teacher takes it.
    space : InputSpace
    device : torch.device
        Where ``function`` runs.

    Returns
    -------
    derivatives : ndarray of shape (n_samples, n_outputs, n_features)
        ``d f / d w_j`` for each differentiable column ``j``.
    n_evaluated : int
        Rows the teacher evaluated (forward and backward): ``n_samples``.
    """
    values = float32_values(X, "teacher")
    std = torch.as_tensor(space.raw_std, dtype=torch.float32, device=device)
    cols = torch.as_tensor(space.raw_positions, device=device)
    parts = []
    for rows in iter_chunks(len(values), chunk_size):
        x = torch.tensor(values[rows], device=device, requires_grad=True)
        with torch.enable_grad():
            jac = jacobian_rows(function(x), x)[:, :, cols] * std
        parts.append(jac.detach().to("cpu", torch.float64).numpy())
    return np.concatenate(parts, axis=0), len(values)


def _repeat_rows(X, k: int):
    """Each row ``k`` times in a row, numeric columns as float64."""
    if is_dataframe(X):
        out = X.iloc[np.repeat(np.arange(len(X)), k)].reset_index(drop=True)
        return out
    return np.repeat(np.asarray(X, dtype=np.float64), k, axis=0)


def _shift(X, space: InputSpace, moves: np.ndarray):
    if is_dataframe(X):
        X = X.copy()
        for j, col in enumerate(space.raw_columns):
            X[col] = X[col].to_numpy(dtype=np.float64) + moves[:, j]
        return X
    X = X.copy()
    X[:, space.raw_positions] += moves
    return X


def _concat(a, b):
    if is_dataframe(a):
        import pandas as pd

        return pd.concat([a, b], ignore_index=True)
    return np.concatenate([a, b], axis=0)
