"""Adapter for a plain callable ``X -> outputs``."""

from __future__ import annotations

import numpy as np

from sklearn_kd._compat import StrOptions, validate_params
from sklearn_kd.teachers._base import LOGITS, PREDICTION, Teacher, proba_to_logits


class CallableTeacher(Teacher):
    """Any function from the raw ``X`` to an array of outputs.

    Parameters
    ----------
    func : callable
        ``func(X)`` returns an array of shape (n_samples,) or
        (n_samples, n_outputs).
    response : {'auto', 'prediction', 'logits', 'proba'}, default='auto'
        What the outputs are, for a classifier: ``'logits'`` are used as they
        are, ``'proba'`` become ``log(clip(p))``. ``'auto'`` takes rows that are
        non-negative and sum to one as probabilities and anything else as logits.
        A regressor uses the outputs as predictions whatever this says.
    classes : array-like or None, default=None
        Labels of the output columns for a classifier; None means the columns
        follow the sorted labels of ``y``.
    """

    signals = frozenset({PREDICTION, LOGITS})

    @validate_params(
        {
            "func": [callable],
            "response": [StrOptions({"auto", "prediction", "logits", "proba"})],
            "classes": ["array-like", None],
        },
        prefer_skip_nested_validation=True,
    )
    def __init__(self, func, response="auto", classes=None):
        self.func = func
        self.response = response
        self.classes = None if classes is None else np.asarray(classes)

    @property
    def name(self) -> str:
        return getattr(self.func, "__name__", type(self.func).__name__)

    def _query_chunk(self, X, signal):
        out = np.asarray(self.func(X), dtype=np.float64)
        if signal == PREDICTION:
            return out
        if out.ndim == 1:
            out = out.reshape(-1, 1)
        if self.response == "proba" or (
            self.response == "auto" and _looks_like_proba(out)
        ):
            return proba_to_logits(out)
        return out


def _looks_like_proba(out: np.ndarray) -> bool:
    return (
        out.ndim == 2
        and out.shape[1] > 1
        and bool((out >= 0).all())
        and bool(np.allclose(out.sum(axis=1), 1.0, atol=1e-4))
    )
