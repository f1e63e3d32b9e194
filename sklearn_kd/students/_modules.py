"""Default student networks for tabular data."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from sklearn_kd.students._encoding import EncodingSpec, NumericEncoding

#: Activation names accepted by :class:`MLP`, as in ``sklearn.neural_network``.
ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}


class MLP(nn.Module):
    """A plain multi-layer perceptron with named layers.

    ::

        MLP:    (in) -> [encoding] -> hidden_1 -> ... -> hidden_n -> output -> (out)
        hidden: (in) -> Linear -> Activation -> Dropout -> (out)

    Layers are named ``encoding``, ``hidden_1`` ... ``hidden_n`` and ``output``
    so that distillation terms and hooks can point at them.

    Parameters
    ----------
    in_features : int
        Input width (set from the data by the distiller).
    out_features : int
        Output width: the number of regression outputs or of classes.
    hidden_layer_sizes : sequence of int, default=(64, 64)
        Width of each hidden layer; empty for a linear model.
    activation : {'relu', 'gelu', 'silu', 'tanh', 'leaky_relu'}, default='relu'
        Activation after each hidden linear layer.
    dropout : float, default=0.0
        Dropout probability after each activation.
    encoding : EncodingSpec or None, default=None
        How numeric input columns are encoded before the first hidden layer
        (a :class:`~sklearn_kd.students.NumericEncoding`: piecewise-linear or
        periodic, missing-value indicators). None feeds the input as it is.
    """

    def __init__(
        self,
        *,
        in_features: int,
        out_features: int,
        hidden_layer_sizes: Sequence[int] = (64, 64),
        activation: str = "relu",
        dropout: float = 0.0,
        encoding: EncodingSpec | None = None,
    ):
        super().__init__()
        self.in_features = in_features
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        width = in_features
        if encoding is not None and not encoding.is_identity:
            layers["encoding"] = NumericEncoding(in_features, encoding)
            width = layers["encoding"].out_features
        for i, size in enumerate(hidden_layer_sizes, start=1):
            block = [nn.Linear(width, size), ACTIVATIONS[activation]()]
            if dropout > 0:
                block.append(nn.Dropout(dropout))
            layers[f"hidden_{i}"] = nn.Sequential(*block)
            width = size
        layers["output"] = nn.Linear(width, out_features)
        self.layers = nn.Sequential(layers)

    def forward(self, X):
        return self.layers(X)
