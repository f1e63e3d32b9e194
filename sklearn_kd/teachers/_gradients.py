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
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch

from sklearn_kd._preprocessing import TabularEncoder
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


def jacobian_rows(outputs, wrt, *, create_graph=False):
    """Per-row Jacobian of ``outputs`` (b, n) by ``wrt`` (b, ...): (b, n, width).

    One backward pass per output column, of the column's sum: rows are
    independent (no batch statistics), so row ``i`` of the gradient is row
    ``i``'s own derivative. The graph is kept for the caller.
    """
    grads = [
        torch.autograd.grad(
            outputs[:, o].sum(), wrt, create_graph=create_graph, retain_graph=True
        )[0].reshape(len(wrt), -1)
        for o in range(outputs.shape[1])
    ]
    return torch.stack(grads, dim=1)


def find_layer(module, name: str, owner: str):
    """The submodule ``name`` of ``module`` (a full dotted name or its last part).

    Raises
    ------
    ValueError
        If no submodule, or more than one, has that name.
    """
    named = dict(module.named_modules())
    if name in named and name:
        return named[name]
    matches = [k for k in named if k.split(".")[-1] == name]
    if len(matches) == 1:
        return named[matches[0]]
    listed = [k for k in named if k]
    raise ValueError(
        f"The {owner} has {'several layers' if matches else 'no layer'} named "
        f"{name!r}; give one of its layer names: {listed}."
    )


@contextlib.contextmanager
def capture_output(layer):
    """Hook ``layer`` for the duration of the block; yields a list that holds
    its latest output. The hook is always removed."""
    seen = []

    def hook(module, inputs, output):
        seen[:] = [output]

    handle = layer.register_forward_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


def layer_widths(student, names, n_inputs: int) -> dict:
    """Width (per row, flattened) of each named layer of ``student``, from one
    forward pass on two rows of zeros in eval mode.

    Raises
    ------
    ValueError
        If a layer is missing, or the student cannot take ``n_inputs`` columns.
    """
    layers = {name: find_layer(student, name, "student") for name in names}
    if not layers:
        return {}
    param = next(iter(student.parameters()), None)
    probe = torch.zeros(2, n_inputs)
    if param is not None:
        probe = probe.to(param.device, param.dtype)
    was_training = student.training
    student.eval()
    try:
        with contextlib.ExitStack() as stack, torch.no_grad():
            seen = {
                name: stack.enter_context(capture_output(layer))
                for name, layer in layers.items()
            }
            student(probe)
    except RuntimeError as err:
        raise ValueError(
            f"The student cannot take the {n_inputs} input columns the "
            f"preprocessed X has: {err}"
        ) from err
    finally:
        student.train(was_training)
    return {name: caught[0].reshape(2, -1).shape[1] for name, caught in seen.items()}


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


def no_cache(request, compute):
    """A ``store`` without cache: ``compute()`` every time."""
    return compute()


def _space_key(space: InputSpace) -> tuple:
    return (
        tuple(space.raw_columns),
        space.raw_std.tobytes(),
        space.student_per_std.tobytes(),
    )


