"""Distil a deep network into a small one on a synthetic regression
================================================================

A deep MLP teacher (four hidden layers, about 110,000 parameters) learns a
10-feature synthetic target; a student of 6,977 parameters is then trained
twice from the same initial weights: on the true labels only, and distilled
with the high-precision (HP) loss, which adds the teacher's predictions as a
second target. The example shows how to hand ``DistilledRegressor`` a plain
torch teacher and your own student with your own training loop (a skorch
template: optimizer, batch size, validation rows, early stopping), and how to
measure what distillation buys: the same student, paired over several runs,
with and without the teacher, and how closely each follows it.
"""

# %%
# Settings
# --------
# The full setting repeats the experiment over 5 runs (about 2 minutes on 2
# cores); ``SKLEARN_KD_QUICK=1`` runs one, with short training. Set
# ``EXPERT = True`` to also train a wider teacher with batch norm and dropout
# and distil it too (10-15 minutes in the full setting).
import copy
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from _settings import pick
from scipy import stats
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetRegressor
from skorch.callbacks import EarlyStopping
from torch import nn
from torch.utils.data import Subset

from sklearn_kd import DistilledRegressor

# Small networks on batches of 128: one thread is as fast as two, and far
# faster when other processes share the cores.
torch.set_num_threads(1)

N_RUNS = pick(5, 1)
EXPERT = False
# (max_epochs, patience) of the standard teacher, the expert and the students.
BUDGETS = pick(
    {"standard": (700, 50), "expert": (1000, 100), "student": (600, 50)},
    {"standard": (30, 10), "expert": (30, 10), "student": (30, 10)},
)

# %%
# The data
# --------
# Six relevant features and four irrelevant ones, ``X`` uniform on
# ``[-2, 2]^10``, 2,000 rows::
#
#     y = sin(x0 x1) + 0.5 cos(pi x2) + tanh(x3) + 0.2 x4^2 - 1.5 exp(-x0^2)
#         + 0.1 [x5 > 0] + N(0, 0.1^2)
#
# split into 1,280 training, 320 validation and 400 test rows, the features
# standardised on the training rows.


