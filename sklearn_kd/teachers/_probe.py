"""What terms may ask of the teacher during ``fit``: :class:`TeacherProbe`.

Terms that compute their own teacher signals (``computes_signals``) get a
probe in ``teacher_signals``: the teacher's outputs, its derivatives by its
input (:mod:`sklearn_kd.teachers._gradients`) or by a hidden layer, and its
hidden features. Every answer is memoised by request (terms asking the same
thing share one computation), stored through the distiller's ``memory``
(:mod:`sklearn_kd._cache`) and counted in ``rows_evaluated``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from sklearn_kd._batch import LOGITS, PREDICTION
from sklearn_kd._cache import no_cache
from sklearn_kd._torch_utils import capture_output, find_layer, jacobian_rows
from sklearn_kd._utils import float32_values, iter_chunks, take_rows
from sklearn_kd.teachers._gradients import (
    InputSpace,
    central_differences,
    exact_derivatives,
    unit_directions,
)


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
            signal = PREDICTION if self.task == "regression" else LOGITS
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
