"""What the distillers need to know about the ``teacher`` parameter."""

from __future__ import annotations

from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from torch import nn

from sklearn_kd.teachers._base import Teacher


def is_unfitted_estimator(obj) -> bool:
    """Whether ``obj`` is an estimator the distiller must clone and fit itself."""
    if isinstance(obj, (Teacher, nn.Module, type)) or not hasattr(obj, "fit"):
        return False
    if not hasattr(obj, "get_params"):
        return False
    try:
        check_is_fitted(obj)
    except NotFittedError:
        return True
    except TypeError:
        return False
    return False


def is_plain_callable(teacher) -> bool:
    return any(
        callable(m) and not isinstance(m, nn.Module) and not hasattr(m, "fit")
        for m in teacher_members(teacher)
    )


def teacher_allows_nan(teacher) -> bool:
    """Whether a scikit-learn teacher says it takes NaN; False when unknown."""
    from sklearn.utils import get_tags

    if teacher is None or not hasattr(teacher, "__sklearn_tags__"):
        return False
    try:
        return bool(get_tags(teacher).input_tags.allow_nan)
    except (AttributeError, TypeError, ValueError):
        return False


def teacher_members(teacher) -> list:
    """The models in ``teacher``: itself, or each member of a teacher list
    (whose items may be ``(teacher, weight)`` pairs)."""
    if isinstance(teacher, (list, tuple)):
        return [m[0] if isinstance(m, tuple) else m for m in teacher]
    return [teacher]


def clone_teacher(teacher):
    """Clone what the distiller will fit; keep fitted teachers as they are."""
    if isinstance(teacher, (list, tuple)):
        return type(teacher)(clone_teacher(m) for m in teacher)
    return clone(teacher) if is_unfitted_estimator(teacher) else teacher
