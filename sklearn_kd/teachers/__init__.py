"""Teacher adapters: one small class per kind of teacher, and ``as_teacher``.

The distillers never ask what a teacher is; they ask its adapter which signals
it can give (``Teacher.signals``) and query it once per fit.
"""

from __future__ import annotations

from numbers import Real

from torch import nn

from sklearn_kd.teachers._base import LOGITS, PREDICTION, Teacher
from sklearn_kd.teachers._callable import CallableTeacher
from sklearn_kd.teachers._ensemble import EnsembleTeacher
from sklearn_kd.teachers._route import RouteSchedule, TeacherRoute
from sklearn_kd.teachers._sklearn import SklearnTeacher
from sklearn_kd.teachers._torch import TorchTeacher

_METHODS = ("predict", "predict_proba", "decision_function")


def split_ensemble(teachers):
    """Members and weights of a teacher list: ``[t1, t2]`` or ``[(t1, w1), ...]``.

    Returns
    -------
    members : list
    weights : list of float or None
        None when no member carries a weight.

    Raises
    ------
    ValueError
        If the list is empty, or only some members carry a weight.
    """
    if len(teachers) == 0:
        raise ValueError("The 'teacher' list is empty; give at least one teacher.")
    paired = [
        isinstance(t, tuple)
        and len(t) == 2
        and isinstance(t[1], Real)
        and not isinstance(t[1], bool)
        for t in teachers
    ]
    if not any(paired):
        return list(teachers), None
    if not all(paired):
        raise ValueError(
            "A teacher list holds either teachers or (teacher, weight) pairs, not a "
            "mix of both."
        )
    return [t for t, _ in teachers], [float(w) for _, w in teachers]


def as_teacher(obj) -> Teacher:
    """Wrap a fitted model, a torch module or a callable in its teacher adapter.

    Parameters
    ----------
    obj : object
        A :class:`Teacher`; a list of teachers or of ``(teacher, weight)``
        pairs (an :class:`EnsembleTeacher`); a ``torch.nn.Module``; a fitted model with
        ``predict``, ``predict_proba`` or ``decision_function`` (scikit-learn
        estimator, Pipeline, ``FrozenEstimator``, skorch net); or a callable.

    Returns
    -------
    Teacher

    Raises
    ------
    TypeError
        If ``obj`` is none of these.
    """
    if isinstance(obj, Teacher):
        return obj
    if isinstance(obj, (list, tuple)):
        members, weights = split_ensemble(obj)
        return EnsembleTeacher([as_teacher(m) for m in members], weights)
    if isinstance(obj, type):
        raise TypeError(
            f"The 'teacher' parameter must be a model, not the class {obj.__name__}; "
            f"pass an instance such as {obj.__name__}()."
        )
    if isinstance(obj, nn.Module):
        return TorchTeacher(obj)
    if any(hasattr(obj, method) for method in _METHODS):
        return SklearnTeacher(obj)
    if callable(obj):
        return CallableTeacher(obj)
    raise TypeError(
        "The 'teacher' parameter must be a fitted or unfitted estimator with "
        "predict, predict_proba or decision_function, a torch.nn.Module, a fitted "
        f"skorch net or a callable; got {type(obj).__name__}: {obj!r:.80}."
    )


__all__ = [
    "LOGITS",
    "PREDICTION",
    "CallableTeacher",
    "EnsembleTeacher",
    "RouteSchedule",
    "SklearnTeacher",
    "Teacher",
    "TeacherRoute",
    "TorchTeacher",
    "as_teacher",
    "split_ensemble",
]
