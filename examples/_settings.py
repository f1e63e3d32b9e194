"""Settings shared by the examples
===============================

Every example runs in one of two settings, chosen here, in one place. The
full one reproduces the results its text describes (seconds to minutes on 2
cores); the quick one, chosen by setting the environment variable
``SKLEARN_KD_QUICK=1``, is a smoke run with fewer rows, trees, epochs and
seeds, which the test suite and the documentation's gallery use::

    SKLEARN_KD_QUICK=1 python examples/synthetic_regression.py

An example picks its sizes with ``pick(full, quick)``, so that both settings
can be read side by side in its code.

The leading underscore keeps the gallery from running this module: it is not
an example (an ``ignore_pattern`` such as ``^_`` in ``sphinx_gallery_conf``
keeps it off the gallery's pages too). A script run as
``python examples/<name>.py`` finds it because Python puts the script's
folder first on ``sys.path``; sphinx-gallery runs each example from its
folder, with that folder on ``sys.path``.
"""

from __future__ import annotations

import os

#: True when ``SKLEARN_KD_QUICK`` is set to anything but ``""`` or ``"0"``
#: (the same rule as ``examples/compress_forest.py``).
QUICK = os.environ.get("SKLEARN_KD_QUICK", "") not in ("", "0")

# Idle OpenMP threads sleep instead of spinning. With torch's and
# scikit-learn's OpenMP runtimes in one process, HistGradientBoosting can
# otherwise crawl on a busy machine (a 100-iteration fit on digits: 110 s
# instead of 5 s on a shared 2-core box). An OpenMP runtime reads this when it
# loads, so it has to be set before scikit-learn is imported: examples import
# this module before their ``from sklearn ...`` lines (isort's order puts
# ``from _settings`` first). An explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def pick(full, quick):
    """``quick`` in the quick setting, ``full`` otherwise."""
    return quick if QUICK else full
