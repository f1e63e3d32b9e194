"""Caching what is asked of the teacher: the ``memory`` parameter.

A distiller asks its teacher for several things on the same transfer rows in
one fit (outputs, route checkpoints, derivatives, hidden features). Each ask
goes through one ``store(request, compute)``: :func:`no_cache` without
``memory``, or the store of :func:`teacher_store`, which caches ``compute()``
under a key of the teacher, the rows and the target encoding
(:func:`data_key`) and the request's own key. Derivatives cost many teacher
calls; with ``memory`` a search over term weights computes them once per
training set. The synthetic transfer rows and ``teacher_cv``'s out-of-fold
outputs are cached the same way (:func:`memory_call`, :func:`derived_key`).

Keys are content hashes, the same in every process, so a parallel search
shares the cache on disk. Hashing a large teacher is not free (about half a
second for a 220 MB forest, at every fit before), so its hash, the
*fingerprint*, is computed once per object and process and memoised: each
later fit only checks a cheap signature of the object (milliseconds; see
:func:`teacher_fingerprint`).

This module imports nothing from the rest of ``sklearn_kd``.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Hashable

import joblib
from sklearn.utils.validation import check_memory

from sklearn_kd._fingerprint import _VERSIONS, _content_hash, teacher_fingerprint


def no_cache(request, compute):
    """A ``store`` without cache: ``compute()`` every time."""
    return compute()


def cached_call(key, compute):
    """Module-level, so joblib.Memory can store it; keyed by ``key`` alone."""
    return compute()


def caching(memory) -> bool:
    """Whether ``memory`` (the distiller's parameter) caches anything."""
    return memory is not None and check_memory(memory).location is not None


def memory_call(memory, key: str | None, compute: Callable):
    """``compute()``, from ``memory`` under ``key`` when both are set.

    Parameters
    ----------
    memory : None, str or joblib.Memory
        The distiller's ``memory`` parameter.
    key : str or None
        What determines ``compute()``'s value (see :func:`derived_key`); None
        computes it without cache.
    compute : callable
        Called without arguments.
    """
    if key is None or not caching(memory):
        return compute()
    cached = check_memory(memory).cache(cached_call, ignore=["compute"])
    return cached(key, compute)


def derived_key(*parts) -> str:
    """Hash of ``parts`` (fingerprints, row keys, settings), the schema and the
    library versions: the key of a cached value."""
    return joblib.hash((_VERSIONS, parts))


def data_key(teacher, X, targets: tuple, *, fingerprint: bool = True) -> str | None:
    """Key of the teacher's outputs on ``X``: the teacher's fingerprint, the
    rows and the target encoding.

    What the key covers:

    - the teacher, by :func:`teacher_fingerprint`: a scikit-learn estimator's
      parameters and fitted state as pickled (arrays by their bytes), a
      Pipeline, list or ensemble member by member; a torch module (its
      weights and buffers) or skorch net (its ``module_`` and settings, not
      its history or optimizer) by content, read again at every fit, so
      weights changed in place are seen. An estimator's fingerprint is
      computed once per object and process and again only when its
      signature changes: a parameter set, or an attribute replaced anywhere
      inside it (attributes, lists, tuples and dicts, followed down), as a
      refit or ``set_params`` does;
    - functions and callables of numpy, scipy, pandas, scikit-learn, torch
      and skorch (``FunctionTransformer(np.log1p)``), by name;
    - the rows ``X`` by content (a DataFrame column by column: names,
      dtypes, values, index);
    - the targets, the schema of this module and the versions of numpy,
      scikit-learn, torch, joblib and pandas.

    What it does not cover:

    - an array, tree or other object *inside* a fitted estimator modified in
      place without being replaced (``est.coef_ *= 2``, writing into a
      forest's ``tree_.value``): the memoised fingerprint does not see it
      (arrays of up to 4 KB are compared by value, so small ones are seen);
    - the code of a class (an estimator, a module) redefined under the same
      name between fits;
    - the code of a function: a teacher that is or holds a Python function
      or a callable object without ``fit`` from any other module (a
      ``CallableTeacher``, a ``functools.partial``, a
      ``FunctionTransformer(func)`` in a Pipeline) has no key at all, since
      its behaviour can change while its name stays.

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
        False for a teacher known not to be fingerprintable.

    Returns
    -------
    str or None
        None when the teacher cannot be fingerprinted: it is or holds a
        function whose code the key cannot see (above), or something that
        cannot be pickled.
    """
    if not fingerprint:
        return None
    key, _ = teacher_fingerprint(teacher)
    if key is None:
        return None
    return derived_key("outputs", key, rows_key(X), targets)


def rows_key(X) -> str:
    """Content hash of the rows ``X`` (array, sparse matrix or DataFrame).

    A DataFrame is hashed column by column: numeric ones by their bytes, text
    and categorical ones through pandas' vectorised hash, never by pickling
    one Python string after another (0.18 s for the 22k-row HI table, against
    a few milliseconds).
    """
    return _content_hash(X)


def unfingerprintable_reason(teacher) -> str:
    """Why :func:`teacher_fingerprint` gives no key for ``teacher`` (its
    memoised verdict), for the warning; a generic reason if it does."""
    _, reason = teacher_fingerprint(teacher)
    return reason or "a plain callable"


def teacher_store(
    memory,
    data_key: Callable[[], str | None],
    teacher_name: str,
    reason: Callable[[], str] | None = None,
) -> Callable[[Hashable, Callable], object]:
    """``store(request, compute)``: ``compute()``, from ``memory`` when set.

    Parameters
    ----------
    memory : None, str or joblib.Memory
        The distiller's ``memory`` parameter.
    data_key : callable
        Returns the key of the teacher and the rows (see :func:`data_key`),
        or None when they cannot be fingerprinted; called once, on first use.
    teacher_name : str
        The teacher, in the warning given when it cannot be fingerprinted.
    reason : callable or None, default=None
        Returns why, for that warning (see :func:`unfingerprintable_reason`).

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
                what = reason() if reason is not None else "a plain callable"
                warnings.warn(
                    f"memory is ignored for the teacher {teacher_name}: it is or "
                    f"holds {what}, which a fingerprint cannot see into, so cached "
                    "outputs could come back stale after it changes. Cache needs an "
                    "estimator, Pipeline, torch module or skorch net holding no "
                    "Python function.",
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
