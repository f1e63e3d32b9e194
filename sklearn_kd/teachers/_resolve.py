"""What the distillers need to know about the ``teacher`` parameter."""

from __future__ import annotations

import inspect

from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from torch import nn

from sklearn_kd._utils import missing_values_named
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
    return _input_tag(teacher, "allow_nan")


def teacher_allows_sparse(teacher) -> bool:
    """Whether a scikit-learn teacher says it takes sparse X; False when unknown."""
    return _input_tag(teacher, "sparse")


def _input_tag(teacher, name: str) -> bool:
    from sklearn.utils import get_tags

    if teacher is None or not hasattr(teacher, "__sklearn_tags__"):
        return False
    try:
        return bool(getattr(get_tags(teacher).input_tags, name))
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


#: Methods that make an object usable as a teacher.
PREDICT_METHODS = ("predict", "predict_proba", "decision_function")


def fit_member(teacher, X, y, sample_weight, check_task):
    """A fitted clone of an unfitted estimator; a fitted teacher as it is.

    Parameters
    ----------
    teacher : object
        One member of the ``teacher`` parameter.
    X, y, sample_weight
        The distiller's validated training data.
    check_task : callable
        Raises if an adapter's teacher cannot teach the distiller's task; run
        before fitting, so a wrong teacher fails before its own ``fit``.
    """
    if is_unfitted_estimator(teacher):
        if not any(hasattr(teacher, m) for m in PREDICT_METHODS):
            raise TypeError(
                f"The teacher {type(teacher).__name__} has none of "
                f"{list(PREDICT_METHODS)}; a teacher must be able to predict."
            )
        from sklearn_kd.teachers import as_teacher

        check_task(as_teacher(teacher))
        fitted = clone(teacher)
        with missing_values_named(f"teacher {type(teacher).__name__}", X):
            if sample_weight is not None and _accepts(fitted.fit, "sample_weight"):
                fitted.fit(X, y, sample_weight=sample_weight)
            else:
                fitted.fit(X, y)
        return fitted
    if teacher is None:
        raise TypeError(
            "The 'teacher' parameter is required: pass a fitted model, an "
            "unfitted estimator, a torch.nn.Module or a callable."
        )
    return teacher


def check_teacher_input(teacher, X, err=None) -> None:
    """Raise if a fitted estimator was fitted on other columns than ``X``'s.

    The usual cause: the distiller follows a transformer in a ``Pipeline``, so
    it (and the teacher) receive the transformed matrix, while the teacher was
    fitted on the raw columns.
    """
    expected = getattr(teacher, "n_features_in_", None)
    names = getattr(teacher, "feature_names_in_", None)
    got_names = list(X.columns) if hasattr(X, "columns") else None
    problem = None
    if isinstance(expected, int) and expected != X.shape[1]:
        problem = f"was fitted on {expected} columns but receives {X.shape[1]}"
    elif names is not None and got_names is not None:
        if [str(n) for n in names] != [str(n) for n in got_names]:
            problem = (
                f"was fitted on the columns {list(names)[:6]}... but receives "
                f"{got_names[:6]}..."
            )
    if problem is None:
        return
    raise ValueError(
        f"The fitted teacher {type(teacher).__name__} {problem}. If the distiller "
        "follows a transformer in a Pipeline, the teacher gets the transformed X: "
        "pass that transformer to the distiller as preprocessor= (the teacher "
        "then sees the raw X and the student the transformed one), or give an "
        "unfitted teacher, which the distiller fits on what it receives."
    ) from err


def _accepts(func, name: str) -> bool:
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
