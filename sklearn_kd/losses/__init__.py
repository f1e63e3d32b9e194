"""Distillation terms, their registry and the combined objective.

Every term is one small class with its formula and paper in its docstring,
registered under a short name: ``"hp"`` and ``"outputs"`` for regression,
``"soft"`` and ``"logits"`` for classification, and for both the gradient
terms ``"input_gradient"``, ``"adversarial_gradient"`` and
``"layer_gradient"`` and the feature terms ``"features"`` (FitNets),
``"attention_features"`` and ``"similarity"``. Register your own with
:func:`register_term` and pass it to a distiller through ``terms=``.
"""

from sklearn_kd.losses._base import DistillationTerm
from sklearn_kd.losses._objective import Objective, weighted_mean
from sklearn_kd.losses._registry import available_terms, get_term, register_term
from sklearn_kd.losses.classification import LogitMatching, SoftTargets
from sklearn_kd.losses.features import (
    AttentionFeatureMatching,
    FeatureMatching,
    SimilarityPreserving,
)
from sklearn_kd.losses.gradients import (
    AdversarialGradientMatching,
    InputGradientMatching,
    LayerGradientMatching,
)
from sklearn_kd.losses.regression import HPLoss, OutputMatching

__all__ = [
    "AdversarialGradientMatching",
    "AttentionFeatureMatching",
    "DistillationTerm",
    "FeatureMatching",
    "HPLoss",
    "InputGradientMatching",
    "LayerGradientMatching",
    "LogitMatching",
    "Objective",
    "OutputMatching",
    "SimilarityPreserving",
    "SoftTargets",
    "available_terms",
    "get_term",
    "register_term",
    "weighted_mean",
]
