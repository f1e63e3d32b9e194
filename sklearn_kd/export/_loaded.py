"""Students read back from ONNX or TorchScript files, with the distiller's input."""

from __future__ import annotations

import base64
import json
import pickle

import numpy as np
import torch
from sklearn.utils import check_array
from sklearn.utils.metaestimators import available_if

from sklearn_kd._data import check_frame_finite
from sklearn_kd._preprocessing import (
    check_finite_columns,
    check_missing_allowed,
    check_no_missing_category,
    float_values,
    frame_columns,
    to_float32_matrix,
)
from sklearn_kd._utils import is_dataframe, resolve_device
from sklearn_kd.export._graph import (
    _FORMAT,
    _META_KEY,
    _PICKLE_KEY,
    _import_onnx,
    _quiet_exporter,
)

#: Metadata every export carries, and what each task adds.
_REQUIRED_KEYS = (
    "task",
    "n_features_in",
    "columns",
    "preprocessing",
    "numeric_positions",
    "categorical_positions",
    "numeric_names",
    "categorical_names",
    "categories",
    "inputs",
    "outputs",
)
_TASK_KEYS = {
    "classification": ("classes", "classes_dtype"),
    "regression": ("y_was_1d", "n_outputs"),
}


def _read_metadata(text, path, kind):
    try:
        meta = json.loads(text) if text else None
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or "format" not in meta:
        raise ValueError(
            f"{path} is not {kind} file written by sklearn_kd.export (it has no "
            f"valid {_META_KEY!r} metadata)."
        )
    if not isinstance(meta["format"], int) or meta["format"] > _FORMAT:
        raise ValueError(
            f"{path} was written by sklearn_kd {meta.get('sklearn_kd_version')} in "
            f"export format {meta['format']!r}; this version reads format "
            f"{_FORMAT} and older. Upgrade sklearn_kd."
        )
    task = meta.get("task")
    required = _REQUIRED_KEYS + _TASK_KEYS.get(task, ())
    missing = [key for key in required if key not in meta]
    if task not in _TASK_KEYS or missing:
        raise ValueError(
            f"The {_META_KEY!r} metadata of {path} has been altered or damaged "
            f"(task {task!r}; missing {missing}); the loader cannot tell how to "
            "encode input or read outputs. Export the model again."
        )
    return meta


def _unpickle(blob, meta, allow_pickle):
    if meta["preprocessing"] != "preprocessor":
        return None
    if not allow_pickle:
        raise ValueError(
            "This file holds a pickled preprocessor, which the loader must apply "
            "before the graph; unpickling can run arbitrary code, so pass "
            "allow_pickle=True only for a file from a source you trust."
        )
    return pickle.loads(blob)


def _is_classifier(student):
    return student.metadata["task"] == "classification"


