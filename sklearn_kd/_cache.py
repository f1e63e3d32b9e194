"""Caching what is asked of the teacher: the ``memory`` parameter.

A distiller asks its teacher for several things on the same transfer rows in
one fit (outputs, route checkpoints, derivatives, hidden features). Each ask
goes through one ``store(request, compute)``: :func:`no_cache` without
``memory``, or the store of :func:`teacher_store`, which caches ``compute()``
under a hash of the teacher, the rows and the target encoding
(:func:`data_key`) and the request's own key. Derivatives cost many teacher
calls; with ``memory`` a search over term weights computes them once per
training set.

This module imports nothing from the rest of ``sklearn_kd``.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Hashable

import joblib
from sklearn.utils.validation import check_memory


def no_cache(request, compute):
    """A ``store`` without cache: ``compute()`` every time."""
    return compute()


def cached_call(key, compute):
    """Module-level, so joblib.Memory can store it; keyed by ``key`` alone."""
    return compute()


def data_key(teacher, X, targets: tuple, *, fingerprint: bool = True) -> str | None:
    """Hash of the teacher, the rows and the target encoding.

    Parameters
    ----------
    teacher : object
        The fitted teacher (the ``teacher_`` attribute).
    X : array-like or DataFrame
        The transfer rows the teacher is asked about.
    targets : tuple
        What turns the teacher's outputs into cached targets (the regression
        targets' mean and scale, the classes): cached values depend on it.
    fingerprint : bool, default=True
        False for a teacher that cannot be fingerprinted (a plain callable,
        whose hash would not change when its behaviour does).

    Returns
    -------
    str or None
        None when the teacher cannot be fingerprinted or hashed.
    """
    if not fingerprint:
        return None
    try:
        return joblib.hash((teacher, X, targets))
    except Exception:  # any teacher joblib cannot pickle
        return None


def teacher_store(
    memory, data_key: Callable[[], str | None], teacher_name: str
) -> Callable[[Hashable, Callable], object]:
    """``store(request, compute)``: ``compute()``, from ``memory`` when set.

    Parameters
    ----------
    memory : None, str or joblib.Memory
        The distiller's ``memory`` parameter.
    data_key : callable
        Returns the hash of the teacher and the rows (see :func:`data_key`),
        or None when they cannot be fingerprinted; called once, on first use.
    teacher_name : str
        The teacher, in the warning given when it cannot be fingerprinted.

    Returns
    -------
    callable
        :func:`no_cache` without memory; otherwise a store that caches each
        request under the data key and the request's own key, and computes
        everything (after one warning) when the data key is None.
    """
    memory = check_memory(memory)
    if memory.location is None:
        return no_cache
    cached = memory.cache(cached_call, ignore=["compute"])
    key = []

    def store(request, compute):
        if not key:
            key.append(data_key())
            if key[0] is None:
                warnings.warn(
                    f"memory is ignored for the teacher {teacher_name}: a plain "
                    "callable cannot be fingerprinted, so its outputs could come "
                    "back stale. Cache needs an estimator, Pipeline, torch module "
                    "or skorch net.",
                    UserWarning,
                    stacklevel=_caller_stacklevel(),
                )
        if key[0] is None:
            return compute()
        return cached(joblib.hash((key[0], request)), compute)

    return store


def _caller_stacklevel() -> int:
    """``stacklevel`` that points a warning raised by this function's caller at
    the first frame outside sklearn_kd and scikit-learn (the user's ``fit``
    call, or the search that made it), however deep the fit's call chain."""
    frame, level = sys._getframe(2), 2
    while frame is not None and _top_package(frame) in ("sklearn_kd", "sklearn"):
        frame, level = frame.f_back, level + 1
    return level


def _top_package(frame) -> str:
    return frame.f_globals.get("__name__", "").split(".")[0]


def check_memory_location(memory) -> None:
    """Raise a ValueError naming the problem with a ``memory`` directory path.

    joblib would turn ``""`` into ``./joblib`` and fail deep inside the first
    cached call on a path that is a file or cannot be written; checked here,
    before the teacher is fitted or queried.
    """
    if not isinstance(memory, (str, os.PathLike)):
        return
    path = os.fspath(memory)
    if not path:
        raise ValueError(
            "memory='' is not a directory; pass None to cache nothing, or the "
            "path of a directory for the teacher's outputs."
        )
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"memory={path!r} is a file; memory must be a directory.")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise ValueError(
            f"memory={path!r} cannot be created as a directory: {err.strerror}."
        ) from err
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(
            f"memory={path!r} is a directory this process cannot write to; choose "
            "a writable directory or memory=None."
        )
