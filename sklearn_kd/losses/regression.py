"""Output-matching terms for regression: the HP loss and raw output matching."""

from __future__ import annotations

from sklearn_kd._batch import PREDICTION, TARGET_SCALE
from sklearn_kd.losses._base import DistillationTerm
from sklearn_kd.losses._registry import register_term


@register_term(key="hp")
class HPLoss(DistillationTerm):
    r"""High-precision (HP) loss: squared error to the teacher's predictions.

    .. math::

        L_{HP} = \frac{1}{d} \sum_{j=1}^{d} (y^{(s)}_j - y^{(t)}_j)^2

    computed on targets the distiller standardises per output (zero mean, unit
    variance on the training set), so that every output counts equally and the
    term sits on the same scale as the task loss. The teacher's prediction acts
    as a denoised label (Bucilua et al., 2006).

    References
    ----------
    C. Bucilua, R. Caruana and A. Niculescu-Mizil. Model compression. KDD 2006.

    Parameters
    ----------
    weight : float, default=1.0
        Weight of the term in the total loss.
    """

    requires = (PREDICTION,)
    tasks = ("regression",)

    def loss(self, y_pred, batch, student):
        return ((y_pred - batch[PREDICTION]) ** 2).mean(dim=1)


@register_term(key="outputs")
class OutputMatching(DistillationTerm):
    r"""Direct output matching in the units of ``y``.

    .. math::

        L_{out} = \frac{1}{d} \sum_{j=1}^{d} \sigma_j^2 (y^{(s)}_j - y^{(t)}_j)^2

    where :math:`\sigma_j` is the training standard deviation of output
    :math:`j`: the squared error to the teacher measured in the original units,
    as in Bucilua et al. (2006). Unlike :class:`HPLoss`, outputs with a larger
    spread weigh more, which is what a user wants when the outputs share one
    unit and the large ones matter most.

    References
    ----------
    C. Bucilua, R. Caruana and A. Niculescu-Mizil. Model compression. KDD 2006.

    Parameters
    ----------
    weight : float, default=1.0
        Weight of the term in the total loss.
    """

    requires = (PREDICTION,)
    tasks = ("regression",)

    def loss(self, y_pred, batch, student):
        scale = batch[TARGET_SCALE]
        return (((y_pred - batch[PREDICTION]) * scale) ** 2).mean(dim=1)
