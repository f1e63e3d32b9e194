"""Adapter for scikit-learn style models: estimators, Pipelines, skorch nets."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import is_classifier, is_regressor

from sklearn_kd._utils import is_dataframe
from sklearn_kd.teachers._base import (
    LOGITS,
    PREDICTION,
    PROBA_EPS,
    Teacher,
    margins_to_logits,
    proba_to_logits,
)
from sklearn_kd.teachers._features import _unfrozen, sklearn_features, torch_features


class SklearnTeacher(Teacher):
    """A fitted model with ``predict``, ``predict_proba`` or ``decision_function``.

    Covers scikit-learn estimators and Pipelines (also wrapped in
    ``FrozenEstimator``), fitted skorch nets and any object with that API. The
    model is used as it is: never refitted, never mutated.

    Logits come from ``predict_proba`` as ``log(clip(p))`` when the model has it,
    else from ``decision_function`` (binary margins ``m`` become ``[-m/2, m/2]``).

    Parameters
    ----------
    estimator : object
        The fitted model.
    """

    def __init__(self, estimator):
        self.estimator = estimator
        self.is_classifier = _task_of(estimator)
        signals = set()
        if hasattr(estimator, "predict"):
            signals.add(PREDICTION)
        if hasattr(estimator, "predict_proba") or hasattr(
            estimator, "decision_function"
        ):
            signals.add(LOGITS)
            if self.is_classifier is None:
                self.is_classifier = True
        self.signals = frozenset(signals)
        classes = getattr(estimator, "classes_", None)
        self.classes = None if classes is None else np.asarray(classes)
        # skorch nets feed numpy straight to torch: float64 would not match
        # float32 weights.
        self._float32 = _is_skorch_net(estimator)

    @property
    def name(self) -> str:
        return type(self.estimator).__name__

    def torch_module(self):
        return getattr(self.estimator, "module_", None) if self._float32 else None

    def features(self, X, layer):
        owner = f"teacher {self.name}"
        if self._float32 and hasattr(self.estimator, "module_"):
            return torch_features(
                self.estimator.module_, self.estimator.device, X, layer, owner
            )
        if hasattr(self.estimator, "_inference_module_"):
            # A fitted distiller or deployed student: born-again distillation.
            student = self.estimator
            X, _ = student._validate_X(X, reset=False)
            return torch_features(
                student._inference_module_,
                student.device_,
                student._student_matrix(X),
                layer,
                owner,
            )
        return sklearn_features(self.estimator, X, layer, owner)

    def split_thresholds(self, X):
        from sklearn_kd.teachers._thresholds import split_thresholds

        return split_thresholds(self.estimator, X)

    def out_of_bag(self, signal, X, *, required=True):
        from sklearn.pipeline import Pipeline

        from sklearn_kd.teachers._oob import (
            as_tree_input,
            fitted_on,
            forest_out_of_bag,
            is_bagging_forest,
        )

        model = _unfrozen(self.estimator)
        # A Pipeline's transformers map row to row: its final step's
        # out-of-bag outputs are the Pipeline's.
        final = _unfrozen(model[-1]) if isinstance(model, Pipeline) else model
        forest = is_bagging_forest(final)
        if not forest and not required:
            # 'auto' uses only what it can check: a forest's rows.
            return None
        n_rows = X.shape[0]
        name = "oob_prediction_" if signal == PREDICTION else "oob_decision_function_"
        values = getattr(final, name, None)
        if forest:
            # The rows as the forest sees them, once for the check and the
            # outputs; checked whether the outputs are stored or rebuilt:
            # out-of-bag labels for other rows would be wrong labels.
            Xt = as_tree_input(model[:-1].transform(X) if final is not model else X)
            if not fitted_on(final, Xt):
                if not required:
                    return None
                raise ValueError(
                    f"teacher_labels='oob': X is not the table the teacher "
                    f"{self.name} was fitted on ({n_rows} rows; its trees' leaves "
                    "count other rows). Out-of-bag outputs label only the rows "
                    "the teacher was fitted on, so pass those rows, in the same "
                    "order."
                )
            if values is None:
                values = forest_out_of_bag(
                    final, Xt, probabilities=signal != PREDICTION
                )
        if values is None:
            return super().out_of_bag(signal, X, required=required)
        values = np.asarray(values, dtype=np.float64)
        values = values.reshape(len(values), -1)
        if len(values) != n_rows:
            raise ValueError(
                f"teacher_labels='oob': the teacher {self.name} has {name} for "
                f"{len(values)} rows but X has {n_rows}; out-of-bag outputs label "
                "only the rows the teacher was fitted on, so fit with those rows, "
                "in the same order."
            )
        if signal == PREDICTION:
            return values
        # Probabilities; NaN stays NaN (a row no member left out).
        known = ~np.isnan(values).any(axis=1)
        logits = np.full_like(values, np.nan)
        logits[known] = proba_to_logits(values[known])
        return logits

    def torch_function(self, task):
        # A fitted skorch net: its module, then what predict/predict_proba
        # apply to the module's output, then the logits query() takes.
        if not self._float32 or not hasattr(self.estimator, "module_"):
            return None
        net = self.estimator
        module = net.module_
        nonlinearity = net._get_predict_nonlinearity()
        as_logits = task == "classification" and hasattr(net, "predict_proba")

        def function(x):
            was_training = module.training
            module.eval()
            try:
                out = nonlinearity(module(x.to(net.device)))
            finally:
                module.train(was_training)
            if as_logits:
                out = torch.log(out.clamp(PROBA_EPS, 1.0))
            return out

        return function

    def _prepare(self, X):
        if self._float32 and not is_dataframe(X):
            return np.asarray(X, dtype=np.float32)
        return X

    def _explain_input_error(self, X, err):
        from sklearn_kd.teachers._resolve import check_teacher_input

        check_teacher_input(self.estimator, X, err)

    def _query_chunk(self, X, signal):
        X = self._prepare(X)
        if signal == PREDICTION:
            return self.estimator.predict(X)
        if hasattr(self.estimator, "predict_proba"):
            proba = self.estimator.predict_proba(X)
            if isinstance(proba, list):
                raise ValueError(
                    f"The teacher {self.name} is a multi-output classifier; only "
                    "single-output classifiers can teach a DistilledClassifier."
                )
            return proba_to_logits(proba)
        scores = np.asarray(self.estimator.decision_function(X), dtype=np.float64)
        if scores.ndim == 1 or scores.shape[1] == 1:
            return margins_to_logits(scores)
        return scores


def _is_skorch_net(obj) -> bool:
    try:
        from skorch import NeuralNet
    except ImportError:  # pragma: no cover - skorch is a dependency
        return False
    return isinstance(obj, NeuralNet)


def _task_of(estimator) -> bool | None:
    """True for a classifier, False for a regressor, None when unknown.

    Duck-typed models without scikit-learn tags are unknown, not an error.
    """
    try:
        if is_classifier(estimator):
            return True
        if is_regressor(estimator):
            return False
    except AttributeError:
        pass
    return None
