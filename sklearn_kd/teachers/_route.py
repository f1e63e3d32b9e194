"""Route-constrained distillation: a teacher seen along its training route.

Jin et al. (2019) observe that a student learns more from the sequence of
checkpoints a teacher passed through in training than from the final teacher
alone: the route is an easy-to-hard curriculum. :class:`TeacherRoute` holds
the checkpoints; the distiller queries each once, and the
:class:`RouteSchedule` callback moves the student's targets from the earliest
checkpoint to the final one as the epochs go by.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from skorch.callbacks import Callback
from torch.utils.data import Subset

from sklearn_kd.teachers._base import (
    LOGITS,
    PREDICTION,
    Teacher,
    margins_to_logits,
    proba_to_logits,
)
from sklearn_kd.teachers._features import _is_tree_ensemble, bagged_predictions


class TeacherRoute(Teacher):
    """A teacher given as its training checkpoints, earliest first.

    Pass it as a distiller's ``teacher``: every distillation term then follows
    the route, one checkpoint after another (route-constrained optimisation,
    RCO), ending on the final checkpoint, which also serves the terms that
    read the teacher's features or derivatives.

    Parameters
    ----------
    checkpoints : sequence
        Fitted models, torch modules or callables (anything a distiller takes
        as ``teacher``), in the order the teacher passed through them.
    milestones : sequence of int or None, default=None
        The epochs (1-based) after which the student moves on to the next
        checkpoint, ``len(checkpoints) - 1`` increasing numbers below
        ``max_epochs``; None splits the training epochs evenly. With
        ``early_stopping`` (which watches the task loss on held-out labels,
        not the moving targets) training may end, and restore its best
        epoch, before the final checkpoint; ``history_[:, "teacher_checkpoint"]``
        shows where.

    See Also
    --------
    TeacherRoute.from_staged : checkpoints of a boosted ensemble or a forest.
    TeacherRoute.from_state_dicts : checkpoints of a torch module.

    References
    ----------
    X. Jin, B. Peng, Y. Wu, Y. Liu, J. Liu, D. Liang, J. Yan and X. Hu.
    Knowledge distillation via route constrained optimization. ICCV 2019.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.ensemble import GradientBoostingRegressor
    >>> from sklearn_kd import DistilledRegressor
    >>> from sklearn_kd.teachers import TeacherRoute
    >>> X, y = make_regression(n_samples=200, n_features=4, random_state=0)
    >>> boosting = GradientBoostingRegressor(n_estimators=40).fit(X, y)
    >>> route = TeacherRoute.from_staged(boosting, n_checkpoints=4)
    >>> model = DistilledRegressor(route, max_epochs=8, random_state=0).fit(X, y)
    >>> model.history_[:, "teacher_checkpoint"]
    [0, 0, 1, 1, 2, 2, 3, 3]
    """

    def __init__(self, checkpoints: Sequence, milestones=None):
        from sklearn_kd.teachers import as_teacher

        if len(checkpoints) < 2:
            raise ValueError(
                "A TeacherRoute needs at least two checkpoints (earliest first, "
                f"final last); got {len(checkpoints)}."
            )
        self.checkpoints = [as_teacher(c) for c in checkpoints]
        if milestones is not None:
            milestones = [int(m) for m in milestones]
            if len(milestones) != len(checkpoints) - 1 or any(
                b <= a for a, b in zip([0, *milestones], milestones, strict=False)
            ):
                raise ValueError(
                    f"milestones must be {len(checkpoints) - 1} increasing positive "
                    f"epoch numbers, one per move to the next checkpoint; got "
                    f"{milestones}."
                )
        self.milestones = milestones
        final = self.checkpoints[-1]
        self.signals = frozenset.intersection(*(c.signals for c in self.checkpoints))
        self.classes = final.classes
        self.is_classifier = final.is_classifier

    @property
    def name(self) -> str:
        return f"route of {len(self.checkpoints)} checkpoints of {self.final.name}"

    @property
    def final(self) -> Teacher:
        """The last checkpoint: the trained teacher."""
        return self.checkpoints[-1]

    def _query_chunk(self, X, signal):
        return self.final._query_chunk(X, signal)

    def split_thresholds(self, X):
        return self.final.split_thresholds(X)

    def torch_function(self, task):
        return self.final.torch_function(task)

    def torch_module(self):
        return self.final.torch_module()

    def features(self, X, layer):
        return self.final.features(X, layer)

    def boundaries(self, max_epochs: int) -> list[int]:
        """First epoch (1-based) of each checkpoint for a run of ``max_epochs``."""
        return route_starts(len(self.checkpoints), max_epochs, self.milestones)

    @classmethod
    def from_staged(cls, model, n_checkpoints=4, milestones=None):
        """Checkpoints of a fitted tree ensemble along its own construction.

        Boosted ensembles (gradient boosting, HistGradientBoosting, AdaBoost)
        give their stages (``staged_predict``, ``staged_predict_proba`` or
        ``staged_decision_function``); bagged ones (random forests, extra
        trees) growing prefixes of their trees.

        Parameters
        ----------
        model : fitted ensemble
        n_checkpoints : int, default=4
            Evenly spaced checkpoints; the last is the whole ensemble.
        milestones : sequence of int or None, default=None
            As for :class:`TeacherRoute`.

        Returns
        -------
        TeacherRoute
        """
        if hasattr(model, "staged_predict"):
            total = _n_stages(model)
            kind = _Stage
        elif _is_tree_ensemble(model):
            total = len(model.estimators_)
            kind = _TreePrefix
        else:
            raise TypeError(
                f"{type(model).__name__} has neither stages (staged_predict) nor "
                "trees (estimators_); build the TeacherRoute from its checkpoints."
            )
        if not 2 <= n_checkpoints <= total:
            raise ValueError(
                f"n_checkpoints must be between 2 and the {total} stages or trees of "
                f"{type(model).__name__}; got {n_checkpoints}."
            )
        sizes = np.linspace(total / n_checkpoints, total, n_checkpoints)
        sizes = sorted({max(1, round(s)) for s in sizes})
        return cls([kind(model, size) for size in sizes], milestones=milestones)

    @classmethod
    def from_state_dicts(cls, module, state_dicts, milestones=None):
        """Checkpoints of a torch module from ``state_dict`` s saved in training.

        Parameters
        ----------
        module : torch.nn.Module
            The architecture (its own weights are not used).
        state_dicts : sequence of dict
            Saved states, earliest first.
        milestones : sequence of int or None, default=None
            As for :class:`TeacherRoute`.
        """
        copies = []
        for state in state_dicts:
            checkpoint = copy.deepcopy(module)
            checkpoint.load_state_dict(state)
            copies.append(checkpoint.eval())
        return cls(copies, milestones=milestones)


class _Prefix(Teacher):
    """A checkpoint made of the first ``size`` parts of a fitted ensemble; the
    last one (the whole ensemble) also gives its features."""

    def features(self, X, layer):
        from sklearn_kd.teachers import as_teacher

        whole = as_teacher(self.model)
        if self.size < _n_parts(self.model):
            return super().features(X, layer)
        return whole.features(X, layer)

    def split_thresholds(self, X):
        # The whole ensemble's splits: the route ends at it.
        from sklearn_kd.teachers import as_teacher

        return as_teacher(self.model).split_thresholds(X)


class _Stage(_Prefix):
    """The first ``size`` stages of a boosted ensemble."""

    def __init__(self, model, size):
        from sklearn_kd.teachers import as_teacher

        self.model, self.size = model, size
        whole = as_teacher(model)
        self.signals = frozenset(
            s
            for s, method in (
                (PREDICTION, "staged_predict"),
                (LOGITS, "staged_predict_proba"),
            )
            if hasattr(model, method)
            or (s == LOGITS and hasattr(model, "staged_decision_function"))
        )
        self.classes, self.is_classifier = whole.classes, whole.is_classifier

    @property
    def name(self) -> str:
        return f"{type(self.model).__name__}[:{self.size}]"

    def _query_chunk(self, X, signal):
        if signal == PREDICTION:
            return _nth(self.model.staged_predict(X), self.size)
        if hasattr(self.model, "staged_predict_proba"):
            return proba_to_logits(_nth(self.model.staged_predict_proba(X), self.size))
        scores = np.asarray(
            _nth(self.model.staged_decision_function(X), self.size), dtype=np.float64
        )
        return margins_to_logits(scores) if scores.ndim == 1 else scores


class _TreePrefix(_Prefix):
    """The first ``size`` trees of a bagged ensemble, averaged as it averages."""

    def __init__(self, model, size):
        from sklearn_kd.teachers import as_teacher

        self.model, self.size = model, size
        whole = as_teacher(model)
        self.signals = whole.signals
        self.classes, self.is_classifier = whole.classes, whole.is_classifier

    @property
    def name(self) -> str:
        return f"{type(self.model).__name__}[:{self.size} trees]"

    def _query_chunk(self, X, signal):
        proba = signal == LOGITS
        outputs = bagged_predictions(self.model, X, proba=proba, limit=self.size)
        mean = np.mean(outputs, axis=0)
        return proba_to_logits(mean) if proba else mean


def _n_parts(model) -> int:
    if hasattr(model, "staged_predict"):
        return _n_stages(model)
    return len(model.estimators_)


def _n_stages(model) -> int:
    n = getattr(model, "n_iter_", None)
    if n is None:
        n = len(getattr(model, "estimators_", []))
    return int(n)


def _nth(stages, n):
    for i, value in enumerate(stages, start=1):
        if i == n:
            return value
    raise ValueError(f"The model has fewer than {n} stages.")


def route_starts(n_checkpoints, max_epochs, milestones=None) -> list[int]:
    """First epoch (1-based) of each of ``n_checkpoints``: after each milestone,
    or evenly spread over ``max_epochs``."""
    if milestones is not None:
        return [1, *(m + 1 for m in milestones)]
    return [1 + (i * max_epochs) // n_checkpoints for i in range(n_checkpoints)]


class RouteSchedule(Callback):
    """Move the student's teacher targets along a :class:`TeacherRoute`.

    At the start of each epoch the batch entries of every routed signal are
    set to the checkpoint the schedule reaches, and the checkpoint's index is
    logged in ``history`` as ``teacher_checkpoint``.

    Parameters
    ----------
    routes : dict of str to Tensor of shape (n_rows, n_checkpoints, width)
        Each routed signal at every checkpoint, on the training device.
    milestones : list of int or None, default=None
        Epochs after which to move on (see :class:`TeacherRoute`); None
        spreads the checkpoints evenly over the net's ``max_epochs``.
    """

    def __init__(self, routes, milestones=None):
        self.routes = routes
        self.milestones = milestones

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        n_checkpoints = next(iter(self.routes.values())).shape[1]
        self.starts_ = route_starts(n_checkpoints, net.max_epochs, self.milestones)
        if net.max_epochs < n_checkpoints:
            raise ValueError(
                f"The route has {n_checkpoints} checkpoints but training runs "
                f"{net.max_epochs} epoch(s): every checkpoint needs at least one. "
                "Raise max_epochs or use fewer checkpoints."
            )
        if self.starts_[-1] > net.max_epochs:
            raise ValueError(
                f"The route's last milestone ({self.milestones[-1]}) is not before "
                f"the last epoch ({net.max_epochs}): the student would never reach "
                "the final checkpoint. Lower the milestones or raise max_epochs."
            )

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        epoch = len(net.history)
        stage = sum(1 for start in self.starts_ if start <= epoch) - 1
        data = (
            dataset_train.dataset
            if isinstance(dataset_train, Subset)
            else (dataset_train)
        )
        for key, values in self.routes.items():
            data.X[key] = values[:, stage]
        net.history.record("teacher_checkpoint", stage)

    def on_train_end(self, net, **kwargs):
        # The outputs were training data: do not keep them in the fitted net.
        self.routes = {}


def stack_route(per_checkpoint: list[dict]) -> dict[str, torch.Tensor]:
    """Per-checkpoint signals ``[{key: (n, w)}, ...]`` as ``{key: (n, C, w)}``."""
    keys = per_checkpoint[0].keys()
    return {
        key: torch.as_tensor(
            np.stack([c[key] for c in per_checkpoint], axis=1), dtype=torch.float32
        )
        for key in keys
    }
