"""Parameter plumbing of the distillers: clone, ``get_params``, ``set_params``.

A fitted teacher is data, not a sub-estimator (like scikit-learn's
``FrozenEstimator``): it survives ``clone`` as the same object and has no
searchable parameters. Extra terms are addressed like a ``Pipeline``'s steps,
``terms__<name>`` and ``terms__<name>__<param>``.
"""

from __future__ import annotations

import copy

from sklearn.base import clone

from sklearn_kd.losses import DistillationTerm
from sklearn_kd.teachers._resolve import (
    clone_teacher,
    is_unfitted_estimator,
    teacher_members,
)


class _DistillerParams:
    """Mixin of ``_BaseDistiller``: the teacher and term parameters."""

    def _teacher_is_frozen(self) -> bool:
        """A teacher used as it is (fitted, a module, a callable, a list of those)."""
        return not any(is_unfitted_estimator(m) for m in teacher_members(self.teacher))

    def __sklearn_clone__(self):
        # A fitted teacher survives clone as the same object, so GridSearchCV
        # and cross_val_score never refit or copy it.
        params = self.get_params(deep=False)
        new = type(self)(
            **{
                name: clone_teacher(value)
                if name == "teacher"
                else clone(value, safe=False)
                for name, value in params.items()
            }
        )
        if hasattr(self, "_metadata_request"):
            new._metadata_request = copy.deepcopy(self._metadata_request)
        return new

    def get_params(self, deep=True):
        """Get parameters of this distiller.

        With ``deep=True`` the result also holds ``student__*`` for a skorch
        template, ``teacher__*`` for an unfitted teacher (a fitted one is used
        as it is and has no searchable parameters) and ``terms__<name>`` /
        ``terms__<name>__<param>`` for each extra term.

        Parameters
        ----------
        deep : bool, default=True
            Include the parameters of contained objects.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        params = super().get_params(deep=deep)
        if not deep:
            return params
        if self._teacher_is_frozen():
            params = {k: v for k, v in params.items() if not k.startswith("teacher__")}
        for name, term in term_pairs(self.terms):
            params[f"terms__{name}"] = term
            if hasattr(term, "get_params"):
                params.update(
                    (f"terms__{name}__{key}", value)
                    for key, value in term.get_params(deep=True).items()
                )
        return params

    def set_params(self, **params):
        """Set parameters, including ``terms__<name>__<param>`` and nested ones.

        Parameters
        ----------
        **params : dict
            Parameter names mapped to their new values.

        Returns
        -------
        self : object
            This distiller.
        """
        term_params = {
            k: params.pop(k) for k in list(params) if k.startswith("terms__")
        }
        nested = [k for k in params if k.startswith("teacher__")]
        if nested and "teacher" not in params and self._teacher_is_frozen():
            raise ValueError(
                f"Cannot set {nested}: the teacher is fitted (or a module or a "
                "callable) and is used as it is, never refitted. To search the "
                "teacher's parameters, pass an unfitted teacher; the distiller then "
                "fits a clone of it."
            )
        if params:
            super().set_params(**params)
        for key, value in term_params.items():
            self._set_term_param(key, value)
        return self

    def _set_term_param(self, key: str, value) -> None:
        """``terms__<name>`` replaces a term, ``terms__<name>__<p>`` sets its ``p``."""
        name, _, sub_key = key[len("terms__") :].partition("__")
        pairs = term_pairs(self.terms)
        names = [n for n, _ in pairs]
        if name not in names:
            raise ValueError(
                f"Invalid parameter {key!r} for {type(self).__name__}: no term "
                f"named {name!r}; terms are {names}."
            )
        if sub_key:
            pairs[names.index(name)][1].set_params(**{sub_key: value})
        else:
            pairs[names.index(name)] = (name, value)
            self.terms = pairs


def term_pairs(terms, *, strict=False) -> list:
    """``terms`` as a list of ``(name, term)``; validated when ``strict``.

    Not strict (for ``get_params`` before validation), malformed items are
    skipped; strict (in ``fit``), they raise a ``TypeError`` naming the item.
    """
    if terms is None or (not strict and not isinstance(terms, (list, tuple))):
        return []
    pairs = []
    for item in terms:
        if (
            isinstance(item, tuple)
            and len(item) == 2
            and isinstance(item[0], str)
            and (not strict or isinstance(item[1], DistillationTerm))
        ):
            pairs.append(item)
        elif strict:
            raise TypeError(
                "The 'terms' parameter must be a list of (name, DistillationTerm) "
                f"pairs, like Pipeline steps; got the item {item!r}."
            )
    return pairs
