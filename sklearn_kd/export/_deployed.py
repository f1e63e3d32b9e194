"""Deployable students: the trained network and its preprocessing, no teacher."""

from __future__ import annotations

import copy

from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from sklearn_kd._inference import (
    _ClassificationOutputs,
    _RegressionOutputs,
    _StudentInference,
    trace_for_inference,
)
from sklearn_kd._utils import resolve_device

#: What every deployed student copies from its distiller.
_SHARED = (
    "preprocessor_",
    "n_features_in_",
    "feature_names_in_",
    "_columns_seen_",
    "encoding_",
)


class _Deployed(_StudentInference, BaseEstimator):
    def fit(self, X, y=None):
        """Not available: a deployed student is trained by its distiller.

        Raises
        ------
        TypeError
            Always; refit the distiller and deploy it again.
        """
        raise TypeError(
            f"{type(self).__name__} is the frozen student of a fitted distiller and "
            "cannot be fitted; refit the distiller and call to_deployable() again."
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags

    def __getstate__(self):
        # The float64 inference copy holds float32 training weights exactly, so
        # it pickles as float32 (half the bytes) and is restored bit for bit.
        # A copy: object.__getstate__ may hand back the live __dict__.
        state = dict(super().__getstate__())
        module = state.get("_inference_module_")
        if module is not None:
            state["_inference_module_"] = copy.deepcopy(module).float()
        return state

    def __setstate__(self, state):
        module = state.get("_inference_module_")
        if module is not None:
            # float64 before the inference trace is rebuilt from it.
            state = {**state, "_inference_module_": module.double()}
        super().__setstate__(state)


class DeployedRegressor(RegressorMixin, _RegressionOutputs, _Deployed):
    """The student of a fitted :class:`~sklearn_kd.DistilledRegressor`, alone.

    Built by :func:`deploy`; ``predict`` and ``score`` behave exactly as the
    distiller's.

    Attributes
    ----------
    preprocessor_ : transformer or None
        The distiller's fitted preprocessor.
    device_ : torch.device
        Where the network runs.
    n_outputs_ : int
        Number of regression outputs.
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Input column names, when the distiller was fitted on a DataFrame.
    """


class DeployedClassifier(ClassifierMixin, _ClassificationOutputs, _Deployed):
    """The student of a fitted :class:`~sklearn_kd.DistilledClassifier`, alone.

    Built by :func:`deploy`; ``predict``, ``predict_proba`` and ``score``
    behave exactly as the distiller's.

    Attributes
    ----------
    preprocessor_ : transformer or None
        The distiller's fitted preprocessor.
    device_ : torch.device
        Where the network runs.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Input column names, when the distiller was fitted on a DataFrame.
    """


def deploy(distiller, *, device="cpu"):
    """The trained student of ``distiller``, without teacher or training state.

    Parameters
    ----------
    distiller : DistilledRegressor or DistilledClassifier
        A fitted distiller.
    device : str or torch.device, default='cpu'
        Where the deployed network runs.

    Returns
    -------
    DeployedRegressor or DeployedClassifier

    Examples
    --------
    >>> import pickle
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> from sklearn_kd import DistilledRegressor
    >>> X, y = make_regression(n_samples=200, n_features=4, random_state=0)
    >>> forest = RandomForestRegressor(n_estimators=50, random_state=0).fit(X, y)
    >>> student = DistilledRegressor(forest, max_epochs=5, random_state=0).fit(X, y)
    >>> deployed = student.to_deployable()
    >>> bool((deployed.predict(X) == student.predict(X)).all())
    True
    >>> len(pickle.dumps(deployed)) < len(pickle.dumps(forest)) / 5
    True
    """
    check_is_fitted(distiller)
    if hasattr(distiller, "classes_"):
        deployed, task_attrs = DeployedClassifier(), ("classes_",)
    else:
        deployed = DeployedRegressor()
        task_attrs = ("n_outputs_", "_target_mean_", "_target_scale_", "_y_was_1d_")
    for name in _SHARED + task_attrs:
        if hasattr(distiller, name):
            setattr(deployed, name, copy.deepcopy(getattr(distiller, name)))
    deployed.device_ = resolve_device(device)
    module = copy.deepcopy(distiller._inference_module_)
    deployed._inference_module_ = module.to(deployed.device_).eval()
    deployed._inference_graphs_ = trace_for_inference(
        deployed._inference_module_, deployed.device_
    )
    return deployed


# ----------------------------------------------------------------------
# ONNX and TorchScript: one float32 graph, its metadata, and the loaders
# ----------------------------------------------------------------------
