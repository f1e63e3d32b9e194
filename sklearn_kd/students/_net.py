"""The skorch net that trains a student on the distillation objective.

Extends skorch only where its customization guide allows: ``get_loss``,
``infer`` and the iterator classes. The training loop, callbacks, history and
checkpointing are skorch's own.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping

import torch
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping
from skorch.utils import TeeGenerator
from torch.utils.data import Subset

from sklearn_kd._batch import INPUT, student_key
from sklearn_kd._torch_utils import capture_output, find_layer


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
            batch, x = x, x[INPUT]
            if self.module_.training and getattr(
                self.criterion_, "needs_input_grad", False
            ):
                # Gradient terms differentiate the outputs of this forward
                # pass with respect to the input: one forward for everything.
                x = x.detach().requires_grad_(True)
                if isinstance(batch, dict):
                    batch[INPUT] = x
            layers = getattr(self, "_student_layers", None)
            if layers and isinstance(batch, dict):
                # Feature terms read hidden layers of this same forward pass.
                with contextlib.ExitStack() as stack:
                    seen = {
                        name: stack.enter_context(capture_output(layer))
                        for name, layer in layers.items()
                    }
                    out = super().infer(x, **fit_params)
                for name, caught in seen.items():
                    batch[student_key(name)] = caught[0].flatten(1)
                return out
        return super().infer(x, **fit_params)

    def initialize_criterion(self, *args, **kwargs):
        super().initialize_criterion(*args, **kwargs)
        if hasattr(self.criterion_, "build"):
            # Terms' learned parts need the student's layer widths.
            self.criterion_.build(self.module_)
            self.criterion_.to(self.device)
            self._student_layers = {
                name: find_layer(self.module_, name, "student")
                for name in self.criterion_.read_layers(self.module_)
            }
        return self

    def _adversaries(self):
        return getattr(getattr(self, "criterion_", None), "adversaries", None)

    def get_all_learnable_params(self):
        # Adversaries (GREAT's discriminator) are trained by their own
        # optimizer, against the student, never by the student's.
        adversaries = self._adversaries()
        skip = set() if adversaries is None else set(adversaries.parameters())
        for name, param in super().get_all_learnable_params():
            if param not in skip:
                yield name, param

    def initialize_optimizer(self, *args, **kwargs):
        super().initialize_optimizer(*args, **kwargs)
        adversaries = self._adversaries()
        if adversaries:
            terms = dict(self.criterion_.terms)
            groups = [
                {
                    "params": list(adversary.parameters()),
                    "lr": terms[name].adversary_lr(self.lr),
                }
                for name, adversary in adversaries.items()
            ]
            self.optimizer_adversary_ = torch.optim.Adam(groups, betas=(0.5, 0.999))
        return self

    def train_step(self, batch, **fit_params):
        adversaries = self._adversaries()
        if not adversaries:
            return super().train_step(batch, **fit_params)
        # One student step on its own optimizer (skorch's default would also
        # step the adversary's with the student's loss), then one adversary
        # step on what the terms saw in that batch.
        self.optimizer_.zero_grad()
        step = self.train_step_single(batch, **fit_params)
        self.notify(
            "on_grad_computed",
            named_parameters=TeeGenerator(self.get_all_learnable_params()),
            batch=batch,
            training=True,
        )
        self.optimizer_.step()
        self.optimizer_adversary_.zero_grad()
        losses = self.criterion_.adversary_losses()
        sum(losses.values()).backward()
        self.optimizer_adversary_.step()
        for name, value in losses.items():
            self.history.record_batch(f"train_{name}_adversary", value.item())
        return step

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """skorch's ``partial_fit``, except that ``KeyboardInterrupt`` propagates.

        skorch ends training quietly on Ctrl-C and returns the half-trained
        net; a distiller must never look fitted after an interrupted fit, so
        the interrupt reaches ``fit``, which keeps the previous model.
        """
        if not self.initialized_:
            self.initialize()
        self.notify("on_train_begin", X=X, y=y)
        try:
            self.fit_loop(X, y, **fit_params)
        except KeyboardInterrupt:
            # skorch's EarlyStopping stops training by raising it too.
            if not self._stopped_early():
                raise
        self.notify("on_train_end", X=X, y=y)
        return self

    def _stopped_early(self) -> bool:
        """Whether an ``EarlyStopping`` callback has just ended training."""
        return any(
            isinstance(cb, EarlyStopping) and cb.misses_ >= cb.patience
            for _, cb in getattr(self, "callbacks_", [])
        )

    def get_loss(self, y_pred, y_true, X=None, training=False):
        batch = X if isinstance(X, Mapping) else {INPUT: X}
        total, parts = self.criterion_(y_pred, y_true, batch, self.module_)
        prefix = "train" if training else "valid"
        values = {name: value.item() for name, value in parts.items()}
        for name, value in values.items():
            self.history.record_batch(f"{prefix}_{name}", value)
        if not math.isfinite(total.item()):
            bad = [n for n, v in values.items() if not math.isfinite(v)] or ["total"]
            raise ValueError(
                f"The student's loss became non-finite in epoch {len(self.history)} "
                f"({prefix}), in the term(s) {bad}: training stopped. Lower lr, "
                "rescale the inputs or targets, or check the teacher's outputs."
            )
        return total
