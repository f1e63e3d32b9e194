"""Follow the teacher's training route, not just its end point
===========================================================

Jin et al. ("Knowledge distillation via route constrained optimization",
2019) argue that a small student learns more easily from the sequence of
checkpoints a teacher passed through than from the final teacher alone: an
early checkpoint is a smoother, easier target, and each later one a small
step from the last (an easy-to-hard curriculum). Route-constrained
optimization (RCO) trains the student on the first checkpoint's outputs,
moves it to the next, and ends on the final teacher.

``sklearn_kd.teachers.TeacherRoute`` is such a teacher. The distiller queries
every checkpoint once and switches the targets at the start of the epochs it
reaches (evenly spread by default, or at ``milestones``); the checkpoint used
in each epoch is logged as ``history_[:, "teacher_checkpoint"]``. Checkpoints
can be the stages of a boosted ensemble or growing prefixes of a forest's
trees (``TeacherRoute.from_staged(model, n_checkpoints=4)``), the
``state_dict`` s of a torch network saved during its training
(``TeacherRoute.from_state_dicts(module, state_dicts)``), or any fitted
models, modules or callables (``TeacherRoute([m1, m2, m3])``). This example
shows the first two, each against the same student distilled from the final
teacher only and trained from scratch.
"""

# %%
# Settings
# --------
# The full setting trains each student for 100 epochs (about 30 s on 2
# cores); ``SKLEARN_KD_QUICK=1`` uses small teachers and 8 epochs.
import copy
import time
from collections import OrderedDict

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from _settings import pick
from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from torch import nn

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.teachers import TeacherRoute

torch.set_num_threads(1)
# torch loads its optimizer machinery on first use (seconds on a busy
# machine): load it now, not in the first fit timed below.
torch.optim.Adam([torch.zeros(1, requires_grad=True)])
EPOCHS, N_ITER, N_ROWS, TEACHER_EPOCHS = pick((100, 100, 2000, 150), (8, 20, 600, 8))


def describe(schedule):
    """``[0, 0, 1, 1, 1]`` as ``'epochs 1-2: 0, 3-5: 1'``."""
    runs, start = [], 1
    for epoch in range(1, len(schedule) + 1):
        if epoch == len(schedule) or schedule[epoch] != schedule[epoch - 1]:
            runs.append(f"{start}-{epoch}: {schedule[epoch - 1]}")
            start = epoch + 1
    return "epochs " + ", ".join(runs)


def fit_students(Distiller, teacher, route, X_train, y_train, X_test, common):
    """The default 2x64 MLP distilled from the final teacher only, along the
    route, and from scratch: test predictions, fit seconds, and the route
    student's checkpoint per epoch."""
    students = {
        "distilled from the final teacher": Distiller(teacher, **common),
        "distilled along the route (RCO)": Distiller(route, **common),
        "same MLP from scratch": Distiller(
            teacher, **{**common, "alpha": 1.0, "beta": 0.0}
        ),
    }
    out = {}
    for name, student in students.items():
        start = time.perf_counter()
        student.fit(X_train, y_train)
        out[name] = (student.predict(X_test), time.perf_counter() - start)
    schedule = students["distilled along the route (RCO)"].history_[
        :, "teacher_checkpoint"
    ]
    return out, schedule


# %%
# 1. A boosting route on digits
# -----------------------------
# A ``HistGradientBoostingClassifier`` on scikit-learn's bundled 8x8 digits,
# and its route of 4 stage counts: boosting has a real route, its first
# stages a coarse fit that the later ones refine. Soft targets at ``T=4``.
# The table lists the route's checkpoints with their own test accuracy and
# agreement with the final model, then the students.

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
start = time.perf_counter()
boosting = HistGradientBoostingClassifier(max_iter=N_ITER, random_state=0)
boosting.fit(X_train, y_train)
teacher_s = time.perf_counter() - start
route = TeacherRoute.from_staged(boosting, n_checkpoints=4)
final = boosting.predict(X_test)

