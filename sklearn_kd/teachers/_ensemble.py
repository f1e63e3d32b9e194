"""Adapter for a weighted ensemble of teachers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import softmax

from sklearn_kd.teachers._base import (
    LOGITS,
    PREDICTION,
    Teacher,
    _plain,
    proba_to_logits,
)


class EnsembleTeacher(Teacher):
    """Several teachers averaged into one, with optional weights.

    Regression predictions are averaged. Class scores are averaged as
    probabilities by default (each member's logits through a softmax), over
    the union of the members' classes, and turned back into ``log(clip(p))``
    logits; a member that lacks a class gives it probability zero. With
    ``average='logits'`` the members' centred logits are averaged instead (a
    geometric mean of their probabilities); the members must then share
    their classes.

    A plain list as a distiller's ``teacher`` is an ensemble averaged in
    probability space; pass an ``EnsembleTeacher`` to choose.

    Parameters
    ----------
    members : sequence
        The members: adapters or anything a distiller takes as ``teacher``
        (see :func:`~sklearn_kd.teachers.as_teacher`).
    weights : sequence of float or None, default=None
        Non-negative weight of each member; None weighs them equally. Weights
        are normalised to sum to one.
    average : {'proba', 'logits'}, default='proba'
        Where class scores are averaged.
    """

    def __init__(self, members: Sequence, weights=None, average="proba"):
        from sklearn_kd.teachers import as_teacher

        if len(members) == 0:
            raise ValueError("A teacher ensemble needs at least one teacher.")
        if average not in ("proba", "logits"):
            raise ValueError(f"average must be 'proba' or 'logits'; got {average!r}.")
        self.average = average
        members = [as_teacher(m) for m in members]
        weights = np.ones(len(members)) if weights is None else np.asarray(weights)
        if (
            weights.shape != (len(members),)
            or (weights < 0).any()
            or weights.sum() <= 0
        ):
            raise ValueError(
                f"Ensemble weights must be {len(members)} non-negative numbers with a "
                f"positive sum; got {weights.tolist()}."
            )
        self.members = list(members)
        self.weights = weights / weights.sum()
        self.signals = frozenset.intersection(*(m.signals for m in self.members))
        kinds = {m.is_classifier for m in self.members} - {None}
        if len(kinds) > 1:
            raise ValueError(
                "A teacher ensemble cannot mix classifiers and regressors: "
                f"{[m.name for m in self.members]}."
            )
        self.is_classifier = kinds.pop() if kinds else None
        labelled = [m.classes is not None for m in self.members]
        if any(labelled) and not all(labelled):
            raise ValueError(
                "Either every member of a classifier ensemble has classes_ or none "
                "has; members without labels cannot be matched to the others."
            )
        self.classes = None
        if all(labelled):
            union = sorted(set().union(*(_plain(m.classes) for m in self.members)))
            self.classes = np.asarray(union, dtype=object if _mixed(union) else None)

    @property
    def name(self) -> str:
        return "ensemble of " + ", ".join(m.name for m in self.members)

    def split_thresholds(self, X):
        # Every member's splits, their rows added up: bins where any splits.
        from sklearn_kd.teachers._thresholds import merge_thresholds

        found: dict = {}
        for member in self.members:
            for column, pair in (member.split_thresholds(X) or {}).items():
                found.setdefault(column, []).append(pair)
        if not found:
            return None
        return {column: merge_thresholds(pairs) for column, pairs in found.items()}

    def _query_chunk(self, X, signal):
        if signal == PREDICTION:
            outputs = [m.query(X, [PREDICTION])[PREDICTION] for m in self.members]
            if len({o.shape for o in outputs}) > 1:
                raise ValueError(
                    f"The members of {self.name} predict different numbers of "
                    f"outputs: {[o.shape[1] for o in outputs]}."
                )
            return sum(w * o for w, o in zip(self.weights, outputs, strict=True))
        if self.average == "logits":
            return self._mean_logits(X)
        proba = None
        for weight, member in zip(self.weights, self.members, strict=True):
            logits = member.query(X, [LOGITS])[LOGITS]
            member_proba = softmax(logits, axis=1)
            if self.classes is not None:
                columns = _plain(self.classes)
                placed = np.zeros((len(logits), len(columns)))
                where = [columns.index(c) for c in _plain(member.classes)]
                placed[:, where] = member_proba
                member_proba = placed
            elif proba is not None and member_proba.shape != proba.shape:
                raise ValueError(
                    f"The members of {self.name} give different numbers of class "
                    "scores; give them classes_ so they can be matched by label."
                )
            proba = (
                weight * member_proba
                if proba is None
                else proba + weight * member_proba
            )
        return proba_to_logits(proba)

    def _mean_logits(self, X):
        total = None
        for weight, member in zip(self.weights, self.members, strict=True):
            logits = member.query(X, [LOGITS])[LOGITS]
            if self.classes is not None:
                if _plain(member.classes) != _plain(self.classes):
                    raise ValueError(
                        f"average='logits' needs members with the same classes; "
                        f"{member.name} has {_plain(member.classes)}, the ensemble "
                        f"{_plain(self.classes)}. Use average='proba'."
                    )
            elif total is not None and logits.shape != total.shape:
                raise ValueError(
                    f"The members of {self.name} give different numbers of class "
                    "scores."
                )
            centred = logits - logits.mean(axis=1, keepdims=True)
            total = weight * centred if total is None else total + weight * centred
        return total


def _mixed(labels) -> bool:
    return len({type(label) for label in labels}) > 1
