"""Soft targets across temperatures: a large MLP distilled into a small one
========================================================================

Hinton, Vinyals and Dean ("Distilling the knowledge in a neural network",
2015) train a small network on a large one's class probabilities softened by
a temperature ``T``: the higher ``T``, the more the student learns from how
the teacher ranks the *wrong* classes. This example distils a 5-hidden-layer
MLP into a one-hidden-layer MLP of 64 units on scikit-learn's bundled 8x8
digits, sweeps ``T`` and compares each distilled student with the same
network, from the same initial weights, trained on the labels alone. It shows
how to give ``DistilledClassifier`` a torch teacher and a student with its own
training loop, and how to choose ``T``: the table and the plot give test
accuracy against ``T``, mean and spread over seeds.
"""

# %%
# Settings
# --------
# The full setting uses 5 seeds and 5 temperatures (1-3 minutes on 2 cores);
# ``SKLEARN_KD_QUICK=1`` one seed at two temperatures, with short training.
import copy
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from _settings import pick
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from skorch import NeuralNetClassifier
from skorch.callbacks import EarlyStopping, LRScheduler
from torch import nn
from torch.utils.data import Subset

from sklearn_kd import DistilledClassifier

# Small networks on batches of 64: one thread is as fast as two, and far
# faster when other processes share the cores.
torch.set_num_threads(1)

SEEDS = list(range(42, 42 + pick(5, 1)))
TEMPERATURES = pick([1.0, 2.5, 4.0, 7.0, 10.0], [1.0, 4.0])
TEACHER_EPOCHS, STUDENT_EPOCHS = pick((50, 100), (8, 8))
STUDENT_LR = 1e-3

# %%
# The data
# --------
# 1,797 images of 8x8 pixels, scaled to [0, 1] and split 60/15/25 % with
# stratification: 1,077 training, 270 validation and 450 test images.

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
X_rest, X_test, y_rest, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
X_train, X_val, y_train, y_val = train_test_split(
    X_rest, y_rest, test_size=0.2, stratify=y_rest, random_state=0
)
X_fit, y_fit = np.vstack([X_train, X_val]), np.concatenate([y_train, y_val])
print(
    f"digits: {len(X_train)} train, {len(X_val)} validation, {len(X_test)} test "
    f"images; {len(SEEDS)} seed(s), T in {TEMPERATURES}"
)

# %%
# The networks
# ------------
# The teacher: 64-1024-1024-512-256-128-10 with batch norm, LeakyReLU and
# dropout 0.3. The student: 64-64-10 with batch norm and ReLU.


class TeacherMLP(nn.Sequential):
    """Hidden layers of 1024, 1024, 512, 256 and 128 units."""

    def __init__(self, in_features=64, out_features=10):
        layers, width = [], in_features
        for i, hidden in enumerate((1024, 1024, 512, 256, 128)):
            layers += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU()]
            if i < 4:
                layers.append(nn.Dropout(0.3))
            width = hidden
        super().__init__(*layers, nn.Linear(width, out_features))


class StudentMLP(nn.Sequential):
    """One hidden layer of 64 units, batch norm, ReLU."""

    def __init__(self, in_features=64, out_features=10, hidden=64):
        super().__init__(
            nn.Linear(in_features, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Linear(hidden, out_features),
        )


# %%
# Training the teacher
# --------------------
# Plain torch: Adam at 1e-3, the learning rate cut by 10 on a validation
# plateau, early stopping on the validation loss (patience 7), the weights of
# the best validation accuracy kept.


def train_teacher(model, *, max_epochs, seed):
    X_tr, X_va = torch.as_tensor(X_train), torch.as_tensor(X_val)
    y_tr, y_va = torch.as_tensor(y_train), torch.as_tensor(y_val)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=0.1, patience=3
    )
    generator = torch.Generator().manual_seed(seed)
    best_loss, best_acc, best_state, wait = float("inf"), -1.0, None, 0
    for _ in range(max_epochs):
        model.train()
        for rows in torch.randperm(len(X_tr), generator=generator).split(64):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(X_tr[rows]), y_tr[rows]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            logits = model(X_va)
        val_loss = nn.functional.cross_entropy(logits, y_va).item()
        val_acc = (logits.argmax(1) == y_va).float().mean().item()
        scheduler.step(val_loss)
        if val_acc > best_acc:
            best_acc, best_state = val_acc, copy.deepcopy(model.state_dict())
        if val_loss < best_loss - 1e-4:
            best_loss, wait = val_loss, 0
        else:
            wait += 1
            if wait >= 7:
                break
    model.load_state_dict(best_state)
    return model.eval()


start = time.perf_counter()
torch.manual_seed(42)
teacher = train_teacher(TeacherMLP(), max_epochs=TEACHER_EPOCHS, seed=42)
with torch.no_grad():
    teacher_pred = teacher(torch.as_tensor(X_test)).argmax(1).numpy()
teacher_acc = 100 * np.mean(teacher_pred == y_test)
n_params = sum(p.numel() for p in teacher.parameters())
print(
    f"teacher: {n_params:,} parameters, test accuracy {teacher_acc:.2f}% "
    f"({time.perf_counter() - start:.0f} s)"
)

