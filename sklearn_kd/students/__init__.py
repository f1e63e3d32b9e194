"""Student networks and the skorch machinery that trains them."""

from sklearn_kd.students._encoding import (
    EncodingSpec,
    NumericEncoding,
    Periodic,
    PiecewiseLinear,
)
from sklearn_kd.students._modules import MLP
from sklearn_kd.students._net import DistillationNet, TensorBatches, TensorDataset

__all__ = [
    "MLP",
    "DistillationNet",
    "EncodingSpec",
    "NumericEncoding",
    "Periodic",
    "PiecewiseLinear",
    "TensorBatches",
    "TensorDataset",
]
