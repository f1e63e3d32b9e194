"""Export the student and its preprocessing as one float32 graph."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import logging
import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from sklearn_kd._inference import (
    _StudentInference,
)
from sklearn_kd._preprocessing import TabularEncoder

#: Name of the JSON metadata in an ONNX file's ``metadata_props`` and, with
#: ``.json``, of the TorchScript extra file; the pickled preprocessor (only
#: for a preprocessor that is not a TabularEncoder) goes under ``_PICKLE_KEY``.
_META_KEY = "sklearn_kd"
_PICKLE_KEY = "sklearn_kd_preprocessor"
_FORMAT = 1
_INSTALL_ONNX = 'pip install "sklearn_kd[onnx]"'


class _StudentGraph(nn.Module):
    """The float32 student between its preprocessing and its output mapping.

    ``numeric`` is standardised (when ``mean`` is given); each column of
    ``categorical`` holds category codes, one-hot encoded here: output slot
    ``k`` is 1 where column ``slot_column[k]`` holds code ``slot_code[k]``, so
    the code -1 of an unknown category gives an all-zero block, as in
    TabularEncoder.
    """

    def __init__(self, student, *, mean, scale, slot_column, slot_code, outputs):
        super().__init__()
        self.student = student
        self.standardise = mean is not None
        self.classification = outputs is None
        for name, value, dtype in [
            ("mean", mean, torch.float32),
            ("scale", scale, torch.float32),
            ("slot_column", slot_column, torch.int64),
            ("slot_code", slot_code, torch.int64),
            ("target_scale", None if outputs is None else outputs[0], torch.float32),
            ("target_mean", None if outputs is None else outputs[1], torch.float32),
        ]:
            if value is not None:
                self.register_buffer(
                    name, torch.as_tensor(np.asarray(value), dtype=dtype)
                )

    def forward(self, numeric, categorical=None):
        x = (numeric - self.mean) / self.scale if self.standardise else numeric
        if categorical is not None:
            onehot = categorical.index_select(1, self.slot_column) == self.slot_code
            x = torch.cat([x, onehot.to(x.dtype)], dim=1)
        out = self.student(x)
        if self.classification:
            return torch.softmax(out, dim=1), torch.argmax(out, dim=1)
        return out * self.target_scale + self.target_mean


def _check_exportable(model, func):
    if not isinstance(model, _StudentInference):
        raise TypeError(
            f"{func} needs a fitted DistilledRegressor, DistilledClassifier, "
            f"DeployedRegressor or DeployedClassifier; got {type(model).__name__}."
        )
    check_is_fitted(model)


def _jsonable(values, what):
    """``values`` as a JSON-ready list, or a ValueError naming ``what``."""
    out = []
    for v in values:
        v = v.item() if isinstance(v, np.generic) else v
        if not isinstance(v, (str, bool, int, float)):
            raise ValueError(
                f"Cannot export {what}: {v!r} ({type(v).__name__}) is not a string, "
                "number or bool, the only values the exported metadata can hold."
            )
        out.append(v)
    return out


def _student_width(model, prep):
    """Input width of the student, for a preprocessor of unknown output width."""
    declared = getattr(model._inference_module_, "in_features", None)
    if isinstance(declared, int):
        return declared
    linear = next(
        (m for m in model._inference_module_.modules() if isinstance(m, nn.Linear)),
        None,
    )
    if linear is not None:
        return linear.in_features
    if hasattr(prep, "get_feature_names_out"):
        return len(prep.get_feature_names_out())
    raise ValueError(
        f"Cannot tell how many columns the preprocessor {type(prep).__name__} "
        "gives the student: the student has no nn.Linear layer and the "
        "preprocessor no get_feature_names_out."
    )


def _graph_and_metadata(model, func):
    """The export graph of ``model``, example inputs, metadata and pickled extras."""
    _check_exportable(model, func)
    from sklearn_kd import __version__

    prep = model.preprocessor_
    encoding = getattr(model, "encoding_", None)
    # Names that are not all strings (integers) have no feature_names_in_ in
    # scikit-learn; the loaders check them as strings all the same.
    columns = getattr(model, "feature_names_in_", None)
    if columns is None:
        columns = getattr(model, "_columns_seen_", None)
    meta = {
        "format": _FORMAT,
        "sklearn_kd_version": __version__,
        "estimator": type(model).__name__,
        "task": "classification" if hasattr(model, "classes_") else "regression",
        "n_features_in": int(model.n_features_in_),
        "columns": None if columns is None else [str(c) for c in columns],
    }
    n = int(model.n_features_in_)
    mean = scale = None
    slot_column, slot_code, categories = [], [], []
    pickled = None
    if isinstance(prep, TabularEncoder):
        meta["preprocessing"] = "tabular"
        names = list(getattr(prep, "feature_names_in_", range(n)))
        numeric = [names.index(c) for c in prep.numeric_columns_]
        categorical = [names.index(c) for c in prep.categorical_columns_]
        mean, scale = prep.mean_, prep.scale_
        for j, (col, cats) in enumerate(
            zip(prep.categorical_columns_, prep.categories_, strict=True)
        ):
            categories.append(_jsonable(cats, f"the categories of column {col!r}"))
            slot_column += [j] * len(cats)
            slot_code += list(range(len(cats)))
        width = len(numeric)
    elif prep is None:
        meta["preprocessing"] = "none"
        numeric, categorical, width = list(range(n)), [], n
    else:
        meta["preprocessing"] = "preprocessor"
        numeric, categorical = [], []
        width = _student_width(model, prep)
        pickled = pickle.dumps(prep, protocol=pickle.HIGHEST_PROTOCOL)
    # Positions name the columns of an array, in messages as in TabularEncoder's.
    names = meta["columns"] or list(range(n))
    meta.update(
        numeric_positions=numeric,
        categorical_positions=categorical,
        numeric_names=[names[i] for i in numeric],
        categorical_names=[names[i] for i in categorical],
        categories=categories,
        inputs=["numeric", "categorical"] if categorical else ["numeric"],
        # Columns of the numeric input that may hold NaN (the student encodes
        # them); NaN anywhere else is refused, as by the distiller.
        missing_positions=[] if encoding is None else list(encoding.missing),
    )
    if meta["task"] == "classification":
        meta["classes"] = _jsonable(model.classes_.tolist(), "the class labels")
        meta["classes_dtype"] = model.classes_.dtype.str
        meta["outputs"], outputs = ["probabilities", "label"], None
    else:
        meta["outputs"] = ["predictions"]
        meta["y_was_1d"] = bool(model._y_was_1d_)
        meta["n_outputs"] = int(model.n_outputs_)
        outputs = (model._target_scale_, model._target_mean_)
    student = copy.deepcopy(model._inference_module_).float().cpu().eval()
    graph = _StudentGraph(
        student,
        mean=mean,
        scale=scale,
        slot_column=slot_column if categorical else None,
        slot_code=slot_code if categorical else None,
        outputs=outputs,
    ).eval()
    # Two rows: torch.export specialises a dimension of size 0 or 1.
    example = [torch.zeros(2, width)]
    if categorical:
        example.append(torch.zeros(2, len(categorical), dtype=torch.int64))
    return graph, tuple(example), meta, pickled


@contextlib.contextmanager
def _quiet_exporter():
    """Silence what torch's exporters say about their own internals.

    torch 2.13 deprecates TorchScript (every ``torch.jit`` call warns) and its
    ONNX exporter logs missing torchvision ops and warns about pytree
    internals; none of it concerns the caller, who asked for this format.
    """
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", message=".*axis name.*will not be used")
            yield
    finally:
        logger.setLevel(level)


def _import_onnx(func, *modules):
    """Import ``modules``, or raise an ImportError that says what to install."""
    import importlib

    loaded = []
    for name in modules:
        try:
            loaded.append(importlib.import_module(name))
        except ImportError as exc:
            raise ImportError(
                f"{func} needs the {name!r} package, which is not installed; "
                f"install the ONNX extra: {_INSTALL_ONNX}"
            ) from exc
    return loaded


def export_onnx(model, path):
    """Write the student of ``model`` as an ONNX graph, preprocessing included.

    The graph computes in float32 and has a dynamic batch dimension. Its
    inputs depend on the distiller's ``preprocessor``:

    - ``'auto'`` (the default encoder): ``numeric``, float32 of shape
      (n_samples, n_numeric), the numeric columns in their input order,
      unscaled (the graph standardises them); and, when there are
      non-numeric columns, ``categorical``, int64 of shape
      (n_samples, n_categorical): for each such column, the position of the
      value in that column's sorted categories (``categories`` in the
      metadata), or -1 for a category unseen at fit, which the graph encodes
      as an all-zero one-hot block, as the distiller does.
    - ``None``: ``numeric``, the input matrix as float32.
    - any other transformer: ``numeric``, the transformer's output as
      float32. The transformer itself is not in the graph: it is pickled
      into the file's metadata and the loaders apply it in Python (with
      ``allow_pickle=True``).

    Outputs: for a regressor ``predictions``, float32 of shape
    (n_samples, n_outputs), in the units of ``y``; for a classifier
    ``probabilities``, float32 of shape (n_samples, n_classes), the softmax of
    the student's logits, and ``label``, int64 of shape (n_samples,), the
    index of the most probable class in ``classes``. The file's
    ``metadata_props`` hold, under ``'sklearn_kd'``, a JSON object with what
    the loader needs to encode raw input: column names and positions,
    categories, class labels, whether ``y`` was 1-D.

    Parameters
    ----------
    model : DistilledRegressor, DistilledClassifier, DeployedRegressor or \
            DeployedClassifier
        A fitted distiller or deployed student. Only the student is exported.
    path : str or path-like
        The file to write.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    ImportError
        If onnx or onnxscript is missing: ``pip install "sklearn_kd[onnx]"``.
    TypeError
        If ``model`` is not a distiller or deployed student.
    NotFittedError
        If ``model`` is not fitted.

    See Also
    --------
    load_onnx : Read the file back as a predictor taking the distiller's input.
    export_torchscript : The same graph for torch alone.

    Notes
    -----
    The graph is traced by torch's ``torch.export``-based ONNX exporter
    (``torch.onnx.export(..., dynamo=True)``, which needs torch 2.6 or later
    and ``onnxscript``); the older TorchScript-based exporter is deprecated
    since torch 2.9. An export takes a few seconds, most of it torch's
    tracing and translation. Predictions equal the distiller's to float32 precision
    (relative differences around 1e-6); a predicted label can differ only
    where two classes' logits tie to that precision.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> from sklearn_kd import DistilledRegressor
    >>> from sklearn_kd.export import export_onnx, load_onnx
    >>> X, y = make_regression(n_samples=200, n_features=4, random_state=0)
    >>> forest = RandomForestRegressor(n_estimators=20, random_state=0).fit(X, y)
    >>> student = DistilledRegressor(forest, max_epochs=5, random_state=0).fit(X, y)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = export_onnx(student, Path(tmp) / "student.onnx")
    ...     onnx_student = load_onnx(path)
    >>> import numpy as np
    >>> bool(np.allclose(onnx_student.predict(X), student.predict(X), rtol=1e-5))
    True
    """
    if tuple(int(v) for v in re.findall(r"\d+", torch.__version__)[:2]) < (2, 6):
        raise ImportError(
            f"export_onnx needs torch 2.6 or later; this is torch {torch.__version__}."
        )
    _import_onnx("export_onnx", "onnx", "onnxscript")
    import onnx

    graph, example, meta, pickled = _graph_and_metadata(model, "export_onnx")
    batch = torch.export.Dim("batch")
    with _quiet_exporter():
        program = torch.onnx.export(
            graph,
            example,
            input_names=meta["inputs"],
            output_names=meta["outputs"],
            dynamic_shapes=tuple({0: batch} for _ in example),
            dynamo=True,
            verbose=False,
        )
    proto = program.model_proto
    proto.metadata_props.add(key=_META_KEY, value=json.dumps(meta))
    if pickled is not None:
        proto.metadata_props.add(
            key=_PICKLE_KEY, value=base64.b64encode(pickled).decode("ascii")
        )
    path = Path(path)
    onnx.save(proto, path)
    return path


def export_torchscript(model, path):
    """Write the student of ``model`` as a TorchScript module, preprocessing included.

    The module is the graph :func:`export_onnx` writes, traced by
    ``torch.jit.trace``: same float32 computation, same inputs (positional:
    ``numeric``, then ``categorical`` when there are non-numeric columns) and
    outputs (a tensor for a regressor, the tuple ``(probabilities, label)`` for
    a classifier), dynamic batch dimension. The JSON metadata is stored as
    the extra file ``sklearn_kd.json`` (and a preprocessor other than the
    default encoder, pickled, as ``sklearn_kd_preprocessor``); read them with
    ``torch.jit.load(path, _extra_files=...)`` or use
    :func:`load_torchscript`.

    Parameters
    ----------
    model : DistilledRegressor, DistilledClassifier, DeployedRegressor or \
            DeployedClassifier
        A fitted distiller or deployed student. Only the student is exported.
    path : str or path-like
        The file to write.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    TypeError
        If ``model`` is not a distiller or deployed student.
    NotFittedError
        If ``model`` is not fitted.

    See Also
    --------
    load_torchscript : Read the file back as a predictor.
    export_onnx : The same graph as ONNX, with the inputs documented.

    Notes
    -----
    torch 2.13 deprecates TorchScript: ``torch.jit.trace``, ``save`` and
    ``load`` each emit a DeprecationWarning, which this function and
    :func:`load_torchscript` silence for their own calls. The file loads as
    long as torch ships ``torch.jit.load``; prefer :func:`export_onnx` for
    deployments meant to outlive that.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_kd import DistilledClassifier
    >>> from sklearn_kd.export import export_torchscript, load_torchscript
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> teacher = LogisticRegression().fit(X, y)
    >>> student = DistilledClassifier(teacher, max_epochs=5, random_state=0)
    >>> student = student.fit(X, y)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = export_torchscript(student, Path(tmp) / "student.pt")
    ...     scripted = load_torchscript(path)
    >>> scripted.predict_proba(X[:2]).shape
    (2, 2)
    """
    graph, example, meta, pickled = _graph_and_metadata(model, "export_torchscript")
    extra = {f"{_META_KEY}.json": json.dumps(meta)}
    if pickled is not None:
        extra[_PICKLE_KEY] = pickled
    path = Path(path)
    with _quiet_exporter(), torch.no_grad():
        traced = torch.jit.trace(graph, example)
        torch.jit.save(traced, str(path), _extra_files=extra)
    return path
