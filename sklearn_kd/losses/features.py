"""Feature terms: match what the teacher computes inside, not only its outputs.

FitNets (Romero et al., 2015), attention-based feature matching (Ji et al.,
2021) and similarity-preserving distillation (Tung and Mori, 2019). The teacher's
feature is computed once per fit on the transfer rows through its adapter (a
named submodule of a torch or skorch teacher, a hidden layer of a scikit-learn
MLP, a Pipeline step, the per-tree prediction matrix of a tree ensemble, or a
callable), optionally reduced to ``n_components`` principal components, and
standardised per column. The student's layers are caught during its own
forward pass.
"""

from __future__ import annotations

from numbers import Integral
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from sklearn_kd._batch import student_key
from sklearn_kd._compat import Interval, StrOptions
from sklearn_kd.losses._base import DistillationTerm
from sklearn_kd.losses._registry import register_term


def hidden_layers(student: nn.Module) -> list[str]:
    """Names of the submodules named ``hidden_<k>`` (the default MLP's layers).

    Raises
    ------
    ValueError
        If there is none; the message lists the student's layers.
    """
    names = [
        n.split(".")[-1]
        for n, _ in student.named_modules()
        if n.split(".")[-1].startswith("hidden_")
    ]
    if not names:
        listed = [n for n, _ in student.named_modules() if n]
        raise ValueError(
            "The student has no layer named hidden_<k>; give student_layer, one of "
            f"{listed}."
        )
    return names


def last_hidden_layer(student: nn.Module) -> str:
    """The last submodule named ``hidden_<k>``."""
    return hidden_layers(student)[-1]


def _feature_key(layer, n_components) -> str:
    name = layer if isinstance(layer, str) else f"callable-{id(layer)}"
    return f"features/{name}/{n_components}"


_LAYER = [str, callable, None]
_COMPONENTS = [Interval(Integral, 1, None, closed="left"), None]


class _OneLayerTerm(DistillationTerm):
    """A term matching one teacher feature to one student layer."""

    computes_signals = True

    def validate(self):
        super().validate()
        if self.teacher_layer is None:
            raise ValueError(
                f"{type(self).__name__} needs teacher_layer: the name of a teacher "
                "feature (a submodule, a Pipeline step, 'hidden_k' of a "
                "scikit-learn MLP, 'trees' for a tree ensemble) or a callable "
                "computing it from X."
            )

    def _key(self):
        return _feature_key(self.teacher_layer, self.n_components)

    def teacher_signals(self, probe):
        return {self._key(): probe.features(self.teacher_layer, self.n_components)}

    def read_layers(self, student):
        if self.student_layer is None:
            return (last_hidden_layer(student),)
        return (self.student_layer,)

    def _student_key(self, student):
        return student_key(self.read_layers(student)[0])

    def _student_width(self, context):
        name = self.read_layers(context["student"])[0]
        return name, context["layer_widths"][name]


@register_term(key="features")
class FeatureMatching(_OneLayerTerm):
    r"""FitNets: regress a teacher feature from a student layer.

    .. math::

        L_{FitNet} = \frac{1}{w_t} \left\| \hat h^{(t)}(x) -
            r\left(h^{(s)}(x)\right) \right\|^2

    per row, where :math:`\hat h^{(t)}` is the teacher's feature standardised
    per column (width :math:`w_t`), :math:`h^{(s)}` the output of the
    student's ``student_layer`` and :math:`r` a learned regressor (linear, or
    a one-hidden-layer MLP) trained with the student, so the student's layer
    need not have the teacher's width.

    References
    ----------
    A. Romero, N. Ballas, S. E. Kahou, A. Chassang, C. Gatta and Y. Bengio.
    FitNets: hints for thin deep nets. ICLR 2015.

    Parameters
    ----------
    weight : float, default=1.0
        Weight of the term in the total loss.
    teacher_layer : str or callable, default=None
        The teacher's feature (required): a submodule name of a torch or
        skorch teacher, ``'hidden_k'`` of a scikit-learn MLP, an intermediate
        Pipeline step's name, ``'trees'`` for the per-tree predictions of a
        tree ensemble, or a callable mapping rows of ``X`` to features.
    student_layer : str or None, default=None
        The student's layer; None takes its last ``hidden_<k>`` layer.
    regressor : {'linear', 'mlp'}, default='linear'
        The map from the student's layer to the teacher's feature.
    n_components : int or None, default=None
        Reduce the teacher's feature to this many principal components when it
        is wider (useful for ``'trees'``: one column per tree).
    """

    _parameter_constraints: ClassVar[dict] = {
        **DistillationTerm._parameter_constraints,
        "teacher_layer": _LAYER,
        "student_layer": [str, None],
        "regressor": [StrOptions({"linear", "mlp"})],
        "n_components": _COMPONENTS,
    }

    def __init__(
        self,
        weight=1.0,
        teacher_layer=None,
        student_layer=None,
        regressor="linear",
        n_components=None,
    ):
        self.weight = weight
        self.teacher_layer = teacher_layer
        self.student_layer = student_layer
        self.regressor = regressor
        self.n_components = n_components

    def make_module(self, context):
        _, width = self._student_width(context)
        (n_teacher,) = context["shapes"][self._key()]
        if self.regressor == "linear":
            return nn.Linear(width, n_teacher)
        hidden = max(width, n_teacher)
        return nn.Sequential(
            nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, n_teacher)
        )

    def loss(self, y_pred, batch, student, module):
        predicted = module(batch[self._student_key(student)])
        return ((predicted - batch[self._key()]) ** 2).mean(dim=1)


