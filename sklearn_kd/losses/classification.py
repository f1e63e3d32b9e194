"""Terms for classification: Hinton's soft targets and logit matching."""

from __future__ import annotations

from numbers import Real
from typing import ClassVar

import torch.nn.functional as F

from sklearn_kd._batch import LOGITS
from sklearn_kd._compat import Interval
from sklearn_kd.losses._base import DistillationTerm
from sklearn_kd.losses._registry import register_term


@register_term(key="soft")
class SoftTargets(DistillationTerm):
    r"""Hinton's soft targets: KL divergence at temperature ``T``, times ``T**2``.

    .. math::

        L_{soft} = T^2 \, D_{KL}\left(\mathrm{softmax}(z^{(t)}/T) \,\|\,
        \mathrm{softmax}(z^{(s)}/T)\right)

    per row, where :math:`z^{(t)}` and :math:`z^{(s)}` are the teacher's and
    the student's logits. The :math:`T^2` factor keeps the gradient scale of
    this term comparable to the cross-entropy on hard labels as ``T`` changes.

    References
    ----------
    G. Hinton, O. Vinyals and J. Dean. Distilling the knowledge in a neural
    network. arXiv:1503.02531, 2015.

    Parameters
    ----------
    weight : float, default=1.0
        Weight of the term in the total loss.
    T : float, default=4.0
        Softmax temperature applied to both teacher and student logits.
    """

    requires = (LOGITS,)
    tasks = ("classification",)

    _parameter_constraints: ClassVar[dict] = {
        **DistillationTerm._parameter_constraints,
        "T": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, weight=1.0, T=4.0):
        self.weight = weight
        self.T = T

    def loss(self, y_pred, batch, student):
        T = self.T
        log_p_student = F.log_softmax(y_pred / T, dim=1)
        log_p_teacher = F.log_softmax(batch[LOGITS] / T, dim=1)
        kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=1)
        return (T * T) * kl


@register_term(key="logits")
class LogitMatching(DistillationTerm):
    r"""Logit matching: squared error between row-centred logits.

    .. math::

        L_{logits} = \frac{1}{K} \sum_{k=1}^{K}
        \left((z^{(s)}_k - \bar z^{(s)}) - (z^{(t)}_k - \bar z^{(t)})\right)^2

    Centring each row makes the term invariant to adding a constant to all
    logits, as softmax is: logits recovered from probabilities as ``log(p)``
    and a model's raw scores then give the same targets. Hinton et al. (2015)
    show this is the high-temperature limit of :class:`SoftTargets`.

    References
    ----------
    C. Bucilua, R. Caruana and A. Niculescu-Mizil. Model compression. KDD 2006.

    Parameters
    ----------
    weight : float, default=1.0
        Weight of the term in the total loss.
    """

    requires = (LOGITS,)
    tasks = ("classification",)

    def loss(self, y_pred, batch, student):
        student_c = y_pred - y_pred.mean(dim=1, keepdim=True)
        teacher = batch[LOGITS]
        teacher_c = teacher - teacher.mean(dim=1, keepdim=True)
        return ((student_c - teacher_c) ** 2).mean(dim=1)
