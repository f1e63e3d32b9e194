"""Bin edges for the student's piecewise-linear encoding.

Three sources, in the distillers' order of preference:

- ``'splits'``: the thresholds a tree-ensemble teacher splits each column on,
  thinned to the number of bins by how often the teacher uses them;
- ``'outputs'``: the thresholds of a small tree fit per column to a target on
  the transfer rows (the teacher's outputs when distilling, the labels when
  training from scratch), the target-aware bins of Gorishniy et al. (2022);
- ``'quantile'``: quantiles of each column.

Everything here works on the student's matrix (standardised numeric columns)
and plain arrays; the teacher is asked for its thresholds elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from sklearn_kd.students._encoding import EncodingSpec

#: Bin sources, as reported by the distillers' ``numeric_bins_source_``.
BIN_SOURCES = ("splits", "outputs", "quantile")

#: Most inputs the first layer may get, encoded columns and the others (one-hot
#: strings, columns passed through) together: keeps the default student small
#: (a 64-wide first layer on 256 inputs is 16k weights, about 100 kB deployed
#: with the rest).
MAX_ENCODED_WIDTH = 256

#: Rows the per-column trees of the ``'outputs'`` bins are fit on, at most.
_TREE_ROWS = 100_000


#: The bins per column that ``n_bins='auto'`` trains a student with, when a
#: validation set can choose between them. No one count wins everywhere: on
#: the benchmark, 8 bins suited Wages (a noisy wage equation) and 64 the STAR
#: test scores, and the lowest validation loss picked the better one in most
#: seeds.
AUTO_BIN_CANDIDATES = (8, 16, 32, 64)


def auto_n_bins(n_rows: int) -> int:
    """Bins per column by the size of the data: about one per 50 rows,
    between 8 and 32, so that a small, noisy table does not get more inputs
    than it can fit (``n_bins='auto'`` without a validation set)."""
    return int(np.clip(n_rows // 50, 8, 32))


def resolve_n_bins(n_bins, n_rows: int, n_columns: int, n_other: int = 0) -> int:
    """Bins per encoded column: ``n_bins``, or :func:`auto_n_bins` for
    ``'auto'``; either way the encoded columns and the ``n_other`` inputs
    that are not encoded stay within ``MAX_ENCODED_WIDTH`` inputs together
    (at least two bins a column).
    """
    if n_bins == "auto":
        n_bins = auto_n_bins(n_rows)
    cap = max(2, (MAX_ENCODED_WIDTH - n_other) // max(1, n_columns))
    return int(min(n_bins, cap))


def encoding_spec(
    Xs: np.ndarray,
    *,
    kind: str,
    candidates: Sequence[int],
    n_bins,
    source: str,
    splits: Mapping[int, tuple[np.ndarray, np.ndarray]] | None = None,
    target: np.ndarray | None = None,
    random_state: int | None = None,
    missing: tuple[int, ...] = (),
) -> EncodingSpec:
    """The student's encoding of ``Xs`` (the student's input matrix).

    Parameters
    ----------
    Xs : ndarray of shape (n_rows, n_inputs)
        The student's input on the transfer rows (NaN where missing).
    kind : {'piecewise_linear', 'periodic', 'none'}
        The encoding.
    candidates : sequence of int
        Numeric input columns that may be encoded.
    n_bins : int or 'auto'
        Bins per column (see :func:`resolve_n_bins`).
    source : {'splits', 'outputs', 'quantile'}
        Where the bin edges come from.
    splits : mapping of int to (ndarray, ndarray), default=None
        For ``'splits'``: per input column, the teacher's thresholds (in the
        units of ``Xs``) and how much each is used (rows through its splits).
    target : ndarray of shape (n_rows,) or (n_rows, n_targets), default=None
        For ``'outputs'``: what the per-column trees are fit to.
    random_state : int, default=None
        Seeds the per-column trees' subsample.
    missing : tuple of int, default=()
        Inputs that may hold NaN (each gets an indicator and a learned code).

    Returns
    -------
    EncodingSpec
    """
    if kind == "none":
        return EncodingSpec("none", missing=missing)
    # Constant columns carry nothing to encode: they pass through.
    columns = [j for j in candidates if _varies(Xs[:, j])]
    if kind == "periodic":
        return EncodingSpec("periodic", columns=tuple(columns), missing=missing)
    n_bins = resolve_n_bins(
        n_bins, len(Xs), len(columns), n_other=Xs.shape[1] - len(columns)
    )
    if source == "outputs":
        rows = _tree_rows(len(Xs), random_state)
        target = np.asarray(target, dtype=np.float64).reshape(len(Xs), -1)[rows]
    if source == "splits":
        splits = {j: (np.asarray(t), np.asarray(w)) for j, (t, w) in splits.items()}
        per_column = _allocate(splits, columns, n_bins)
    encoded, edges = [], []
    for j in columns:
        values = Xs[:, j].astype(np.float64)
        finite = ~np.isnan(values)
        lo, hi = values[finite].min(), values[finite].max()
        if source == "splits":
            if j not in splits:
                continue
            thresholds, rows_used = splits[j]
            inner = _thin(thresholds, rows_used, lo, hi, per_column[j])
        elif source == "outputs":
            column = values[rows]
            keep = ~np.isnan(column)
            inner = _tree_thresholds(column[keep], target[keep], n_bins)
        else:
            inner = np.quantile(values[finite], np.linspace(0, 1, n_bins + 1)[1:-1])
        inner = inner[(inner > lo) & (inner < hi)]
        column_edges = np.unique(np.concatenate([[lo], inner, [hi]]))
        # One bin would be a rescaled copy of the column: pass it through.
        if len(column_edges) >= 3:
            encoded.append(j)
            edges.append(tuple(float(e) for e in column_edges))
    return EncodingSpec(
        "piecewise_linear", columns=tuple(encoded), edges=tuple(edges), missing=missing
    )


def _varies(values: np.ndarray) -> bool:
    """Whether a column holds at least two distinct non-NaN values."""
    values = values[~np.isnan(values)]
    return len(values) > 0 and values.max() > values.min()


def _allocate(splits, columns, n_bins) -> dict[int, int]:
    """Bins per column for ``'splits'``: ``n_bins`` on average, shared in
    proportion to the rows that pass through the teacher's splits on each.

    A teacher that leans on one column (an id, a date) gets most of the bins
    there: a forest that singles out 100 households by their id needs 100
    bins on the id, not the same 16 as a column it barely uses. Each used
    column gets at least 2 and at most one more than its distinct thresholds.
    """
    used = {j: float(splits[j][1].sum()) for j in columns if j in splits}
    total = sum(used.values())
    if not total:
        return {}
    budget = n_bins * len(columns)
    bins = {
        j: int(min(len(splits[j][0]) + 1, max(2, round(budget * w / total))))
        for j, w in used.items()
    }
    # Rounding and the floor of 2 may overshoot: trim the widest columns.
    while sum(bins.values()) > max(budget, 2 * len(bins)):
        widest = max(bins, key=bins.get)
        bins[widest] -= 1
    return bins


def _thin(thresholds, counts, lo, hi, n_bins) -> np.ndarray:
    """At most ``n_bins - 1`` thresholds inside ``(lo, hi)``, where the teacher
    splits most: the quantiles of its thresholds, each weighted by the rows
    that pass through its splits.

    A forest rarely reuses a threshold exactly (each tree sees other rows), so
    single thresholds are not ranked on their own; the weighted quantiles put
    more edges where many well-used splits fall close together, and a split
    near the root (every row passes it) outweighs the deep ones.
    """
    inside = (thresholds > lo) & (thresholds < hi)
    thresholds, counts = thresholds[inside], counts[inside].astype(np.float64)
    if len(thresholds) <= n_bins - 1:
        return thresholds
    order = np.argsort(thresholds, kind="stable")
    thresholds, counts = thresholds[order], counts[order]
    cumulative = np.cumsum(counts) / counts.sum()
    levels = (np.arange(1, n_bins) - 0.5) / (n_bins - 1)
    picked = np.searchsorted(cumulative, levels)
    return np.unique(thresholds[np.minimum(picked, len(thresholds) - 1)])


def _tree_rows(n_rows: int, random_state) -> np.ndarray:
    if n_rows <= _TREE_ROWS:
        return np.arange(n_rows)
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n_rows, _TREE_ROWS, replace=False))


def _tree_thresholds(column, target, n_bins) -> np.ndarray:
    """Split thresholds of a tree with ``n_bins`` leaves fit to ``target``."""
    from sklearn.tree import DecisionTreeRegressor

    if len(column) < 2:
        return np.zeros(0)
    # Leaves of at least ~1 % of the rows: bins that the student's first
    # layer can fit, not the noise of a few rows.
    min_leaf = max(1, len(column) // (8 * n_bins))
    tree = DecisionTreeRegressor(
        max_leaf_nodes=max(2, n_bins), min_samples_leaf=min_leaf, random_state=0
    ).fit(column.reshape(-1, 1), target)
    split = tree.tree_.children_left != tree.tree_.children_right
    return np.sort(tree.tree_.threshold[split])