rows = []
stages = list(boosting.staged_predict(X_test))
for i, checkpoint in enumerate(route.checkpoints):
    pred = stages[checkpoint.size - 1]
    rows.append(
        (
            f"checkpoint {i}: first {checkpoint.size} stages",
            np.mean(pred == y_test),
            np.mean(pred == final),
            teacher_s if i == len(route.checkpoints) - 1 else np.nan,
        )
    )
common = {"alpha": 0.5, "T": 4.0, "max_epochs": EPOCHS, "random_state": 0}
students, boosting_schedule = fit_students(
    DistilledClassifier, boosting, route, X_train, y_train, X_test, common
)
for name, (pred, seconds) in students.items():
    rows.append((name, np.mean(pred == y_test), np.mean(pred == final), seconds))
boosting_table = pd.DataFrame(
    rows, columns=["model", "test acc", "agreement", "fit s"]
).set_index("model")
print(
    f"digits ({len(X_train)} train, {len(X_test)} test rows): "
    f"HistGradientBoosting, {N_ITER} iterations; students {EPOCHS} epochs"
)
print(boosting_table.to_string(float_format="%.4f", na_rep=""))
print(f"the route student's checkpoint: {describe(boosting_schedule)}")

# %%
# 2. A torch network's checkpoints on a synthetic regression
# ----------------------------------------------------------
# A 3x128 MLP trained here in plain torch on a synthetic target (``X``
# uniform on ``[-2, 2]^10``; smooth, periodic and step effects), its weights
# saved after 1/8, 1/4, 1/2 and all of its epochs; the HP loss. Fidelity is
# the R^2 against the final teacher's test predictions.

rng = np.random.default_rng(0)
Xs = rng.uniform(-2, 2, size=(N_ROWS, 10))
ys = (
    np.sin(Xs[:, 0] * Xs[:, 1])
    + 0.5 * np.cos(np.pi * Xs[:, 2])
    + np.tanh(Xs[:, 3])
    + 0.2 * Xs[:, 4] ** 2
    - 1.5 * np.exp(-(Xs[:, 0] ** 2))
    + 0.1 * (Xs[:, 5] > 0)
    + rng.normal(0, 0.1, N_ROWS)
)
Xs_train, Xs_test, ys_train, ys_test = train_test_split(
    Xs, ys, test_size=0.2, random_state=0
)


class TeacherMLP(nn.Module):
    """3x128 SiLU MLP on raw X (standardised inside), predictions in y's units."""

    def __init__(self, X, y, width=128):
        super().__init__()
        std = X.std(axis=0)
        self.register_buffer("x_mean", torch.tensor(X.mean(axis=0)).float())
        self.register_buffer("x_std", torch.tensor(np.where(std > 0, std, 1)).float())
        self.register_buffer("y_mean", torch.tensor(float(y.mean())))
        self.register_buffer("y_std", torch.tensor(float(y.std())))
        self.layers = nn.Sequential(
            OrderedDict(
                hidden_1=nn.Sequential(nn.Linear(X.shape[1], width), nn.SiLU()),
                hidden_2=nn.Sequential(nn.Linear(width, width), nn.SiLU()),
                hidden_3=nn.Sequential(nn.Linear(width, width), nn.SiLU()),
                output=nn.Linear(width, 1),
            )
        )

    def forward(self, x):
        return self.layers((x - self.x_mean) / self.x_std) * self.y_std + self.y_mean


