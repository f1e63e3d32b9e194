"""Prediction with a trained student: the lean path shared by the distillers
and the deployable students of :mod:`sklearn_kd.export`."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
from scipy.special import softmax
from sklearn.utils.validation import check_is_fitted, validate_data

from sklearn_kd._data import check_frame_finite, is_ready_array
from sklearn_kd._preprocessing import (
    TabularEncoder,
    check_missing_allowed,
    to_float32_matrix,
)
from sklearn_kd._utils import CHUNK_SIZE, is_dataframe, iter_chunks, take_rows


class _StudentInference:
    """Validate, encode and run the float64 inference copy of the student.

    Needs ``preprocessor_``, ``_inference_module_``, ``device_``,
    ``n_features_in_`` (and ``feature_names_in_``/``_columns_seen_`` after a
    DataFrame fit).
    """

    def __sklearn_is_fitted__(self):
        # Fitted means trained: a fit that failed half-way leaves no model.
        return hasattr(self, "_inference_module_")

    def _validate_X(self, X, y=None, *, reset: bool):
        """Validate ``X`` (and ``y`` at fit) without hiding it from the teacher.

        Arrays become finite float arrays; DataFrames stay DataFrames (the
        teacher may need their column names and categories) after the same
        checks.
        """
        fitting = y is not None or reset
        if not fitting and is_ready_array(X, self):
            # The common case at predict: a float matrix of the right width.
            # Anything unusual goes through scikit-learn's full validation.
            return X, None
        if is_dataframe(X):
            if fitting:
                X, y = validate_data(self, X, y, skip_check_array=True, reset=reset)
            elif X.columns.tolist() != getattr(self, "_columns_seen_", None):
                # Same columns as at fit is the common case and costs a list
                # comparison; anything else gets scikit-learn's own checks,
                # then ours, which also cover names that are not strings
                # (scikit-learn checks string names only).
                validate_data(self, X, skip_check_array=True, reset=reset)
                check_same_columns(X.columns.tolist(), self._columns_seen_)
            if X.shape[0] == 0:
                raise ValueError(
                    f"Found array with 0 sample(s) (shape={X.shape}) while a minimum "
                    f"of 1 is required by {type(self).__name__}."
                )
            if reset or not isinstance(
                getattr(self, "preprocessor_", None), TabularEncoder
            ):
                # At predict, the auto encoder runs this check on its own arrays
                # far faster than pandas can, column by column.
                check_frame_finite(X)
            return X, y
        if not fitting and getattr(self, "_columns_seen_", None) is not None:
            prep = getattr(self, "preprocessor_", None)
            if isinstance(prep, TabularEncoder) and prep.categorical_columns_:
                raise ValueError(
                    f"{type(self).__name__} was fitted on a DataFrame with the "
                    f"non-numeric columns {prep.categorical_columns_}; got "
                    f"{type(X).__name__}, which has no column names or string "
                    "columns. Pass a DataFrame with the columns seen at fit: "
                    f"{self._columns_seen_}."
                )
        # NaN is the student's to encode (which columns may hold it is checked
        # on the student's matrix); infinity is an error. Sparse input reaches
        # the teacher as it is; the student's matrix is made dense.
        kwargs = {
            "dtype": [np.float64, np.float32],
            "ensure_all_finite": "allow-nan",
            "accept_sparse": ["csr", "csc"],
        }
        if fitting:
            return validate_data(
                self, X, y, reset=reset, **self._y_check_params(), **kwargs
            )
        return validate_data(self, X, reset=reset, **kwargs), None

    def _unlabeled_rows(self, X, X_unlabeled):
        """``X_unlabeled`` validated like predict-time input, in ``X``'s form."""
        if X_unlabeled is None:
            return None
        if is_dataframe(X) and not is_dataframe(X_unlabeled):
            raise ValueError(
                "X_unlabeled must be a DataFrame with X's columns, since X is one; "
                f"got {type(X_unlabeled).__name__}."
            )
        if is_dataframe(X_unlabeled) and not is_dataframe(X):
            X_unlabeled = X_unlabeled.to_numpy()
        try:
            X_unlabeled, _ = self._validate_X(X_unlabeled, reset=False)
        except ValueError as err:
            raise ValueError(
                f"X_unlabeled must have the form of X: {_about_unlabeled(err)}"
            ) from err
        # Its columns are X's: _validate_X checked them against the fit's.
        return X_unlabeled

    def _y_check_params(self) -> dict:
        return {}

    def _student_matrix(self, X) -> np.ndarray:
        if isinstance(self.preprocessor_, TabularEncoder):
            # Already float32, finite-checked: no second pass over it.
            return self.preprocessor_._transform(X)
        Xt = X if self.preprocessor_ is None else self.preprocessor_.transform(X)
        return to_float32_matrix(
            Xt, source="input" if self.preprocessor_ is None else "preprocessor"
        )

    def _check_missing(self, Xs) -> None:
        """Raise unless NaN in the student's input is where it was at fit."""
        nan = np.isnan(Xs)
        if not nan.any():
            return
        encoding = getattr(self, "encoding_", None)
        allowed = () if encoding is None else encoding.missing
        check_missing_allowed(nan, self._student_input_names(Xs.shape[1]), allowed)

    def _student_input_names(self, width) -> list:
        """A name for each column of the student's input, for messages."""
        prep = self.preprocessor_
        if isinstance(prep, TabularEncoder):
            names = [*prep.numeric_columns_]
        elif prep is None:
            names = list(getattr(self, "feature_names_in_", range(width)))
        elif hasattr(prep, "get_feature_names_out"):
            try:
                names = [str(n) for n in prep.get_feature_names_out()]
            except (AttributeError, ValueError, TypeError):
                names = []
        else:
            names = []
        return names + [f"student input {j}" for j in range(len(names), width)]

    def _student_outputs(self, X) -> np.ndarray:
        """The student's raw outputs on ``X``, float64, computed in chunks.

        Bypasses skorch's ``predict`` (DataLoader, collate, callbacks) so that a
        single row costs little more than the network's forward pass. Rows are
        encoded and run ``CHUNK_SIZE`` at a time, so memory beyond the input
        and the output stays bounded however many rows come in.
        """
        if not hasattr(self, "_inference_module_"):
            check_is_fitted(self)
        X, _ = self._validate_X(X, reset=False)
        n_rows = X.shape[0]
        if n_rows <= CHUNK_SIZE:
            return self._run_student(X)
        out = None
        for rows in iter_chunks(n_rows, CHUNK_SIZE):
            part = self._run_student(take_rows(X, rows))
            if out is None:
                out = np.empty((n_rows, part.shape[1]), dtype=part.dtype)
            out[rows] = part
        return out

    def _run_student(self, X) -> np.ndarray:
        """Encode validated rows and run the student on them.

        Precision: batches of fewer than ``FLOAT32_MIN_ROWS`` rows run in
        float64, so that a row's prediction does not depend on the rows
        predicted with it (float32 GEMM kernels block by batch size);
        larger batches of the default student run in float32, the precision it
        was trained in, about three times faster; the two agree to float32
        precision (relative 1e-5).
        """
        Xs = self._student_matrix(X)
        self._check_missing(Xs)
        graphs = getattr(self, "_inference_graphs_", None)
        with torch.inference_mode():
            if graphs is not None and Xs.shape[0] >= FLOAT32_MIN_ROWS:
                x = torch.from_numpy(Xs).to(self.device_)
                return graphs[1](x).cpu().numpy().astype(np.float64)
            module = self._inference_module_ if graphs is None else graphs[0]
            x = torch.from_numpy(Xs).to(self.device_, torch.float64)
            return module(x).cpu().numpy()

    def __getstate__(self):
        # TorchScript graphs do not pickle; they are traced again on load.
        state = dict(super().__getstate__())
        state.pop("_inference_graphs_", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        module = self.__dict__.get("_inference_module_")
        if module is not None and "_inference_graphs_" not in self.__dict__:
            self._inference_graphs_ = trace_for_inference(module, self.device_)


#: From this many rows, the default student predicts in float32.
FLOAT32_MIN_ROWS = 1024


def trace_for_inference(module, device):
    """Frozen TorchScript traces of the default student, float64 and float32.

    One call of a traced graph skips the ~10 Python-level module calls of the
    eager forward (a 1-row predict's forward drops from about 50 us to about
    20 us). Only the package's own :class:`~sklearn_kd.students.MLP` is
    traced: its forward has no branch on the data, so the trace is exact; a
    student module of the user's may branch, so it runs eagerly, in float64.
    Each trace is checked against the eager module on rows of several sizes
    (NaN included); any difference, or any failure to trace, keeps the eager
    module.

    Returns
    -------
    tuple of (ScriptModule, ScriptModule) or None
        The float64 and float32 graphs, or None to run ``module`` eagerly.
    """
    from sklearn_kd.students import MLP

    if not isinstance(module, MLP):
        return None
    generator = torch.Generator().manual_seed(0)
    example = torch.randn(5, module.in_features, generator=generator)
    example[1, :] = float("nan")
    graphs = []
    for dtype in (torch.float64, torch.float32):
        eager = module if dtype == torch.float64 else copy.deepcopy(module).float()
        x = example.to(device, dtype)
        try:
            with torch.inference_mode(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                graph = torch.jit.freeze(
                    torch.jit.trace(eager, x[:2], check_trace=False)
                )
                # The profiling executor optimises a graph on its first calls:
                # make them here, not in the user's first predict.
                for n in (1, 5, 2, 1):
                    expected = eager(x[:n]).nan_to_num()
                    if not torch.equal(graph(x[:n]).nan_to_num(), expected):
                        return None
        except Exception:  # a failed trace keeps the eager module
            return None
        graphs.append(graph)
    return tuple(graphs)


def _about_unlabeled(err: ValueError) -> str:
    """scikit-learn's message about X, reworded to name X_unlabeled."""
    message = str(err).split("\n")[0].rstrip(":")
    for old, new in (
        ("Input X ", "X_unlabeled "),
        ("X has", "X_unlabeled has"),
        ("X's columns", "X_unlabeled's columns"),
    ):
        message = message.replace(old, new)
    return message


def check_same_columns(columns, seen) -> None:
    """Raise a ValueError unless ``columns`` are the fitted ``seen`` in order."""
    if seen is None or columns == seen:
        return
    if set(map(repr, columns)) == set(map(repr, seen)):
        problem = "the same names in another order"
    else:
        unseen = [c for c in columns if c not in seen]
        absent = [c for c in seen if c not in columns]
        problem = f"unexpected {unseen[:5]}, missing {absent[:5]}"
    raise ValueError(
        f"X's columns differ from those seen at fit ({problem}): fitted on "
        f"{seen[:10]}, got "
        f"{columns[:10]}. Pass the columns the model was fitted on, in the same "
        "order (X[fitted_columns])."
    )


class _RegressionOutputs:
    """``predict`` in the units of ``y``, from standardised student outputs."""

    def predict(self, X):
        """Predict with the student network.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Input, in the same form as at fit.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions in the units of ``y``, float64.
        """
        out = self._student_outputs(X) * self._target_scale_ + self._target_mean_
        return out.ravel() if self._y_was_1d_ else out


class _ClassificationOutputs:
    """``predict`` and ``predict_proba`` from the student's logits."""

    def predict_proba(self, X):
        """Class probabilities of the student (softmax of its logits at T=1).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Input, in the same form as at fit.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities, columns in the order of ``classes_``.
        """
        return softmax(self._student_outputs(X), axis=1)

    def predict(self, X):
        """Predict class labels with the student network.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Input, in the same form as at fit.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        logits = self._student_outputs(X)
        return self.classes_[np.argmax(logits, axis=1)]