def make_data(n_samples=2000, seed=42):
    """The synthetic target: smooth, periodic and step effects."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n_samples, 10))
    x = X.T
    y = (
        np.sin(x[0] * x[1])
        + 0.5 * np.cos(np.pi * x[2])
        + np.tanh(x[3])
        + 0.2 * x[4] ** 2
        - 1.5 * np.exp(-(x[0] ** 2))
        + 0.1 * (x[5] > 0)
        + rng.normal(0, 0.1, size=n_samples)
    )
    return X, y


X, y = make_data()
X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
X_train, X_val, y_train, y_val = train_test_split(
    X_rest, y_rest, test_size=0.2, random_state=42
)
scaler = StandardScaler().fit(X_train)
X_train, X_val, X_test = (scaler.transform(a) for a in (X_train, X_val, X_test))
# The distiller gets the training and validation rows stacked; the students'
# template (below) validates on the same rows the teacher validated on.
X_fit, y_fit = np.vstack([X_train, X_val]), np.concatenate([y_train, y_val])
print(
    f"{len(X_train)} train, {len(X_val)} validation, {len(X_test)} test rows; "
    f"{N_RUNS} run(s)"
)

# %%
# The networks
# ------------
# The teacher is 10-256-256-128-64-1 with LeakyReLU, the optional expert
# 10-512-512-256-128-1 with batch norm and dropout 0.4, the student
# 10-64-64-32-1 with ReLU.


class TeacherNet(nn.Sequential):
    """10-256-256-128-64-1, LeakyReLU(0.01)."""

    def __init__(self, in_features=10):
        layers, width = [], in_features
        for hidden in (256, 256, 128, 64):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.01)]
            width = hidden
        super().__init__(*layers, nn.Linear(width, 1))


class ExpertTeacherNet(nn.Sequential):
    """Linear-BatchNorm-LeakyReLU-Dropout(0.4) blocks, 512-512-256-128."""

    def __init__(self, in_features=10):
        layers, width = [], in_features
        for hidden in (512, 512, 256, 128):
            layers += [
                nn.Linear(width, hidden),
                nn.BatchNorm1d(hidden),
                nn.LeakyReLU(0.01),
                nn.Dropout(0.4),
            ]
            width = hidden
        super().__init__(*layers, nn.Linear(width, 1))


class StudentNet(nn.Sequential):
    """10-64-64-32-1, ReLU only (6,977 parameters)."""

    def __init__(self, in_features=10):
        super().__init__(
            nn.Linear(in_features, 64),
            nn.ReLU(),
            nn.Linear(64, 64),
            nn.ReLU(),
            nn.Linear(64, 32),
            nn.ReLU(),
            nn.Linear(32, 1),
        )


# %%
# Training the teacher in plain torch
# -----------------------------------
# Any fitted torch module can teach: the distiller calls it on the rows it
# trains on. Here it is trained with Adam on the MSE, stopped early on the
# validation MSE, and its best weights restored.


def train_teacher(model, data, *, lr, weight_decay, max_epochs, patience, seed):
    """Adam on the MSE, early stopping on the validation MSE, best weights back."""
    X_train, y_train, X_val, y_val = (
        torch.as_tensor(a, dtype=torch.float32).reshape(len(a), -1) for a in data
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    best_loss, best_state, best_epoch = float("inf"), None, 0
    for epoch in range(max_epochs):
        model.train()
        for rows in torch.randperm(len(X_train), generator=generator).split(128):
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(X_train[rows]), y_train[rows])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            val_loss = nn.functional.mse_loss(model(X_val), y_val).item()
        if val_loss < best_loss:
            # A deep copy: a bare state_dict() holds the live tensors, which
            # the next optimizer steps overwrite, so restoring it would
            # restore nothing.
            best_loss, best_state, best_epoch = (
                val_loss,
                copy.deepcopy(model.state_dict()),
                epoch,
            )
        elif epoch - best_epoch >= patience:
            break
    model.load_state_dict(best_state)
    return model.eval()


def torch_predict(model, X):
    with torch.no_grad():
        return model(torch.as_tensor(X, dtype=torch.float32)).numpy().ravel()


# %%
# The student's training, as a skorch template
# --------------------------------------------
# An unfitted skorch ``NeuralNetRegressor`` given as the student is a
# template: the distiller keeps its module, optimizer, learning rate, batch
# size, epochs, validation split and callbacks, and replaces the loss by the
# distillation objective. Both students stop early on the validation MSE to
# the *true labels* (``valid_task``), not on the objective, so the distilled
# one is not given a longer run by a slower-falling loss.


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


def student_template(init, n_train, *, max_epochs, patience):
    """Adam, lr 1e-3, batches of 128, from the initial weights ``init``."""
    return NeuralNetRegressor(
        copy.deepcopy(init),
        optimizer=torch.optim.Adam,
        lr=1e-3,
        batch_size=128,
        max_epochs=max_epochs,
        train_split=FixedSplit(n_train),
        callbacks=[
            (
                "early_stopping",
                EarlyStopping(monitor="valid_task", patience=patience, load_best=True),
            ),
        ],
    )


# %%
# The runs
# --------
# Each run trains the teacher (and the expert), then one set of initial
# student weights twice: from scratch (``alpha=1, beta=0``: the labels only)
# and distilled with the HP loss, ``alpha=0.3`` on the labels and
# ``beta=0.7`` on the teacher's predictions, both on standardised targets.
# ``preprocessor=None``: the rows are already standardised.

teachers = {"standard": (TeacherNet, 1e-5)}
if EXPERT:
    teachers["expert"] = (ExpertTeacherNet, 1e-4)
scores = []  # one row per model and run
start = time.perf_counter()
for run in range(N_RUNS):
    fitted, predictions = {}, {}
    for kind, (net, weight_decay) in teachers.items():
        torch.manual_seed(run)
        max_epochs, patience = BUDGETS[kind]
        fitted[kind] = train_teacher(
            net(),
            (X_train, y_train, X_val, y_val),
            lr=1e-4,
            weight_decay=weight_decay,
            max_epochs=max_epochs,
            patience=patience,
            seed=run,
        )
        predictions[f"{kind} teacher"] = torch_predict(fitted[kind], X_test)

    # One set of initial weights per run, shared by every student of the run.
    torch.manual_seed(run)
    init = StudentNet()
    max_epochs, patience = BUDGETS["student"]
    students = {"student from scratch": ("standard", 1.0, 0.0)}
    for kind in fitted:
        students[f"distilled from {kind}"] = (kind, 0.3, None)
    for name, (kind, alpha, beta) in students.items():
        student = DistilledRegressor(
            fitted[kind],
            student_template(
                init, len(X_train), max_epochs=max_epochs, patience=patience
            ),
            alpha=alpha,
            beta=beta,
            preprocessor=None,
            random_state=run,
        ).fit(X_fit, y_fit)
        predictions[name] = student.predict(X_test)

    reference = predictions["standard teacher"]
    for name, pred in predictions.items():
        scores.append(
            {
                "model": name,
                "run": run,
                "test MSE": mean_squared_error(y_test, pred),
                "test R2": r2_score(y_test, pred),
                "fidelity R2": r2_score(reference, pred),
            }
        )
    print(
        f"run {run}: test R2 "
        + ", ".join(
            f"{s['model']} {s['test R2']:.4f}" for s in scores[-len(predictions) :]
        )
    )
print(f"total time {time.perf_counter() - start:.0f} s")

# %%
# Results
# -------
# Mean and standard deviation (``ddof=0``) over the runs; fidelity is the
# R^2 of each model's test predictions against the standard teacher's.

scores = pd.DataFrame(scores)
summary = scores.groupby("model", sort=False)[
    ["test MSE", "test R2", "fidelity R2"]
].agg(lambda v: f"{v.mean():.4f} ± {v.std(ddof=0):.4f}")
print(summary.to_string())
print()
mse = scores.pivot(index="run", columns="model", values="test MSE")
for kind in teachers:
    distilled = mse[f"distilled from {kind}"].to_numpy()
    scratch = mse["student from scratch"].to_numpy()
    change = 100 * (distilled.mean() - scratch.mean()) / scratch.mean()
    text = (
        f"distilled from {kind}: test MSE {abs(change):.2f}% "
        f"{'lower' if change < 0 else 'higher'} than from scratch"
    )
    if N_RUNS > 1:
        p = stats.ttest_rel(distilled, scratch, alternative="less").pvalue
        text += f" (one-sided paired t-test p={p:.4f}, n={N_RUNS})"
    print(text)

# %%
# Fidelity to the teacher
# -----------------------
# The last run's test predictions of each student against the teacher's: the
# distilled student sits closer to the diagonal, the teacher's own answers,
# than the same network trained on the labels alone.

fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharex=True, sharey=True)
low, high = reference.min(), reference.max()
for ax, name in zip(
    axes, ["student from scratch", "distilled from standard"], strict=True
):
    ax.scatter(reference, predictions[name], s=8, alpha=0.6)
    ax.plot([low, high], [low, high], color="black", linewidth=1)
    ax.set_title(
        f"{name}\nR2 to the teacher {r2_score(reference, predictions[name]):.3f}"
    )
    ax.set_xlabel("teacher's prediction")
axes[0].set_ylabel("student's prediction")
fig.tight_layout()
plt.show()