def train_with_checkpoints(X, y, epochs, save_after, seed=0):
    """Train a ``TeacherMLP``; its ``state_dict`` after each epoch of ``save_after``."""
    torch.manual_seed(seed)
    model = TeacherMLP(X, y)
    inputs = torch.tensor(X, dtype=torch.float32)
    target = torch.tensor(y, dtype=torch.float32).reshape(-1, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    states = []
    for epoch in range(1, epochs + 1):
        model.train()
        for rows in torch.randperm(len(inputs)).split(128):
            loss = (((model(inputs[rows]) - target[rows]) / model.y_std) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
        if epoch in save_after:
            # A deep copy: state_dict() returns live references to the weights.
            states.append(copy.deepcopy(model.state_dict()))
    return model.eval(), states


def predict(module):
    with torch.inference_mode():
        return module(torch.tensor(Xs_test, dtype=torch.float32)).numpy().ravel()


save_after = [max(1, round(TEACHER_EPOCHS * f)) for f in (1 / 8, 1 / 4, 1 / 2)]
save_after.append(TEACHER_EPOCHS)
start = time.perf_counter()
teacher, states = train_with_checkpoints(Xs_train, ys_train, TEACHER_EPOCHS, save_after)
teacher_s = time.perf_counter() - start
route = TeacherRoute.from_state_dicts(teacher, states)

final = predict(teacher)
rows = []
for i, (epoch, checkpoint) in enumerate(
    zip(save_after, route.checkpoints, strict=True)
):
    pred = predict(checkpoint.module)
    rows.append(
        (
            f"checkpoint {i}: after epoch {epoch}",
            r2_score(ys_test, pred),
            r2_score(final, pred),
            teacher_s if i == len(save_after) - 1 else np.nan,
        )
    )
common = {"alpha": 0.5, "max_epochs": EPOCHS, "random_state": 0}
students, torch_schedule = fit_students(
    DistilledRegressor, teacher, route, Xs_train, ys_train, Xs_test, common
)
for name, (pred, seconds) in students.items():
    rows.append((name, r2_score(ys_test, pred), r2_score(final, pred), seconds))
torch_table = pd.DataFrame(
    rows, columns=["model", "test R2", "fidelity", "fit s"]
).set_index("model")
print(
    f"synthetic regression ({len(Xs_train)} train, {len(Xs_test)} test rows): "
    f"3x128 torch MLP, {TEACHER_EPOCHS} epochs; students {EPOCHS} epochs"
)
print(torch_table.to_string(float_format="%.4f", na_rep=""))
print(f"the route student's checkpoint: {describe(torch_schedule)}")

# %%
# The route and the schedule
# --------------------------
# Left and middle: each checkpoint's own test score (the route the student
# follows), with the three students' scores as horizontal lines. Right: the
# checkpoint the route student learned from in each epoch
# (``history_[:, "teacher_checkpoint"]``). One seed: differences of a few
# thousandths are noise (``benchmarks/bench_features.py`` repeats the
# comparison over seeds and data sets).

fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
for ax, table, metric, title in (
    (axes[0], boosting_table, "test acc", "digits: boosting stages"),
    (axes[1], torch_table, "test R2", "synthetic: torch checkpoints"),
):
    checkpoints = table[table.index.str.startswith("checkpoint")]
    ax.plot(
        range(len(checkpoints)),
        checkpoints[metric],
        marker="o",
        color="black",
        label="checkpoint",
    )
    for name, style, color in zip(
        students, ["--", "-", ":"], ["C0", "C1", "C2"], strict=True
    ):
        ax.axhline(table.loc[name, metric], linestyle=style, color=color, label=name)
    ax.set_xticks(range(len(checkpoints)))
    ax.set_xlabel("checkpoint")
    ax.set_ylabel(metric)
    ax.set_title(title)
axes[0].legend(fontsize="small")
for schedule, label, style in (
    (boosting_schedule, "digits", "-"),
    (torch_schedule, "synthetic", "--"),
):
    axes[2].step(
        range(1, len(schedule) + 1),
        schedule,
        where="post",
        linestyle=style,
        label=label,
    )
axes[2].set_yticks(range(len(route.checkpoints)))
axes[2].set_xlabel("epoch")
axes[2].set_ylabel("checkpoint")
axes[2].set_title("the route student's targets")
axes[2].legend()
fig.tight_layout()
plt.show()
