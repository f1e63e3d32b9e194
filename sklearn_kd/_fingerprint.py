"""Fingerprints of teachers: content hashes, memoised per object.

Hashing a large teacher is not free (about half a second for a 220 MB forest),
so its hash, the *fingerprint*, is computed once per object and process and
memoised behind a cheap signature of the object that each later fit checks
(milliseconds): small arrays by value, everything else by identity, the
identities pinned so that an id cannot be reused while an entry lives. Torch
modules and skorch nets are hashed again at every fit (their weights change
in place). Anything whose code a hash cannot see (a function of the user's)
has no fingerprint: :func:`teacher_fingerprint` says why instead.

Used by :mod:`sklearn_kd._cache`; imports nothing from the rest of
``sklearn_kd``.
"""

from __future__ import annotations

import functools
import sys
import types
import weakref
from dataclasses import dataclass, field

import joblib
import numpy as np
import pandas as pd
import sklearn
import torch
from joblib.hashing import NumpyHasher
from torch import nn

#: Bumped whenever what is cached under a key changes meaning; with the
#: versions of the libraries that compute the cached values, part of every key.
SCHEMA = 2
_VERSIONS = (
    SCHEMA,
    np.__version__,
    sklearn.__version__,
    torch.__version__,
    joblib.__version__,
    pd.__version__,
)

#: Top-level packages whose functions and callable objects are keyed by their
#: name: their code does not change while a key is in use (a library upgrade
#: changes the key, through ``_VERSIONS`` or pandas' version).
_TRUSTED_PACKAGES = frozenset(
    {
        "builtins",
        "math",
        "operator",
        "numpy",
        "scipy",
        "sklearn",
        "pandas",
        "torch",
        "skorch",
        "joblib",
    }
)

#: Arrays up to this size enter a signature by value, larger ones by identity.
_SMALL_ARRAY_BYTES = 4096

#: Object arrays up to this many elements enter a signature element by element.
_SMALL_OBJECT_ARRAY = 256

#: Attributes of a skorch net that do not change what it predicts: left out
#: of its fingerprint (training history, optimizer state, callbacks).
_SKORCH_IGNORED = frozenset(
    {
        "history",
        "history_",
        "callbacks",
        "callbacks_",
        "optimizer_",
        "_optimizers",
        "train_split",
        "iterator_train",
        "verbose",
    }
)

_SKORCH_IGNORED_PREFIXES = ("callbacks__", "optimizer__", "iterator_train__")

# ----------------------------------------------------------------------
# Fingerprints: content hashes, memoised per object behind a cheap signature
# ----------------------------------------------------------------------


@dataclass(eq=False)
class _Entry:
    """A memoised fingerprint of one object and the signature it was taken at.

    ``weak`` and ``strong`` pin every object whose identity the signature
    records: weakly where the object allows it (a dead reference invalidates
    the entry, so an id reused after garbage collection is never mistaken for
    the old object), strongly otherwise, as a forest's ``Tree`` objects (the
    id cannot be reused while the entry lives). So after a refit the old
    trees stay in memory until the object is fingerprinted again (its next
    fit with ``memory``) or collected.
    """

    ref: weakref.ref
    signature: tuple
    weak: list = field(default_factory=list)
    strong: list = field(default_factory=list)
    key: str | None = None
    reason: str | None = None

    def still_pinned(self) -> bool:
        return all(r() is not None for r in self.weak)


#: ``id(obj) -> _Entry``; an entry goes when its object is collected.
_MEMO: dict[int, _Entry] = {}


def _forget(object_id: int):
    def callback(ref):
        entry = _MEMO.get(object_id)
        if entry is not None and entry.ref is ref:
            del _MEMO[object_id]

    return callback