def similarity(features: torch.Tensor) -> torch.Tensor:
    """Row-normalised batch similarity ``normalize(F F^T)`` of (b, w) features,
    each column centred over the batch first."""
    features = features - features.mean(dim=0, keepdim=True)
    return F.normalize(features @ features.T, p=2, dim=1)


@register_term(key="similarity")
class SimilarityPreserving(_OneLayerTerm):
    r"""Similarity-preserving distillation: rows similar for the teacher stay
    similar for the student.

    .. math::

        L_{SP} = \frac{1}{b^2} \left\| \tilde G^{(t)} - \tilde G^{(s)}
            \right\|_F^2, \qquad
        \tilde G = \mathrm{row\_normalise}(H H^\top)

    on each batch of ``b`` rows, where :math:`H` holds the teacher's feature or
    the student's layer output row by row, each column centred over the batch.
    Only the geometry of the feature spaces is matched, so their widths may
    differ and nothing is learned besides the student. Centring both sides
    differs from the paper (raw activations): the teacher's features are
    standardised, and a non-negative ReLU layer could never reach the negative
    similarities of centred ones. The loss is at most :math:`4/b`, so useful
    weights grow with the batch size (the paper's 3000 at b=128; here about
    ``b`` to ``10 b``). A batch-level loss: sample weights do not enter it.

    References
    ----------
    F. Tung and G. Mori. Similarity-preserving knowledge distillation.
    ICCV 2019.

    Parameters
    ----------
    weight : float, default=1.0
        Weight of the term in the total loss.
    teacher_layer : str or callable, default=None
        The teacher's feature (required), as for :class:`FeatureMatching`.
    student_layer : str or None, default=None
        The student's layer; None takes its last ``hidden_<k>`` layer.
    n_components : int or None, default=None
        Reduce the teacher's feature to this many principal components.
    """

    _parameter_constraints: ClassVar[dict] = {
        **DistillationTerm._parameter_constraints,
        "teacher_layer": _LAYER,
        "student_layer": [str, None],
        "n_components": _COMPONENTS,
    }

    def __init__(
        self, weight=1.0, teacher_layer=None, student_layer=None, n_components=None
    ):
        self.weight = weight
        self.teacher_layer = teacher_layer
        self.student_layer = student_layer
        self.n_components = n_components

    def loss(self, y_pred, batch, student):
        g_teacher = similarity(batch[self._key()])
        g_student = similarity(batch[self._student_key(student)])
        b = g_teacher.shape[0]
        return ((g_teacher - g_student) ** 2).sum() / (b * b)


