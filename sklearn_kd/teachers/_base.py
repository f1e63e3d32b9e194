"""The teacher protocol: what a teacher can give and how it is queried."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence

import numpy as np

# The signal names are batch keys too: defined with the other keys, in the
# leaf module that terms import (losses never import teachers).
from sklearn_kd._batch import LOGITS, PREDICTION  # noqa: F401
from sklearn_kd._utils import (
    CHUNK_SIZE,
    iter_chunks,
    missing_values_named,
    take_rows,
)

#: Probabilities are clipped to this before their log is used as logits: a forest
#: gives exact zeros, whose log would be -inf.
PROBA_EPS = 1e-6


def proba_to_logits(proba: np.ndarray) -> np.ndarray:
    """``log(clip(p, eps, 1))``: logits whose softmax is ``p`` renormalised."""
    return np.log(np.clip(np.asarray(proba, dtype=np.float64), PROBA_EPS, 1.0))


def margins_to_logits(margins: np.ndarray) -> np.ndarray:
    """Binary decision margins ``m`` to two centred logits ``[-m/2, m/2]``."""
    margins = np.asarray(margins, dtype=np.float64).reshape(-1)
    return np.column_stack([-margins / 2, margins / 2])


class Teacher(ABC):
    """Adapter that gives a distiller what it needs from one kind of teacher.

    A teacher adapter is frozen data for a distiller: ``clone`` returns the same
    object, so a fitted teacher is never copied or refitted by ``GridSearchCV``.

    Attributes
    ----------
    signals : frozenset of str
        The signals this teacher can give (``"prediction"``, ``"logits"``).
    classes : ndarray or None
        The class labels of the teacher's logit columns, or None when the
        teacher does not say (its columns are then taken in sorted label order).
    is_classifier : bool or None
        Whether the wrapped model is known to be a classifier, None if unknown.
    """

    signals: frozenset[str] = frozenset()
    classes: np.ndarray | None = None
    is_classifier: bool | None = None

    def __sklearn_clone__(self):
        return self

    @property
    def name(self) -> str:
        """A short name of the wrapped model for error messages."""
        return type(self).__name__

    def torch_function(self, task: str):
        """A differentiable map from a float32 batch to the teacher's outputs.

        Gradient terms differentiate it by autograd. It returns what
        :meth:`query` gives for the task's signal (predictions, or logits),
        as a tensor. None when the teacher has no autograd (the default); the
        terms then fall back to finite differences.

        Parameters
        ----------
        task : {'regression', 'classification'}

        Returns
        -------
        callable or None
        """
        return None

    def torch_module(self):
        """The ``torch.nn.Module`` inside the teacher, or None.

        Terms that read the teacher's hidden layers find them here by name.
        """
        return None

    def features(self, X, layer: str) -> np.ndarray:
        """Hidden feature ``layer`` of the teacher on ``X``, (n_rows, width).

        Feature terms (FitNets and its kin) match the student's layers to it.
        The default has none.

        Raises
        ------
        ValueError
            If the teacher has no such feature.
        """
        raise ValueError(
            f"The teacher {self.name} exposes no hidden features; feature terms "
            "need a torch module, a skorch net, a scikit-learn MLP, a tree "
            "ensemble or a Pipeline as teacher, or a callable teacher_layer "
            "that computes the features from X."
        )

    def split_thresholds(self, X) -> dict[int, tuple[np.ndarray, np.ndarray]] | None:
        """Where a tree-ensemble teacher splits each raw numeric column.

        The default student places its piecewise-linear bins there. The
        default has none.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            The raw input the teacher receives.

        Returns
        -------
        dict of int to (ndarray, ndarray) or None
            Per column position: the sorted distinct thresholds and the
            training rows that pass through the splits using each; None when
            the teacher is not a tree ensemble on the raw columns.
        """
        return None

    def out_of_bag(self, signal: str, X, *, required: bool = True):
        """The teacher's out-of-bag ``signal`` on the rows it was fitted on.

        Each row's output from the members that did not see it in training,
        in the form :meth:`query` gives; NaN for a row that every member saw.

        Parameters
        ----------
        signal : str
            ``"prediction"`` or ``"logits"``.
        X : array-like of shape (n_samples, n_features)
            The rows, as given to :meth:`query`; they must be the ones the
            teacher was fitted on, in the same order.
        required : bool, default=True
            Raise when the teacher has no out-of-bag outputs for ``X``; False
            returns None instead (``teacher_labels='auto'``).

        Returns
        -------
        ndarray of shape (n_samples, n_outputs) or None

        Raises
        ------
        ValueError
            If ``required`` and the teacher has no out-of-bag outputs for
            ``X``.
        """
        if not required:
            return None
        raise ValueError(
            f"teacher_labels='oob' needs a bagging ensemble fitted with "
            f"oob_score=True (oob_prediction_ or oob_decision_function_), or a "
            f"scikit-learn forest fitted with bootstrap=True on these rows; the "
            f"teacher {self.name} has no out-of-bag outputs."
        )

    @abstractmethod
    def _query_chunk(self, X, signal: str) -> np.ndarray:
        """One signal on a chunk of rows, as a 2-D float array."""

    def _explain_input_error(self, X, err: ValueError) -> None:
        """Raise a clearer error than ``err`` when its cause is known (default:
        nothing known; the caller re-raises ``err``)."""
        return None

    def query(
        self, X, signals: Iterable[str], *, chunk_size: int = CHUNK_SIZE
    ) -> dict[str, np.ndarray]:
        """Ask the teacher for ``signals`` on all rows of ``X``, in chunks.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            The user's raw input.
        signals : iterable of str
            Signal names, each in ``self.signals``.
        chunk_size : int, default=8192
            Rows per call to the wrapped model.

        Returns
        -------
        dict of str to ndarray of shape (n_samples, n_columns)
        """
        signals = list(signals)
        unknown = [s for s in signals if s not in self.signals]
        if unknown:
            raise ValueError(
                f"The teacher {self.name} cannot give the signal(s) {unknown}; it "
                f"gives {sorted(self.signals)}."
            )
        n_samples = X.shape[0]
        parts: dict[str, list[np.ndarray]] = {s: [] for s in signals}
        for rows in iter_chunks(n_samples, chunk_size):
            chunk = take_rows(X, rows)
            for signal in signals:
                with missing_values_named(f"teacher {self.name}", chunk):
                    # A copy per call: a teacher that writes into its input
                    # must change neither the user's X nor the next query.
                    try:
                        out = self._query_chunk(_own_copy(chunk), signal)
                    except ValueError as err:
                        self._explain_input_error(chunk, err)
                        raise
                out = np.asarray(out, dtype=np.float64)
                if out.ndim == 1:
                    out = out.reshape(-1, 1)
                if out.ndim != 2 or out.shape[0] != rows.stop - rows.start:
                    raise ValueError(
                        f"The teacher {self.name} returned {signal} of shape "
                        f"{out.shape} for {rows.stop - rows.start} rows; expected one "
                        "row of outputs per input row."
                    )
                parts[signal].append(out)
        result = {s: np.concatenate(p, axis=0) for s, p in parts.items()}
        for signal, values in result.items():
            if not np.isfinite(values).all():
                raise ValueError(
                    f"The teacher {self.name} returned NaN or infinite {signal}s on "
                    "the training data; a distiller cannot learn from them."
                )
        return result

    def class_columns(self, classes: Sequence, n_columns: int) -> np.ndarray:
        """Indices of the teacher's logit columns for each label in ``classes``.

        Parameters
        ----------
        classes : sequence
            The distiller's sorted class labels (from ``y``).
        n_columns : int
            How many logit columns the teacher returned.

        Raises
        ------
        ValueError
            If a label in ``classes`` is missing from the teacher's classes, or,
            for a teacher without labels, if the column count differs.
        """
        classes = _plain(classes)
        if self.classes is None:
            if n_columns != len(classes):
                raise ValueError(
                    f"The teacher {self.name} gives {n_columns} class score(s) per "
                    f"row but y has {len(classes)} classes {classes}; a teacher "
                    "without a classes_ attribute must give one score per class, in "
                    "sorted label order."
                )
            return np.arange(n_columns)
        position = {label: i for i, label in enumerate(_plain(self.classes))}
        missing = [label for label in classes if label not in position]
        if missing:
            raise ValueError(
                f"The teacher's classes {_plain(self.classes)} do not cover the "
                f"classes in y: {missing} missing. A teacher must have been trained "
                "on every class the student is to predict."
            )
        return np.array([position[label] for label in classes])


def _own_copy(X):
    """``X`` itself if it is a DataFrame (pandas copies on write), else a copy."""
    if hasattr(X, "iloc"):
        return X
    return X.copy() if hasattr(X, "copy") else np.array(X, copy=True)


def _plain(labels) -> list:
    """Labels as plain Python values, for lookups and readable messages."""
    return [x.item() if isinstance(x, np.generic) else x for x in labels]
