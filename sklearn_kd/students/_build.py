"""Build the skorch net that trains a student, from a distiller's settings."""

from __future__ import annotations

import copy
import inspect
import math
from numbers import Integral

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping, PassthroughScoring
from skorch.dataset import ValidSplit
from skorch.utils import noop
from torch import nn

from sklearn_kd.students._modules import MLP
from sklearn_kd.students._net import DistillationNet, TensorBatches
from sklearn_kd.students._progress import EpochLog

_IN_NAMES = ("in_features", "input_dim", "d_in", "n_inputs", "n_features")
_OUT_NAMES = ("out_features", "output_dim", "d_out", "n_outputs", "n_classes")
# Parameters of a skorch template that the distiller owns.
_TEMPLATE_OWNED = ("criterion", "iterator_train", "iterator_valid", "dataset")
_TEMPLATE_DROPPED = ("classes", "predict_nonlinearity", "device", "verbose")


def make_student_net(
    est,
    *,
    n_in,
    n_out,
    objective,
    parts,
    device,
    seed,
    stratified,
    early_stopping=False,
    encoding=None,
    train_parts=(),
    extra_callbacks=(),
) -> DistillationNet:
    """The unfitted :class:`DistillationNet` for distiller ``est``.

    Parameters
    ----------
    est : DistilledRegressor or DistilledClassifier
        Read for ``student`` and the flat training parameters.
    n_in, n_out : int
        Input width (preprocessed columns) and output width.
    objective : Objective
        The criterion.
    parts : list of str
        Names of the objective's parts, each logged per epoch.
    train_parts : list of str, default=()
        Parts measured on training batches only (adversaries' losses).
    extra_callbacks : list of (str, Callback), default=()
        Callbacks the fit needs (the teacher route's schedule); they run
        before the user's and the distiller's scoring.
    device : torch.device
        Where to train.
    seed : int
        Seeds the validation split.
    stratified : bool
        Stratify the validation split (classifiers).
    early_stopping : bool, default=False
        Hold out ``est.validation_fraction`` of the rows and stop on the task
        loss there (the distiller's resolved ``early_stopping``).
    encoding : EncodingSpec or None, default=None
        The default student's numeric encoding.
    """
    # What the distiller owns in every student net: its objective, the
    # device-tensor batches, the device and the verbosity, printed by EpochLog
    # in place of skorch's PrintLog (plain lines, the columns explained, the
    # time left; verbose=2 adds a bar over the epochs on a terminal).
    common = {
        "criterion": objective,
        "iterator_train": TensorBatches,
        "iterator_train__shuffle": True,
        "iterator_valid": TensorBatches,
        "device": device,
        "verbose": est.verbose,
        "callbacks__print_log": EpochLog(bar=est.verbose >= 2),
    }
    callbacks = list(extra_callbacks)
    for part in [*parts, *train_parts]:
        callbacks.append(
            (f"train_{part}", PassthroughScoring(f"train_{part}", on_train=True))
        )
    student = est.student
    if isinstance(student, NeuralNet):
        params = {
            k: v
            for k, v in student.get_params(deep=False).items()
            if not k.startswith(tuple(f"{p}__" for p in _TEMPLATE_OWNED))
            and k not in _TEMPLATE_OWNED + _TEMPLATE_DROPPED
        }
        if any(k.startswith("callbacks__print_log") for k in params):
            # The template sets its own log (or skorch PrintLog's settings).
            common = {k: v for k, v in common.items() if k != "callbacks__print_log"}
        module = params.pop("module")
        if isinstance(module, nn.Module):
            # skorch would train the user's own instance in place.
            module = copy.deepcopy(module)
        params.update(_size_params(module, n_in, n_out, params))
        user_callbacks = params.pop("callbacks", None) or []
        if user_callbacks == "disable":
            user_callbacks = []
        has_valid = bool(params.get("train_split"))
        # Ours first: the user's callbacks may monitor valid_task etc.
        params["callbacks"] = (
            callbacks
            + (_valid_scorings(parts) if has_valid else [])
            + list(user_callbacks)
        )
        return DistillationNet(module, **common, **params)
    if student is None:
        module = MLP
        module_params = {
            "module__in_features": n_in,
            "module__out_features": n_out,
            "module__hidden_layer_sizes": tuple(est.hidden_layer_sizes),
            "module__activation": est.activation,
            "module__dropout": est.dropout,
            "module__encoding": encoding,
        }
    elif isinstance(student, nn.Module):
        module, module_params = copy.deepcopy(student), {}
    elif isinstance(student, type) and issubclass(student, nn.Module):
        module, module_params = student, _size_params(student, n_in, n_out, {})
    else:
        raise TypeError(
            "The 'student' parameter must be None, a torch.nn.Module subclass or "
            f"instance, or an unfitted skorch NeuralNet; got {student!r}."
        )
    train_split = None
    if early_stopping:
        train_split = ValidSplit(
            est.validation_fraction,
            stratified=stratified,
            random_state=seed,
        )
        callbacks += _valid_scorings(parts)
        callbacks.append(
            (
                "early_stopping",
                # The student's own objective on held-out rows (for a student
                # from scratch, the task loss). Watching the task loss alone
                # stopped students that lean on a sharp teacher (a forest's
                # clipped log-probabilities, alpha=0.2) in their first epochs,
                # while it still rose: Yogurt accuracy 0.56 against 0.81.
                # EpochLog says when it stops and which epoch it restores.
                EarlyStopping(
                    monitor="valid_loss",
                    patience=est.patience,
                    load_best=True,
                    sink=noop,
                ),
            )
        )
    return DistillationNet(
        module,
        **common,
        optimizer=torch.optim.Adam,
        lr=est.lr,
        optimizer__weight_decay=est.weight_decay,
        # The multi-tensor Adam: one kernel launch per step for all parameters
        # instead of one per tensor (torch picks the loop on CPU by default).
        optimizer__foreach=True,
        max_epochs=resolve_max_epochs(est.max_epochs, early_stopping),
        batch_size=est.batch_size,
        train_split=train_split,
        callbacks=callbacks,
        **module_params,
    )


