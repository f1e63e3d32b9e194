"""Teacher adapters: one small class per kind of teacher, and ``as_teacher``.

The distillers never ask what a teacher is; they ask its adapter which signals
it can give (``Teacher.signals``) and query it once per fit.
"""

from __future__ import annotations

from torch import nn

from sklearn_kd.teachers._base import LOGITS, PREDICTION, Teacher
from sklearn_kd.teachers._callable import CallableTeacher
from sklearn_kd.teachers._sklearn import SklearnTeacher
from sklearn_kd.teachers._torch import TorchTeacher

_METHODS = ("predict", "predict_proba", "decision_function")


def as_teacher(obj) -> Teacher:
    """Wrap a fitted model, a torch module or a callable in its teacher adapter.

    Parameters
    ----------
    obj : object
        A :class:`Teacher`; a ``torch.nn.Module``; a fitted model with
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
    "SklearnTeacher",
    "Teacher",
    "TorchTeacher",
    "as_teacher",
]
