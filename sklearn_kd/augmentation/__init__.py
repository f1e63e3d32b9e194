"""Synthetic transfer sets for distillation: MUNGE and Gaussian noise.

A student mimics its teacher best where it has seen the teacher's answers.
Bucilua, Caruana & Niculescu-Mizil (2006) therefore label a large *synthetic*
transfer set with the teacher and train the student on it; the rows are drawn
near the training data by MUNGE so that they stay on the data's manifold. The
generators here follow the scikit-learn conventions (``fit(X)`` then
``sample(n_samples)``), keep a DataFrame a DataFrame (column names, order and
dtypes, ``str`` and ``category`` included) and an ndarray an ndarray, and are
reproducible with ``random_state``.

The distillers label the synthetic rows with the teacher and use them only in
the distillation terms: they have no true label.

References
----------
C. Bucilua, R. Caruana and A. Niculescu-Mizil, "Model compression",
Proceedings of the 12th ACM SIGKDD International Conference on Knowledge
Discovery and Data Mining (KDD), 2006, pp. 535-541.
"""

from __future__ import annotations

from sklearn.base import clone

from sklearn_kd.augmentation._munge import MUNGE
from sklearn_kd.augmentation._noise import GaussianNoise
from sklearn_kd.augmentation._tabular import _check_n_samples

_GENERATORS = {"munge": MUNGE, "noise": GaussianNoise}


def make_transfer_set(generator, X, n_samples, *, random_state=None):
    """Synthetic rows from a clone of ``generator`` fitted on ``X``.

    Parameters
    ----------
    generator : {"munge", "noise"} or object with ``fit`` and ``sample``
        A generator such as :class:`MUNGE` or :class:`GaussianNoise` (cloned,
        never modified), or the name of one, built with its defaults.
    X : {array-like, DataFrame} of shape (n, n_features)
        Training rows.
    n_samples : int >= 1
        Number of synthetic rows.
    random_state : int, RandomState instance or None, default=None
        Seed for a generator given by name, and for a generator object whose
        own ``random_state`` is None; a generator's own non-None
        ``random_state`` wins.

    Returns
    -------
    X_new : {ndarray, DataFrame} of shape (n_samples, n_features)
        Synthetic rows in the form of ``X``.

    Raises
    ------
    ValueError
        If ``generator`` is an unknown name, or fitting or sampling fails.
    TypeError
        If ``generator`` has no ``fit`` and ``sample`` methods.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_kd.augmentation import make_transfer_set
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> make_transfer_set("munge", X, 1000, random_state=0).shape
    (1000, 3)
    """
    if isinstance(generator, str):
        if generator not in _GENERATORS:
            raise ValueError(
                f"Unknown transfer-set generator {generator!r}; use one of "
                f"{sorted(_GENERATORS)} or an object with fit and sample methods."
            )
        generator = _GENERATORS[generator](random_state=random_state)
    elif not (hasattr(generator, "fit") and hasattr(generator, "sample")):
        raise TypeError(
            "The transfer-set generator must be 'munge', 'noise' or an object with "
            f"fit and sample methods; got {type(generator).__name__}."
        )
    else:
        generator = clone(generator, safe=False)
        if (
            random_state is not None
            and hasattr(generator, "get_params")
            and generator.get_params(deep=False).get("random_state", 0) is None
        ):
            generator.set_params(random_state=random_state)
    n_samples = _check_n_samples(n_samples)
    return generator.fit(X).sample(n_samples)


__all__ = ["MUNGE", "GaussianNoise", "make_transfer_set"]
