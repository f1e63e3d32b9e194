"""The registry of distillation terms: a plain dict behind register/get."""

from __future__ import annotations

import difflib

_TERMS: dict[str, type] = {}


def register_term(cls=None, *, key: str | None = None):
    """Register a :class:`DistillationTerm` subclass under ``key``.

    Usable bare (``@register_term``) or with a key
    (``@register_term(key="hp")``); the key defaults to the class name.

    Examples
    --------
    >>> from sklearn_kd.losses import DistillationTerm, register_term
    >>> @register_term(key="l1_to_teacher")
    ... class L1ToTeacher(DistillationTerm):
    ...     '''Mean absolute error to the teacher's predictions.'''
    ...     requires = ("prediction",)
    ...     def loss(self, y_pred, batch, student):
    ...         return (y_pred - batch["prediction"]).abs().mean(dim=1)
    >>> get_term("l1_to_teacher") is L1ToTeacher
    True
    """

    def decorator(term_cls):
        _TERMS[key or term_cls.__name__] = term_cls
        return term_cls

    return decorator if cls is None else decorator(cls)


def get_term(name: str) -> type:
    """The term class registered as ``name``.

    Raises
    ------
    ValueError
        If no term has that name; the message lists the registered names.
    """
    try:
        return _TERMS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_TERMS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"No distillation term is registered as {name!r}; known terms are "
            f"{sorted(_TERMS)}.{hint}"
        ) from None


def available_terms() -> list[str]:
    """Sorted names of every registered term."""
    return sorted(_TERMS)
