"""sklearn_kd: compress fitted models into small, fast neural networks.

Knowledge distillation with the scikit-learn API: :class:`DistilledRegressor`
and :class:`DistilledClassifier` take any fitted teacher and train a small
skorch/PyTorch student on
``alpha * task loss + beta * main term + sum_k weight_k * term_k``, where the
main term follows the teacher's outputs (``loss``; ``beta`` defaults to
``1 - alpha``) and ``terms`` adds the others (derivatives, features, ...).
:mod:`sklearn_kd.metrics` measures how closely the student follows its teacher.
"""

from sklearn_kd._classifier import DistilledClassifier
from sklearn_kd._regressor import DistilledRegressor

__version__ = "0.1.0"

__all__ = ["DistilledClassifier", "DistilledRegressor", "__version__"]
