"""The student's objective: ``alpha * task + sum_k weight_k * term_k``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sklearn_kd._batch import LABELED, SAMPLE_WEIGHT, TARGET
from sklearn_kd._torch_utils import layer_widths
from sklearn_kd.losses._base import DistillationTerm


def _mse_rows(y_pred, y_true):
    return ((y_pred - y_true) ** 2).mean(dim=1)


def _ce_rows(y_pred, y_true):
    return F.cross_entropy(y_pred, y_true, reduction="none")


#: Task losses on the true labels, per row: MSE on standardised targets for
#: regression, cross-entropy on class indices for classification.
TASK_LOSSES = {"mse": _mse_rows, "cross_entropy": _ce_rows}


def weighted_mean(values: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean of per-row ``values`` weighted by ``weight`` (plain mean if None).

    An already reduced (0-d) value is returned as it is.
    """
    if values.ndim == 0:
        return values
    if weight is None:
        return values.mean()
    return (values * weight).sum() / weight.sum().clamp_min(
        torch.finfo(values.dtype).tiny
    )


class Objective(nn.Module):
    """The combined distillation loss, term by term.

    .. math::

        L = \\alpha L_{task} + \\sum_k w_k L_k

    Each part is a weighted mean over the batch rows (``sample_weight``); the
    task loss only counts rows that have a label (``batch["labeled"]``, when
    present) and is always reported, also with ``alpha=0`` (then without a
    gradient). Terms with weight 0 are skipped, so they cost nothing.

    Parameters
    ----------
    task : {'mse', 'cross_entropy'}
        The task loss.
    alpha : float
        Weight of the task loss.
    terms : sequence of (str, DistillationTerm)
        Named distillation terms, each weighted by its ``weight``.
    constants : mapping of str to Tensor, optional
        Tensors every batch sees under these keys (e.g. ``"target_scale"``);
        registered as buffers so they follow the module's device.
    context : mapping, optional
        What terms need to build their learned parts (see
        :meth:`DistillationTerm.make_module`).

    Attributes
    ----------
    term_modules : torch.nn.ModuleDict
        Learned parts of the terms, by term name; trained with the student.
    adversaries : torch.nn.ModuleDict
        Adversaries of the terms, by term name; trained by their own optimizer.
    """

    def __init__(
        self,
        task: str,
        alpha: float,
        terms: Sequence[tuple[str, DistillationTerm]] = (),
        constants: Mapping[str, torch.Tensor] | None = None,
        context: Mapping | None = None,
    ):
        super().__init__()
        self.task = task
        self.alpha = float(alpha)
        self.terms = [(name, term) for name, term in terms]
        self._constant_names = []
        for i, (key, value) in enumerate((constants or {}).items()):
            self.register_buffer(f"const_{i}", torch.as_tensor(value))
            self._constant_names.append(key)
        #: Whether a term differentiates the student's outputs by its input.
        self.needs_input_grad = any(
            term.needs_input_grad and term.weight > 0 for _, term in self.terms
        )
        self.context = {"task": task, **(context or {})}
        self.term_modules = nn.ModuleDict()
        self.adversaries = nn.ModuleDict()

    def build(self, student: nn.Module) -> None:
        """Create the terms' learned parts and adversaries for ``student``.

        Called by the net once its student exists (so terms can read its layer
        widths), before the optimizers are made.
        """
        context = {
            **self.context,
            "student": student,
            "layer_widths": layer_widths(
                student, self.read_layers(student), self.context["n_inputs"]
            ),
        }
        self.term_modules = nn.ModuleDict()
        self.adversaries = nn.ModuleDict()
        for name, term in self.terms:
            if term.weight == 0:
                continue
            module = term.make_module(context)
            if module is not None:
                self.term_modules[name] = module
            if term.has_adversary:
                adversary = term.make_adversary(context)
                if not isinstance(adversary, nn.Module):
                    raise TypeError(
                        f"{type(term).__name__}.make_adversary returned "
                        f"{type(adversary).__name__}; a term with has_adversary=True "
                        "must return a torch.nn.Module."
                    )
                self.adversaries[name] = adversary

    def read_layers(self, student) -> list[str]:
        """Student layers the active terms read, in first-asked order."""
        names = []
        for _, term in self.terms:
            if term.weight > 0:
                names += [n for n in term.read_layers(student) if n not in names]
        return names

    def adversary_losses(self) -> dict[str, torch.Tensor]:
        """Each adversary's loss on what its term saw in the last batch."""
        terms = dict(self.terms)
        return {
            name: terms[name].adversary_loss(adversary)
            for name, adversary in self.adversaries.items()
        }

    def forward(
        self,
        y_pred: torch.Tensor,
        y_true: torch.Tensor,
        batch: Mapping[str, torch.Tensor],
        student: nn.Module,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and the unweighted value of each part, by name."""
        batch = dict(batch)
        for i, key in enumerate(self._constant_names):
            batch[key] = getattr(self, f"const_{i}")
        batch[TARGET] = y_true
        weight = batch.get(SAMPLE_WEIGHT)
        parts: dict[str, torch.Tensor] = {}
        total = y_pred.new_zeros(())
        # The task loss is always measured (early stopping and history read
        # it), but only trains the student when alpha > 0.
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.alpha > 0):
            rows = TASK_LOSSES[self.task](y_pred, y_true)
            task_weight = weight
            labeled = batch.get(LABELED)
            if labeled is not None:
                task_weight = labeled if weight is None else weight * labeled
            parts["task"] = weighted_mean(rows, task_weight)
        if self.alpha > 0:
            total = total + self.alpha * parts["task"]
        for name, term in self.terms:
            if term.weight == 0:
                continue
            module = self.term_modules[name] if name in self.term_modules else None
            if module is None and name in self.adversaries:
                module = self.adversaries[name]
            if module is None:
                value = term.loss(y_pred, batch, student)
            else:
                value = term.loss(y_pred, batch, student, module=module)
            parts[name] = weighted_mean(value, weight)
            total = total + term.weight * parts[name]
        return total, parts
