"""Gradient terms: teach the student how the teacher responds to its input.

Sobolev training (matching input gradients, Czarnecki et al., 2017), gradient
adversarial training (GREAT, Sinha et al., 2018) and gradients with respect
to hidden layers. The teacher's derivatives are computed once per fit (by
autograd for torch and skorch teachers, by central finite differences for
anything else, see :mod:`sklearn_kd.teachers._gradients`); the student's are
taken by autograd in every batch, with a graph (double backward), so the
student's weights learn from them.

Derivatives are taken in standardised input units (one training standard
deviation per numeric column; one-hot columns are not differentiated) and of
the distiller's targets (standardised predictions; class logits, centred over
the classes since softmax ignores a shift common to all of them).
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sklearn_kd._batch import (
    INPUT,
    LABELED,
    SAMPLE_WEIGHT,
    SHARED_PREFIX,
    TARGET,
    TEACHER_OUTPUTS,
)
from sklearn_kd._compat import Interval, StrOptions
from sklearn_kd._torch_utils import (
    capture_output,
    find_layer,
    jacobian_rows,
    layer_widths,
)
from sklearn_kd.losses._base import DistillationTerm
from sklearn_kd.losses._objective import TASK_LOSSES
from sklearn_kd.losses._registry import register_term

_TARGETS = StrOptions({"output", "loss"})


def student_input_grads(y_pred, batch, student, target: str, task: str):
    """The student's derivatives by its input, with a graph when training.

    Returns ``(b, n_outputs, d)`` output Jacobians for ``target='output'``
    (centred over classes for a classifier) or ``(b, 1, d)`` gradients of the
    per-row task loss for ``target='loss'``.
    """
    training = torch.is_grad_enabled()
    x = batch[INPUT]
    with torch.enable_grad():
        if not (x.requires_grad and y_pred.grad_fn is not None):
            # Validation (no graph) or a net that did not mark the input.
            x = x.detach().requires_grad_(True)
            y_pred = student(x)
        f = _differentiated(y_pred, batch, target, task)
        jac = jacobian_rows(f, x, create_graph=training)
    return _centre(jac, task) if target == "output" else jac


def _differentiated(y_pred, batch, target, task):
    """What ``target`` differentiates, (b, n): the outputs, or the per-row task
    loss at the labels as one column."""
    if target == "loss":
        return TASK_LOSSES[_task_loss(task)](y_pred, batch[TARGET]).unsqueeze(1)
    return y_pred


def teacher_grads(derivatives, outputs, y, target: str, task: str):
    """The teacher's counterpart of :func:`student_input_grads`, by the chain rule.

    ``derivatives`` (b, n_outputs, k) are the teacher's output derivatives
    along k directions; for ``target='loss'`` they are combined with the
    gradient of the task loss at the teacher's outputs ``outputs`` and labels
    ``y``: ``dL/dx = sum_o dL/df_o * df_o/dx``.
    """
    if target == "output":
        return _centre(derivatives, task)
    if task == "regression":
        dloss = 2 * (outputs - y) / outputs.shape[1]
    else:
        dloss = torch.softmax(outputs, dim=1) - F.one_hot(y, outputs.shape[1])
    return torch.einsum("bo,bok->bk", dloss, derivatives).unsqueeze(1)


def along(jacobian, directions):
    """Jacobian rows (b, o, d) along directions (k, d) or (b, k, d): (b, o, k)."""
    if directions.ndim == 2:
        return torch.einsum("bod,kd->bok", jacobian, directions)
    return torch.einsum("bod,bkd->bok", jacobian, directions)


def _centre(jacobian, task):
    if task == "classification":
        return jacobian - jacobian.mean(dim=1, keepdim=True)
    return jacobian


def _task_loss(task):
    return "mse" if task == "regression" else "cross_entropy"


def _task_of(batch):
    # Class indices are integers, standardised targets are floats.
    return "regression" if batch[TARGET].is_floating_point() else "classification"


def _labeled_mean(values, batch):
    """Weighted mean over labeled rows (sample weights times the labeled mask)."""
    weight = batch.get(SAMPLE_WEIGHT)
    labeled = batch.get(LABELED)
    if labeled is not None:
        weight = labeled if weight is None else weight * labeled
    if weight is None:
        return values.mean()
    return (values * weight).sum() / weight.sum().clamp_min(1e-12)


class _InputGradientTerm(DistillationTerm):
    """Shared parameters and teacher request of the input-gradient terms."""

    computes_signals = True
    needs_input_grad = True

    def _keys(self):
        base = f"input_gradient/{self.method}/{self._n_directions()}/{self.step}"
        return f"{base}/d", f"{base}/u", f"{SHARED_PREFIX}{base}/u"

    def _n_directions(self):
        return self.n_directions if self.method == "directions" else 0

    def teacher_signals(self, probe):
        derivatives, directions = probe.input_derivatives(
            self.method, self.n_directions, self.step
        )
        d_key, u_key, shared_key = self._keys()
        out = {d_key: derivatives}
        out[shared_key if directions.ndim == 2 else u_key] = directions
        if self.target == "loss":
            out[TEACHER_OUTPUTS] = probe.teacher_outputs()
        return out

    def _directions(self, batch):
        _, u_key, shared_key = self._keys()
        return batch[shared_key] if shared_key in batch else batch[u_key]

    def _grads(self, y_pred, batch, student):
        """Teacher's and student's gradients along the same directions, (b, ., k)."""
        task = _task_of(batch)
        directions = self._directions(batch)
        d_key, _, _ = self._keys()
        g_teacher = teacher_grads(
            batch[d_key], batch.get(TEACHER_OUTPUTS), batch[TARGET], self.target, task
        )
        g_student = along(
            student_input_grads(y_pred, batch, student, self.target, task), directions
        )
        return g_teacher, g_student


@register_term(key="input_gradient")
class InputGradientMatching(_InputGradientTerm):
    r"""Input-gradient matching: Sobolev training, or matching loss gradients.

    .. math::

        L_{grad} = \frac{1}{d_o k} \sum_{o, j}
            \left( \partial_{v_j} f^{(t)}_o(x) - \partial_{v_j} f^{(s)}_o(x) \right)^2

    per row, the squared difference of the teacher's and the student's
    derivatives along ``k`` unit directions ``v_j`` in standardised input
    units. With ``target='output'`` ``f`` is each output (Sobolev training,
    Czarnecki et al. 2017); with ``target='loss'`` it is the task loss at the
    true label, :math:`\|\nabla_x L_t - \nabla_x L_s\|^2`
    (labeled rows only; the teacher's is ``sum_o dL/df_o * df_o/dx`` from its
    derivatives and outputs). Along every axis (``k = d``) the sum is the
    squared Frobenius distance of the Jacobians over ``d``; along random unit
    directions it is an unbiased estimate of the same.

    Teacher derivatives: exact (autograd) for torch and skorch teachers;
    central differences ``(f(x + h v) - f(x - h v)) / 2h`` for any other,
    costing ``2 d`` (``'central'``) or ``2 k`` (``'directions'``) teacher
    evaluations per transfer row, once per fit (``teacher_rows_evaluated_``
    on the distiller reports them). For a tree ensemble, whose exact gradient
    is zero almost everywhere, the difference over a window of ``2h`` standard
    deviations measures the ensemble's average slope there: raise ``step`` to
    smooth more.

    References
    ----------
    W. M. Czarnecki, S. Osindero, M. Jaderberg, G. Swirszcz and R. Pascanu.
    Sobolev training for neural networks. NeurIPS 2017.

    Parameters
    ----------
    weight : float, default=1.0
        Weight of the term in the total loss.
    target : {'output', 'loss'}, default='output'
        Differentiate the outputs (Sobolev) or the task loss at the labels.
    method : {'auto', 'exact', 'central', 'directions'}, default='auto'
        How to get the teacher's derivatives: 'auto' is 'exact' for torch and
        skorch teachers and 'central' otherwise.
    n_directions : int, default=8
        Random directions per row for ``method='directions'``.
    step : float, default=0.1
        Half-width ``h`` of the finite differences, in standard deviations.
    """

    _parameter_constraints: ClassVar[dict] = {
        **DistillationTerm._parameter_constraints,
        "target": [_TARGETS],
        "method": [StrOptions({"auto", "exact", "central", "directions"})],
        "n_directions": [Interval(Integral, 1, None, closed="left")],
        "step": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self, weight=1.0, target="output", method="auto", n_directions=8, step=0.1
    ):
        self.weight = weight
        self.target = target
        self.method = method
        self.n_directions = n_directions
        self.step = step

    def loss(self, y_pred, batch, student):
        g_teacher, g_student = self._grads(y_pred, batch, student)
        rows = ((g_teacher - g_student) ** 2).mean(dim=(1, 2))
        if self.target == "loss":
            return _labeled_mean(rows, batch)
        return rows


class _Discriminator(nn.Module):
    """GREAT's discriminator: an MLP scoring a gradient as the teacher's."""

    def __init__(self, n_in, hidden_layer_sizes):
        super().__init__()
        layers, width = [], n_in
        for size in hidden_layer_sizes:
            layers += [nn.Linear(width, size), nn.LeakyReLU(0.2)]
            width = size
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        self.seen = None

    def forward(self, grads):
        return self.net(grads.flatten(1)).squeeze(1)


@register_term(key="adversarial_gradient")
class AdversarialGradientMatching(_InputGradientTerm):
    r"""Gradient adversarial training (GREAT): make the student's input
    gradients indistinguishable from the teacher's.

    A discriminator :math:`D` learns, by its own optimizer in the same loop,
    to tell the teacher's gradients from the student's,

    .. math::

        L_D = -\log D(g_t) - \log(1 - D(g_s)),

    while the student minimises :math:`L_{GREAT} = -\log D(g_s)` per row. The
    gradients ``g`` are the Jacobians of the outputs along every standardised
    input axis (``target='output'``) or the gradient of the task loss at the
    labels (``target='loss'``, labeled rows only), as for
    :class:`InputGradientMatching`. The discriminator is a skorch-registered
    part of the net: its parameters are left out of the student's optimizer,
    and its own loss is logged as ``train_<name>_adversary`` in ``history_``.

    References
    ----------
    A. Sinha, Z. Chen, V. Badrinarayanan and A. Rabinovich. Gradient
    adversarial training of neural networks. arXiv:1806.08028, 2018.

    Parameters
    ----------
    weight : float, default=0.1
        Weight of the term in the total loss. Lower than the other terms'
        default: in ``benchmarks/results/gradients.md`` weight 1 already cost
        test score on all three data sets, and 10 made training collapse.
    target : {'output', 'loss'}, default='output'
        Gradients of the outputs or of the task loss at the labels.
    method : {'auto', 'exact', 'central'}, default='auto'
        Teacher derivatives: exact for torch and skorch teachers under 'auto',
        central differences along every axis otherwise.
    step : float, default=0.1
        Half-width of the finite differences, in standard deviations.
    hidden_layer_sizes : tuple of int, default=(64,)
        The discriminator's hidden widths.
    lr : float, default=1e-3
        The discriminator's learning rate (Adam, betas (0.5, 0.999)).
    """

    _parameter_constraints: ClassVar[dict] = {
        **DistillationTerm._parameter_constraints,
        "target": [_TARGETS],
        "method": [StrOptions({"auto", "exact", "central"})],
        "step": [Interval(Real, 0, None, closed="neither")],
        "hidden_layer_sizes": [tuple, list],
        "lr": [Interval(Real, 0, None, closed="neither")],
    }

    has_adversary = True
    n_directions = 0

    def __init__(
        self,
        weight=0.1,
        target="output",
        method="auto",
        step=0.1,
        hidden_layer_sizes=(64,),
        lr=1e-3,
    ):
        self.weight = weight
        self.target = target
        self.method = method
        self.step = step
        self.hidden_layer_sizes = hidden_layer_sizes
        self.lr = lr

    def make_adversary(self, context):
        d_key = self._keys()[0]
        n_out, k = context["shapes"][d_key]
        n_in = k if self.target == "loss" else n_out * k
        return _Discriminator(n_in, tuple(self.hidden_layer_sizes))

    def loss(self, y_pred, batch, student, module):
        g_teacher, g_student = self._grads(y_pred, batch, student)
        if torch.is_grad_enabled():
            keep = None
            if self.target == "loss" and LABELED in batch:
                keep = batch[LABELED] > 0
            module.seen = (
                g_teacher.detach() if keep is None else g_teacher.detach()[keep],
                g_student.detach() if keep is None else g_student.detach()[keep],
            )
        rows = F.softplus(-module(g_student))  # -log sigmoid(D(g_s))
        if self.target == "loss":
            return _labeled_mean(rows, batch)
        return rows

    def adversary_loss(self, adversary):
        g_teacher, g_student = adversary.seen
        real, fake = adversary(g_teacher), adversary(g_student)
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def adversary_lr(self, default):
        return self.lr


@register_term(key="layer_gradient")
class LayerGradientMatching(DistillationTerm):
    r"""Match gradients with respect to a hidden layer of teacher and student.

    .. math::

        L_{layer} = \frac{1}{d_o w_t} \sum_o
            \left\| \frac{\partial f^{(t)}_o}{\partial h^{(t)}} -
            A \frac{\partial f^{(s)}_o}{\partial h^{(s)}} \right\|^2

    per row, where :math:`h^{(t)}` is the activation of ``teacher_layer`` (width
    :math:`w_t`) in a torch or skorch teacher, :math:`h^{(s)}` that of
    ``student_layer`` and :math:`A` a learned linear map (trained with the
    student) that aligns the student's layer to the teacher's when their
    widths differ. ``f`` is each output (``target='output'``) or the task loss
    at the true labels (``target='loss'``, labeled rows only). The teacher's
    Jacobians are computed once per fit by autograd through a forward hook,
    removed afterwards, and scaled to unit root mean square over the transfer
    rows (the learned map absorbs any scale), so that the weight means the
    same for every teacher. Gradients with respect to intermediate layers;
    the teacher must expose its layers.

    References
    ----------
    S. Srinivas and F. Fleuret. Knowledge transfer with Jacobian matching.
    ICML 2018.

    Parameters
    ----------
    weight : float, default=1.0
        Weight of the term in the total loss.
    teacher_layer : str, default=None
        Name of the teacher's submodule (a full dotted name or its last part).
        Required.
    student_layer : str, default='hidden_1'
        Name of the student's submodule; the default MLP names its layers
        ``hidden_1`` ... ``hidden_n``.
    target : {'output', 'loss'}, default='output'
        Differentiate the outputs or the task loss at the labels.
    """

    computes_signals = True

    _parameter_constraints: ClassVar[dict] = {
        **DistillationTerm._parameter_constraints,
        "teacher_layer": [str, None],
        "student_layer": [str],
        "target": [_TARGETS],
    }

    def __init__(
        self, weight=1.0, teacher_layer=None, student_layer="hidden_1", target="output"
    ):
        self.weight = weight
        self.teacher_layer = teacher_layer
        self.student_layer = student_layer
        self.target = target

    def validate(self):
        super().validate()
        if self.teacher_layer is None:
            raise ValueError(
                "LayerGradientMatching needs teacher_layer: the name of a submodule "
                "of the torch teacher whose gradients the student should match."
            )

    def _key(self):
        return f"layer_gradient/{self.teacher_layer}"

    def teacher_signals(self, probe):
        jac = probe.layer_derivatives(self.teacher_layer)
        # Unit root mean square over the transfer rows: the learned map absorbs
        # any scale, and the term's weight means the same for every teacher.
        rms = float(np.sqrt(np.mean(jac**2)))
        out = {self._key(): jac / rms if rms > 0 else jac}
        if self.target == "loss":
            out[TEACHER_OUTPUTS] = probe.teacher_outputs()
        return out

    def make_module(self, context):
        name = self.student_layer
        width = layer_widths(context["student"], [name], context["n_inputs"])[name]
        _, n_teacher = context["shapes"][self._key()]
        return nn.Linear(width, n_teacher, bias=False)

    def loss(self, y_pred, batch, student, module):
        task = _task_of(batch)
        training = torch.is_grad_enabled()
        layer = find_layer(student, self.student_layer, "student")
        with torch.enable_grad(), capture_output(layer) as seen:
            out = student(batch[INPUT])
            f = _differentiated(out, batch, self.target, task)
            jac = jacobian_rows(f, seen[0], create_graph=training)
        if self.target == "output":
            jac = _centre(jac, task)
        mapped = module(jac)
        # (b, n_outputs or 1, w_t), like the student's mapped gradients.
        teacher = teacher_grads(
            batch[self._key()],
            batch.get(TEACHER_OUTPUTS),
            batch[TARGET],
            self.target,
            task,
        )
        rows = ((teacher - mapped) ** 2).mean(dim=(1, 2))
        if self.target == "loss":
            return _labeled_mean(rows, batch)
        return rows
