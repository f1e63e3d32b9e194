"""What several test modules share that a fixture cannot give: the quick
training settings and two small data sets, read when a module is imported
(in module constants, ``parametrize`` lists and module-scoped fixtures).
Data a test only reads in its body are fixtures in ``conftest.py``.

Import it as ``from _shared import FAST``: pytest puts ``tests/`` on
``sys.path``. (Not ``_settings``: ``examples/_settings.py`` has that name.)

The settings are read-only mappings, so that no test can change another
module's: spread them (``**FAST``) or extend them (``{**FAST, "lr": 1e-2}``,
or :func:`fast` and :func:`tiny` for a module's own variant).
"""

from types import MappingProxyType

import numpy as np
from sklearn.datasets import make_classification

#: The default student for a few epochs in batches of 64: for tests of what
#: fit does, not of how well the student learns.
FAST = MappingProxyType({"max_epochs": 3, "batch_size": 64, "random_state": 0})

#: A tiny student (one hidden layer of 8) for a few epochs in batches of 32:
#: for the small data below and tests of the terms' mechanics.
TINY = MappingProxyType(
    {"hidden_layer_sizes": (8,), "max_epochs": 3, "batch_size": 32, "random_state": 0}
)


def fast(**changes):
    """:data:`FAST` with ``changes``, read-only."""
    return MappingProxyType({**FAST, **changes})


def tiny(**changes):
    """:data:`TINY` with ``changes``, read-only."""
    return MappingProxyType({**TINY, **changes})


# Small data, 90 rows and 4 inputs: a smooth regression target, and three
# well-separated classes (one cluster each). Shared by every module that
# imports them: copy before writing into one.
_RNG = np.random.default_rng(0)
XR = _RNG.uniform(-2, 2, size=(90, 4))
YR = np.sin(XR[:, 0]) + XR[:, 1] * XR[:, 2] + 0.1 * _RNG.normal(size=90)
XC, YC = make_classification(
    n_samples=90,
    n_features=4,
    n_informative=3,
    n_redundant=0,
    n_classes=3,
    n_clusters_per_class=1,
    random_state=0,
)
