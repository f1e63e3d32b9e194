"""The teacher store behind ``memory`` (``sklearn_kd._cache``)."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from sklearn_kd import DistilledRegressor
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


# ----------------------------------------------------------------------
# Stale outputs: a teacher whose behaviour the key cannot see is not cached
# ----------------------------------------------------------------------

#: What the module-level teacher functions return: ``SIGN * X[:, 0]``. A test
#: flips it between two fits, as a user edits a function (or a global it
#: reads) and fits again with the same ``memory``.
SIGN = 1.0
CALLS: list = []
FAST = {"alpha": 0.0, "max_epochs": 2, "batch_size": 64, "random_state": 0}
_rng = np.random.default_rng(0)
X_SMALL = _rng.normal(size=(120, 3))
Y_SMALL = X_SMALL[:, 0] + 0.1 * _rng.normal(size=120)


def teacher_fn(X):
    CALLS.append(len(X))
    return SIGN * np.asarray(X)[:, 0]


def teacher_fn_2d(X):
    CALLS.append(len(X))
    return SIGN * np.asarray(X)[:, :1]


class CallableObject:
    def __call__(self, X):
        return teacher_fn(X)


def _function_pipeline():
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    return make_pipeline(FunctionTransformer(teacher_fn_2d), LinearRegression()).fit(
        X_SMALL, X_SMALL[:, 0]
    )


def _teachers():
    import functools

    from sklearn_kd.teachers import CallableTeacher, EnsembleTeacher, TeacherRoute

    g = sys.modules[__name__]  # look the function up at call time: it may be edited
    return {
        # Stale on 42eeb83: the adapter hid the function from the plain-callable
        # check, and joblib.hash pickled it by its name.
        "CallableTeacher(f)": lambda: CallableTeacher(g.teacher_fn),
        "[CallableTeacher(f)]": lambda: [CallableTeacher(g.teacher_fn)],
        "EnsembleTeacher([f])": lambda: EnsembleTeacher([g.teacher_fn]),
        "TeacherRoute([f, f])": lambda: TeacherRoute([g.teacher_fn, g.teacher_fn]),
        "Pipeline(FunctionTransformer(f), ...)": _function_pipeline,
        # Refused on 42eeb83 already; kept refused.
        "f": lambda: g.teacher_fn,
        "functools.partial(f)": lambda: functools.partial(g.teacher_fn),
        "[f, f]": lambda: [g.teacher_fn, g.teacher_fn],
        "callable object": CallableObject,
    }


def _fit_recording(make, memory):
    """Fit with ``memory``; the rows the teacher function was asked about and
    the warnings."""
    teacher = make()
    CALLS.clear()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        DistilledRegressor(teacher, memory=memory, **FAST).fit(X_SMALL, Y_SMALL)
    return list(CALLS), [str(w.message) for w in seen]


@pytest.mark.parametrize("name", list(_teachers()))
@pytest.mark.parametrize("change", ["global", "redefined"])
def test_changed_function_teacher_is_never_served_stale(
    name, change, tmp_path, monkeypatch
):
    """A function's behaviour changes between two fits with the same memory
    (a global it reads, or the function redefined under its name, as a
    re-run notebook cell does): the second fit asks the changed function,
    never the cache, and says that memory is ignored."""
    memory = str(tmp_path / "cache")
    make = _teachers()[name]
    first_calls, _ = _fit_recording(make, memory)
    assert first_calls
    if change == "global":
        monkeypatch.setattr(sys.modules[__name__], "SIGN", -1.0)
    else:

        def teacher_fn(X):  # the same name, qualified name and module
            CALLS.append(len(X))
            return -np.asarray(X)[:, 0]

        teacher_fn.__qualname__ = "teacher_fn"
        teacher_fn_2d = _negated_2d()
        monkeypatch.setattr(sys.modules[__name__], "teacher_fn", teacher_fn)
        monkeypatch.setattr(sys.modules[__name__], "teacher_fn_2d", teacher_fn_2d)
    calls, messages = _fit_recording(make, memory)
    assert calls, f"{name}: the second fit was served the old outputs from memory"
    assert any("memory is ignored for the teacher" in m for m in messages)


def _negated_2d():
    def teacher_fn_2d(X):
        CALLS.append(len(X))
        return -np.asarray(X)[:, :1]

    teacher_fn_2d.__qualname__ = "teacher_fn_2d"
    return teacher_fn_2d


def test_warning_names_the_function(tmp_path):
    """The warning says which function stops the cache."""
    from sklearn_kd.teachers import CallableTeacher

    _, messages = _fit_recording(
        lambda: CallableTeacher(teacher_fn), str(tmp_path / "c")
    )
    assert any(f"{__name__}.teacher_fn" in m for m in messages)


def test_library_functions_do_not_stop_the_cache(tmp_path):
    """A numpy ufunc in a FunctionTransformer cannot change: cached, no warning."""
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    teacher = make_pipeline(FunctionTransformer(np.tanh), LinearRegression()).fit(
        X_SMALL, Y_SMALL
    )
    assert data_key(teacher, X_SMALL, ()) is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DistilledRegressor(teacher, memory=str(tmp_path), **FAST).fit(X_SMALL, Y_SMALL)


# ----------------------------------------------------------------------
# Keys follow refits and in-place weight changes
# ----------------------------------------------------------------------


def test_refitted_estimator_gets_a_new_key():
    """The same forest object fitted again on other data has another key; fitted
    again on the same data with the same seed, the same key (a content hash)."""
    from sklearn.ensemble import RandomForestRegressor

    forest = RandomForestRegressor(n_estimators=5, random_state=0)
    forest.fit(X_SMALL, Y_SMALL)
    first = data_key(forest, X_SMALL, ())
    assert data_key(forest, X_SMALL, ()) == first
    forest.fit(X_SMALL, -Y_SMALL)
    assert data_key(forest, X_SMALL, ()) != first
    forest.fit(X_SMALL, Y_SMALL)
    assert data_key(forest, X_SMALL, ()) == first
    forest.set_params(max_depth=2)  # a parameter, not refitted: another key too
    assert data_key(forest, X_SMALL, ()) != first


def test_estimator_with_replaced_array_gets_a_new_key_even_at_a_reused_id():
    """A fitted array replaced after the old one was freed may get the old
    one's id; the memo, holding it by weak reference, still sees the change."""
    from sklearn.linear_model import LinearRegression

    est = LinearRegression().fit(X_SMALL, Y_SMALL)
    est.coef_ = np.zeros(1000)  # over 4 KB: held by identity, not by value
    keys = {data_key(est, X_SMALL, ())}
    for value in range(1, 6):
        est.coef_ = None  # the old array dies; the next one may reuse its id
        est.coef_ = np.full(1000, float(value))
        keys.add(data_key(est, X_SMALL, ()))
    assert len(keys) == 6