#: max_epochs='auto': the cap with early stopping (a safety net: the
#: validation loss ends training) and without it (the number of epochs).
AUTO_MAX_EPOCHS = {True: 1000, False: 300}


def resolve_max_epochs(setting, early_stopping: bool) -> int:
    """The default student's epochs: ``setting``, or for ``'auto'`` 1000 with
    early stopping and 300 without.

    With early stopping the cap only bounds a fit whose validation loss keeps
    improving: on the benchmark, 300 cut off every Yogurt fit (about 7 steps
    an epoch) while it still improved (accuracy 0.841 -> 0.853 and fidelity
    0.894 -> 0.915 with the boosting teacher once it could run to epoch 495),
    and left every fit that stopped by itself unchanged.
    """
    if setting == "auto":
        return AUTO_MAX_EPOCHS[bool(early_stopping)]
    return int(setting)


#: Labelled rows from which early_stopping='auto' holds out a validation set.
EARLY_STOPPING_MIN_ROWS = 200


def resolve_early_stopping(
    setting, y_train, *, stratified, scheduled, validation_fraction=0.1
) -> bool:
    """A distiller's ``early_stopping``, with ``'auto'`` decided on the data.

    ``'auto'`` stops early from ``EARLY_STOPPING_MIN_ROWS`` labelled rows (a
    validation set of 20 or more), when every class has two rows (a
    stratified split needs them), and not when the training is ``scheduled``
    over the epochs (a teacher route's checkpoints).

    Parameters
    ----------
    setting : bool or 'auto'
        The distiller's ``early_stopping``.
    y_train : ndarray
        Encoded targets of the labelled rows (class indices when
        ``stratified``).
    stratified : bool
        The validation split is stratified by class.
    scheduled : bool
        Something follows the epoch count (a route's schedule).
    validation_fraction : float, default=0.1
        Share of the rows held out; with ``setting=True`` the split must be
        possible, or a ``ValueError`` says what to change.
    """
    if setting is True:
        _check_valid_split(y_train, validation_fraction, stratified)
    if setting != "auto":
        return bool(setting)
    if len(y_train) < EARLY_STOPPING_MIN_ROWS:
        return False
    if stratified and np.bincount(y_train).min() < 2:
        return False
    return not scheduled


def _check_valid_split(y_train, fraction: float, stratified: bool) -> None:
    """Raise a ValueError, naming the settings, if ``ValidSplit`` cannot split."""
    n = len(y_train)
    n_valid = math.ceil(fraction * n)
    advice = "Raise validation_fraction, fit on more rows, or set early_stopping=False."
    if n_valid < 1 or n - n_valid < 1:
        raise ValueError(
            f"early_stopping=True holds out validation_fraction={fraction} of the "
            f"{n} labelled rows, which leaves no rows to validate or train on. "
            + advice
        )
    if not stratified:
        return
    counts = np.bincount(y_train)
    counts = counts[counts > 0]
    if counts.min() < 2:
        raise ValueError(
            "early_stopping=True splits the labelled rows by class, and a class "
            f"has {counts.min()} row(s); every class needs 2 (one to train on, one "
            "to validate). Drop that class, fit on more rows, or set "
            "early_stopping=False."
        )
    if n_valid < len(counts) or n - n_valid < len(counts):
        raise ValueError(
            f"early_stopping=True holds out validation_fraction={fraction} of the "
            f"{n} labelled rows ({n_valid} rows), fewer than the {len(counts)} "
            "classes a stratified split needs one row each of. " + advice
        )


def _valid_scorings(parts) -> list:
    return [(f"valid_{p}", PassthroughScoring(f"valid_{p}")) for p in parts]


def _size_params(module, n_in: int, n_out: int, given: dict) -> dict:
    """``module__<name>`` for the input/output widths a module class accepts."""
    if not isinstance(module, type):
        return {}
    try:
        names = inspect.signature(module).parameters
    except (TypeError, ValueError):
        return {}
    params = {}
    for candidates, value in ((_IN_NAMES, n_in), (_OUT_NAMES, n_out)):
        for name in candidates:
            if name in names:
                if f"module__{name}" not in given:
                    params[f"module__{name}"] = value
                break
    return params


def check_hidden_layer_sizes(sizes) -> None:
    if not all(isinstance(s, Integral) and s > 0 for s in sizes):
        raise ValueError(
            "The 'hidden_layer_sizes' parameter must hold positive integers, one "
            f"width per hidden layer; got {tuple(sizes)!r}."
        )


def check_student_widths(module: nn.Module, X: torch.Tensor, n_out: int) -> None:
    """Run the student on two rows and check it maps n_features to n_out columns."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(X[:2])
    except RuntimeError as err:
        raise ValueError(
            f"The student cannot take the {X.shape[1]} input columns the "
            f"preprocessed X has: {err}"
        ) from err
    finally:
        module.train(was_training)
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[1] != n_out:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out)
        raise ValueError(
            f"The student must output a (n_samples, {n_out}) tensor (one column per "
            f"{'class' if n_out > 1 else 'output'}); it returned {shape} for 2 rows."
        )
