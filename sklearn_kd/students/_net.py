"""The skorch net that trains a student on the distillation objective.

Extends skorch only where its customization guide allows: ``get_loss``,
``infer`` and the iterator classes. The training loop, callbacks, history and
checkpointing are skorch's own.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from skorch import NeuralNet
from torch.utils.data import Subset

#: Key of the student's input in the batch dictionary.
INPUT = "X"


class TensorDataset(torch.utils.data.Dataset):
    """Tensors that already sit on the training device, indexed by row.

    Parameters
    ----------
    X : mapping of str to Tensor
        ``"X"`` (the student's input) and per-row teacher signals, weights,
        masks; every tensor has the same first dimension.
    y : Tensor
        Task targets (standardised values or class indices).
    """

    def __init__(self, X: Mapping[str, torch.Tensor], y: torch.Tensor):
        self.X = dict(X)
        self.y = y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {k: v[i] for k, v in self.X.items()}, self.y[i]

    def batch(self, index):
        """Rows ``index`` (a slice or an index tensor) as one ``(X, y)`` batch."""
        return {k: v[index] for k, v in self.X.items()}, self.y[index]


class TensorBatches:
    """A DataLoader replacement that slices device tensors batch by batch.

    No per-row ``__getitem__``, no collate, no host-to-device copy: a shuffled
    epoch is one ``randperm`` (from torch's RNG, which the distiller seeds) and
    one gather per batch.

    Parameters
    ----------
    dataset : TensorDataset or torch.utils.data.Subset of one
        What to iterate over; a ``Subset`` comes from skorch's ``ValidSplit``.
    batch_size : int, default=128
        Rows per batch.
    shuffle : bool, default=False
        Draw a new row order at each epoch.
    drop_last : bool, default=False
        Skip a last, smaller batch.
    """

    def __init__(self, dataset, batch_size=128, shuffle=False, drop_last=False, **_):
        if isinstance(dataset, Subset):
            self.data = dataset.dataset
            self.rows = torch.as_tensor(dataset.indices, dtype=torch.long)
        else:
            self.data = dataset
            self.rows = None
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last

    def __len__(self):
        n = len(self.data) if self.rows is None else len(self.rows)
        full, rest = divmod(n, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self):
        device = self.data.y.device
        rows = self.rows
        n = len(self.data) if rows is None else len(rows)
        if self.shuffle:
            order = torch.randperm(n)
            rows = order if rows is None else rows[order]
        if rows is not None:
            rows = rows.to(device)
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            if self.drop_last and stop - start < self.batch_size:
                break
            index = slice(start, stop) if rows is None else rows[start:stop]
            yield self.data.batch(index)


class DistillationNet(NeuralNet):
    """skorch ``NeuralNet`` whose criterion is a distillation :class:`Objective`.

    Batches are dictionaries: ``"X"`` goes to the module, everything else (the
    teacher's signals, sample weights) goes to the objective. Each part of the
    objective is recorded per batch as ``train_<part>`` / ``valid_<part>``, so
    ``PassthroughScoring`` callbacks turn them into per-epoch history columns.
    """

    def get_iterator(self, dataset, training=False):
        # Our device tensors go through TensorBatches; anything else (skorch's
        # own predict/forward on user data builds a plain Dataset) through a
        # standard DataLoader, so the net stays usable as an ordinary skorch net.
        base = dataset.dataset if isinstance(dataset, Subset) else dataset
        if isinstance(base, TensorDataset):
            return super().get_iterator(dataset, training=training)
        return torch.utils.data.DataLoader(dataset, batch_size=self.batch_size)

    def infer(self, x, **fit_params):
        if isinstance(x, Mapping):
            x = x[INPUT]
        return super().infer(x, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        batch = X if isinstance(X, Mapping) else {INPUT: X}
        total, parts = self.criterion_(y_pred, y_true, batch, self.module_)
        prefix = "train" if training else "valid"
        for name, value in parts.items():
            self.history.record_batch(f"{prefix}_{name}", value.item())
        return total