# %%
# The student's training, as a skorch template
# --------------------------------------------
# An unfitted skorch net given as the student is a template: the distiller
# keeps its module, optimizer, learning rate, batch size, validation split and
# callbacks, and replaces its loss by the distillation objective. The
# schedule and the early stopping watch the validation cross-entropy to the
# *true labels* (``valid_task``), the same criterion for every student, so a
# distilled student is not given a longer run by a slower-falling objective.
# Scratch and distilled students share one learning rate.


class FixedSplit:
    """skorch ``train_split``: the first ``n_train`` rows train, the rest validate."""

    def __init__(self, n_train):
        self.n_train = n_train

    def __call__(self, dataset, y=None, **fit_params):
        rows = np.arange(len(dataset))
        return (
            Subset(dataset, rows[: self.n_train]),
            Subset(dataset, rows[self.n_train :]),
        )


def student_template(init):
    """The student's loop, starting from the weights of ``init``."""
    return NeuralNetClassifier(
        copy.deepcopy(init),
        optimizer=torch.optim.Adam,
        lr=STUDENT_LR,
        batch_size=64,
        max_epochs=STUDENT_EPOCHS,
        train_split=FixedSplit(len(X_train)),
        callbacks=[
            (
                "plateau",
                LRScheduler(
                    "ReduceLROnPlateau", monitor="valid_task", factor=0.1, patience=3
                ),
            ),
            (
                "early_stopping",
                EarlyStopping(
                    monitor="valid_task",
                    patience=7,
                    threshold=1e-4,
                    threshold_mode="abs",
                    load_best=True,
                ),
            ),
        ],
    )


# %%
# The temperature sweep
# ---------------------
# For each seed, one set of initial student weights is trained from scratch
# (``alpha=1, beta=0``) and distilled at each ``T``. ``alpha=0.3`` weighs the
# cross-entropy to the true labels and ``beta=0.7`` the soft-target term,
# ``T**2`` times the KL divergence between the softened distributions (the
# factor keeps its gradients on the same scale whatever ``T``).

scratch = np.zeros(len(SEEDS))
distilled = np.zeros((len(SEEDS), len(TEMPERATURES)))
for i, seed in enumerate(SEEDS):
    torch.manual_seed(seed)
    init = StudentMLP()  # shared by every student of this seed
    settings = [(None, 1.0, 0.0, 1.0)] + [
        (j, 0.3, None, T) for j, T in enumerate(TEMPERATURES)
    ]
    for j, alpha, beta, T in settings:
        student = DistilledClassifier(
            teacher,
            student_template(init),
            alpha=alpha,
            beta=beta,
            T=T,
            random_state=seed,
        ).fit(X_fit, y_fit)
        accuracy = 100 * student.score(X_test, y_test)
        if j is None:
            scratch[i] = accuracy
        else:
            distilled[i, j] = accuracy
    print(
        f"seed {seed}: scratch {scratch[i]:.2f}%, distilled "
        + ", ".join(
            f"T={T:g} {a:.2f}%" for T, a in zip(TEMPERATURES, distilled[i], strict=True)
        )
    )
print(f"total time {time.perf_counter() - start:.0f} s")

# %%
# Results
# -------
# Test accuracy (%), mean and standard deviation (``ddof=0``) over the seeds.

table = pd.DataFrame(
    {
        "model": ["teacher", "from scratch"]
        + [f"distilled T={T:g}" for T in TEMPERATURES],
        "mean": [teacher_acc, scratch.mean(), *distilled.mean(axis=0)],
        "std": [np.nan, scratch.std(), *distilled.std(axis=0)],
    }
).set_index("model")
print(table.to_string(float_format="%.2f", na_rep=""))
best = int(np.argmax(distilled.mean(axis=0)))
print(
    f"\nbest T on test: {TEMPERATURES[best]:g} "
    f"({distilled[:, best].mean() - scratch.mean():+.2f} points over scratch)"
)

# %%
# Test accuracy against the temperature
# -------------------------------------
# The distilled students' accuracy at each ``T`` (bars: one standard deviation
# over the seeds), against the student from scratch (the grey band) and the
# teacher.

fig, ax = plt.subplots(figsize=(6, 4))
ax.errorbar(
    TEMPERATURES,
    distilled.mean(axis=0),
    yerr=distilled.std(axis=0),
    marker="o",
    capsize=3,
    label="distilled",
)
ax.axhline(scratch.mean(), color="grey", linestyle="--", label="from scratch")
ax.axhspan(
    scratch.mean() - scratch.std(),
    scratch.mean() + scratch.std(),
    color="grey",
    alpha=0.2,
)
ax.axhline(teacher_acc, color="black", linestyle=":", label="teacher")
ax.set_xlabel("temperature T")
ax.set_ylabel("test accuracy (%)")
ax.set_title(f"digits: 64-64-10 student, mean ± std over {len(SEEDS)} seed(s)")
ax.legend()
fig.tight_layout()
plt.show()
