"""The distillation-term protocol."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real
from typing import ClassVar

import torch
from sklearn.base import BaseEstimator
from torch import nn

from sklearn_kd._compat import Interval


class DistillationTerm(BaseEstimator):
    """One weighted signal from the teacher in the student's loss.

    A term is a small parameter object, cloned and searched like an estimator
    (``terms__<name>__weight`` in ``GridSearchCV``). The distiller adds
    ``weight * term.loss(...)`` to its objective.

    Subclasses set :attr:`requires` (the teacher signals they read from the
    batch) and :attr:`tasks`, document their formula and paper, and implement
    :meth:`loss`. What else a term needs of the distiller it declares in
    class attributes, never left to be discovered:

    - ``computes_signals = True``: the term computes teacher signals itself
      before training, in :meth:`teacher_signals` (which it overrides);
    - ``needs_input_grad = True``: :meth:`loss` differentiates the student's
      outputs by its input, so the net marks ``batch[INPUT]`` as requiring a
      gradient before the forward pass;
    - ``has_adversary = True``: the term trains a module against the student
      (:meth:`make_adversary`, :meth:`adversary_loss`, both overridden, and
      :meth:`adversary_lr` for its learning rate).

    A subclass whose declarations disagree with the methods it overrides
    raises TypeError when the class is created.

    Parameters
    ----------
    weight : float, default=1.0
        Non-negative weight of this term in the total loss.
    """

    #: Teacher signals the term reads from the batch (keys of ``batch``).
    requires: ClassVar[tuple[str, ...]] = ()
    #: Tasks the term applies to: "regression", "classification" or both.
    tasks: ClassVar[tuple[str, ...]] = ("regression", "classification")
    #: Whether the term computes teacher signals in :meth:`teacher_signals`.
    computes_signals: ClassVar[bool] = False
    #: Whether :meth:`loss` differentiates the student's outputs by its input.
    needs_input_grad: ClassVar[bool] = False
    #: Whether the term trains an adversary (:meth:`make_adversary`).
    has_adversary: ClassVar[bool] = False

    _parameter_constraints: ClassVar[dict] = {
        "weight": [Interval(Real, 0, None, closed="left")],
    }

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _check_declarations(cls)

    def __init__(self, weight=1.0):
        self.weight = weight

    def validate(self):
        """Check the parameters; called by the distiller before training."""
        self._validate_params()

    def teacher_signals(self, probe) -> dict:
        """Per-row teacher signals this term computes itself, before training.

        Called only for terms that declare ``computes_signals = True``. The
        default asks for nothing. Gradient and feature terms override it to
        get the teacher's derivatives or hidden features; whatever they need
        that the teacher cannot give raises here, in ``fit``, before any
        training.

        Parameters
        ----------
        probe : sklearn_kd.teachers._probe.TeacherProbe
            Access to the teacher and the transfer rows.

        Returns
        -------
        dict of str to ndarray
            Arrays whose first dimension is the number of transfer rows; they
            reach :meth:`loss` in ``batch`` under the same keys. An array with
            the ``SHARED_PREFIX`` key prefix (``"shared:..."``) is one value
            for every row.
        """
        return {}

    def read_layers(self, student: nn.Module) -> tuple[str, ...]:
        """Names of ``student``'s layers whose outputs the term reads.

        The net catches them during its forward pass and hands them to
        :meth:`loss` in ``batch`` as ``student_key(name)``
        (``"student:<name>"``), flattened per row. The default reads none.
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
        """A module trained against the student by its own optimizer.

        Called only for terms that declare ``has_adversary = True``, which
        override it and :meth:`adversary_loss`; the module is passed to
        :meth:`loss` as ``module`` and its parameters are left out of the
        student's optimizer. ``context`` is as in :meth:`make_module`. The
        default returns None.
        """
        return None

    def adversary_loss(self, adversary: nn.Module) -> torch.Tensor:
        """The adversary's own loss after a student step (adversarial terms)."""
        raise NotImplementedError

    def adversary_lr(self, default: float) -> float:
        """Learning rate of the adversary's optimizer.

        ``default`` is the distiller's ``lr``; the default keeps it. A term
        with an ``lr`` parameter of its own overrides this to return it.
        """
        return default

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
            ``INPUT`` (the student's input), ``TARGET`` (the task target),
            one entry per required teacher signal and per key that
            :meth:`teacher_signals` returned, ``SAMPLE_WEIGHT`` and
            ``LABELED`` when there are any, and the student layers of
            :meth:`read_layers`. The keys are constants of
            :mod:`sklearn_kd._batch`, whose docstring lists them all.
        student : torch.nn.Module
            The student network, for terms that look inside it.

        Returns
        -------
        Tensor of shape (batch_size,) or scalar
            Per-row losses (the distiller takes their weighted mean) or an
            already reduced batch loss.
        """
        raise NotImplementedError


def _overrides(cls, name: str) -> bool:
    return getattr(cls, name) is not getattr(DistillationTerm, name)


def _check_declarations(cls) -> None:
    """Raise TypeError if ``cls``'s protocol attributes disagree with the
    methods it overrides (checked once, when the class is created)."""
    problems = []
    if cls.computes_signals and not _overrides(cls, "teacher_signals"):
        problems.append(
            "declares computes_signals = True but does not override teacher_signals"
        )
    if _overrides(cls, "teacher_signals") and not cls.computes_signals:
        problems.append(
            "overrides teacher_signals but does not declare "
            "computes_signals = True (the distiller would never call it)"
        )
    if cls.has_adversary:
        missing = [
            name
            for name in ("make_adversary", "adversary_loss")
            if not _overrides(cls, name)
        ]
        if missing:
            problems.append(
                "declares has_adversary = True but does not override "
                + " and ".join(missing)
            )
    else:
        extra = [
            name
            for name in ("make_adversary", "adversary_loss", "adversary_lr")
            if _overrides(cls, name)
        ]
        if extra:
            problems.append(
                "overrides " + ", ".join(extra) + " but does not "
                "declare has_adversary = True (the distiller would "
                "never train the adversary)"
            )
    if problems:
        raise TypeError(
            f"The distillation term {cls.__qualname__} "
            + "; it ".join(problems)
            + ". See DistillationTerm's docstring."
        )