def test_torch_module_changed_in_place_gets_a_new_key():
    """Weights updated in place (an optimiser step, load_state_dict) change the
    key of the module, of its adapter and of a skorch net."""
    import torch
    from skorch import NeuralNetRegressor

    from sklearn_kd.teachers import TorchTeacher

    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1))
    adapter = TorchTeacher(module)
    before = data_key(module, X_SMALL, ()), data_key(adapter, X_SMALL, ())
    assert data_key(module, X_SMALL, ()) == before[0]
    with torch.no_grad():
        module[0].weight.mul_(-1)
    after = data_key(module, X_SMALL, ()), data_key(adapter, X_SMALL, ())
    assert after[0] != before[0] and after[1] != before[1]

    net = NeuralNetRegressor(
        torch.nn.Linear(3, 1), max_epochs=1, train_split=None, verbose=0
    )
    Xf, yf = X_SMALL.astype(np.float32), Y_SMALL.astype(np.float32).reshape(-1, 1)
    net.fit(Xf, yf)
    key = data_key(net, X_SMALL, ())
    assert data_key(net, X_SMALL, ()) == key
    net.partial_fit(Xf, yf)  # trains module_ in place
    assert data_key(net, X_SMALL, ()) != key


def test_fingerprint_is_computed_once_per_object(monkeypatch, tmp_path):
    """Several fits with one fitted teacher hash it once (memoised per object);
    a refit hashes it once more."""
    from sklearn.ensemble import RandomForestRegressor

    from sklearn_kd import _fingerprint

    forest = RandomForestRegressor(n_estimators=5, random_state=0)
    forest.fit(X_SMALL, Y_SMALL)
    hashed = []
    original = _fingerprint._content_hash

    def counting(obj):
        if obj is forest:
            hashed.append(1)
        return original(obj)

    monkeypatch.setattr(_fingerprint, "_content_hash", counting)
    for alpha in (0.0, 0.5, 1.0):
        settings = {**FAST, "alpha": alpha, "memory": str(tmp_path)}
        DistilledRegressor(forest, **settings).fit(X_SMALL, Y_SMALL)
    assert len(hashed) == 1
    forest.fit(X_SMALL, -Y_SMALL)
    DistilledRegressor(forest, memory=str(tmp_path), **FAST).fit(X_SMALL, Y_SMALL)
    assert len(hashed) == 2


def test_memo_lets_the_teacher_go():
    """The memo holds its objects weakly: a dropped teacher is collected and
    its entry removed."""
    import gc
    import weakref

    from sklearn.linear_model import LinearRegression

    from sklearn_kd import _fingerprint

    est = LinearRegression().fit(X_SMALL, Y_SMALL)
    _fingerprint.teacher_fingerprint(est)
    assert id(est) in _fingerprint._MEMO
    ref, key = weakref.ref(est), id(est)
    del est
    gc.collect()
    assert ref() is None
    assert key not in _fingerprint._MEMO


# ----------------------------------------------------------------------
# Rows
# ----------------------------------------------------------------------


def test_rows_key_of_a_dataframe():
    """Equal frames share a key; a changed cell, a column's type or the
    categories' order change it; a mixed object column is hashed by value."""
    import pandas as pd

    from sklearn_kd._cache import rows_key

    frame = pd.DataFrame(
        {
            "n": np.arange(6.0),
            "s": pd.Series(list("abcabc"), dtype="str"),
            "o": pd.Series(list("xyzxyz"), dtype=object),
            "c": pd.Categorical(list("uvuvuv"), categories=["u", "v"]),
        }
    )
    key = rows_key(frame)
    assert rows_key(frame.copy()) == key
    changed = frame.copy()
    changed.loc[2, "s"] = "q"
    assert rows_key(changed) != key
    changed = frame.copy()
    changed["c"] = pd.Categorical(list("uvuvuv"), categories=["v", "u"])
    assert rows_key(changed) != key
    mixed = pd.DataFrame({"m": pd.Series([1, "1"], dtype=object)})
    other = pd.DataFrame({"m": pd.Series(["1", 1], dtype=object)})
    assert rows_key(mixed) != rows_key(other)
    assert rows_key(frame[["n"]]) == rows_key(frame[["n"]].copy())
