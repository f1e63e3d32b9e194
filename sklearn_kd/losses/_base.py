"""The distillation-term protocol."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real
from typing import ClassVar

import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval
from torch import nn


class DistillationTerm(BaseEstimator):
    """One weighted signal from the teacher in the student's loss.

    A term is a small parameter object, cloned and searched like an estimator
    (``terms__<name>__weight`` in ``GridSearchCV``). The distiller adds
    ``weight * term.loss(...)`` to its objective.

    Subclasses set :attr:`requires` (the teacher signals they read from the
    batch) and :attr:`tasks`, document their formula and paper, and implement
    :meth:`loss`.

    Parameters
    ----------
    weight : float, default=1.0
        Non-negative weight of this term in the total loss.
    """

    #: Teacher signals the term reads from the batch (keys of ``batch``).
    requires: ClassVar[tuple[str, ...]] = ()
    #: Tasks the term applies to: "regression", "classification" or both.
    tasks: ClassVar[tuple[str, ...]] = ("regression", "classification")

    _parameter_constraints: ClassVar[dict] = {
        "weight": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, weight=1.0):
        self.weight = weight

    def validate(self):
        """Check the parameters; called by the distiller before training."""
        self._validate_params()

    def loss(
        self,
        y_pred: torch.Tensor,
        batch: Mapping[str, torch.Tensor],
        student: nn.Module,
    ) -> torch.Tensor:
        """The unweighted term on one batch.

        Parameters
        ----------
        y_pred : Tensor of shape (batch_size, n_outputs)
            The student's outputs (logits for a classifier, standardised
            predictions for a regressor).
        batch : mapping of str to Tensor
            ``"X"`` (the student's input), one entry per required teacher
            signal, and ``"sample_weight"``.
        student : torch.nn.Module
            The student network, for terms that look inside it.

        Returns
        -------
        Tensor of shape (batch_size,) or scalar
            Per-row losses (the distiller takes their weighted mean) or an
            already reduced batch loss.
        """
        raise NotImplementedError