class _ExportedStudent:
    """Encode raw input as the graph's inputs, run the graph, map its outputs."""

    def __init__(self, metadata, preprocessor=None):
        self.metadata = metadata
        self.preprocessor_ = preprocessor
        self.n_features_in_ = metadata["n_features_in"]
        if metadata["columns"] is not None:
            self.feature_names_in_ = np.asarray(metadata["columns"], dtype=object)
        if _is_classifier(self):
            self.classes_ = np.asarray(
                metadata["classes"], dtype=np.dtype(metadata["classes_dtype"])
            )
        self._lookup = [{v: i for i, v in enumerate(c)} for c in metadata["categories"]]

    def __repr__(self):
        return (
            f"{type(self).__name__}(task={self.metadata['task']!r}, "
            f"inputs={self.metadata['inputs']})"
        )

    def predict(self, X):
        """Predict with the exported graph.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Input in the form the distiller was fitted on.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Regression: float64 (computed in float32), 1-D when ``y`` was.
            Classification: labels from ``classes_``.
        """
        if _is_classifier(self):
            return self.classes_[self._run(self.to_graph_inputs(X), "label")]
        out = self._run(self.to_graph_inputs(X), "predictions").astype(np.float64)
        return out.ravel() if self.metadata["y_was_1d"] else out

    @available_if(_is_classifier)
    def predict_proba(self, X):
        """Class probabilities of the exported graph.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Input in the form the distiller was fitted on.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            float64 (computed in float32), columns in the order of ``classes_``.
        """
        return self._run(self.to_graph_inputs(X), "probabilities").astype(np.float64)

    def to_graph_inputs(self, X):
        """The graph's inputs for ``X``, checked as the distiller checks them.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Input in the form the distiller was fitted on.

        Returns
        -------
        inputs : dict of str to ndarray
            ``'numeric'`` (float32) and, with non-numeric columns,
            ``'categorical'`` (int64 category codes, -1 for unseen ones), as
            :func:`export_onnx` describes them.

        Raises
        ------
        ValueError
            If ``X`` has other columns than at fit, is empty, holds NaN or
            infinity, or has non-numbers in a numeric column.
        """
        meta = self.metadata
        X = self._check_shape(X)
        if meta["preprocessing"] == "preprocessor":
            if is_dataframe(X):
                check_frame_finite(X)
            else:
                X = check_array(
                    X,
                    dtype=[np.float64, np.float32],
                    ensure_all_finite="allow-nan",
                    input_name="X",
                )
            Xt = to_float32_matrix(
                self.preprocessor_.transform(X), source="preprocessor"
            )
            names = [f"preprocessor output {j}" for j in range(Xt.shape[1])]
            allowed = meta.get("missing_positions", [])
            check_missing_allowed(np.isnan(Xt), names, allowed)
            return {"numeric": Xt}
        numeric_pos = meta["numeric_positions"]
        categorical_pos = meta["categorical_positions"]
        frame = is_dataframe(X)
        try:
            if frame and not categorical_pos:
                # All numeric: one conversion (usually one block, ~1 us).
                numeric = X.to_numpy(dtype=np.float64, na_value=np.nan)
            elif frame:
                # Column by column: no pandas interleave of mixed dtypes.
                columns = [float_values(c) for c in frame_columns(X, numeric_pos)]
                n_rows = len(X.index)
                numeric = np.array(columns, dtype=np.float64).T.reshape(n_rows, -1)
            elif len(numeric_pos) == X.shape[1]:
                numeric = np.asarray(X, dtype=np.float64)
            else:
                numeric = X[:, numeric_pos].astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                "Input X has values that are not numbers in the numeric columns "
                f"{meta['numeric_names']}."
            ) from None
        check_finite_columns(
            numeric, meta["numeric_names"], allow_nan=meta.get("missing_positions", [])
        )
        inputs = {"numeric": numeric.astype(np.float32)}
        if np.isinf(inputs["numeric"]).any():
            raise ValueError("Input X has numbers too large for float32.")
        if not categorical_pos:
            return inputs
        columns = (
            frame_columns(X, categorical_pos)
            if frame
            else [X[:, p] for p in categorical_pos]
        )
        codes = []
        for j, (col, lookup) in enumerate(zip(columns, self._lookup, strict=True)):
            values = np.asarray(col, dtype=object)
            # Dictionary lookups (faster than pandas' get_indexer at any size);
            # unseen categories give -1; missing ones are an error.
            code = [lookup.get(v, -1) for v in values]
            if -1 in code:
                unseen = values[np.asarray(code) < 0]
                check_no_missing_category(unseen, meta["categorical_names"][j])
            codes.append(code)
        codes = np.array(codes, dtype=np.int64).T.reshape(len(numeric), -1)
        inputs["categorical"] = codes
        return inputs

    def _check_shape(self, X):
        expected = self.metadata["columns"]
        if is_dataframe(X):
            seen = X.columns.tolist()  # the common case: the same strings
            if expected is not None and seen != expected:
                seen = [str(c) for c in seen]
            if expected is not None and seen != expected:
                missing = [c for c in expected if c not in seen]
                extra = [c for c in seen if c not in expected]
                detail = (
                    f"missing {missing}, unexpected {extra}"
                    if missing or extra
                    else "same names in another order"
                )
                raise ValueError(
                    "The feature names should match those passed during fit "
                    f"({detail}); expected {expected}."
                )
        else:
            X = np.asarray(X)
            if X.ndim != 2:
                raise ValueError(
                    f"Expected a 2D array, got an array of shape {X.shape}. Reshape "
                    "your data either using array.reshape(-1, 1) if your data has a "
                    "single feature or array.reshape(1, -1) if it contains a single "
                    "sample."
                )
        if X.shape[0] == 0:
            raise ValueError(
                f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of "
                f"1 is required by {type(self).__name__}."
            )
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input."
            )
        return X

    def _run(self, inputs, output):
        """The graph's output named ``output`` on ``inputs``, as a numpy array."""
        raise NotImplementedError


class OnnxStudent(_ExportedStudent):
    """A student read from an ONNX file by :func:`load_onnx`, run by ONNX Runtime.

    Takes the distiller's input (a DataFrame with the columns seen at fit,
    string columns included, or an array), encodes it in Python as the
    graph's inputs (:meth:`to_graph_inputs`), runs the graph and maps its
    outputs back as the distiller does: regression outputs 1-D when ``y``
    was, class indices to labels. ``predict_proba`` exists for classifiers
    only.

    Attributes
    ----------
    session : onnxruntime.InferenceSession
        The session that runs the graph.
    metadata : dict
        The JSON metadata stored with the graph.
    n_features_in_ : int
        Number of input columns.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Input column names, when the distiller was fitted on a DataFrame.
    classes_ : ndarray of shape (n_classes,)
        Class labels (classifiers only).
    preprocessor_ : transformer or None
        The unpickled preprocessor, when it is not in the graph.
    """

    def __init__(self, session, metadata, preprocessor=None):
        super().__init__(metadata, preprocessor)
        self.session = session

    def _run(self, inputs, output):
        return self.session.run([output], inputs)[0]


