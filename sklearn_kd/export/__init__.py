"""Deployable students: the trained network and its preprocessing, no teacher.

A fitted distiller holds its teacher (a 300-tree forest can pickle to a GB)
and its training state. :func:`deploy` (or ``distiller.to_deployable()``)
returns a small scikit-learn estimator with only what prediction needs; its
predictions equal the distiller's.

:func:`export_onnx` and :func:`export_torchscript` write the student, with
its preprocessing and its output mapping, as one float32 graph that runs
without scikit-learn or sklearn_kd (ONNX Runtime, or torch alone).
:func:`load_onnx` and :func:`load_torchscript` read such a file back as a
small predictor that takes the distiller's own input.
"""

from sklearn_kd.export._deployed import DeployedClassifier, DeployedRegressor, deploy
from sklearn_kd.export._graph import export_onnx, export_torchscript
from sklearn_kd.export._loaded import (
    OnnxStudent,
    TorchScriptStudent,
    load_onnx,
    load_torchscript,
)

__all__ = [
    "DeployedClassifier",
    "DeployedRegressor",
    "OnnxStudent",
    "TorchScriptStudent",
    "deploy",
    "export_onnx",
    "export_torchscript",
    "load_onnx",
    "load_torchscript",
]