class _PairAttention(nn.Module):
    """Ji et al.'s meta-network: attention of teacher layers over student layers,
    and one linear map per (teacher, student) pair."""

    def __init__(self, teacher_widths, student_widths, dim):
        super().__init__()
        self.dim = dim
        self.query = nn.ModuleList(nn.Linear(w, dim) for w in teacher_widths)
        self.key = nn.ModuleList(nn.Linear(w, dim) for w in student_widths)
        self.maps = nn.ModuleList(
            nn.ModuleList(nn.Linear(ws, wt) for ws in student_widths)
            for wt in teacher_widths
        )

    def weights(self, teacher, student):
        """Attention (b, n_teacher, n_student) of each teacher layer over the
        student layers, per row."""
        keys = torch.stack([k(h) for k, h in zip(self.key, student, strict=True)], 1)
        queries = torch.stack(
            [q(h) for q, h in zip(self.query, teacher, strict=True)], 1
        )
        scores = queries @ keys.transpose(1, 2) / self.dim**0.5
        return torch.softmax(scores, dim=2)

    def distances(self, teacher, student):
        """Mean squared error (b, n_teacher, n_student) of each mapped pair."""
        rows = [
            torch.stack(
                [
                    ((m(h_s) - h_t) ** 2).mean(dim=1)
                    for m, h_s in zip(maps, student, strict=True)
                ],
                dim=1,
            )
            for maps, h_t in zip(self.maps, teacher, strict=True)
        ]
        return torch.stack(rows, dim=1)


@register_term(key="attention_features")
class AttentionFeatureMatching(DistillationTerm):
    r"""Attention-based feature matching: learned attention decides which
    student layer matches which teacher feature.

    .. math::

        L_{AFD} = \frac{1}{n_t} \sum_{t} \sum_{s} \alpha_{t,s}(x)
            \frac{1}{w_t} \left\| \hat h^{(t)}(x) - \phi_{t,s}(h^{(s)}(x))
            \right\|^2, \quad
        \alpha_{t,\cdot} = \mathrm{softmax}_s\left(
            \frac{(W^q_t \hat h^{(t)}) \cdot (W^k_s h^{(s)})}{\sqrt{a}} \right)

    per row, over every pair of the teacher's features :math:`\hat h^{(t)}`
    (standardised) and the student's layers :math:`h^{(s)}`, with learned
    queries :math:`W^q`, keys :math:`W^k` (dimension :math:`a`) and linear maps
    :math:`\phi_{t,s}`, all trained with the student.

    References
    ----------
    M. Ji, B. Heo and S. Park. Show, attend and distill: knowledge distillation
    via attention-based feature matching. AAAI 2021.

    Parameters
    ----------
    weight : float, default=1.0
        Weight of the term in the total loss.
    teacher_layers : list of (str or callable), default=None
        The teacher's features (required), each as ``teacher_layer`` of
        :class:`FeatureMatching`.
    student_layers : list of str or None, default=None
        The student's candidate layers; None takes every ``hidden_<k>`` layer.
    attention_dim : int, default=32
        Dimension :math:`a` of the queries and keys.
    n_components : int or None, default=None
        Reduce each teacher feature to this many principal components.
    """

    computes_signals = True

    _parameter_constraints: ClassVar[dict] = {
        **DistillationTerm._parameter_constraints,
        "teacher_layers": [list, tuple, None],
        "student_layers": [list, tuple, None],
        "attention_dim": [Interval(Integral, 1, None, closed="left")],
        "n_components": _COMPONENTS,
    }

    def __init__(
        self,
        weight=1.0,
        teacher_layers=None,
        student_layers=None,
        attention_dim=32,
        n_components=None,
    ):
        self.weight = weight
        self.teacher_layers = teacher_layers
        self.student_layers = student_layers
        self.attention_dim = attention_dim
        self.n_components = n_components

    def validate(self):
        super().validate()
        if not self.teacher_layers:
            raise ValueError(
                "AttentionFeatureMatching needs teacher_layers: a list of teacher "
                "features (submodule names, 'hidden_k', Pipeline steps, 'trees' or "
                "callables)."
            )

    def _keys(self):
        return [_feature_key(layer, self.n_components) for layer in self.teacher_layers]

    def teacher_signals(self, probe):
        return {
            key: probe.features(layer, self.n_components)
            for key, layer in zip(self._keys(), self.teacher_layers, strict=True)
        }

    def read_layers(self, student):
        if self.student_layers is not None:
            return tuple(self.student_layers)
        return tuple(hidden_layers(student))

    def make_module(self, context):
        names = self.read_layers(context["student"])
        teacher_widths = [context["shapes"][k][0] for k in self._keys()]
        student_widths = [context["layer_widths"][n] for n in names]
        return _PairAttention(teacher_widths, student_widths, self.attention_dim)

    def loss(self, y_pred, batch, student, module):
        names = self.read_layers(student)
        teacher = [batch[k] for k in self._keys()]
        hidden = [batch[student_key(n)] for n in names]
        alpha = module.weights(teacher, hidden)
        return (alpha * module.distances(teacher, hidden)).sum(dim=2).mean(dim=1)