def teacher_fingerprint(obj) -> tuple[str | None, str | None]:
    """Content hash of a teacher (or generator, splitter): ``(key, reason)``.

    ``key`` is the same in every process for equal objects; None, with the
    ``reason``, when ``obj`` is or holds something whose behaviour a hash
    cannot see (a Python function or a callable object without ``fit``
    outside numpy, scipy, pandas, scikit-learn, torch and skorch) or that
    cannot be pickled.

    The hash pickles the object (arrays and tensors by their bytes, a
    DataFrame column by column). It is memoised per object and process:
    each later call walks the object's attributes (and lists, tuples, dicts)
    down to the leaves and compares a signature of values (scalars, arrays
    of up to 4 KB) and identities (larger arrays, trees, other objects),
    which a refit or ``set_params`` changes; only then is it hashed again.
    An object holding a torch tensor or module (a module, a skorch net, a
    ``TorchTeacher``) is hashed at every call, since weights change in place.
    A list or tuple of teachers is fingerprinted member by member.
    """
    if isinstance(obj, (list, tuple)):
        parts = [teacher_fingerprint(member) for member in obj]
        for key, reason in parts:
            if key is None:
                return None, reason
        return joblib.hash((type(obj).__name__, [key for key, _ in parts])), None
    try:
        weakref.ref(obj)
    except TypeError:
        return _verdict(obj)
    walk = _Signature()
    signature = walk.of(obj)
    if walk.volatile:
        return _verdict(obj)
    entry = _MEMO.get(id(obj))
    if (
        entry is not None
        and entry.ref() is obj
        and entry.signature == signature
        and entry.still_pinned()
    ):
        return entry.key, entry.reason
    key, reason = _verdict(obj)
    _MEMO[id(obj)] = _Entry(
        ref=weakref.ref(obj, _forget(id(obj))),
        signature=signature,
        weak=walk.weak,
        strong=walk.strong,
        key=key,
        reason=reason,
    )
    return key, reason


def _verdict(obj) -> tuple[str | None, str | None]:
    try:
        return _content_hash(obj), None
    except _Unseeable as err:
        return None, str(err)
    except Exception as err:  # anything joblib cannot pickle
        return None, f"an object that cannot be pickled ({err})"


class _Signature:
    """Cheap change detector of an object graph: values and pinned identities."""

    def __init__(self):
        self.weak: list = []
        self.strong: list = []
        self.volatile = False
        self._seen: set[int] = set()

    def _pin(self, obj) -> int:
        try:
            self.weak.append(weakref.ref(obj))
        except TypeError:
            self.strong.append(obj)
        return id(obj)

    def of(self, obj):
        kind = type(obj)
        if obj is None or kind in (bool, int, float, complex, str, bytes):
            return (kind, obj)
        if isinstance(obj, np.generic):
            return (kind, obj.tobytes())
        if id(obj) in self._seen:
            return ("seen", id(obj))
        self._seen.add(id(obj))
        if isinstance(obj, (torch.Tensor, nn.Module)):
            self.volatile = True
            return ("torch",)
        if isinstance(obj, np.ndarray):
            if not obj.dtype.hasobject and obj.nbytes <= _SMALL_ARRAY_BYTES:
                return ("array", obj.dtype.str, obj.shape, obj.tobytes())
            if obj.dtype.hasobject and obj.size <= _SMALL_OBJECT_ARRAY:
                items = tuple(self.of(item) for item in obj.ravel())
                return ("objects", obj.shape, items)
            return ("array", self._pin(obj), obj.dtype.str, obj.shape)
        if isinstance(obj, (list, tuple)):
            return (kind, tuple(self.of(item) for item in obj))
        if isinstance(obj, dict):
            return (kind, tuple((self.of(k), self.of(v)) for k, v in obj.items()))
        attributes = getattr(obj, "__dict__", None)
        if isinstance(attributes, dict) and not isinstance(
            obj, (type, types.FunctionType, types.ModuleType)
        ):
            state = tuple((k, self.of(v)) for k, v in attributes.items())
            return ("object", kind, self._pin(obj), state)
        return ("leaf", kind, self._pin(obj))


class _Unseeable(Exception):
    """Raised while hashing an object whose behaviour a hash cannot see."""


def _content_hash(obj) -> str:
    """The expensive hash: ``obj`` pickled (arrays and tensors by their bytes,
    DataFrames column by column), refusing functions it cannot see into."""
    hasher = _ContentHasher()
    return hasher.hash(obj)


class _ContentHasher(NumpyHasher):
    def __init__(self):
        super().__init__(hash_name="md5", coerce_mmap=True)

    def save(self, obj):
        super().save(_hashable_form(obj))


def _trusted(module_name) -> bool:
    return (module_name or "").split(".")[0] in _TRUSTED_PACKAGES


def _function_name(func) -> str:
    return (
        f"{getattr(func, '__module__', '?')}."
        f"{getattr(func, '__qualname__', type(func).__name__)}"
    )


