"""The default student's numeric encoding, with bins taken from the teacher.

``_StudentEncoding`` decides, once per fit, which student inputs are encoded
and where their bin edges come from (:mod:`sklearn_kd.students._bins`), and
maps a tree teacher's thresholds from the raw columns to the student's.
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax

from sklearn_kd._preprocessing import TabularEncoder
from sklearn_kd._utils import missing_value_columns
from sklearn_kd.students._bins import AUTO_BIN_CANDIDATES, auto_n_bins, encoding_spec
from sklearn_kd.students._encoding import EncodingSpec
from sklearn_kd.teachers import LOGITS, PREDICTION


class _StudentEncoding:
    """Mixin of the distillers: the ``EncodingSpec`` of the default student."""

    def _bin_counts(self) -> list:
        """The bins per column to train students with: ``n_bins``; for
        ``'auto'``, every count of ``AUTO_BIN_CANDIDATES`` when a validation
        set can choose between them, else ``'auto'`` (one count by the size
        of the data, :func:`~sklearn_kd.students._bins.auto_n_bins`)."""
        if self.n_bins != "auto":
            return [self.n_bins]
        piecewise = self.student is None and self.numeric_encoding == "piecewise_linear"
        if self.early_stopping_ and piecewise:
            return list(AUTO_BIN_CANDIDATES)
        return ["auto"]

    def _encoding_spec(
        self,
        adapter,
        X,
        Xs,
        signals,
        y_train,
        distilling: bool,
        seed,
        counts,
        store=None,
    ) -> tuple[list[tuple[int, EncodingSpec]] | None, str | None]:
        """The default student's encoding and where its bins came from.

        Parameters
        ----------
        adapter : Teacher
            Asked for its split thresholds.
        X : array-like or DataFrame
            The labelled rows as the teacher sees them.
        Xs : ndarray
            The student's input on all transfer rows (labelled rows first).
        signals : dict
            The teacher's outputs on those rows, as the terms read them.
        y_train : ndarray
            Encoded targets of the labelled rows.
        distilling : bool
            Whether any distillation term is active. A student trained from
            scratch never looks at the teacher: its bins come from the labels.
        seed : int
        counts : sequence of (int or 'auto')
            The bins per column to build an encoding for (:meth:`_bin_counts`).
        store : callable, default=None
            The fit's teacher store (``memory``): the teacher's split
            thresholds are cached in it like its outputs.

        Returns
        -------
        specs : list of (int, EncodingSpec) or None
            Per entry of ``counts``, the bins per column (``'auto'`` resolved
            by the rows the bins are fit on) and its encoding; None for a
            student that is not the default MLP.
        source : str or None
            ``'splits'``, ``'outputs'``, ``'labels'``, ``'quantile'``, or
            None when nothing is binned.
        """
        if self.student is not None:
            return None, None
        kind = self.numeric_encoding
        splits = None
        wants_splits = self.binning in ("auto", "splits")
        if kind == "piecewise_linear" and distilling and wants_splits:
            splits = self._student_splits(adapter, X, store)
            if self.binning == "splits" and splits is None:
                raise ValueError(
                    "binning='splits' needs a tree-ensemble teacher that splits on "
                    f"X's numeric columns; the teacher {adapter.name} gives no split "
                    "thresholds. Use binning='outputs' or 'auto'."
                )
        source = self.binning
        if source == "auto":
            source = "splits" if splits is not None else "outputs"
        target, rows = None, len(Xs)
        if source in ("splits", "outputs") and not distilling:
            source = "labels"
        if source == "outputs":
            target = self._teacher_bin_target(signals)
            if target is None:
                source = "labels"
        if source == "labels":
            # Target-aware bins from the labels (Gorishniy et al.'s tree-based
            # bins), on the labelled rows.
            target, rows = self._label_bin_target(y_train), len(y_train)
        counts = [auto_n_bins(rows) if c == "auto" else c for c in counts]
        specs = [
            (
                count,
                encoding_spec(
                    Xs[:rows],
                    kind=kind,
                    candidates=self._numeric_inputs(Xs),
                    n_bins=count,
                    source="outputs" if source == "labels" else source,
                    splits=splits,
                    target=target,
                    random_state=seed,
                    # Missing values anywhere in the transfer set get their
                    # indicator.
                    missing=tuple(missing_value_columns(Xs)),
                ),
            )
            for count in counts
        ]
        binned = kind == "piecewise_linear" and bool(specs[0][1].columns)
        return specs, source if binned else None

    def _numeric_inputs(self, Xs) -> list[int]:
        """Student inputs that hold numbers rather than one-hot codes."""
        prep = self.preprocessor_
        if isinstance(prep, TabularEncoder):
            return list(range(len(prep.numeric_columns_)))
        if prep is None:
            return list(range(Xs.shape[1]))
        # A user's transformer: columns with more than two values are numbers,
        # the others one-hot or binary codes.
        return [
            j
            for j in range(Xs.shape[1])
            if len(np.unique(Xs[~np.isnan(Xs[:, j]), j])) > 2
        ]

    def _student_splits(self, adapter, X, store=None):
        """The teacher's thresholds on each student input, in its units."""
        if store is None:
            raw = adapter.split_thresholds(X)
        else:
            # Reading a 300-tree forest's splits takes ~0.4 s: once per fold
            # in a cached search, like the teacher's outputs.
            raw = store(("split_thresholds",), lambda: adapter.split_thresholds(X))
        if not raw:
            return None
        prep = self.preprocessor_
        if prep is None:
            return dict(raw)
        if not isinstance(prep, TabularEncoder):
            return None
        positions = getattr(prep, "_numeric_pos", prep.numeric_columns_)
        out = {}
        for i, p in enumerate(positions):
            if p in raw:
                thresholds, counts = raw[p]
                out[i] = ((thresholds - prep.mean_[i]) / prep.scale_[i], counts)
        return out or None

    def _teacher_bin_target(self, signals):
        if PREDICTION in signals:
            return signals[PREDICTION]
        if LOGITS in signals:
            return softmax(signals[LOGITS], axis=1)
        return None

    def _label_bin_target(self, y_train):
        if self._task == "classification":
            return np.eye(len(self.classes_))[y_train]
        return y_train
