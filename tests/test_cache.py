"""The teacher store behind ``memory`` (``sklearn_kd._cache``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sklearn_kd._cache import cached_call, data_key, no_cache, teacher_store


def _counting():
    calls = []

    def compute():
        calls.append(1)
        return np.arange(3.0)

    return calls, compute


def test_no_memory_computes_every_time():
    """Without memory the store is ``no_cache``: nothing is kept."""
    store = teacher_store(None, lambda: "key", "teacher")
    assert store is no_cache
    calls, compute = _counting()
    store("a", compute)
    store("a", compute)
    assert len(calls) == 2
    assert cached_call("k", compute).tolist() == [0.0, 1.0, 2.0]


def test_memory_caches_each_request_under_the_data_key(tmp_path):
    """One computation per (data key, request), across stores; the data key is
    asked for once per store, on first use."""
    asked = []

    def key():
        asked.append(1)
        return "data-1"

    calls, compute = _counting()
    store = teacher_store(str(tmp_path), key, "teacher")
    assert not asked
    np.testing.assert_array_equal(store("a", compute), np.arange(3.0))
    store("a", compute)
    store("b", compute)
    assert len(calls) == 2
    assert len(asked) == 1
    teacher_store(str(tmp_path), key, "teacher")("a", compute)
    assert len(calls) == 2
    teacher_store(str(tmp_path), lambda: "data-2", "teacher")("a", compute)
    assert len(calls) == 3


def test_unfingerprintable_teacher_warns_once_at_the_caller(tmp_path):
    """A None data key computes everything, after one warning that points at
    the code that called into the package (here, this file)."""
    calls, compute = _counting()
    store = teacher_store(str(tmp_path), lambda: None, "callable <lambda>")
    with pytest.warns(UserWarning, match="memory is ignored for the teacher") as seen:
        store("a", compute)
    assert seen[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store("a", compute)
    assert len(calls) == 2


def test_data_key():
    """The hash changes with the teacher, the rows and the targets; a teacher
    that cannot be fingerprinted or pickled has none."""
    X = np.arange(6.0).reshape(3, 2)
    base = data_key("teacher", X, (1.0,))
    assert base == data_key("teacher", X.copy(), (1.0,))
    assert base != data_key("other", X, (1.0,))
    assert base != data_key("teacher", X + 1, (1.0,))
    assert base != data_key("teacher", X, (2.0,))
    assert data_key("teacher", X, (), fingerprint=False) is None

    class Unpicklable:
        def __reduce__(self):
            raise TypeError("no")

    assert data_key(Unpicklable(), X, ()) is None
