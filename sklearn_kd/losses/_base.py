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

    def teacher_signals(self, probe) -> dict:
        """Per-row teacher signals this term computes itself, before training.

        The default asks for nothing. Gradient terms override it to estimate
        the teacher's derivatives; whatever they need that the teacher cannot
        give raises here, in ``fit``, before any training.

        Parameters
        ----------
        probe : sklearn_kd.teachers._gradients.TeacherProbe
            Access to the teacher and the transfer rows.

        Returns
        -------
        dict of str to ndarray
            Arrays whose first dimension is the number of transfer rows; they
            reach :meth:`loss` in ``batch`` under the same keys. An array with
            a ``shared`` key prefix (``"shared:..."``) is one value for every row.
        """
        return {}

    def read_layers(self, student: nn.Module) -> tuple[str, ...]:
        """Names of ``student``'s layers whose outputs the term reads.

        The net catches them during its forward pass and hands them to
        :meth:`loss` in ``batch`` as ``"student:<name>"``, flattened per row.
        The default reads none.
        """
        return ()

    def make_module(self, context: Mapping) -> nn.Module | None:
        """Learned parts of the term, trained with the student (default None).

        Parameters
        ----------
        context : mapping
            ``n_inputs``, ``n_outputs``, ``task``, ``shapes`` (per-row shape
            of each batch entry), ``student`` (the initialised student module)
            and ``layer_widths`` (width of each layer in :meth:`read_layers`).

        Returns
        -------
        torch.nn.Module or None
            Passed to :meth:`loss` as ``module``; its parameters join the
            student's optimizer.
        """
        return None

    def make_adversary(self, context: Mapping) -> nn.Module | None:
        """A module trained against the student by its own optimizer (default None).

        Terms that return one also implement :meth:`adversary_loss`; the module
        is passed to :meth:`loss` as ``module`` and its parameters are left out
        of the student's optimizer.
        """
        return None

    def adversary_loss(self, adversary: nn.Module) -> torch.Tensor:
        """The adversary's own loss after a student step (adversarial terms)."""
        raise NotImplementedError

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