@dataclass
class TeacherProbe:
    """What gradient (and other) terms may ask of the teacher during ``fit``.

    Built by the distiller once per fit, after the teacher's outputs are known.
    Results are memoised by request, so terms asking the same thing share one
    computation; every teacher evaluation is counted in :attr:`rows_evaluated`.

    Attributes
    ----------
    adapter : Teacher
        The teacher.
    X : array-like or DataFrame
        The transfer rows (labeled rows first), as the teacher takes them.
    outputs : callable
        Rows to the teacher's targets (standardised predictions or class
        logits aligned to ``classes_``), shape (n_rows, n_outputs).
    linear_targets : callable
        The same map applied to derivatives of the teacher's raw outputs,
        (n, n_raw_outputs, k) to (n, n_outputs, k): a scaling for regression,
        the class columns for classification.
    space : InputSpace or None
        The differentiable inputs; None when the preprocessor has no known
        per-column map (gradient requests then raise).
    task : str
    seed : int
        Seed for random directions.
    device : torch.device
        Where exact derivatives are computed.
    known : dict of str to ndarray
        Signals already queried for the main terms (reused, not recomputed).
    store : callable
        ``store(request, compute)``: ``compute()``'s result, possibly from a
        cache keyed by ``request`` (the distiller's ``memory``).
    rows_evaluated : dict of str to int
        Rows the teacher evaluated for each request (0 on a cache hit).
    """

    adapter: object
    X: object
    outputs: object
    linear_targets: object
    space: InputSpace | None
    space_error: str | None
    task: str
    seed: int
    device: torch.device
    known: dict = field(default_factory=dict)
    store: object = no_cache

    rows_evaluated: dict = field(default_factory=dict)
    _memo: dict = field(default_factory=dict)

    def teacher_outputs(self) -> np.ndarray:
        """The teacher's targets on every transfer row, (n, n_outputs)."""
        if "outputs" not in self._memo:
            signal = "prediction" if self.task == "regression" else "logits"
            if signal in self.known:
                self._memo["outputs"] = self.known[signal]
            else:
                self._memo["outputs"] = self.outputs(self.X)
                self.rows_evaluated["outputs"] = self.X.shape[0]
        return self._memo["outputs"]

    def input_derivatives(self, method: str, n_directions: int, step: float):
        """The teacher's directional derivatives and their directions.

        Parameters
        ----------
        method : {'auto', 'exact', 'central', 'directions'}
            'exact' needs a torch or skorch teacher; 'auto' uses it when it can
            and central differences along every axis otherwise; 'directions'
            uses ``n_directions`` random unit directions per row.
        n_directions : int
            Directions per row for 'directions'.
        step : float
            Half-width of the central differences, in standard deviations.

        Returns
        -------
        derivatives : ndarray of shape (n, n_outputs, k)
            Float64, along the directions, per unit of standard deviation.
        directions : ndarray of shape (k, n_student) or (n, k, n_student)
            The same directions in the student's input units (one set for all
            rows unless random).
        """
        if self.space is None:
            raise ValueError(self.space_error)
        function = self.adapter.torch_function(self.task)
        if method == "auto":
            method = "exact" if function is not None else "central"
        if method == "exact" and function is None:
            raise ValueError(
                f"method='exact' needs a torch module or skorch net as teacher; the "
                f"teacher {self.adapter.name} has no autograd. Use method='central' "
                "or 'directions' (finite differences)."
            )
        random = method == "directions"
        # Exact derivatives do not depend on the step.
        key = (
            "input",
            method,
            n_directions if random else 0,
            None if method == "exact" else step,
        )
        if key in self._memo:
            return self._memo[key]
        p = self.space.n_features
        if random:
            rng = np.random.default_rng(self.seed)
            directions = unit_directions(self.X.shape[0], n_directions, p, rng)
        else:
            directions = np.eye(p)
        label = f"input_gradient[{method}]"
        self.rows_evaluated.setdefault(label, 0)  # stays 0 on a cache hit

        def compute():
            if method == "exact":
                deriv, n_eval = exact_derivatives(
                    function, self.X, self.space, self.device
                )
                deriv = self.linear_targets(deriv)
            else:
                deriv, n_eval = central_differences(
                    self.outputs, self.X, self.space, directions, step
                )
            self.rows_evaluated[label] = self.rows_evaluated.get(label, 0) + n_eval
            return deriv

        request = (*key, self.seed if random else None, _space_key(self.space))
        deriv = self.store(request, compute)
        result = (deriv, self.space.student_directions(directions))
        self._memo[key] = result
        return result

    def layer_derivatives(self, layer: str) -> np.ndarray:
        """Jacobian of the teacher's targets by a hidden layer's activation.

        Parameters
        ----------
        layer : str
            Name of a submodule of the teacher's torch module.

        Returns
        -------
        ndarray of shape (n, n_outputs, layer_width)
            ``d f_o / d h_j`` for each row, exact, by autograd (the layer's
            output flattened per row).
        """
        key = ("layer", layer)
        if key in self._memo:
            return self._memo[key]
        self.rows_evaluated.setdefault(f"layer_gradient[{layer}]", 0)
        result = self.store(key, lambda: self._layer_derivatives(layer))
        self._memo[key] = result
        return result

    def _layer_derivatives(self, layer):
        module = self.adapter.torch_module()
        function = self.adapter.torch_function(self.task)
        if module is None or function is None:
            raise ValueError(
                f"Layer gradients need a torch module or skorch net as teacher; the "
                f"teacher {self.adapter.name} has no layers to differentiate by."
            )
        target = find_layer(module, layer, f"teacher {self.adapter.name}")
        values = float32_values(self.X, f"teacher {self.adapter.name}")
        parts = []
        with capture_output(target) as seen:
            for rows in iter_chunks(len(values)):
                x = torch.tensor(values[rows], device=self.device, requires_grad=True)
                with torch.enable_grad():
                    out = function(x)
                    jac = jacobian_rows(out, seen[0])
                parts.append(jac.to("cpu", torch.float64).numpy())
        # Raw outputs to targets: linear per output (scale or class columns),
        # so the layer Jacobian maps like the input one.
        self.rows_evaluated[f"layer_gradient[{layer}]"] = len(values)
        return self.linear_targets(np.concatenate(parts, axis=0))

    def features(self, layer, n_components=None) -> np.ndarray:
        """A hidden feature of the teacher on every transfer row, standardised.

        Parameters
        ----------
        layer : str or callable
            A feature name the teacher adapter knows (a submodule, a Pipeline
            step, ``'hidden_k'`` of a scikit-learn MLP, ``'trees'``), or a
            callable mapping rows of ``X`` to a feature matrix.
        n_components : int or None
            Reduce the feature to this many principal components (fitted on the
            transfer rows) when it is wider; None keeps every column.

        Returns
        -------
        ndarray of shape (n, width)
            Each column with zero mean and unit variance over the transfer
            rows (constant columns only centred), so that the matching loss
            has the same scale whatever the teacher.
        """
        # The seed matters only to a (randomised) PCA.
        key = ("features", layer, n_components, self.seed if n_components else None)
        if key in self._memo:
            return self._memo[key]

        name = getattr(layer, "__name__", layer)
        self.rows_evaluated.setdefault(f"features[{name}]", 0)

        def compute():
            parts = []
            for rows in iter_chunks(self.X.shape[0]):
                chunk = take_rows(self.X, rows)
                out = (
                    layer(chunk)
                    if callable(layer)
                    else self.adapter.features(chunk, layer)
                )
                parts.append(np.asarray(out, dtype=np.float64).reshape(len(out), -1))
            feats = np.concatenate(parts, axis=0)
            self.rows_evaluated[f"features[{name}]"] = self.X.shape[0]
            if not np.isfinite(feats).all():
                raise ValueError(
                    f"The teacher's feature {name!r} holds NaN or infinity."
                )
            if n_components is not None and n_components < feats.shape[1]:
                from sklearn.decomposition import PCA

                feats = PCA(n_components, random_state=self.seed).fit_transform(feats)
            std = feats.std(axis=0)
            return (feats - feats.mean(axis=0)) / np.where(std > 0, std, 1.0)

        result = compute() if callable(layer) else self.store(key, compute)
        self._memo[key] = result
        return result