def _hashable_form(obj):
    """What ``obj`` is hashed as; raises :class:`_Unseeable` for a function
    whose code the hash would not see."""
    if isinstance(obj, torch.Tensor):
        return _tensor_form(obj)
    if isinstance(obj, types.FunctionType):
        if not _trusted(obj.__module__):
            raise _Unseeable(f"the function {_function_name(obj)}")
        return obj
    if isinstance(obj, types.MethodType):
        if not _trusted(getattr(obj.__func__, "__module__", None)):
            raise _Unseeable(f"the method {_function_name(obj.__func__)}")
        return obj
    if isinstance(obj, (pd.DataFrame, pd.Series, pd.Index)):
        return _pandas_form(obj)
    if (
        isinstance(obj, np.ndarray)
        and obj.dtype == np.dtype(object)
        and obj.ndim in (1, 2)
        and obj.size
    ):
        return _object_array_form(obj)
    skorch = sys.modules.get("skorch")
    if skorch is not None and isinstance(obj, skorch.NeuralNet):
        state = {
            k: v
            for k, v in vars(obj).items()
            if k not in _SKORCH_IGNORED and not k.startswith(_SKORCH_IGNORED_PREFIXES)
        }
        return ("skorch.NeuralNet", type(obj), state)
    if (
        callable(obj)
        and not isinstance(
            obj,
            (type, nn.Module, types.BuiltinFunctionType, functools.partial),
        )
        and not any(hasattr(obj, m) for m in ("fit", "predict", "transform"))
        and not _trusted(getattr(obj, "__module__", None) or type(obj).__module__)
    ):
        raise _Unseeable(f"a callable {type(obj).__qualname__} object")
    return obj


def _tensor_form(tensor: torch.Tensor):
    """A tensor as its dtype, shape and bytes (no copy for a dense CPU tensor)."""
    t = tensor.detach()
    if t.layout != torch.strided or t.is_quantized or t.device.type == "meta":
        raise _Unseeable(f"a {t.layout} tensor")
    flat = t.cpu().resolve_conj().resolve_neg().contiguous().reshape(-1)
    data = flat.view(torch.uint8).numpy()
    return ("torch.Tensor", str(t.dtype), tuple(t.shape), data)


def _object_array_form(array):
    """An object array (labels, a table of mixed columns) column by column:
    a column of strings through pandas' hash, any other as its objects."""
    columns = array[:, None] if array.ndim == 1 else array
    parts = []
    for j in range(columns.shape[1]):
        column = columns[:, j]
        if pd.api.types.infer_dtype(column, skipna=False) == "string":
            hashed = pd.util.hash_pandas_object(
                pd.Series(column, copy=False), index=False, categorize=False
            )
            parts.append(("strings", hashed.to_numpy()))
        else:
            parts.append(("objects", column.tolist()))
    return ("object array", array.shape, tuple(parts))


def _pandas_form(obj):
    if isinstance(obj, pd.DataFrame):
        columns = tuple(
            (name, str(col.dtype), _column_form(col)) for name, col in obj.items()
        )
        return ("DataFrame", columns, _index_form(obj.index))
    if isinstance(obj, pd.Series):
        return (
            "Series",
            obj.name,
            str(obj.dtype),
            _column_form(obj),
            _index_form(obj.index),
        )
    return _index_form(obj)


def _column_form(col):
    dtype = col.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biufcmM":
        return np.ascontiguousarray(col.to_numpy())
    if isinstance(dtype, pd.CategoricalDtype):
        return (
            "categorical",
            _index_form(dtype.categories),
            bool(dtype.ordered),
            np.ascontiguousarray(col.cat.codes.to_numpy()),
        )
    if isinstance(dtype, pd.StringDtype) or (
        dtype == np.dtype(object)
        and pd.api.types.infer_dtype(col, skipna=False) == "string"
    ):
        # Only strings (and a StringDtype's one missing value): pandas' 64-bit
        # hash of each, vectorised; a mixed object column is pickled below.
        hashed = pd.util.hash_pandas_object(col, index=False, categorize=False)
        return ("strings", hashed.to_numpy())
    return ("values", col.to_numpy())


def _index_form(index):
    if isinstance(index, pd.RangeIndex):
        return ("range", index.start, index.stop, index.step, index.name)
    return (
        "index",
        type(index).__name__,
        str(index.dtype),
        tuple(index.names),
        _column_form(pd.Series(index, copy=False)),
    )
