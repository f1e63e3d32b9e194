"""The private scikit-learn names the package uses, imported in one place.

scikit-learn's parameter validation (``Interval``, ``StrOptions``,
``HasMethods``, ``validate_params``), its ``fit`` decorator (``_fit_context``)
and a few helpers (``_check_sample_weight``, the MLP activations) are what
its own estimators use, but they live in private modules that a release may
move or rename without deprecation. Every module of ``sklearn_kd`` imports
them from here, so such a release breaks this one file, and the fix is made
once. Where a fallback is cheap it is given; the parameter-validation classes
have none (they are the constraint system itself).

The ``sklearn-compat`` package was considered: it backports names to
scikit-learn releases older than the 1.6 this package needs, and does not
cover the validation classes, so it would not spare this module.

This module imports nothing from the rest of ``sklearn_kd`` (tests/test_layering.py
checks that no other module imports a private scikit-learn name).
"""

from __future__ import annotations

import functools

import numpy as np
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
    validate_params,
)


def _fit_context_fallback(*, prefer_skip_nested_validation):
    """``_fit_context`` for a release without it: validate, then run ``fit``."""
    from sklearn import config_context, get_config

    def decorator(fit_method):
        @functools.wraps(fit_method)
        def wrapper(estimator, *args, **kwargs):
            skip = get_config()["skip_parameter_validation"]
            if not skip:
                estimator._validate_params()
            with config_context(
                skip_parameter_validation=prefer_skip_nested_validation or skip
            ):
                return fit_method(estimator, *args, **kwargs)

        return wrapper

    return decorator


def _check_sample_weight_fallback(
    sample_weight,
    X,
    *,
    dtype=None,
    ensure_non_negative=False,
    allow_all_zero_weights=False,
    **_,
):
    """``_check_sample_weight`` for a release without it: a finite 1-D float
    array of ``len(X)`` (ones when None, filled when a scalar), with the same
    checks on negative and all-zero weights."""
    n = X.shape[0]
    dtype = np.float64 if dtype is None else dtype
    if sample_weight is None:
        return np.ones(n, dtype=dtype)
    if np.isscalar(sample_weight):
        sample_weight = np.full(n, sample_weight, dtype=dtype)
    else:
        sample_weight = np.asarray(sample_weight, dtype=dtype)
    if sample_weight.shape != (n,):
        raise ValueError(
            f"sample_weight.shape == {sample_weight.shape}, expected ({n},)!"
        )
    if not np.isfinite(sample_weight).all():
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if ensure_non_negative and (sample_weight < 0).any():
        raise ValueError("Negative values in data passed to `sample_weight`.")
    if not allow_all_zero_weights and not sample_weight.any():
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return sample_weight


def _logistic(x):
    from scipy.special import expit

    expit(x, out=x)


def _relu(x):
    np.maximum(x, 0, out=x)


#: The MLP's hidden activations, in place, for a release that moves them.
_FALLBACK_ACTIVATIONS = {
    "identity": lambda x: None,
    "logistic": _logistic,
    "tanh": lambda x: np.tanh(x, out=x),
    "relu": _relu,
}

try:
    from sklearn.base import _fit_context
except ImportError:  # pragma: no cover - depends on the scikit-learn release
    _fit_context = _fit_context_fallback

try:
    from sklearn.utils.validation import _check_sample_weight
except ImportError:  # pragma: no cover - depends on the scikit-learn release
    _check_sample_weight = _check_sample_weight_fallback


def mlp_activations() -> dict:
    """scikit-learn's MLP hidden activations by name, each applied in place.

    Imported on first use (``sklearn.neural_network`` is not needed by most
    fits), with a copy of the four hidden activations as fallback.
    """
    try:
        from sklearn.neural_network._base import ACTIVATIONS
    except ImportError:  # pragma: no cover - depends on the scikit-learn release
        return dict(_FALLBACK_ACTIVATIONS)
    return ACTIVATIONS


__all__ = [
    "HasMethods",
    "Interval",
    "InvalidParameterError",
    "StrOptions",
    "_check_sample_weight",
    "_fit_context",
    "mlp_activations",
    "validate_params",
]