class TorchScriptStudent(_ExportedStudent):
    """A student read from a TorchScript file by :func:`load_torchscript`.

    Takes the distiller's input and gives its outputs, as
    :class:`OnnxStudent` does, with the traced graph run by torch.

    Attributes
    ----------
    module : torch.jit.ScriptModule
        The traced graph.
    device : torch.device
        Where it runs.
    metadata : dict
        The JSON metadata stored with the graph.
    n_features_in_ : int
        Number of input columns.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Input column names, when the distiller was fitted on a DataFrame.
    classes_ : ndarray of shape (n_classes,)
        Class labels (classifiers only).
    preprocessor_ : transformer or None
        The unpickled preprocessor, when it is not in the graph.
    """

    def __init__(self, module, metadata, preprocessor=None, *, device):
        super().__init__(metadata, preprocessor)
        self.module = module
        self.device = device

    def _run(self, inputs, output):
        tensors = [
            torch.from_numpy(inputs[name]).to(self.device)
            for name in self.metadata["inputs"]
        ]
        with torch.inference_mode():
            out = self.module(*tensors)
        if isinstance(out, (tuple, list)):
            out = out[self.metadata["outputs"].index(output)]
        return out.cpu().numpy()


def load_onnx(path, *, providers=None, session_options=None, allow_pickle=False):
    """Read a file written by :func:`export_onnx` as a predictor.

    Parameters
    ----------
    path : str or path-like
        The ONNX file.
    providers : list of str, default=None
        ONNX Runtime execution providers; None means
        ``['CPUExecutionProvider']``.
    session_options : onnxruntime.SessionOptions, default=None
        Options of the inference session, such as ``intra_op_num_threads``.
    allow_pickle : bool, default=False
        Whether to unpickle the preprocessor stored in the file when the
        distiller's ``preprocessor`` was neither ``'auto'`` nor None.
        Unpickling can run arbitrary code: allow it only for trusted files.

    Returns
    -------
    OnnxStudent
        ``predict`` (and ``predict_proba`` for a classifier) on the
        distiller's input, equal to the distiller's to float32 precision.

    Raises
    ------
    ImportError
        If onnxruntime is missing: ``pip install "sklearn_kd[onnx]"``.
    ValueError
        If the file was not written by :func:`export_onnx`, or holds a
        pickled preprocessor and ``allow_pickle`` is False.

    Examples
    --------
    See :func:`export_onnx`.
    """
    (ort,) = _import_onnx("load_onnx", "onnxruntime")
    session = ort.InferenceSession(
        str(path),
        sess_options=session_options,
        providers=providers or ["CPUExecutionProvider"],
    )
    props = session.get_modelmeta().custom_metadata_map
    meta = _read_metadata(props.get(_META_KEY), path, "an ONNX")
    blob = props.get(_PICKLE_KEY)
    prep = _unpickle(blob and base64.b64decode(blob), meta, allow_pickle)
    return OnnxStudent(session, meta, prep)


def load_torchscript(path, *, device="cpu", allow_pickle=False):
    """Read a file written by :func:`export_torchscript` as a predictor.

    Parameters
    ----------
    path : str or path-like
        The TorchScript file.
    device : str or torch.device, default='cpu'
        Where the module runs.
    allow_pickle : bool, default=False
        Whether to unpickle the preprocessor stored in the file when the
        distiller's ``preprocessor`` was neither ``'auto'`` nor None.
        Unpickling can run arbitrary code: allow it only for trusted files.

    Returns
    -------
    TorchScriptStudent
        ``predict`` (and ``predict_proba`` for a classifier) on the
        distiller's input, equal to the distiller's to float32 precision.

    Raises
    ------
    ValueError
        If the file was not written by :func:`export_torchscript`, or holds a
        pickled preprocessor and ``allow_pickle`` is False.

    Examples
    --------
    See :func:`export_torchscript`.
    """
    device = resolve_device(device)
    extra = {f"{_META_KEY}.json": "", _PICKLE_KEY: ""}
    with _quiet_exporter():
        module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    meta = _read_metadata(extra[f"{_META_KEY}.json"], path, "a TorchScript")
    prep = _unpickle(extra[_PICKLE_KEY], meta, allow_pickle)
    return TorchScriptStudent(module.eval(), meta, prep, device=device)
